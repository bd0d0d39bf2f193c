"""A tiny end-to-end run on real photos: cache maps, fit, predict, checkpoint."""

import numpy as np
import pandas as pd
import pytest
import torch

from fashionkit.data import labels
from fashionkit.data.schema import heads
from fashionkit.training.classifier import (
    AttributeClassifier,
    SchemaMismatchError,
    load_checkpoint,
    save_checkpoint,
    settings_table,
)
from fashionkit.vision.crops import WHOLE, WHOLE_FLIP
from fashionkit.vision.features import extract_features
from fashionkit.vision.models import create_model

torch.set_num_threads(2)
TINY = dict(epochs=4, probe_epochs=1, batch_size=8, lr=3e-3, sgdr_t0=2, sgdr_t_mult=1,
            eval_views=("whole", "whole_flip"), progress=False)


@pytest.fixture(scope="module")
def tiny(shared_data, tmp_path_factory):
    attrs = pd.read_csv(shared_data / "cad" / "attributes.csv").head(24)
    rows = [{"image": r["image"], **labels.cad_labels(r)} for r in attrs.to_dict("records")]
    frame = pd.DataFrame(rows).astype({h.key: "string" for h in heads()})
    paths = [shared_data / "cad" / "images" / i for i in frame.image]
    net = create_model("tf_efficientnet_lite2", heads=heads("top"), trainable_blocks=1)
    cache = extract_features(net.frozen, paths, views=(WHOLE, WHOLE_FLIP), image_size=(96, 64),
                             cache_path=tmp_path_factory.mktemp("cache"), progress=False)
    views = {name: np.asarray(arr) for name, arr in cache.views.items()}
    return frame, views


@pytest.fixture(scope="module")
def fitted(tiny):
    frame, views = tiny
    return AttributeClassifier(**TINY).fit(views, frame, views, frame)


def test_fit_lowers_the_loss_and_predicts_probabilities(tiny, fitted):
    frame, views = tiny
    clf = fitted
    loss = clf.history_["train_loss"].to_numpy()
    assert loss[-1] < loss[0]
    assert list(clf.history_["phase"][:2]) == ["probe", "fine-tune"]
    proba = clf.predict_proba(views)
    assert set(proba) == {h.key for h in heads("top")}
    for key, p in proba.items():
        assert p.shape == (len(frame), len(clf.classes_[key]))
        assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5)
    # the schedule restarts: the heads' rate rises again after the first cycle (SGDR)
    lr = clf.lr_trace_["lr_heads"].to_numpy()
    assert (np.diff(lr) > 0).any() and lr.max() <= TINY["lr"] * 1.0001


def test_fit_is_deterministic_under_a_seed(tiny, fitted):
    frame, views = tiny
    again = AttributeClassifier(**TINY).fit(views, frame, views, frame)
    pd.testing.assert_frame_equal(fitted.history_.drop(columns="seconds"), again.history_.drop(columns="seconds"))


def test_unfitted_and_bad_settings_are_clear_errors(tiny):
    frame, views = tiny
    with pytest.raises(RuntimeError, match="not fitted"):
        AttributeClassifier().predict_proba(views)
    with pytest.raises(ValueError, match="sampling must be one of"):
        AttributeClassifier(**{**TINY, "sampling": "smote"}).fit(views, frame, views, frame)


