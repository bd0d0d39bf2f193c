import os
import subprocess
import sys

import joblib
import numpy as np
import pytest
import torch

from fashionkit.data.schema import heads
from fashionkit.outfits import embed, vectors

torch.set_num_threads(1)

SIZES = vectors.head_sizes()


def latent_outfits(n, seed=0, noise=0.0):
    """Outfit vectors driven by 2 latent variables through one softmax per head."""
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, 2))
    parts = []
    for i, k in enumerate(SIZES):
        w = np.random.default_rng(100 + i).normal(size=(2, k)) * 2  # fixed map, any sample
        logits = z @ w + noise * rng.normal(size=(n, k))
        p = np.exp(logits - logits.max(axis=1, keepdims=True))
        parts.append(p / p.sum(axis=1, keepdims=True))
    return np.concatenate(parts, axis=1).astype(np.float32)


def clustered(n=120, d=10, centres=4, seed=0):
    rng = np.random.default_rng(seed)
    c = rng.normal(scale=5, size=(centres, d))
    return c[rng.integers(0, centres, n)] + rng.normal(size=(n, d))


@pytest.fixture(scope="module")
def fitted():
    X, X_val = latent_outfits(300, seed=0), latent_outfits(100, seed=1)
    ae = embed.Autoencoder(epochs=300, head_sizes=SIZES, seed=0).fit(X, X_val)
    return ae, X, X_val


# ----------------------------------------------------------------------------- vectors
def test_vector_layout_follows_the_schema():
    cols = vectors.vector_columns()
    assert len(cols) == sum(h.n_classes for h in heads(presence=False)) == 26
    assert cols[:3] == ["top_type.blouse", "top_type.shirt", "top_type.t-shirt"]
    assert cols[-1] == "bottom_length.short"
    slices = vectors.head_slices()
    assert [s.stop - s.start for s in slices] == SIZES == [3, 3, 2, 3, 3, 2, 5, 5]
    assert slices[0].start == 0 and slices[-1].stop == 26
    for s, t in zip(slices[:-1], slices[1:]):
        assert s.stop == t.start


def test_outfit_vectors_concatenate_in_schema_order_and_check_shapes():
    n = 4
    probas = {h.key: np.full((n, h.n_classes), i, dtype=float) for i, h in enumerate(heads(presence=False))}
    probas["top_present"] = np.full((n, 2), 99.0)  # a presence head is not part of an outfit's description
    X = vectors.outfit_vectors(dict(reversed(list(probas.items()))))  # dict order does not matter
    assert X.shape == (n, 26) and X.dtype == np.float32
    for i, s in enumerate(vectors.head_slices()):
        assert (X[:, s] == i).all()
    missing = {k: v for k, v in probas.items() if k != "top_neck"}
    with pytest.raises(ValueError, match="top_neck"):
        vectors.outfit_vectors(missing)
    with pytest.raises(ValueError, match="bottom_sub"):
        vectors.outfit_vectors({**probas, "bottom_sub": np.zeros((n, 4))})
    with pytest.raises(ValueError, match="top_sleeve"):
        vectors.outfit_vectors({**probas, "top_sleeve": np.zeros((n + 1, 3))})


# ----------------------------------------------------------------------------- autoencoder
def test_autoencoder_learns_the_two_latent_variables(fitted):
    ae, X, X_val = fitted
    means = np.tile(X.mean(axis=0), (len(X_val), 1))
    baseline = embed.reconstruction_mse(X_val, means)  # the best constant guess
    held_out = ae.reconstruction_mse(X_val)
    assert held_out < 0.25 * baseline
    assert ae.final_train_mse_ < 0.25 * ae.history_["train_mse"].iloc[0]  # vs. at initialisation
    assert list(ae.history_.columns) == ["epoch", "train_mse", "val_mse"]
    assert len(ae.history_) == 300 and ae.history_["val_mse"].iloc[-1] == pytest.approx(held_out, rel=1e-4)
    assert ae.transform(X).shape == (300, 2)
    assert ae.n_features_in_ == 26
    # it beats PCA-2D too: the data are 2-D, but not linearly
    pca = embed.create_embedding("pca").fit(X)
    assert held_out < embed.embedding_reconstruction_mse(pca, X_val)


def test_decoder_output_is_a_probability_vector_per_head(fitted):
    ae, X, _ = fitted
    Z = np.random.default_rng(0).normal(scale=3, size=(50, 2))
    R = ae.inverse_transform(Z)
    assert R.shape == (50, 26) and (R >= 0).all()
    for s in vectors.head_slices():
        np.testing.assert_allclose(R[:, s].sum(axis=1), 1, atol=1e-5)
    # without head sizes: a sigmoid, entries in (0, 1) but no per-head sums
    sig = embed.Autoencoder(epochs=5).fit(X)
    R = sig.inverse_transform(Z)
    assert ((R > 0) & (R < 1)).all()
    assert not np.allclose(R[:, :3].sum(axis=1), 1)


def test_segment_softmax_matches_softmax_per_head_even_for_huge_logits():
    x = torch.randn(20, 26) * 100
    expected = torch.cat([s.softmax(dim=1) for s in x.split(SIZES, dim=1)], dim=1)
    torch.testing.assert_close(embed.SegmentSoftmax(SIZES)(x), expected)


