"""Plumbing shared by the training and evaluation notebooks: manifest, rows, cached views.

Each notebook reads the manifest that chapter 1 wrote, picks the rows a model learns from
(photos with at least one label of its heads, from the sources that label them), and
asks for that model's cached frozen-trunk views; the first notebook that asks pays for the
extraction, the others load the cache (see :mod:`fashionkit.features`).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .features import extract_features, view_spec
from .models import create_model
from .schema import heads, label_columns


def load_manifest(path, limit_per_split: int | None = None) -> pd.DataFrame:
    """The manifest CSV of chapter 1, label columns as nullable strings.

    ``limit_per_split`` keeps the first N photos of every source and split (smoke runs).
    """
    frame = pd.read_csv(path, dtype={"image": str, "tags": str}, keep_default_na=True)
    frame = frame.astype({c: "string" for c in label_columns()})
    if limit_per_split:
        frame = frame.groupby(["source", "split"], sort=False).head(int(limit_per_split)).reset_index(drop=True)
    return frame


def model_sources(model: str) -> tuple[str, ...]:
    return tuple(sorted({s for h in heads(model) for s in h.sources}))


def model_rows(manifest: pd.DataFrame, model: str) -> np.ndarray:
    """Manifest positions of the photos a model sees: its heads' sources, in manifest order."""
    return np.flatnonzero(manifest["source"].isin(model_sources(model)).to_numpy())


def labelled(manifest: pd.DataFrame, model: str) -> pd.Series:
    return manifest[[h.key for h in heads(model)]].notna().any(axis=1)


BOXES_FILE = "garment_boxes.csv"  # in features_dir: the garment boxes of every photo (chapter 2)
SHARES_FILE = "garment_shares.npz"  # in features_dir: the garments' share maps the cut-out views cut by (chapter 2)
BOX_SIDES = ("l", "t", "r", "b")


def write_boxes(paths, boxes: pd.DataFrame, features_dir) -> Path:
    """Store the garment boxes of ``paths`` (rows of :meth:`GarmentSegmenter.boxes`) beside the cached maps."""
    out = pd.DataFrame({"path": [str(p) for p in paths]})
    for garment in ("top", "bottom"):
        out[[f"{garment}_{k}" for k in BOX_SIDES]] = np.array([list(b) for b in boxes[garment]], dtype=float)
        out[f"{garment}_source"] = boxes[f"{garment}_source"].to_numpy()
    out["person"] = boxes["person"].to_numpy()
    out["note"] = boxes["note"].fillna("").to_numpy()
    target = Path(features_dir) / BOXES_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(target, index=False)
    return target


def read_boxes(features_dir) -> dict:
    """``{path: {"top": (l, t, r, b), "bottom": ...}}`` from :func:`write_boxes`'s file."""
    target = Path(features_dir) / BOXES_FILE
    if not target.is_file():
        raise FileNotFoundError(f"no garment boxes at {target}: chapter 2 finds them (run it first)")
    frame = pd.read_csv(target)
    cols = {g: [f"{g}_{k}" for k in BOX_SIDES] for g in ("top", "bottom")}
    return {p: {g: tuple(float(v) for v in row) for g, row in zip(cols, (t, b))}
            for p, t, b in zip(frame["path"], frame[cols["top"]].to_numpy(), frame[cols["bottom"]].to_numpy())}


def write_garment_shares(paths, shares: np.ndarray, canvas, features_dir) -> Path:
    """Store the garments' share maps of ``paths`` (:func:`fashionkit.localise.locate_photos` with
    ``return_shares``; ``(n, 2, h, w)`` on the segmenter's letter-box ``canvas``) beside the boxes."""
    paths = [str(p) for p in paths]
    if len(shares) != len(paths):
        raise ValueError(f"{len(shares)} share maps for {len(paths)} photos")
    target = Path(features_dir) / SHARES_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(target, paths=np.array(paths), shares=np.asarray(shares, dtype=np.float16),
                        canvas=np.asarray(canvas, dtype=int))
    return target


def read_garment_shares(features_dir) -> dict:
    """``{"canvas": (h, w), "maps": {path: (2, h, w) float16}}`` from :func:`write_garment_shares`'s file
    (what :func:`fashionkit.features.extract_features` takes as ``garment_shares``)."""
    target = Path(features_dir) / SHARES_FILE
    if not target.is_file():
        raise FileNotFoundError(f"no garment share maps at {target}: chapter 2 writes them (run it first)")
    with np.load(target) as data:
        return {"canvas": tuple(int(v) for v in data["canvas"]),
                "maps": dict(zip(data["paths"].tolist(), data["shares"]))}


