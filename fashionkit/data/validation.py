"""Checks the estimators share (no torch): is it fitted, is this a usable matrix.

They live apart from the estimators (:mod:`fashionkit.training.classifier`, :mod:`fashionkit.outfits.embed`,
which import them) so that modules without torch -- the recommender the command line
loads, :mod:`fashionkit.outfits.recommender` -- can use them.
"""

from __future__ import annotations

import numpy as np

__all__ = ["check_is_fitted", "check_matrix"]


def check_is_fitted(estimator, attribute: str = "net_") -> None:
    if not hasattr(estimator, attribute):
        raise RuntimeError(f"{type(estimator).__name__} is not fitted yet; call fit() first")


def check_matrix(X, name: str = "X", n_features: int | None = None, fitted_on: str = "",
                 dtype=np.float32) -> np.ndarray:
    """``X`` as a finite 2-D array of ``dtype`` with rows (and ``n_features`` columns if given).

    Raises a ValueError that names ``X`` and what was expected, before torch or
    scikit-learn fail with a message about their own internals.
    """
    X = np.asarray(X, dtype=dtype)
    if X.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, features); got shape {X.shape}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no rows")
    if n_features is not None and X.shape[1] != n_features:
        raise ValueError(f"{name} has {X.shape[1]} columns but {fitted_on or 'the model'} expects {n_features}")
    if not np.isfinite(X).all():
        raise ValueError(f"{name} contains NaN or infinity")
    return X
