import csv
import math
from pathlib import Path

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


# ----------------------------------------------------------------------------- garments photographed alone
CLOTHING = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "clothing" / "annotations.csv"


@pytest.mark.parametrize("category, garment, decided", [
    ("T-Shirt", "top", {"top_type": "t-shirt", "top_sleeve": "short"}),
    ("Longsleeve", "top", {"top_sleeve": "long"}),      # a sweater or a long t-shirt: type open
    ("Shirt", "top", {"top_type": "shirt"}),            # long or short sleeves: sleeve open
    ("Polo", "top", {}),                                # a top, nothing more
    ("Pants", "bottom", {"bottom_major": "pants"}),     # jeans or slacks: sub class open
    ("Shorts", "bottom", {"bottom_major": "pants", "bottom_sub": "shorts"}),
    ("Skirt", "bottom", {"bottom_major": "skirt", "bottom_sub": "skirt"}),
])
def test_a_garment_category_decides_only_its_own_heads(category, garment, decided):
    out = labels.clothing_labels(category)
    assert list(out) == label_columns()
    assert {k: v for k, v in out.items() if v is not None} == decided
    assert labels.clothing_garment(category) == garment
    for key, value in decided.items():
        assert value in get_head(key).names


def test_an_unknown_garment_category_is_an_error_naming_it():
    with pytest.raises(UnknownLabelError, match="'Hat'"):
        labels.clothing_labels("Hat")


@pytest.mark.skipif(not CLOTHING.is_file(), reason=f"no garment annotations at {CLOTHING}")
def test_every_category_of_the_prepared_garments_has_a_rule():
    categories = {row["label"] for row in csv.DictReader(open(CLOTHING, encoding="utf-8"))}
    assert categories == set(labels.CLOTHING_RULES)
    assert {labels.clothing_garment(c) for c in categories} == {"top", "bottom"}


def test_which_garments_a_photo_shows_where_its_labels_tell():
    from fashionkit.data.labels import garments_present

    assert garments_present("clothing", "Skirt") == {"top": False, "bottom": True}
    assert garments_present("clothing", "Polo") == {"top": True, "bottom": False}
    assert garments_present("ccp", "skin hair t-shirt jeans shoes") == {"top": True, "bottom": True}
    # a dress alone: no separate top or bottom is tagged, and a missing tag is not an absence
    assert garments_present("ccp", "dress skin hair") == {"top": None, "bottom": None}
    assert garments_present("cad", "") == {"top": True, "bottom": None}
    with pytest.raises(ValueError, match="unknown source"):
        garments_present("web", "")
