"""Garment localisation: groups, mask -> box, the fallbacks, and a segmenter fitted on real mask photos."""

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from fashionkit.vision import garment_boxes, localise
from fashionkit.vision.crops import TOP_GARMENT, TOP_GARMENT_AUG, jitter_box, view_box
from fashionkit.vision.features import prepare_image

G = {name: i for i, name in enumerate(garment_boxes.GROUP_NAMES)}


def shares_from(groups: np.ndarray) -> np.ndarray:
    """A perfectly confident share map (G, h, w) of a group-index map."""
    return np.eye(len(garment_boxes.GROUP_NAMES), dtype=np.float32)[groups].transpose(2, 0, 1)


def test_ccp_labels_fall_into_the_documented_groups(shared_data):
    lut = localise.ccp_group_lookup(shared_data)
    names = pd.read_csv(shared_data / "ccp" / "labels.csv", keep_default_na=False)["name"].tolist()
    group = {n: garment_boxes.GROUP_NAMES[lut[i]] for i, n in enumerate(names)}
    assert group["null"] == "background"  # "null" must not be read as a missing value
    assert group["skirt"] == group["jeans"] == "bottom"
    assert group["coat"] == "outerwear" and group["blouse"] == "inner_top"
    assert group["dress"] == "one_piece" and group["tights"] == "other" and group["socks"] == "footwear"
    listed = {n for names_ in garment_boxes.GROUPS.values() for n in names_}
    assert listed <= set(names), "every label a group names exists in CCP"


def test_mask_box_is_relative_and_ignores_stray_pixels():
    m = np.zeros((100, 50), bool)
    m[20:60, 10:30] = True
    assert garment_boxes.mask_box(m, trim=0.0) == pytest.approx((0.2, 0.2, 0.6, 0.6))
    m[99, 49] = True  # one stray pixel far away
    box = garment_boxes.mask_box(m, trim=0.01)
    assert box[2] <= 0.62 and box[3] <= 0.62
    assert garment_boxes.mask_box(np.zeros((10, 10), bool)) is None


def test_box_iou_known_answers():
    assert localise.box_iou((0, 0, 1, 1), (0, 0, 1, 1)) == pytest.approx(1.0)
    assert localise.box_iou((0, 0, 0.5, 1), (0.5, 0, 1, 1)) == pytest.approx(0.0)
    assert localise.box_iou((0, 0, 0.5, 0.5), (0.25, 0.25, 0.75, 0.75)) == pytest.approx(1 / 7)


def test_garment_boxes_found_with_margin_and_mapped_back_from_the_letterbox():
    canvas = (48, 32)  # (h, w) -> a 6 x 4 grid of cells
    groups = np.zeros((6, 4), np.uint8)
    groups[1:3, 1:3] = G["inner_top"]
    groups[3:6, 1:3] = G["bottom"]
    groups[0, 1] = G["skin_hair"]
    out = garment_boxes.garment_boxes(shares_from(groups), (64, 96), canvas, garment_boxes.BoxRules(margin=0.0, trim=0.0))
    assert out["top_source"] == out["bottom_source"] == "garment"
    assert out["top"] == pytest.approx((0.25, 1 / 6, 0.75, 0.5), abs=1e-3)
    assert out["bottom"][1] == pytest.approx(0.5, abs=1e-3) and out["bottom"][3] == pytest.approx(1.0)
    assert out["person"] and out["note"] == ""


def test_fallbacks_one_piece_then_fixed_box_each_with_a_note():
    groups = np.zeros((6, 4), np.uint8)
    groups[1:6, 1:3] = G["one_piece"]
    out = garment_boxes.garment_boxes(shares_from(groups), (64, 96), (48, 32))
    assert out["top_source"] == out["bottom_source"] == "one-piece"
    assert out["top"][3] < out["bottom"][3]
    nothing = garment_boxes.garment_boxes(shares_from(np.zeros((6, 4), np.uint8)), (64, 96), (48, 32))
    assert nothing["top_source"] == nothing["bottom_source"] == "fixed"
    assert nothing["top"] == garment_boxes.FIXED_BOXES["top"]
    assert "fixed box" in nothing["note"] and "no person" in nothing["note"]


