"""How noisy are the labels? Cross-validated confident learning, written out.

A model cannot agree with a label more often than the label is right, so a head's label
noise bounds the accuracy any model can be *measured* at.  Confident learning (Northcutt,
Jiang and Chuang, "Confident Learning: Estimating Uncertainty in Dataset Labels", JAIR
2021) estimates that noise from out-of-sample predicted probabilities:

1. every labelled photo gets class probabilities from a model that did not train on it
   (``n_folds``-fold cross-validation of a logistic regression on frozen pooled features,
   :func:`out_of_fold_proba`);
2. each class ``j`` gets a threshold ``t_j``: the mean probability of ``j`` over the photos
   labelled ``j`` (the model's self-confidence on that class);
3. a photo *confidently* belongs to class ``j`` when ``p_j >= t_j`` (the largest such
   ``p_j`` when several pass); counting (given label, confident class) pairs gives the
   *confident joint* ``C``; its rows are rescaled to the label counts
   (:func:`confident_joint`);
4. the share of photos off the diagonal estimates the label error rate; the photos
   counted off the diagonal, ordered by how little probability their own label gets, are
   the likeliest label errors (:func:`label_issues`).

The estimate is only as good as the probe's probabilities: a class the probe cannot tell
apart from another looks like noise.  Read it as an order of magnitude, not a fact about
each photo.  Only training and validation photos are used; the test split is never
relabelled.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fashionkit.training.classifier import encode_targets_np

__all__ = ["out_of_fold_proba", "confident_joint", "label_issues", "noise_table"]


def out_of_fold_proba(features: np.ndarray, y: np.ndarray, n_classes: int, n_folds: int = 5, C: float = 0.5,
                      seed: int = 0) -> np.ndarray:
    """``(n, n_classes)`` probabilities of the labelled rows (``y >= 0``), each from a fold that left it out.

    Rows with ``y < 0`` get NaN.  The model is a standardised multinomial logistic
    regression with balanced class weights (so a small class is not drowned).
    """
    y = np.asarray(y)
    out = np.full((len(y), n_classes), np.nan)
    rows = np.flatnonzero(y >= 0)
    if len(rows) < 2:
        return out
    counts = np.bincount(y[rows], minlength=n_classes)
    folds = max(2, min(int(n_folds), int(counts[counts > 0].min())))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    for fit_idx, held_idx in splitter.split(rows, y[rows]):
        proba = np.zeros((len(held_idx), n_classes))
        seen = np.unique(y[rows[fit_idx]])
        if len(seen) < 2:  # a fold with one class (tiny data): that class, with certainty
            proba[:, seen[0]] = 1.0
        else:
            model = make_pipeline(StandardScaler(), LogisticRegression(C=C, max_iter=2000, class_weight="balanced"))
            model.fit(features[rows[fit_idx]], y[rows[fit_idx]])
            proba[:, model.classes_] = model.predict_proba(features[rows[held_idx]])
        out[rows[held_idx]] = proba
    return out


def _confident_class(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per labelled row the confident class (-1 when no class passes its threshold), and the thresholds."""
    n_classes = proba.shape[1]
    thresholds = np.array([proba[y == j, j].mean() if (y == j).any() else np.inf for j in range(n_classes)])
    passing = np.where(proba >= thresholds, proba, -np.inf)
    confident = np.where(np.isfinite(passing.max(axis=1)), passing.argmax(axis=1), -1)
    return confident, thresholds


def confident_joint(y, proba) -> np.ndarray:
    """The calibrated confident joint ``(n_classes, n_classes)``: rows the given label, columns
    the estimated true class, in photos; each row sums to that label's count."""
    y, proba = np.asarray(y), np.asarray(proba)
    keep = y >= 0
    y, proba = y[keep], proba[keep]
    n_classes = proba.shape[1]
    confident, _ = _confident_class(y, proba)
    joint = np.zeros((n_classes, n_classes))
    for given, true in zip(y, confident):
        if true >= 0:
            joint[given, true] += 1
    counts = np.bincount(y, minlength=n_classes).astype(float)
    row = joint.sum(axis=1, keepdims=True)
    return np.divide(joint * counts[:, None], row, out=np.zeros_like(joint), where=row > 0)


def label_issues(y, proba) -> np.ndarray:
    """Positions (into ``y``) of the likeliest label errors, most suspicious first.

    A row is an issue when its confident class differs from its label; rows are ordered by
    the probability their own label gets (lowest first).
    """
    y, proba = np.asarray(y), np.asarray(proba)
    rows = np.flatnonzero(y >= 0)
    confident, _ = _confident_class(y[rows], proba[rows])
    flagged = rows[(confident >= 0) & (confident != y[rows])]
    return flagged[np.argsort(proba[flagged, y[flagged]], kind="stable")]


def noise_table(heads, targets: dict, probas: dict) -> pd.DataFrame:
    """One row per head: labelled photos, out-of-fold probe accuracy, estimated label error rate
    (% off the diagonal of the calibrated confident joint), the accuracy the labels allow
    (100 minus that) and the number of flagged photos."""
    rows = []
    for head in heads:
        y, p = np.asarray(targets[head.key]), np.asarray(probas[head.key])
        keep = y >= 0
        if not keep.any():
            continue
        joint = confident_joint(y, p)
        noise = 100 * (1 - np.trace(joint) / joint.sum()) if joint.sum() else np.nan
        rows.append({"head": head.key, "photos": int(keep.sum()),
                     "probe accuracy %": 100 * float((p[keep].argmax(axis=1) == y[keep]).mean()),
                     "estimated label errors %": noise, "accuracy the labels allow %": 100 - noise,
                     "flagged photos": int(len(label_issues(y, p)))})
    return pd.DataFrame(rows).set_index("head")


def estimate(features: np.ndarray, frame: pd.DataFrame, heads, n_folds: int = 5, C: float = 0.5,
             seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Label noise of every head of one model: ``(noise_table, issues)``.

    ``features`` (n, d) are frozen pooled features of ``frame``'s photos (training and
    validation rows of the manifest).  ``issues`` lists every flagged photo, most
    suspicious first within a head: image, path, head, given and suggested class, and the
    out-of-fold probabilities of both.
    """

    targets = encode_targets_np(frame, heads)
    probas = {h.key: out_of_fold_proba(features, targets[h.key], h.n_classes, n_folds, C, seed) for h in heads}
    rows = []
    for h in heads:
        y, p = targets[h.key], probas[h.key]
        for i in label_issues(y, p):
            suggested = int(np.nanargmax(p[i]))
            rows.append({"image": frame["image"].iloc[i], "path": frame["path"].iloc[i], "head": h.key,
                         "given": h.names[y[i]], "suggested": h.names[suggested],
                         "p_given": float(p[i, y[i]]), "p_suggested": float(p[i, suggested])})
    issues = pd.DataFrame(rows, columns=["image", "path", "head", "given", "suggested", "p_given", "p_suggested"])
    return noise_table(heads, targets, probas), issues
