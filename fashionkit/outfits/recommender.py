"""Outfit recommendation by nearest neighbours, and what the command line reads of it.

:class:`Recommender` answers "which outfits of the collection look most like this one?"
with the ``k`` nearest outfit vectors (the study shows the top 4), either in the space of
the vectors themselves or in a fitted map of them (the autoencoder's 2-D plane, PCA ...).
The bundle (:func:`save_bundle` / :func:`load_bundle`) is what chapter 7 hands the command
line; the captions and tables here serve both.  Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.neighbors import NearestNeighbors

from fashionkit.data.schema import MODELS
from fashionkit.data.schema import heads as schema_heads
from fashionkit.data.validation import check_is_fitted, check_matrix
from fashionkit.outfits.vectors import head_slices, outfit_vectors, vector_columns


def heads_or_all(heads_):
    return schema_heads(presence=False) if heads_ is None else tuple(heads_)


# ----------------------------------------------------------------------------- the recommender
class Recommender(BaseEstimator):
    """The ``k`` nearest outfits of a collection, optionally in a fitted map of the vectors.

    ``embedding``: an already fitted object with ``transform`` (the autoencoder trained on
    the training split, a PCA ...); it is applied to the collection in ``fit`` and to
    every query, so queries are always given as outfit vectors.  None: neighbours are
    found among the vectors as given.

    ``kneighbors`` returns *positions* in the collection (rows of the ``X`` given to
    ``fit``), the form the scoring functions of :mod:`fashionkit.outfits.quality` take; ``recommend`` returns
    ids.  Equal distances are ordered by position, so results never depend on the search
    structure scikit-learn picks.  The object pickles (joblib) with its embedding.
    """

    def __init__(self, k=4, metric="euclidean", embedding=None):
        self.k = k
        self.metric = metric
        self.embedding = embedding

    def _space(self, X, name: str, n_features: int | None = None) -> np.ndarray:
        X = check_matrix(X, name, n_features, "the recommender (as fitted)", dtype=np.float64)
        if self.embedding is None:
            return X
        return check_matrix(self.embedding.transform(X), f"embedded {name}", dtype=np.float64)

    def fit(self, X, ids=None):
        """Index the collection ``X`` (outfit vectors); ``ids`` name its rows (default 0..n-1)."""
        X = check_matrix(X, dtype=np.float64)
        Z = self._space(X, "X")
        ids = np.arange(len(Z)) if ids is None else np.asarray(ids)
        if ids.shape != (len(Z),):
            raise ValueError(f"ids must be one per row of X ({len(Z)}); got shape {ids.shape}")
        if pd.Index(ids).has_duplicates:
            raise ValueError("ids must be unique: they are how queries are excluded from their own lists")
        self.n_features_in_ = X.shape[1]
        self.ids_ = ids
        self.vectors_ = Z
        self.index_ = NearestNeighbors(metric=self.metric).fit(Z)
        return self

    def _exclusions(self, exclude, n_queries: int) -> list[np.ndarray]:
        """Positions to leave out, one array per query, from ids (one entry per query)."""
        if exclude is None:
            return [np.zeros(0, dtype=np.int64)] * n_queries
        if isinstance(exclude, str) or not hasattr(exclude, "__len__") or len(exclude) != n_queries:
            raise ValueError(f"exclude must hold one entry per query ({n_queries}): an id, a list of ids or None")
        index = pd.Index(self.ids_)
        out = []
        for entry in exclude:
            if entry is None:
                wanted = []
            elif isinstance(entry, str) or np.ndim(entry) == 0:
                wanted = [entry]
            else:
                wanted = list(entry)
            pos = index.get_indexer(wanted) if wanted else np.zeros(0, dtype=np.int64)
            if (pos < 0).any():
                unknown = [w for w, p in zip(wanted, pos) if p < 0]
                raise ValueError(f"ids to exclude not in the collection: {unknown[:5]}")
            out.append(np.unique(pos))
        return out

    def kneighbors(self, X, k=None, exclude=None) -> tuple[np.ndarray, np.ndarray]:
        """``(distances, positions)``, both ``(n_queries, k)``, nearest first.

        ``X``: query outfit vectors (the space ``fit`` saw, before any embedding).
        ``exclude``: one entry per query, an id or list of ids to leave out (the query
        itself when it belongs to the collection) or None.  Always ``k`` distinct items;
        a ``k`` larger than the collection minus the exclusions raises.
        """
        check_is_fitted(self, "index_")
        Z = self._space(X, "X", self.n_features_in_)
        k = self.k if k is None else k
        if int(k) != k or k < 1:
            raise ValueError(f"k must be a positive integer; got {k!r}")
        k = int(k)
        excluded = self._exclusions(exclude, len(Z))
        n = len(self.ids_)
        most = max((len(e) for e in excluded), default=0)
        for e in excluded:
            if k > n - len(e):
                raise ValueError(f"k = {k} exceeds the {n} items of the collection minus {len(e)} excluded")
        first = min(n, k + most)
        dist, pos = self.index_.kneighbors(Z, n_neighbors=first)
        out_d, out_p = np.empty((len(Z), k)), np.empty((len(Z), k), dtype=np.int64)
        for i, skip in enumerate(excluded):
            d, p, m = dist[i], pos[i], first
            while True:
                order = np.lexsort((p, d))  # by distance, then by position
                d, p = d[order], p[order]
                keep = ~np.isin(p, skip)
                kept_d, kept_p = d[keep][:k], p[keep][:k]
                # done unless an item outside the candidates could tie with the last one kept
                if m >= n or d[-1] > kept_d[-1]:
                    break
                m = min(n, 2 * m)
                d, p = (a[0] for a in self.index_.kneighbors(Z[i:i + 1], n_neighbors=m))
            out_d[i], out_p[i] = kept_d, kept_p
        return out_d, out_p

    def recommend(self, X, k=None, exclude=None) -> list[np.ndarray]:
        """The ids of the ``k`` nearest collection items of every query (see :meth:`kneighbors`)."""
        _, positions = self.kneighbors(X, k, exclude)
        return [self.ids_[row] for row in positions]


# ----------------------------------------------------------------------------- captions and the bundle
def answer_texts(collection: pd.DataFrame, positions, heads_) -> list[str]:
    """Short captions of the models' answers: ``"t-shirt · long\\njeans · ankle"`` (top heads
    on the first line, bottom heads on the second)."""
    texts = []
    for p in np.asarray(positions):
        row = collection.iloc[int(p)]
        lines = [" · ".join(str(row[f"pred.{h.key}"]) for h in heads_or_all(heads_) if h.model == m) for m in MODELS]
        texts.append("\n".join(line for line in lines if line))
    return texts


def neighbour_table(collection: pd.DataFrame, positions, distances) -> pd.DataFrame:
    """Recommended outfits as a table: rank, image, distance, every head's answer, path."""
    rows = collection.iloc[np.asarray(positions, dtype=int)]
    answers = rows[[c for c in collection.columns if c.startswith("pred.")]]
    answers.columns = [c.removeprefix("pred.") for c in answers.columns]
    out = pd.concat([rows[["image"]].reset_index(drop=True), answers.reset_index(drop=True)], axis=1)
    out.insert(0, "rank", np.arange(1, len(out) + 1))
    out.insert(2, "distance", np.round(np.asarray(distances, dtype=float), 4))
    out["path"] = rows["path"].to_numpy()
    return out


