"""Outfit vectors read by the trained models: chapter 7's collection from the cached maps,
any photo file through the PyTorch models (:func:`photo_probas`), and photos of one garment
read as the command line reads them, with the garments the reader finds (:func:`read_as_queries`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fashionkit.data.schema import MODELS, garment_in_photo
from fashionkit.data.schema import heads as schema_heads
from fashionkit.outfits.recommender import outfit_vector_of
from fashionkit.studies.heldout import collection_probas, predictions_frame
from fashionkit.studies.inference import predict_photos, read_outfits

# ----------------------------------------------------------------------------- the collection (chapter 7, CLI)
# the outfit vector follows schema.MODELS: top heads, then bottom heads


def outfit_collection(manifest: pd.DataFrame, clfs: Mapping, views: Mapping, features_dir, image_sizes: Mapping,
                      view_size=None) -> pd.DataFrame:
    """The outfit photos (chapter 1's ``outfit`` flag: a separate top and bottom) of every
    split, one row each: ``image, source, annotation, split, path``, the labels
    (``label.<head>``), the answers (``pred.<head>``) and both models' probabilities
    averaged over ``views[model]`` (``tta.<head>.<class>``), from the cached maps.
    """

    frames = []
    for model in MODELS:
        rows, proba = collection_probas(manifest, clfs[model], views[model], features_dir, image_sizes[model],
                                        view_size=view_size, progress=False)
        frames.append(predictions_frame(rows, {"tta": proba}, schema_heads(model)))
    keys = ["image", "source", "annotation", "split"]
    both = frames[0].merge(frames[1], on=keys)  # photos both models read
    info = manifest.loc[manifest["outfit"].astype(bool), ["image", "source", "path"]]
    return both.merge(info, on=["image", "source"]).reset_index(drop=True)


def photo_probas(paths, clfs: Mapping, views: Mapping, image_sizes: Mapping, view_size=None) -> dict:
    """Every head's probabilities for photo files, computed from the photos (never the cache):
    each model's probabilities averaged over its views (:func:`fashionkit.studies.inference.predict_photos`)."""

    probas = {}
    for model in MODELS:
        probas.update(predict_photos(clfs[model], paths, views[model], image_sizes[model], view_size))
    return probas


def photo_vectors(paths, clfs: Mapping, views: Mapping, image_sizes: Mapping, view_size=None) -> np.ndarray:
    """Outfit vectors ``(n, D)`` of photo files (:func:`photo_probas` joined as the collection's are)."""
    return outfit_vector_of(photo_probas(paths, clfs, views, image_sizes, view_size))


def read_as_queries(frame: pd.DataFrame, clfs: Mapping, batch_size: int = 32) -> tuple[pd.DataFrame, dict, pd.DataFrame]:
    """The photos of ``frame`` (manifest rows) read as ``python -m fashionkit recommend`` reads a photo
    (:func:`fashionkit.studies.inference.read_outfits`: each model's stored views, the rule for a photo
    with no top).  Returns ``(rows answered, every head's probabilities, found)``: ``found`` has a
    boolean column per model, whether its presence head finds its garment."""
    answered, read = read_outfits(clfs, frame["path"].tolist(), batch_size=batch_size)
    rows = frame.set_index("path").loc[answered].reset_index()
    probas = {k: v for p, _ in read.values() for k, v in p.items()}
    found = pd.DataFrame({m: garment_in_photo(m, probas) for m in MODELS})
    return rows, probas, found


def what_was_found(shows: pd.Series, found: pd.DataFrame) -> pd.DataFrame:
    """Photos of one garment each (``shows``: its garment by the labels, ``top`` / ``bottom``) against
    what the reader found in them: that garment alone, both garments, neither, or the other alone."""
    def kind(garment, row):
        if row.all():
            return "both"
        if not row.any():
            return "neither"
        return "that garment alone" if row[garment] else "the other garment alone"

    kinds = [kind(g, r) for g, (_, r) in zip(shows, found.iterrows())]
    order = ["that garment alone", "both", "neither", "the other garment alone"]
    return (pd.crosstab(pd.Series(list(shows), name="garment photographed"), pd.Series(kinds, name="the reader found"))
            .reindex(columns=order, fill_value=0))
