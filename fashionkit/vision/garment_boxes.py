"""Where the garments are, from a map of group shares: garment boxes of a photo (no torch).

:mod:`fashionkit.vision.localise` predicts, for every 8x8-pixel cell of a photo letter-boxed into a
fixed canvas, the share of each garment group (:data:`GROUPS`).  This module holds what
turns such a map into boxes: the canvas geometry (:func:`to_canvas`,
:func:`photo_cells`), the mass-quantile box of a mask (:func:`mask_box`) and the rules
with their fallbacks (:class:`BoxRules`, :func:`garment_boxes`: garment, then part of a
one-piece, then the fixed box of the frame).  It is numpy / PIL only so that the deployed
command line (:mod:`fashionkit.serve.deploy`) finds boxes without importing torch;
:mod:`fashionkit.vision.localise` imports it, and both paths run this same code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from fashionkit.vision.crops import normalised_chw

__all__ = ["GROUPS", "GROUP_NAMES", "GARMENTS", "FIXED_BOXES", "STRIDE", "to_canvas", "canvas_array", "mask_box", "photo_cells", "BoxRules", "garment_boxes"]

# group name -> CCP label names; "background" takes "null", "other" every label not listed.
GROUPS: dict[str, tuple[str, ...]] = {
    "background": ("null",),
    "skin_hair": ("skin", "hair"),
    "inner_top": ("blouse", "bodysuit", "bra", "shirt", "sweater", "sweatshirt", "t-shirt", "top"),
    "outerwear": ("blazer", "cape", "cardigan", "coat", "hoodie", "jacket", "suit", "vest"),
    "bottom": ("jeans", "leggings", "pants", "shorts", "skirt"),
    "one_piece": ("dress", "jumper", "romper", "swimwear"),
    "footwear": ("boots", "clogs", "flats", "heels", "loafers", "pumps", "sandals", "shoes", "sneakers",
                 "socks", "wedges"),
    "other": (),
}
GROUP_NAMES: tuple[str, ...] = tuple(GROUPS)
# The groups that make up each garment a model reads.
GARMENTS: dict[str, tuple[str, ...]] = {"top": ("inner_top", "outerwear"), "bottom": ("bottom",)}
# The fixed boxes of the frame (crops.UPPER_BODY / LOWER_BODY): the fallback and the reference.
FIXED_BOXES: dict[str, tuple[float, float, float, float]] = {
    "top": (0.18, 0.12, 0.82, 0.62), "bottom": (0.12, 0.38, 0.88, 1.0)}
STRIDE = 8  # output cell size in canvas pixels


# --------------------------------------------------------------------------- geometry


def _canvas_geometry(size: tuple[int, int], canvas: tuple[int, int]) -> tuple[float, float, float]:
    """``(scale, pad_x, pad_y)`` of a photo of ``size`` (w, h) letter-boxed into ``canvas`` (h, w)."""
    w, h = size
    ch, cw = canvas
    scale = min(cw / w, ch / h)
    return scale, (cw - w * scale) / 2, (ch - h * scale) / 2


def to_canvas(img: Image.Image, canvas: tuple[int, int], fill, resample=Image.BICUBIC) -> Image.Image:
    """Letter-box ``img`` into a ``canvas`` (height, width), centred, padded with ``fill``."""
    scale, px, py = _canvas_geometry(img.size, canvas)
    w, h = max(1, round(img.width * scale)), max(1, round(img.height * scale))
    out = Image.new(img.mode, (canvas[1], canvas[0]), fill)
    out.paste(img.resize((w, h), resample), (round(px), round(py)))
    return out

def canvas_array(img: Image.Image, canvas: tuple[int, int], mean, std) -> np.ndarray:
    """The segmenter's input: ``img`` letter-boxed into ``canvas`` (height, width), padded with
    the mean colour, normalised; float32 ``(3, H, W)``."""

    fill = tuple(int(round(255 * m)) for m in np.asarray(mean, dtype=np.float32))
    return normalised_chw(to_canvas(img.convert("RGB"), tuple(canvas), fill), mean, std)


def mask_box(mask: np.ndarray, min_share: float = 0.002, trim: float = 0.01) -> tuple[float, float, float, float] | None:
    """Relative box ``(l, t, r, b)`` of the true pixels of ``mask`` (2-D bool or weights).

    The extent is taken between the ``trim`` and ``1 - trim`` quantiles of the mass along
    each axis, so a few stray pixels do not stretch it; ``None`` when less than
    ``min_share`` of the image is covered.
    """
    m = np.asarray(mask, dtype=np.float64)
    total = m.sum()
    if total < min_share * m.size or total <= 0:
        return None
    h, w = m.shape

    def extent(profile, n):
        c = np.cumsum(profile) / profile.sum()
        lo = int(np.searchsorted(c, trim, side="right"))  # first row / column past the lower tail
        hi = int(np.searchsorted(c, 1 - trim - 1e-9))      # the one that completes the upper quantile
        return lo / n, min(n, hi + 1) / n

    left, right = extent(m.sum(axis=0), w)
    top, bottom = extent(m.sum(axis=1), h)
    return left, top, right, bottom


def photo_cells(shares: np.ndarray, size: tuple[int, int], canvas: tuple[int, int], partial: bool = False):
    """The cells of a share map ``(G, h, w)`` that show the photo of ``size`` (w, h), not the
    letter-box padding of ``canvas`` (h, w).  ``partial`` keeps a cell that is partly photo
    (the box rules, which must not cut a garment at the border); otherwise the edges are rounded."""
    ch, cw = canvas
    _, px, py = _canvas_geometry(size, canvas)
    h, w = shares.shape[1:]
    lo, hi = (np.floor, np.ceil) if partial else (np.round, np.round)
    x0, x1 = int(lo(px / cw * w)), int(hi((cw - px) / cw * w))
    y0, y1 = int(lo(py / ch * h)), int(hi((ch - py) / ch * h))
    return shares[:, y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)]


def _expand(box, margin: float):
    l, t, r, b = box
    mw, mh = (r - l) * margin, (b - t) * margin
    return (max(0.0, l - mw), max(0.0, t - mh), min(1.0, r + mw), min(1.0, b + mh))


# --------------------------------------------------------------------------- boxes from a group map


@dataclass(frozen=True)
class BoxRules:
    """How a group-share map becomes garment boxes (all thresholds are shares of the photo)."""

    threshold: float = 0.4      # a cell belongs to a garment when its share is at least this
    min_share: float = 0.004    # a garment covering less of the photo is "not found"
    person_share: float = 0.01  # skin and hair below this: "no person"
    margin: float = 0.08        # added on each side, as a fraction of the box's width / height
    trim: float = 0.01          # mass quantiles that bound a box (see mask_box)


def garment_boxes(shares: np.ndarray, size: tuple[int, int], canvas: tuple[int, int],
                  rules: BoxRules = BoxRules()) -> dict:
    """Boxes of one photo from its group-share map ``shares`` (G, h, w) on the canvas.

    ``size`` is the photo's (width, height), ``canvas`` the letter-box (height, width) the
    map was computed on.  Returns ``{top, bottom: (l, t, r, b) relative to the photo,
    top_source, bottom_source: "garment" | "one-piece" | "fixed", person: bool, note}``.
    """
    g = {name: i for i, name in enumerate(GROUP_NAMES)}
    inside = photo_cells(shares, size, canvas, partial=True)

    def found(groups):
        m = sum(inside[g[name]] for name in groups)
        return mask_box(m * (m >= rules.threshold), rules.min_share, rules.trim)

    person = float(inside[g["skin_hair"]].mean()) >= rules.person_share
    out, notes = {"person": person}, []
    one_piece = found(("one_piece",))
    for garment, part in (("top", (0.0, 0.55)), ("bottom", (0.4, 1.0))):
        box = found(GARMENTS[garment])
        source = "garment"
        if box is None and one_piece is not None:
            l, t, r, b = one_piece
            box, source = (l, t + part[0] * (b - t), r, t + part[1] * (b - t)), "one-piece"
            notes.append(f"no {garment} garment found: part of the one-piece")
        if box is None:
            box, source = FIXED_BOXES[garment], "fixed"
            notes.append(f"no {garment} garment found: fixed box of the frame")
        else:
            box = _expand(box, rules.margin)
        out[garment], out[f"{garment}_source"] = tuple(round(float(v), 4) for v in box), source
    if not person:
        notes.append("no person found: the garments' own boxes")
    out["note"] = "; ".join(notes)
    return out


def garment_shown(source: str) -> bool:
    """Whether a box's ``*_source`` (:func:`garment_boxes`) says the garment is in the photo: found on a
    garment or on a one-piece; a ``fixed`` box is the frame's fallback, nothing found there."""
    return source != "fixed"
