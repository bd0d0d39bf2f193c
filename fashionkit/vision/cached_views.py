"""The cached maps each model reads: the garment boxes and share maps chapter 2 stores beside
them, a model's views of its photos (extracted once, then loaded), and rows of them.

Each notebook asks :func:`model_views` for its model's cached frozen-trunk views; the first
notebook that asks pays for the extraction (:func:`fashionkit.vision.features.extract_features`),
the others load the cache.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from fashionkit.data.schema import heads
from fashionkit.data.sources import garment_alone, model_rows, model_sources, split_positions
from fashionkit.vision.crops import view_spec
from fashionkit.vision.features import extract_features
from fashionkit.vision.models import create_model

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


def read_box_sources(features_dir) -> pd.DataFrame:
    """Where each photo's boxes came from (``top_source``, ``bottom_source``: ``garment`` / ``one-piece`` /
    ``fixed``) and whether a person was found, indexed by path (:func:`write_boxes`'s file)."""
    target = Path(features_dir) / BOXES_FILE
    if not target.is_file():
        raise FileNotFoundError(f"no garment boxes at {target}: chapter 2 finds them (run it first)")
    return pd.read_csv(target, index_col="path", usecols=["path", "top_source", "bottom_source", "person"])


def write_garment_shares(paths, shares: np.ndarray, canvas, features_dir) -> Path:
    """Store the garments' share maps of ``paths`` (:func:`fashionkit.vision.localise.locate_photos` with
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
    (what :func:`fashionkit.vision.features.extract_features` takes as ``garment_shares``)."""
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
    others are NaN.  A photo of one garment alone reads its whole frame in the fixed-box views.
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
                             augmented_rows=split_positions(manifest, rows, model)["train"],
                             whole_frame_rows=np.flatnonzero(garment_alone(manifest.iloc[rows])))
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
