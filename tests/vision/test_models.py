"""Models and the backbone split: shapes, forward vs cached-map path, masked loss, cache I/O.

Run: NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/vision/test_models.py -q
Tiny and offline: ``tf_efficientnet_lite0`` with random weights at 64 px.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from PIL import Image

import fashionkit  # noqa: F401  (first: installs the torchvision shim where needed)
from fashionkit.data import schema
from fashionkit.vision.crops import WHOLE, WHOLE_FLIP, ViewSpec
from fashionkit.vision.features import extract_features, load_features, prepare_image, split_backbone, stage_boundaries
from fashionkit.vision.models import MISSING, AttributeNet, create_model, encode_targets, masked_cross_entropy

torch.set_num_threads(2)
TINY = "tf_efficientnet_lite0"


@pytest.fixture(scope="module")
def net() -> AttributeNet:
    torch.manual_seed(0)
    return create_model(TINY, heads=schema.heads("top"), pretrained=False, trainable_blocks=2).eval()


def test_factory_shapes(net):
    assert isinstance(net, AttributeNet)
    assert list(net.heads) == [h.key for h in schema.heads("top")]
    images = torch.randn(3, 3, 96, 64)
    maps = net.frozen(images)
    assert maps.shape[0] == 3 and maps.ndim == 4
    out = net(images)
    assert {k: tuple(v.shape) for k, v in out.items()} == {h.key: (3, h.n_classes) for h in schema.heads("top")}
    assert net.embed(maps).shape == (3, net.num_features)
    assert net.data_config["mean"] == (0.5, 0.5, 0.5)


def test_bottom_heads_and_default_heads():
    bottom = create_model(TINY, heads=schema.heads("bottom"), pretrained=False, trainable_blocks=0)
    assert list(bottom.heads) == ["bottom_major", "bottom_sub", "bottom_length", "bottom_present"]
    assert bottom.heads["bottom_sub"].out_features == 5
    top = create_model(TINY, pretrained=False)  # default heads: the top model's
    assert list(top.heads) == schema.label_columns("top")


def test_forward_equals_forward_features(net):
    images = torch.randn(2, 3, 96, 64)
    with torch.no_grad():
        direct = net(images)
        cached = net.forward_features(net.frozen(images).half())  # cache stores float16
        exact = net.forward_features(net.frozen(images))
    for key in direct:
        torch.testing.assert_close(direct[key], exact[key])
        torch.testing.assert_close(direct[key], cached[key], atol=2e-2, rtol=2e-2)


def test_frozen_part_is_frozen_and_upper_trains(net):
    assert not any(p.requires_grad for p in net.frozen.parameters())
    assert all(p.requires_grad for p in net.upper.parameters())
    net.train()
    try:
        assert not net.frozen.training and net.upper.training  # frozen BN statistics never move
    finally:
        net.eval()
    trainable = {id(p) for p in net.trainable_parameters()}
    assert trainable == {id(p) for p in [*net.upper.parameters(), *net.heads.parameters()]}


def test_split_matches_the_whole_backbone():
    from fashionkit.vision.backbones import create_backbone

    model = create_backbone(TINY, pretrained=False).eval()
    boundaries = stage_boundaries(model)
    assert boundaries[0] == 0 and boundaries[1] == 1 and boundaries[-1] == sum(len(s) for s in model.blocks)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        reference = model.forward_head(model.forward_features(x), pre_logits=True)
        for k in (0, 1, 3, boundaries[-1]):
            frozen, upper = split_backbone(model, k)
            torch.testing.assert_close(upper(frozen(x)), reference)
    with pytest.raises(ValueError):
        split_backbone(model, boundaries[-1] + 1)
    with pytest.raises(TypeError):
        split_backbone(torch.nn.Linear(2, 2), 1)


def test_masked_loss_ignores_missing_labels():
    torch.manual_seed(0)
    logits = {"a": torch.randn(4, 3, requires_grad=True), "b": torch.randn(4, 2, requires_grad=True)}
    targets = {"a": torch.tensor([0, MISSING, 2, MISSING]), "b": torch.full((4,), MISSING)}
    loss = masked_cross_entropy(logits, targets)
    expected = torch.nn.functional.cross_entropy(logits["a"][[0, 2]], torch.tensor([0, 2]))
    torch.testing.assert_close(loss, expected)
    loss.backward()
    assert torch.equal(logits["a"].grad[[1, 3]], torch.zeros(2, 3))  # missing rows: zero gradient
    assert logits["a"].grad[[0, 2]].abs().sum() > 0
    assert torch.equal(logits["b"].grad, torch.zeros(4, 2))  # all-missing head: zero gradient


def test_all_missing_gives_exactly_zero_and_options_apply():
    logits = {"a": torch.randn(3, 2, requires_grad=True)}
    zero = masked_cross_entropy(logits, {"a": torch.full((3,), MISSING)})
    assert zero.item() == 0.0
    zero.backward()
    assert torch.equal(logits["a"].grad, torch.zeros(3, 2))
    t = {"a": torch.tensor([0, 1, 1])}
    plain = masked_cross_entropy(logits, t)
    smooth = masked_cross_entropy(logits, t, label_smoothing=0.2)
    weighted = masked_cross_entropy(logits, t, class_weights={"a": torch.tensor([5.0, 1.0])})
    assert not torch.allclose(plain, smooth) and not torch.allclose(plain, weighted)


def test_encode_targets_uses_schema_order():
    heads = schema.heads("bottom")
    frame = pd.DataFrame({"bottom_major": ["skirt", None], "bottom_sub": [None, "jeans"],
                          "bottom_length": ["knee", "full"], "bottom_present": ["yes", "no"]}).astype("string")
    t = encode_targets(frame, heads)
    assert t["bottom_present"].tolist() == [0, 1]
    assert t["bottom_major"].tolist() == [1, MISSING]
    assert t["bottom_sub"].tolist() == [MISSING, 0]
    assert t["bottom_length"].tolist() == [3, 0]


def test_prepare_image_pads_to_aspect_and_flips():
    config = {"mean": (0.5, 0.5, 0.5), "std": (0.5, 0.5, 0.5), "interpolation": "bicubic"}
    arr = np.zeros((40, 40, 3), dtype=np.uint8)
    arr[:, :20] = 255  # left half white
    img = Image.fromarray(arr)
    x = prepare_image(img, WHOLE, (60, 40), config)  # square photo into a 2:3 frame: padded
    assert x.shape == (3, 60, 40)
    assert x[:, :8].abs().max() < 0.01  # grey padding = the mean, i.e. 0 after normalising
    flipped = prepare_image(img, WHOLE_FLIP, (60, 40), config)
    torch.testing.assert_close(flipped, x.flip(-1))
    crop = prepare_image(img, ViewSpec("left", box=(0.0, 0.0, 0.5, 1.0), size=(20, 10)), (60, 40), config)
    assert crop.shape == (3, 20, 10) and crop.min() > 0.9  # the white half only


def test_normalised_chw_matches_the_per_pixel_formula_on_a_real_photo(photo):
    from fashionkit.vision.crops import normalised_chw

    img = Image.open(photo).convert("RGB")
    for mean, std in [((0.5,) * 3, (0.5,) * 3), ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]:
        want = (np.asarray(img, dtype=np.float32) / 255.0 - np.float32(mean)) / np.float32(std)
        got = normalised_chw(img, mean, std)
        assert got.dtype == np.float32 and got.flags.c_contiguous and got.shape == (3, img.height, img.width)
        np.testing.assert_array_equal(got, want.transpose(2, 0, 1))  # the same values, bit for bit


def test_extract_features_cache_roundtrip(tmp_path, net):
    paths = []
    rng = np.random.default_rng(0)
    for i in range(3):
        p = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 255, (48, 32, 3), dtype=np.uint8)).save(p)
        paths.append(p)
    cache = extract_features(net.frozen, paths, [WHOLE, WHOLE_FLIP], image_size=(48, 32), batch_size=2,
                             cache_path=tmp_path / "cache", progress=False)
    whole = cache.views["whole"]
    assert whole.dtype == np.float16 and whole.shape[0] == 3
    again = load_features(tmp_path / "cache", ["whole"])
    np.testing.assert_array_equal(np.asarray(again.views["whole"]), np.asarray(whole))
    assert cache.stack().shape == (3, 2, *whole.shape[1:])
    x = torch.stack([prepare_image(Image.open(p).convert("RGB"), WHOLE, (48, 32), net.data_config) for p in paths])
    with torch.no_grad():
        np.testing.assert_allclose(np.asarray(whole, dtype=np.float32), net.frozen(x).numpy(), atol=2e-2, rtol=2e-2)
    seconds = cache.meta["views"]["whole"]["seconds"]
    reused = extract_features(net.frozen, paths, [WHOLE], image_size=(48, 32), cache_path=tmp_path / "cache",
                              progress=False)
    assert reused.meta["views"]["whole"]["seconds"] == seconds  # complete view reused, not recomputed


def test_a_garment_photo_alone_reads_its_whole_frame_in_a_fixed_box_view(tmp_path, net, shared_data):
    from fashionkit.vision.crops import UPPER_BODY

    garments = sorted((shared_data / "clothing" / "images").glob("*.jpg"))[:2]
    street = sorted((shared_data / "ccp" / "images").glob("*.jpg"))[:1]
    paths = [*street, *garments]
    small = ViewSpec("upper_body", box=UPPER_BODY.box, size=(48, 32))
    whole = ViewSpec("whole", size=(48, 32))
    cache = extract_features(net.frozen, paths, [small, whole], image_size=(48, 32), cache_path=tmp_path / "c",
                             progress=False, whole_frame_rows=[1, 2])
    upper, entire = (np.asarray(cache.views[v], dtype=np.float32) for v in ("upper_body", "whole"))
    np.testing.assert_array_equal(upper[1:], entire[1:])  # the garments alone: the whole photo
    assert np.abs(upper[0] - entire[0]).max() > 0.1  # the street photo: its upper-body box
    again = extract_features(net.frozen, paths, [small], image_size=(48, 32), cache_path=tmp_path / "c",
                             progress=False)  # other rows read whole: the cached view is not reused
    assert np.abs(np.asarray(again.views["upper_body"][1:], dtype=np.float32) - upper[1:]).max() > 0.1


def test_cut_pool_appends_the_pooled_cut_map_and_survives_a_checkpoint(tmp_path):
    from fashionkit.training.classifier import AttributeClassifier, load_checkpoint, save_checkpoint

    torch.manual_seed(0)
    net = create_model(TINY, heads=schema.heads("top"), pretrained=False, trainable_blocks=1, cut_pool=True).eval()
    plain = create_model(TINY, heads=schema.heads("top"), pretrained=False, trainable_blocks=1).eval()
    x = torch.randn(2, 3, 96, 64)
    maps = net.frozen(x)
    pooled = net.upper(maps)
    assert pooled.shape[1] == plain.upper.num_features + maps.shape[1] == net.upper.num_features
    torch.testing.assert_close(pooled[:, -maps.shape[1]:], maps.mean(dim=(2, 3)))  # the cut's map, pooled
    torch.testing.assert_close(pooled[:, :plain.upper.num_features], net.upper.global_pool(net.upper.forward_spatial(maps)))
    from fashionkit.studies.explain import grad_cam_batch

    heat, classes = grad_cam_batch(net, x, "top_neck")  # Grad-CAM reads the same pooled features
    assert heat.shape == (2, 96, 64) and (classes == net(x)["top_neck"].argmax(dim=1).numpy()).all()
    clf = AttributeClassifier(model="top", backbone=TINY, pretrained=False, cut_pool=True)
    clf.net_, clf.best_epoch_ = net, 1  # as fit leaves it
    save_checkpoint(clf, tmp_path / "m.pt", "x")
    back = load_checkpoint(tmp_path / "m.pt")
    assert back.cut_pool and back.net_.upper.num_features == net.upper.num_features
    torch.testing.assert_close(back.net_(x)["top_neck"], net(x)["top_neck"])
