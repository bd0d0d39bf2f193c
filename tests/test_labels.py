import math

import pytest

from fashionkit.data import labels
from fashionkit.data.schema import UnknownLabelError, get_head, label_columns

VOCAB = {"blouse", "shirt", "t-shirt", "top", "sweater", "coat", "pants", "jeans", "shorts",
         "leggings", "skirt", "dress", "romper", "tights", "shoes", "skin", "hair", "bag"}


def ccp(*tags):
    return labels.ccp_labels(tags, VOCAB)


def test_labels_cover_every_head_and_only_schema_classes():
    for out in (ccp("blouse", "skirt"), labels.cad_labels({"category_GT": 3, "sleevelength_GT": 2})):
        assert list(out) == label_columns()
        for key, value in out.items():
            assert value is None or value in get_head(key).names


@pytest.mark.parametrize("tags, expected", [
    (("blouse", "skirt", "shoes"), "blouse"),
    (("t-shirt", "coat", "jeans"), "t-shirt"),
    (("shirt", "blouse", "pants"), None),   # two types named: ambiguous, left missing
    (("sweater", "pants"), None),           # other tops are not lumped into "other"
])
def test_ccp_top_type(tags, expected):
    assert ccp(*tags)["top_type"] == expected


@pytest.mark.parametrize("tags, major, sub", [
    (("pants",), "pants", "slacks"),
    (("jeans", "shoes"), "pants", "jeans"),
    (("shorts", "tights"), "pants", "shorts"),
    (("leggings",), "pants", "leggings"),
    (("skirt", "leggings"), "skirt", "skirt"),   # leggings under a skirt are legwear
    (("shorts", "leggings"), "pants", "shorts"),
    (("jeans", "pants"), "pants", None),         # two pants kinds: sub ambiguous
    (("pants", "skirt"), None, None),            # both kinds: major ambiguous
    (("dress", "skirt"), None, None),            # one-piece: no bottom label
    (("romper", "shorts"), None, None),
    (("blouse",), None, None),
])
def test_ccp_bottom(tags, major, sub):
    out = ccp(*tags)
    assert (out["bottom_major"], out["bottom_sub"]) == (major, sub)
    assert out["bottom_length"] is None  # lengths come from masks, never from tags


def test_ccp_unknown_tag_is_reported_not_mapped():
    with pytest.raises(UnknownLabelError, match="'skirts'"):
        ccp("blouse", "skirts")


def test_ccp_outfit_needs_separate_top_and_bottom():
    assert labels.ccp_is_outfit({"coat", "jeans"})
    assert not labels.ccp_is_outfit({"dress", "coat"})
    assert not labels.ccp_is_outfit({"dress", "coat", "skirt"})
    assert not labels.ccp_is_outfit({"jeans", "shoes"})


NAN = math.nan


@pytest.mark.parametrize("row, key, expected", [
    ({"category_GT": 1}, "top_type", "shirt"),
    ({"category_GT": 3}, "top_type", "t-shirt"),
    ({"category_GT": 2}, "top_type", None),          # sweater: not in the vocabulary
    ({"category_GT": NAN}, "top_type", None),
    ({"pattern_solid_GT": 2, "pattern_stripe_GT": 1}, "top_pattern", "solid"),
    ({"pattern_graphics_GT": 2, "pattern_solid_GT": 1}, "top_pattern", "graphic"),
    ({"pattern_solid_GT": 2, "pattern_stripe_GT": 2}, "top_pattern", None),
    ({"placket_GT": 2}, "top_buttons", "buttons"),
    ({"placket_GT": 1}, "top_buttons", "none"),
    ({"placket_GT": NAN}, "top_buttons", None),
    ({"collar_GT": 2, "neckline_GT": 1}, "top_neck", "collar"),   # suit lapel: collar wins
    ({"collar_GT": 1, "neckline_GT": 1}, "top_neck", "v-neck"),
    ({"collar_GT": NAN, "neckline_GT": 2}, "top_neck", "round"),
    ({"collar_GT": 1, "neckline_GT": 3}, "top_neck", None),
    ({"sleevelength_GT": 1}, "top_sleeve", "sleeveless"),
    ({"sleevelength_GT": 3}, "top_sleeve", "long"),
])
def test_cad_rules(row, key, expected):
    assert labels.cad_labels(row)[key] == expected


def test_cad_unknown_code_is_reported():
    with pytest.raises(UnknownLabelError, match="sleevelength_GT: unknown code 4"):
        labels.cad_labels({"sleevelength_GT": 4})
    with pytest.raises(UnknownLabelError, match="placket_GT"):
        labels.cad_labels({"placket_GT": 1.5})
