"""Outfit vectors and their 2-D maps: the embeddings of chapter 7.

Every photo of an outfit gets one class-probability vector per head of the schema; laid
end to end in schema order they make the *outfit vector* (26 numbers for the 8 labelled
heads).  Chapter 7 maps these vectors to two dimensions in four ways and asks which map
keeps the neighbourhoods that recommendation relies on:

* ``"ae"``: the study's autoencoder (:class:`Autoencoder`), trained on the MSE of the
  reconstruction, with a 2-D linear bottleneck;
* ``"pca"``: the linear baseline any autoencoder has to beat;
* ``"umap"``: a neighbourhood-preserving non-linear map, for contrast;
* ``"full"``: no reduction at all (:class:`FullVector`), the reference the others lose
  information against.

:func:`create_embedding` builds any of them from a name and parameters, so a chapter's
configuration is data.  :func:`neighbour_preservation` and :func:`embedding_quality`
measure how much of the high-dimensional neighbourhood a map keeps;
:func:`reconstruction_mse` / :func:`embedding_reconstruction_mse` measure the study's
own quantity (its autoencoder reached 0.0418 after 2000 epochs), on held-out rows.
The outfit vector's layout (:func:`outfit_vectors`, :func:`head_slices` ...) is torch-free and
lives in :mod:`fashionkit.outfits.vectors`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator
from sklearn.manifold import trustworthiness
from sklearn.neighbors import NearestNeighbors
from torch import nn
from tqdm import tqdm

from fashionkit.data.validation import check_is_fitted, check_matrix

EMBEDDINGS = ("ae", "pca", "umap", "full")


# ----------------------------------------------------------------------------- reconstruction error
def reconstruction_mse(X, X_hat) -> float:
    """Mean over all entries of ``(X - X_hat) ** 2``: the study's reconstruction measure."""
    X = np.asarray(X, dtype=np.float64)
    X_hat = np.asarray(X_hat, dtype=np.float64)
    if X.shape != X_hat.shape:
        raise ValueError(f"X {X.shape} and its reconstruction {X_hat.shape} differ in shape")
    return float(np.mean((X - X_hat) ** 2))


def embedding_reconstruction_mse(model, X) -> float:
    """Reconstruction MSE of any fitted map with ``transform`` and ``inverse_transform``.

    The same number for the autoencoder, a fitted :class:`sklearn.decomposition.PCA` and
    :class:`FullVector` (0), so chapter 7 can put AE-2D and PCA-2D side by side on rows
    neither was fitted on.
    """
    X = check_matrix(X)
    return reconstruction_mse(X, model.inverse_transform(model.transform(X)))


