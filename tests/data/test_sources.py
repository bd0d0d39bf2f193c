"""The manifest on a tiny hand-made data root (bad files, unknown tags) and on the real data."""

import shutil

import pandas as pd
import pytest

from fashionkit.data import labels
from fashionkit.data.schema import UnknownLabelError, label_columns
from fashionkit.data.sources import build_manifest, garment_alone, model_rows, resolve_data_dir, split_positions


@pytest.fixture
def tiny_root(tmp_path, shared_data):
    """Five real CCP photos (two with masks), two broken files, one unknown tag; three CAD photos;
    three garment photos, one listed whose file is missing."""
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
    garments = pd.read_csv(shared_data / "clothing" / "annotations.csv", dtype={"image": str})
    garments = garments.groupby("label").head(1).head(4)  # four categories, one photo each
    (root / "clothing" / "images").mkdir(parents=True)
    for image in garments.image.iloc[:3]:  # the fourth is listed but missing
        shutil.copy(shared_data / "clothing" / "images" / image, root / "clothing" / "images" / image)
    garments.to_csv(root / "clothing" / "annotations.csv", index=False)
    return root


def test_bad_files_and_unknown_tags_are_reported_and_nothing_else_is_lost(tiny_root):
    garments = pd.read_csv(tiny_root / "clothing" / "annotations.csv", dtype={"image": str})
    with pytest.warns(UserWarning, match="3 of 15 images skipped"):
        manifest, problems = build_manifest(tiny_root)
    assert sorted(manifest.image) == sorted(
        ["0001.jpg", "0004.jpg", "1005.jpg", "1006.jpg", "1007.jpg", "9003.jpg",
         "000001.jpg", "000002.jpg", "000003.jpg", *garments.image.iloc[:3]])
    bad = problems[problems.kind == "bad image"].set_index("image")["reason"]
    assert set(bad.index) == {"9001.jpg", "9002.jpg", garments.image.iloc[3]}
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


def test_garment_photos_carry_their_category_labels_and_contributor(tiny_root):
    manifest, _ = build_manifest(tiny_root, check_images=False)
    garments = manifest[manifest.source == "clothing"].set_index("tags")
    listed = pd.read_csv(tiny_root / "clothing" / "annotations.csv").set_index("label")
    for category, row in garments.iterrows():
        assert row.contributor == listed.loc[category, "sender_id"] and not row.outfit
        decided = {k: v for k, v in labels.clothing_labels(category).items() if v is not None}
        shown = labels.clothing_garment(category)  # the presence heads: its garment yes, the other no
        decided.update({"top_present": "yes" if shown == "top" else "no",
                        "bottom_present": "yes" if shown == "bottom" else "no"})
        assert row[label_columns()].dropna().to_dict() == decided


def test_both_models_learn_from_the_garment_photos_that_label_them(tiny_root):
    manifest, _ = build_manifest(tiny_root, check_images=False)
    manifest["split"] = "train"
    alone = garment_alone(manifest)
    assert alone.tolist() == (manifest.source == "clothing").tolist() and alone.any()
    for model, wanted in (("top", {"ccp", "cad", "clothing"}), ("bottom", {"ccp", "clothing"})):
        rows = model_rows(manifest, model)
        assert set(manifest.source.iloc[rows]) == wanted
        train = manifest.iloc[rows[split_positions(manifest, rows, model)["train"]]]
        garments = train[train.source == "clothing"]
        # every garment photo trains both models: the presence heads say whether its garment is the model's
        assert set(garments.tags) == {"T-Shirt", "Shirt", "Longsleeve", "Polo"}
        assert set(garments[f"{model}_present"]) == ({"yes"} if model == "top" else {"no"})


def test_an_unknown_garment_category_stops_the_manifest_naming_it(tiny_root):
    path = tiny_root / "clothing" / "annotations.csv"
    listed = pd.read_csv(path)
    listed.loc[0, "label"] = "Hat"
    listed.to_csv(path, index=False)
    with pytest.raises(UnknownLabelError, match="'Hat'"):
        build_manifest(tiny_root, check_images=False)


def test_missing_data_root_says_how_to_get_data(tmp_path):
    with pytest.raises(FileNotFoundError, match="make data"):
        resolve_data_dir(tmp_path / "nowhere")


def test_full_manifest_counts(shared_data):
    manifest, problems = build_manifest(shared_data, check_images=False)
    assert len(manifest) == 2098 + 1856 + 2620
    counts = {k: manifest[k].value_counts().to_dict() for k in label_columns()}
    assert counts["top_neck"] == {"collar": 895, "round": 395, "v-neck": 126}
    assert counts["top_pattern"] == {"solid": 1038, "stripe": 129, "graphic": 107}
    street = manifest[manifest.source != "clothing"]
    assert street["top_type"].value_counts().to_dict() == {"shirt": 529, "t-shirt": 447, "blouse": 316}
    garments = manifest[manifest.source == "clothing"]
    assert garments["top_type"].value_counts().to_dict() == {"t-shirt": 784, "shirt": 322, "blouse": 18}
    assert garments["top_sleeve"].value_counts().to_dict() == {"short": 784, "long": 563}
    assert garments["bottom_sub"].value_counts().to_dict() == {"shorts": 218, "skirt": 108}
    assert garments["contributor"].nunique() == 193 and street["contributor"].isna().all()
    assert counts["bottom_major"]["pants"] > 2 * counts["bottom_major"]["skirt"] > 800
    assert sum(counts["bottom_length"].values()) > 600
    assert (problems.kind == "unknown label").sum() == 0
    assert manifest.outfit.sum() > 1000
