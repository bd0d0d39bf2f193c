"""Views of a photo as data, and the crop that turns a photo into a model's input (no torch).

A *view* (:class:`ViewSpec`) is an optional relative crop box (or the photo's own garment
box, :mod:`fashionkit.vision.garment_boxes`), an optional horizontal flip, an optional output
size and an optional augmentation recipe.  :func:`prepare_array` crops, pads to the
target aspect with the normalisation mean (grey; never stretched), resizes with the
model's timm interpolation and normalises, returning a float32 ``(3, H, W)`` array.

This module holds only numpy / PIL code so that the deployed command line
(:mod:`fashionkit.serve.deploy`) can crop photos without importing torch; the cache and the
training path (:mod:`fashionkit.vision.features`, which wraps :func:`prepare_array` as the
tensor-returning ``prepare_image``) use the same code.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from PIL import Image

__all__ = ["ViewSpec", "WHOLE", "WHOLE_FLIP", "UPPER_BODY", "UPPER_BODY_AUG", "LOWER_BODY", "LOWER_BODY_AUG", "TOP_GARMENT", "TOP_GARMENT_AUG", "BOTTOM_GARMENT", "BOTTOM_GARMENT_AUG", "TOP_GARMENT_CUTOUT", "BOTTOM_GARMENT_CUTOUT", "BOTTOM_WHOLE_FRAME", "DEFAULT_VIEWS", "VIEWS", "view_seed", "jitter_box", "view_box", "prepare_array", "view_spec", "PLAIN", "cut_out_by_mask"]


@dataclass(frozen=True)
class ViewSpec:
    """One deterministic view of a photo.

    ``box``: relative crop ``(left, top, right, bottom)`` in 0..1 of the (upright) photo,
    ``None`` for the whole photo.  ``flip``: mirror left-right after cropping.  ``size``:
    output ``(height, width)``; ``None`` uses the ``image_size`` given to
    :func:`extract_features`.  ``augment``: the name of a recipe in
    :data:`fashionkit.vision.augment.RECIPES`, applied after cropping with a seed derived from the
    photo's file name and the view's name, so a cached augmented view is reproducible.
    ``garment``: crop the box that :mod:`fashionkit.vision.localise` found for this garment in
    this photo (passed to :func:`prepare_image` as ``box``) instead of ``box``;
    ``jitter``: move each side of that box by up to this fraction of its size (seeded like
    ``augment``), so training sees imperfect boxes.  ``cutout`` (with ``garment``): the
    garment alone, cut out by the segmenter's mask onto a plain light background and cut to
    its box (:func:`fashionkit.vision.localise.garment_cutout`, applied by
    :func:`fashionkit.vision.features.extract_features`), the background removed from a
    street photo; a photo where no garment mask is found gets the plain garment crop.
    """

    name: str
    box: tuple[float, float, float, float] | None = None
    flip: bool = False
    size: tuple[int, int] | None = None
    augment: str | None = None  # an albumentations recipe of fashionkit.vision.augment, seeded per photo
    garment: str | None = None  # "top" / "bottom": the photo's own garment box (fashionkit.vision.localise)
    jitter: float = 0.0         # random shift / scale of the garment box, as a fraction of its size
    cutout: bool = False        # the garment cut out by its predicted mask onto a plain background


WHOLE = ViewSpec("whole")
WHOLE_FLIP = ViewSpec("whole_flip", flip=True)
# Upper body of a full-length 2:3 photo.  Chosen from the CCP pixel masks: the box of the
# blouse/shirt/t-shirt pixels spans x 0.23-0.71 and y 0.16-0.59 (5th-95th percentiles
# of 493 pixel-annotated top-type photos); label-free, so it applies to any photo.
# Sizes: the box is about 165 x 190 px of a 384 px photo, so 224 x 192 keeps every source
# pixel (288 x 240 only upsampled it, at 1.6 times the cost); the bottom box (195 x 240 px)
# is read at 256 x 192.  The garment views below use the same sizes.
UPPER_BODY = ViewSpec("upper_body", box=(0.18, 0.12, 0.82, 0.62), size=(224, 192))
UPPER_BODY_AUG = ViewSpec("upper_body_aug", box=UPPER_BODY.box, size=UPPER_BODY.size, augment="light")
# Lower body of a full-length 2:3 photo: hips to feet (CCP masks put bottoms at y 0.40-0.95).
LOWER_BODY = ViewSpec("lower_body", box=(0.12, 0.38, 0.88, 1.0), size=(256, 192))
LOWER_BODY_AUG = ViewSpec("lower_body_aug", box=LOWER_BODY.box, size=LOWER_BODY.size, augment="light")
# The garment's own box, found in each photo (fashionkit.vision.localise); the _aug views jitter it.
TOP_GARMENT = ViewSpec("top_garment", garment="top", size=UPPER_BODY.size)
TOP_GARMENT_AUG = ViewSpec("top_garment_aug", garment="top", size=TOP_GARMENT.size, augment="light", jitter=0.1)
BOTTOM_GARMENT = ViewSpec("bottom_garment", garment="bottom", size=LOWER_BODY.size)
BOTTOM_GARMENT_AUG = ViewSpec("bottom_garment_aug", garment="bottom", size=BOTTOM_GARMENT.size, augment="light",
                              jitter=0.1)
# The garment cut out onto a plain light background (training only, like the _aug views):
# teaches the models to read a garment without the scene around it (it keeps the wearer's shape).
TOP_GARMENT_CUTOUT = ViewSpec("top_garment_cutout", garment="top", size=TOP_GARMENT.size, augment="light",
                              cutout=True)
BOTTOM_GARMENT_CUTOUT = ViewSpec("bottom_garment_cutout", garment="bottom", size=BOTTOM_GARMENT.size,
                                 augment="light", cutout=True)
# The whole photo at the lower-body view's size: how the bottom model reads a photo in which the top
# model finds no top (one garment photographed alone; chapter 4 chose it on validation).
BOTTOM_WHOLE_FRAME = ViewSpec("bottom_whole_frame", size=LOWER_BODY.size)
DEFAULT_VIEWS: tuple[ViewSpec, ...] = (WHOLE, WHOLE_FLIP)
# Every named view, so params can name views as data.
VIEWS: dict[str, ViewSpec] = {v.name: v for v in (WHOLE, WHOLE_FLIP, UPPER_BODY, UPPER_BODY_AUG,
                                                   LOWER_BODY, LOWER_BODY_AUG, TOP_GARMENT, TOP_GARMENT_AUG,
                                                   BOTTOM_GARMENT, BOTTOM_GARMENT_AUG, TOP_GARMENT_CUTOUT,
                                                   BOTTOM_GARMENT_CUTOUT, BOTTOM_WHOLE_FRAME)}

_RESAMPLE = {
    "bicubic": Image.BICUBIC,
    "bilinear": Image.BILINEAR,
    "nearest": Image.NEAREST,
    "lanczos": Image.LANCZOS,
    "box": Image.BOX,
    "hamming": Image.HAMMING,
}



def _pad_to_aspect(img: Image.Image, aspect: float, fill: tuple[int, int, int]) -> Image.Image:
    """Pad (centred) to width / height == ``aspect``; a photo of that aspect is unchanged."""
    w, h = img.size
    if abs(w / h - aspect) * min(w, h) < 1.0:  # within a pixel: leave it
        return img
    if w / h < aspect:
        new_w, new_h = round(h * aspect), h
    else:
        new_w, new_h = w, round(w / aspect)
    canvas = Image.new("RGB", (new_w, new_h), fill)
    canvas.paste(img, ((new_w - w) // 2, (new_h - h) // 2))
    return canvas


def view_seed(view: ViewSpec, path) -> int:
    """The augmentation seed of one photo in one view: stable across runs and subsets."""
    import zlib

    return zlib.crc32(f"{view.name}:{Path(path).name}".encode())


def jitter_box(box, amount: float, seed: int) -> tuple[float, float, float, float]:
    """``box`` with each side moved by up to ``amount`` of the box's width / height (seeded), kept in 0..1."""
    if not amount:
        return tuple(box)
    left, top, right, bottom = box
    d = np.random.default_rng(seed).uniform(-amount, amount, size=4)
    w, h = right - left, bottom - top
    left, right = max(0.0, left + d[0] * w), min(1.0, right + d[2] * w)
    top, bottom = max(0.0, top + d[1] * h), min(1.0, bottom + d[3] * h)
    if right - left < 0.02 or bottom - top < 0.02:  # a degenerate jitter keeps the box as found
        return tuple(box)
    return left, top, right, bottom


