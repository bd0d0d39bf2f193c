"""Test-time augmentation: the view combiner and flip invariance on the real model path."""

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

from fashionkit.data import schema
from fashionkit.metrics import comparison
from fashionkit.training.classifier import AttributeClassifier
from fashionkit.training.finetune import predict_images
from fashionkit.vision.crops import WHOLE, WHOLE_FLIP
from fashionkit.vision.features import prepare_image
from fashionkit.vision.models import create_model

SIZE = (64, 48)  # (height, width), the 2:3 portrait of the book at a tiny scale


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


def dirichlet(n, k, seed):
    return np.random.default_rng(seed).dirichlet(np.ones(k), n)


def test_average_views_is_the_mean_and_sums_to_one():
    a = {"h1": dirichlet(6, 3, 0), "h2": dirichlet(6, 2, 1)}
    b = {"h1": dirichlet(6, 3, 2), "h2": dirichlet(6, 2, 3)}
    out = comparison.average_views([a, b])
    assert set(out) == {"h1", "h2"}
    for key in out:
        assert out[key].shape == a[key].shape
        np.testing.assert_allclose(out[key].sum(axis=1), 1.0)
        np.testing.assert_allclose(out[key], (a[key] + b[key]) / 2)
    np.testing.assert_allclose(comparison.average_views([a])["h1"], a["h1"])


def test_average_views_rejects_mismatches():
    a = {"h1": dirichlet(6, 3, 0), "h2": dirichlet(6, 2, 1)}
    with pytest.raises(ValueError):
        comparison.average_views([])
    with pytest.raises(ValueError):  # other heads
        comparison.average_views([a, {"h1": a["h1"]}])
    with pytest.raises(ValueError):  # other number of photos
        comparison.average_views([a, {"h1": a["h1"][:5], "h2": a["h2"][:5]}])
    with pytest.raises(ValueError):  # other number of classes
        comparison.average_views([a, {"h1": dirichlet(6, 4, 5), "h2": a["h2"]}])


def photos(tmp_path):
    """A left-right symmetric photo (its left half mirrored) and the asymmetric original.

    96 x 72 px: the 2:3 aspect of SIZE, so prepare_image resizes without padding (an odd
    padding would shift the photo by a pixel and break the symmetry).
    """
    rng = np.random.default_rng(0)
    arr = rng.integers(0, 256, (96, 72, 3), dtype=np.uint8)
    arr[:40, :30] = 255  # a bright patch on one side: the original is clearly asymmetric
    sym = arr.copy()
    sym[:, 36:] = arr[:, :36][:, ::-1]
    paths = [tmp_path / "symmetric.png", tmp_path / "asymmetric.png"]
    Image.fromarray(sym).save(paths[0])
    Image.fromarray(arr).save(paths[1])
    return pd.DataFrame({"path": [str(p) for p in paths]})


@pytest.fixture(scope="module")
def clf():
    """A tiny untrained top model set up as fit_on_images leaves a classifier."""
    torch.manual_seed(0)
    heads = schema.heads("top")
    net = create_model("tf_efficientnet_lite0", heads=heads, pretrained=False, trainable_blocks=1).eval()
    model = AttributeClassifier(model="top", backbone="tf_efficientnet_lite0", pretrained=False, progress=False)
    model.net_ = net
    model.classes_ = {h.key: h.names for h in heads}
    model.view_ = WHOLE
    model.image_size_ = SIZE
    return model


def test_a_symmetric_photo_is_its_own_mirror_after_prepare_image(tmp_path, clf):
    frame = photos(tmp_path)
    config = clf.net_.data_config
    sym = Image.open(frame.path[0]).convert("RGB")
    assert torch.equal(prepare_image(sym, WHOLE, SIZE, config), prepare_image(sym, WHOLE_FLIP, SIZE, config))
    asym = Image.open(frame.path[1]).convert("RGB")
    assert not torch.equal(prepare_image(asym, WHOLE, SIZE, config), prepare_image(asym, WHOLE_FLIP, SIZE, config))


def test_flips_leave_a_symmetric_photo_unchanged_and_change_an_asymmetric_one(tmp_path, clf):
    frame = photos(tmp_path)
    plain = predict_images(clf, frame, flips=False)
    tta = predict_images(clf, frame, flips=True)
    assert set(plain) == set(tta) == {h.key for h in schema.heads("top")}
    moved = []
    for key in plain:
        assert plain[key].shape == tta[key].shape == (2, len(clf.classes_[key]))
        np.testing.assert_allclose(tta[key].sum(axis=1), 1.0, atol=1e-5)
        np.testing.assert_allclose(tta[key][0], plain[key][0], atol=1e-4)  # symmetric photo
        moved.append(np.abs(tta[key][1] - plain[key][1]).max())
    assert max(moved) > 1e-3  # the mirror of the asymmetric photo is another input
    # predict_images(flips=True) is average_views of the photo and its mirror
    mirrored = predict_images(clf, frame, view=WHOLE_FLIP, flips=False)
    combined = comparison.average_views([plain, mirrored])
    for key in plain:
        np.testing.assert_allclose(combined[key], tta[key], atol=1e-5)