# ----------------------------------------------------------------------------- the autoencoder
class SegmentSoftmax(nn.Module):
    """Softmax within each consecutive segment of the columns (one segment per head).

    Written as ``exp(x - shift) / (exp(x - shift) @ B)`` with ``B`` the block-diagonal
    matrix of ones: a few tensor operations in place of a split, eight softmaxes and a
    concatenation, which cut 2000 full-batch epochs on 1500 x 26 from 5.0 s to 2.7 s.
    ``shift`` is the segment's maximum, taken without gradient: softmax does not change
    under a shift, so it only guards ``exp`` against overflow.
    """

    def __init__(self, sizes: Sequence[int]):
        super().__init__()
        self.sizes = tuple(int(s) for s in sizes)
        seg = torch.repeat_interleave(torch.arange(len(self.sizes)), torch.tensor(self.sizes))
        width = max(self.sizes)
        starts = np.cumsum([0, *self.sizes[:-1]])
        # columns of a padded (segments, width) view; short segments repeat their first column
        pad = [int(s) + (j if j < k else 0) for s, k in zip(starts, self.sizes) for j in range(width)]
        self.register_buffer("segment", seg, persistent=False)
        self.register_buffer("padded", torch.tensor(pad), persistent=False)
        self.register_buffer("blocks", (seg[:, None] == seg[None, :]).float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            padded = x.index_select(1, self.padded).view(len(x), len(self.sizes), -1)
            shift = padded.amax(dim=-1).index_select(1, self.segment)
        e = torch.exp(x - shift)
        return e / (e @ self.blocks)


def _mlp(sizes: Sequence[int]) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(nn.Linear(a, b))
        if i < len(sizes) - 2:
            # leaky, not plain ReLU: with layers this narrow one dead unit is a real share of
            # the net.  As fast as ReLU; ELU made 2000 epochs about 30% slower
            layers.append(nn.LeakyReLU(0.01))
    return layers


class Autoencoder(BaseEstimator):
    """The study's outfit autoencoder: ``D -> hidden ... -> n_components -> ... hidden -> D``.

    The bottleneck is linear (the 2-D map is the encoder's output itself); the decoder
    mirrors the encoder.  With ``head_sizes`` (segment lengths summing to ``D``, e.g.
    :func:`~fashionkit.outfits.vectors.head_sizes`) the decoder ends in a softmax per segment, so a reconstruction is
    again one probability vector per head; without, in a sigmoid (entries in (0, 1)).
    The loss is the MSE of the reconstruction, the study's measure, minimised by Adam,
    full batch when ``batch_size`` is None.

    Deterministic: the weights are drawn from ``seed`` inside ``fit`` (the caller's torch
    random state is left as it was), and mini-batches are shuffled by a generator seeded
    with it, so one seed gives identical weights and embeddings on the same machine and
    thread count.

    Cost: 2000 full-batch epochs on a 1500 x 26 array with ``torch.set_num_threads(1)``
    took 3.2-3.5 s with the per-head softmax (3.5-3.7 s with 300 validation rows scored
    every epoch, 2.4-2.6 s with the sigmoid) on a shared 2-core CPU box; most of it is
    torch's per-operation overhead, not arithmetic.

    Fitted attributes: ``net_`` (``encoder_`` then ``decoder_``), ``n_features_in_``,
    ``history_`` (per epoch: ``epoch``, ``train_mse``, ``val_mse`` when ``X_val`` is
    given), ``final_train_mse_``, ``fit_seconds_``.  As Keras logs them, ``train_mse`` of
    an epoch is the mean of its batch losses, each taken before that batch's step (full
    batch: the loss of the weights that entered the epoch) and ``val_mse`` the loss of
    the weights it ended with; ``final_train_mse_`` is the MSE of the final weights on
    the training rows.
    """

    def __init__(self, n_components=2, hidden=(32, 16), epochs=2000, lr=1e-2, weight_decay=0.0,
                 batch_size=None, head_sizes=None, seed=0, progress=False):
        self.n_components = n_components
        self.hidden = hidden
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.head_sizes = head_sizes
        self.seed = seed
        self.progress = progress

    # ------------------------------------------------------------------ helpers
    def _build(self, n_features: int) -> nn.Sequential:
        widths = [n_features, *[int(h) for h in self.hidden], int(self.n_components)]
        encoder = nn.Sequential(*_mlp(widths))
        out = SegmentSoftmax(self.head_sizes) if self.head_sizes is not None else nn.Sigmoid()
        decoder = nn.Sequential(*_mlp(widths[::-1]), out)
        return nn.Sequential(encoder, decoder)

    def _check_params(self, n_features: int) -> None:
        if int(self.n_components) < 1 or any(int(h) < 1 for h in self.hidden):
            raise ValueError(f"n_components and hidden widths must be >= 1; got {self.n_components}, {self.hidden}")
        if int(self.epochs) < 1:
            raise ValueError(f"epochs must be >= 1; got {self.epochs}")
        if self.batch_size is not None and int(self.batch_size) < 1:
            raise ValueError(f"batch_size must be None (full batch) or >= 1; got {self.batch_size}")
        if self.head_sizes is not None:
            sizes = [int(s) for s in self.head_sizes]
            if min(sizes, default=0) < 1 or sum(sizes) != n_features:
                raise ValueError(f"head_sizes must be positive and sum to the {n_features} columns of X; "
                                 f"got {list(self.head_sizes)} (sum {sum(sizes)})")

    # ------------------------------------------------------------------ fit
    def fit(self, X, X_val=None, y=None):
        """Train on the rows of ``X`` (outfit vectors); ``X_val`` only feeds ``history_``."""
        X = check_matrix(X)
        self._check_params(X.shape[1])
        X_val = None if X_val is None else check_matrix(X_val, "X_val", X.shape[1], "X")
        start = time.perf_counter()
        with torch.random.fork_rng(devices=[]):  # seeds the weights, leaves the caller's RNG alone
            torch.manual_seed(int(self.seed))
            net = self._build(X.shape[1])
        gen = torch.Generator().manual_seed(int(self.seed))
        x = torch.tensor(X)
        xv = None if X_val is None else torch.tensor(X_val)
        # fused: one kernel for all parameters instead of a loop of small ops per parameter
        opt = torch.optim.Adam(net.parameters(), lr=self.lr, weight_decay=self.weight_decay, fused=True)
        n = len(x)
        batch = n if self.batch_size is None else min(int(self.batch_size), n)
        train_mse, val_mse = torch.empty(int(self.epochs)), torch.empty(int(self.epochs))
        net.train()
        bar = tqdm(range(int(self.epochs)), desc="autoencoder", disable=not self.progress, leave=False)
        for epoch in bar:
            order = torch.randperm(n, generator=gen) if batch < n else None
            total = torch.zeros(())
            for s in range(0, n, batch):
                xb = x if order is None else x[order[s:s + batch]]
                loss = nn.functional.mse_loss(net(xb), xb)
                opt.zero_grad()
                loss.backward()
                opt.step()
                total += loss.detach() * len(xb)
            train_mse[epoch] = total / n
            if xv is not None:
                with torch.inference_mode():
                    val_mse[epoch] = nn.functional.mse_loss(net(xv), xv)
            if self.progress and (epoch % 50 == 0 or epoch == int(self.epochs) - 1):
                bar.set_postfix(train_mse=f"{float(train_mse[epoch]):.4f}")
        net.eval()
        self.net_ = net
        self.encoder_, self.decoder_ = net[0], net[1]
        self.n_features_in_ = X.shape[1]
        history = {"epoch": np.arange(1, int(self.epochs) + 1), "train_mse": train_mse.numpy().astype(float)}
        if xv is not None:
            history["val_mse"] = val_mse.numpy().astype(float)
        self.history_ = pd.DataFrame(history)
        self.final_train_mse_ = self.reconstruction_mse(X)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    def fit_transform(self, X, X_val=None, y=None) -> np.ndarray:
        return self.fit(X, X_val).transform(X)

    # ------------------------------------------------------------------ maps
    def transform(self, X) -> np.ndarray:
        """``(n, n_components)``: the bottleneck coordinates of the rows of ``X``."""
        check_is_fitted(self)
        X = check_matrix(X, n_features=self.n_features_in_, fitted_on="the autoencoder (as fitted)")
        with torch.inference_mode():
            return self.encoder_(torch.tensor(X)).numpy()

    def inverse_transform(self, Z) -> np.ndarray:
        """``(n, D)``: the decoder's reconstruction of bottleneck coordinates ``Z``."""
        check_is_fitted(self)
        Z = check_matrix(Z, "Z", int(self.n_components), "the decoder's input")
        with torch.inference_mode():
            return self.decoder_(torch.tensor(Z)).numpy()

    def reconstruction_mse(self, X) -> float:
        """MSE of ``X`` against its round trip through the bottleneck (the study's 0.0418)."""
        return reconstruction_mse(X, self.inverse_transform(self.transform(X)))


class FullVector(BaseEstimator):
    """The identity map: the full outfit vector as its own "embedding".

    The reference of chapter 7's comparison, with the same ``fit`` / ``transform`` /
    ``inverse_transform`` as the reductions so that one loop handles all four.
    """

    def fit(self, X, y=None):
        self.n_features_in_ = check_matrix(X).shape[1]
        return self

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X).transform(X)

    def transform(self, X) -> np.ndarray:
        check_is_fitted(self, "n_features_in_")
        return check_matrix(X, n_features=self.n_features_in_, fitted_on="FullVector (as fitted)").copy()

    def inverse_transform(self, Z) -> np.ndarray:
        return self.transform(Z)