def view_box(view: ViewSpec, box=None, seed: int | None = None):
    """The relative crop of ``view`` for one photo: its fixed box, or the photo's garment ``box`` (jittered)."""
    if view.garment is None:
        return view.box
    if box is None:
        raise ValueError(f"view {view.name!r} crops the photo's {view.garment} box: pass box=")
    return jitter_box(box, view.jitter, 0 if seed is None else seed)


def prepare_array(img: Image.Image, view: ViewSpec, image_size: tuple[int, int], config: dict,
                  seed: int | None = None, box=None) -> np.ndarray:
    """An RGB PIL image -> normalised float32 array ``(3, H, W)`` for ``view``.

    Steps: crop ``view.box`` (or, for a garment view, the photo's ``box`` with
    ``view.jitter``); augment (``view.augment``, with ``seed``); pad to the target aspect
    with the mean colour; resize with the config's interpolation; flip; scale to 0..1;
    ``(x - mean) / std``.
    """
    height, width = view.size or image_size
    crop = view_box(view, box, seed)
    if crop is not None:
        left, top, right, bottom = crop
        w, h = img.size
        img = img.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
    if view.augment is not None:
        # albumentations loads torch: augmented views are training views, never predict's
        from fashionkit.vision.augment import augment_image

        img = augment_image(img, view.augment, 0 if seed is None else seed)
    mean = np.asarray(config["mean"], dtype=np.float32)
    std = np.asarray(config["std"], dtype=np.float32)
    fill = tuple(int(round(255 * m)) for m in mean)
    img = _pad_to_aspect(img, width / height, fill)
    resample = _RESAMPLE.get(str(config.get("interpolation", "bicubic")), Image.BICUBIC)
    img = img.resize((width, height), resample)
    if view.flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    return normalised_chw(img, mean, std)


