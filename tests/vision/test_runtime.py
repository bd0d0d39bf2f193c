"""Inference engines (fashionkit.vision.runtime) and what the cache does with them, on real photos.

Run: NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/vision/test_runtime.py -q
ONNX Runtime must give PyTorch's maps (to float tolerance), whatever the batch, and the same
bits on every run; augmented views are only computed for the rows asked for.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

import fashionkit  # noqa: F401  (first: installs the torchvision shim where needed)
from fashionkit.data.images import load_image
from fashionkit.vision import runtime
from fashionkit.vision.crops import UPPER_BODY, UPPER_BODY_AUG
from fashionkit.vision.features import extract_features, prepare_image
from fashionkit.vision.localise import _Trunk
from fashionkit.vision.models import create_model

torch.set_num_threads(2)
pytest.importorskip("onnxruntime")


@pytest.fixture(scope="module")
def photos(shared_data):
    return sorted((shared_data / "cad" / "images").glob("*.jpg"))[:5]


@pytest.fixture(scope="module")
def frozen():
    torch.manual_seed(0)
    return create_model("tf_efficientnet_lite0", pretrained=False, trainable_blocks=1).frozen.eval()


def batch_of(photos, frozen, size=(96, 80)):
    return torch.stack([prepare_image(load_image(p), UPPER_BODY, size, frozen.data_config) for p in photos])


def test_auto_is_onnx_when_installed_and_unknown_engines_are_refused():
    assert runtime.resolve_engine("auto") == "onnx"
    with pytest.raises(ValueError, match="unknown engine"):
        runtime.resolve_engine("tensorrt")


def test_onnx_agrees_with_torch_on_any_batch_and_repeats_bit_for_bit(photos, frozen):
    x = batch_of(photos, frozen)
    with torch.inference_mode():
        want = frozen(x)
    onnx = runtime.runner(frozen, "onnx")
    got = onnx(x)
    assert got.shape == want.shape
    torch.testing.assert_close(got, want, atol=1e-4 * float(want.abs().max()), rtol=1e-4)
    torch.testing.assert_close(onnx(x[:2]), got[:2], atol=1e-5, rtol=1e-5)  # the batch size does not matter
    assert torch.equal(onnx(x), got)  # deterministic
    assert runtime.runner(frozen, "onnx") is onnx  # kept: no second export


def test_a_new_input_size_gets_its_own_session(photos, frozen):
    onnx = runtime.runner(frozen, "onnx")
    small = batch_of(photos[:2], frozen, size=(64, 64))
    with torch.inference_mode():
        torch.testing.assert_close(onnx(small), frozen(small), atol=1e-3, rtol=1e-3)


def test_tuple_outputs_come_back_as_a_tuple(photos):
    trunk = _Trunk("tf_efficientnet_lite2")  # the bundled weights (the segmenter's trunk)
    x = torch.randn(2, 3, 64, 48)
    a8, a16 = runtime.runner(trunk, "onnx")(x)
    with torch.inference_mode():
        b8, b16 = trunk(x)
    torch.testing.assert_close(a8, b8, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(a16, b16, atol=1e-4, rtol=1e-4)


def test_cache_records_the_engine_and_computes_augmented_views_for_training_rows_only(tmp_path, photos, frozen):
    small = [replace(v, size=(96, 80)) for v in (UPPER_BODY, UPPER_BODY_AUG)]
    kwargs = dict(image_size=(96, 80), batch_size=2, cache_path=tmp_path, progress=False)
    cache = extract_features(frozen, photos, small,
                             augmented_rows=[0, 3], engine="onnx", **kwargs)
    plain, aug = np.asarray(cache.views["upper_body"]), np.asarray(cache.views["upper_body_aug"])
    assert np.isfinite(plain).all()  # a plain view: every row
    assert np.isfinite(aug[[0, 3]]).all() and np.isnan(aug[[1, 2, 4]]).all()
    assert cache.meta["views"]["upper_body"]["engine"] == "onnx"
    torch_cache = extract_features(frozen, photos, small[:1],
                                   engine="torch", **{**kwargs, "cache_path": tmp_path / "torch"})
    np.testing.assert_allclose(np.asarray(torch_cache.views["upper_body"], dtype=np.float32),
                               plain.astype(np.float32), atol=2e-2, rtol=1e-2)  # float16 storage
    # another set of training rows is another cache entry: recomputed, not reused
    again = extract_features(frozen, photos, small,
                             augmented_rows=[1], engine="onnx", **kwargs)
    aug = np.asarray(again.views["upper_body_aug"])
    assert np.isfinite(aug[1]).all() and np.isnan(aug[0]).all()


def test_an_export_is_kept_on_disk_and_reused_by_a_new_process(tmp_path, monkeypatch, photos, frozen):
    import copy

    monkeypatch.setenv("FASHIONKIT_CACHE", str(tmp_path))
    x = batch_of(photos[:2], frozen, size=(80, 64))
    first = runtime.OnnxRunner(frozen)(x)
    assert len(list((tmp_path / "onnx").glob("*.onnx"))) == 1

    def no_export(*args, **kwargs):
        raise AssertionError("exported again")

    monkeypatch.setattr(torch.onnx, "export", no_export)
    twin = copy.deepcopy(frozen)  # another object with the same weights, as in a new process
    assert torch.equal(runtime.OnnxRunner(twin)(x), first)
    changed = copy.deepcopy(frozen)
    with torch.no_grad():
        next(changed.parameters()).add_(1.0)
    with pytest.raises(AssertionError, match="exported again"):  # other weights: another graph
        runtime.OnnxRunner(changed)(x)
