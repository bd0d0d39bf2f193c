"""Bad input gets a clear message and nothing is lost (fashionkit.data.images).

Every case is a real file written to tmp_path: each one either loads as 8-bit RGB with
the right size, or raises ImageProblem with the expected reason; scan_images over a mix
keeps every valid image, in order, and reports every bad one exactly once.
"""

from __future__ import annotations

import pickle
import shutil
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image, ImageFile

from fashionkit.data.images import ImageProblem, ImageSkipWarning, image_size, load_image, scan_images

SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
REAL_PHOTO = SHARED_DATA / "cad" / "images" / "000001.jpg"

RED = (255, 0, 0)


def _rgb_array(img: Image.Image) -> np.ndarray:
    assert isinstance(img, Image.Image)
    assert img.mode == "RGB"
    arr = np.asarray(img)
    assert arr.dtype == np.uint8 and arr.ndim == 3 and arr.shape[2] == 3
    return arr


# --------------------------------------------------------------------------- file makers


@pytest.fixture
def real_photo(tmp_path) -> Path:
    if not REAL_PHOTO.is_file():
        pytest.skip(f"shared data absent: {REAL_PHOTO}")
    dst = tmp_path / "photo.jpg"
    shutil.copyfile(REAL_PHOTO, dst)
    return dst


