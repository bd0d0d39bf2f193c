"""Figures of chapters 3-6: training curves, confusion and reliability, the test accuracy
per head, the error gallery, Grad-CAM panels and outfit cards.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from PIL import Image

from fashionkit.book.style import image_grid, resolve_lang
from fashionkit.data.images import load_image
from fashionkit.data.schema import get_head


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


# ----------------------------------------------------------------------------- errors and calibration


def confusion_heatmap(counts, classes: Sequence[str], title: str, normalize: bool = True,
                      head: str | None = None, lang: str = "en"):
    """Heatmap of a confusion matrix (``fashionkit.metrics.scores.confusion``: rows = true class).

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
    """Accuracy against confidence per bin, one line per table (``fashionkit.metrics.calibration.reliability_table``).

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
    """One heatmap panel per head of ``{head: fashionkit.metrics.scores.confusion counts}``, sharing a colour bar.

    Cells are coloured by % of the true class's photos (each row sums to 100) and annotated
    "% (photos)", as :func:`fashionkit.book.model_figures.confusion_heatmap` draws a single head; each
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
    """Test accuracy per head (``fashionkit.book.report_tables.report_table``): TTA with its 95% bootstrap
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
    """Gallery of one head's picks (``fashionkit.book.error_tables.gallery_picks``): a row of mistakes (red
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
    :func:`fashionkit.studies.explain.overlay`."""
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
    and Korean (``table``: :func:`fashionkit.book.error_tables.outfit_table`)."""
    from html import escape

    table = table.set_axis(OUTFIT_CARD_COLUMNS[:table.shape[1]], axis=1)
    return ('<div style="display:flex;gap:1em;align-items:flex-start;margin-bottom:1.5em">'
            f'<figure style="margin:0"><img src="{image_data_uri(path)}" alt="{escape(caption)}">'
            f"<figcaption>{escape(caption)}</figcaption></figure>"
            f"{table.to_html(index=False, border=0)}</div>")
