"""Figures of chapter 7 (and ``recommend --sheet``): the autoencoder's history, the outfit maps,
the vector heatmap, the recommendation bars and the neighbour sheet.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from PIL import Image

from fashionkit.book.style import SPLIT_COLORS, thumbnail
from fashionkit.data.images import load_image
from fashionkit.data.schema import get_head
from fashionkit.outfits.recommender import answer_texts


def neighbour_sheet(collection: pd.DataFrame, positions, distances, heads_, query_path, query_text: str, title: str):
    """The query photo beside its recommended outfits, each titled with the models' answers
    for ``heads_`` and its distance (:func:`fashionkit.book.outfit_figures.recommendation_panel`); chapter 7
    and ``python -m fashionkit recommend --sheet`` draw the same figure."""
    positions = np.asarray(positions, dtype=int)
    texts = [f"{t}\nd = {d:.3f}" for t, d in zip(answer_texts(collection, positions, heads_), distances)]
    return recommendation_panel(query_path, query_text, collection["path"].to_numpy()[positions], texts, title)


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


def _small_photo(path, height: int) -> np.ndarray:
    """The photo resized to ``height`` px tall (aspect kept), as an RGB array."""
    img = load_image(path)
    width = max(1, round(img.width * height / img.height))
    return np.asarray(img.resize((width, height), Image.LANCZOS))


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
        ax.imshow(thumbnail(path, thumb))
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
