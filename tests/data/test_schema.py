import numpy as np
import pytest

from fashionkit.data import schema
from fashionkit.data.schema import UnknownLabelError


def test_every_head_has_unique_classes_and_both_languages():
    for head in schema.HEADS:
        names = [c.name for c in head.classes + head.no_data]
        assert len(names) == len(set(names)), head.key
        for spec in head.classes + head.no_data:
            assert spec.en and spec.ko, (head.key, spec.name)
        assert head.key.startswith(head.model + "_")


def test_models_and_heads_with_data():
    assert [h.key for h in schema.heads("top")] == [
        "top_type", "top_pattern", "top_buttons", "top_neck", "top_sleeve", "top_present"]
    assert [h.key for h in schema.heads("bottom")] == ["bottom_major", "bottom_sub", "bottom_length",
                                                       "bottom_present"]
    # an outfit is described without the presence heads; each model has exactly one
    assert [h.key for h in schema.heads(presence=False) if h.key.endswith("_present")] == []
    assert {m: sum(h.presence for h in schema.heads(m)) for m in schema.MODELS} == {"top": 1, "bottom": 1}
    no_data_heads = {h.key for h in schema.heads(with_data=False)} - {h.key for h in schema.heads()}
    assert no_data_heads == {"bottom_pattern", "bottom_point"}


def test_three_quarter_sleeve_is_reported_as_no_data_not_a_class():
    sleeve = schema.get_head("top_sleeve")
    assert "three-quarter" not in sleeve.names
    assert sleeve.display("three-quarter", "ko") == "7부"


def test_korean_display_names_of_the_study():
    assert schema.get_head("top_type").display("t-shirt", "ko") == "티셔츠"
    assert schema.get_head("top_neck").display("collar", "ko") == "카라"
    assert schema.get_head("bottom_length").display("full", "ko") == "10부"


def test_unknown_names_raise_clear_errors():
    with pytest.raises(UnknownLabelError, match="not a class of head 'top_type'"):
        schema.get_head("top_type").index("hoodie")
    with pytest.raises(UnknownLabelError, match="unknown head"):
        schema.get_head("top_colour")
    with pytest.raises(UnknownLabelError, match="unknown model"):
        schema.heads("shoes")


def test_digest_lists_trainable_classes_in_order():
    digest = schema.SchemaDigest.of("bottom")
    assert digest.heads["bottom_major"] == ("pants", "skirt")
    assert list(digest.heads) == schema.label_columns("bottom")


def test_presence_is_read_from_the_presence_heads_yes_share():

    assert schema.presence_head("bottom").key == "bottom_present"
    probas = {"top_present": np.array([[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]])}
    assert schema.garment_in_photo("top", probas).tolist() == [True, True, False]


def test_a_photo_is_alone_for_a_model_when_every_other_model_finds_no_garment():
    top = {"top_present": np.array([[0.9, 0.1], [0.3, 0.7], [0.5, 0.5]])}
    assert schema.alone_in_photo("bottom", {"top": top, "bottom": {}}).tolist() == [False, True, False]
    with pytest.raises(ValueError, match="no other model"):
        schema.alone_in_photo("bottom", {"bottom": {}})


def test_replace_rows_answers_the_masked_photos_by_the_other_reading_in_order():
    box = {"h": np.array([[1.0, 0.0], [1.0, 0.0], [1.0, 0.0]])}
    other = {"h": np.array([[0.0, 1.0], [0.2, 0.8]])}
    out = schema.replace_rows(box, other, np.array([True, False, True]))
    assert out["h"].tolist() == [[0.0, 1.0], [1.0, 0.0], [0.2, 0.8]]
    assert box["h"][0].tolist() == [1.0, 0.0]  # the reading given is not changed
    assert schema.replace_rows(box, {}, np.zeros(3, bool))["h"].tolist() == box["h"].tolist()
    with pytest.raises(ValueError, match="2 replacement rows for 1 photos"):
        schema.replace_rows(box, other, np.array([True, False, False]))
