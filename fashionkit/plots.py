"""Figures for the book, drawn from arrays and DataFrames.

Every function returns the matplotlib :class:`~matplotlib.figure.Figure` it drew, with a
title, axis labels and units ("photos", "px", "% of labelled photos").  Class and head
names are the schema's display names (:mod:`fashionkit.schema`); nothing here spells one.

Figures are made with ``pyplot`` so that a notebook shows them once, inline, when the cell
ends (assign the result, ``fig = plots.x(...)``, rather than leaving it as the cell's last
expression, or Jupyter shows it twice).

``lang="ko"`` draws Korean display names with an installed CJK font or, on any machine,
NanumGothic from the pinned ``koreanize-matplotlib`` package; where neither loads it falls
back to English with a warning (matplotlib would draw empty boxes instead).

Imports: matplotlib, seaborn, numpy, pandas, PIL, :mod:`fashionkit.schema` and
:func:`fashionkit.images.load_image` (which imports nothing of ours).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import font_manager
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image

from .images import load_image
from .schema import get_head, heads

SPLIT_COLORS = {"train": "#4C72B0", "val": "#DD8452", "test": "#55A868", "all": "#8172B3"}
SOURCE_COLORS = {"ccp": "#4C72B0", "cad": "#C44E52"}
SOURCE_NAMES = {"ccp": "CCP", "cad": "CAD"}
MASK_COLORS = {1: (1.0, 0.35, 0.0), 2: (0.1, 0.45, 1.0)}  # garment orange, footwear blue
ROW_COLORS = {"head": "#2ca02c", "hem": "#d62728", "sole": "#1f77b4"}
_CJK_HINTS = ("cjk", "nanum", "malgun", "gothic", "batang", "gulim", "dotum", "unfonts", "baekmuk")


def use_style() -> None:
    """The book's plot style (seaborn whitegrid, readable sizes)."""
    sns.set_theme(style="whitegrid", context="notebook")
    plt.rcParams.update({"figure.dpi": 100, "axes.titleweight": "bold", "figure.titleweight": "bold"})


def _bundled_korean_font() -> str | None:
    """Register NanumGothic from the ``koreanize-matplotlib`` package (a pinned dependency that
    ships the font, :func:`fashionkit.fonts.bundled_korean_ttf`); its name, or None."""
    from .fonts import bundled_korean_ttf

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


def _source_name(source: str) -> str:
    return SOURCE_NAMES.get(source, source)


