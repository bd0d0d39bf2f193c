"""Augmentation recipes as data, built into albumentations pipelines.

A *recipe* is a plain dict of settings (:data:`RECIPES` names the study's; a params YAML
can carry its own dict).  :func:`build` turns one into an ``albumentations.Compose``;
:func:`augment_image` applies it to one PIL image, deterministically for a given seed,
which is how augmented views are cached (the caller passes a per-photo seed, e.g.
:func:`view_seed` of the photo's row and the view's name).

Recipe keys (all optional; a missing key means "not applied"):

``hflip``
    probability of a left-right mirror.
``crop``
    ``{"p", "left", "right", "top", "bottom"}``: with probability ``p`` cut a random
    share (up to the given fraction) off each border, a random-resized-crop-like zoom
    that keeps most of the garment.  The crop changes the image size; the later
    pad-to-aspect + resize (:func:`fashionkit.vision.features.prepare_image`) undoes that, and
    :func:`augment_image` resizes back to the input size.
``affine``
    ``{"p", "scale": (lo, hi), "translate": fraction, "rotate": degrees}``: scale,
    shift (at most ``translate`` of the width/height) and rotate (within +-``rotate``);
    uncovered corners are filled with the normalisation mean colour (``fill``), so after
    normalisation they are exactly 0, like the padding of :mod:`fashionkit.vision.features`.
``color``
    ``{"p", "brightness", "contrast", "saturation", "hue"}``: ``albumentations.ColorJitter``
    (factors drawn from ``1 +- x``; hue shift within ``+-hue`` of a full turn).

Order: crop, flip, affine, colour.  All randomness comes from the ``Compose``'s own
generator (albumentations 2.x ``seed=``), never from the global ``random`` / numpy state.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping

import albumentations as A
import cv2
import numpy as np
from PIL import Image

__all__ = ["DEFAULT_FILL", "RECIPES", "get_recipe", "mean_fill", "view_seed", "build", "augment_image"]

# Mean colour of the bundled tf_efficientnet_lite models (mean = 0.5 per channel).
DEFAULT_FILL: tuple[int, int, int] = (128, 128, 128)

RECIPES: dict[str, dict] = {
    "none": {},
    "light": {
        "hflip": 0.5,
        "affine": {"p": 0.7, "scale": (0.9, 1.1), "translate": 0.05, "rotate": 8},
        "color": {"p": 0.8, "brightness": 0.2, "contrast": 0.2, "saturation": 0.2, "hue": 0.02},
    },
    "strong": {
        "hflip": 0.5,
        # at most 10 % off each side, 8 % off top/bottom: hems and sleeves mostly stay in view
        "crop": {"p": 0.5, "left": 0.1, "right": 0.1, "top": 0.08, "bottom": 0.08},
        "affine": {"p": 0.8, "scale": (0.85, 1.15), "translate": 0.08, "rotate": 12},
        "color": {"p": 0.8, "brightness": 0.3, "contrast": 0.3, "saturation": 0.3, "hue": 0.04},
    },
}

_KEYS = {
    "hflip": None,
    "crop": {"p", "left", "right", "top", "bottom"},
    "affine": {"p", "scale", "translate", "rotate"},
    "color": {"p", "brightness", "contrast", "saturation", "hue"},
}


def get_recipe(recipe: str | Mapping) -> dict:
    """The settings of ``recipe`` (a name of :data:`RECIPES` or a dict), checked."""
    if isinstance(recipe, Mapping):
        settings = dict(recipe)
    elif isinstance(recipe, str) and recipe in RECIPES:
        settings = RECIPES[recipe]
    else:
        raise ValueError(f"unknown augmentation recipe {recipe!r}; known: {', '.join(RECIPES)} "
                         "(or pass a dict of settings)")
    unknown = sorted(set(settings) - set(_KEYS))
    if unknown:
        raise ValueError(f"unknown recipe key(s) {', '.join(unknown)}; known: {', '.join(_KEYS)}")
    for key, allowed in _KEYS.items():
        if allowed is not None and key in settings:
            extra = sorted(set(settings[key]) - allowed)
            if extra:
                raise ValueError(f"recipe[{key!r}]: unknown setting(s) {', '.join(extra)}; "
                                 f"known: {', '.join(sorted(allowed))}")
    return settings


def mean_fill(config: Mapping) -> tuple[int, int, int]:
    """The normalisation mean of a timm data config as an 8-bit RGB colour."""
    return tuple(int(round(255 * float(m))) for m in config["mean"])


def view_seed(index: int, view: str, base: int = 0) -> int:
    """A stable per-photo, per-view seed (unlike ``hash()``, the same in every process)."""
    digest = hashlib.sha1(f"{base}:{index}:{view}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def build(recipe: str | Mapping, seed: int | None = None, fill: tuple[int, int, int] = DEFAULT_FILL,
          size: tuple[int, int] | None = None) -> A.Compose:
    """An ``albumentations.Compose`` for ``recipe`` (seeded with ``seed`` when given).

    ``fill``: RGB colour of uncovered corners (use :func:`mean_fill` of the model's data
    config).  ``size``: ``(height, width)`` to resize back to after a ``crop`` (``None``:
    leave the cropped size).  Calling the same Compose again continues its random stream;
    a fresh Compose with the same seed repeats it.
    """
    settings = get_recipe(recipe)
    fill = tuple(float(c) for c in fill)
    steps: list = []
    if "crop" in settings:
        c = settings["crop"]
        steps.append(A.RandomCropFromBorders(crop_left=c.get("left", 0.0), crop_right=c.get("right", 0.0),
                                             crop_top=c.get("top", 0.0), crop_bottom=c.get("bottom", 0.0),
                                             p=c.get("p", 1.0)))
        if size is not None:
            steps.append(A.Resize(height=int(size[0]), width=int(size[1]), interpolation=cv2.INTER_AREA))
    if settings.get("hflip"):
        steps.append(A.HorizontalFlip(p=float(settings["hflip"])))
    if "affine" in settings:
        a = settings["affine"]
        t = float(a.get("translate", 0.0))
        r = float(a.get("rotate", 0.0))
        steps.append(A.Affine(scale=tuple(a.get("scale", (1.0, 1.0))), translate_percent=(-t, t), rotate=(-r, r),
                              interpolation=cv2.INTER_LINEAR, border_mode=cv2.BORDER_CONSTANT, fill=fill,
                              p=a.get("p", 1.0)))
    if "color" in settings:
        c = settings["color"]
        b, ct, s, h = (float(c.get(k, 0.0)) for k in ("brightness", "contrast", "saturation", "hue"))
        steps.append(A.ColorJitter(brightness=(1 - b, 1 + b), contrast=(1 - ct, 1 + ct),
                                   saturation=(1 - s, 1 + s), hue=(-h, h), p=c.get("p", 1.0)))
    return A.Compose(steps, seed=seed)


def augment_image(img: Image.Image, recipe: str | Mapping, seed: int,
                  fill: tuple[int, int, int] = DEFAULT_FILL) -> Image.Image:
    """One augmented copy of ``img``, the same for the same image, recipe and seed.

    Size and mode are kept (an RGB photo comes back RGB at its size; another mode is
    augmented as RGB and converted back).
    """
    mode = img.mode
    rgb = img if mode == "RGB" else img.convert("RGB")
    pipeline = build(recipe, seed=int(seed), fill=fill, size=(rgb.height, rgb.width))
    out = Image.fromarray(np.ascontiguousarray(pipeline(image=np.asarray(rgb))["image"]))
    return out if mode == "RGB" else out.convert(mode)
