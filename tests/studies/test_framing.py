"""The framing test's re-framed photos, on a real CCP photo and its true garment mask."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashionkit.studies import framing
from fashionkit.studies.framing import framing_summary
from fashionkit.vision import crops
from fashionkit.vision.garment_boxes import GARMENTS, GROUP_NAMES
from fashionkit.vision.localise import ccp_group_lookup


@pytest.fixture(scope="module")
def photo(shared_data):
    img = Image.open(shared_data / "ccp" / "images" / "0001.jpg").convert("RGB")
    groups = ccp_group_lookup(shared_data)[np.asarray(Image.open(shared_data / "ccp" / "masks" / "0001.png"))]
    masks = {g: np.isin(groups, [GROUP_NAMES.index(n) for n in names]) for g, names in GARMENTS.items()}
    return img, masks


def test_every_framing_but_normal_changes_the_photo_and_normal_leaves_it(photo):
    img, masks = photo
    assert set(framing.FRAMINGS) == {"normal", "tight", "half_length", "zoomed_out", "off_centre", "background_removed"}
    for name in framing.FRAMINGS:
        for model in ("top", "bottom"):
            out = framing.reframe(img, name, masks[model], model)
            same = out.size == img.size and out.tobytes() == img.tobytes()
            assert same == (name == "normal"), (name, model)


def _placed(big: np.ndarray, small: np.ndarray, near: tuple[int, int], reach: int):
    """Where ``small`` lies in ``big`` as an exact sub-image, searched within ``reach`` pixels of ``near``."""
    h, w = small.shape[:2]
    for y in range(max(0, near[0] - reach), near[0] + reach + 1):
        for x in range(max(0, near[1] - reach), near[1] + reach + 1):
            if big[y:y + h, x:x + w].shape == small.shape and np.array_equal(big[y:y + h, x:x + w], small):
                return y, x
    return None


def test_tight_and_cut_out_hold_the_whole_garment_within_a_small_margin(photo):
    img, masks = photo
    garment = masks["bottom"]
    ys, xs = np.nonzero(garment)
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    arr = np.asarray(img)
    for name, margin in (("tight", 0.05), ("background_removed", 0.06)):
        out = np.asarray(framing.reframe(img, name, garment, "bottom"))
        reach = int(margin * max(y1 - y0, x1 - x0)) + 1
        if name == "background_removed":  # only the garment's pixels, the rest plain
            arr_cut = np.where(garment[..., None], arr, np.array(crops.PLAIN, dtype=np.uint8))
            where = _placed(arr_cut, out, (y0, x0), reach)
            assert 0.1 < (out == np.array(crops.PLAIN)).all(axis=2).mean() < 0.9  # garment and plain background
        else:  # the photo's own pixels
            where = _placed(arr, out, (y0, x0), reach)
        assert where is not None, f"{name}: not a window of the photo around the garment"
        top, left = where
        bottom, right = top + out.shape[0], left + out.shape[1]
        assert top <= y0 and left <= x0 and bottom >= y1 and right >= x1, name  # every garment pixel inside
        assert y0 - top <= margin * (y1 - y0) + 1 and bottom - y1 <= margin * (y1 - y0) + 1, name
        assert x0 - left <= margin * (x1 - x0) + 1 and right - x1 <= margin * (x1 - x0) + 1, name


def test_half_length_keeps_the_garments_half(photo):
    img, masks = photo
    top = framing.reframe(img, "half_length", masks["top"], "top")
    bottom = framing.reframe(img, "half_length", masks["bottom"], "bottom")
    arr = np.asarray(img)
    assert np.array_equal(np.asarray(top), arr[:round(0.55 * img.height)])
    assert np.array_equal(np.asarray(bottom), arr[round(0.4 * img.height):])


def test_zoom_out_and_off_centre_keep_the_size_and_pad_plainly(photo):
    img, masks = photo
    arr = np.asarray(img)
    shifted = np.asarray(framing.reframe(img, "off_centre", masks["top"], "top"))
    cut = round(0.3 * img.width)
    assert shifted.shape == arr.shape
    assert np.array_equal(shifted[:, :img.width - cut], arr[:, cut:])  # moved left by 30 %
    assert (shifted[:, img.width - cut:] == np.array(crops.PLAIN)).all()
    small = np.asarray(framing.reframe(img, "zoomed_out", masks["top"], "top"))
    w, h = round(0.55 * img.width), round(0.55 * img.height)
    x0, y0 = (img.width - w) // 2, (img.height - h) // 2
    assert small.shape == arr.shape
    assert (small[:y0] == np.array(crops.PLAIN)).all() and (small[:, :x0] == np.array(crops.PLAIN)).all()
    assert np.abs(small[y0:y0 + h, x0:x0 + w].astype(int).mean(axis=(0, 1)) - arr.mean(axis=(0, 1))).max() < 3


def test_unknown_framing_and_mismatched_mask_are_errors(photo):
    img, masks = photo
    with pytest.raises(KeyError, match="unknown framing"):
        framing.reframe(img, "sideways", masks["top"], "top")
    with pytest.raises(ValueError, match="does not match"):
        framing.reframe(img, "tight", masks["top"][:10], "top")


def test_a_garment_missing_from_the_mask_leaves_the_photo_as_is(photo):
    img, _ = photo
    empty = np.zeros((img.height, img.width), bool)
    assert framing.reframe(img, "tight", empty, "top").size == img.size


def test_summary_gives_the_largest_drop_with_its_interval_and_a_verdict():
    rows = []
    for head, drops in {"a": (0.0, 1.0, 20.0), "b": (0.0, 2.0, 3.0), "c": (0.0, 4.0, 6.0)}.items():
        for kind, d in zip(("normal", "tight", "background_removed"), drops):
            rows.append({"framing": kind, "reader": "garment box", "head": head, "n": 100,
                         "accuracy_%": 90 - d, "drop_points": d, "drop_lo": d - 4, "drop_hi": d + 4})
    summary = framing_summary(pd.DataFrame(rows), max_drop=5.0).xs("garment box", level="reader")
    assert summary.loc["a", "largest drop, points"] == 20 and summary.loc["a", "worst framing"] == "background removed"
    assert summary.loc["a", "verdict"] == "over the aim"        # 16 to 24: all above 5
    assert summary.loc["b", "verdict"] == "cannot tell"         # -1 to 7 straddles 5
    assert summary.loc["c", "verdict"] == "cannot tell"
    assert summary.loc["b", "its 95% CI"] == "-1.0 to +7.0"
    within = framing_summary(pd.DataFrame(rows).assign(drop_hi=lambda t: t["drop_points"].clip(upper=4)), max_drop=5.0)
    assert (within.xs("garment box", level="reader").loc[["b", "c"], "verdict"] == "within the aim").all()


def test_summary_of_a_head_without_labelled_photos_has_no_drop():
    rows = [{"framing": f, "reader": "garment box", "head": "a", "n": 0, "accuracy_%": np.nan,
             "drop_points": np.nan, "drop_lo": np.nan, "drop_hi": np.nan} for f in ("normal", "tight")]
    summary = framing_summary(pd.DataFrame(rows), max_drop=5.0)
    assert np.isnan(summary["largest drop, points"].iloc[0]) and summary["verdict"].iloc[0] == "cannot tell"


def test_reader_gain_is_paired_and_formatted_for_reading():
    y = {"top_type": np.array([0, 1, 1, 0, -1])}
    right = np.eye(2)[[0, 1, 1, 0, 0]]
    wrong_twice = np.eye(2)[[0, 0, 0, 0, 0]]
    probas = {("background_removed", "kept"): {"top_type": wrong_twice}, ("background_removed", "lever"): {"top_type": right}}
    gain = framing.reader_gain(probas, y, "background_removed", "lever", "kept", n_boot=200)
    row = gain.iloc[0]
    assert row["n"] == 4 and row["reference_%"] == 50 and row["reader_%"] == 100 and row["gain_points"] == 50
    assert row["gain_lo"] <= 50 <= row["gain_hi"]
    table = framing.format_gains(gain.assign(lever="+ cut-out", framing="background removed"))
    assert table.index.names == ["lever", "framing", "head"] and table.iloc[0]["gain, points"] == 50


def test_a_lever_is_kept_only_when_better_where_aimed_and_never_worse_as_taken():
    rows = pd.DataFrame({"lever": ["a"] * 2 + ["b"] * 2 + ["c"] * 2,
                         "framing": ["background removed", "as taken"] * 3,
                         "head": ["top_neck"] * 6,
                         "gain_points": [10.0, -1.0, 10.0, -5.0, 2.0, 0.0],
                         "gain_lo": [3.0, -4.0, 3.0, -9.0, -2.0, -3.0],
                         "gain_hi": [18.0, 2.0, 18.0, -0.5, 6.0, 3.0]})
    verdicts = framing.lever_verdicts(rows, "background removed", "as taken")
    assert verdicts["a"].startswith("a: kept") and "neck (+10.0)" in verdicts["a"]
    assert verdicts["b"].startswith("b: not kept") and "as taken: neck (-5.0)" in verdicts["b"]
    assert verdicts["c"].startswith("c: not kept") and "background removed: no head" in verdicts["c"]


def test_photos_a_framing_leaves_unchanged_are_left_out_and_counted_per_subset(photo, monkeypatch):
    """Two real photos, one with its garment's mask and one with an empty mask (tight and background
    removed leave it as it is).  A stand-in reader is right on a photo as taken and wrong on any
    re-framed one, so every changed photo drops 100 points and an unchanged one would drop 0."""
    img, masks = photo
    images, garment_masks = [img, img.copy()], [masks["top"], np.zeros_like(masks["top"])]
    originals = [np.asarray(i).tobytes() for i in images]

    def reader(clf, framed, views, image_size, names, return_boxes, segmenter):
        same = np.array([np.asarray(f).tobytes() in originals for f in framed])
        answer = np.where(same, 1, 0)  # the true class is 1
        boxes = pd.DataFrame({"top_source": ["garment"] * len(framed)})
        return {"top_type": np.eye(3)[answer]}, boxes

    monkeypatch.setattr(framing, "predict_images", reader)
    table = framing.framing_test({"garment box": (None, ["top_garment"], (8, 8))}, images, garment_masks, "top",
                                 ["normal", "tight", "background_removed"], {"top_type": np.array([1, 1])},
                                 ["a.jpg", "b.jpg"], n_boot=50, subsets={"annotated mask": [True, False]})
    rows = table.set_index(["framing", "photos"])
    for name in ("tight", "background_removed"):
        assert rows.loc[(name, "all"), "n"] == 1 and rows.loc[(name, "all"), "unchanged"] == 1
        assert rows.loc[(name, "all"), "drop_points"] == 100.0  # the one changed photo, not diluted by the other
        assert rows.loc[(name, "annotated mask"), "unchanged"] == 0
    assert rows.loc[("normal", "all"), "n"] == 2 and rows.loc[("normal", "all"), "accuracy_%"] == 100.0
    summary = framing_summary(table)  # every photo only: one row per reader and head
    assert len(summary) == 1 and summary["largest drop, points"].iloc[0] == 100.0
    side = framing.subset_drops(table, "garment box", ["tight", "background_removed"])
    assert list(side.columns[:3]) == ["all: n", "all: drop", "all: unchanged"]
    assert side.loc[("tight", "top_type"), "annotated mask: drop"].startswith("+100.0")


def test_each_framing_said_to_be_in_training_is_a_framing():
    assert set(framing.ALSO_IN_TRAINING) <= set(framing.FRAMINGS)


class _TopHalfSegmenter:
    """A stand-in segmenter: every photo's upper half is the top garment (group ``inner_top``)."""

    def predict_shares(self, images):
        shares = np.zeros((len(images), len(GROUP_NAMES), 4, 4), np.float32)
        shares[:, GROUP_NAMES.index("inner_top"), :2] = 1
        return shares

    def shares_on_photo(self, shares, size):
        return shares


