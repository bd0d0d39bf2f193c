"""Outfit vectors read by the trained models: chapter 7's collection from the cached maps,
and any photo file through the PyTorch models (:func:`photo_probas`).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fashionkit.data.schema import MODELS
from fashionkit.data.schema import heads as schema_heads
from fashionkit.outfits.recommender import outfit_vector_of
from fashionkit.studies.heldout import collection_probas, predictions_frame
from fashionkit.studies.inference import predict_photos

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