def create_embedding(name: str, **params):
    """An unfitted map to 2-D (or, for ``"full"``, to itself) from its name in ``EMBEDDINGS``.

    * ``"ae"``: :class:`Autoencoder` (``params`` are its parameters);
    * ``"pca"``: :class:`sklearn.decomposition.PCA` (``n_components=2``, ``seed`` -> ``random_state``);
    * ``"umap"``: :class:`umap.UMAP` (``n_components=2``, ``n_neighbors=15``, ``min_dist=0.1``,
      ``seed`` -> ``random_state``; seeded UMAP runs on one thread, so ``n_jobs=1`` is set to
      say so instead of warning).  umap is imported here only, since numba makes the import
      take seconds;
    * ``"full"``: :class:`FullVector`; it accepts ``seed`` and ignores it, so one loop can
      pass the same seed to every name.

    Other keyword arguments go to the object's constructor unchanged.
    """
    params = dict(params)
    if name == "ae":
        return Autoencoder(**params)
    seed = params.pop("seed", 0)
    if name == "pca":
        from sklearn.decomposition import PCA

        return PCA(**{"n_components": 2, "random_state": seed, **params})
    if name == "umap":
        import umap

        return umap.UMAP(**{"n_components": 2, "n_neighbors": 15, "min_dist": 0.1, "random_state": seed,
                            "n_jobs": 1, **params})
    if name == "full":
        return FullVector(**params)
    raise ValueError(f"unknown embedding {name!r}; known: {', '.join(EMBEDDINGS)}")


