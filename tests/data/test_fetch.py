"""Tests of fashionkit.data.fetch: converting the untouched originals in shared/data/raw-sample
must reproduce the prepared copy in shared/data exactly; downloads fail with a clear message."""

from __future__ import annotations

import csv
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fashionkit.data import fetch
from fashionkit.data.fetch import (
    FetchError,
    convert_cad,
    convert_ccp,
    convert_clothing,
    download,
    held_back_senders,
    main,
    prepare_data,
)

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
RAW = SHARED / "raw-sample"

needs_shared = pytest.mark.skipif(
    not (RAW / "ccp" / "label_list.mat").is_file()
    or not (SHARED / "cad" / "attributes.csv").is_file(),
    reason=f"shared data with raw-sample/ not found at {SHARED} (expected beside the checkout)",
)

UNREACHABLE = "http://127.0.0.1:9/x.zip"  # discard port: connection refused at once
CCP_PHOTOS = ["0001.jpg", "0002.jpg", "0003.jpg", "1005.jpg", "1006.jpg", "1007.jpg"]
CAD_PHOTOS = [f"{i:06d}.jpg" for i in range(1, 6)]


def read_rows(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


def assert_same_photo(ours: Path, theirs: Path) -> None:
    """Same size, nearly the same pixels, same ICC profile; and (pinned Pillow) same bytes."""
    with Image.open(ours) as a, Image.open(theirs) as b:
        assert a.size == b.size
        assert a.mode == b.mode == "RGB"
        assert a.info.get("icc_profile") == b.info.get("icc_profile")
        assert "exif" not in a.info
        diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))
        assert diff.mean() < 1.0, f"{ours.name}: mean abs diff {diff.mean():.3f}"
    assert ours.read_bytes() == theirs.read_bytes(), f"{ours.name}: bytes differ"