def test_single_garment_without_a_person_gets_its_own_box():
    groups = np.zeros((6, 4), np.uint8)
    groups[0:6, 0:4] = G["bottom"]  # a skirt filling the frame, no skin
    out = garment_boxes.garment_boxes(shares_from(groups), (64, 96), (48, 32), garment_boxes.BoxRules(margin=0.0, trim=0.0))
    assert out["bottom_source"] == "garment" and out["bottom"] == pytest.approx((0, 0, 1, 1))
    assert not out["person"] and "no person" in out["note"]
    assert out["top_source"] == "fixed"


def test_garment_views_need_a_box_and_jitter_is_seeded():
    with pytest.raises(ValueError, match="box"):
        view_box(TOP_GARMENT)
    box = (0.2, 0.1, 0.8, 0.6)
    assert view_box(TOP_GARMENT, box) == box
    a, b = view_box(TOP_GARMENT_AUG, box, seed=3), view_box(TOP_GARMENT_AUG, box, seed=3)
    assert a == b and a != box
    j = jitter_box(box, 0.1, 7)
    assert all(abs(x - y) <= 0.1 * 0.6 + 1e-9 for x, y in zip(j, box))
    img = Image.new("RGB", (100, 150), (200, 10, 10))
    x = prepare_image(img, TOP_GARMENT, (64, 48), {"mean": (0.5,) * 3, "std": (0.5,) * 3}, 0, box)
    assert x.shape == (3, *TOP_GARMENT.size)


def test_cutout_keeps_only_the_chosen_garment(shared_data):
    lut = localise.ccp_group_lookup(shared_data)
    img = Image.open(shared_data / "ccp" / "images" / "0001.jpg").convert("RGB")
    groups = lut[np.asarray(Image.open(shared_data / "ccp" / "masks" / "0001.png"))]
    out, g = localise.cutout_copy(img, groups, keep=("bottom",))
    assert out.size == (g.shape[1], g.shape[0])
    assert set(np.unique(g)) <= {0, G["bottom"]} and (g == G["bottom"]).mean() > 0.3


@pytest.fixture(scope="module")
def small_segmenter(shared_data):
    """A segmenter fitted in seconds on ten real CCP mask photos (tiny canvas, two epochs)."""
    lut = localise.ccp_group_lookup(shared_data)
    paths = [shared_data / "ccp" / "images" / f"{i:04d}.jpg" for i in range(1, 11)]
    images = [Image.open(p).convert("RGB") for p in paths]
    masks = [np.asarray(Image.open(localise.mask_path(p))) for p in paths]
    seg = localise.GarmentSegmenter(canvas=(64, 48), n_zoom=1, epochs=2, progress=False)
    return seg.fit(images, masks, lut), images, masks, lut


def test_segmenter_fit_predict_and_round_trip(small_segmenter, tmp_path):
    seg, images, masks, lut = small_segmenter
    assert seg.n_copies_ >= 20 and len(seg.history_) == 2
    shares = seg.predict_shares(images[:3])
    assert shares.shape == (3, len(garment_boxes.GROUP_NAMES), 8, 6)
    assert np.allclose(shares.sum(axis=1), 1, atol=1e-4)
    boxes = seg.boxes(images[:3])
    assert list(boxes["top_source"].unique()) and all(0 <= v <= 1 for b in boxes["top"] for v in b)
    localise.save_segmenter(seg, tmp_path / "seg.pt")
    again = localise.load_segmenter(tmp_path / "seg.pt")
    assert np.allclose(again.predict_shares(images[:3]), shares, atol=1e-5)
    iou, box_quality = localise.segmentation_report(seg, images[:4], masks[:4], lut)
    assert set(iou["group"]) == set(garment_boxes.GROUP_NAMES) and (iou["IoU_%"].between(0, 100)).all()
    assert set(box_quality["garment"]) == {"top", "bottom"}


def test_unfitted_segmenter_says_so():
    with pytest.raises(RuntimeError, match="not fitted"):
        localise.GarmentSegmenter().predict_shares([Image.new("RGB", (10, 10))])


def test_locate_photos_reads_files_in_order(small_segmenter, shared_data):
    seg = small_segmenter[0]
    paths = [shared_data / "cad" / "images" / f"{i:06d}.jpg" for i in (1, 2, 3)]
    boxes = localise.locate_photos(seg, paths, batch_size=2, progress=False)
    assert len(boxes) == 3 and set(boxes.columns) >= {"top", "bottom", "note", "person"}


