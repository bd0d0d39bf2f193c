import numpy as np
import pandas as pd
import pytest

from fashionkit.data.schema import get_head
from fashionkit.training import sampling

TYPE = get_head("top_type")
NECK = get_head("top_neck")


def seed_style_frame():
    """The study's imbalance: t-shirt 70% / blouse 17% / shirt 13%, plus unlabelled rows."""
    types = ["t-shirt"] * 70 + ["blouse"] * 17 + ["shirt"] * 13 + [None] * 20
    return pd.DataFrame({"top_type": pd.array(types, dtype="string"),
                         "top_neck": pd.array([None] * 120, dtype="string")})


def test_oversampling_balances_one_head_in_expectation():
    frame = seed_style_frame()
    weights = sampling.sample_weights(frame, [TYPE, NECK])
    drawn = sampling.epoch_indices(weights, seed=0, size=60_000)
    shares = sampling.share_table(frame, [TYPE], drawn).set_index("class")["share_%"]
    assert shares.to_dict() == pytest.approx({"blouse": 33.3, "shirt": 33.3, "t-shirt": 33.3}, abs=1.0)
    before = sampling.share_table(frame, [TYPE]).set_index("class")["share_%"]
    assert before["t-shirt"] == pytest.approx(70.0)


def test_power_zero_means_no_resampling_and_unlabelled_rows_keep_weight_one():
    frame = seed_style_frame()
    assert np.all(sampling.sample_weights(frame, [TYPE], power=0.0) == 1.0)
    w = sampling.sample_weights(frame, [TYPE])
    assert np.all(w[-20:] == 1.0) and w[70] == pytest.approx(70 / 17)


def test_a_row_takes_the_weight_of_its_rarest_class():
    frame = pd.DataFrame({"top_type": pd.array(["t-shirt", "t-shirt", "t-shirt", "shirt"], dtype="string"),
                          "top_neck": pd.array(["round", "round", "v-neck", "round"], dtype="string")})
    w = sampling.sample_weights(frame, [TYPE, NECK])
    assert list(w) == pytest.approx([1.0, 1.0, 3.0, 3.0])


def test_draws_are_deterministic_per_seed_and_epoch():
    w = sampling.sample_weights(seed_style_frame(), [TYPE])
    a = sampling.epoch_indices(w, seed=3, epoch=1)
    assert np.array_equal(a, sampling.epoch_indices(w, seed=3, epoch=1))
    assert not np.array_equal(a, sampling.epoch_indices(w, seed=3, epoch=2))
    with pytest.raises(ValueError):
        sampling.epoch_indices(np.zeros(4), seed=0)


def test_class_weights_are_inverse_frequency():
    frame = seed_style_frame()
    cw = sampling.class_weights(frame, TYPE)  # order: blouse, shirt, t-shirt
    assert cw == pytest.approx([100 / (3 * 17), 100 / (3 * 13), 100 / (3 * 70)])
    assert sampling.class_weights(frame, NECK).sum() == 0  # no labels at all
