"""Backbones: torchvision shim, bundled ImageNet weights, real-photo recognition, hub errors.

Run: NO_ALBUMENTATIONS_UPDATE=1 HF_HUB_OFFLINE=1 .venv/bin/python -m pytest tests/vision/test_backbones.py -q
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import fashionkit  # noqa: F401  (first: installs the torchvision shim where needed)

torch.set_num_threads(2)

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"
# 12 photos, evenly spaced over each dataset (no hand picking): CCP 0001..1751, CAD 000001..001551.
PHOTOS = [DATA / "ccp" / "images" / f"{i:04d}.jpg" for i in range(1, 2099, 350)] + [
    DATA / "cad" / "images" / f"{i:06d}.jpg" for i in range(1, 1857, 310)
]

# Clothing-related ImageNet-1k classes: index -> first name in timm's ImageNetInfo
# (checked against it in test_clothing_classes_match_imagenet_names).
CLOTHING_CLASSES = {
    399: "abaya",
    400: "academic gown",
    411: "apron",
    414: "backpack",
    445: "bikini",
    452: "bonnet",
    457: "bow tie",
    459: "brassiere",
    474: "cardigan",
    501: "cloak",
    502: "clog",
    514: "cowboy boot",
    515: "cowboy hat",
    568: "fur coat",
    578: "gown",
    601: "hoopskirt",
    608: "jean",
    610: "jersey",
    614: "kimono",
    617: "lab coat",
    630: "Loafer",
    636: "mailbag",
    638: "maillot",
    639: "maillot",
    652: "military uniform",
    655: "miniskirt",
    658: "mitten",
    667: "mortarboard",
    689: "overskirt",
    697: "pajama",
    735: "poncho",
    748: "purse",
    770: "running shoe",
    774: "sandal",
    775: "sarong",
    806: "sock",
    808: "sombrero",
    824: "stole",
    834: "suit",
    836: "sunglass",
    837: "sunglasses",
    841: "sweatshirt",
    842: "swimming trunks",
    869: "trench coat",
    887: "vestment",
    903: "wig",
    906: "Windsor tie",
}
CHANCE_TOP5 = 5 * len(CLOTHING_CLASSES) / 1000  # ~0.235: a top-5 of random classes
CHANCE_MASS = len(CLOTHING_CLASSES) / 1000  # ~0.047: a uniform softmax
MIN_TOP5_FRACTION = 0.8
MIN_MASS = 0.25  # > 5x chance; a random model stays near CHANCE_MASS whatever its seed


# ---------------------------------------------------------------- (a) timm works


def test_timm_tiny_forward():
    import timm
    import torchvision  # noqa: F401  (must import next to the CPU torch)

    model = timm.create_model("tf_efficientnet_lite0", pretrained=False, num_classes=10).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 10)
    assert torch.isfinite(out).all()


# ---------------------------------------------------------------- (b) shim


def test_shim_leaves_torchvision_importable_and_is_idempotent():
    import timm  # noqa: F401
    import torchvision  # noqa: F401

    from fashionkit.vision import torchvision_shim

    lib_before = torchvision_shim._LIB
    assert hasattr(torch.ops.torchvision, "nms") and hasattr(torch.ops.torchvision, "qnms")
    assert torchvision_shim.ensure_torchvision() is False  # ops exist now: nothing to do
    assert torchvision_shim._LIB is lib_before


def test_shim_inert_where_ops_already_exist():
    """A fresh interpreter in which the ops are already defined (as a working torchvision
    extension would do): importing fashionkit must register nothing."""
    code = textwrap.dedent(
        """
        import torch
        lib = torch.library.Library("torchvision", "FRAGMENT")
        lib.define("nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        lib.define("qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor")
        import fashionkit
        from fashionkit.vision import torchvision_shim
        assert torchvision_shim._LIB is None, "shim registered schemas although the ops existed"
        assert torchvision_shim.ensure_torchvision() is False
        print("inert")
        """
    )
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == "inert"


# ---------------------------------------------------------------- (c) bundled weights


def test_bundled_lite2_loads_strict_all_keys():
    import timm

    from fashionkit.vision.weights import bundled_state_dict

    state = bundled_state_dict("lite2")
    model = timm.create_model("tf_efficientnet_lite2", pretrained=False)
    own = model.state_dict()
    assert list(state) == list(own)  # same names, same order
    assert all(state[k].shape == own[k].shape for k in own)
    result = model.load_state_dict(state, strict=True)
    assert not result.missing_keys and not result.unexpected_keys
    assert len(state) == 386


def test_create_backbone_lite2_weights_and_data_config():
    from PIL import Image

    from fashionkit.vision.backbones import create_backbone, data_config, eval_transform
    from fashionkit.vision.weights import bundled_state_dict

    model = create_backbone("tf_efficientnet_lite2")
    state = bundled_state_dict("lite2")
    assert all(torch.equal(v, state[k]) for k, v in model.state_dict().items())

    cfg = data_config(model)
    assert cfg["mean"] == cfg["std"] == (0.5, 0.5, 0.5)
    assert cfg["interpolation"] == "bicubic"
    assert cfg["input_size"] == (3, 260, 260)
    x = eval_transform(model)(Image.new("RGB", (200, 300), (255, 255, 255)))
    assert x.shape == (3, 260, 260)
    assert torch.allclose(x, torch.ones_like(x))  # white -> (1 - 0.5) / 0.5


@pytest.mark.parametrize("num_classes", [7, 0])
def test_create_backbone_new_head_keeps_backbone_weights(num_classes):
    from fashionkit.vision.backbones import create_backbone
    from fashionkit.vision.weights import CLASSIFIER_KEYS, bundled_state_dict

    model = create_backbone("tf_efficientnet_lite2", num_classes=num_classes)
    state = bundled_state_dict("lite2")
    own = model.state_dict()
    assert set(state) - set(own) <= set(CLASSIFIER_KEYS)
    assert all(torch.equal(v, state[k]) for k, v in own.items() if k not in CLASSIFIER_KEYS)
    if num_classes:
        assert own["classifier.weight"].shape == (num_classes, 1280)
    with torch.no_grad():
        out = model.eval()(torch.randn(1, 3, 96, 96))
    assert out.shape == (1, num_classes or 1280)


# ---------------------------------------------------------------- (d) recognition on real photos


def test_clothing_classes_match_imagenet_names():
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    for index, name in CLOTHING_CLASSES.items():
        assert info.index_to_description(index).split(",")[0] == name, index


def _clothing_scores(model, batch):
    ids = torch.tensor(sorted(CLOTHING_CLASSES))
    with torch.no_grad():
        probs = model.eval()(batch).softmax(-1)
    top5 = probs.topk(5).indices
    fraction = torch.isin(top5, ids).any(dim=1).float().mean().item()
    mass = probs[:, ids].sum(dim=1).mean().item()
    return fraction, mass


def _recognises_clothing(fraction, mass):
    return fraction >= MIN_TOP5_FRACTION and mass >= MIN_MASS


def test_pretrained_recognises_clothing_random_does_not():
    missing = [p for p in PHOTOS if not p.is_file()]
    if missing:
        pytest.skip(f"real photos not available under {DATA} (missing e.g. {missing[0]})")
    from PIL import Image

    from fashionkit.vision.backbones import create_backbone, eval_transform

    pretrained = create_backbone("tf_efficientnet_lite2")
    torch.manual_seed(0)
    random_init = create_backbone("tf_efficientnet_lite2", pretrained=False)
    transform = eval_transform(pretrained)  # same data config for both
    batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in PHOTOS])

    pre_fraction, pre_mass = _clothing_scores(pretrained, batch)
    rnd_fraction, rnd_mass = _clothing_scores(random_init, batch)
    report = (
        f"{len(PHOTOS)} photos, {len(CLOTHING_CLASSES)} clothing classes; top-5 hit fraction: "
        f"pretrained {pre_fraction:.2f}, random {rnd_fraction:.2f}, chance {CHANCE_TOP5:.2f}; "
        f"mean clothing probability: pretrained {pre_mass:.3f}, random {rnd_mass:.3f}, chance {CHANCE_MASS:.3f}"
    )
    print(report)
    assert _recognises_clothing(pre_fraction, pre_mass), report
    assert pre_fraction >= 3 * CHANCE_TOP5, report
    # A random model predicts nearly the same classes for every photo, so its top-5 hit
    # fraction is 0 or 1-ish depending on the seed; its clothing probability stays at chance.
    assert not _recognises_clothing(rnd_fraction, rnd_mass), report
    assert rnd_mass < 2 * CHANCE_MASS, report


# ---------------------------------------------------------------- (e) hub models offline


def test_hub_model_offline_raises_clear_error(monkeypatch):
    import huggingface_hub.constants

    from fashionkit.vision.backbones import create_backbone

    # Force offline mode even if the variable was not set, so this fails fast instead of retrying.
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    with pytest.raises(RuntimeError, match="offline hub loading failed") as info:
        create_backbone("efficientnet_b4", pretrained=True)
    assert "tf_efficientnet_lite2" in str(info.value)