def normalised_chw(img: Image.Image, mean, std) -> np.ndarray:
    """An RGB PIL image -> float32 ``(3, H, W)``, ``(x / 255 - mean) / std`` per channel.

    Channels first before the arithmetic: broadcasting a 3-vector over the last axis of an
    (H, W, 3) array runs numpy's inner loop three elements at a time, about 0.7 ms of a
    224 x 192 crop; per-channel planes give the same values (the same operations on each
    element) at a fifth of that.
    """
    mean = np.asarray(mean, dtype=np.float32).reshape(3, 1, 1)
    std = np.asarray(std, dtype=np.float32).reshape(3, 1, 1)
    arr = np.ascontiguousarray(np.asarray(img, dtype=np.float32).transpose(2, 0, 1))
    arr /= 255.0
    arr -= mean
    arr /= std
    return arr


def view_spec(name: str, view_size=None):
    """The :class:`~fashionkit.vision.crops.ViewSpec` called ``name``.

    A name in :data:`~fashionkit.vision.crops.VIEWS`, or ``<view>_flip``: that view mirrored
    left-right (e.g. ``upper_body_flip``), built here so test-time views need no entry in
    ``VIEWS``.  ``view_size`` (height, width) replaces the view's size (smoke runs).
    """
    if name in VIEWS:
        spec = VIEWS[name]
    elif name.endswith("_flip") and name.removesuffix("_flip") in VIEWS:
        base = VIEWS[name.removesuffix("_flip")]
        spec = replace(base, name=name, flip=not base.flip)
    else:
        raise KeyError(f"unknown view {name!r}; known: {', '.join(VIEWS)} and <view>_flip")
    return spec if view_size is None else replace(spec, size=tuple(view_size))


PLAIN = (240, 240, 240)  # the plain background of padded and cut-out framings


def margin_box(mask: np.ndarray, margin: float) -> tuple[int, int, int, int] | None:
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    h, w = mask.shape
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    mx, my = (x1 - x0) * margin, (y1 - y0) * margin
    return (max(0, int(x0 - mx)), max(0, int(y0 - my)), min(w, int(np.ceil(x1 + mx))), min(h, int(np.ceil(y1 + my))))


def cut_out_by_mask(img: Image.Image, garment_mask: np.ndarray, margin: float = 0.06,
                    background=PLAIN) -> Image.Image | None:
    """Only the pixels of ``garment_mask`` on a plain ``background``, cut to the mask's box with
    ``margin`` (a fraction of its size) on each side; None for an empty mask.  The ``cut_out``
    framing, and the cut-out training copy of :mod:`fashionkit.vision.features` (``ViewSpec.cutout``)."""
    box = margin_box(garment_mask, margin)
    if box is None:
        return None
    arr = np.where(garment_mask[..., None], np.asarray(img.convert("RGB")), np.array(background, dtype=np.uint8))
    return Image.fromarray(arr.astype(np.uint8)).crop(box)