def test_a_cache_written_before_garment_views_existed_is_still_reused(tmp_path, shared_data):
    """Meta of a fixed view without the later ViewSpec fields (garment, jitter) matches today's."""
    import json

    from fashionkit.vision.crops import UPPER_BODY
    from fashionkit.vision.features import extract_features
    from fashionkit.vision.models import create_model

    net = create_model(trainable_blocks=1)
    paths = [str(shared_data / "ccp" / "images" / "0001.jpg")]
    view = UPPER_BODY.__class__("upper_body", box=UPPER_BODY.box, size=(64, 48))
    extract_features(net.frozen, paths, [view], cache_path=tmp_path, progress=False)
    meta = json.loads((tmp_path / "meta.json").read_text())
    meta["views"]["upper_body"]["view"]["garment"] = None  # as written by a version that stored defaults
    meta["views"]["upper_body"]["seconds"] = -1.0  # marks this entry: a recomputation would overwrite it
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    extract_features(net.frozen, paths, [view], cache_path=tmp_path, progress=False)
    assert json.loads((tmp_path / "meta.json").read_text())["views"]["upper_body"]["seconds"] == -1.0


class _Painted:
    """A stand-in segmenter whose 'prediction' is a painted group map (one cell per pixel)."""

    def __init__(self, groups):
        self.shares = np.stack([(groups == g).astype(np.float32) for g in range(len(garment_boxes.GROUP_NAMES))])

    def predict_shares(self, images):
        return np.stack([self.shares] * len(images))

    def shares_on_photo(self, shares, size):
        return shares


def test_length_from_mask_applies_the_labels_hem_rule_and_says_none_without_feet():
    g = {n: garment_boxes.GROUP_NAMES.index(n) for n in ("skin_hair", "inner_top", "bottom", "footwear")}
    person = np.zeros((100, 40), dtype=int)
    person[10:20, 15:25] = g["skin_hair"]  # the head starts at row 10
    person[20:40, 10:30] = g["inner_top"]
    person[40:81, 12:28] = g["bottom"]     # hem at row 80
    person[86:91, 12:28] = g["footwear"]   # sole at row 90: hem height (90 - 80) / (90 - 10) = 0.125
    barefoot = person.copy()
    barefoot[86:91] = 0
    photo = Image.new("RGB", (40, 100))
    assert localise.length_from_mask(_Painted(person), [photo]) == ["ankle"]
    assert localise.length_from_mask(_Painted(barefoot), [photo]) == [None]


def test_locate_photos_returns_the_garments_share_maps_of_the_same_pass(small_segmenter, shared_data):
    seg = small_segmenter[0]
    paths = [shared_data / "cad" / "images" / f"{i:06d}.jpg" for i in (1, 2, 3)]
    boxes, shares = localise.locate_photos(seg, paths, batch_size=2, progress=False, return_shares=True)
    assert boxes.equals(localise.locate_photos(seg, paths, progress=False))
    assert shares.shape == (3, 2, 8, 6) and shares.dtype == np.float16
    full = seg.predict_shares([Image.open(p).convert("RGB") for p in paths])
    top = full[:, [G["inner_top"], G["outerwear"]]].sum(axis=1)
    assert np.allclose(shares[:, 0], top, atol=1e-3) and np.allclose(shares[:, 1], full[:, G["bottom"]], atol=1e-3)


def test_garment_cutout_keeps_the_garment_on_a_plain_background(shared_data):
    """A perfect share map of CCP's true mask: the cut-out is the garment's pixels on the grey, cut to its box."""
    lut = localise.ccp_group_lookup(shared_data)
    img = Image.open(shared_data / "ccp" / "images" / "0001.jpg").convert("RGB")
    groups = lut[np.asarray(Image.open(shared_data / "ccp" / "masks" / "0001.png"))]
    canvas = (img.height, img.width)  # a canvas of the photo's own size: one cell per pixel
    share = localise.garment_shares(shares_from(groups)[None])[0, 1]
    cut = localise.garment_cutout(img, share, canvas, background=(233, 233, 233))
    ys, xs = np.nonzero(groups == G["bottom"])
    assert cut.height >= ys.max() - ys.min() and cut.width >= xs.max() - xs.min()
    assert cut.width < img.width and cut.height < img.height
    grey = (np.asarray(cut) == 233).all(axis=2).mean()
    assert 0.1 < grey < 0.9
    assert localise.garment_cutout(img, np.zeros_like(share), canvas) is None  # nothing found: the caller falls back