@pytest.fixture(scope="module")
def converted(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("data")
    return {"out": out, "ccp": convert_ccp(RAW / "ccp", out), "cad": convert_cad(RAW / "cad", out),
            "clothing": convert_clothing(RAW / "clothing", out)}


def test_resized_size():
    assert fetch.resized_size(550, 832) == (254, 384)
    assert fetch.resized_size(832, 550) == (384, 254)
    assert fetch.resized_size(249, 320) == (299, 384)  # upscaled
    assert fetch.resized_size(500, 500) == (384, 384)


@needs_shared
def test_ccp_counts(converted):
    assert converted["ccp"] == {"images": 6, "masks": 3, "pixel": 3, "image": 3, "none": 0}


@needs_shared
def test_ccp_annotations_match_shared(converted):
    ours = read_rows(converted["out"] / "ccp" / "annotations.csv")
    shared = read_rows(SHARED / "ccp" / "annotations.csv")
    assert ours[0] == shared[0] == ["image", "split_source", "tags", "width", "height"]
    assert [r[0] for r in ours[1:]] == CCP_PHOTOS
    expected = [r for r in shared[1:] if r[0] in CCP_PHOTOS]
    assert ours[1:] == expected


@needs_shared
def test_ccp_labels_and_copies_match_shared(converted):
    ccp = converted["out"] / "ccp"
    assert (ccp / "labels.csv").read_bytes() == (SHARED / "ccp" / "labels.csv").read_bytes()
    for name in ("LICENSE", "SOURCE_README.md"):
        assert (ccp / name).read_bytes() == (SHARED / "ccp" / name).read_bytes()


@needs_shared
def test_ccp_masks_match_shared(converted):
    masks = sorted(p.name for p in (converted["out"] / "ccp" / "masks").iterdir())
    assert masks == ["0001.png", "0002.png", "0003.png"]
    for name in masks:
        with Image.open(converted["out"] / "ccp" / "masks" / name) as a, Image.open(
            SHARED / "ccp" / "masks" / name
        ) as b:
            assert a.mode == b.mode == "L"
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        with Image.open(converted["out"] / "ccp" / "images" / name.replace(".png", ".jpg")) as im:
            assert im.size == a.size


@needs_shared
def test_ccp_images_match_shared(converted):
    for name in CCP_PHOTOS:
        ours = converted["out"] / "ccp" / "images" / name
        assert_same_photo(ours, SHARED / "ccp" / "images" / name)


@needs_shared
def test_cad_attributes_match_shared(converted):
    assert converted["cad"]["images"] == converted["cad"]["rows"] == 5
    assert converted["cad"]["attributes"] == 26
    ours = read_rows(converted["out"] / "cad" / "attributes.csv")
    shared = read_rows(SHARED / "cad" / "attributes.csv")
    assert ours[0] == shared[0]
    assert ours[0][1:] == sorted(p.stem for p in (RAW / "cad" / "labels").glob("*.mat"))
    assert ours[1:] == shared[1:6]
    assert [r[0] for r in ours[1:]] == CAD_PHOTOS
    text = (converted["out"] / "cad" / "attributes.csv").read_text(encoding="utf-8")
    assert text.splitlines()[:6] == (SHARED / "cad" / "attributes.csv").read_text(
        encoding="utf-8"
    ).splitlines()[:6]
    assert (converted["out"] / "cad" / "SOURCE_README.txt").read_bytes() == (
        SHARED / "cad" / "SOURCE_README.txt"
    ).read_bytes()


@needs_shared
def test_cad_images_match_shared(converted):
    for name in CAD_PHOTOS:  # 000003.jpg carries an ICC profile
        ours = converted["out"] / "cad" / "images" / name
        assert_same_photo(ours, SHARED / "cad" / "images" / name)


@needs_shared
def test_clothing_keeps_the_adult_garments_of_the_kept_categories(converted):
    """raw-sample/clothing has six source photos: four kept, one kids' photo and a pair of shoes left out."""
    assert converted["clothing"] == {"rows": 6, "kept": 4, "other category": 2, "kids": 0, "held back": 0,
                                     "missing": 0, "unreadable": 0}  # the kids' photo is of category "Other"
    ours = read_rows(converted["out"] / "clothing" / "annotations.csv")
    theirs = read_rows(SHARED / "clothing" / "annotations.csv")
    kept = {row[0] for row in ours[1:]}
    assert ours[0] == theirs[0]
    assert ours[1:] == [row for row in theirs[1:] if row[0] in kept] and len(kept) == 4
    for name in kept:  # turned upright, resized, the same bytes as the prepared copy
        assert_same_photo(converted["out"] / "clothing" / "images" / name, SHARED / "clothing" / "images" / name)
    assert (converted["out"] / "clothing" / "LICENSE").read_bytes() == (SHARED / "clothing" / "LICENSE").read_bytes()


@needs_shared
def test_clothing_leaves_out_held_back_contributors_and_reports_bad_photos(tmp_path, capsys):
    assert held_back_senders() == {int(x) for x in (SHARED / "clothing" / "held_back_senders.txt").read_text().split()}
    shared_senders = {int(row[2]) for row in read_rows(SHARED / "clothing" / "annotations.csv")[1:]}
    assert len(shared_senders) == 193 and not shared_senders & held_back_senders()
    src = tmp_path / "src"
    shutil.copytree(RAW / "clothing", src)
    (src / "images" / "70045b01-b350-4918-be74-2f627290ad7a.jpg").unlink()  # the skirt: missing
    (src / "images" / "c995c900-693d-4dd6-8995-43f3051ec488.jpg").write_bytes(b"not a jpeg")  # the pants
    counts = convert_clothing(src, tmp_path / "out", held_back={148})  # the t-shirt's contributor
    assert (counts["kept"], counts["held back"], counts["missing"], counts["unreadable"]) == (1, 1, 1, 1)
    err = capsys.readouterr().err
    assert "70045b01-b350-4918-be74-2f627290ad7a.jpg is listed in images.csv but missing" in err
    assert "c995c900-693d-4dd6-8995-43f3051ec488.jpg cannot be read" in err
    rows = read_rows(tmp_path / "out" / "clothing" / "annotations.csv")
    assert [r[1] for r in rows[1:]] == ["Longsleeve"]


@needs_shared
def test_prepare_data_from_local_sources(converted, tmp_path, monkeypatch):
    # Local sources: no download is attempted (the URLs point nowhere).
    monkeypatch.setattr(fetch, "CCP_URL", UNREACHABLE)
    monkeypatch.setattr(fetch, "CAD_URL", UNREACHABLE)
    monkeypatch.setattr(fetch, "CLOTHING_URL", UNREACHABLE)
    data = tmp_path / "data"
    assert prepare_data(data, tmp_path / "cache", ccp_src=RAW / "ccp", cad_src=RAW / "cad",
                        clothing_src=RAW / "clothing") == data
    for rel in ("ccp/annotations.csv", "ccp/images/0001.jpg", "cad/attributes.csv", "clothing/annotations.csv"):
        assert (data / rel).read_bytes() == (converted["out"] / rel).read_bytes()
    assert "bearpaw/clothing-co-parsing" in (data / "README.md").read_text(encoding="utf-8")
    # Already prepared: nothing happens, even without sources.
    before = (data / "ccp" / "annotations.csv").stat().st_mtime_ns
    assert prepare_data(data, tmp_path / "cache") == data
    assert (data / "ccp" / "annotations.csv").stat().st_mtime_ns == before


def test_download_unreachable_raises_fetch_error(tmp_path):
    dest = tmp_path / "x.zip"
    with pytest.raises(FetchError) as info:
        download(UNREACHABLE, dest, timeout=5)
    message = str(info.value)
    assert UNREACHABLE in message
    assert "FASHIONKIT_DATA" in message
    assert "failed" in message
    assert not dest.exists() and not (tmp_path / "x.zip.part").exists()


def test_main_reports_failure_without_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(fetch, "CCP_URL", UNREACHABLE)
    monkeypatch.setattr(fetch, "CAD_URL", UNREACHABLE)
    monkeypatch.setattr(fetch, "CLOTHING_URL", UNREACHABLE)
    data = tmp_path / "data"
    status = main(["--data-dir", str(data), "--cache-dir", str(tmp_path / "cache")])
    assert status != 0
    err = capsys.readouterr().err
    assert UNREACHABLE in err
    assert "FASHIONKIT_DATA" in err
    assert str(data.resolve()) in err
    assert "Traceback" not in err
    assert not (data / "ccp" / "annotations.csv").exists()


def _github_style_zip(path: Path, top: str, files: dict[str, Path]) -> str:
    """Zip ``files`` ({archive path: source}) under one top folder, like a GitHub archive."""
    import zipfile

    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(f"{top}/", "")
        for name, src in sorted(files.items()):
            zf.write(src, f"{top}/{name}")
    return path.resolve().as_uri()


@needs_shared
def test_prepare_data_downloads_and_extracts_archives(converted, tmp_path, monkeypatch):
    # file:// URLs stand in for the GitHub archives: download -> unzip -> convert, offline.
    ccp_files = {
        str(p.relative_to(RAW / "ccp")): p for p in (RAW / "ccp").rglob("*") if p.is_file()
    }
    cad_files = {
        f"{fetch.CAD_SUBDIR}/{p.relative_to(RAW / 'cad')}": p
        for p in (RAW / "cad").rglob("*")
        if p.is_file()
    }
    cad_files["other/readme.txt"] = RAW / "cad" / "README"  # outside the dataset folder
    ccp_url = _github_style_zip(tmp_path / "ccp.zip", "clothing-co-parsing-fe34fb7", ccp_files)
    cad_url = _github_style_zip(tmp_path / "cad.zip", "ClothingClassifier-e20a181", cad_files)
    clothing_files = {str(p.relative_to(RAW / "clothing")): p for p in (RAW / "clothing").rglob("*") if p.is_file()}
    clothing_url = _github_style_zip(tmp_path / "clothing.zip", "clothing-dataset-7ed86a9", clothing_files)
    monkeypatch.setattr(fetch, "CCP_URL", ccp_url)
    monkeypatch.setattr(fetch, "CAD_URL", cad_url)
    monkeypatch.setattr(fetch, "CLOTHING_URL", clothing_url)
    data, cache = tmp_path / "data", tmp_path / "cache"
    assert main(["--data-dir", str(data), "--cache-dir", str(cache)]) == 0
    for rel in (
        "ccp/annotations.csv",
        "ccp/masks/0002.png",
        "cad/attributes.csv",
        "cad/images/000003.jpg",
        "clothing/annotations.csv",
        "clothing/images/70045b01-b350-4918-be74-2f627290ad7a.jpg",
    ):
        assert (data / rel).read_bytes() == (converted["out"] / rel).read_bytes()
    assert not list(cache.rglob("other"))  # only the dataset folder of the CAD repo is unpacked
