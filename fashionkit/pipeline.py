"""Plumbing shared by the training and evaluation notebooks: manifest, rows, cached views.

Each notebook reads the manifest that chapter 1 wrote, picks the rows a model learns from
(photos with at least one label of its heads, from the sources that label them), and
asks for that model's cached frozen-trunk views; the first notebook that asks pays for the
extraction, the others load the cache (see :mod:`fashionkit.features`).
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .features import VIEWS, extract_features
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


def model_views(manifest: pd.DataFrame, model: str, view_names, features_dir, backbone: str,
                trainable_blocks: int, image_size=(390, 260), batch_size: int = 32, progress: bool = True,
                view_size=None):
    """``(rows, {view: array (len(rows), C, h, w)})`` for ``model``, extracting what is not cached.

    ``view_size`` (height, width) replaces every view's own size (smoke runs use tiny maps).
    The cache directory is named after the backbone, the cut and the model's sources, so
    the top and bottom models share nothing by accident and a changed cut never reuses
    stale maps (the cache's own meta also checks paths, views, sizes and trunk).
    """
    rows = model_rows(manifest, model)
    paths = manifest["path"].to_numpy()[rows].tolist()
    cache_dir = Path(features_dir) / f"{backbone}_cut{trainable_blocks}_{'+'.join(model_sources(model))}"
    net = create_model(backbone, heads=heads(model), pretrained=True, trainable_blocks=trainable_blocks)
    specs = [VIEWS[name] if view_size is None else replace(VIEWS[name], size=tuple(view_size))
             for name in view_names]
    cache = extract_features(net.frozen, paths, views=specs,
                             image_size=tuple(image_size), batch_size=batch_size, cache_path=cache_dir,
                             progress=progress)
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
