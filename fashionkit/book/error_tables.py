"""Chapter 6's error gallery tables: each head's probabilities and labels from chapter 5's
predictions, the photos the gallery shows, the confident mistakes, one outfit's card.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fashionkit.book.tables import interval, proba_string
from fashionkit.data.schema import Head, get_head


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


def agreement_for_reading(agreement: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """:func:`fashionkit.studies.noise.reannotation_agreement` for reading: heads by their display name,
    the interval as one cell headed by its ``level``."""
    out = agreement.drop(columns=["ci_low_%", "ci_high_%"]).copy()
    out.insert(out.columns.get_loc("agreement %") + 1, f"{100 * level:g}% CI",
               [interval(lo, hi) for lo, hi in zip(agreement["ci_low_%"], agreement["ci_high_%"])])
    return out.rename(index=lambda k: get_head(k).en)


def reannotation_sentence(agreement: pd.DataFrame, confirmed: pd.DataFrame, confident: float) -> str:
    """The re-annotation in one sentence: agreement per head, and what the annotator said of the model's
    confident mistakes among the re-annotated photos."""
    parts = [f"{get_head(k).en} {r['agreement %']:.0f}% ({r['ci_low_%']:.0f}–{r['ci_high_%']:.0f}; "
             f"{int(r['agree'])} of {int(r['compared'])})" for k, r in agreement.iterrows()]
    text = "**Blind re-annotation** (test photos): the annotator names the dataset's label for " + "; ".join(parts) + "."
    if len(confirmed):
        meaning = {"the dataset's label": "the annotator names the dataset's label (the model was wrong)",
                   "the model's answer": "the annotator names the model's answer (a label error)",
                   "another class": "the annotator names a third class", "unsure": "the annotator could not tell"}
        said = confirmed["the annotator says"].value_counts()
        text += (f" Of the {len(confirmed)} confident mistakes (at least {100 * confident:.0f}%) among these photos: "
                 + "; ".join(f"{n} where {meaning[what]}" for what, n in said.items()) + ".")
    else:
        text += f" None of the model's confident mistakes (at least {100 * confident:.0f}%) is among these photos."
    return text
