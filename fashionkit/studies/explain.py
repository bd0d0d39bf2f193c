"""Where the model looked: Grad-CAM heatmaps for one attribute head.

Grad-CAM (Selvaraju et al., 2017) on the last spatial map of an
:class:`~fashionkit.vision.models.AttributeNet` -- the output of ``net.upper.forward_spatial``,
i.e. ``bn2(conv_head(...))`` just before global pooling.  For a chosen class ``c`` of
one head, with that map ``A`` (``K`` channels, ``h x w``) and the class logit ``y_c``::

    alpha_k = mean_ij  d y_c / d A_k(i, j)          # one weight per channel
    cam     = ReLU( sum_k alpha_k A_k )              # h x w
    heatmap = normalise( bilinear_upsample(cam, H x W) ) in [0, 1]

With average pooling and a linear head, ``alpha_k`` is the head's weight ``w_ck`` divided
by ``h*w``, so the map is the class-activation map of Zhou et al. (2016); Grad-CAM is
written generally so that it stays right if the pooling or the head change.

The frozen trunk has ``requires_grad`` off; the gradient is only needed at the upper
map, so the frozen output is detached and marked ``requires_grad`` explicitly (which
also makes it work for an upper half with no trainable parameters).  Gradients are taken
with :func:`torch.autograd.grad`, so no parameter ``.grad`` is touched, and the net runs
in eval mode for the call (BatchNorm running statistics are not updated, dropout is
off) with every module's train/eval flag restored afterwards.
"""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

from fashionkit.data.images import load_image
from fashionkit.vision.crops import ViewSpec
from fashionkit.vision.features import prepare_image

__all__ = ["grad_cam_batch", "grad_cam", "unnormalise", "cam_for_photo", "overlay", "gallery_cams"]

_EPS = 1e-8


