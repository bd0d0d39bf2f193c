"""What every figure of the book shares: the style, the Korean font, colours, and photo grids.

The chapters' figures are in :mod:`fashionkit.book.data_figures` (chapters 1-2),
:mod:`fashionkit.book.model_figures` (3-6) and :mod:`fashionkit.book.outfit_figures` (7).
Every figure function returns the matplotlib :class:`~matplotlib.figure.Figure` it drew, with a
title, axis labels and units ("photos", "px", "% of labelled photos").  Class and head
names are the schema's display names (:mod:`fashionkit.data.schema`); nothing here spells one.

Figures are made with ``pyplot`` so that a notebook shows them once, inline, when the cell
ends (assign the result, ``fig = data_figures.x(...)``, rather than leaving it as the cell's last
expression, or Jupyter shows it twice); a figure pasted elsewhere on the page goes through
:func:`shown_elsewhere` and is drawn only there.

``lang="ko"`` draws Korean display names with an installed CJK font or, on any machine,
NanumGothic from the pinned ``koreanize-matplotlib`` package; where neither loads it falls
back to English with a warning (matplotlib would draw empty boxes instead).

Imports: matplotlib, seaborn, numpy, PIL, :mod:`fashionkit.book.fonts` and
:func:`fashionkit.data.images.load_image`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import seaborn as sns
from matplotlib import font_manager
from PIL import Image

from fashionkit.book.fonts import bundled_korean_ttf
from fashionkit.data.images import load_image

SPLIT_COLORS = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868", "all": "#8172B3"}
SOURCE_COLORS = {"ccp": "#4C72B0", "cad": "#C44E52", "clothing": "#937860"}
SOURCE_NAMES = {"ccp": "CCP", "cad": "CAD", "clothing": "garments"}
MASK_COLORS = {1: (1.0, 0.35, 0.0), 2: (0.1, 0.45, 1.0)}  # garment orange, footwear blue
ROW_COLORS = {"head": "#2ca02c", "hem": "#d62728", "sole": "#1f77b4"}
_CJK_HINTS = ("cjk", "nanum", "malgun", "gothic", "batang", "gulim", "dotum", "unfonts", "baekmuk")


def shown_elsewhere(fig):
    """``fig``, closed so that its cell does not draw it: for a figure the page shows elsewhere (a
    chapter's Overview pastes it with ``glue``), which then is drawn once, where it is shown."""
    plt.close(fig)
    return fig


def palette(n: int) -> list[str]:
    """``n`` class colours as hex strings: tab10 up to ten classes, evenly spaced hues beyond (the maps' colours)."""
    return list(sns.color_palette("tab10" if n <= 10 else "husl", max(1, n)).as_hex())


def use_style() -> None:
    """The book's plot style (seaborn whitegrid, readable sizes)."""
    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"figure.dpi": 100, "axes.titleweight": "bold", "figure.titleweight": "bold"})


def _bundled_korean_font() -> str | None:
    """Register NanumGothic from the ``koreanize-matplotlib`` package (a pinned dependency that
    ships the font, :func:`fashionkit.book.fonts.bundled_korean_ttf`); its name, or None."""

    ttf = bundled_korean_ttf()
    if ttf is None:
        return None
    font_manager.fontManager.addfont(str(ttf))
    return font_manager.FontProperties(fname=str(ttf)).get_name()


def cjk_font() -> str | None:
    """Name of a font that can draw Korean: an installed one, else the bundled NanumGothic; or None."""
    for font in font_manager.fontManager.ttflist:
        if any(hint in font.name.lower() for hint in _CJK_HINTS):
            return font.name
    return _bundled_korean_font()


def resolve_lang(lang: str) -> str:
    """``lang`` if it can be drawn; ``"ko"`` without a CJK font falls back to ``"en"``."""
    if lang not in ("en", "ko"):
        raise ValueError(f"lang must be 'en' or 'ko', got {lang!r}")
    if lang == "ko":
        font = cjk_font()
        if font is None:
            warnings.warn("no CJK font installed (fc-list :lang=ko is empty) and koreanize-matplotlib's "
                          "NanumGothic not found; drawing English names",
                          UserWarning, stacklevel=3)
            return "en"
        plt.rcParams["font.family"] = [font, *plt.rcParams["font.family"]]
    return lang


def source_name(source: str) -> str:
    return SOURCE_NAMES.get(source, source)


def panel_grid(n: int, ncols: int, panel: tuple[float, float]):
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat[:n]


# ----------------------------------------------------------------------------- photos


def thumbnail(path, size: int) -> np.ndarray:
    img = load_image(path)
    img.thumbnail((size, size), Image.LANCZOS)
    return np.asarray(img)


def _as_rows(items, ncols: int) -> list[list]:
    items = list(items)
    if items and isinstance(items[0], (list, tuple)):
        return [list(r) for r in items]
    return [items[i:i + ncols] for i in range(0, len(items), ncols)]


def image_grid(paths: Sequence, titles: Sequence | None = None, ncols: int = 6,
               row_labels: Sequence[str] | None = None, title: str = "", thumb: int = 192,
               panel: tuple[float, float] = (1.9, 2.6)):
    """Photos in a grid, loaded with :func:`fashionkit.data.images.load_image`.

    ``paths`` is a flat list (wrapped after ``ncols``) or a list of rows (one row per
    class, say); ``None`` leaves a cell empty.  ``titles`` has the same shape.
    ``row_labels`` name the rows on the left.
    """
    rows = _as_rows(paths, ncols) or [[]]
    title_rows = _as_rows(titles, ncols) if titles is not None else [[None] * len(r) for r in rows]
    ncols = max([len(r) for r in rows] + [1])
    fig, axes = plt.subplots(max(1, len(rows)), ncols, figsize=(panel[0] * ncols + 1.0, panel[1] * max(1, len(rows))),
                             squeeze=False)
    for r, row in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            ax.grid(False)
            path = row[c] if c < len(row) else None
            if path is not None:
                ax.imshow(thumbnail(path, thumb))
                t = title_rows[r][c] if r < len(title_rows) and c < len(title_rows[r]) else None
                if t:
                    ax.set_title(str(t), fontsize=8, fontweight="normal")
            elif c == 0:
                ax.text(0.5, 0.5, "no photo", ha="center", va="center", color="0.5", transform=ax.transAxes)
        if row_labels is not None and r < len(row_labels):
            axes[r, 0].set_ylabel(row_labels[r], fontsize=11, fontweight="bold")
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_panels(images: Sequence, titles: Sequence[str], ncols: int = 6, title: str = "",
                 panel: tuple[float, float] = (2.3, 3.2)):
    """Decoded photos (PIL) side by side, each with its title."""
    fig, axes = panel_grid(max(1, len(images)), ncols, panel)
    for ax, img, name in zip(axes, images, titles):
        ax.imshow(np.asarray(img.convert("RGB")))
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