def _grid(n: int, ncols: int, panel: tuple[float, float]):
    ncols = max(1, min(ncols, n))
    nrows = max(1, math.ceil(n / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(panel[0] * ncols, panel[1] * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes.flat[:n]


# ----------------------------------------------------------------------------- class counts


def class_count_bars(counts: pd.DataFrame, head: str, source: str | None = None, ax=None,
                     lang: str = "en", value: str = "share"):
    """Bars per class, one bar per split, for one head (and one source) of ``audit.class_counts``.

    ``value="share"`` plots % of the split's labelled photos (splits of different size side
    by side), ``"n"`` plots photos.  Classes without data are marked "no data".
    """
    lang = resolve_lang(lang)
    h = get_head(head)
    part = counts[counts["head"] == head]
    if source is not None:
        part = part[part["source"] == source]
    standalone = ax is None
    if standalone:
        fig, ax = plt.subplots(figsize=(6, 4))
    fig = ax.figure
    classes = list(h.names) + [c.name for c in h.no_data]
    splits = [s for s in SPLIT_COLORS if s in set(part["split"])]
    width = 0.8 / max(1, len(splits))
    x = np.arange(len(classes))
    totals, class_n = {}, pd.Series(0, index=classes)
    for i, split in enumerate(splits):
        rows = part[part["split"] == split].groupby("class")[["n"]].sum().reindex(classes, fill_value=0)["n"]
        totals[split] = total = int(rows.sum())
        class_n += rows
        heights = 100.0 * rows / total if value == "share" and total else rows.astype(float)
        ax.bar(x + (i - (len(splits) - 1) / 2) * width, heights.values, width,
               color=SPLIT_COLORS[split], label=split)
    for j, name in enumerate(classes):
        note = "no data" if name not in h.names else ("0 photos" if class_n[name] == 0 else None)
        if note:
            ax.text(x[j], 0.03, note, rotation=90, ha="center", va="bottom", color="0.4", fontsize=9,
                    transform=ax.get_xaxis_transform())
    ax.set_xticks(x, [h.display(c, lang) for c in classes], rotation=30, ha="right", rotation_mode="anchor")
    for tick, name in zip(ax.get_xticklabels(), classes):
        if name not in h.names:
            tick.set_color("0.45")
    ax.grid(False, axis="x")
    ax.set_ylim(0, ax.get_ylim()[1] * 1.05)
    where = f" ({_source_name(source)})" if source else ""
    ax.set_title(f"{h.title(lang)}{where}", pad=16)
    ax.text(0.5, 1.015, "labelled: " + " / ".join(f"{s} {n:,}" for s, n in totals.items()),
            transform=ax.transAxes, ha="center", va="bottom", fontsize=8, color="0.3")
    ax.set_xlabel("class")
    ax.set_ylabel("% of labelled photos" if value == "share" else "photos")
    if standalone:
        ax.legend(title="split", fontsize=8, title_fontsize=8)
    return fig


def class_count_panels(counts: pd.DataFrame, ncols: int = 3, lang: str = "en", value: str = "share"):
    """One :func:`class_count_bars` panel per head with data and source that labels it."""
    present = set(counts["source"])
    pairs = [(h.key, s) for h in heads() for s in h.sources if s in present]
    fig, axes = _grid(len(pairs), ncols, (5.2, 4.2))
    for ax, (head, source) in zip(axes, pairs):
        class_count_bars(counts, head, source, ax=ax, lang=lang, value=value)
    fig.suptitle("Class balance per head and split" + (" (% of each split's labelled photos)" if value == "share" else ""))
    splits = [s for s in SPLIT_COLORS if s in set(counts["split"])]
    fig.tight_layout(rect=(0, 0, 1, 0.97))
    fig.legend(handles=[Patch(color=SPLIT_COLORS[s], label=s) for s in splits], title="split",
               loc="upper right", ncols=len(splits), fontsize=9, title_fontsize=9, frameon=False)
    return fig


# ----------------------------------------------------------------------------- missing labels


def missing_rates(frame: pd.DataFrame):
    """Horizontal bars of % photos without a label, per head and source (``audit.missing_rates``)."""
    frame = frame.reset_index(drop=True)
    labels = [f"{r['name']} ({_source_name(r['source'])})" for _, r in frame.iterrows()]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(frame) + 1.5))
    y = np.arange(len(frame))
    ax.barh(y, frame["missing %"], color=[SOURCE_COLORS.get(s, "0.5") for s in frame["source"]])
    for yi, (_, r) in zip(y, frame.iterrows()):
        ax.text(r["missing %"] + 1, yi, f"{r['missing']:,} of {r['photos']:,}", va="center", fontsize=9)
    ax.set_yticks(y, labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 115)
    ax.set_xlabel("% of the source's photos without a label")
    ax.set_ylabel("head (source)")
    ax.set_title("Missing labels per head")
    ax.legend(handles=[Patch(color=c, label=_source_name(s)) for s, c in SOURCE_COLORS.items()
                       if s in set(frame["source"])], title="source", loc="lower right")
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- co-occurrence


def cooccurrence_heatmap(table: pd.DataFrame, title: str | None = None, lang: str = "en"):
    """Annotated heatmap of a class x class count table (``audit.cooccurrence``).

    The index and column names are head keys; cells are photos.
    """
    lang = resolve_lang(lang)
    rows, cols = get_head(table.index.name), get_head(table.columns.name)
    shown = table.copy()
    shown.index = [rows.display(c, lang) for c in table.index]
    shown.columns = [cols.display(c, lang) for c in table.columns]
    fig, ax = plt.subplots(figsize=(1.3 * len(shown.columns) + 3, 0.8 * len(shown) + 2))
    sns.heatmap(shown, annot=True, fmt="d", cmap="Blues", linewidths=0.5, ax=ax,
                cbar_kws={"label": "photos"})
    ax.set_xlabel(cols.title(lang))
    ax.set_ylabel(rows.title(lang))
    ax.set_title(title or f"{rows.title(lang)} x {cols.title(lang)} (photos labelled for both)")
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    plt.setp(ax.get_yticklabels(), rotation=0)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- sizes


def size_histograms(manifest: pd.DataFrame):
    """Width, height (px) and aspect ratio (width / height) histograms per source."""
    frame = manifest.assign(aspect=manifest["width"] / manifest["height"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    specs = [("width", "width (px)", np.arange(100, 400, 8)), ("height", "height (px)", np.arange(100, 400, 8)),
             ("aspect", "aspect ratio (width / height)", np.arange(0.3, 2.05, 0.025))]
    for ax, (col, label, bins) in zip(axes, specs):
        for source, part in frame.groupby("source", sort=False):
            ax.hist(part[col].dropna(), bins=bins, alpha=0.6, color=SOURCE_COLORS.get(source),
                    label=f"{_source_name(source)} (n={len(part):,})")
        ax.set_yscale("log")
        ax.set_xlabel(label)
        ax.set_ylabel("photos (log scale)")
        ax.set_title(f"Photo {label.split(' (')[0]}")
        ax.legend(fontsize=9)
    fig.suptitle("Photo sizes after the resize to a 384 px longest side")
    fig.tight_layout()
    return fig


def split_shares(frame: pd.DataFrame):
    """Stacked bars: each split's % of a source's photos, annotated with photo counts."""
    counts = frame.groupby(["source", "split"]).size().unstack("split", fill_value=0)
    counts = counts[[s for s in SPLIT_COLORS if s in counts.columns]]
    share = counts.div(counts.sum(axis=1), axis=0) * 100
    fig, ax = plt.subplots(figsize=(8, 0.8 * len(counts) + 1.6))
    left = np.zeros(len(counts))
    y = np.arange(len(counts))
    for split in counts.columns:
        ax.barh(y, share[split], left=left, color=SPLIT_COLORS[split], label=split)
        for yi, l, w, n in zip(y, left, share[split], counts[split]):
            ax.text(l + w / 2, yi, f"{w:.1f}%\n({n:,})", ha="center", va="center", color="white", fontsize=9)
        left += share[split].values
    ax.set_yticks(y, [f"{_source_name(s)} ({n:,} photos)" for s, n in zip(counts.index, counts.sum(axis=1))])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the source's photos")
    ax.set_ylabel("source")
    ax.set_title("Split proportions per source")
    ax.legend(ncols=len(counts.columns), loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- photos


def _thumbnail(path, size: int) -> np.ndarray:
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
    """Photos in a grid, loaded with :func:`fashionkit.images.load_image`.

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
                ax.imshow(_thumbnail(path, thumb))
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


def mask_overlay(image, mask: np.ndarray, rows: Mapping[str, int | None], title: str = "", ax=None,
                 legend: Mapping[int, str] | None = None, alpha: float = 0.5):
    """A photo with mask pixels tinted and horizontal lines at the given rows.

    ``mask`` holds codes per pixel: 0 = untouched, 1 = garment (orange), 2 = footwear
    (blue); ``legend`` names the codes.  ``rows`` maps a line name (``head``, ``hem``,
    ``sole`` ...) to a pixel row; ``None`` rows are skipped.
    """
    legend = dict(legend or {1: "garment", 2: "footwear"})
    img = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image, dtype=float) / 255.0
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    mask = np.asarray(mask)
    if mask.shape != img.shape[:2]:
        raise ValueError(f"mask shape {mask.shape} does not match the image {img.shape[:2]}")
    out = img.copy()
    for code, color in MASK_COLORS.items():
        hit = mask == code
        out[hit] = (1 - alpha) * out[hit] + alpha * np.asarray(color)
    standalone = ax is None
    if standalone:
        fig, ax = plt.subplots(figsize=(3.2, 4.6))
    fig = ax.figure
    ax.imshow(out)
    ax.grid(False)
    for name, row in rows.items():
        if row is not None:
            ax.axhline(row, color=ROW_COLORS.get(name, "k"), lw=1.5, ls="--")
    ax.set_title(title, fontsize=9, fontweight="normal")
    ax.set_xlabel("x (px)", fontsize=8)
    ax.set_ylabel("y (px)", fontsize=8)
    ax.tick_params(labelsize=7)
    if standalone:
        ax.legend(handles=_overlay_handles(legend, rows), fontsize=7, loc="lower right")
    return fig


def _overlay_handles(legend: Mapping[int, str], row_names) -> list:
    handles = [Patch(color=MASK_COLORS[c], alpha=0.7, label=legend[c]) for c in MASK_COLORS if c in legend]
    return handles + [Line2D([], [], color=ROW_COLORS.get(n, "k"), ls="--", label=f"{n} row")
                      for n in dict.fromkeys(row_names)]


def mask_overlay_grid(panels: Sequence[Mapping], ncols: int = 5, title: str = ""):
    """Several :func:`mask_overlay` panels (dicts of its keyword arguments) with one legend."""
    fig, axes = _grid(max(1, len(panels)), ncols, (3.0, 4.4))
    for ax, panel in zip(axes, panels):
        mask_overlay(ax=ax, **panel)
    if not panels:
        axes[0].text(0.5, 0.5, "no measured photo", ha="center", va="center", transform=axes[0].transAxes)
        axes[0].set_axis_off()
    names = [n for p in panels for n, row in p.get("rows", {}).items() if row is not None]
    handles = _overlay_handles(dict(panels[0].get("legend") or {1: "garment", 2: "footwear"}), names) if panels else []
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    if handles:
        fig.legend(handles=handles, loc="lower center", ncols=len(handles), frameon=False)
    return fig


# ----------------------------------------------------------------------------- bottom length


def hem_height_histogram(frame: pd.DataFrame, buckets: Sequence[tuple[str, float]], by: str = "bottom_sub",
                         bin_width: float = 0.02, lang: str = "en"):
    """Stacked histogram of ``hem_height`` by ``by``'s classes with the length bucket edges.

    ``buckets`` is ``fashionkit.masks.LENGTH_BUCKETS``: (class, upper edge) pairs, shortest
    hem first; finite edges are drawn as vertical lines and each bucket is named on top.
    """
    lang = resolve_lang(lang)
    h, length = get_head(by), get_head("bottom_length")
    data = frame.dropna(subset=["hem_height", by])
    lo = min(-0.1, np.floor(data["hem_height"].min() / bin_width) * bin_width) if len(data) else -0.1
    hi = max(0.5, np.ceil(data["hem_height"].max() / bin_width) * bin_width + 0.04) if len(data) else 0.5
    bins = np.arange(lo, hi + bin_width, bin_width)
    groups = [(h.display(c, lang), data.loc[data[by] == c, "hem_height"].to_numpy()) for c in h.names]
    groups = [(name, values) for name, values in groups if len(values)]
    fig, ax = plt.subplots(figsize=(11, 4.5))
    if groups:
        colors = sns.color_palette("deep", len(groups))
        ax.hist([v for _, v in groups], bins=bins, stacked=True, color=colors,
                label=[f"{name} (n={len(v)})" for name, v in groups])
    edges = [lo] + [e for _, e in buckets if np.isfinite(e)] + [hi]
    for e in edges[1:-1]:
        ax.axvline(e, color="k", ls="--", lw=1)
    for (name, _), a, b in zip(buckets, edges[:-1], edges[1:]):
        ax.text((a + b) / 2, 1.01, length.display(name, lang), ha="center", va="bottom", fontsize=9,
                transform=ax.get_xaxis_transform())
    ax.set_xlim(lo, hi)
    ax.set_xlabel("hem height above the sole (fraction of the person's height in the photo)")
    ax.set_ylabel("photos")
    ax.set_title(f"Hem height by {h.title(lang)}, with the length-class edges (dashed)", pad=22)
    if groups:
        ax.legend(title=h.title(lang), fontsize=9)
    fig.tight_layout()
    return fig


def class_sample_grid(picked: pd.DataFrame, head: str, title: str = "", lang: str = "en", thumb: int = 192):
    """Photos of ``audit.sample_per_class``: one row per class of ``head``, titled by source and file."""
    lang = resolve_lang(lang)
    h = get_head(head)
    rows = [picked[picked[head] == c] for c in h.names]
    paths = [list(r["path"]) for r in rows]
    titles = [[f"{_source_name(s)} {Path(i).stem}" for s, i in zip(r["source"], r["image"])] for r in rows]
    labels = [f"{h.display(c, lang)}" for c in h.names]
    return image_grid(paths, titles, row_labels=labels, thumb=thumb,
                      title=title or f"{h.title(lang)}: training photos per class")


def training_curves(history: pd.DataFrame, lr_trace: pd.DataFrame, title: str):
    """Three panels: training loss, validation macro-F1 per head, learning rate (SGDR)."""
    fig, axes = plt.subplots(1, 3, figsize=(15, 3.8))
    ax = axes[0]
    ax.plot(history["epoch"], history["train_loss"], marker="o")
    ax.set(title="training loss", xlabel="epoch", ylabel="summed masked cross-entropy (nats)")
    ax = axes[1]
    for column in [c for c in history.columns if c.endswith("_macro_f1") and c != "val_mean_macro_f1"]:
        key = column.removesuffix("_macro_f1")
        ax.plot(history["epoch"], 100 * history[column], marker=".", label=get_head(key).en)
    ax.plot(history["epoch"], 100 * history["val_mean_macro_f1"], color="black", lw=2.5, label="mean")
    ax.set(title="validation macro-F1 per head", xlabel="epoch", ylabel="macro-F1 (%)")
    ax.legend(fontsize=8, loc="lower right")
    ax = axes[2]
    ax.plot(lr_trace["epoch"], lr_trace["lr_heads"], label="heads")
    ax.plot(lr_trace["epoch"], lr_trace["lr_upper"], label="upper blocks")
    probe = history.loc[history["phase"] == "probe", "epoch"]
    if len(probe):
        ax.axvspan(0, probe.max(), color="grey", alpha=0.15, label="linear probe")
    ax.set(title="learning rate (AdamW + SGDR)", xlabel="epoch", ylabel="learning rate")
    ax.legend(fontsize=8)
    fig.suptitle(title, fontweight="bold")
    fig.tight_layout()
    return fig


def strategy_comparison(table: pd.DataFrame, metric: str = "macro_f1", title: str = ""):
    """Grouped bars: one group per head, one bar per strategy (mean over seeds, sd as error bar)."""
    summary = table.groupby(["head", "strategy"])[metric].agg(["mean", "std"]).reset_index()
    order = [h.key for h in heads() if h.key in set(summary["head"])]
    strategies = list(dict.fromkeys(table["strategy"]))
    fig, ax = plt.subplots(figsize=(max(6, 1.4 * len(order)), 3.8))
    width = 0.8 / len(strategies)
    for i, strategy in enumerate(strategies):
        part = summary[summary["strategy"] == strategy].set_index("head").reindex(order)
        ax.bar(np.arange(len(order)) + (i - (len(strategies) - 1) / 2) * width, 100 * part["mean"],
               width, yerr=100 * part["std"].fillna(0), label=strategy, capsize=2)
    ax.set_xticks(np.arange(len(order)), [get_head(k).en for k in order], rotation=20, ha="right")
    ax.set(ylabel=f"validation {metric.replace('_', '-').replace('f1', 'F1')} (%)", xlabel="head", title=title)
    ax.legend(title="rare classes", fontsize=8)
    fig.tight_layout()
    return fig


# ----------------------------------------------------------------------------- errors and calibration


def confusion_heatmap(counts, classes: Sequence[str], title: str, normalize: bool = True,
                      head: str | None = None, lang: str = "en"):
    """Heatmap of a confusion matrix (``evaluate.confusion``: rows = true class).

    ``normalize=True`` colours cells by % of the true class's photos (each row sums to
    100) and annotates "% (photos)"; ``False`` colours by photos.  With ``head`` the
    ``classes`` (machine names) are shown as the schema's display names; without, as given.
    """
    counts = np.asarray(counts)
    if counts.shape != (len(classes), len(classes)):
        raise ValueError(f"counts {counts.shape} do not match {len(classes)} classes")
    if head is not None:
        lang = resolve_lang(lang)
        h = get_head(head)
        names = [h.display(c, lang) for c in classes]
    else:
        names = [str(c) for c in classes]
    support = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        share = np.where(support > 0, 100.0 * counts / support, np.nan)
    if normalize:
        values, label = share, "% of the true class's photos"
        annot = np.array([[f"{s:.0f}%\n({n:,})" if np.isfinite(s) else f"–\n({n:,})" for s, n in zip(rs, rn)]
                          for rs, rn in zip(share, counts)])
        kw = dict(vmin=0, vmax=100)
    else:
        values, label = counts, "photos"
        annot = np.array([[f"{n:,}" for n in rn] for rn in counts])
        kw = {}
    size = len(classes)
    fig, ax = plt.subplots(figsize=(1.1 * size + 3, 0.8 * size + 2))
    sns.heatmap(pd.DataFrame(values, index=names, columns=names), annot=annot, fmt="", cmap="Blues",
                linewidths=0.5, ax=ax, cbar_kws={"label": label}, **kw)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    ax.set_title(title)
    plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor")
    plt.setp(ax.get_yticklabels(), rotation=0)
    fig.tight_layout()
    return fig


def reliability_diagram(tables: Mapping[str, pd.DataFrame], title: str):
    """Accuracy against confidence per bin, one line per table (``evaluate.reliability_table``).

    Marker area grows with the bin's photos; the dashed diagonal is perfect calibration.
    The legend gives each table's expected calibration error (points of %).
    """
    fig, ax = plt.subplots(figsize=(5.5, 6.2))
    ax.plot([0, 100], [0, 100], ls="--", color="0.5", lw=1, label="perfect calibration")
    colors = sns.color_palette("deep", max(1, len(tables)))
    biggest = max([t["n"].max() for t in tables.values() if len(t)] + [1])
    for color, (name, table) in zip(colors, tables.items()):
        full = table[table["n"] > 0]
        total = full["n"].sum()
        ece = 100 * (full["n"] * (full["accuracy"] - full["confidence"]).abs()).sum() / total if total else np.nan
        ax.plot(100 * full["confidence"], 100 * full["accuracy"], color=color, lw=1.5,
                label=f"{name} (ECE {ece:.1f} pts, {int(total):,} photos)")
        ax.scatter(100 * full["confidence"], 100 * full["accuracy"], s=15 + 250 * full["n"] / biggest,
                   color=color, alpha=0.7, edgecolor="white", zorder=3)
    ax.set_xlim(0, 100)
    ax.set_ylim(0, 100)
    ax.set_aspect("equal")
    ax.set_xlabel("confidence (%)")
    ax.set_ylabel("accuracy (%)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), frameon=False,
              title="marker area ~ photos in the bin", title_fontsize=8)
    fig.tight_layout()
    return fig


def confusion_panels(counts: dict, title: str, ncols: int = 3, lang: str = "en"):
    """One heatmap panel per head of ``{head: evaluate.confusion counts}``, sharing a colour bar.

    Cells are coloured by % of the true class's photos (each row sums to 100) and annotated
    "% (photos)", as :func:`fashionkit.plots.confusion_heatmap` draws a single head; each
    panel's title gives the head's labelled photos and accuracy.
    """
    keys = list(counts)
    ncols = max(1, min(ncols, len(keys)))
    nrows = math.ceil(len(keys) / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(4.4 * ncols + 1.2, 3.9 * nrows), squeeze=False,
                             layout="constrained")
    for ax, key in zip(axes.flat, keys):
        c = np.asarray(counts[key])
        head = get_head(key)
        names = [head.display(n, lang) for n in head.names]
        support = c.sum(axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            share = np.where(support > 0, 100.0 * c / support, np.nan)
        annot = np.array([[f"{s:.0f}%\n({n})" if np.isfinite(s) else f"–\n({n})" for s, n in zip(rs, rn)]
                          for rs, rn in zip(share, c)])
        sns.heatmap(pd.DataFrame(share, index=names, columns=names), annot=annot, fmt="", cmap="Blues",
                    vmin=0, vmax=100, linewidths=0.5, cbar=False, ax=ax, annot_kws={"fontsize": 8})
        ax.grid(False)
        total = int(c.sum())
        accuracy = f"{100 * np.trace(c) / total:.0f}%" if total else "–"
        ax.set_title(f"{head.title(lang)} (n={total}, accuracy {accuracy})", fontsize=10)
        ax.set_xlabel("predicted class")
        ax.set_ylabel("true class")
        plt.setp(ax.get_xticklabels(), rotation=30, ha="right", rotation_mode="anchor", fontsize=9)
        plt.setp(ax.get_yticklabels(), rotation=0, fontsize=9)
    for ax in axes.flat[len(keys):]:
        ax.set_visible(False)
    fig.colorbar(axes.flat[0].collections[0], ax=axes.ravel().tolist(), shrink=0.8,
                 label="% of the true class's photos")
    fig.suptitle(title)
    return fig


def accuracy_figure(table: pd.DataFrame, title: str = "Test accuracy per head", aims: Mapping[str, float] | None = None):
    """Test accuracy per head (``evaluate.report_table``): TTA with its 95% bootstrap
    interval, plain, the majority and class-prior baselines, the study's figure and, given
    ``aims`` (``{head key: %}``, ``params/targets.yaml``), the team's aim per head."""
    t = table.iloc[::-1]
    y = np.arange(len(t))
    fig, ax = plt.subplots(figsize=(8.5, 0.5 * len(t) + 2.0))
    ax.barh(y, t["majority_%"], color="0.85", height=0.6, label="majority baseline")
    ax.scatter(t["prior_%"], y, marker="|", s=200, color="0.35", zorder=3, label="class-prior baseline")
    ax.scatter(t["study_%"], y, marker="D", s=30, color="#C44E52", zorder=4, label="study (its training images)")
    ax.scatter(t["plain_%"], y + 0.18, marker="o", s=28, facecolor="white", edgecolor="#4C72B0", zorder=4,
               label="plain view")
    if aims:
        keys = t.index if "head" not in t.columns else t["head"]
        ax.scatter([aims.get(k, np.nan) for k in keys], y, marker="^", s=45, color="#55A868", zorder=4,
                   label="team's aim")
    ax.errorbar(t["tta_%"], y - 0.1, xerr=[t["tta_%"] - t["tta_ci_low_%"], t["tta_ci_high_%"] - t["tta_%"]],
                fmt="o", color="#4C72B0", ms=6, capsize=3, zorder=5, label="TTA, 95% bootstrap CI")
    ax.set_yticks(y, [f"{r['name']} (n={int(r['n'])})" for _, r in t.iterrows()])
    models = t["model"].to_numpy()
    for i in np.flatnonzero(models[1:] != models[:-1]):
        ax.axhline(i + 0.5, color="0.3", lw=0.8)
    for model in dict.fromkeys(models):
        rows = y[models == model]
        ax.text(1.01, rows.mean(), f"{model} model", transform=ax.get_yaxis_transform(), rotation=270,
                ha="left", va="center", fontsize=9, color="0.3")
    ax.set_xlim(0, 100)
    ax.set_ylim(-0.6, len(t) - 0.4)
    ax.set_xlabel("accuracy on the test split (%)")
    ax.set_title(title)
    ax.grid(False, axis="y")
    fig.legend(*ax.get_legend_handles_labels(), loc="lower center", ncols=3, frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.11, 1, 1))
    return fig


# ------------------------------------------------------------- error gallery (chapter 6)
def _wrap_probabilities(text: str, per_line: int = 2) -> str:
    parts = str(text).split(" · ")
    return "\n".join(" · ".join(parts[i:i + per_line]) for i in range(0, len(parts), per_line))


def _mark_panel(ax, ok: bool | None) -> None:
    if ok is None:
        return
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor("#2ca02c" if ok else "#d62728")
        spine.set_linewidth(3)


def prediction_gallery(picks: pd.DataFrame, head: str, paths: Mapping[str, str] | pd.Series, title: str = "",
                       thumb: int = 192, per_line: int = 2):
    """Gallery of one head's picks (``evaluate.gallery_picks``): a row of mistakes (red
    frame) over a row of correct answers (green frame).  Each photo is titled with the true
    and predicted class (English display names), the answer's probability and every
    class's probability; ``paths`` maps an image name to its file."""
    h = get_head(head)
    rows, titles, marks, labels = [], [], [], []
    for kind, label in (("mistake", "mistakes"), ("correct", "correct")):
        part = picks[(picks["head"] == head) & (picks["kind"] == kind)]
        if part.empty:
            continue
        rows.append([paths[i] for i in part["image"]])
        titles.append([f"true: {h.display(r.true)}\npred: {h.display(r.predicted)} ({100 * r.confidence:.0f}%)\n"
                       + _wrap_probabilities(r.probabilities, per_line) for r in part.itertuples()])
        marks.append([kind == "correct"] * len(part))
        labels.append(label)
    if not rows:
        fig, ax = plt.subplots(figsize=(4, 1.5))
        ax.axis("off")
        ax.text(0.5, 0.5, f"no labelled test photos for {h.en}", ha="center", va="center")
        return fig
    fig = image_grid(rows, titles, row_labels=labels, title=title or f"{h.en}: most confident mistakes and correct answers",
                     thumb=thumb, panel=(2.5, 3.6))
    ncols = max(len(r) for r in rows)
    for r, row_marks in enumerate(marks):
        for c, ok in enumerate(row_marks):
            _mark_panel(fig.axes[r * ncols + c], ok)
    return fig


def cam_panels(panels: Sequence[Mapping], title: str = "", panel: tuple[float, float] = (2.4, 3.1)):
    """Grad-CAM figure: one row per photo, ``crop`` (the model's view, RGB) then one overlay
    per entry of ``overlays`` (``{label: RGB array}``); ``title`` of the row goes over the crop
    and ``ok`` (True / False) frames the row's crop green / red.  Overlays come from
    :func:`fashionkit.explain.overlay`."""
    ncols = 1 + max([len(p["overlays"]) for p in panels] + [1])
    fig, axes = plt.subplots(max(1, len(panels)), ncols, figsize=(panel[0] * ncols, panel[1] * max(1, len(panels))),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
    for r, p in enumerate(panels):
        axes[r, 0].imshow(p["crop"])
        axes[r, 0].set_title(p.get("title", ""), fontsize=8, fontweight="normal")
        _mark_panel(axes[r, 0], p.get("ok"))
        for c, (label, img) in enumerate(p["overlays"].items(), start=1):
            axes[r, c].imshow(img)
            axes[r, c].set_title(label, fontsize=8, fontweight="normal")
        for c in range(1 + len(p["overlays"]), ncols):
            axes[r, c].set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def image_data_uri(path, size: int = 260, quality: int = 85) -> str:
    """A photo as a ``data:image/jpeg;base64,...`` URI (longest side ``size`` px), for an
    HTML card beside a table: the browser draws it, and Korean text next to it."""
    import base64
    import io

    img = load_image(path)
    img.thumbnail((size, size), Image.LANCZOS)
    buf = io.BytesIO()
    img.convert("RGB").save(buf, format="JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


OUTFIT_CARD_COLUMNS = ["model", "head", "속성", "predicted", "예측", "prob %", "true", "✓/✗"]


def outfit_card(path, caption: str, table: pd.DataFrame) -> str:
    """HTML of a whole-outfit card: the photo and, beside it, every head's answer in English
    and Korean (``table``: :func:`fashionkit.evaluate.outfit_table`)."""
    from html import escape

    table = table.set_axis(OUTFIT_CARD_COLUMNS[:table.shape[1]], axis=1)
    return ('<div style="display:flex;gap:1em;align-items:flex-start;margin-bottom:1.5em">'
            f'<figure style="margin:0"><img src="{image_data_uri(path)}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
            f"{table.to_html(index=False, border=0)}</div>")


# ------------------------------------------------------------- outfit map (chapter 7)
MAP_XLABEL = "dimension 1 (arbitrary units)"
MAP_YLABEL = "dimension 2 (arbitrary units)"
UNLABELLED = "unlabelled"
UNLABELLED_COLOR = "0.75"
REFERENCE_SPACES = ("random", "ground-truth labels")


def ae_history(history: pd.DataFrame, title: str):
    """Autoencoder learning curve: ``train_mse`` (and ``val_mse`` when present) per ``epoch``,
    log-scale y; the lowest validation MSE is marked."""
    fig, ax = plt.subplots(figsize=(7, 4))
    ax.plot(history["epoch"], history["train_mse"], marker=".", color=SPLIT_COLORS["train"], label="training")
    if "val_mse" in history.columns and history["val_mse"].notna().any():
        val = history.dropna(subset=["val_mse"])
        ax.plot(val["epoch"], val["val_mse"], marker=".", color=SPLIT_COLORS["val"], label="validation")
        best = val.loc[val["val_mse"].idxmin()]
        ax.scatter([best["epoch"]], [best["val_mse"]], s=80, facecolor="none", edgecolor="black", zorder=4,
                   label=f"lowest validation MSE ({best['val_mse']:.2g}, epoch {int(best['epoch'])})")
    ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel("reconstruction MSE\n(mean squared error of probabilities)")
    ax.set_title(title)
    ax.legend(title="split", fontsize=8, title_fontsize=8)
    fig.tight_layout()
    return fig


def _category_labels(colour: Sequence) -> np.ndarray:
    """Class names as strings; missing values (None, NaN, pd.NA) become ``UNLABELLED``."""
    return np.array([UNLABELLED if (c is None or (not isinstance(c, str) and pd.isna(c))) else str(c)
                     for c in colour], dtype=object)


def embedding_maps(coords: Mapping[str, np.ndarray], colour: Sequence, title: str, colour_title: str,
                   panel: tuple[float, float] = (4.6, 4.4), s: float = 6, alpha: float = 0.6):
    """One scatter panel per embedding of ``coords`` (``{name: (n, 2) array}``, e.g.
    autoencoder / PCA / UMAP), points coloured by a categorical attribute with one shared
    legend.  ``colour`` gives each point's class name; missing values are drawn grey, under
    the others, as "unlabelled".  Classes are listed most frequent first."""
    labels = _category_labels(colour)
    arrays = {name: np.asarray(xy, dtype=float) for name, xy in coords.items()}
    for name, xy in arrays.items():
        if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(labels):
            raise ValueError(f"coords[{name!r}] has shape {xy.shape}; expected ({len(labels)}, 2)")
    counts = pd.Series(labels[labels != UNLABELLED]).value_counts(sort=True)
    classes = list(counts.index)
    palette = sns.color_palette("tab10" if len(classes) <= 10 else "husl", max(1, len(classes)))
    colors = {c: palette[i] for i, c in enumerate(classes)}
    n_missing = int((labels == UNLABELLED).sum())
    fig, axes = plt.subplots(1, max(1, len(arrays)), figsize=(panel[0] * max(1, len(arrays)) + 1.8, panel[1]),
                             squeeze=False)
    for ax, (name, xy) in zip(axes.flat, arrays.items()):
        if n_missing:
            hit = labels == UNLABELLED
            ax.scatter(xy[hit, 0], xy[hit, 1], s=s, alpha=alpha, color=UNLABELLED_COLOR, linewidths=0)
        for c in classes:
            hit = labels == c
            ax.scatter(xy[hit, 0], xy[hit, 1], s=s, alpha=alpha, color=colors[c], linewidths=0)
        ax.set_title(name)
        ax.set_xlabel(MAP_XLABEL)
        ax.set_ylabel(MAP_YLABEL)
        ax.tick_params(labelsize=8)
    if not arrays:
        axes[0, 0].text(0.5, 0.5, "no embedding", ha="center", va="center", transform=axes[0, 0].transAxes)
        axes[0, 0].set(title="no embedding", xlabel=MAP_XLABEL, ylabel=MAP_YLABEL)
    handles = [Line2D([], [], ls="", marker="o", color=colors[c], label=f"{c} (n={counts[c]:,})") for c in classes]
    if n_missing:
        handles.append(Line2D([], [], ls="", marker="o", color=UNLABELLED_COLOR, label=f"{UNLABELLED} (n={n_missing:,})"))
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1 - 1.8 / fig.get_figwidth(), 1))
    fig.legend(handles=handles, title=colour_title, loc="center right", fontsize=8, title_fontsize=9,
               frameon=False)
    return fig


def spread_sample(coords: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """Indices of ``k`` points spread over the map: greedy farthest-point sampling (each new
    point is the one farthest from those already chosen) from a random start drawn with
    ``seed``, on coordinates scaled to [0, 1] per dimension.  Deterministic for a seed."""
    xy = np.asarray(coords, dtype=float)
    ok = np.flatnonzero(np.isfinite(xy).all(axis=1))
    k = int(min(max(k, 0), len(ok)))
    if k == 0:
        return np.array([], dtype=int)
    pts = xy[ok]
    span = np.ptp(pts, axis=0)
    pts = (pts - pts.min(axis=0)) / np.where(span > 0, span, 1.0)
    chosen = [int(np.random.default_rng(seed).integers(len(pts)))]
    dist = np.linalg.norm(pts - pts[chosen[0]], axis=1)
    for _ in range(k - 1):
        nxt = int(np.argmax(dist))
        chosen.append(nxt)
        dist = np.minimum(dist, np.linalg.norm(pts - pts[nxt], axis=1))
    return ok[np.asarray(chosen)]


def _small_photo(path, height: int) -> np.ndarray:
    """The photo resized to ``height`` px tall (aspect kept), as an RGB array."""
    img = load_image(path)
    width = max(1, round(img.width * height / img.height))
    return np.asarray(img.resize((width, height), Image.LANCZOS))


def thumbnail_map(coords: np.ndarray, paths: Sequence, title: str, n_thumbs: int = 40, seed: int = 0,
                  thumb_px: int = 48, zoom: float = 1.0, figsize: tuple[float, float] = (11, 9)):
    """The map as a grey scatter with small photos at ``n_thumbs`` spread-out points
    (:func:`spread_sample` with ``seed``).  Photos are resized to ``thumb_px`` px tall
    before plotting (``zoom`` scales them on the figure) so the figure stays light; the
    chosen indices are kept as ``fig.thumb_indices``."""
    from matplotlib.offsetbox import AnnotationBbox, OffsetImage

    xy = np.asarray(coords, dtype=float)
    if xy.ndim != 2 or xy.shape[1] != 2 or len(xy) != len(paths):
        raise ValueError(f"coords has shape {xy.shape}; expected ({len(paths)}, 2) for {len(paths)} paths")
    picked = spread_sample(xy, n_thumbs, seed)
    fig, ax = plt.subplots(figsize=figsize)
    ax.scatter(xy[:, 0], xy[:, 1], s=5, color="0.6", alpha=0.5, linewidths=0, label=f"outfit (n={len(xy):,})")
    ax.scatter(xy[picked, 0], xy[picked, 1], s=12, color="black", linewidths=0, zorder=3,
               label=f"shown as a photo ({len(picked)})")
    for i in picked:
        box = AnnotationBbox(OffsetImage(_small_photo(paths[i], thumb_px), zoom=zoom), tuple(xy[i]),
                             frameon=True, pad=0.1, bboxprops=dict(edgecolor="0.3", lw=0.5))
        box.set_zorder(4)
        ax.add_artist(box)
    ax.margins(0.08)
    ax.grid(False)
    ax.set_xlabel(MAP_XLABEL)
    ax.set_ylabel(MAP_YLABEL)
    ax.set_title(title)
    ax.legend(loc="lower right", fontsize=8, framealpha=0.9).set_zorder(5)
    fig.tight_layout()
    fig.thumb_indices = picked
    return fig


def _column_names(column: str) -> tuple[str, str]:
    """``"top_type.blouse"`` -> (head display name, class display name); unknown names as given."""
    head, _, cls = str(column).partition(".")
    if not cls:
        return "", head
    try:
        h = get_head(head)
    except ValueError:
        return head, cls
    try:
        return h.title(), h.display(cls)
    except ValueError:
        return h.title(), cls


def vector_heatmap(X: np.ndarray, columns: Sequence[str], order: np.ndarray | None, title: str):
    """Heatmap of probability vectors: one row per outfit, in ``order`` (indices into ``X``,
    e.g. outfits sorted along the map), one column per class (``"head.class"`` names).  Heads
    are separated by white lines and named above their columns."""
    X = np.asarray(X, dtype=float)
    if X.ndim != 2 or X.shape[1] != len(columns):
        raise ValueError(f"X has shape {X.shape}; expected (n, {len(columns)}) for {len(columns)} columns")
    order = np.arange(len(X)) if order is None else np.asarray(order, dtype=int)
    rows = X[order]
    parts = [_column_names(c) for c in columns]
    fig, ax = plt.subplots(figsize=(max(7, 0.32 * len(columns) + 3), 7))
    im = ax.imshow(rows, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
    ax.grid(False)
    ax.set_xticks(np.arange(len(columns)), [cls for _, cls in parts], rotation=90, fontsize=8)
    prefixes = [str(c).partition(".")[0] for c in columns]
    edges = [0] + [j for j in range(1, len(prefixes)) if prefixes[j] != prefixes[j - 1]] + [len(prefixes)]
    for e in edges[1:-1]:
        ax.axvline(e - 0.5, color="white", lw=2)
    for a, b in zip(edges[:-1], edges[1:]):
        ax.text((a + b - 1) / 2, 1.01, parts[a][0], transform=ax.get_xaxis_transform(), rotation=30,
                ha="left", va="bottom", fontsize=8, rotation_mode="anchor")
    ax.set_xlabel("class (grouped by head)")
    ax.set_ylabel(f"outfits, ordered along the map (n = {len(rows):,})")
    ax.set_title(title, pad=45)
    fig.colorbar(im, ax=ax, label="probability", fraction=0.04, pad=0.02)
    fig.tight_layout()
    return fig


def recommendation_bars(table: pd.DataFrame, title: str, reference: Sequence[str] = REFERENCE_SPACES):
    """Horizontal bars of ``mean_agreement_%`` per space (the index), with the
    ``ci_low_%`` .. ``ci_high_%`` interval as error bar.  Rows named in ``reference``
    (a random pick, the ground-truth labels) are drawn hatched grey."""
    t = table
    y = np.arange(len(t))
    values = t["mean_agreement_%"].to_numpy(dtype=float)
    low = np.nan_to_num(values - t["ci_low_%"].to_numpy(dtype=float)).clip(min=0)
    high = np.nan_to_num(t["ci_high_%"].to_numpy(dtype=float) - values).clip(min=0)
    is_ref = np.array([str(name) in set(map(str, reference)) for name in t.index])
    fig, ax = plt.subplots(figsize=(8, 0.55 * len(t) + 1.8))
    for yi, v, ref in zip(y, values, is_ref):
        ax.barh(yi, v, height=0.6, color="0.82" if ref else SPLIT_COLORS["train"],
                hatch="//" if ref else None, edgecolor="0.45" if ref else "none")
    ax.errorbar(values, y, xerr=[low, high], fmt="none", ecolor="black", capsize=3, lw=1)
    for yi, v, hi in zip(y, values, high):
        if np.isfinite(v):
            ax.text(v + hi + 1, yi, f"{v:.1f}%", va="center", fontsize=9)
    ax.set_yticks(y, [str(i) for i in t.index])
    ax.invert_yaxis()
    ax.set_xlim(0, 105)
    ax.grid(False, axis="y")
    ax.set_xlabel("attribute agreement of the top-k with the query (%)")
    ax.set_ylabel("space")
    ax.set_title(title)
    handles = [Patch(color=SPLIT_COLORS["train"], label="embedding space"),
               Patch(facecolor="0.82", edgecolor="0.45", hatch="//", label="reference"),
               Line2D([], [], color="black", marker="|", ls="-", label="95% CI")]
    fig.tight_layout(rect=(0, 0.4 / fig.get_figheight(), 1, 1))
    fig.legend(handles=handles, loc="lower center", ncols=3, fontsize=8, frameon=False)
    return fig


def recommendation_panel(query_path, query_title: str, neighbour_paths: Sequence, neighbour_titles: Sequence[str],
                         title: str, thumb: int = 256, panel: tuple[float, float] = (2.3, 3.9),
                         fontsize: float = 7):
    """One row: the query photo (framed, titled "query" and ``query_title``) then the
    recommended photos, each titled with its text.  Photos keep their aspect ratio."""
    if len(neighbour_titles) != len(neighbour_paths):
        raise ValueError(f"{len(neighbour_paths)} neighbour photos but {len(neighbour_titles)} titles")
    n = 1 + len(neighbour_paths)
    fig, axes = plt.subplots(1, n, figsize=(panel[0] * n, panel[1]), squeeze=False)
    items = [(query_path, f"query\n{query_title}")] + list(zip(neighbour_paths, map(str, neighbour_titles)))
    for ax, (path, text) in zip(axes.flat, items):
        ax.imshow(_thumbnail(path, thumb))
        ax.set_xticks([])
        ax.set_yticks([])
        ax.grid(False)
        for spine in ax.spines.values():
            spine.set_visible(False)
        ax.set_title(text, fontsize=fontsize, fontweight="normal")
    query = axes[0, 0]
    for spine in query.spines.values():
        spine.set_visible(True)
        spine.set_edgecolor("black")
        spine.set_linewidth(3)
    query.title.set_fontweight("bold")
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.3 / panel[1]))  # room for the title above the captions
    return fig


# ----------------------------------------------------------------------------- garment localisation

GROUP_COLORS = {"skin_hair": "#f4c7a1", "inner_top": "#e4572e", "outerwear": "#7b2d8b", "bottom": "#1f77b4",
                "one_piece": "#2ca02c", "footwear": "#222222", "other": "#bcbd22"}
BOX_COLORS = {"top": "#e4572e", "bottom": "#1f77b4"}


def segmentation_panels(panels: Sequence[Mapping], group_names: Sequence[str], ncols: int = 4, title: str = "",
                        alpha: float = 0.55):
    """Photos with their predicted garment groups tinted and the garment boxes drawn.

    Each panel: ``image`` (PIL), ``groups`` (2-D group indices into ``group_names``, any
    size: stretched over the photo), ``boxes`` (``{"top"|"bottom": (l, t, r, b)}`` relative,
    solid when found, dashed when a fallback) with ``sources``, and ``title``.
    """
    from matplotlib.colors import to_rgb
    from matplotlib.patches import Rectangle

    fig, axes = _grid(max(1, len(panels)), ncols, (2.6, 3.9))
    for ax, panel in zip(axes, panels):
        img = np.asarray(panel["image"].convert("RGB"), dtype=float) / 255.0
        h, w = img.shape[:2]
        groups = np.asarray(Image.fromarray(np.asarray(panel["groups"], dtype=np.uint8)).resize((w, h), Image.NEAREST))
        out = img.copy()
        for g, name in enumerate(group_names):
            if name in GROUP_COLORS:
                hit = groups == g
                out[hit] = (1 - alpha) * out[hit] + alpha * np.asarray(to_rgb(GROUP_COLORS[name]))
        ax.imshow(out)
        for garment, (l, t, r, b) in panel.get("boxes", {}).items():
            found = panel.get("sources", {}).get(garment, "garment") == "garment"
            ax.add_patch(Rectangle((l * w, t * h), (r - l) * w, (b - t) * h, fill=False, lw=2,
                                   ls="-" if found else "--", color=BOX_COLORS[garment]))
        ax.set_title(panel.get("title", ""), fontsize=9)
        ax.set_axis_off()
    handles = [Patch(color=GROUP_COLORS[n], label=n.replace("_", " ")) for n in group_names if n in GROUP_COLORS]
    handles += [Line2D([], [], color=c, lw=2, label=f"{g} box") for g, c in BOX_COLORS.items()]
    fig.suptitle(title)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.legend(handles=handles, loc="lower center", ncols=min(len(handles), 5), frameon=False, fontsize=9)
    return fig


def image_panels(images: Sequence, titles: Sequence[str], ncols: int = 6, title: str = "",
                 panel: tuple[float, float] = (2.3, 3.2)):
    """Decoded photos (PIL) side by side, each with its title."""
    fig, axes = _grid(max(1, len(images)), ncols, panel)
    for ax, img, name in zip(axes, images, titles):
        ax.imshow(np.asarray(img.convert("RGB")))
        ax.set_title(name, fontsize=9)
        ax.set_axis_off()
    fig.suptitle(title)
    fig.tight_layout()
    return fig
