"""Read the three sources into one manifest: a row per photo with every head's label.

The data root holds ``ccp/``, ``cad/`` and ``clothing/`` in the layout of the prepared data (see
:mod:`fashionkit.data.fetch`).  Nothing here writes into it.  Problems met on the way (bad
image files, unknown tags, unmeasurable lengths) are collected in a problems table, each
with a reason, and never dropped silently.  The manifest file chapter 1 writes is read back by
:func:`load_manifest`; :func:`model_rows`, :func:`labelled` and :func:`split_positions` pick a
model's photos from it.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from tqdm import tqdm

from fashionkit.data import labels
from fashionkit.data.images import ImageProblem, image_size, scan_images
from fashionkit.data.masks import FOOTWEAR, measure_length
from fashionkit.data.schema import UnknownLabelError, heads, label_columns

PROJECT_ROOT = Path(__file__).resolve().parents[2]
SOURCES = ("ccp", "cad", "clothing")
#: Sources whose photos show one garment alone, no person: a view's fixed box of the frame (drawn
#: where a person's top and bottom sit) means nothing there, so it reads the whole photo
#: (:func:`garment_alone`, :func:`fashionkit.vision.features.extract_features`'s ``whole_frame_rows``).
GARMENT_ALONE_SOURCES = ("clothing",)
PROBLEM_COLUMNS = ["source", "image", "kind", "reason"]


def default_data_dir() -> Path:
    """``$FASHIONKIT_DATA``, else ``../shared/data`` beside the project if present, else ``data/``."""
    env = os.environ.get("FASHIONKIT_DATA")
    if env:
        return Path(env)
    shared = PROJECT_ROOT.parent / "shared" / "data"
    return shared if shared.is_dir() else PROJECT_ROOT / "data"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The data root to use: an explicit value (params ``data_dir``) wins, then the default."""
    root = Path(data_dir) if data_dir not in (None, "") else default_data_dir()
    if not root.is_absolute():
        root = PROJECT_ROOT / root
    missing = [p for p in ("ccp/annotations.csv", "cad/attributes.csv", "clothing/annotations.csv")
               if not (root / p).is_file()]
    if missing:
        raise FileNotFoundError(
            f"data root {root} lacks {', '.join(missing)}; run `make data` to download and "
            "convert the public originals, or point FASHIONKIT_DATA (or params data_dir) at them"
        )
    return root


def _problem_frame(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=PROBLEM_COLUMNS)


