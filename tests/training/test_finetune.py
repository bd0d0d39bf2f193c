"""Full fine-tuning on photos (the GPU profile), run on CPU with a tiny model and 8 CAD photos."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from fashionkit.data import labels
from fashionkit.data.images import ImageProblem
from fashionkit.data.schema import heads
from fashionkit.training.classifier import AttributeClassifier
from fashionkit.training.finetune import EpochSampler, ImageDataset, count_blocks, fit_on_images, predict_images
from fashionkit.vision.crops import WHOLE, ViewSpec

CAD = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "cad"
SIZE = (64, 48)
CONFIG = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bicubic"}
TINY = dict(backbone="tf_efficientnet_lite0", pretrained=False, epochs=2, probe_epochs=0, batch_size=4,
            lr=1e-3, sgdr_t0=1, sgdr_t_mult=1, progress=False)


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One intra-op thread: the tiny model gains nothing from two, and on a busy 2-core
    machine two OpenMP threads competing with another process slow each step ~10x."""
    saved = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(saved)


@pytest.fixture(scope="module")
def frame():
    if not (CAD / "attributes.csv").is_file() or not (CAD / "images").is_dir():
        pytest.skip(f"CAD data not found at {CAD}")
    attrs = pd.read_csv(CAD / "attributes.csv").head(80)
    rows = pd.DataFrame([{"path": str(CAD / "images" / r["image"]), **labels.cad_labels(r)}
                         for r in attrs.to_dict("records")])
    # 4 photos with a top type and 4 without, so both labelled and missing rows occur
    rows = pd.concat([rows[rows.top_type.notna()].head(4), rows[rows.top_type.isna()].head(4)])
    return rows.reset_index(drop=True).astype({h.key: "string" for h in heads()})


@pytest.fixture(scope="module")
def fitted(frame):
    return fit_on_images(AttributeClassifier(**TINY), frame, frame, WHOLE, SIZE, recipe="light")


def test_dataset_shapes_and_missing_labels(frame):
    data = ImageDataset(frame, heads("top"), CONFIG, WHOLE, SIZE)
    x, y = data[4]
    assert x.shape == (3, *SIZE) and x.dtype == torch.float32
    assert set(y) == {h.key for h in heads("top")}
    assert y["top_type"] == -1 and all(isinstance(v, int) for v in y.values())
    assert data[0][1]["top_type"] == heads("top")[0].index(frame.top_type[0])
    assert torch.equal(data[4][0], x)  # evaluation transform: deterministic
    crop = ImageDataset(frame, heads("top"), CONFIG, ViewSpec("upper", box=(0.1, 0.1, 0.9, 0.6), size=(32, 40)),
                        SIZE, recipe="strong")
    assert crop[0][0].shape == (3, 32, 40)
    unlabelled = ImageDataset(frame[["path"]], heads("top"), CONFIG, WHOLE, SIZE)
    assert set(unlabelled[0][1].values()) == {-1}


def test_augmented_dataset_is_random_per_call_but_seeded(frame):
    a = ImageDataset(frame, heads("top"), CONFIG, WHOLE, SIZE, recipe="strong", seed=1)
    b = ImageDataset(frame, heads("top"), CONFIG, WHOLE, SIZE, recipe="strong", seed=1)
    first = [a[0][0] for _ in range(3)]
    assert not all(torch.equal(first[0], t) for t in first[1:])
    assert all(torch.equal(t, b[0][0]) for t in first)


def test_unreadable_photo_is_an_image_problem(frame, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"this is not a jpeg")
    data = ImageDataset(frame.head(1).assign(path=str(bad)), heads("top"), CONFIG, WHOLE, SIZE, recipe="light")
    with pytest.raises(ImageProblem, match=r"broken\.jpg: not an image"):
        data[0]


def test_sampler_is_seeded_and_oversamples():
    weights = np.array([1.0, 1.0, 1.0, 20.0])
    s = EpochSampler(4, weights, seed=0)
    draws = []
    for epoch in range(50):
        s.set_epoch(epoch)
        draws += list(s)
    assert np.bincount(draws, minlength=4)[3] > 100
    s.set_epoch(3)
    again = EpochSampler(4, weights, seed=0)
    again.set_epoch(3)
    assert list(s) == list(again)
    plain = EpochSampler(5, seed=0)
    assert sorted(plain) == list(range(5))


def test_fit_trains_every_block(frame, fitted):
    clf = fitted
    assert count_blocks("tf_efficientnet_lite0") == clf.net_.trainable_blocks == 16
    assert len(clf.history_) == 2 and np.isfinite(clf.history_["train_loss"]).all()
    assert list(clf.history_["phase"]) == ["fine-tune", "fine-tune"]
    assert {"val_mean_macro_f1", "top_sleeve_macro_f1", "top_sleeve_accuracy"} <= set(clf.history_.columns)
    assert len(clf.lr_trace_) == 2 * 2 and clf.best_epoch_ in (1, 2)
    assert all(p.requires_grad for p in clf.net_.parameters())
    # the stem's batch norm was in train mode: its running mean moved off the initial zeros
    assert clf.net_.frozen.bn1.running_mean.abs().sum() > 0
    assert not clf.net_.training


def test_predict_images_gives_probabilities(frame, fitted):
    for flips in (False, True):
        proba = predict_images(fitted, frame[["path"]], WHOLE, SIZE, batch_size=8, flips=flips)
        assert set(proba) == {h.key for h in heads("top")}
        for key, p in proba.items():
            assert p.shape == (len(frame), len(fitted.classes_[key]))
            assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    default = predict_images(fitted, frame)  # view and size remembered from the fit
    assert np.allclose(default["top_sleeve"], predict_images(fitted, frame, WHOLE, SIZE)["top_sleeve"])


def test_class_weight_sampling_and_bad_settings(frame):
    clf = fit_on_images(AttributeClassifier(**{**TINY, "epochs": 1, "sampling": "class_weight"}),
                        frame, frame, WHOLE, SIZE, recipe=None)
    assert np.isfinite(clf.history_["train_loss"]).all()
    with pytest.raises(ValueError, match="sampling must be one of"):
        fit_on_images(AttributeClassifier(**{**TINY, "sampling": "smote"}), frame, frame, WHOLE, SIZE)
    with pytest.raises(ValueError, match="unknown augmentation recipe"):
        fit_on_images(AttributeClassifier(**TINY), frame, frame, WHOLE, SIZE, recipe="heavy")
    with pytest.raises(RuntimeError, match="not fitted"):
        predict_images(AttributeClassifier(**TINY), frame, WHOLE, SIZE)