def test_same_seed_same_embedding_other_seed_other_embedding():
    X = latent_outfits(120, seed=3)
    before = torch.random.get_rng_state()
    a = embed.Autoencoder(epochs=30, head_sizes=SIZES, seed=7).fit_transform(X)
    assert torch.equal(torch.random.get_rng_state(), before)  # the caller's RNG untouched
    b = embed.Autoencoder(epochs=30, head_sizes=SIZES, seed=7).fit_transform(X)
    c = embed.Autoencoder(epochs=30, head_sizes=SIZES, seed=8).fit_transform(X)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c)
    # mini-batches are shuffled from the seed as well
    d = embed.Autoencoder(epochs=3, batch_size=32, seed=1).fit_transform(X)
    e = embed.Autoencoder(epochs=3, batch_size=32, seed=1).fit_transform(X)
    assert np.array_equal(d, e)


def test_autoencoder_rejects_bad_input(fitted):
    ae, X, _ = fitted
    with pytest.raises(ValueError, match="25 columns"):
        ae.transform(X[:, :25])
    bad = X.copy()
    bad[3, 4] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        ae.transform(bad)
    with pytest.raises(ValueError, match="NaN"):
        embed.Autoencoder(epochs=1).fit(bad)
    with pytest.raises(ValueError, match="2-D"):
        ae.transform(X[0])
    with pytest.raises(ValueError, match="head_sizes"):
        embed.Autoencoder(epochs=1, head_sizes=[3, 3]).fit(X)
    with pytest.raises(ValueError, match="X_val"):
        embed.Autoencoder(epochs=1).fit(X, X[:, :20])
    with pytest.raises(RuntimeError, match="not fitted"):
        embed.Autoencoder().transform(X)


# ----------------------------------------------------------------------------- factory
def fit_transform_without_jit(model, X, folder):
    """``model.fit_transform(X)`` twice, in a fresh process with numba's JIT switched off.

    numba compiles umap's parallel kernels anew in every process: 15-20 s on this 2-core
    box whatever the number of points, so a "small" UMAP test is not quick.  With
    ``NUMBA_DISABLE_JIT=1`` the same umap code runs as plain Python, 60 points in well
    under a second; what is tested is the factory's object and its parameters.
    """
    joblib.dump((model, X), folder / "job.joblib")
    code = ("import sys, joblib, numpy as np; m, X = joblib.load(sys.argv[1]); "
            "np.save(sys.argv[2], np.stack([m.fit_transform(X), m.fit_transform(X)]))")
    done = subprocess.run([sys.executable, "-c", code, str(folder / "job.joblib"), str(folder / "Z.npy")],
                          env={**os.environ, "NUMBA_DISABLE_JIT": "1"}, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return np.load(folder / "Z.npy")


@pytest.mark.parametrize("name", embed.EMBEDDINGS)
def test_every_embedding_maps_to_two_dimensions_except_full(name, tmp_path):
    X = latent_outfits(60, seed=2)
    params = {"ae": {"epochs": 20}, "umap": {"n_neighbors": 5, "n_epochs": 50}}.get(name, {})
    model = embed.create_embedding(name, seed=0, **params)
    if name == "umap":
        assert type(model).__name__ == "UMAP"
        assert {k: model.get_params()[k] for k in ("n_components", "n_neighbors", "random_state", "n_jobs")} == {
            "n_components": 2, "n_neighbors": 5, "random_state": 0, "n_jobs": 1}
        Z, again = fit_transform_without_jit(model, X, tmp_path)
        assert np.array_equal(Z, again)  # seeded
    else:
        Z = model.fit_transform(X)
    assert Z.shape == ((60, 26) if name == "full" else (60, 2))
    if name == "full":
        assert np.array_equal(Z, X) and embed.embedding_reconstruction_mse(model, X) == 0


def test_unknown_embedding_lists_the_known_ones():
    with pytest.raises(ValueError, match="ae, pca, umap, full"):
        embed.create_embedding("tsne")


# ----------------------------------------------------------------------------- neighbourhood quality
def test_neighbour_preservation_known_answers():
    line = np.arange(10, dtype=float)[:, None]
    assert embed.neighbour_preservation(line, line, k=2) == 1.0
    # reversing the order keeps every neighbourhood; a shuffle keeps few
    assert embed.neighbour_preservation(line, -line, k=2) == 1.0
    X = clustered()
    shuffled = X[np.random.default_rng(0).permutation(len(X))]
    assert embed.neighbour_preservation(X, shuffled, k=5) < 0.2
    with pytest.raises(ValueError):
        embed.neighbour_preservation(line, line, k=10)


def test_pca_keeps_more_neighbours_than_a_random_projection():
    X = clustered(d=20, centres=6)
    pca = embed.create_embedding("pca").fit_transform(X)
    # a 2-D projection onto a random direction pair, with the leading cluster axis left out
    random_2d = X @ np.random.default_rng(5).normal(size=(20, 2))
    q = embed.embedding_quality(X, {"full": X, "pca": pca, "random": random_2d}, k=10)
    assert list(q.index) == ["full", "pca", "random"]
    assert list(q.columns) == ["trustworthiness", "neighbour_preservation"]
    assert q.loc["full"].tolist() == [1.0, 1.0]
    assert q.loc["pca", "trustworthiness"] > q.loc["random", "trustworthiness"]
    assert q.loc["pca", "neighbour_preservation"] > q.loc["random", "neighbour_preservation"]


def test_reconstruction_mse_pure_function():
    assert embed.reconstruction_mse([[0, 1], [1, 1]], [[0, 0], [1, 3]]) == pytest.approx((1 + 4) / 4)
    with pytest.raises(ValueError, match="shape"):
        embed.reconstruction_mse(np.zeros((2, 2)), np.zeros((2, 3)))
