"""Calibration per head: reliability tables, expected calibration error, negative log-likelihood
and temperature scaling (pure functions of labels and probabilities; ``-1`` = no label).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fashionkit.metrics.scores import labelled_pairs

# ----------------------------------------------------------------------------- calibration

_EPS = 1e-12  # probabilities are clipped to [_EPS, 1] before a log


def _top_label(y_true, proba):
    y, p = labelled_pairs(y_true, proba)
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
    y, p = labelled_pairs(y_true, proba)
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

    y, p = labelled_pairs(y_true, proba)
    if y.size == 0:
        raise ValueError("no labelled rows to fit a temperature on")
    result = minimize_scalar(lambda log_t: nll(y, apply_temperature(p, float(np.exp(log_t)))),
                             bounds=(np.log(bounds[0]), np.log(bounds[1])), method="bounded",
                             options={"xatol": 1e-5})
    return float(np.exp(result.x))


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
