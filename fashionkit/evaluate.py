"""Metrics per head: pure functions of labels and probabilities (numpy / scikit-learn).

Labels are class indices with ``-1`` for a missing label; rows without a label are left
out of every metric of that head.  ``proba`` rows are class probabilities.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from sklearn.metrics import balanced_accuracy_score, f1_score

from .schema import Head


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


def per_class_recall(y_true, proba, classes: Sequence[str]) -> pd.Series:
    """Recall of every class (NaN for a class absent from ``y_true``)."""
    y, p = _labelled(y_true, proba)
    pred = p.argmax(axis=1)
    return pd.Series({name: float((pred[y == i] == i).mean()) if (y == i).any() else np.nan
                      for i, name in enumerate(classes)})


# The study's reported accuracies (%), on its own data and measured on the images it
# trained on; shown beside ours for reference only, never as a target we copy.
STUDY_ACCURACY = {
    "top_type": 60.3, "top_pattern": 83.4, "top_buttons": 54.1, "top_neck": 20.2, "top_sleeve": 54.1,
    "bottom_major": 89.2, "bottom_sub": 70.4, "bottom_length": 78.4,
}