def model_views(manifest: pd.DataFrame, model: str, view_names, features_dir, backbone: str,
                trainable_blocks: int, image_size=(390, 260), batch_size: int = 32, progress: bool = True,
                view_size=None):
    """``(rows, {view: array (len(rows), C, h, w)})`` for ``model``, extracting what is not cached.

    ``view_size`` (height, width) replaces every view's own size (smoke runs use tiny maps).
    The cache directory is named after the backbone, the cut and the model's sources, so
    the top and bottom models share nothing by accident and a changed cut never reuses
    stale maps (the cache's own meta also checks paths, views, sizes and trunk).  Augmented
    views are training views: only the labelled training photos' rows are computed, the
    others are NaN.
    """
    rows = model_rows(manifest, model)
    paths = manifest["path"].to_numpy()[rows].tolist()
    cache_dir = Path(features_dir) / f"{backbone}_cut{trainable_blocks}_{'+'.join(model_sources(model))}"
    net = create_model(backbone, heads=heads(model), pretrained=True, trainable_blocks=trainable_blocks)
    specs = [view_spec(name, view_size) for name in view_names]
    boxes = read_boxes(features_dir) if any(s.garment for s in specs) else None
    shares = read_garment_shares(features_dir) if any(s.cutout for s in specs) else None
    cache = extract_features(net.frozen, paths, views=specs,
                             image_size=tuple(image_size), batch_size=batch_size, cache_path=cache_dir,
                             progress=progress, boxes=boxes, garment_shares=shares,
                             augmented_rows=split_positions(manifest, rows, model)["train"])
    return rows, dict(cache.views)


def take(views: dict, positions: np.ndarray) -> dict:
    """The rows ``positions`` of every view, loaded into memory."""
    return {name: np.asarray(arr[positions]) for name, arr in views.items()}


def extraction_seconds(features_dir) -> pd.DataFrame:
    """Wall seconds each cached view took to extract (from the caches' meta files)."""
    rows = []
    for meta in sorted(Path(features_dir).glob("*/meta.json")):
        for view, info in json.loads(meta.read_text())["views"].items():
            rows.append({"cache": meta.parent.name, "view": view, "photos": info["n_photos"],
                         "seconds": info.get("seconds")})
    return pd.DataFrame(rows)


def set_threads(n: int) -> None:
    """Torch CPU threads, set deliberately (the default can oversubscribe a small machine)."""
    torch.set_num_threads(int(n))


def split_positions(manifest: pd.DataFrame, rows: np.ndarray, model: str) -> dict[str, np.ndarray]:
    """Positions into ``rows`` per split; train and val keep only photos labelled for ``model``."""
    split = manifest["split"].to_numpy()[rows]
    has_label = labelled(manifest, model).to_numpy()[rows]
    return {"train": np.flatnonzero((split == "train") & has_label),
            "val": np.flatnonzero((split == "val") & has_label),
            "test": np.flatnonzero(split == "test")}


def read_sampling_choice(path, sampling: str, power: float) -> tuple[str, float, str]:
    """``(sampling, power, why)``: the given setting, or chapter 2's winner when it says "auto"."""
    if sampling != "auto":
        return sampling, power, "set in params"
    choice = json.loads(Path(path).read_text())
    return choice["sampling"], float(choice["sampling_power"]), f"chapter 2's winner ({path})"


def validation_table(clf, manifest: pd.DataFrame, rows: np.ndarray, views: dict, positions: dict,
                     view_names) -> pd.DataFrame:
    """Per head on validation: n, accuracy, macro-F1, balanced accuracy, majority baseline, the study's figure."""
    from .evaluate import STUDY_ACCURACY, score_table
    from .train import encode_targets_np

    hs = heads(clf.model)
    frame = manifest.iloc[rows]
    proba = clf.predict_proba(take(views, positions["val"]), view_names)
    table = score_table(hs, encode_targets_np(frame.iloc[positions["val"]], hs), proba,
                        encode_targets_np(frame.iloc[positions["train"]], hs))
    table.insert(0, "study_accuracy_%", [STUDY_ACCURACY.get(k, np.nan) for k in table.index])
    return table


# ----------------------------------------------------------------------------- held-out evaluation (chapter 5)

GROUP_NAMES = {("ccp", "pixel"): "CCP pixel-mask half", ("ccp", "image"): "CCP tag-list half",
               ("cad", "attributes"): "CAD"}


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
        paths = pd.concat([frames["val"], frames["test"]])["path"].tolist()
        net = create_model(clf.backbone, heads=heads(model), pretrained=True, trainable_blocks=clf.trainable_blocks)
        cache_dir = (Path(features_dir)
                     / f"heldout_{clf.backbone}_cut{clf.trainable_blocks}_{'+'.join(model_sources(model))}")
        specs = [view_spec(v, view_size) for v in extra]
        cache = extract_features(net.frozen, paths, views=specs,
                                 image_size=tuple(image_size), batch_size=batch_size, cache_path=cache_dir,
                                 progress=progress,
                                 boxes=read_boxes(features_dir) if any(s.garment for s in specs) else None)
        n_val = len(frames["val"])
        for v in extra:
            maps["val"][v] = np.asarray(cache.views[v][:n_val])
            maps["test"][v] = np.asarray(cache.views[v][n_val:])
    return HeldOut(model, frames, {s: {v: m[v] for v in view_names} for s, m in maps.items()})


def predict_variants(clf, maps: dict, variants: dict) -> dict:
    """``{variant: {head: proba}}``: each variant the mean over its views (``{variant: [view, ...]}``).

    Every view is run once (``clf.predict_proba``) and shared by the variants that use it;
    the means are :func:`fashionkit.evaluate.average_views`.
    """
    from .evaluate import average_views

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