def test_checkpoint_round_trip_and_schema_mismatch(tiny, fitted, tmp_path):
    frame, views = tiny
    clf = fitted
    path = tmp_path / "top.pt"
    save_checkpoint(clf, path, split_hash="abc", extra={"views": ["whole"], "image_size": [96, 64]})
    again = load_checkpoint(path, split_hash="abc")
    assert again.extra_ == {"views": ["whole"], "image_size": [96, 64]}  # read with the weights
    settings = settings_table({"top": again}).loc["top"]  # what the model card shows, from the checkpoint
    assert (settings["backbone"], settings["image size"]) == ("tf_efficientnet_lite2", "96 × 64 px")
    assert settings["epochs"] == TINY["epochs"]
    assert settings["epoch kept"] == clf.best_epoch_ and settings["backbone blocks trained"] == "last 1"
    for key, p in clf.predict_proba(views).items():
        assert np.allclose(p, again.predict_proba(views)[key], atol=1e-6)
    with pytest.raises(SchemaMismatchError, match="split"):
        load_checkpoint(path, split_hash="other")
    ckpt = torch.load(path, weights_only=False)
    ckpt["schema"]["top_neck"] = ["round", "v-neck", "collar", "turtleneck"]
    torch.save(ckpt, path)
    with pytest.raises(SchemaMismatchError, match="top_neck"):
        load_checkpoint(path)


def test_head_probe_on_pooled_features(tiny):
    from fashionkit.training.classifier import HeadProbe, pooled_features

    frame, views = tiny
    net = create_model("tf_efficientnet_lite2", heads=heads("top"), trainable_blocks=1)
    pooled = pooled_features(net, views)
    assert pooled["whole"].shape == (len(frame), net.num_features)
    probes = [HeadProbe("top", sampling=s, epochs=5, seed=0).fit(pooled, frame)
              for s in ("none", "oversample", "class_weight")]
    for probe in probes:
        proba = probe.predict_proba(pooled, ["whole"])
        assert all(np.allclose(p.sum(axis=1), 1.0, atol=1e-5) for p in proba.values())
    again = HeadProbe("top", sampling="oversample", epochs=5, seed=0).fit(pooled, frame)
    assert np.allclose(again.predict_proba(pooled)["top_neck"], probes[1].predict_proba(pooled)["top_neck"])


def test_photo_path_matches_the_cached_path_and_rejects_a_corrupt_file(tiny, fitted, shared_data, tmp_path):
    """inference.predict_photos (decode -> views -> whole net) gives what the cached maps give."""
    from fashionkit.data.images import ImageProblem
    from fashionkit.metrics.comparison import average_views
    from fashionkit.studies.inference import predict_photos

    frame, views = tiny
    paths = [shared_data / "cad" / "images" / i for i in frame.image[:5]]
    from_photos = predict_photos(fitted, paths, ["whole", "whole_flip"], image_size=(96, 64), batch_size=2)
    cached = average_views([fitted.predict_proba({v: views[v][:5]}, [v]) for v in ("whole", "whole_flip")])
    for key, p in from_photos.items():
        assert p.shape == cached[key].shape
        assert np.allclose(p, cached[key], atol=0.02)  # the cache stores float16 maps
        assert (p.argmax(1) == cached[key].argmax(1)).all()
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really a jpeg")
    with pytest.raises(ImageProblem):
        predict_photos(fitted, [bad], ["whole"], image_size=(96, 64))


def test_views_of_different_sizes_train_together_and_keep_the_batch_order(tiny):
    """A garment crop's maps are smaller than the fixed crop's: a batch mixing them is split by size."""
    frame, views = tiny
    small = {"whole": views["whole"], "half": views["whole_flip"][:, :, :-1, :-1].copy()}
    net = create_model("tf_efficientnet_lite2", heads=heads("top"), trainable_blocks=1).eval()
    rows, view_idx = np.arange(8), np.array([0, 1, 1, 0, 1, 0, 0, 1])
    with torch.inference_mode():
        mixed = AttributeClassifier._forward(net, small, ["whole", "half"], rows, view_idx)
        for i, (r, v) in enumerate(zip(rows, view_idx)):
            one = net.forward_features(torch.from_numpy(np.asarray(small[["whole", "half"][v]][[r]], np.float32)))
            for key in one:
                assert torch.allclose(mixed[key][i], one[key][0], atol=1e-4)
    clf = AttributeClassifier(**{**TINY, "epochs": 2, "eval_views": ("whole",)}).fit(small, frame, small, frame)
    assert len(clf.history_) == 2
