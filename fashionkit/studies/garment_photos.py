"""What the garments photographed alone change, measured on held-out photos (chapters 3-5).

The models learn from three sources: street photos (CCP, CAD: a person wearing the garments)
and garments photographed alone (:data:`fashionkit.data.sources.GARMENT_ALONE_SOURCES`).  Two
questions follow, each answered with paired comparisons on the same photos
(:func:`fashionkit.metrics.comparison.ablation_table`):

* **Street photos.**  Does learning from the garment photos cost the street photos anything?
  The kept model against the same recipe trained on the street photos alone
  (:func:`street_comparison`; validation in chapters 3-4, the test split once in chapter 5).
* **Garment photos.**  Is such a photo better read by its whole frame (what a fixed-box view
  reads on a garment photo) or by the box the segmenter found (:func:`framing_comparison`)?
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fashionkit.data.schema import Head
from fashionkit.metrics.comparison import ablation_table

KEPT = "kept (with garment photos)"
WITHOUT = "street photos only"


def _labelled_heads(heads: Sequence[Head], y: dict) -> list[Head]:
    return [h for h in heads if (np.asarray(y[h.key]) >= 0).any()]


def street_comparison(heads: Sequence[Head], y: dict, kept: dict, without: dict, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """The kept model (``kept``: head -> probabilities) against the street-only model (``without``) on the
    same street photos (``y``: head -> class index, -1 unlabelled): the ablation table, reference ``without``."""
    return ablation_table(_labelled_heads(heads, y), y, {WITHOUT: without, KEPT: kept}, WITHOUT, n_boot, level, seed)


def framing_comparison(heads: Sequence[Head], y: dict, whole_frame: dict, garment_box: dict, both: dict,
                       n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One model's reading of garment photos by their whole frame (the reference), by the garment box
    the segmenter found, and by both averaged; only heads the garment photos label."""
    variants = {"whole frame": whole_frame, "garment box": garment_box, "both averaged": both}
    return ablation_table(_labelled_heads(heads, y), y, variants, "whole frame", n_boot, level, seed)


def masked(values: dict, mask: np.ndarray) -> dict:
    """Every array of ``values`` (head -> per-photo array) restricted to the photos of ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    return {k: v[mask] for k, v in values.items()}