def read_ccp(
    root: Path, measure_lengths: bool = True, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CCP photos with derived labels; lengths are measured on the masks where they exist."""
    ann = pd.read_csv(root / "ccp" / "annotations.csv", keep_default_na=False)
    label_ids = pd.read_csv(root / "ccp" / "labels.csv").set_index("name")["id"]
    vocabulary = set(label_ids.index)
    foot_ids = [label_ids[name] for name in FOOTWEAR]
    rows, problems = [], []
    for rec in tqdm(ann.itertuples(index=False), total=len(ann), desc="ccp labels", disable=not progress):
        tags = rec.tags.split()
        row = {"source": "ccp", "image": rec.image, "annotation": rec.split_source,
               "width": rec.width, "height": rec.height, "tags": rec.tags}
        try:
            row.update(labels.ccp_labels(tags, vocabulary))
            row.update(labels.presence_labels("ccp", rec.tags))
            row["outfit"] = labels.ccp_is_outfit(tags)
        except UnknownLabelError as err:
            problems.append(("ccp", rec.image, "unknown label", str(err)))
            row.update(labels.empty_labels())
            row["outfit"] = False
        bottom = labels.ccp_bottom_tag(tags) if row["bottom_major"] else None
        row["hem_height"] = np.nan
        row["length_reason"] = ("no mask" if rec.split_source != "pixel"
                                else "not measured: no single bottom garment" if bottom is None
                                else "not measured")
        if measure_lengths and rec.split_source == "pixel" and bottom is not None:
            mask = np.asarray(Image.open(root / "ccp" / "masks" / Path(rec.image).with_suffix(".png")))
            m = measure_length(mask, [label_ids[bottom]], foot_ids)
            row["bottom_length"], row["length_reason"] = m.length, m.reason
            row["hem_height"] = np.nan if m.hem_height is None else m.hem_height
            if m.length is None:
                problems.append(("ccp", rec.image, "length not measurable", m.reason))
        rows.append(row)
    return pd.DataFrame(rows), _problem_frame(problems)


def read_cad(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """CAD photos with derived labels (sizes are read from the image headers later)."""
    attrs = pd.read_csv(root / "cad" / "attributes.csv")
    rows, problems = [], []
    for rec in attrs.to_dict("records"):
        row = {"source": "cad", "image": rec["image"], "annotation": "attributes", "tags": ""}
        try:  # CAD lists no sizes; the header is enough (an unreadable file is reported later)
            row["width"], row["height"] = image_size(image_path(root, "cad", rec["image"]))
        except ImageProblem:
            row["width"] = row["height"] = np.nan
        try:
            row.update(labels.cad_labels(rec))
            row.update(labels.presence_labels("cad", ""))
        except UnknownLabelError as err:
            problems.append(("cad", rec["image"], "unknown label", str(err)))
            row.update(labels.empty_labels())
        row["outfit"] = False
        rows.append(row)
    return pd.DataFrame(rows), _problem_frame(problems)


def read_clothing(root: Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Garments photographed alone: the labels their category decides
    (:data:`fashionkit.data.labels.CLOTHING_RULES`) and the contributor of each photo.

    An unknown category is an error naming it: a rule must be written for it first.
    """
    path = root / "clothing" / "annotations.csv"
    ann = pd.read_csv(path, dtype={"image": str, "label": str})
    unknown = sorted(set(ann["label"]) - set(labels.CLOTHING_RULES))
    if unknown:
        raise UnknownLabelError(f"{path}: unknown garment categories {', '.join(map(repr, unknown))}; "
                                f"known: {', '.join(labels.CLOTHING_RULES)} (fashionkit.data.labels)")
    rows = []
    for rec in ann.itertuples(index=False):
        row = {"source": "clothing", "image": rec.image, "annotation": "category", "width": rec.width,
               "height": rec.height, "tags": rec.label, "contributor": int(rec.sender_id)}
        row.update(labels.clothing_labels(rec.label))
        row.update(labels.presence_labels("clothing", rec.label))
        row["outfit"] = False
        rows.append(row)
    return pd.DataFrame(rows), _problem_frame([])


def image_path(root: Path, source: str, image: str) -> Path:
    return root / source / "images" / image


def build_manifest(
    data_dir=None, check_images: bool = True, measure_lengths: bool = True, progress: bool = True
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """All photos of the three sources: ``(manifest, problems)``.

    Photos whose file cannot be read are kept out of the manifest and listed in
    ``problems`` with their reason; everything else stays in, labelled or not.
    """
    root = resolve_data_dir(data_dir)
    ccp, ccp_problems = read_ccp(root, measure_lengths, progress)
    cad, cad_problems = read_cad(root)
    garments, garment_problems = read_clothing(root)
    manifest = pd.concat([ccp, cad, garments], ignore_index=True)
    manifest["contributor"] = pd.array(manifest["contributor"] if "contributor" in manifest else [pd.NA] * len(manifest),
                                       dtype="Int64")  # garment photos only
    manifest["path"] = [str(image_path(root, s, i)) for s, i in zip(manifest.source, manifest.image)]
    problems = [ccp_problems, cad_problems, garment_problems]
    if check_images:
        good, bad = scan_images(manifest["path"].map(Path).tolist(), progress=progress)
        good = {str(p) for p in good}
        bad_rows = manifest[~manifest.path.isin(good)]
        reasons = dict(zip(bad["path"].astype(str), bad["reason"]))
        problems.append(_problem_frame(
            [(r.source, r.image, "bad image", reasons.get(r.path, "unreadable")) for r in bad_rows.itertuples()]
        ))
        manifest = manifest[manifest.path.isin(good)].reset_index(drop=True)
    manifest = manifest.astype({c: "string" for c in label_columns()})
    problems = pd.concat([p for p in problems if len(p)] or [_problem_frame([])], ignore_index=True)
    return manifest, problems


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
    """The sources a model learns from: those labelling its heads."""
    return tuple(sorted({s for h in heads(model) for s in h.sources}))


def garment_alone(frame: pd.DataFrame) -> np.ndarray:
    """Per row of ``frame`` (manifest rows): is the photo one garment alone, with no person?"""
    return frame["source"].isin(GARMENT_ALONE_SOURCES).to_numpy()


def model_rows(manifest: pd.DataFrame, model: str) -> np.ndarray:
    """Manifest positions of the photos a model sees: its heads' sources, in manifest order."""
    return np.flatnonzero(manifest["source"].isin(model_sources(model)).to_numpy())


def labelled(manifest: pd.DataFrame, model: str) -> pd.Series:
    return manifest[[h.key for h in heads(model)]].notna().any(axis=1)


def split_positions(manifest: pd.DataFrame, rows: np.ndarray, model: str) -> dict[str, np.ndarray]:
    """Positions into ``rows`` per split; train and val keep only photos labelled for ``model``."""
    split = manifest["split"].to_numpy()[rows]
    has_label = labelled(manifest, model).to_numpy()[rows]
    return {"train": np.flatnonzero((split == "train") & has_label),
            "val": np.flatnonzero((split == "val") & has_label),
            "test": np.flatnonzero(split == "test")}