def test_cutout_view_reads_the_cut_out_and_falls_back_to_the_box(shared_data):
    from fashionkit.vision.crops import TOP_GARMENT_CUTOUT
    from fashionkit.vision.features import _view_input

    img = Image.open(shared_data / "ccp" / "images" / "0001.jpg").convert("RGB")
    lut = localise.ccp_group_lookup(shared_data)
    groups = lut[np.asarray(Image.open(shared_data / "ccp" / "masks" / "0001.png"))]
    path, box = "0001.jpg", (0.2, 0.1, 0.8, 0.6)
    boxes = {path: {"top": box, "bottom": box}}
    found = {"canvas": (img.height, img.width), "maps": {path: localise.garment_shares(shares_from(groups)[None])[0]}}
    cut, whole = _view_input(img, TOP_GARMENT_CUTOUT, path, boxes, found)
    assert whole == (0.0, 0.0, 1.0, 1.0) and cut.size < img.size
    again, _ = _view_input(img, TOP_GARMENT_CUTOUT, path, boxes, found)
    assert np.array_equal(np.asarray(cut), np.asarray(again))  # the grey is seeded per photo
    empty = {"canvas": found["canvas"], "maps": {path: np.zeros_like(found["maps"][path])}}
    assert _view_input(img, TOP_GARMENT_CUTOUT, path, boxes, empty) == (img, box)


def test_share_maps_round_trip_and_a_cutout_view_needs_them(tmp_path, shared_data):
    from dataclasses import replace

    from fashionkit.vision import cached_views
    from fashionkit.vision.crops import TOP_GARMENT_CUTOUT
    from fashionkit.vision.features import extract_features
    from fashionkit.vision.models import create_model

    paths = [str(shared_data / "ccp" / "images" / "0001.jpg"), str(shared_data / "ccp" / "images" / "0002.jpg")]
    shares = np.random.default_rng(0).random((2, 2, 8, 6)).astype(np.float16)
    cached_views.write_garment_shares(paths, shares, (64, 48), tmp_path)
    back = cached_views.read_garment_shares(tmp_path)
    assert back["canvas"] == (64, 48) and np.array_equal(back["maps"][paths[1]], shares[1])
    with pytest.raises(ValueError, match="share maps for"):
        cached_views.write_garment_shares(paths[:1], shares, (64, 48), tmp_path)
    net = create_model(trainable_blocks=1)
    view = replace(TOP_GARMENT_CUTOUT, size=(64, 48))
    boxes = {p: {"top": (0.2, 0.1, 0.8, 0.6), "bottom": (0.1, 0.4, 0.9, 1.0)} for p in paths}
    with pytest.raises(ValueError, match="garment_shares"):
        extract_features(net.frozen, paths, [view], cache_path=tmp_path / "c", progress=False, boxes=boxes,
                         augmented_rows=[0, 1])
    cache = extract_features(net.frozen, paths, [view], cache_path=tmp_path / "c", progress=False, boxes=boxes,
                             augmented_rows=[0], garment_shares=back)
    maps = np.asarray(cache.views[view.name])
    assert np.isfinite(maps[0]).all() and np.isnan(maps[1]).all()  # training rows only


def test_garment_photo_boxes_are_counted_per_category_against_the_garment_it_shows():
    import pandas as pd

    from fashionkit.vision.localise import found_on_garment_photos

    boxes = pd.DataFrame({"top_source": ["garment", "fixed", "garment", "garment"],
                          "bottom_source": ["fixed", "fixed", "garment", "one-piece"],
                          "person": [False, False, True, False]})
    table = found_on_garment_photos(boxes, ["T-Shirt", "T-Shirt", "Skirt", "Pants"])
    assert table.loc["T-Shirt"].to_dict() == {"photos": 2, "its garment found %": 50.0,
                                              "other garment found %": 0.0, "person found %": 0.0}
    assert table.loc["Skirt", "its garment found %"] == 100.0 and table.loc["Skirt", "other garment found %"] == 100.0
    assert table.loc["Pants", "its garment found %"] == 0.0  # a one-piece fallback is not its garment
    assert table.loc["all"].to_dict() == {"photos": 4, "its garment found %": 50.0,
                                          "other garment found %": 50.0, "person found %": 25.0}
