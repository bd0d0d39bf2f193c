"""Metrics per head: pure functions of labels and probabilities (numpy / scikit-learn).

Labels are class indices with ``-1`` for a missing label; rows without a label are left
out of every metric of that head.  ``proba`` rows are class probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from sklearn.metrics import balanced_accuracy_score, f1_score

from .data import PROJECT_ROOT
from .schema import Head, get_head
from .tables import interval, proba_string  # noqa: F401 - proba_string lived here


def _labelled(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y_true = np.asarray(y_true)
    proba = np.asarray(proba)
    if proba.ndim != 2 or len(proba) != len(y_true):
        raise ValueError(f"proba must be (n, k) with n = len(y_true); got {proba.shape} for {len(y_true)} labels")
    keep = y_true >= 0
    return y_true[keep], proba[keep]


def majority_class(y_train: np.ndarray) -> int:
    """The most frequent labelled class of the training labels (ties: the lower index)."""
    y = np.asarray(y_train)
    y = y[y >= 0]
    if y.size == 0:
        raise ValueError("no labelled training rows")
    return int(np.bincount(y).argmax())


def head_scores(y_true, proba, y_train=None) -> dict[str, float]:
    """Accuracy (the study's: argmax correct / N), macro-F1, balanced accuracy, and, given
    the training labels, the accuracy of always answering the training majority class."""
    y, p = _labelled(y_true, proba)
    if y.size == 0:
        return {"n": 0, "accuracy": np.nan, "macro_f1": np.nan, "balanced_accuracy": np.nan,
                "majority": np.nan}
    pred = p.argmax(axis=1)
    present = np.unique(y)
    out = {
        "n": int(y.size),
        "accuracy": float((pred == y).mean()),
        # macro over the classes present in y_true, so an absent class does not count as F1 = 0
        "macro_f1": float(f1_score(y, pred, labels=present, average="macro", zero_division=0)),
        "balanced_accuracy": float(balanced_accuracy_score(y, pred)) if present.size > 1 else float((pred == y).mean()),
    }
    out["majority"] = float((y == majority_class(y_train)).mean()) if y_train is not None else np.nan
    return out


def score_table(heads: Sequence[Head], targets: Mapping[str, np.ndarray], proba: Mapping[str, np.ndarray],
                train_targets: Mapping[str, np.ndarray] | None = None) -> pd.DataFrame:
    """One row per head: n, accuracy, macro-F1, balanced accuracy, majority baseline."""
    rows = []
    for head in heads:
        y_train = None if train_targets is None else train_targets[head.key]
        rows.append({"head": head.key, **head_scores(targets[head.key], proba[head.key], y_train)})
    return pd.DataFrame(rows).set_index("head")


def bootstrap_ci(y_true, proba, metric: str = "accuracy", n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric`` over labelled rows (resampled with replacement)."""
    y, p = _labelled(y_true, proba)
    if y.size == 0:
        return (np.nan, np.nan)
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, y.size, (n_boot, y.size))
    if metric == "accuracy":  # vectorised: the mean of resampled hits
        values = (p.argmax(axis=1) == y)[idx].mean(axis=1)
    else:
        values = np.array([head_scores(y[i], p[i])[metric] for i in idx])
    alpha = (1 - level) / 2
    return float(np.quantile(values, alpha)), float(np.quantile(values, 1 - alpha))


def per_class_table(y_true, proba, classes: Sequence[str]) -> pd.DataFrame:
    """Per class: ``support`` (labelled rows of the class), ``predicted`` (rows answered as
    the class), ``precision``, ``recall`` and ``f1`` as fractions.

    Precision is NaN for a class never predicted and recall NaN for a class absent from
    ``y_true``: "no evidence" is not the same as 0.
    """
    y, p = _labelled(y_true, proba)
    if p.shape[1] != len(classes):
        raise ValueError(f"proba has {p.shape[1]} columns for {len(classes)} classes")
    pred = p.argmax(axis=1)
    rows = []
    for i, name in enumerate(classes):
        hits = int(((pred == i) & (y == i)).sum())
        support, predicted = int((y == i).sum()), int((pred == i).sum())
        precision = hits / predicted if predicted else np.nan
        recall = hits / support if support else np.nan
        f1 = (2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0) \
            if np.isfinite(precision) and np.isfinite(recall) else np.nan
        rows.append({"class": name, "support": support, "predicted": predicted,
                     "precision": precision, "recall": recall, "f1": f1})
    return pd.DataFrame(rows).set_index("class")


def per_class_recall(y_true, proba, classes: Sequence[str]) -> pd.Series:
    """Recall of every class (NaN for a class absent from ``y_true``)."""
    return per_class_table(y_true, proba, classes)["recall"].rename(None).rename_axis(None)


# The study's reported accuracies (%), on its own data and measured on the images it
# trained on; shown beside ours for reference only, never as a target we copy.
STUDY_ACCURACY = {
    "top_type": 60.3, "top_pattern": 83.4, "top_buttons": 54.1, "top_neck": 20.2, "top_sleeve": 54.1,
    "bottom_major": 89.2, "bottom_sub": 70.4, "bottom_length": 78.4,
}


# ----------------------------------------------------------------------------- errors, calibration, TTA

_EPS = 1e-12  # probabilities are clipped to [_EPS, 1] before a log


