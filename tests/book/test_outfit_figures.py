"""Chapter 7 figures (fashionkit.book.outfit_figures) on synthetic arrays and a few
real photos: each returns a Figure with titles and labelled axes, the right number of
panels / bars / photos, a deterministic thumbnail choice, and grey "unlabelled" points."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from fashionkit.book import outfit_figures
from fashionkit.data.schema import heads

IMAGES = Path(__file__).resolve().parents[3] / "shared" / "data" / "ccp" / "images"


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def photos():
    paths = [IMAGES / f"{i:04d}.jpg" for i in range(1, 7)]
    if not all(p.is_file() for p in paths):
        pytest.skip(f"photos not found in {IMAGES}")
    return [str(p) for p in paths]


def _visible_axes(fig):
    return [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]


def _labelled(ax):
    assert ax.get_title(), "panel without a title"
    assert ax.get_xlabel() and ax.get_ylabel(), "panel without axis labels"


def test_ae_history_log_scale_with_and_without_validation():
    history = pd.DataFrame({"epoch": np.arange(1, 21), "train_mse": np.geomspace(0.05, 0.002, 20),
                            "val_mse": np.r_[np.geomspace(0.06, 0.003, 15), np.full(5, 0.0035)]})
    fig = outfit_figures.ae_history(history, "autoencoder learning curve")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    _labelled(ax)
    assert ax.get_yscale() == "log"
    assert ax.get_xlabel() == "epoch" and "MSE" in ax.get_ylabel()
    assert len(ax.get_lines()) == 2
    labels = ax.get_legend_handles_labels()[1]
    assert "training" in labels and "validation" in labels
    fig = outfit_figures.ae_history(history.drop(columns="val_mse"), "train only")
    assert len(fig.axes[0].get_lines()) == 1


def test_embedding_maps_panels_shared_legend_and_unlabelled():
    rng = np.random.default_rng(0)
    n = 60
    coords = {name: rng.normal(size=(n, 2)) for name in ("autoencoder", "PCA", "UMAP")}
    colour = list(rng.choice(["blouse", "shirt", "t-shirt"], size=n).astype(object))
    colour[0], colour[1], colour[2] = None, np.nan, pd.NA
    fig = outfit_figures.embedding_maps(coords, colour, "outfit maps", "top type")
    assert isinstance(fig, Figure)
    axes = _visible_axes(fig)
    assert [ax.get_title() for ax in axes] == ["autoencoder", "PCA", "UMAP"]
    for ax in axes:
        _labelled(ax)
        assert "arbitrary units" in ax.get_xlabel()
        assert sum(len(c.get_offsets()) for c in ax.collections) == n
        grey = [c for c in ax.collections if np.allclose(c.get_facecolor()[0][:3], 0.75)]
        assert len(grey) == 1 and len(grey[0].get_offsets()) == 3
    assert fig.get_suptitle() == "outfit maps"
    (legend,) = fig.legends
    assert legend.get_title().get_text() == "top type"
    texts = [t.get_text() for t in legend.get_texts()]
    assert len(texts) == 4 and texts[-1] == "unlabelled (n=3)"
    with pytest.raises(ValueError):
        outfit_figures.embedding_maps({"PCA": np.zeros((n - 1, 2))}, colour, "bad", "top type")


def test_vector_heatmap_order_colourbar_and_separators():
    columns = [f"{h.key}.{c}" for h in heads(presence=False) for c in h.names]
    assert len(columns) == 26
    rng = np.random.default_rng(3)
    X = rng.random((40, len(columns)))
    order = rng.permutation(40)[:25]
    fig = outfit_figures.vector_heatmap(X, columns, order, "probability vectors along the map")
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    _labelled(ax)
    assert "n = 25" in ax.get_ylabel()
    (im,) = ax.get_images()
    assert np.allclose(im.get_array(), X[order])
    assert len(ax.get_xticklabels()) == 26
    assert [t.get_text() for t in ax.get_xticklabels()][:3] == ["blouse", "shirt", "t-shirt"]
    assert len(ax.get_lines()) == len(heads(presence=False)) - 1  # one separator between neighbouring heads
    cbar_axes = [a for a in fig.axes if a is not ax]
    assert len(cbar_axes) == 1 and cbar_axes[0].get_ylabel() == "probability"
    with pytest.raises(ValueError):
        outfit_figures.vector_heatmap(X[:, :5], columns, order, "bad")


def test_recommendation_bars_reference_rows_styled():
    table = pd.DataFrame({"mean_agreement_%": [71.0, 64.5, 69.0, 40.2, 88.0],
                          "ci_low_%": [69.0, 62.0, 66.5, 38.0, 86.5],
                          "ci_high_%": [73.0, 67.0, 71.0, 42.5, 89.5]},
                         index=pd.Index(["autoencoder", "PCA", "UMAP", "random", "ground-truth labels"], name="space"))
    fig = outfit_figures.recommendation_bars(table, "top-4 recommendations")
    assert isinstance(fig, Figure)
    (ax,) = fig.axes
    _labelled(ax)
    assert ax.get_xlabel() == "attribute agreement of the top-k with the query (%)"
    bars = ax.patches
    assert len(bars) == 5
    assert [b.get_width() for b in bars] == list(table["mean_agreement_%"])
    assert [bool(b.get_hatch()) for b in bars] == [False, False, False, True, True]
    assert [t.get_text() for t in ax.get_yticklabels()] == list(table.index)
    fig = outfit_figures.recommendation_bars(table, "custom reference", reference=("random",))
    assert [bool(b.get_hatch()) for b in fig.axes[0].patches] == [False, False, False, True, False]


def test_recommendation_panel_query_and_neighbours(photos):
    fig = outfit_figures.recommendation_panel(photos[0], "blouse, jeans", photos[1:5],
                                     ["shirt\njeans", "blouse\nslacks", "blouse\njeans", "t-shirt\nskirt"],
                                     "nearest outfits")
    assert isinstance(fig, Figure)
    axes = _visible_axes(fig)
    assert len(axes) == 5
    assert axes[0].get_title().startswith("query\n") and "blouse, jeans" in axes[0].get_title()
    assert axes[1].get_title() == "shirt\njeans"
    assert all(ax.get_title() for ax in axes)
    assert all(len([a for a in ax.get_images() if isinstance(a, AxesImage)]) == 1 for ax in axes)
    assert axes[0].spines["left"].get_visible() and not axes[1].spines["left"].get_visible()
    img = axes[1].get_images()[0].get_array()
    from PIL import Image
    with Image.open(photos[1]) as raw:
        assert abs(img.shape[1] / img.shape[0] - raw.width / raw.height) < 0.02  # aspect kept
    assert fig.get_suptitle() == "nearest outfits"
    with pytest.raises(ValueError):
        outfit_figures.recommendation_panel(photos[0], "q", photos[1:3], ["one"], "bad")
