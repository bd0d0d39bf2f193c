"""How often does a probe disagree with the labels?  Cross-validated confident learning, written out.

Confident learning (Northcutt, Jiang and Chuang, "Confident Learning: Estimating Uncertainty in
Dataset Labels", JAIR 2021) looks for label errors with out-of-sample predicted probabilities:

1. every labelled photo gets class probabilities from a model that did not train on it
   (``n_folds``-fold cross-validation of a logistic regression on frozen pooled features,
   :func:`out_of_fold_proba`): the *probe*;
2. each class ``j`` gets a threshold ``t_j``: the mean probability of ``j`` over the photos
   labelled ``j`` (the probe's self-confidence on that class);
3. a photo's *confident class* is, among the classes whose probability reaches their threshold,
   the one with the largest probability (none when no class reaches its threshold); counting
   (given label, confident class) pairs gives the *confident joint* ``C``, whose rows are
   rescaled to the label counts (:func:`confident_joint`);
4. a photo is *flagged* when it has a confident class and that class is not its label
   (:func:`label_issues`, least probability on the own label first); the share of the rescaled
   joint off its diagonal is the method's estimate of the error rate.

What this measures is **probe disagreement**: a flagged photo is a label error *or* a photo the
probe reads wrong, and nothing here tells the two apart.  A weak probe on clean labels "finds"
plenty of noise (``tests/studies/test_noise.py`` shows it), and a model better than the probe
can score above 100 minus this figure.  It is not a bound on any accuracy.  Label errors are
measured directly by a blind re-annotation (:func:`reannotation_agreement`).  Only training
and validation photos are probed; the test split is never relabelled by the probe.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fashionkit.metrics.scores import wilson_interval
from fashionkit.training.classifier import encode_targets_np

__all__ = ["out_of_fold_proba", "confident_joint", "label_issues", "noise_table", "estimate", "reannotation_agreement",
           "confirmed_errors"]


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
    """One row per head: labelled photos, the probe's out-of-fold accuracy, the share of labels it
    flags (``flagged %``), confident learning's estimate (``probe disagreement %``: % off the
    diagonal of the calibrated confident joint, label errors mixed with the probe's own errors)
    and the number of flagged photos."""
    rows = []
    for head in heads:
        y, p = np.asarray(targets[head.key]), np.asarray(probas[head.key])
        keep = y >= 0
        if not keep.any():
            continue
        joint = confident_joint(y, p)
        flagged = len(label_issues(y, p))
        rows.append({"head": head.key, "photos": int(keep.sum()),
                     "probe accuracy %": 100 * float((p[keep].argmax(axis=1) == y[keep]).mean()),
                     "flagged %": 100 * flagged / int(keep.sum()),
                     "probe disagreement %": 100 * (1 - np.trace(joint) / joint.sum()) if joint.sum() else np.nan,
                     "flagged photos": flagged})
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
        confident, _ = _confident_class(y, p)
        for i in label_issues(y, p):
            suggested = int(confident[i])  # the confident class that flagged it
            rows.append({"image": frame["image"].iloc[i], "path": frame["path"].iloc[i], "head": h.key,
                         "given": h.names[y[i]], "suggested": h.names[suggested],
                         "p_given": float(p[i, y[i]]), "p_suggested": float(p[i, suggested])})
    issues = pd.DataFrame(rows, columns=["image", "path", "head", "given", "suggested", "p_given", "p_suggested"])
    return noise_table(heads, targets, probas), issues


# ----------------------------------------------------------------------------- the blind re-annotation
def _reannotated(reannotation: pd.DataFrame, manifest: pd.DataFrame) -> pd.DataFrame:
    """The re-annotation rows (``head, source, image, label``) with the dataset's own label (``given``)."""
    given = manifest.set_index(["source", "image"])
    out = reannotation.copy()
    out["image"] = out["image"].astype(str)
    keys = list(zip(out["source"], out["image"]))
    missing = [k for k in keys if k not in given.index]
    if missing:
        raise ValueError(f"re-annotated photos not in the manifest: {missing[:5]}")
    out["given"] = [given.at[k, h] for k, h in zip(keys, out["head"])]
    return out


def reannotation_agreement(reannotation: pd.DataFrame, manifest: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """Per head: how often a blind annotator (``reannotation``: ``head, source, image, label``; ``unsure``
    where the photo does not show it) names the dataset's label.  ``compared``: photos with both
    labels; ``agreement %`` with its Wilson interval at ``level``.  Were the annotator always right,
    a model that always named the true class would score about ``agreement %`` on the dataset's labels."""
    rows = []
    for head, part in _reannotated(reannotation, manifest).groupby("head", sort=False):
        both = part[(part["label"] != "unsure") & part["given"].notna()]
        agree = int((both["label"] == both["given"]).sum())
        lo, hi = wilson_interval(agree, len(both), level)
        rows.append({"head": head, "re-annotated": len(part), "unsure": int((part["label"] == "unsure").sum()),
                     "compared": len(both), "agree": agree,
                     "agreement %": 100 * agree / len(both) if len(both) else np.nan,
                     "ci_low_%": 100 * lo, "ci_high_%": 100 * hi})
    return pd.DataFrame(rows).set_index("head")


def confirmed_errors(reannotation: pd.DataFrame, manifest: pd.DataFrame, predictions: pd.DataFrame,
                     confident: float) -> pd.DataFrame:
    """The model's confident test mistakes (``predictions``: chapter 5's ``test_predictions.csv``; the
    answer's probability at least ``confident``) among the re-annotated photos, each with what the
    blind annotator said: the dataset's label (the model was wrong), the model's answer (a label
    error the model caught), another class, or unsure."""
    rows = []
    pred = predictions.assign(image=predictions["image"].astype(str)).set_index(["source", "image"])
    for r in _reannotated(reannotation, manifest).itertuples(index=False):
        key = (r.source, r.image)
        if key not in pred.index or pd.isna(r.given):
            continue
        p = pred.loc[key]
        answer = p[f"pred.{r.head}"]
        probability = float(p[f"tta.{r.head}.{answer}"])
        if answer == r.given or probability < confident:
            continue
        said = ("unsure" if r.label == "unsure" else "the dataset's label" if r.label == r.given
                else "the model's answer" if r.label == answer else "another class")
        rows.append({"head": r.head, "image": r.image, "label": r.given, "model": answer,
                     "probability %": 100 * probability, "annotator": r.label, "the annotator says": said})
    return pd.DataFrame(rows, columns=["head", "image", "label", "model", "probability %", "annotator",
                                       "the annotator says"])


def reannotation_sample(manifest: pd.DataFrame, head_keys, n: int = 60, seed: int = 0,
                        sources=("ccp", "cad")) -> pd.DataFrame:
    """The photos given to the blind annotator: for each head of ``head_keys``, ``n`` test photos drawn
    at random (``seed``) among those of ``sources`` (the street photos) labelled for it.  Returns
    ``head, source, image, path`` (``path`` relative to the data root's parent folder of sources)."""
    test = manifest[(manifest["split"] == "test") & manifest["source"].isin(sources)]
    parts = []
    for key in head_keys:
        labelled = test[test[key].notna()].sort_values(["source", "image"])
        pick = labelled.sample(n=min(n, len(labelled)), random_state=seed)
        parts.append(pd.DataFrame({"head": key, "source": pick["source"], "image": pick["image"].astype(str),
                                   "path": [f"{s}/images/{Path(p).name}" for s, p in zip(pick["source"], pick["path"])]}))
    return pd.concat(parts, ignore_index=True)
