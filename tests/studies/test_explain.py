"""Grad-CAM ("where the model looked"): contract, side effects, and that the map follows evidence.

Run: NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 .venv/bin/python -m pytest -q tests/studies/test_explain.py
Offline, one thread, a few seconds: a random ``tf_efficientnet_lite0`` at 96x64 for the
contract, the bundled ImageNet ``tf_efficientnet_lite2`` for the sanity checks.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

import fashionkit  # noqa: F401  (first: installs the torchvision shim where needed)
from fashionkit.data import schema
from fashionkit.studies.explain import cam_for_photo, grad_cam, grad_cam_batch, overlay, unnormalise
from fashionkit.vision.backbones import create_backbone
from fashionkit.vision.crops import UPPER_BODY, WHOLE
from fashionkit.vision.features import prepare_image
from fashionkit.vision.models import create_model

torch.set_num_threads(1)
TINY = "tf_efficientnet_lite0"
PHOTO = Path(__file__).resolve().parents[2].parent / "shared/data/cad/images/000001.jpg"
H, W = 96, 64


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return create_model(TINY, heads=schema.heads("top"), pretrained=False, trainable_blocks=1).eval()


@pytest.fixture(scope="module")
def head(net):
    return max(net.heads, key=lambda k: net.heads[k].out_features)  # the head with most classes


def _image(seed: int = 0) -> torch.Tensor:
    return torch.randn(3, H, W, generator=torch.Generator().manual_seed(seed))


def test_shape_range_and_no_side_effects(net, head):
    params = list(net.parameters())
    assert any(p.requires_grad for p in params) and all(p.grad is None for p in params)
    heat = grad_cam(net, _image(), head)
    assert heat.shape == (H, W) and heat.dtype == np.float32
    assert np.isfinite(heat).all() and heat.min() >= 0.0 and heat.max() <= 1.0
    assert heat.max() == pytest.approx(1.0)  # min-max normalised (a non-constant map)
    assert all(p.grad is None for p in params)
    assert not net.training and not any(m.training for m in net.modules())
    assert [p.requires_grad for p in net.frozen.parameters()] == [False] * len(list(net.frozen.parameters()))


def test_train_mode_and_batchnorm_statistics_are_left_alone(net, head):
    bn = net.upper.bn2
    before = (bn.running_mean.clone(), bn.running_var.clone(), int(bn.num_batches_tracked))
    net.train()
    try:
        heat = grad_cam(net, _image(1), head)
        assert net.training and net.upper.training and not net.frozen.training
    finally:
        net.eval()
    assert np.isfinite(heat).all()
    assert torch.equal(bn.running_mean, before[0]) and torch.equal(bn.running_var, before[1])
    assert int(bn.num_batches_tracked) == before[2]
    assert all(p.grad is None for p in net.parameters())


def test_class_index_choice(net, head):
    x = _image(2)
    with torch.no_grad():
        predicted = int(net(x[None])[head].argmax())
    np.testing.assert_array_equal(grad_cam(net, x, head), grad_cam(net, x, head, predicted))
    maps = [grad_cam(net, x, head, c) for c in range(net.heads[head].out_features)]
    # different classes weight the channels differently: the maps differ (all pairs, here)
    assert all(np.abs(a - b).max() > 1e-3 for i, a in enumerate(maps) for b in maps[i + 1:])
    with pytest.raises(IndexError):
        grad_cam(net, x, head, net.heads[head].out_features)
    with pytest.raises(KeyError):
        grad_cam(net, x, "no_such_head")


def test_batch_matches_single_and_works_under_inference_mode(net, head):
    xs = torch.stack([_image(3), _image(4)])
    heat, classes = grad_cam_batch(net, xs, head, [0, 1])
    assert heat.shape == (2, H, W) and list(classes) == [0, 1]
    np.testing.assert_allclose(heat[1], grad_cam(net, xs[1], head, 1), atol=1e-5)
    with torch.inference_mode():  # e.g. called from evaluation code
        inside = grad_cam(net, xs[0], head, 0)
    np.testing.assert_allclose(inside, heat[0], atol=1e-5)


def test_no_evidence_gives_zeros_not_nan(net, head):
    # a head that ignores the features: zero gradient, constant map -> zeros
    net.heads["blind"] = nn.Linear(net.num_features, 2)
    try:
        nn.init.zeros_(net.heads["blind"].weight)
        heat = grad_cam(net, _image(5), "blind", 0)
    finally:
        del net.heads["blind"]
    assert heat.shape == (H, W) and not np.isnan(heat).any() and (heat == 0).all()


def test_cam_for_photo_shows_what_the_model_saw(net, head):
    rng = np.random.default_rng(0)
    photo = Image.fromarray(rng.integers(0, 256, (120, 70, 3), dtype=np.uint8))  # not 2:3: padded
    rgb, heat = cam_for_photo(net, photo, WHOLE, (H, W), head)
    assert rgb.dtype == np.uint8 and rgb.shape == (H, W, 3) and heat.shape == (H, W)
    expected = unnormalise(prepare_image(photo, WHOLE, (H, W), net.data_config), net.data_config)
    np.testing.assert_array_equal(rgb, expected)
    assert (rgb[:, 0] == 128).all()  # the grey padding at the side is part of what it saw
    rgb, heat = cam_for_photo(net, photo, UPPER_BODY, (H, W), head, class_index=1)
    assert rgb.shape == (*UPPER_BODY.size, 3) and heat.shape == UPPER_BODY.size  # the view's own size
    assert np.isfinite(heat).all() and 0.0 <= heat.min() <= heat.max() <= 1.0


def test_overlay():
    rgb = np.full((H, W, 3), 200, np.uint8)
    heat = np.linspace(0, 1, H * W, dtype=np.float32).reshape(H, W)
    out = overlay(rgb, heat)
    assert out.dtype == np.uint8 and out.shape == (H, W, 3)
    np.testing.assert_array_equal(overlay(rgb, heat, alpha=0.0), rgb)
    hot, cold = overlay(rgb, heat, alpha=1.0)[-1, -1], overlay(rgb, heat, alpha=1.0)[0, 0]
    assert hot[0] > hot[2] and cold[2] > cold[0]  # jet: 1 is red, 0 is blue
    assert overlay(rgb, heat[::2, ::2]).shape == (H, W, 3)  # a coarser map is resized to the photo


# --------------------------------------------------------------------------- sanity: does the map follow evidence?
#
# A random network gives no reason for any map, so these use the bundled ImageNet
# EfficientNet-Lite2 (offline) whose features respond locally to image content.
#
# 1. Synthetic, data-free and fully controlled: a checkerboard square on a grey image.
#    The head is built once from the square in the centre -- class 0's weight is
#    pooled(square) - pooled(grey), class 1's its negative -- so class 0's logit rises
#    exactly with the pooled channels the square excites.  Pooling forgets where the
#    square was, so with the head fixed, only Grad-CAM can say where: moved to two
#    opposite corners, the heat must move with it.  Measured: 74-78 % of the heat within one
#    stride-32 cell of the square (15 % of the image), the centroid in its quadrant; the
#    "anti-square" class puts ~0 % there.
# 2. A real photo (skipped without the prepared data): CAD 000001, a man in a suit in a
#    park, with a head made of the ImageNet classifier rows of 'suit' (834) and
#    'jersey, T-shirt' (610).  'suit' heat lies on the person (the central half of the
#    columns holds 89 % of it, measured), not on the trees at the borders.

S = 72  # square side in pixels, at 390x260


@pytest.fixture(scope="module")
def lite2():
    net = create_model("tf_efficientnet_lite2", heads=schema.heads("top"), pretrained=True).eval()
    return net


def _square_photo(x0: int, y0: int, size=(390, 260)) -> Image.Image:
    arr = np.full((*size, 3), 128, np.uint8)
    yy, xx = np.mgrid[0:S, 0:S]
    arr[y0:y0 + S, x0:x0 + S] = ((yy // 8 + xx // 8) % 2 * 255).astype(np.uint8)[..., None]
    return Image.fromarray(arr)


def test_heat_follows_a_moving_square(lite2):
    h, w = 390, 260
    cfg = lite2.data_config
    with torch.no_grad():
        pooled = {name: lite2.upper(lite2.frozen(prepare_image(img, WHOLE, (h, w), cfg)[None]))[0]
                  for name, img in (("grey", Image.new("RGB", (w, h), (128, 128, 128))),
                                    ("square", _square_photo(w // 2 - S // 2, h // 2 - S // 2)))}
    head = nn.Linear(lite2.num_features, 2)
    with torch.no_grad():
        head.weight[0] = pooled["square"] - pooled["grey"]
        head.weight[1] = pooled["grey"] - pooled["square"]
        head.bias.zero_()
    lite2.heads["square"] = head
    try:
        yy, xx = np.mgrid[0:h, 0:w]
        for x0, y0 in ((16, 24), (w - S - 16, h - S - 24)):  # opposite corners: both axes move
            rgb, heat = cam_for_photo(lite2, _square_photo(x0, y0), WHOLE, (h, w), "square", 0)
            near = np.zeros((h, w), bool)
            near[max(0, y0 - 32):y0 + S + 32, max(0, x0 - 32):x0 + S + 32] = True  # one cell around it
            share = heat[near].sum() / heat.sum()
            assert share > 0.5, (x0, y0, share, near.mean())
            cx, cy = (heat * xx).sum() / heat.sum(), (heat * yy).sum() / heat.sum()
            assert (cx < w / 2) == (x0 < w / 2) and (cy < h / 2) == (y0 < h / 2), (x0, y0, cx, cy)
            anti = grad_cam(lite2, prepare_image(_square_photo(x0, y0), WHOLE, (h, w), cfg), "square", 1)
            assert anti[near].sum() <= 0.2 * max(anti.sum(), 1e-9)
    finally:
        del lite2.heads["square"]


@pytest.mark.skipif(not PHOTO.is_file(), reason=f"prepared data not found at {PHOTO}")
def test_heat_lies_on_the_person_in_a_real_photo(lite2):
    classifier = create_backbone("tf_efficientnet_lite2", pretrained=True).classifier
    rows = [834, 610]  # ImageNet 'suit', 'jersey, T-shirt'
    head = nn.Linear(classifier.in_features, len(rows))
    with torch.no_grad():
        head.weight.copy_(classifier.weight[rows])
        head.bias.copy_(classifier.bias[rows])
    lite2.heads["imagenet"] = head
    try:
        rgb, heat = cam_for_photo(lite2, Image.open(PHOTO).convert("RGB"), WHOLE, (390, 260), "imagenet", 0)
    finally:
        del lite2.heads["imagenet"]
    assert rgb.shape == (390, 260, 3) and heat.shape == (390, 260)
    columns = heat.sum(axis=0) / heat.sum()
    quarter = heat.shape[1] // 4
    centre = columns[quarter:-quarter].sum()
    assert centre > 0.65, centre  # the central half of the columns (the person) holds most of the heat
    assert overlay(rgb, heat).shape == (390, 260, 3)