def outfit_vector_of(probas: Mapping[str, np.ndarray]) -> np.ndarray:
    """Outfit vectors ``(n, D)`` from every head's probabilities (the collection's layout)."""

    return outfit_vectors(probas, [h for model in MODELS for h in schema_heads(model, presence=False)])


# ----------------------------------------------------------------------------- a garment as the query
def query_garments(shown: Mapping[str, bool]) -> list[str]:
    """The garments a query photo shows (``shown``: model -> did its presence head find its garment?),
    in :data:`~fashionkit.data.schema.MODELS` order: both (an outfit), one (a garment alone) or none."""
    return [m for m in MODELS if bool(shown[m])]


def garment_columns(model: str) -> list[str]:
    """The collection's columns (``tta.<head>.<class>``) of one garment's part of the outfit vector."""
    return [f"tta.{c}" for c in vector_columns(schema_heads(model, presence=False))]


def garment_recommender(collection: pd.DataFrame, model: str, k: int) -> Recommender:
    """The ``k`` outfits of ``collection`` whose ``model`` garment is nearest a query's: only that garment's
    heads count (the full vector's space, restricted to their part), so a photo of a skirt alone is
    answered with whole outfits whose bottom resembles it, whatever their top."""
    return Recommender(k=k).fit(collection[garment_columns(model)].to_numpy(np.float64),
                                collection["image"].to_numpy())


