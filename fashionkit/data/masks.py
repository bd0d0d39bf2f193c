"""Bottom-garment length measured on CCP pixel masks.

The hem's height above the sole is divided by the person's height in the photo::

    hem_height = (sole_row - hem_row) / (sole_row - head_row)

so the measure does not depend on how large the person is in the frame, and it stays
valid when a long top hides the waistband.  The bucket edges start from body proportions
as a fraction of stature (standing adult: ankle ~0.04, mid-calf ~0.18, knee ~0.28,
mid-thigh ~0.40) and were then moved up to where the measured hems of CCP's trousers and
skirts fall (chapter 1 shows the histogram): heels lift the body off the sole row by a few
per cent, and boots hide the lowest part of a trouser leg, so a trouser hem typically
measures 0.06-0.16.  Rows are counted only where at least ``min_pixels`` pixels of a class
lie, so a few stray annotation pixels do not move an edge.

A length is *missing* (``None`` with a reason) when it cannot be measured: no garment
pixels, no footwear pixels (feet hidden or out of frame), or the person touches the top
or bottom border (head or feet cut off).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FOOTWEAR = ("boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes",
            "sneakers", "wedges", "socks")
# Upper bounds of hem height (fraction of stature) for each length class, longest garment first;
# the names are the schema's bottom_length classes.
LENGTH_BUCKETS: tuple[tuple[str, float], ...] = (
    ("full", 0.06),    # hem on the shoe (or below the sole row: trousers over the shoe)
    ("ankle", 0.17),   # above the shoe, below the calf (9부)
    ("midi", 0.25),    # calf
    ("knee", 0.33),    # around the knee
    ("short", np.inf), # above the knee: shorts, mini skirts
)


@dataclass(frozen=True)
class LengthMeasure:
    length: str | None
    hem_height: float | None  # fraction of stature, None when not measurable
    reason: str               # "ok" or why it is missing
    head_row: int | None = None
    hem_row: int | None = None
    sole_row: int | None = None


def bucket_length(hem_height: float) -> str:
    for name, upper in LENGTH_BUCKETS:
        if hem_height < upper:
            return name
    raise AssertionError("the last bucket is unbounded")


def _rows(mask: np.ndarray, min_pixels: int) -> np.ndarray:
    return np.flatnonzero(mask.sum(axis=1) >= min_pixels)


def measure_length(
    mask: np.ndarray, garment_ids, footwear_ids, min_pixels: int = 3
) -> LengthMeasure:
    """Length class of the garment with label ids ``garment_ids`` in a label-id ``mask``."""
    if mask.ndim != 2:
        raise ValueError(f"mask must be 2-D label ids, got shape {mask.shape}")
    garment = _rows(np.isin(mask, list(garment_ids)), min_pixels)
    if garment.size == 0:
        return LengthMeasure(None, None, "no garment pixels")
    feet = _rows(np.isin(mask, list(footwear_ids)), min_pixels)
    if feet.size == 0:
        return LengthMeasure(None, None, "no footwear pixels (feet not visible)")
    body = _rows(mask > 0, min_pixels)
    head, hem, sole = int(body.min()), int(garment.max()), int(feet.max())
    last_row = mask.shape[0] - 1
    if head <= 0:
        return LengthMeasure(None, None, "head cut off by the frame", head, hem, sole)
    if sole >= last_row:
        return LengthMeasure(None, None, "feet cut off by the frame", head, hem, sole)
    if sole <= head:
        return LengthMeasure(None, None, "footwear above the head", head, hem, sole)
    hem_height = (sole - hem) / (sole - head)
    return LengthMeasure(bucket_length(hem_height), float(hem_height), "ok", head, hem, sole)