def confusion(y_true, proba, n_classes: int) -> np.ndarray:
    """Confusion counts ``(n_classes, n_classes)``: rows = true class, columns = argmax class.

    Rows without a label (``-1``) are left out.
    """
    y, p = _labelled(y_true, proba)
    if p.shape[1] != n_classes:
        raise ValueError(f"proba has {p.shape[1]} columns, expected n_classes = {n_classes}")
    if y.size and y.max() >= n_classes:
        raise ValueError(f"label {int(y.max())} out of range for {n_classes} classes")
    pred = p.argmax(axis=1) if y.size else np.zeros(0, dtype=int)
    return np.bincount(y * n_classes + pred, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def prior_baseline(y_true, y_train, n_classes: int) -> float:
    """Expected accuracy of guessing at random with the training class priors.

    ``sum_c p_train(c) * p_test(c)`` over the labelled rows of both (``-1`` left out): the
    chance level of a classifier that ignores the photo but knows the class balance.  It
    lies between ``1 / n_classes`` (uniform) and the majority baseline.
    """
    def shares(y):
        y = np.asarray(y)
        y = y[y >= 0]
        if y.size == 0:
            raise ValueError("no labelled rows")
        return np.bincount(y, minlength=n_classes)[:n_classes] / y.size

    return float(shares(y_train) @ shares(y_true))


def top_confusions(y_true, proba, classes: Sequence[str], k: int = 5) -> pd.DataFrame:
    """The ``k`` most frequent off-diagonal (true, predicted) pairs, most frequent first.

    Columns: ``true``, ``predicted`` (names from ``classes``), ``n`` (photos) and ``share``
    (fraction 0..1 of the true class's labelled photos predicted as ``predicted``).  Pairs
    that never occur are not listed; ties keep the order of the class indices.
    """
    counts = confusion(y_true, proba, len(classes))
    support = counts.sum(axis=1)
    rows = [(counts[t, q], t, q) for t in range(len(classes)) for q in range(len(classes))
            if t != q and counts[t, q] > 0]
    rows.sort(key=lambda r: (-r[0], r[1], r[2]))
    return pd.DataFrame([{"true": classes[t], "predicted": classes[q], "n": int(n), "share": n / support[t]}
                         for n, t, q in rows[:k]], columns=["true", "predicted", "n", "share"])


def _top_label(y_true, proba):
    y, p = _labelled(y_true, proba)
    return p.max(axis=1), (p.argmax(axis=1) == y).astype(float)


def _bin_index(conf: np.ndarray, n_bins: int) -> np.ndarray:
    """Equal-width bins ``(lower, upper]`` on [0, 1]; a confidence of 0 goes to the first bin."""
    return np.clip(np.ceil(conf * n_bins).astype(int) - 1, 0, n_bins - 1)


def reliability_table(y_true, proba, n_bins: int = 15) -> pd.DataFrame:
    """Top-label reliability per equal-width confidence bin.

    Columns: ``bin``, ``lower``, ``upper`` (bin edges, fractions), ``n`` (labelled photos
    whose top probability falls in ``(lower, upper]``), ``confidence`` (their mean top
    probability) and ``accuracy`` (their share of correct argmax answers); both NaN for an
    empty bin.  All ``n_bins`` bins are listed.
    """
    conf, hit = _top_label(y_true, proba)
    b = _bin_index(conf, n_bins)
    n = np.bincount(b, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(b, weights=conf, minlength=n_bins) / n
        acc = np.bincount(b, weights=hit, minlength=n_bins) / n
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    return pd.DataFrame({"bin": np.arange(n_bins), "lower": edges[:-1], "upper": edges[1:], "n": n,
                         "confidence": mean_conf, "accuracy": acc})


def expected_calibration_error(y_true, proba, n_bins: int = 15) -> float:
    """Top-label expected calibration error: ``sum_b n_b / N * |accuracy_b - confidence_b|``.

    Equal-width confidence bins on [0, 1] (:func:`reliability_table`); a fraction 0..1
    (NaN without labelled rows).
    """
    table = reliability_table(y_true, proba, n_bins)
    total = table["n"].sum()
    if total == 0:
        return np.nan
    full = table[table["n"] > 0]
    return float((full["n"] * (full["accuracy"] - full["confidence"]).abs()).sum() / total)


def nll(y_true, proba) -> float:
    """Mean negative log-likelihood (nats) of the true class over labelled rows.

    Probabilities are clipped to ``[1e-12, 1]`` so a confident miss costs ~27.6 nats, not inf.
    """
    y, p = _labelled(y_true, proba)
    if y.size == 0:
        return np.nan
    return float(-np.log(np.clip(p[np.arange(y.size), y], _EPS, 1.0)).mean())


def apply_temperature(proba, temperature: float) -> np.ndarray:
    """``softmax(log(proba) / T)`` row-wise: T > 1 softens, T < 1 sharpens, argmax unchanged.

    Rows of the result sum to one.  Probabilities are clipped to ``[1e-12, 1]`` before the log.
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    logits = np.log(np.clip(np.asarray(proba, dtype=float), _EPS, 1.0)) / temperature
    logits -= logits.max(axis=1, keepdims=True)
    out = np.exp(logits)
    return out / out.sum(axis=1, keepdims=True)


def fit_temperature(y_true, proba, bounds: tuple[float, float] = (0.05, 20.0)) -> float:
    """Temperature ``T > 0`` minimising the NLL of ``softmax(log(proba) / T)`` (temperature scaling).

    Fit it on the VALIDATION split only, then apply the fitted ``T`` to the test
    probabilities with :func:`apply_temperature`; fitting on the test split would make the
    test calibration numbers optimistic.  One-dimensional bounded search on ``log T``
    (``scipy.optimize.minimize_scalar``) within ``bounds``.  Rows without a label are left out.
    """
    from scipy.optimize import minimize_scalar

    y, p = _labelled(y_true, proba)
    if y.size == 0:
        raise ValueError("no labelled rows to fit a temperature on")
    result = minimize_scalar(lambda log_t: nll(y, apply_temperature(p, float(np.exp(log_t)))),
                             bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded",
                             options={"xatol": 1e-5})
    return float(np.exp(result.x))


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
    y, pa = _labelled(y_true, proba_a)
    _, pb = _labelled(y_true, proba_b)
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


def paired_verdict(diff_ci: tuple[float, float, float], name_a: str = "plain", name_b: str = "TTA") -> str:
    """A sentence for :func:`paired_bootstrap_diff`'s ``(diff, lo, hi)`` (fractions)."""
    diff, lo, hi = diff_ci
    span = f"{100 * diff:+.1f} points (bootstrap CI {100 * lo:+.1f} to {100 * hi:+.1f})"
    if lo > 0:
        return f"{name_b} is more accurate than {name_a}: {span}."
    if hi < 0:
        return f"{name_b} is less accurate than {name_a}: {span}."
    return f"no clear difference between {name_b} and {name_a}: {span}, the interval includes 0."


# ----------------------------------------------------------------------------- the test report (chapter 5)


def tta_verdict(diff_ci: tuple[float, float, float]) -> str:
    """One word for :func:`paired_bootstrap_diff`'s ``(diff, lo, hi)`` of TTA minus plain.

    ``"helped"`` (interval above 0), ``"hurt"`` (below 0), ``"within noise"`` (it includes
    0) or ``"no data"``; :func:`paired_verdict` gives the sentence.
    """
    diff, lo, hi = diff_ci
    if not np.isfinite(diff):
        return "no data"
    return "helped" if lo > 0 else "hurt" if hi < 0 else "within noise"


def _has_labels(y) -> bool:
    return bool((np.asarray(y) >= 0).any())


def _report_row(y_test, proba_plain, proba_tta, y_train, n_classes: int, n_boot: int, seed: int,
                level: float) -> dict:
    """The numbers of one line of the test report, in % (points for the TTA gain)."""
    import warnings

    train = y_train if _has_labels(y_train) else None
    with warnings.catch_warnings():  # a class predicted but absent from a small group is expected here
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        plain = head_scores(y_test, proba_plain, train)
        tta = head_scores(y_test, proba_tta)
    lo, hi = bootstrap_ci(y_test, proba_tta, n_boot=n_boot, level=level, seed=seed)
    diff = paired_bootstrap_diff(y_test, proba_plain, proba_tta, n_boot=n_boot, level=level, seed=seed)
    prior = (prior_baseline(y_test, y_train, n_classes) if train is not None and _has_labels(y_test)
             else np.nan)
    return {"majority_%": 100 * plain["majority"], "prior_%": 100 * prior, "n": plain["n"],
            "plain_%": 100 * plain["accuracy"], "tta_%": 100 * tta["accuracy"],
            "tta_macro_f1_%": 100 * tta["macro_f1"], "tta_balanced_acc_%": 100 * tta["balanced_accuracy"],
            "tta_ci_low_%": 100 * lo, "tta_ci_high_%": 100 * hi,
            "tta_gain_pts": 100 * diff[0], "gain_ci_low_pts": 100 * diff[1], "gain_ci_high_pts": 100 * diff[2],
            "verdict": tta_verdict(diff)}


def report_table(heads: Sequence[Head], y_test: Mapping[str, np.ndarray], proba_plain: Mapping[str, np.ndarray],
               proba_tta: Mapping[str, np.ndarray], y_train: Mapping[str, np.ndarray], n_boot: int = 2000,
               seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """The test report: one row per head, every number in % of the head's labelled test photos.

    Columns: ``model``, ``name`` (display name), ``study_%`` (:data:`STUDY_ACCURACY`, the
    study's figure on its own training images), ``majority_%`` (always answering the
    training split's majority class), ``prior_%`` (:func:`prior_baseline`), ``n``,
    ``plain_%`` / ``tta_%`` (accuracy without / with test-time augmentation),
    ``tta_macro_f1_%``, ``tta_balanced_acc_%`` (mean per-class recall),
    ``tta_ci_low_%`` / ``tta_ci_high_%`` (percentile bootstrap of the TTA accuracy),
    ``tta_gain_pts`` with its paired-bootstrap interval ``gain_ci_low_pts`` /
    ``gain_ci_high_pts`` (:func:`paired_bootstrap_diff`) and ``verdict`` (:func:`tta_verdict`).
    A head without labelled test photos gets NaN.
    """
    rows = []
    for head in heads:
        k = head.key
        rows.append({"head": k, "model": head.model, "name": head.en, "study_%": STUDY_ACCURACY.get(k, np.nan),
                     **_report_row(y_test[k], proba_plain[k], proba_tta[k], y_train[k], head.n_classes,
                                   n_boot, seed, level)})
    return pd.DataFrame(rows).set_index("head")


def group_table(head: Head, y_test, groups_test, proba_plain, proba_tta, y_train, groups_train,
                n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """:func:`report_table`'s numbers for one head per group of photos (source, CCP half ...), then ``all``.

    ``groups_test`` / ``groups_train`` name each photo's group; the baselines of a group
    come from that group's own training labels (its majority class and class mix), so a
    group whose classes are skewed is judged against its own skew.  Groups without a
    labelled test photo of the head are left out.
    """
    y_test, y_train = np.asarray(y_test), np.asarray(y_train)
    groups_test, groups_train = np.asarray(groups_test), np.asarray(groups_train)
    proba_plain, proba_tta = np.asarray(proba_plain), np.asarray(proba_tta)
    rows = []
    for group in [*dict.fromkeys(groups_test[y_test >= 0]), "all"]:
        t = np.ones(len(y_test), bool) if group == "all" else groups_test == group
        r = np.ones(len(y_train), bool) if group == "all" else groups_train == group
        rows.append({"head": head.key, "group": group,
                     **_report_row(y_test[t], proba_plain[t], proba_tta[t], y_train[r], head.n_classes,
                                   n_boot, seed, level)})
    return pd.DataFrame(rows).drop(columns=["tta_macro_f1_%", "tta_balanced_acc_%"])


def format_report(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`report_table` or :func:`group_table` as short strings for display (one decimal)."""
    out = pd.DataFrame(index=table.index)
    for column in ("model", "name", "group"):
        if column in table:
            out[column] = table[column]
    for column, label in (("study_%", "study %"), ("majority_%", "majority %"), ("prior_%", "prior %")):
        if column in table:
            out[label] = table[column].map(lambda v: "–" if pd.isna(v) else f"{v:.1f}")
    out["n"] = table["n"]
    out["plain %"] = table["plain_%"].map(lambda v: f"{v:.1f}")
    out["TTA %"] = table["tta_%"].map(lambda v: f"{v:.1f}")
    if "tta_macro_f1_%" in table:
        out["TTA macro-F1 %"] = table["tta_macro_f1_%"].map(lambda v: f"{v:.1f}")
    if "tta_balanced_acc_%" in table:
        out["TTA balanced acc %"] = table["tta_balanced_acc_%"].map(lambda v: f"{v:.1f}")
    out["TTA 95% CI"] = [interval(lo, hi) for lo, hi in zip(table["tta_ci_low_%"], table["tta_ci_high_%"])]
    out["TTA gain (paired CI)"] = [f"{d:+.1f} ({lo:+.1f} to {hi:+.1f})" for d, lo, hi in
                                   zip(table["tta_gain_pts"], table["gain_ci_low_pts"], table["gain_ci_high_pts"])]
    out["verdict"] = table["verdict"]
    return out


def calibration_table(heads: Sequence[Head], y_val: Mapping[str, np.ndarray], proba_val: Mapping[str, np.ndarray],
                      y_test: Mapping[str, np.ndarray], proba_test: Mapping[str, np.ndarray],
                      n_bins: int = 10) -> pd.DataFrame:
    """Temperature scaling per head: fitted on validation, scored on test.

    Columns: ``n_val`` / ``n_test`` (labelled photos), ``temperature`` (1.0 where
    validation has no label), ``ece_before_%`` / ``ece_after_%``
    (:func:`expected_calibration_error` of the test probabilities before / after the
    temperature, in points of %) and ``nll_before`` / ``nll_after`` (:func:`nll`, nats).
    """
    rows = []
    for head in heads:
        k = head.key
        t = fit_temperature(y_val[k], proba_val[k]) if _has_labels(y_val[k]) else 1.0
        after = apply_temperature(proba_test[k], t)
        rows.append({"head": k, "n_val": int((np.asarray(y_val[k]) >= 0).sum()),
                     "n_test": int((np.asarray(y_test[k]) >= 0).sum()), "temperature": t,
                     "ece_before_%": 100 * expected_calibration_error(y_test[k], proba_test[k], n_bins),
                     "ece_after_%": 100 * expected_calibration_error(y_test[k], after, n_bins),
                     "nll_before": nll(y_test[k], proba_test[k]), "nll_after": nll(y_test[k], after)})
    return pd.DataFrame(rows).set_index("head")


def pooled_reliability(y_true: Mapping[str, np.ndarray], proba: Mapping[str, np.ndarray],
                       n_bins: int = 10) -> pd.DataFrame:
    """One :func:`reliability_table` over the top-label predictions of several heads together.

    Each head's labelled photos count once per head; bins are the same equal-width bins,
    so the pooled ``confidence`` / ``accuracy`` are the photo-weighted means of the heads'.
    """
    tables = [reliability_table(y_true[k], proba[k], n_bins) for k in proba]
    n = sum(t["n"].to_numpy() for t in tables)
    conf = sum(np.nan_to_num(t["confidence"].to_numpy()) * t["n"].to_numpy() for t in tables)
    hits = sum(np.nan_to_num(t["accuracy"].to_numpy()) * t["n"].to_numpy() for t in tables)
    out = tables[0][["bin", "lower", "upper"]].copy()
    out["n"] = n
    with np.errstate(invalid="ignore", divide="ignore"):
        out["confidence"] = np.where(n > 0, conf / np.maximum(n, 1), np.nan)
        out["accuracy"] = np.where(n > 0, hits / np.maximum(n, 1), np.nan)
    return out


def report_summary(table: pd.DataFrame, calibration: pd.DataFrame | None = None,
                   groups: pd.DataFrame | None = None) -> list[str]:
    """Sentences (Markdown) that state what :func:`report_table` found, and, when given,
    :func:`calibration_table` and the :func:`group_table` rows (``head`` and ``group`` columns)."""
    t = table[table["n"] > 0]
    lines = []
    clear = t[above_majority(t)]
    unclear = t.drop(clear.index)
    if unclear.empty:
        lines.append(f"**Baselines.** All {len(t)} heads beat their majority baseline, each with its whole 95% "
                     "bootstrap interval above it.")
    else:
        lines.append(f"**Baselines.** {len(clear)} of {len(t)} heads beat their majority baseline with the whole 95% "
                     "bootstrap interval above it; not clearly: " + "; ".join(
                         f"{r['name']} ({r['tta_%']:.1f}% vs {r['majority_%']:.1f}%, CI {r['tta_ci_low_%']:.1f}–"
                         f"{r['tta_ci_high_%']:.1f})" for _, r in unclear.iterrows()) + ".")
    below = t[t["tta_%"] <= t["majority_%"]]
    if len(below):
        lines.append("**At or below the majority baseline** (TTA accuracy): " + ", ".join(
            f"{r['name']} ({r['tta_%']:.1f}% vs {r['majority_%']:.1f}%)" for _, r in below.iterrows()) + ".")
    verdicts = t["verdict"].value_counts()
    moved = "; ".join(f"{r['name']} {r['tta_gain_pts']:+.1f} points ({r['gain_ci_low_pts']:+.1f} to "
                      f"{r['gain_ci_high_pts']:+.1f})" for _, r in t[t["verdict"] != "within noise"].iterrows())
    span = f"gains from {t['tta_gain_pts'].min():+.1f} to {t['tta_gain_pts'].max():+.1f} points"
    if moved:
        lines.append(f"**TTA.** Helped beyond the paired-bootstrap noise on {verdicts.get('helped', 0)} heads, hurt on "
                     f"{verdicts.get('hurt', 0)}, within noise on {verdicts.get('within noise', 0)} ({span}): {moved}.")
    else:
        lines.append(f"**TTA.** Changed no head's accuracy beyond the paired-bootstrap noise ({span}, every "
                     "interval includes 0).")
    gap = (t["tta_%"] - t["study_%"]).dropna()
    if len(gap):
        order = gap.abs().sort_values(ascending=False).index[:3]
        lines.append("**Biggest gaps to the study's figures** (ours minus the study's): " + "; ".join(
            f"{t.loc[k, 'name']} {gap[k]:+.1f} points ({t.loc[k, 'tta_%']:.1f}% vs {t.loc[k, 'study_%']:.1f}%)"
            for k in order) + ". The study scored its own photos and labels, on the images it trained on; "
            "ours are held-out photos with other label rules, so a gap is a difference of task, not a ranking.")
    for key, part in ([] if groups is None else groups[groups["group"] != "all"].groupby("head", sort=False)):
        name = t.loc[key, "name"] if key in t.index else key
        lines.append(f"**{name[0].upper() + name[1:]} per group** (TTA vs the group's own majority baseline): " + "; ".join(
            f"{r['group']} {r['tta_%']:.1f}% vs {r['majority_%']:.1f}% (n={r['n']}, CI {r['tta_ci_low_%']:.1f}–"
            f"{r['tta_ci_high_%']:.1f}{'' if above else ', not clearly above'})"
            for (_, r), above in zip(part.iterrows(), above_majority(part))) + ".")
    if calibration is not None and len(calibration):
        lines.append(calibration_line(calibration))
    return lines


def above_majority(table: pd.DataFrame) -> pd.Series:
    """Per row of a test table (:func:`report_table`, :func:`group_table`): whether the whole TTA
    interval lies above the majority baseline, i.e. the model beats it beyond noise."""
    return table["tta_ci_low_%"] > table["majority_%"]


def calibration_line(calibration: pd.DataFrame) -> str:
    """What :func:`calibration_table` found, in one sentence (Markdown): the temperatures, which way
    they correct the raw model, and how the test ECE and NLL moved."""
    c = calibration.dropna(subset=["ece_before_%", "ece_after_%"])
    if c.empty:
        return "**Calibration.** No head has labelled test photos to measure a calibration on."
    better = int((c["ece_after_%"] < c["ece_before_%"]).sum())
    under, over = int((c["temperature"] < 1).sum()), int((c["temperature"] > 1).sum())
    sides = []
    if under:
        sides.append(f"below 1 for {under} of {len(c)} heads (the raw model was under-confident there, and "
                     "T < 1 sharpens its probabilities)")
    if over:
        sides.append(f"above 1 for {over} of {len(c)} heads (over-confident, and T > 1 softens them)")
    return (f"**Calibration.** The temperatures fitted on validation ({c['temperature'].min():.2f}–"
            f"{c['temperature'].max():.2f}) are {' and '.join(sides) or '1 for every head'}. They lowered "
            f"the test ECE on {better} of {len(c)} heads (mean {c['ece_before_%'].mean():.1f} → "
            f"{c['ece_after_%'].mean():.1f} points) and the mean NLL from {c['nll_before'].mean():.3f} to "
            f"{c['nll_after'].mean():.3f} nats.")


def groups_line(groups: pd.DataFrame) -> str:
    """One sentence (Markdown) naming the groups of :func:`group_table` rows (``head`` and ``group``
    columns; the ``all`` rows are skipped) where the model is not clearly better than always answering
    the group's own most common class."""
    rows = groups[groups["group"].astype(str) != "all"]
    weak = rows[~above_majority(rows)]
    if weak.empty:
        return "In every group the interval lies above the group's own majority baseline."
    items = [f"{get_head(h).en} on {g}" for h, g in zip(weak["head"], weak["group"])]
    return ("Not clearly better than always answering the group's most common class (the interval reaches "
            f"down to the group's majority baseline): {_names(items)}.")


# ------------------------------------------------------------- error gallery (chapter 6)
def head_proba(predictions: pd.DataFrame, head: Head, variant: str = "tta") -> np.ndarray:
    """``(n, n_classes)`` probabilities of ``head`` from a ``test_predictions.csv`` frame
    (columns ``<variant>.<head>.<class>``); rows the model did not see are NaN."""
    return predictions[[f"{variant}.{head.key}.{name}" for name in head.names]].to_numpy(dtype=float)


def head_labels(predictions: pd.DataFrame, head: Head) -> np.ndarray:
    """Class indices of ``label.<head>`` (``-1`` where the photo has no label)."""
    index = {name: i for i, name in enumerate(head.names)}
    return np.array([index.get(v, -1) if isinstance(v, str) else -1 for v in predictions[f"label.{head.key}"]],
                    dtype=int)


def gallery_picks(predictions: pd.DataFrame, head: Head, n_wrong: int, n_right: int,
                  variant: str = "tta") -> pd.DataFrame:
    """The ``n_wrong`` most confident mistakes and ``n_right`` correct answers of ``head``.

    Only labelled photos count.  Mistakes are ranked by the probability of the (wrong)
    answer, highest first.  Correct answers are the most confident correct photo of each
    true class in turn (classes in schema order, then the next photo of each), so the
    successes cover several classes.  Ties go by image name.  Columns: ``head``, ``kind``
    (``mistake`` / ``correct``), ``rank``, ``image``, ``source``, ``true``, ``predicted``,
    ``confidence`` (0..1), ``p_true`` (probability of the true class) and ``probabilities``
    (:func:`proba_string`).
    """
    proba = head_proba(predictions, head, variant)
    y = head_labels(predictions, head)
    keep = (y >= 0) & np.isfinite(proba).all(axis=1)
    frame = predictions.loc[keep, ["image", "source"]].reset_index(drop=True)
    p, y = proba[keep], y[keep]
    pred = p.argmax(axis=1) if len(p) else np.zeros(0, int)
    names = np.asarray(head.names)
    frame = frame.assign(head=head.key, true=names[y], predicted=names[pred], confidence=p.max(axis=1) if len(p) else [],
                         p_true=p[np.arange(len(y)), y], probabilities=[proba_string(r, head.names) for r in p],
                         _y=y, _ok=pred == y)
    frame = frame.sort_values(["confidence", "image"], ascending=[False, True], kind="mergesort")
    wrong = frame[~frame["_ok"]].head(n_wrong).assign(kind="mistake")
    right = frame[frame["_ok"]].copy()
    right["_turn"] = right.groupby("_y").cumcount()
    right = right.sort_values(["_turn", "_y"], kind="mergesort").head(n_right).assign(kind="correct")
    out = pd.concat([wrong, right], ignore_index=True)
    out["rank"] = out.groupby("kind").cumcount() + 1
    cols = ["head", "kind", "rank", "image", "source", "true", "predicted", "confidence", "p_true", "probabilities"]
    return out[cols]


def mistake_summary(predictions: pd.DataFrame, heads: Sequence[Head], confident: float = 0.8,
                    variant: str = "tta") -> pd.DataFrame:
    """One row per head: labelled test photos, mistakes, the mistakes' median confidence and
    the share of mistakes answered with at least ``confident`` probability (all in %)."""
    rows = []
    for head in heads:
        proba, y = head_proba(predictions, head, variant), head_labels(predictions, head)
        keep = (y >= 0) & np.isfinite(proba).all(axis=1)
        p, y = proba[keep], y[keep]
        wrong = p.argmax(axis=1) != y if len(p) else np.zeros(0, bool)
        conf = p.max(axis=1)[wrong] if len(p) else np.zeros(0)
        rows.append({"head": head.key, "name": head.en, "n": int(keep.sum()), "mistakes": int(wrong.sum()),
                     "error_%": 100 * wrong.mean() if len(p) else np.nan,
                     "median_conf_of_mistakes_%": 100 * np.median(conf) if conf.size else np.nan,
                     f"mistakes_at_{round(100 * confident)}%+": int((conf >= confident).sum())})
    return pd.DataFrame(rows).set_index("head")


def outfit_table(row: pd.Series, heads: Sequence[Head], variant: str = "tta") -> pd.DataFrame:
    """Every head's answer for one photo (a row of ``test_predictions.csv``): ``model``,
    ``head`` / ``head_ko``, ``predicted`` / ``predicted_ko`` (display names), ``prob_%``,
    ``true`` (English display name, empty without a label) and ``ok`` (✓ / ✗ / empty)."""
    rows = []
    for head in heads:
        p = np.array([row.get(f"{variant}.{head.key}.{n}", np.nan) for n in head.names], dtype=float)
        if not np.isfinite(p).all():
            continue
        name = head.names[int(p.argmax())]
        truth = row.get(f"label.{head.key}")
        has = isinstance(truth, str) and truth in head.names
        rows.append({"model": head.model, "head": head.en, "head_ko": head.ko, "predicted": head.display(name, "en"),
                     "predicted_ko": head.display(name, "ko"), "prob_%": round(100 * float(p.max()), 1),
                     "true": head.display(truth, "en") if has else "", "ok": ("✓" if truth == name else "✗") if has else ""})
    return pd.DataFrame(rows, columns=["model", "head", "head_ko", "predicted", "predicted_ko", "prob_%", "true", "ok"])


def below_majority(metrics: pd.DataFrame, column: str = "tta_%") -> pd.DataFrame:
    """Rows of a ``test_metrics.csv`` table whose ``column`` accuracy is below ``majority_%``."""
    return metrics[metrics[column] < metrics["majority_%"]]


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


# ----------------------------------------------------------------------------- aims (params/targets.yaml)

TARGETS_YAML = PROJECT_ROOT / "params" / "targets.yaml"


def read_targets(path=TARGETS_YAML) -> dict[str, dict[str, float]]:
    """The team's aims (``{"accuracy": {head: %}, "macro_f1": {head: %}}``) from ``params/targets.yaml``.

    Goals set before the work, NOT results: the book compares the measured figures with them."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    return {kind: {k: float(v) for k, v in (raw.get(kind) or {}).items()}
            for kind in ("accuracy", "macro_f1")}


def _names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return "".join(items) if len(items) <= 1 else ", ".join(items[:-1]) + " and " + items[-1]


def target_comparison(metrics: pd.DataFrame, targets: Mapping[str, float]) -> pd.DataFrame:
    """Each head's test accuracy (``tta_%``) against the team's accuracy aim (``targets``: ``{head: %}``).

    ``metrics`` is chapter 5's test table (index or column ``head``).  One row per head, in its
    order: ``head``, ``name``, ``accuracy_%``, ``target_%`` (NaN where the team set none), ``met``
    (accuracy >= target; None where either is missing) and ``target_in_ci`` (the target lies inside
    the accuracy's interval, so the test split cannot tell on which side of it the model is; None
    where unknown).
    """
    m = metrics if "head" in metrics.columns else metrics.rename_axis("head").reset_index()
    rows = []
    for _, r in m.iterrows():
        acc, target = r.get("tta_%"), targets.get(r["head"], np.nan)
        low, high = r.get("tta_ci_low_%"), r.get("tta_ci_high_%")
        known = not pd.isna(acc) and not pd.isna(target)
        in_ci = None if not known or pd.isna(low) or pd.isna(high) else bool(low <= target <= high)
        rows.append({"head": r["head"], "name": r.get("name", r["head"]), "accuracy_%": acc,
                     "target_%": target, "met": bool(acc >= target) if known else None,
                     "target_in_ci": in_ci})
    return pd.DataFrame(rows, columns=["head", "name", "accuracy_%", "target_%", "met", "target_in_ci"])


def targets_sentence(cmp: pd.DataFrame) -> str:
    """One paragraph (Markdown) comparing every head with its aim, from :func:`target_comparison`."""
    judged = cmp[cmp["met"].notna()]
    met = judged[judged["met"].astype(bool)]
    short = judged[~judged["met"].astype(bool)]
    parts = []
    if len(judged):
        n = len(judged)
        if len(met) == n:
            reach = f"reaches the team's target for all {n} heads"
        elif len(met) == 0:
            reach = f"falls short of the team's target for all {n} heads"
        else:
            reach = (f"reaches the team's target for {len(met)} of {n} heads ({_names(met['name'])}) "
                     f"and falls short for {len(short)} ({_names(short['name'])})")
        parts.append(f"**Against the team's targets.** The test accuracy {reach}.")
        unsure = judged[judged["target_in_ci"].eq(True)]
        if len(unsure):
            parts.append(f"For {len(unsure)} of the {n} ({_names(unsure['name'])}) the target lies inside "
                         f"the accuracy's interval, so this test split cannot say on which side of the "
                         f"target the model really is.")
        above = met[met["target_in_ci"].eq(False)]
        if len(above):
            parts.append(f"For {len(above)} ({_names(above['name'])}) even the lower end of the interval is "
                         f"above the target.")
        below = short[short["target_in_ci"].eq(False)]
        if len(below):
            parts.append(f"For {len(below)} ({_names(below['name'])}) even the upper end of the interval is "
                         f"below the target.")
    else:
        parts.append("**Against the team's targets.** No head has both a target and a measured accuracy.")
    untargeted = cmp[cmp["target_%"].isna()]
    if len(untargeted):
        parts.append(f"No target is set for {_names(untargeted['name'])}.")
    parts.append("The targets are the team's aims, set before the work; they are not results.")
    return " ".join(parts)


# ----------------------------------------------------------------------------- the book's pages (chapter 5)

# Columns of the test table (:func:`report_table`) as the book's pages head them; ``ci`` is the
# TTA interval in one cell.
RESULT_LABELS = {"n": "n", "majority_%": "majority %", "plain_%": "accuracy, one view %",
                 "tta_%": "accuracy (TTA) %", "ci": "CI", "tta_macro_f1_%": "macro-F1 %",
                 "tta_balanced_acc_%": "balanced accuracy %", "study_%": "study %"}
HEADLINE_COLUMNS = ("n", "majority_%", "tta_%", "ci", "tta_macro_f1_%", "study_%")  # the introduction
MODEL_CARD_COLUMNS = ("n", "majority_%", "plain_%", "tta_%", "ci", "tta_macro_f1_%", "tta_balanced_acc_%")


def results_table(table: pd.DataFrame, columns: Sequence[str] = HEADLINE_COLUMNS,
                  aims: Mapping[str, float] | None = None, level: float = 0.95,
                  by_model: bool = False) -> pd.DataFrame:
    """:func:`report_table` for the book's pages (numbers kept; ``tables.show`` formats them).

    One row per head, labelled by its name (under its model with ``by_model``), ``columns`` (keys of
    :data:`RESULT_LABELS`) with readable headings, the TTA interval as one cell headed by its
    ``level``; with ``aims`` (``{head: %}``) also the team's ``target %`` and ``met?`` (yes / no).
    """
    t = table if "head" in table.columns else table.rename_axis("head").reset_index()
    index = (pd.MultiIndex.from_arrays([t["model"], t["name"]], names=["model", "head"]) if by_model
             else pd.Index(t["name"], name="head"))
    out = pd.DataFrame(index=index)
    for column in columns:
        if column == "ci":
            out[f"{100 * level:g}% CI"] = [interval(lo, hi)
                                           for lo, hi in zip(t["tta_ci_low_%"], t["tta_ci_high_%"])]
        elif column in t.columns:
            out[RESULT_LABELS[column]] = t[column].to_numpy()
    if aims is not None:
        cmp = target_comparison(t, aims)
        out["target %"] = cmp["target_%"].to_numpy()
        out["met?"] = [None if m is None else "yes" if m else "no" for m in cmp["met"]]
    return out


def split_note(meta: Mapping) -> str:
    """One paragraph (Markdown) saying which split the numbers are on and how the intervals were
    computed, from chapter 5's ``test_metrics.json`` record (``meta``)."""
    bits = [f"All numbers are on the held-out `{meta.get('split', 'test')}` split"]
    if meta.get("split_hash"):
        bits[-1] += f" of the committed split table (hash `{meta['split_hash']}`)"
    bits[-1] += "; n counts the photos of this split that are labelled for the head."
    tta = {model: len(v.get("tta") or []) for model, v in (meta.get("views") or {}).items()
           if isinstance(v, Mapping)}
    if len(set(tta.values())) == 1:
        n_views = next(iter(tta.values()))
        bits.append(f"TTA is the mean of the model's softmax over {n_views} views of each photo.")
    elif tta:
        bits.append("TTA is the mean of the model's softmax over "
                    + _names([f"{n} views ({m} model)" for m, n in tta.items()]) + " of each photo.")
    extras = [f"{meta['n_boot']} resamples" if meta.get("n_boot") is not None else "",
              f"seed {meta['seed']}" if meta.get("seed") is not None else ""]
    extras = ", ".join(e for e in extras if e)
    level = 100 * float(meta.get("ci_level", 0.95))
    bits.append(f"The {level:g}% intervals are percentile bootstraps over the test photos"
                + (f" ({extras})." if extras else "."))
    if meta.get("limit_per_split"):
        bits.append(f"**Smoke run:** at most {meta['limit_per_split']} photos per split were read "
                    "(`limit_per_split`), so these numbers do not describe a full evaluation.")
    return " ".join(bits)


# ----------------------------------------------------------------------------- aims (chapter 6)


def shortfall_table(metrics: pd.DataFrame, targets: Mapping[str, Mapping[str, float]],
                    ceiling: Mapping[str, float] | None = None, ablation: pd.DataFrame | None = None) -> pd.DataFrame:
    """Per head: the test figures against the team's aims, by how much each falls short, and why.

    ``metrics`` is chapter 5's test table (``test_metrics.csv``, index or column ``head``);
    ``targets`` ``{"accuracy": {head: %}, "macro_f1": {head: %}}`` (``params/targets.yaml``);
    ``ceiling`` the accuracy the labels allow per head (chapter 6's confident-learning
    estimate); ``ablation`` chapters 3-4's :func:`ablation_table` rows (every lever against
    the reference on validation).  The ``why`` column is built from those numbers only:
    whether the aim lies inside the test interval, whether the labels allow it, and whether
    any lever beat the reference beyond noise.
    """
    m = metrics.set_index("head") if "head" in metrics.columns else metrics
    acc_aims, f1_aims = dict(targets.get("accuracy", {})), dict(targets.get("macro_f1", {}))
    ceiling = dict(ceiling or {})
    in_ci = target_comparison(m, acc_aims).set_index("head")["target_in_ci"]
    rows = []
    for key, r in m.iterrows():
        acc, lo, hi, f1 = (float(r[c]) for c in ("tta_%", "tta_ci_low_%", "tta_ci_high_%", "tta_macro_f1_%"))
        aim, f1_aim, allow = acc_aims.get(key, np.nan), f1_aims.get(key, np.nan), ceiling.get(key, np.nan)
        short = max(0.0, aim - acc) if np.isfinite(aim) else np.nan
        f1_short = max(0.0, f1_aim - f1) if np.isfinite(f1_aim) else np.nan
        why = []
        if not (short > 0 or f1_short > 0):
            why.append("aim met" if np.isfinite(aim) else "no aim set")
        else:
            if short > 0 and in_ci[key]:
                why.append("the aim lies inside the 95% interval: this test split cannot tell")
            if np.isfinite(allow) and short > 0:
                if acc > allow:
                    why.append(f"label-noise estimate ({allow:.0f}%) is below what the model already scores, "
                               "so only an upper bound on the noise: no ceiling shown")
                elif allow < aim:
                    why.append(f"the labels allow about {allow:.0f}%, below the aim")
                else:
                    why.append(f"the labels allow about {allow:.0f}%: room left")
            if f1_short > 0:
                why.append(f"macro-F1 {f1:.1f} vs aim {f1_aim:g}: rare classes")
            if ablation is not None and len(ablation):
                levers = ablation[(ablation["head"] == key) & (ablation["verdict"] != "reference")]
                if len(levers):
                    better = levers[levers["verdict"] == "better"]
                    best = levers.loc[levers["diff_points"].idxmax()]
                    if len(better):
                        why.append("a lever helped beyond noise on validation: " + ", ".join(better["variant"]))
                    else:
                        why.append(f"no lever beat the reference beyond noise on validation (best: {best['variant']}, "
                                   f"{best['diff_points']:+.1f} [{best['diff_lo']:+.1f}, {best['diff_hi']:+.1f}])")
        rows.append({"head": key, "name": r.get("name", key), "test accuracy %": acc,
                     "95% CI": f"{lo:.1f}–{hi:.1f}", "aim %": aim, "short by, points": short,
                     "macro-F1 %": f1, "macro-F1 aim %": f1_aim, "labels allow %": allow, "why": "; ".join(why)})
    return pd.DataFrame(rows).set_index("head")


def test_short_answer(table: pd.DataFrame, aims: Mapping[str, float] | None = None) -> str:
    """Chapter 5's one-line answer, from its test table: how many heads clear the majority
    baseline beyond noise, the range of test accuracies, whether TTA moved any head, and how
    many heads reach the team's aim (``aims``: ``{head key: %}``)."""
    t = table[table["n"] > 0]
    clear = int(above_majority(t).sum())
    moved = t[t["verdict"] != "within noise"]
    parts = [f"{clear} of {len(t)} heads beat the photo-blind majority baseline beyond noise, with test "
             f"accuracies from {t['tta_%'].min():.1f}% ({t.loc[t['tta_%'].idxmin(), 'name']}) to "
             f"{t['tta_%'].max():.1f}% ({t.loc[t['tta_%'].idxmax(), 'name']})",
             "TTA moved no head beyond noise" if moved.empty else
             f"TTA moved {len(moved)} ({', '.join(moved['name'])})"]
    if aims:
        judged = target_comparison(t, aims)["met"].dropna()
        parts.append(f"the team's aim is met on {int(judged.sum())} of {len(judged)} heads")
    return "; ".join(parts) + "."


def validation_short_answer(table: pd.DataFrame, ablation: pd.DataFrame | None = None) -> str:
    """Chapters 3-4's one-line answer: from the validation table (fractions ``accuracy``,
    ``majority``; index the head keys) and the ablation (:func:`ablation_table`)."""
    names = {k: get_head(k).en for k in table.index}
    margin = 100 * (table["accuracy"] - table["majority"])
    text = (f"on validation the model beats always answering the majority class on {int((margin > 0).sum())} of "
            f"{len(table)} heads, by {margin.min():+.1f} ({names[margin.idxmin()]}) to {margin.max():+.1f} points "
            f"({names[margin.idxmax()]}), with accuracies from {100 * table['accuracy'].min():.1f}% to "
            f"{100 * table['accuracy'].max():.1f}%")
    if ablation is not None and len(ablation):
        levers = ablation[ablation["verdict"] != "reference"]
        better = levers[levers["verdict"] == "better"]
        worse = levers[levers["verdict"] == "worse"]
        if better.empty and worse.empty:
            text += "; no variant of the ablation differs from the fixed-box reference beyond noise"
        else:
            text += "; beyond noise against the fixed-box reference: " + "; ".join(
                f"{r['variant']} {r['diff_points']:+.1f} on {get_head(r['head']).en}"
                for _, r in pd.concat([better, worse]).iterrows())
    return text[0].upper() + text[1:] + "."
