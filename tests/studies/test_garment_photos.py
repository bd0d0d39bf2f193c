"""The garment-photo comparisons: paired tables on the same photos, heads without labels left out."""

import numpy as np
import pandas as pd

from fashionkit.data.schema import heads
from fashionkit.studies import garment_photos


def _proba(correct: np.ndarray, y: np.ndarray, n_classes: int) -> np.ndarray:
    """One-hot answers: the true class where ``correct``, the next class elsewhere."""
    answer = np.where(correct, y, (y + 1) % n_classes)
    return np.eye(n_classes)[np.clip(answer, 0, None)]


def test_street_comparison_pairs_the_models_and_leaves_out_unlabelled_heads():
    rng = np.random.default_rng(0)
    top = heads("top")
    n = 200
    y = {h.key: rng.integers(0, h.n_classes, n) for h in top}
    y["top_pattern"][:] = -1  # no street photo labelled for this head
    with_ = {h.key: _proba(np.arange(n) % 10 != 0, np.clip(y[h.key], 0, None), h.n_classes) for h in top}
    without = {h.key: _proba(np.arange(n) % 2 == 0, np.clip(y[h.key], 0, None), h.n_classes) for h in top}
    table = garment_photos.street_comparison(top, y, with_, without, n_boot=500)
    assert "top_pattern" not in set(table["head"])
    kept = table[table["variant"] == garment_photos.KEPT].set_index("head")
    # 90 % against 50 % right on the same 200 photos: a gain of 40 points, well beyond noise
    assert np.allclose(kept["diff_points"], 40.0) and (kept["verdict"] == "better").all()
    assert (table[table["variant"] == garment_photos.WITHOUT]["verdict"] == "reference").all()


def test_framing_comparison_keeps_the_whole_frame_as_reference_and_sees_no_difference_in_equal_readers():
    bottom = heads("bottom")
    y = {"bottom_major": np.array([0, 1, 0, 1] * 20), "bottom_sub": np.array([2, 3] * 40),
         "bottom_length": np.full(80, -1), "bottom_present": np.full(80, -1)}
    same = {h.key: _proba(np.arange(80) % 4 != 0, np.clip(y[h.key], 0, None), h.n_classes) for h in bottom}
    table = garment_photos.framing_comparison(bottom, y, same, same, same, n_boot=200)
    assert set(table["head"]) == {"bottom_major", "bottom_sub"}  # length and presence: no label here
    assert table.loc[table["variant"] == "whole frame", "verdict"].eq("reference").all()
    others = table[table["variant"] != "whole frame"]
    assert np.allclose(others["diff_points"], 0.0) and others["verdict"].eq("within noise").all()


def test_masked_keeps_the_same_photos_of_every_head():
    values = {"a": np.arange(5), "b": np.arange(5) * 10}
    out = garment_photos.masked(values, np.array([1, 0, 1, 0, 0]))
    assert out["a"].tolist() == [0, 2] and out["b"].tolist() == [0, 20]


def test_presence_pairs_each_photos_labels_with_the_boxes_found():
    manifest = pd.DataFrame({
        "source": ["clothing", "clothing", "ccp", "cad", "ccp"],
        "tags": ["Skirt", "T-Shirt", "t-shirt jeans skin", None, "dress"],
        "path": ["a", "b", "c", "d", "e"], "split": ["test", "test", "test", "test", "train"]})
    boxes = pd.DataFrame({"top_source": ["one-piece", "garment", "garment", "fixed", "garment"],
                          "bottom_source": ["garment", "fixed", "garment", "garment", "fixed"]},
                         index=pd.Index(list("abcde"), name="path"))
    truth, predicted, groups = garment_photos.presence(manifest, boxes, "test")
    assert groups == ["garments alone", "garments alone", "CCP", "CAD"]
    assert truth.to_dict("list") == {"top": [False, True, True, True], "bottom": [True, False, True, None]}
    # a skirt read as part of a one-piece: the top is "shown", a mistake the presence table counts
    assert predicted.to_dict("list") == {"top": [True, True, True, False], "bottom": [True, False, True, True]}


def test_head_presence_follows_the_paths_and_counts_unread_photos_as_shown():
    table = garment_photos.head_presence(["a", "b", "c"], {"top": (["c", "a", "b"], [False, True, True]),
                                                           "bottom": (["a"], [False])})
    assert table.to_dict("list") == {"top": [True, True, False], "bottom": [False, True, True]}


def test_the_alone_rule_is_kept_only_when_it_wins_somewhere_and_loses_nowhere():
    bottom = heads("bottom")
    n = 120
    y = {"bottom_major": np.array([0, 1] * 60), "bottom_sub": np.array([2, 3, 4] * 40),
         "bottom_length": np.full(n, -1), "bottom_present": np.full(n, -1)}
    box = {h.key: _proba(np.arange(n) >= 60, np.clip(y[h.key], 0, None), h.n_classes) for h in bottom}
    alone = np.arange(n) < 60  # the photos the box reads wrong: the rule reads them right
    right = {h.key: _proba(np.ones(60, bool), np.clip(y[h.key][:60], 0, None), h.n_classes) for h in bottom}
    table = garment_photos.alone_comparison(bottom, y, box, right, alone, "rule", n_boot=200)
    assert set(table["head"]) == {"bottom_major", "bottom_sub"}
    assert np.allclose(table.loc[table["variant"] == "rule", "diff_points"], 50.0)
    assert garment_photos.keeps(table, "rule")
    # right on the class of the photos it touches, wrong on their sub class where the box was right
    sub = heads("bottom")[1]
    box_right_on_sub = dict(box, bottom_sub=_proba(np.ones(n, bool), y["bottom_sub"], sub.n_classes))
    mixed = dict(right, bottom_sub=_proba(np.zeros(60, bool), y["bottom_sub"][:60], sub.n_classes))
    table = garment_photos.alone_comparison(bottom, y, box_right_on_sub, mixed, alone, "rule", n_boot=200)
    assert not garment_photos.keeps(table, "rule")  # better on class, worse on sub class: not kept
    nothing = garment_photos.alone_comparison(bottom, y, box, {}, np.zeros(n, bool), "rule", n_boot=200)
    assert not garment_photos.keeps(nothing, "rule")  # touches no photo: within noise everywhere