# ----------------------------------------------------------------------------- neighbourhood quality
def _neighbours(X: np.ndarray, k: int) -> np.ndarray:
    # kneighbors() without X leaves each point out of its own list
    return NearestNeighbors(n_neighbors=k).fit(X).kneighbors(return_distance=False)


def neighbour_preservation(X_high, X_low, k: int = 10) -> float:
    """Mean share of each point's ``k`` nearest neighbours in ``X_high`` that are also among
    its ``k`` nearest in ``X_low`` (the point itself left out; euclidean in both).

    What a recommender built on the map keeps of one built on the full vectors: 1 for a
    map that keeps every top-k list, about ``k / (n - 1)`` for a random one.
    """
    X_high = check_matrix(X_high, "X_high")
    X_low = check_matrix(X_low, "X_low")
    if len(X_high) != len(X_low):
        raise ValueError(f"X_high has {len(X_high)} rows, X_low {len(X_low)}")
    if not 1 <= k < len(X_high):
        raise ValueError(f"k must be between 1 and n - 1 = {len(X_high) - 1}; got {k}")
    both = np.sort(np.concatenate([_neighbours(X_high, k), _neighbours(X_low, k)], axis=1), axis=1)
    # each list holds k distinct points, so an index seen twice in a row is in both lists
    shared = (both[:, 1:] == both[:, :-1]).sum(axis=1)
    return float(np.mean(shared / k))


def embedding_quality(X_high, embeddings: Mapping[str, np.ndarray], k: int = 10) -> pd.DataFrame:
    """Per map: trustworthiness (scikit-learn, ``n_neighbors=k``) and neighbour preservation.

    Trustworthiness penalises points that the map brings close but that were far apart;
    neighbour preservation counts the top-k lists kept.  Index: the names of
    ``embeddings`` (``{name: (n, d) coordinates of the rows of X_high}``).
    """
    X_high = check_matrix(X_high, "X_high")
    rows = {}
    for name, X_low in embeddings.items():
        X_low = check_matrix(X_low, f"embedding {name!r}")
        if len(X_low) != len(X_high):
            raise ValueError(f"embedding {name!r} has {len(X_low)} rows, X_high {len(X_high)}")
        rows[name] = {"trustworthiness": float(trustworthiness(X_high, X_low, n_neighbors=k)),
                      "neighbour_preservation": neighbour_preservation(X_high, X_low, k)}
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["trustworthiness", "neighbour_preservation"])
    out.index.name = "embedding"
    return out
