"""Metrics per head: pure functions of labels and probabilities (numpy / scikit-learn).

Labels are class indices with ``-1`` for a missing label; rows without a label are left
out of every metric of that head.  ``proba`` rows are class probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy.stats import norm
from sklearn.metrics import balanced_accuracy_score, f1_score

from fashionkit.data.schema import Head


def labelled_pairs(y_true: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    y, p = labelled_pairs(y_true, proba)
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
    y, p = labelled_pairs(y_true, proba)
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
    y, p = labelled_pairs(y_true, proba)
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


def confusion(y_true, proba, n_classes: int) -> np.ndarray:
    """Confusion counts ``(n_classes, n_classes)``: rows = true class, columns = argmax class.

    Rows without a label (``-1``) are left out.
    """
    y, p = labelled_pairs(y_true, proba)
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


def wilson_interval(k: int, n: int, level: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion ``k / n`` (``(nan, nan)`` when ``n`` is 0)."""
    if n == 0:
        return (np.nan, np.nan)
    z = float(norm.ppf(0.5 + level / 2))
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def presence_table(truth: pd.DataFrame, predicted: pd.DataFrame, groups, train_truth: pd.DataFrame,
                   train_groups, level: float = 0.95) -> pd.DataFrame:
    """How often a reader says rightly whether each garment is in the photo, per group of photos.

    ``truth`` / ``predicted``: a column per garment (``top``, ``bottom``), one row per photo;
    ``truth`` holds True / False / None (None: the labels do not say, left out), ``predicted``
    booleans.  ``groups``: each photo's group (a source, say).  Per group and garment: the
    photos with a known answer, how many show the garment, the accuracy with its Wilson
    interval, and the majority baseline (always the answer most frequent in that group's
    training photos, ``train_truth`` / ``train_groups``).  A row ``all`` pools the groups.
    """
    groups, train_groups = np.asarray(groups, dtype=object), np.asarray(train_groups, dtype=object)
    rows = []
    for garment in truth.columns:
        known = truth[garment].notna().to_numpy()
        for group in [*dict.fromkeys(groups[known]), "all"]:
            at = known & ((groups == group) if group != "all" else True)
            y = truth[garment].to_numpy()[at].astype(bool)
            right = int((predicted[garment].to_numpy()[at].astype(bool) == y).sum())
            train = train_truth[garment].to_numpy()
            train_at = pd.notna(train) & ((train_groups == group) if group != "all" else True)
            majority = bool(np.mean(train[train_at].astype(bool)) >= 0.5) if train_at.any() else None
            lo, hi = wilson_interval(right, len(y), level)
            rows.append({"garment": garment, "group": group, "photos": len(y), "shown": int(y.sum()),
                         "accuracy_%": 100 * right / len(y) if len(y) else np.nan,
                         "ci_low_%": 100 * lo, "ci_high_%": 100 * hi,
                         "majority_%": (100 * float(np.mean(y == majority)) if majority is not None and len(y)
                                        else np.nan)})
    return pd.DataFrame(rows)