def _device_dtype(net: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in net.parameters():
        return p.device, p.dtype
    return torch.device("cpu"), torch.float32


def grad_cam_batch(net: nn.Module, images: torch.Tensor, head: str,
                   class_index: int | Sequence[int] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Grad-CAM for a batch ``(B, 3, H, W)``: ``(heatmaps (B, H, W) in [0, 1], classes (B,))``.

    ``class_index``: one class for every image, one per image, or ``None`` for each
    image's predicted (arg-max) class of ``head``.  See :func:`grad_cam`.
    """
    if head not in net.heads:
        raise KeyError(f"unknown head {head!r}; the net has {', '.join(net.heads)}")
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"images must be (B, 3, H, W), got {tuple(images.shape)}")
    height, width = images.shape[-2:]
    device, dtype = _device_dtype(net)
    modes = {m: m.training for m in net.modules()}
    net.eval()
    try:
        # inference_mode(False): works even when called inside torch.inference_mode()
        with torch.inference_mode(False), torch.enable_grad():
            x = images.detach().clone().to(device=device, dtype=dtype)
            with torch.no_grad():
                maps = net.frozen(x)
            maps = maps.detach().clone().requires_grad_(True)
            spatial = net.upper.forward_spatial(maps)  # (B, K, h, w)
            pooled = net.upper.pool(spatial, maps)
            logits = net.heads[head](net.dropout(pooled))  # (B, n_classes)
            n = logits.shape[0]
            if class_index is None:
                classes = logits.detach().argmax(dim=1)
            else:
                classes = torch.as_tensor(class_index, dtype=torch.long, device=logits.device).reshape(-1)
                if classes.numel() == 1:
                    classes = classes.expand(n)
                if classes.numel() != n:
                    raise ValueError(f"class_index has {classes.numel()} entries for {n} images")
                bad = (classes < 0) | (classes >= logits.shape[1])
                if bool(bad.any()):
                    raise IndexError(f"class_index out of range 0..{logits.shape[1] - 1} for head {head!r}")
            # rows are independent (eval mode), so the sum's gradient is each row's own
            score = logits.gather(1, classes.view(-1, 1)).sum()
            (grads,) = torch.autograd.grad(score, spatial)
        with torch.no_grad():
            weights = grads.mean(dim=(2, 3), keepdim=True)  # alpha_k, (B, K, 1, 1)
            cam = F.relu((weights * spatial.detach()).sum(dim=1, keepdim=True))  # (B, 1, h, w)
            cam = F.interpolate(cam.float(), size=(height, width), mode="bilinear", align_corners=False)
            cam = cam[:, 0]
            lo = cam.amin(dim=(1, 2), keepdim=True)
            span = cam.amax(dim=(1, 2), keepdim=True) - lo
            flat = ~torch.isfinite(span) | (span <= _EPS)  # constant (e.g. all zero) map -> zeros
            cam = torch.where(flat, torch.zeros_like(cam), (cam - lo) / span.clamp_min(_EPS))
            cam = torch.nan_to_num(cam, nan=0.0, posinf=0.0, neginf=0.0).clamp_(0.0, 1.0)
    finally:
        for module, mode in modes.items():
            module.training = mode
    return cam.cpu().numpy().astype(np.float32), classes.cpu().numpy()


def grad_cam(net: nn.Module, image: torch.Tensor, head: str, class_index: int | None = None) -> np.ndarray:
    """Grad-CAM heatmap ``(H, W)`` in ``[0, 1]`` of one normalised image ``(3, H, W)``.

    ``head``: a key of ``net.heads``; ``class_index``: the class of that head to explain
    (default: the predicted class).  The map is taken at ``net.upper.forward_spatial``
    (the last map before pooling), upsampled bilinearly to ``H x W`` and min-max
    normalised; a constant map (e.g. no positive evidence at all) gives zeros, never NaN.
    The net's train/eval flags and its parameters' ``.grad`` are left as they were.
    """
    if image.ndim == 4 and image.shape[0] == 1:
        image = image[0]
    if image.ndim != 3:
        raise ValueError(f"image must be (3, H, W), got {tuple(image.shape)}")
    heatmaps, _ = grad_cam_batch(net, image.unsqueeze(0), head, class_index)
    return heatmaps[0]


def unnormalise(tensor: torch.Tensor, config: dict) -> np.ndarray:
    """A normalised image ``(3, H, W)`` back to RGB ``uint8`` ``(H, W, 3)`` (``config``: mean, std)."""
    mean = np.asarray(config["mean"], dtype=np.float32)
    std = np.asarray(config["std"], dtype=np.float32)
    arr = tensor.detach().cpu().float().numpy().transpose(1, 2, 0) * std + mean
    return np.clip(np.rint(arr * 255.0), 0, 255).astype(np.uint8)


def cam_for_photo(net: nn.Module, img: Image.Image | str | os.PathLike, view: ViewSpec,
                  image_size: tuple[int, int], head: str, class_index: int | None = None,
                  seed: int | None = None, segmenter=None) -> tuple[np.ndarray, np.ndarray]:
    """``(crop_rgb, heatmap)`` of a photo in ``view``, as the model saw it.

    The photo goes through :func:`fashionkit.vision.features.prepare_image` (crop ``view.box``,
    augment with ``seed`` if the view augments, pad to the aspect with the mean colour,
    resize to ``view.size or image_size`` = ``(height, width)``, flip), normalised with
    ``net.data_config``.  ``crop_rgb`` is that very tensor un-normalised to ``uint8``
    ``(H, W, 3)``, so it lines up pixel for pixel with ``heatmap`` ``(H, W)`` in ``[0, 1]``.
    ``img`` may also be a path (loaded with :func:`fashionkit.data.images.load_image`).
    A garment view crops the box ``segmenter`` (:class:`fashionkit.vision.localise.GarmentSegmenter`)
    finds in the photo.
    """
    if not isinstance(img, Image.Image):

        img = load_image(img)
    if img.mode != "RGB":
        img = img.convert("RGB")
    config = dict(getattr(net, "data_config", None) or getattr(net.frozen, "data_config", {}))
    if not {"mean", "std"} <= set(config):
        raise ValueError("the net has no data config (mean, std); build it with fashionkit.vision.models.create_model")
    box = None
    if view.garment is not None:
        if segmenter is None:
            raise ValueError(f"view {view.name!r} crops the {view.garment} garment: pass segmenter=")
        box = segmenter.boxes([img])[view.garment].iloc[0]
    tensor = prepare_image(img, view, tuple(image_size), config, seed, box)
    heatmap = grad_cam(net, tensor, head, class_index)
    return unnormalise(tensor, config), heatmap


def overlay(rgb: np.ndarray, heatmap: np.ndarray, alpha: float = 0.45, cmap: str = "jet") -> np.ndarray:
    """Blend ``heatmap`` (``H x W`` in [0, 1], coloured with the matplotlib ``cmap``) over ``rgb``.

    Returns ``uint8`` ``(H, W, 3)`` = ``(1 - alpha) * rgb + alpha * cmap(heatmap)``.  A
    heatmap of another size is resized (bilinear) to the photo's; ``rgb`` may be
    ``uint8`` 0..255 or float 0..1, grey ``(H, W)`` or RGBA.
    """
    import matplotlib

    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] not in (3, 4):
        raise ValueError(f"rgb must be (H, W, 3), got {rgb.shape}")
    rgb = rgb[..., :3]
    base = rgb.astype(np.float32) / (255.0 if rgb.dtype == np.uint8 or rgb.max() > 1.0 else 1.0)
    heat = np.nan_to_num(np.asarray(heatmap, dtype=np.float32), nan=0.0)
    if heat.shape != rgb.shape[:2]:
        resized = Image.fromarray(heat, mode="F").resize((rgb.shape[1], rgb.shape[0]), Image.BILINEAR)
        heat = np.asarray(resized, dtype=np.float32)
    colours = matplotlib.colormaps[cmap](np.clip(heat, 0.0, 1.0))[..., :3].astype(np.float32)
    alpha = float(np.clip(alpha, 0.0, 1.0))
    out = (1.0 - alpha) * base + alpha * colours
    return np.clip(np.rint(out * 255.0), 0, 255).astype(np.uint8)


def gallery_cams(picks, head, net: nn.Module, paths, view: ViewSpec, image_size, per_kind: int,
                 segmenter=None) -> list[dict]:
    """Rows for :func:`fashionkit.book.model_figures.cam_panels` from chapter 6's gallery picks of ``head``
    (a :class:`~fashionkit.data.schema.Head`): the first ``per_kind`` mistakes, then as many correct
    answers; each row holds the crop, the heatmap of the model's answer and, for a mistake,
    of the true class.  ``paths`` maps an image id to its file."""
    rows = []
    chosen = picks[picks["head"] == head.key].groupby("kind", sort=False).head(per_kind)
    for r in chosen.itertuples():
        classes = [(f"CAM: {head.display(r.predicted)} (answer)", r.predicted)]
        if r.kind == "mistake":
            classes.append((f"CAM: {head.display(r.true)} (true)", r.true))
        maps = {}
        for label, name in classes:
            crop, heat = cam_for_photo(net, paths[r.image], view, image_size, head.key, head.index(name),
                                       segmenter=segmenter)
            maps[label] = overlay(crop, heat)
        rows.append({"crop": crop, "overlays": maps, "ok": r.kind == "correct",
                     "title": f"{r.image}\ntrue: {head.display(r.true)}\npred: {head.display(r.predicted)} "
                              f"({100 * r.confidence:.0f}%)"})
    return rows