def test_framing_photos_use_the_true_mask_where_ccp_has_one_and_the_segmenter_elsewhere(shared_data):
    """Known answers on two real CCP photos: 0001 has a pixel mask (its garment mask is the annotated one,
    whatever the segmenter says), 1005 has only tags (its mask is the stand-in's upper half)."""
    frame = pd.DataFrame({"path": [str(shared_data / "ccp" / "images" / f"{i}.jpg") for i in ("0001", "1005")],
                          "annotation": ["pixel", "tags"]})
    lut = ccp_group_lookup(shared_data)
    images, masks, paths = framing.framing_photos(frame, "top", n=2, seed=0, segmenter=_TopHalfSegmenter(), lut=lut)
    assert paths == frame["path"].tolist()  # every row, in the frame's order
    groups = lut[np.asarray(Image.open(shared_data / "ccp" / "masks" / "0001.png"))]
    true_top = np.isin(groups, [GROUP_NAMES.index(n) for n in GARMENTS["top"]])
    assert np.array_equal(masks[0], true_top) and images[0].size == (true_top.shape[1], true_top.shape[0])
    h = masks[1].shape[0]
    assert masks[1][: h // 2 - 1].all() and not masks[1][h // 2 + 1:].any()  # the stand-in's upper half
    one = framing.framing_photos(frame, "top", n=1, seed=0, segmenter=_TopHalfSegmenter(), lut=lut)[2]
    assert one == framing.framing_photos(frame, "top", n=1, seed=0, segmenter=_TopHalfSegmenter(), lut=lut)[2]
    draws = {tuple(framing.framing_photos(frame, "top", n=1, seed=s, segmenter=_TopHalfSegmenter(), lut=lut)[2])
             for s in range(8)}
    assert len(draws) == 2  # the seed draws which photo
