"""Figures of chapters 1-2: class counts, missing labels, co-occurrence, photo sizes, split
shares, mask overlays and the bottom-length rule, the rare-class strategies, the garment segmenter.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image

from fashionkit.book.style import (
    MASK_COLORS,
    ROW_COLORS,
    SOURCE_COLORS,
    SPLIT_COLORS,
    image_grid,
    panel_grid,
    resolve_lang,
    source_name,
)
from fashionkit.data.images import load_image
from fashionkit.data.labels import ccp_bottom_tag
from fashionkit.data.masks import FOOTWEAR, measure_length
from fashionkit.data.schema import get_head, heads


def length_panels(rows, root) -> list[dict]:
    """Panels for :func:`fashionkit.book.data_figures.mask_overlay_grid`: each CCP mask photo of ``rows``
    (manifest rows) with its bottom garment tinted orange, footwear blue, and the head, hem
    and sole rows the length rule (:func:`fashionkit.data.masks.measure_length`) measured."""
    from pathlib import Path

    from PIL import Image


    root = Path(root)
    label_ids = pd.read_csv(root / "ccp" / "labels.csv").set_index("name")["id"]
    foot_ids = [label_ids[name] for name in FOOTWEAR]
    panels = []
    for row in rows.itertuples():
        ids = np.asarray(Image.open(root / "ccp" / "masks" / Path(row.image).with_suffix(".png")))
        garment = [label_ids[ccp_bottom_tag(row.tags.split())]]
        m = measure_length(ids, garment, foot_ids)
        tint = np.where(np.isin(ids, garment), 1, np.where(np.isin(ids, foot_ids), 2, 0))
        panels.append({"image": load_image(row.path), "mask": tint,
                       "title": f"{Path(row.image).stem} {row.bottom_sub}\n{m.length}, hem height {m.hem_height:.2f}",
                       "rows": {"head": m.head_row, "hem": m.hem_row, "sole": m.sole_row}})
    return panels


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
    where = f" ({source_name(source)})" if source else ""
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
    fig, axes = panel_grid(len(pairs), ncols, (5.2, 4.2))
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
    labels = [f"{r['name']} ({source_name(r['source'])})" for _, r in frame.iterrows()]
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
    ax.legend(handles=[Patch(color=c, label=source_name(s)) for s, c in SOURCE_COLORS.items()
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


def size_line(stats: pd.DataFrame) -> str:
    """One sentence for :func:`fashionkit.data.audit.size_stats`: the longest side, and per source
    the share of portrait photos and the range of aspects (width / height)."""
    off = stats["longest side not 384 px"].astype(int)
    first = ("Every photo has a 384 px longest side. " if not off.any() else
             "Photos whose longest side is not 384 px: "
             + ", ".join(f"{source_name(s)} {n:,}" for s, n in off.items() if n) + ". ")
    parts = [f"{source_name(source)} {row['portrait %']:.0f}% portrait (width / height {row['aspect min']:.2f}"
             f" to {row['aspect max']:.2f}, median {row['aspect median']:.2f})" for source, row in stats.iterrows()]
    return first + "; ".join(parts) + "."


def size_histograms(manifest: pd.DataFrame):
    """Width, height (px) and aspect ratio (width / height) histograms per source."""
    frame = manifest.assign(aspect=manifest["width"] / manifest["height"])
    fig, axes = plt.subplots(1, 3, figsize=(15, 4))
    specs = [("width", "width (px)", np.arange(100, 400, 8)), ("height", "height (px)", np.arange(100, 400, 8)),
             ("aspect", "aspect ratio (width / height)", np.arange(0.3, 2.05, 0.025))]
    for ax, (col, label, bins) in zip(axes, specs):
        for source, part in frame.groupby("source", sort=False):
            ax.hist(part[col].dropna(), bins=bins, alpha=0.6, color=SOURCE_COLORS.get(source),
                    label=f"{source_name(source)} (n={len(part):,})")
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
    ax.set_yticks(y, [f"{source_name(s)} ({n:,} photos)" for s, n in zip(counts.index, counts.sum(axis=1))])
    ax.set_xlim(0, 100)
    ax.set_xlabel("% of the source's photos")
    ax.set_ylabel("source")
    ax.set_title("Split proportions per source")
    ax.legend(ncols=len(counts.columns), loc="upper center", bbox_to_anchor=(0.5, -0.35), frameon=False)
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
    fig, axes = panel_grid(max(1, len(panels)), ncols, (3.0, 4.4))
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

    ``buckets`` is ``fashionkit.data.masks.LENGTH_BUCKETS``: (class, upper edge) pairs, shortest
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
    titles = [[f"{source_name(s)} {Path(i).stem}" for s, i in zip(r["source"], r["image"])] for r in rows]
    labels = [f"{h.display(c, lang)}" for c in h.names]
    return image_grid(paths, titles, row_labels=labels, thumb=thumb,
                      title=title or f"{h.title(lang)}: training photos per class")


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

    fig, axes = panel_grid(max(1, len(panels)), ncols, (2.6, 3.9))
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
