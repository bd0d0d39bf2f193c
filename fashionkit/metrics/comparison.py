"""Comparing two ways of reading the same photos: the mean of several views' probabilities,
paired bootstrap intervals of a difference, the verdict rule, and the ablation table of
chapters 3-4 (pure functions of labels and probabilities).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fashionkit.data.schema import Head, get_head
from fashionkit.metrics.scores import head_scores, labelled_pairs


def average_views(probas: Sequence[Mapping[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Test-time augmentation: the mean of per-view probability dicts ``{head: (n, k)}``.

    Every dict must have the same heads and, per head, the same shape; a mismatch raises
    ``ValueError``.  Rows of the result are renormalised to sum to one.
    """
    probas = list(probas)
    if not probas:
        raise ValueError("no views to average")
    keys = set(probas[0])
    for i, p in enumerate(probas[1:], 1):
        if set(p) != keys:
            raise ValueError(f"view {i} has heads {sorted(p)}, view 0 has {sorted(keys)}")
    out = {}
    for key in probas[0]:
        arrays = [np.asarray(p[key], dtype=float) for p in probas]
        shapes = {a.shape for a in arrays}
        if len(shapes) != 1 or arrays[0].ndim != 2:
            raise ValueError(f"head {key!r}: views have shapes {[a.shape for a in arrays]}; need one (n, k)")
        mean = np.mean(arrays, axis=0)
        out[key] = mean / mean.sum(axis=1, keepdims=True)
    return out


def paired_bootstrap_diff(y_true, proba_a, proba_b, n_boot: int = 1000, level: float = 0.95,
                          seed: int = 0) -> tuple[float, float, float]:
    """Accuracy of ``b`` minus accuracy of ``a`` on the same photos, with a paired bootstrap interval.

    Returns ``(diff, lo, hi)``: ``diff`` is the observed difference on all labelled rows,
    ``lo``/``hi`` the percentile interval of the difference when the SAME resampled rows
    score both (so photo difficulty cancels).  With ``a`` = plain and ``b`` = TTA, an
    interval above 0 says TTA helped beyond resampling noise.
    """
    y, pa = labelled_pairs(y_true, proba_a)
    _, pb = labelled_pairs(y_true, proba_b)
    if pa.shape != pb.shape:
        raise ValueError(f"proba_a {pa.shape} and proba_b {pb.shape} differ")
    if y.size == 0:
        return (np.nan, np.nan, np.nan)
    return paired_mean_diff((pb.argmax(axis=1) == y).astype(float) - (pa.argmax(axis=1) == y), n_boot, level, seed)


def paired_mean_diff(delta, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> tuple[float, float, float]:
    """``(mean, lo, hi)`` of per-photo differences ``delta`` (b minus a on the same photo), with
    the percentile interval of the mean over ``n_boot`` resamples of the photos; NaNs when empty."""
    delta = np.asarray(delta, dtype=float)
    if delta.size == 0:
        return (np.nan, np.nan, np.nan)
    idx = np.random.default_rng(seed).integers(0, delta.size, (n_boot, delta.size))
    values = delta[idx].mean(axis=1)
    alpha = (1 - level) / 2
    return float(delta.mean()), float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def diff_verdict(diff: float, lo: float, hi: float) -> str:
    """``"better"`` (interval above 0), ``"worse"`` (below 0), ``"within noise"``, or ``"no data"``."""
    return "no data" if not np.isfinite(diff) else "better" if lo > 0 else "worse" if hi < 0 else "within noise"


# ----------------------------------------------------------------------------- ablation (chapters 3-4)


def ablation_table(heads: Sequence[Head], y: Mapping[str, np.ndarray], probas: Mapping[str, Mapping[str, np.ndarray]],
                   reference: str, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Each variant against ``reference`` on the same photos, per head.

    ``probas[variant][head]``: class probabilities of one variant (the reference among
    them).  Rows: variant x head with n, accuracy and macro-F1 (%), the accuracy difference
    from the reference with its paired bootstrap interval (:func:`paired_bootstrap_diff`),
    and the verdict ("better", "worse", "within noise"; the reference's own rows say
    "reference").
    """
    rows = []
    for variant, proba in probas.items():
        for head in heads:
            s = head_scores(y[head.key], proba[head.key])
            row = {"variant": variant, "head": head.key, "n": s["n"], "accuracy_%": 100 * s["accuracy"],
                   "macro_f1_%": 100 * s["macro_f1"]}
            if variant == reference:
                row.update({"diff_points": 0.0, "diff_lo": np.nan, "diff_hi": np.nan, "verdict": "reference"})
            else:
                d, lo, hi = paired_bootstrap_diff(y[head.key], probas[reference][head.key], proba[head.key],
                                                  n_boot, level, seed)
                row.update({"diff_points": 100 * d, "diff_lo": 100 * lo, "diff_hi": 100 * hi,
                            "verdict": diff_verdict(d, lo, hi)})
            rows.append(row)
    return pd.DataFrame(rows)


def format_ablation(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`ablation_table` for reading: a row per head and variant, accuracy (macro-F1) and the
    difference from the reference with its interval, in points with one decimal."""
    out = pd.DataFrame({
        "head": [get_head(k).en for k in table["head"]],
        "variant": table["variant"],
        "n": table["n"],
        "accuracy % (macro-F1)": [f"{a:.1f} ({f:.1f})" for a, f in zip(table["accuracy_%"], table["macro_f1_%"])],
        "vs reference, points [95% CI]": ["" if v == "reference" else f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]"
                                          for v, d, lo, hi in zip(table["verdict"], table["diff_points"],
                                                                  table["diff_lo"], table["diff_hi"])],
        "verdict": table["verdict"],
    })
    return out.sort_values(["head", "variant"], kind="stable", key=lambda s: s.map(
        {h: i for i, h in enumerate(dict.fromkeys(out["head"]))}) if s.name == "head" else s.map(
        {v: i for i, v in enumerate(dict.fromkeys(table["variant"]))})).reset_index(drop=True)
