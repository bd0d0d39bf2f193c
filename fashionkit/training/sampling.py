"""Resampling of rare classes (the study's oversampling) and class-weighted losses.

With several heads per photo there is no single class to balance.  Each photo gets the
weight of its rarest labelled class: for head ``h`` and class ``c`` the weight is
``(n_majority(h) / n(h, c)) ** power``, and a photo takes the largest of these over the
heads it is labelled for (1 for a photo labelled only with majority classes, or with no
label at all).  ``power=1`` balances a single head exactly in expectation; ``power=0``
is no resampling.  Draws are with replacement from a seeded generator, so an epoch's
order is the same on every run.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fashionkit.data.schema import Head

STRATEGIES = ("none", "oversample", "class_weight")


def class_counts(labels: pd.DataFrame, head: Head) -> pd.Series:
    """Labelled photos per class of ``head`` (every class of the head, zeros included)."""
    return labels[head.key].value_counts().reindex(list(head.names), fill_value=0)


def sample_weights(labels: pd.DataFrame, heads: Sequence[Head], power: float = 1.0) -> np.ndarray:
    """Per-row drawing weight: the largest inverse class frequency over the row's labels."""
    weights = np.ones(len(labels))
    for head in heads:
        counts = class_counts(labels, head)
        if counts.max() == 0:
            continue
        ratio = (counts.max() / counts.where(counts > 0)) ** power
        row_ratio = labels[head.key].map(ratio).astype(float).fillna(1.0).to_numpy()
        weights = np.maximum(weights, row_ratio)
    return weights


def epoch_indices(weights: np.ndarray, seed: int, epoch: int = 0, size: int | None = None) -> np.ndarray:
    """Row indices of one epoch, drawn with replacement in proportion to ``weights``."""
    weights = np.asarray(weights, dtype=float)
    if weights.ndim != 1 or len(weights) == 0 or (weights < 0).any() or weights.sum() == 0:
        raise ValueError("weights must be a non-empty 1-D array of non-negative numbers, not all 0")
    rng = np.random.default_rng([seed, epoch])
    size = len(weights) if size is None else size
    return rng.choice(len(weights), size=size, replace=True, p=weights / weights.sum())


def class_weights(labels: pd.DataFrame, head: Head, power: float = 1.0) -> np.ndarray:
    """Loss weight per class, ``(n_total / (k * n_class)) ** power`` (1 for a balanced head).

    A class with no labelled photo gets weight 0: there is nothing to weigh.
    """
    counts = class_counts(labels, head).to_numpy(dtype=float)
    present = counts > 0
    out = np.zeros_like(counts)
    out[present] = (counts.sum() / (present.sum() * counts[present])) ** power
    return out


def share_table(labels: pd.DataFrame, heads: Sequence[Head], indices: np.ndarray | None = None) -> pd.DataFrame:
    """Class shares (%) per head, of all rows or of the rows drawn at ``indices``."""
    frame = labels if indices is None else labels.iloc[indices]
    rows = []
    for head in heads:
        counts = class_counts(frame, head)
        total = counts.sum()
        for name, n in counts.items():
            rows.append((head.key, name, int(n), 100.0 * n / total if total else np.nan))
    return pd.DataFrame(rows, columns=["head", "class", "n", "share_%"])
