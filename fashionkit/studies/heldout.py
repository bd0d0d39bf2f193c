"""A trained model's held-out photos: their maps in every view, each view's probabilities,
and the table of one row per photo that chapters 5-7 read (chapter 5's evaluation, chapter 7's collection).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from fashionkit.data.schema import heads
from fashionkit.data.sources import garment_alone, model_sources, split_positions
from fashionkit.metrics.comparison import average_views
from fashionkit.vision.cached_views import model_views, read_boxes, take
from fashionkit.vision.crops import view_spec
from fashionkit.vision.features import extract_features
from fashionkit.vision.models import create_model

# ----------------------------------------------------------------------------- held-out evaluation (chapter 5)

GROUP_NAMES = {("ccp", "pixel"): "CCP pixel-mask half", ("ccp", "image"): "CCP tag-list half",
               ("cad", "attributes"): "CAD", ("clothing", "category"): "garments alone"}


class HeldOut:
    """A trained model's photos per split and its maps for the held-out splits.

    ``frames[split]``: the manifest rows of ``train`` / ``val`` (photos labelled for the
    model) and ``test`` (every photo of the model's sources); ``maps[split][view]``: float16
    arrays ``(n, C, h, w)`` aligned with ``frames[split]``, for ``val`` and ``test``.
    """

    def __init__(self, model: str, frames: dict, maps: dict):
        self.model, self.frames, self.maps = model, frames, maps

    def groups(self, split: str) -> np.ndarray:
        """Each photo's group (source, and CCP's annotation half) by :data:`GROUP_NAMES`."""
        frame = self.frames[split]
        return np.array([GROUP_NAMES.get((s, a), f"{s} {a}") for s, a in zip(frame["source"], frame["annotation"])])


def heldout_views(manifest: pd.DataFrame, clf, view_names, trained_views, features_dir, image_size,
                  view_size=None, batch_size: int = 32, progress: bool = True) -> HeldOut:
    """The validation and test maps of ``clf``'s model in every view of ``view_names``.

    Views the model was trained on (``trained_views``, cached for all its photos by chapters
    2-4) come from that cache through :func:`model_views`; any other view (a mirrored
    crop, say) is extracted here for the validation and test photos only, into
    ``features_dir/heldout_<backbone>_cut<k>_<sources>`` (validation too: the temperature
    of the TTA probabilities is fitted there).
    """
    model = clf.model
    cached_names = [v for v in view_names if v in trained_views]
    rows, cached = model_views(manifest, model, cached_names, features_dir, clf.backbone, clf.trainable_blocks,
                               image_size, batch_size=batch_size, progress=progress, view_size=view_size)
    pos = split_positions(manifest, rows, model)
    frames = {s: manifest.iloc[rows[p]] for s, p in pos.items()}
    maps = {s: take(cached, pos[s]) for s in ("val", "test")}
    extra = [v for v in view_names if v not in trained_views]
    if extra:
        held = pd.concat([frames["val"], frames["test"]])
        paths = held["path"].tolist()
        net = create_model(clf.backbone, heads=heads(model), pretrained=True, trainable_blocks=clf.trainable_blocks)
        cache_dir = (Path(features_dir)
                     / f"heldout_{clf.backbone}_cut{clf.trainable_blocks}_{'+'.join(model_sources(model))}")
        specs = [view_spec(v, view_size) for v in extra]
        cache = extract_features(net.frozen, paths, views=specs,
                                 image_size=tuple(image_size), batch_size=batch_size, cache_path=cache_dir,
                                 progress=progress,
                                 boxes=read_boxes(features_dir) if any(s.garment for s in specs) else None,
                                 whole_frame_rows=np.flatnonzero(garment_alone(held)))
        n_val = len(frames["val"])
        for v in extra:
            maps["val"][v] = np.asarray(cache.views[v][:n_val])
            maps["test"][v] = np.asarray(cache.views[v][n_val:])
    return HeldOut(model, frames, {s: {v: m[v] for v in view_names} for s, m in maps.items()})


def cached_answers(manifest: pd.DataFrame, clf, paths, features_dir, view_size=None) -> dict:
    """``clf``'s probabilities (head -> array) for the photos ``paths`` in the views stored with it
    (``extra_["views"]``), from chapters 2-4's cache: e.g. the top model's presence answers for the
    bottom model's photos.  Every path must be one of the model's photos."""
    views = list(clf.extra_["views"])
    rows, cached = model_views(manifest, clf.model, views, features_dir, clf.backbone, clf.trainable_blocks,
                               clf.extra_["image_size"], progress=False, view_size=view_size)
    return clf.predict_proba(take(cached, rows_of(manifest.iloc[rows], paths)), views)


def rows_of(frame: pd.DataFrame, paths) -> np.ndarray:
    """Positions in ``frame`` (manifest rows) of the photos ``paths``, in their order; every path must be there."""
    where = pd.Index(frame["path"]).get_indexer(list(paths))
    if (where < 0).any():
        raise ValueError(f"{int((where < 0).sum())} of the photos are not in the frame")
    return where


def predict_variants(clf, maps: dict, variants: dict) -> dict:
    """``{variant: {head: proba}}``: each variant the mean over its views (``{variant: [view, ...]}``).

    Every view is run once (``clf.predict_proba``) and shared by the variants that use it;
    the means are :func:`fashionkit.metrics.comparison.average_views`.
    """

    names = list(dict.fromkeys(v for views in variants.values() for v in views))
    per_view = {v: clf.predict_proba({v: maps[v]}, [v]) for v in names}
    return {variant: average_views([per_view[v] for v in views]) for variant, views in variants.items()}


def predictions_frame(frame: pd.DataFrame, probas: dict, model_heads) -> pd.DataFrame:
    """One row per photo: ``image, source, annotation, split``, the labels (``label.<head>``),
    the TTA answer (``pred.<head>``) and every probability as ``<variant>.<head>.<class>``."""
    out = frame[["image", "source", "annotation", "split"]].reset_index(drop=True)
    for head in model_heads:
        out[f"label.{head.key}"] = frame[head.key].to_numpy()
        if "tta" in probas:
            out[f"pred.{head.key}"] = np.asarray(head.names)[probas["tta"][head.key].argmax(axis=1)]
    columns = {f"{variant}.{head.key}.{name}": p[head.key][:, j]
               for variant, p in probas.items() for head in model_heads for j, name in enumerate(head.names)}
    return pd.concat([out, pd.DataFrame(columns)], axis=1)


def map_throughput(clf, maps: dict, view_names, repeats: int = 3, warmup: int = 128) -> dict:
    """Images/s of ``clf.predict_proba`` on cached maps averaged over ``view_names`` (upper blocks + heads).

    The best of ``repeats`` timed runs after an untimed warm-up: on a shared CPU the
    fastest run is the one least disturbed by other work.
    """
    import time

    names = list(view_names)
    clf.predict_proba({v: maps[v][:warmup] for v in names}, names)  # first-call and first-shape overheads
    runs = []
    for _ in range(max(1, int(repeats))):
        start = time.perf_counter()
        clf.predict_proba({v: maps[v] for v in names}, names)
        runs.append(time.perf_counter() - start)
    n = len(maps[names[0]])
    return {"path": "cached maps", "views": len(names), "images": n, "repeats": len(runs),
            "seconds": round(min(runs), 2), "images_per_s": round(n / min(runs), 1)}


def collection_probas(manifest: pd.DataFrame, clf, view_names, features_dir, image_size, view_size=None,
                      progress: bool = True) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Every photo of ``clf``'s sources (all splits): its manifest rows and every head's
    probabilities averaged over ``view_names``.

    The views must be ones the model was trained on, so they are cached for every photo
    (:func:`model_views`); nothing is extracted when chapters 2-4 have run.
    """
    rows, maps = model_views(manifest, clf.model, list(view_names), features_dir, clf.backbone,
                             clf.trainable_blocks, image_size, progress=progress, view_size=view_size)
    probas = predict_variants(clf, {v: np.asarray(maps[v]) for v in view_names}, {"tta": list(view_names)})
    return manifest.iloc[rows].reset_index(drop=True), probas["tta"]