def make_truncated(tmp_path, real_photo: Path) -> Path:
    data = real_photo.read_bytes()
    p = tmp_path / "truncated.jpg"
    p.write_bytes(data[: len(data) // 2])
    return p


def make_garbage(tmp_path) -> Path:
    p = tmp_path / "garbage.jpg"
    p.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return p


def make_empty(tmp_path) -> Path:
    p = tmp_path / "empty.jpg"
    p.write_bytes(b"")
    return p


def make_text(tmp_path) -> Path:
    p = tmp_path / "notes.txt"
    p.write_text("this is not an image\n" * 20)
    return p


def make_cmyk(tmp_path) -> Path:
    p = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (48, 40), (0, 255, 255, 0)).save(p, quality=95)  # red in CMYK
    return p


GRADIENT_W = 256


def make_16bit(tmp_path) -> Path:
    row = np.linspace(0, 65535, GRADIENT_W).round().astype(np.uint16)
    arr = np.tile(row, (40, 1))
    p = tmp_path / "grey16.png"
    Image.fromarray(arr).save(p)
    with Image.open(p) as check:
        assert check.mode.startswith("I")  # really stored as 16-bit
    return p


def make_palette_transparent(tmp_path) -> Path:
    img = Image.new("P", (40, 40), 1)
    img.putpalette([0, 0, 0, 0, 0, 255] + [0] * (254 * 3))  # 0 black, 1 blue
    img.paste(0, (0, 0, 20, 40))  # left half: index 0 = transparent
    p = tmp_path / "palette.png"
    img.save(p, transparency=0)
    with Image.open(p) as check:
        assert check.mode == "P" and "transparency" in check.info
    return p


def make_rgba(tmp_path) -> Path:
    arr = np.zeros((40, 50, 4), dtype=np.uint8)
    arr[..., 1] = 200
    arr[..., 3] = 255  # opaque green
    arr[0, 0] = (0, 0, 0, 0)  # fully transparent black pixel
    p = tmp_path / "rgba.png"
    Image.fromarray(arr, "RGBA").save(p)
    return p


# stored 60 wide x 40 tall; a red block at the stored top-left corner
ROT_W, ROT_H, MARK = 60, 40, 12


def make_exif_rotated(tmp_path) -> Path:
    img = Image.new("RGB", (ROT_W, ROT_H), (255, 255, 255))
    img.paste(RED, (0, 0, MARK, MARK))
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    p = tmp_path / "rotated.jpg"
    img.save(p, exif=exif.tobytes(), quality=95)
    return p


def make_tiny(tmp_path) -> Path:
    p = tmp_path / "tiny.png"
    Image.new("RGB", (8, 8), (10, 20, 30)).save(p)
    return p


def make_missing(tmp_path) -> Path:
    return tmp_path / "does_not_exist.jpg"


# --------------------------------------------------------------------------- valid, odd


def test_real_photo_loads(real_photo):
    img = load_image(real_photo)
    arr = _rgb_array(img)
    with Image.open(REAL_PHOTO) as ref:
        assert img.size == ref.size
    assert image_size(real_photo) == img.size
    assert arr.std() > 5  # real content, not a grey fill


def test_cmyk_jpeg_becomes_rgb(tmp_path):
    img = load_image(make_cmyk(tmp_path))
    arr = _rgb_array(img).astype(int)
    assert img.size == (48, 40)
    r, g, b = arr[20, 24]
    assert r > 200 and g < 60 and b < 60  # still red


def test_16bit_grey_is_scaled_not_clipped(tmp_path):
    img = load_image(make_16bit(tmp_path))
    arr = _rgb_array(img)
    assert img.size == (GRADIENT_W, 40)
    row = arr[10, :, 0].astype(int)
    assert (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    assert row[0] <= 1 and row[-1] >= 254  # spans the whole 0..255 range
    assert (np.diff(row) >= 0).all()  # monotone
    assert len(np.unique(row)) > 200  # a gradient, not a few clipped levels
    assert 120 <= row[GRADIENT_W // 2] <= 135  # mid-grey in the middle: scaled


@pytest.mark.parametrize(
    "values, lo, hi",
    [
        (np.linspace(0.0, 1.0, 64), 0, 255),  # float 0..1
        (np.linspace(-3.0, 5.0, 64), 0, 255),  # arbitrary float range: stretched
    ],
)
def test_float_image_is_scaled(tmp_path, values, lo, hi):
    arr = np.tile(values.astype(np.float32), (40, 1))
    p = tmp_path / "float.tif"
    Image.fromarray(arr, "F").save(p)
    out = _rgb_array(load_image(p))[5, :, 0].astype(int)
    assert out[0] == lo and out[-1] == hi and (np.diff(out) >= 0).all()


def test_palette_with_transparency_on_white(tmp_path):
    img = load_image(make_palette_transparent(tmp_path))
    arr = _rgb_array(img)
    assert img.size == (40, 40)
    assert tuple(arr[20, 5]) == (255, 255, 255)  # transparent -> white
    assert tuple(arr[20, 35]) == (0, 0, 255)  # opaque blue kept


def test_rgba_transparent_pixel_becomes_white(tmp_path):
    img = load_image(make_rgba(tmp_path))
    arr = _rgb_array(img)
    assert img.size == (50, 40)
    assert tuple(arr[0, 0]) == (255, 255, 255)
    assert tuple(arr[10, 10]) == (0, 200, 0)


def test_exif_rotation_applied(tmp_path):
    p = make_exif_rotated(tmp_path)
    img = load_image(p)
    arr = _rgb_array(img).astype(int)
    assert img.size == (ROT_H, ROT_W)  # swapped: now 40 wide x 60 tall
    assert image_size(p) == (ROT_H, ROT_W)  # header-only agrees
    # orientation 6 = rotate 90 degrees clockwise: stored top-left -> displayed top-right
    c = MARK // 2
    top_right = arr[c, ROT_H - 1 - c]
    assert top_right[0] > 200 and top_right[1] < 80 and top_right[2] < 80
    for y, x in [(c, c), (ROT_W - 1 - c, c), (ROT_W - 1 - c, ROT_H - 1 - c)]:
        assert (arr[y, x] > 200).all()  # other corners stay white


@pytest.mark.parametrize("mode", ["1", "L", "LA", "YCbCr", "I"])
def test_other_modes_become_rgb(tmp_path, mode):
    base = Image.linear_gradient("L").resize((40, 36))
    img = base.convert(mode) if mode != "YCbCr" else base.convert("RGB").convert("YCbCr")
    ext = {"YCbCr": "jpg", "I": "tif"}.get(mode, "png")
    p = tmp_path / f"mode_{mode}.{ext}"
    img.save(p)
    out = load_image(p)
    _rgb_array(out)
    assert out.size == (40, 36)


def test_tiny_image_allowed_with_lower_min_side(tmp_path):
    img = load_image(make_tiny(tmp_path), min_side=8)
    assert _rgb_array(img).shape == (8, 8, 3)


# --------------------------------------------------------------------------- bad input

BAD_CASES = {
    "truncated": "truncated",
    "garbage": "not an image",
    "empty": "empty file",
    "text": "not an image",
    "tiny": "too small",
    "missing": "file not found",
}


def _make_bad(name, tmp_path, real_photo):
    return {
        "truncated": lambda: make_truncated(tmp_path, real_photo),
        "garbage": lambda: make_garbage(tmp_path),
        "empty": lambda: make_empty(tmp_path),
        "text": lambda: make_text(tmp_path),
        "tiny": lambda: make_tiny(tmp_path),
        "missing": lambda: make_missing(tmp_path),
    }[name]()


@pytest.mark.parametrize("name", sorted(BAD_CASES))
def test_bad_input_raises_image_problem(tmp_path, real_photo, name):
    p = _make_bad(name, tmp_path, real_photo)
    with pytest.raises(ImageProblem) as info:
        load_image(p)
    problem = info.value
    assert isinstance(problem, ValueError)
    assert problem.path == p
    assert BAD_CASES[name] in problem.reason
    assert str(problem) == f"{p}: {problem.reason}"


def test_truncated_detected_even_if_pil_told_to_tolerate(tmp_path, real_photo, monkeypatch):
    monkeypatch.setattr(ImageFile, "LOAD_TRUNCATED_IMAGES", True)
    with pytest.raises(ImageProblem, match="truncated"):
        load_image(make_truncated(tmp_path, real_photo))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is True  # restored


def test_zero_size_and_directory(tmp_path):
    with pytest.raises(ImageProblem, match="directory"):
        load_image(tmp_path)
    with pytest.raises(ImageProblem, match="empty file"):
        image_size(make_empty(tmp_path))
    with pytest.raises(ImageProblem, match="not an image"):
        image_size(make_text(tmp_path))
    with pytest.raises(ImageProblem, match="file not found"):
        image_size(make_missing(tmp_path))


def test_image_problem_pickles():
    problem = ImageProblem("a/b.jpg", "truncated image data")
    again = pickle.loads(pickle.dumps(problem))
    assert isinstance(again, ImageProblem)
    assert again.path == Path("a/b.jpg") and again.reason == "truncated image data"
    assert str(again) == str(problem)


# --------------------------------------------------------------------------- scan


def test_scan_keeps_every_valid_image_in_order(tmp_path, real_photo):
    makers = {
        "cmyk": make_cmyk,
        "grey16": make_16bit,
        "palette": make_palette_transparent,
        "rgba": make_rgba,
        "rotated": make_exif_rotated,
    }
    good_paths = {k: f(tmp_path) for k, f in makers.items()}
    bad_paths = {k: _make_bad(k, tmp_path, real_photo) for k in BAD_CASES}
    # interleave: valid images sit right next to bad ones
    order = [
        good_paths["cmyk"], bad_paths["truncated"], real_photo, bad_paths["garbage"],
        good_paths["grey16"], bad_paths["empty"], bad_paths["text"], good_paths["palette"],
        bad_paths["tiny"], good_paths["rgba"], bad_paths["missing"], good_paths["rotated"],
    ]
    expected_good = [p for p in order if p not in bad_paths.values()]

    with pytest.warns(ImageSkipWarning) as record:
        good, problems = scan_images([str(p) for p in order], progress=False)

    assert good == expected_good  # every valid one, in input order, as Paths
    assert all(isinstance(p, Path) for p in good)
    for p in good:
        _rgb_array(load_image(p))  # and each really loads afterwards

    assert list(problems.columns) == ["path", "reason"]
    assert len(problems) == len(BAD_CASES)
    bad_in_order = [p for p in order if p in bad_paths.values()]
    assert problems["path"].tolist() == [str(p) for p in bad_in_order]  # once each
    reason_of = dict(zip(problems["path"], problems["reason"]))
    for name, p in bad_paths.items():
        assert BAD_CASES[name] in reason_of[str(p)]

    skip_warnings = [w for w in record if issubclass(w.category, ImageSkipWarning)]
    assert len(skip_warnings) == 1
    msg = str(skip_warnings[0].message)
    assert msg.startswith(f"{len(BAD_CASES)} of {len(order)} images skipped:")


def test_scan_all_good_is_quiet(tmp_path, real_photo, capsys):
    paths = [real_photo, make_cmyk(tmp_path)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        good, problems = scan_images(paths, progress=True)
    assert good == paths
    assert isinstance(problems, pd.DataFrame)
    assert problems.empty and list(problems.columns) == ["path", "reason"]
    assert "checking images" in capsys.readouterr().err  # the tqdm bar


def test_scan_empty_list():
    good, problems = scan_images([], progress=False)
    assert good == [] and problems.empty and list(problems.columns) == ["path", "reason"]