def garment_vector_of(probas: Mapping[str, np.ndarray], model: str) -> np.ndarray:
    """One garment's part of the outfit vector ``(n, d)`` from its heads' probabilities."""
    return outfit_vectors(probas, schema_heads(model, presence=False))


def answers_frame(probas: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """``pred.<head>`` columns (each head's most likely class) from probabilities, as the
    collection holds them, so :func:`answer_texts` can caption any photo."""
    return pd.DataFrame({f"pred.{h.key}": np.asarray(h.names)[np.asarray(probas[h.key]).argmax(axis=1)]
                         for model in MODELS for h in schema_heads(model, presence=False) if h.key in probas})


def collection_match(collection: pd.DataFrame, path) -> str | None:
    """The collection's id of ``path`` when it is one of the collection's own photo files
    (same file on disk), else None; a different photo with the same name is not a match."""
    target = Path(path).resolve()
    for image, stored in zip(collection["image"], collection["path"]):
        if Path(stored).resolve() == target:
            return str(image)
    return None


class Bundle(NamedTuple):
    recommender: Recommender
    collection: pd.DataFrame
    meta: dict


BUNDLE_FILES = ("recommender.joblib", "recommender.json", "collection.csv")


def save_bundle(out_dir, recommender: Recommender, collection: pd.DataFrame, **meta) -> list[Path]:
    """Write what the CLI needs to recommend for a new photo: the fitted recommender
    (joblib, with its map), ``meta`` (space, views, image sizes, checkpoints, ...; JSON) and
    the collection table.  Returns the paths written."""
    import joblib

    check_is_fitted(recommender, "index_")
    out_dir = Path(out_dir)
    paths = [out_dir / name for name in BUNDLE_FILES]
    joblib.dump(recommender, paths[0])
    paths[1].write_text(json.dumps({"k": int(recommender.k), **meta}, indent=1, default=list))
    collection.to_csv(paths[2], index=False)
    return paths


def load_bundle(out_dir) -> Bundle:
    """What :func:`save_bundle` wrote; ``FileNotFoundError`` names a missing file."""
    import joblib

    paths = [Path(out_dir) / name for name in BUNDLE_FILES]
    for path in paths:
        if not path.is_file():
            raise FileNotFoundError(f"{path} is missing")
    collection = pd.read_csv(paths[2], dtype={"image": str})
    return Bundle(joblib.load(paths[0]), collection, json.loads(paths[1].read_text()))


def vector_answers(vector, heads_=None) -> pd.DataFrame:
    """Every head's answer in one outfit vector: ``head`` (display name), ``answer`` (the
    most probable class) and ``probability %``."""

    heads_ = heads_or_all(heads_)
    vector = np.asarray(vector, dtype=float).ravel()
    slices = head_slices(heads_)
    if vector.size != slices[-1].stop:
        raise ValueError(f"vector has {vector.size} numbers; the heads need {slices[-1].stop}")
    return pd.DataFrame({"head": [h.en for h in heads_],
                         "answer": [h.names[int(vector[s].argmax())] for h, s in zip(heads_, slices)],
                         "probability %": [100 * float(vector[s].max()) for s in slices]})
