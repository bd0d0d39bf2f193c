"""The manifest on a tiny hand-made data root (bad files, unknown tags) and on the real data."""

import shutil

import pandas as pd
import pytest

from fashionkit.data.schema import label_columns
from fashionkit.data.sources import build_manifest, resolve_data_dir


@pytest.fixture
def tiny_root(tmp_path, shared_data):
    """Five real CCP photos (two with masks), two broken files, one unknown tag; three CAD photos."""
    root = tmp_path / "data"
    (root / "ccp" / "images").mkdir(parents=True)
    (root / "ccp" / "masks").mkdir()
    (root / "cad" / "images").mkdir(parents=True)
    src = shared_data / "ccp"
    ann = pd.read_csv(src / "annotations.csv", keep_default_na=False)
    keep = ann[ann.image.isin(["0001.jpg", "0004.jpg", "1005.jpg", "1006.jpg", "1007.jpg"])].copy()
    for image in keep.image:
        shutil.copy(src / "images" / image, root / "ccp" / "images" / image)
        mask = src / "masks" / image.replace(".jpg", ".png")
        if mask.exists():
            shutil.copy(mask, root / "ccp" / "masks" / mask.name)
    (root / "ccp" / "images" / "9001.jpg").write_bytes(b"not a jpeg at all")
    half = (src / "images" / "0002.jpg").read_bytes()
    (root / "ccp" / "images" / "9002.jpg").write_bytes(half[: len(half) // 2])
    extra = pd.DataFrame({"image": ["9001.jpg", "9002.jpg", "9003.jpg"], "split_source": "image",
                          "tags": ["pants shirt skin", "skirt blouse", "skirts blouse"],
                          "width": 254, "height": 384})
    shutil.copy(src / "images" / "1005.jpg", root / "ccp" / "images" / "9003.jpg")
    pd.concat([keep, extra]).to_csv(root / "ccp" / "annotations.csv", index=False)
    shutil.copy(src / "labels.csv", root / "ccp" / "labels.csv")
    cad = pd.read_csv(shared_data / "cad" / "attributes.csv", dtype=str).head(3)
    cad.to_csv(root / "cad" / "attributes.csv", index=False)
    for image in cad.image:
        shutil.copy(shared_data / "cad" / "images" / image, root / "cad" / "images" / image)
    return root


def test_bad_files_and_unknown_tags_are_reported_and_nothing_else_is_lost(tiny_root):
    with pytest.warns(UserWarning, match="2 of 11 images skipped"):
        manifest, problems = build_manifest(tiny_root)
    assert sorted(manifest.image) == sorted(
        ["0001.jpg", "0004.jpg", "1005.jpg", "1006.jpg", "1007.jpg", "9003.jpg",
         "000001.jpg", "000002.jpg", "000003.jpg"])
    bad = problems[problems.kind == "bad image"].set_index("image")["reason"]
    assert set(bad.index) == {"9001.jpg", "9002.jpg"}
    assert "truncated" in bad["9002.jpg"] and "not an image" in bad["9001.jpg"]
    unknown = problems[problems.kind == "unknown label"]
    assert list(unknown.image) == ["9003.jpg"] and "'skirts'" in unknown.reason.iloc[0]
    row = manifest.set_index("image").loc["9003.jpg"]
    assert row[label_columns()].isna().all()  # its labels stay missing, not guessed


def test_real_photo_labels_and_mask_lengths(tiny_root):
    manifest, _ = build_manifest(tiny_root, check_images=False)
    row = manifest.set_index("image").loc["0001.jpg"]  # blouse, skirt, stockings (pixel mask)
    assert (row.top_type, row.bottom_major, row.bottom_sub) == ("blouse", "skirt", "skirt")
    assert row.bottom_length in ("short", "knee", "midi") and 0 < row.hem_height < 0.5
    assert manifest.set_index("image").loc["1005.jpg", "length_reason"] == "no mask"
    cad = manifest[manifest.source == "cad"]
    assert cad.width.notna().all() and (cad[["width", "height"]].max(axis=1) == 384).all()


def test_missing_data_root_says_how_to_get_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        resolve_data_dir(tmp_path / "nowhere")


def test_full_manifest_counts(shared_data):
    manifest, problems = build_manifest(shared_data, check_images=False)
    assert len(manifest) == 2098 + 1856
    counts = {k: manifest[k].value_counts().to_dict() for k in label_columns()}
    assert counts["top_neck"] == {"collar": 895, "round": 395, "v-neck": 126}
    assert counts["top_pattern"] == {"solid": 1038, "stripe": 129, "graphic": 107}
    assert counts["top_type"] == {"shirt": 529, "t-shirt": 447, "blouse": 316}
    assert counts["bottom_major"]["pants"] > 2 * counts["bottom_major"]["skirt"] > 800
    assert sum(counts["bottom_length"].values()) > 600
    assert (problems.kind == "unknown label").sum() == 0
    assert manifest.outfit.sum() > 1000
