"""Outfit vectors: every head's class probabilities side by side, in schema order (no torch).

The layout chapter 7's maps and the recommender read (:mod:`fashionkit.outfits.embed`,
:mod:`fashionkit.outfits.recommender`); kept apart from the autoencoder (torch) so that the command
line's ``recommend`` builds a photo's vector without importing torch.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fashionkit.data.schema import heads as schema_heads

__all__ = ["vector_columns", "head_sizes", "head_slices", "outfit_vectors"]


def _heads(heads_):
    return schema_heads(presence=False) if heads_ is None else tuple(heads_)


def vector_columns(heads_=None) -> list[str]:
    """``"<head key>.<class>"`` for every class of every head, in schema order.

    The column names of an outfit vector, so a saved table says which number is which.
    """
    return [f"{h.key}.{name}" for h in _heads(heads_) for name in h.names]


def head_sizes(heads_=None) -> list[int]:
    """The number of classes of each head: the segment lengths of an outfit vector."""
    return [h.n_classes for h in _heads(heads_)]


def head_slices(heads_=None) -> list[slice]:
    """The columns of each head's segment in an outfit vector, in schema order."""
    ends = np.cumsum([0, *head_sizes(heads_)])
    return [slice(int(a), int(b)) for a, b in zip(ends[:-1], ends[1:])]


def outfit_vectors(probas: Mapping[str, np.ndarray], heads_=None) -> np.ndarray:
    """``(n, D)`` float32: the per-head ``(n, k)`` probabilities side by side, schema order.

    ``probas`` is what ``predict_proba`` of the top and bottom models return (merged);
    keys of heads not in ``heads_`` are ignored.  A missing head, a wrong class count or
    a row count that differs between heads raises, naming the head: a silently shifted
    segment would make every later distance meaningless.
    """
    parts, n = [], None
    for head in _heads(heads_):
        if head.key not in probas:
            raise ValueError(f"no probabilities for head {head.key!r}; got {', '.join(probas) or 'none'}")
        p = np.asarray(probas[head.key], dtype=np.float32)
        if p.ndim != 2 or p.shape[1] != head.n_classes:
            raise ValueError(f"probabilities of head {head.key!r} must be (n, {head.n_classes}); got {p.shape}")
        if n is None:
            n = len(p)
        elif len(p) != n:
            raise ValueError(f"head {head.key!r} has {len(p)} rows, the heads before it {n}")
        if not np.isfinite(p).all():
            raise ValueError(f"probabilities of head {head.key!r} contain NaN or infinity")
        parts.append(p)
    if not parts:
        raise ValueError("no heads given")
    return np.concatenate(parts, axis=1)
