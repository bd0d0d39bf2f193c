"""Deterministic train / val / test splits that keep identical photos together.

Identical photos appear twice in the sources (CAD group photos where each row describes
a different person, one CCP pair).  If one copy sat in train and the other in test, the
test would measure memory, not recognition, so copies share a *group* and a group
shares a split.  Within each street source the split is stratified on the labels whose
classes are rarest, with scikit-learn's ``StratifiedGroupKFold`` over 20 folds: 3 folds
test, 3 folds validation, 14 train (70 / 15 / 15).  The garment photos are grouped by
contributor instead (:func:`contributor_splits`): one contributor's photos share a room, a
background and a camera.  Each source is split on its own, so adding one leaves the
others' rows as they were.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image
from sklearn.model_selection import StratifiedGroupKFold
from sklearn.neighbors import NearestNeighbors
from tqdm import tqdm

from fashionkit.data.sources import build_manifest

SPLITS = ("train", "val", "test")


N_FOLDS, TEST_FOLDS, VAL_FOLDS = 20, 3, 3


# Label columns whose combination stratifies each source (rare classes first).
STRATIFY_ON = {
    "ccp": ("annotation", "bottom_sub", "top_type"),
    "cad": ("top_neck", "top_pattern"),
}
THUMB = 16  # side of the grey thumbnail that fingerprints a photo
SAME_PHOTO_DISTANCE = 2.0  # mean abs grey difference (0-255) below which two photos are one


def fingerprints(paths, progress: bool = True) -> np.ndarray:
    """Grey 16x16 thumbnails, one row per photo: re-encoded copies of a photo land close."""
    out = np.empty((len(paths), THUMB * THUMB), dtype=np.float32)
    for i, path in enumerate(tqdm(paths, desc="fingerprints", disable=not progress)):
        with Image.open(path) as img:
            img.draft("L", (THUMB * 4, THUMB * 4))  # JPEG fast path; exact size not needed
            out[i] = np.asarray(img.convert("L").resize((THUMB, THUMB), Image.BILINEAR), dtype=np.float32).ravel()
    return out


def duplicate_groups(prints: np.ndarray, threshold: float = SAME_PHOTO_DISTANCE) -> np.ndarray:
    """Group ids (0..n_groups-1) such that photos closer than ``threshold`` share one."""
    n = len(prints)
    parent = np.arange(n)

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Manhattan radius over the 256 pixels = threshold * 256 (mean abs difference).
    nn = NearestNeighbors(radius=threshold * prints.shape[1], metric="manhattan").fit(prints)
    for i, neighbours in enumerate(nn.radius_neighbors(prints, return_distance=False)):
        for j in neighbours:
            parent[find(i)] = find(j)
    roots = np.array([find(i) for i in range(n)])
    _, groups = np.unique(roots, return_inverse=True)
    return groups


def _stratify_key(frame: pd.DataFrame, columns) -> pd.Series:
    return frame[list(columns)].astype("string").fillna("-").agg("|".join, axis=1)


def assign_splits(manifest: pd.DataFrame, groups: np.ndarray, seed: int = 0) -> pd.Series:
    """Split name per manifest row; rows of one group always share a split."""
    split = pd.Series(index=manifest.index, dtype="object")
    groups = pd.Series(groups, index=manifest.index)
    for source, frame in manifest.groupby("source", sort=True):
        key = _stratify_key(frame, STRATIFY_ON[source])
        folds = StratifiedGroupKFold(n_splits=N_FOLDS, shuffle=True, random_state=seed)
        fold_of = pd.Series(-1, index=frame.index)
        with warnings.catch_warnings():
            # Rare label combinations have fewer members than folds; they are spread as
            # evenly as they can be, which is all stratification can do for them.
            warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
            for fold, (_, test_idx) in enumerate(folds.split(frame, key, groups.loc[frame.index])):
                fold_of.iloc[test_idx] = fold
        split.loc[frame.index] = np.select(
            [fold_of < TEST_FOLDS, fold_of < TEST_FOLDS + VAL_FOLDS], ["test", "val"], "train"
        )
    return split


#: Sources whose photos are grouped, and split, by contributor.
BY_CONTRIBUTOR = ("clothing",)
#: Shares of the photos per split for sources split by contributor (the street sources' 14/3/3 folds).
SPLIT_SHARES = {"train": 0.70, "val": 0.15, "test": 0.15}


def contributor_splits(contributors, seed: int = 0, shares=SPLIT_SHARES) -> np.ndarray:
    """Split name per photo such that one contributor's photos share a split.

    A contributor's photos share a room, a background and a camera, so a contributor in train
    and in test would let the test measure the room.  Contributors are very unequal (of 193 in
    the garment photos, half gave two photos or fewer and four gave 240-285 each), so folds of
    contributors miss the shares badly; instead each contributor, largest first (ties in an
    order drawn with ``seed``), goes to the split furthest below its share of the photos.
    """
    contributors = np.asarray(contributors)
    ids, sizes = np.unique(contributors, return_counts=True)
    order = np.random.default_rng(seed).permutation(len(ids))
    order = order[np.argsort(-sizes[order], kind="stable")]
    total, count, split_of = len(contributors), dict.fromkeys(shares, 0), {}
    for i in order:
        name = max(shares, key=lambda k: shares[k] * total - count[k])
        split_of[ids[i]] = name
        count[name] += sizes[i]
    return np.array([split_of[c] for c in contributors], dtype=object)


def make_splits(manifest: pd.DataFrame, seed: int = 0, progress: bool = True) -> pd.DataFrame:
    """The split table ``source, image, group, split`` for a manifest (sorted, stable)."""
    manifest = manifest.sort_values(["source", "image"]).reset_index(drop=True)
    groups = np.empty(len(manifest), dtype=int)
    offset = 0
    for source, frame in manifest.groupby("source", sort=True):
        if source in BY_CONTRIBUTOR:
            g = np.unique(frame["contributor"].to_numpy(), return_inverse=True)[1]
        else:
            g = duplicate_groups(fingerprints(frame["path"].tolist(), progress))
        groups[frame.index] = g + offset
        offset += g.max() + 1
    table = manifest[["source", "image"]].copy()
    table["group"] = groups
    street = ~manifest["source"].isin(BY_CONTRIBUTOR)
    table["split"] = pd.Series(dtype="object")
    table.loc[street, "split"] = assign_splits(manifest[street], groups[street.to_numpy()], seed)
    for source in BY_CONTRIBUTOR:
        rows = manifest["source"] == source
        table.loc[rows, "split"] = contributor_splits(manifest.loc[rows, "contributor"], seed)
    return table


def read_splits(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype={"image": str})


def attach_splits(manifest: pd.DataFrame, splits: pd.DataFrame) -> pd.DataFrame:
    """Add ``group`` and ``split`` columns; a photo the split table lacks is an error."""
    merged = manifest.merge(splits, on=["source", "image"], how="left", validate="one_to_one")
    missing = merged["split"].isna()
    if missing.any():
        raise ValueError(
            f"{missing.sum()} photos are not in the split table (e.g. {merged.image[missing].iloc[0]}); "
            "regenerate it with `python -m fashionkit.data.splits` and review the diff"
        )
    return merged


def main(argv=None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description="Write the split table (source,image,group,split).")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=str(Path(__file__).resolve().parents[2] / "params" / "splits.csv"))
    args = parser.parse_args(argv)
    manifest, _ = build_manifest(args.data_dir, check_images=False)
    table = make_splits(manifest, args.seed)
    table.to_csv(args.out, index=False)
    print(table.groupby(["source", "split"]).size().unstack().to_string())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
