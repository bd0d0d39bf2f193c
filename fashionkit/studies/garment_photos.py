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
* **One garment alone, as the command line reads it.**  A photo in which the other model finds no
  garment (:func:`fashionkit.data.schema.alone_in_photo`) may be read by other views, e.g. the
  bottom model by the whole frame: :func:`alone_comparison` compares that rule with the
  garment box on every held-out photo (street photos the rule touches by mistake included) and
  :func:`keeps` says whether it is kept.
* **Presence.**  Which garments does a photo show?  The labels say it where they can
  (:func:`fashionkit.data.labels.garments_present`); the reader says it by the boxes it found
  (:func:`fashionkit.vision.garment_boxes.garment_shown`); :func:`presence` pairs the two.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from fashionkit.data.labels import garments_present
from fashionkit.data.schema import Head, replace_rows
from fashionkit.metrics.comparison import ablation_table
from fashionkit.vision.garment_boxes import GARMENTS, garment_shown

#: Each source's group name in the presence table (CCP's two halves pooled: presence is not a head).
SOURCE_NAMES = {"ccp": "CCP", "cad": "CAD", "clothing": "garments alone"}
KEPT = "kept (with garment photos)"
WITHOUT = "street photos only"


def labelled_heads(heads: Sequence[Head], y: dict) -> list[Head]:
    """The heads of ``heads`` that some photo of ``y`` (head key -> class index, -1 unlabelled) labels."""
    return [h for h in heads if (np.asarray(y[h.key]) >= 0).any()]


def street_comparison(heads: Sequence[Head], y: dict, kept: dict, without: dict, n_boot: int = 2000,
                      level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """The kept model (``kept``: head -> probabilities) against the street-only model (``without``) on the
    same street photos (``y``: head -> class index, -1 unlabelled): the ablation table, reference ``without``."""
    return ablation_table(labelled_heads(heads, y), y, {WITHOUT: without, KEPT: kept}, WITHOUT, n_boot, level, seed)


def framing_comparison(heads: Sequence[Head], y: dict, whole_frame: dict, garment_box: dict, both: dict,
                       n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One model's reading of garment photos by their whole frame (the reference), by the garment box
    the segmenter found, and by both averaged; only heads the garment photos label."""
    variants = {"whole frame": whole_frame, "garment box": garment_box, "both averaged": both}
    return ablation_table(labelled_heads(heads, y), y, variants, "whole frame", n_boot, level, seed)


def alone_comparison(heads: Sequence[Head], y: dict, box: dict, alone_reading: dict, alone, rule: str,
                     n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Every photo read by its garment box (the reference) against ``rule``: the photos of ``alone``
    (a boolean mask) read by ``alone_reading`` (head -> probabilities, a row per photo of ``alone``) instead."""
    ruled = replace_rows(box, alone_reading, alone)
    return ablation_table(labelled_heads(heads, y), y, {"garment box": box, rule: ruled}, "garment box",
                          n_boot, level, seed)


def keeps(table: pd.DataFrame, variant: str) -> bool:
    """The developers' rule for a lever: ``variant`` is better than the reference beyond noise on some
    head of ``table`` (:func:`fashionkit.metrics.comparison.ablation_table`) and worse beyond noise on none."""
    verdicts = set(table.loc[table["variant"] == variant, "verdict"])
    return "better" in verdicts and "worse" not in verdicts


def masked(values: dict, mask: np.ndarray) -> dict:
    """Every array of ``values`` (head -> per-photo array) restricted to the photos of ``mask``."""
    mask = np.asarray(mask, dtype=bool)
    return {k: v[mask] for k, v in values.items()}


def presence(manifest: pd.DataFrame, box_sources: pd.DataFrame, split: str) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """``(truth, predicted, groups)`` for the photos of ``split``: which garments each shows by its labels
    (True / False / None), by the boxes found for it (``box_sources``:
    :func:`fashionkit.vision.cached_views.read_box_sources`), and its source's name (:data:`SOURCE_NAMES`);
    :func:`fashionkit.metrics.scores.presence_table` scores them."""
    rows = manifest[manifest["split"] == split]
    truth = pd.DataFrame([garments_present(s, t) for s, t in zip(rows["source"], rows["tags"].fillna(""))],
                         columns=list(GARMENTS))
    found = box_sources.loc[rows["path"]]
    predicted = pd.DataFrame({g: [garment_shown(s) for s in found[f"{g}_source"]] for g in GARMENTS})
    return truth, predicted, [SOURCE_NAMES[s] for s in rows["source"]]


def head_presence(paths, answered: dict) -> pd.DataFrame:
    """The presence heads' answer for ``paths`` (a column per garment): ``answered[garment]`` is
    ``(paths the model read, its answer per photo)`` (:func:`fashionkit.data.schema.garment_in_photo`);
    a photo the model did not read (the bottom model reads no CAD photo) counts as shown, which
    only matters where no label says otherwise."""
    paths = list(paths)
    return pd.DataFrame({g: pd.Series(np.asarray(shown, dtype=bool), index=list(read)).reindex(paths, fill_value=True)
                         .to_numpy(dtype=bool) for g, (read, shown) in answered.items()})
