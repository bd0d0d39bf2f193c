"""Outfit recommendation by nearest neighbours, and how to judge it (chapter 7).

:class:`Recommender` answers "which outfits of the collection look most like this one?"
with the ``k`` nearest outfit vectors (the study shows the top 4), either in the space of
the vectors themselves or in a fitted map of them (the autoencoder's 2-D plane, PCA ...).

No one labelled which outfits go together, so recommendations are judged indirectly:

* :func:`attribute_agreement`: how often a recommended outfit has the query's ground-truth
  label, per head, counted over pairs where both photos have a label;
* :func:`diversity`: how different the recommended outfits are from one another, in one
  common space for every method (the full probability vector);
* :func:`coverage`: how much of the collection is ever recommended;

against two references: :func:`random_neighbours` (what chance gives) and
:func:`label_vectors` (neighbours by the ground-truth labels alone, what a perfect
attribute model would give).  :func:`recommendation_table` puts it all in one row per
space, with a bootstrap interval over queries; :func:`quality_table` is that table for reading.
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

from .schema import MODELS
from .schema import heads as schema_heads
from .validation import check_is_fitted, check_matrix


def _heads(heads_):
    return schema_heads() if heads_ is None else tuple(heads_)


# ----------------------------------------------------------------------------- the recommender
class Recommender(BaseEstimator):
    """The ``k`` nearest outfits of a collection, optionally in a fitted map of the vectors.

    ``embedding``: an already fitted object with ``transform`` (the autoencoder trained on
    the training split, a PCA ...); it is applied to the collection in ``fit`` and to
    every query, so queries are always given as outfit vectors.  None: neighbours are
    found among the vectors as given.

    ``kneighbors`` returns *positions* in the collection (rows of the ``X`` given to
    ``fit``), the form the scoring functions of this module take; ``recommend`` returns
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


# ----------------------------------------------------------------------------- references
def random_neighbours(n_items: int, query_positions, k: int, seed: int = 0) -> np.ndarray:
    """``(n_queries, k)`` positions: ``k`` distinct random items per query, never the query.

    The chance level of every score.  Deterministic given ``seed``.
    """
    q = np.asarray(query_positions, dtype=np.int64)
    if q.ndim != 1 or ((q < 0) | (q >= n_items)).any():
        raise ValueError(f"query_positions must be a 1-D array of positions in 0..{n_items - 1}")
    if not 1 <= k <= n_items - 1:
        raise ValueError(f"k must be between 1 and n_items - 1 = {n_items - 1}; got {k}")
    rng = np.random.default_rng(seed)
    out = np.empty((len(q), k), dtype=np.int64)
    for i, query in enumerate(q):
        draw = rng.choice(n_items - 1, size=k, replace=False)
        out[i] = draw + (draw >= query)  # skip over the query's own position
    return out


def _codes(labels: pd.DataFrame, head) -> np.ndarray:
    """Class indices of one head's label column, -1 where missing; an unknown name raises."""
    if head.key not in labels:
        raise ValueError(f"labels have no column {head.key!r}")
    col = labels[head.key].astype(object)
    missing = col.isna().to_numpy()
    codes = col.map({name: i for i, name in enumerate(head.names)}).to_numpy(dtype=float)
    unknown = ~missing & np.isnan(codes)
    if unknown.any():
        head.index(col[unknown].iloc[0])  # raises UnknownLabelError naming the value and head
    return np.where(missing, -1, np.nan_to_num(codes, nan=-1)).astype(np.int64)


def label_vectors(labels: pd.DataFrame, heads_=None) -> np.ndarray:
    """``(n, D)`` float32: one-hot ground-truth labels per head, laid out like an outfit vector.

    A missing label leaves its head's segment all zero, so it neither pulls two outfits
    together nor apart more than any other missing label.  Recommending in this space is
    the reference of a perfect attribute model.
    """
    heads_ = _heads(heads_)
    parts = []
    for head in heads_:
        codes = _codes(labels, head)
        onehot = np.zeros((len(codes), head.n_classes), dtype=np.float32)
        rows = np.flatnonzero(codes >= 0)
        onehot[rows, codes[rows]] = 1
        parts.append(onehot)
    return np.concatenate(parts, axis=1)


# ----------------------------------------------------------------------------- scores
def _positions(query_positions, neighbour_positions, n_items: int) -> tuple[np.ndarray, np.ndarray]:
    q = np.asarray(query_positions, dtype=np.int64)
    nb = np.asarray(neighbour_positions, dtype=np.int64)
    if q.ndim != 1 or nb.ndim != 2 or len(nb) != len(q):
        raise ValueError(f"query_positions must be (n_queries,) and neighbour_positions (n_queries, k); "
                         f"got {q.shape} and {nb.shape}")
    for name, a in (("query_positions", q), ("neighbour_positions", nb)):
        if a.size and (a.min() < 0 or a.max() >= n_items):
            raise ValueError(f"{name} must be positions in 0..{n_items - 1}")
    return q, nb


def _pair_counts(labels, query_positions, neighbour_positions, heads_) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per head: (agreeing pairs, labelled pairs), each counted per query."""
    q, nb = _positions(query_positions, neighbour_positions, len(labels))
    out = {}
    for head in _heads(heads_):
        codes = _codes(labels, head)
        cq, cn = codes[q][:, None], codes[nb]
        both = (cq >= 0) & (cn >= 0)
        out[head.key] = (((cq == cn) & both).sum(axis=1), both.sum(axis=1))
    return out


def _percent(agree, pairs):
    agree, pairs = np.asarray(agree, dtype=float), np.asarray(pairs, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, 100 * agree / pairs, np.nan)


def _mean_over_heads(percent: np.ndarray) -> np.ndarray:
    """Mean over the last axis, leaving out NaN (heads without pairs); NaN if none has data."""
    have = ~np.isnan(percent)
    n = have.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.where(have, percent, 0).sum(axis=-1) / n, np.nan)


def agreement_counts(labels: pd.DataFrame, query_positions, neighbour_positions, heads_=None) -> pd.DataFrame:
    """Per head, ``agreement_%`` and the number of ``pairs`` it is counted over.

    A (query, neighbour) pair counts for a head only when both photos have that head's
    label; the share of those pairs with the same label is its agreement (NaN with no
    pair).  Row ``"mean"``: the mean of the heads' agreements that have data, with the
    pairs of all heads.  ``labels`` rows are collection positions.
    """
    counts = _pair_counts(labels, query_positions, neighbour_positions, heads_)
    agree = np.array([a.sum() for a, _ in counts.values()])
    pairs = np.array([p.sum() for _, p in counts.values()])
    percent = _percent(agree, pairs)
    out = pd.DataFrame({"agreement_%": percent, "pairs": pairs}, index=pd.Index(list(counts), name="head"))
    out.loc["mean"] = [float(_mean_over_heads(percent)), int(pairs.sum())]
    out["pairs"] = out["pairs"].astype(int)
    return out


def attribute_agreement(labels: pd.DataFrame, query_positions, neighbour_positions, heads_=None) -> pd.Series:
    """Per head (and ``"mean"``): % of labelled (query, neighbour) pairs with the same label.

    See :func:`agreement_counts` for the pairs counted.
    """
    return agreement_counts(labels, query_positions, neighbour_positions, heads_)["agreement_%"]


def diversity(X, neighbour_positions) -> float:
    """Mean euclidean distance between two items recommended together, over all queries.

    Measured in one space ``X`` for every method (the full outfit vectors), so a map
    that crowds its lists with near-copies scores low whatever its own distances say.
    """
    X = check_matrix(X, dtype=np.float64)
    nb = np.asarray(neighbour_positions, dtype=np.int64)
    if nb.ndim != 2 or nb.shape[1] < 2:
        raise ValueError(f"neighbour_positions must be (n_queries, k) with k >= 2; got {nb.shape}")
    if nb.size and (nb.min() < 0 or nb.max() >= len(X)):
        raise ValueError(f"neighbour_positions must be rows of X (0..{len(X) - 1})")
    V = X[nb]  # (n_queries, k, D)
    i, j = np.triu_indices(nb.shape[1], 1)
    return float(np.linalg.norm(V[:, i] - V[:, j], axis=-1).mean())


def coverage(neighbour_positions, n_items: int) -> float:
    """Share of the ``n_items`` collection recommended to at least one query."""
    nb = np.asarray(neighbour_positions, dtype=np.int64)
    if nb.size and (nb.min() < 0 or nb.max() >= n_items):
        raise ValueError(f"neighbour_positions must be positions in 0..{n_items - 1}")
    return float(np.unique(nb).size / n_items)


def recommendation_table(labels: pd.DataFrame, X, query_positions, neighbours: Mapping[str, np.ndarray],
                         heads_=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """One row per space: how its recommendations score.

    ``neighbours``: ``{space name: (n_queries, k) positions}`` for the same
    ``query_positions``; ``labels`` and ``X`` (the full outfit vectors, the common space
    of :func:`diversity`) have one row per collection position.

    Columns: ``<head key>_%``, every head's agreement; ``mean_agreement_%``, their mean
    over the heads with data; ``ci_low_%`` / ``ci_high_%``, its percentile bootstrap
    interval over queries at ``level`` (every space is resampled with the same draws, so
    the intervals are paired); ``diversity``; ``coverage`` (a share, 0..1).  The names
    are those :func:`fashionkit.plots.recommendation_bars` reads.
    """
    X = check_matrix(X, dtype=np.float64)
    if len(X) != len(labels):
        raise ValueError(f"X has {len(X)} rows, labels {len(labels)}: both must be the collection")
    n_queries = len(np.asarray(query_positions))
    rows = {}
    for name, nb in neighbours.items():
        counts = _pair_counts(labels, query_positions, nb, heads_)
        agree = np.stack([a for a, _ in counts.values()], axis=1)  # (n_queries, heads)
        pairs = np.stack([p for _, p in counts.values()], axis=1)
        percent = _percent(agree.sum(axis=0), pairs.sum(axis=0))
        # resampling queries with replacement = multinomial counts of how often each is drawn
        draws = np.random.default_rng(seed).multinomial(n_queries, np.full(n_queries, 1 / n_queries), size=n_boot)
        boot = _mean_over_heads(_percent(draws @ agree, draws @ pairs))
        boot = boot[~np.isnan(boot)]
        alpha = (1 - level) / 2
        low, high = (np.quantile(boot, [alpha, 1 - alpha]) if boot.size else (np.nan, np.nan))
        rows[name] = {**{f"{key}_%": p for key, p in zip(counts, percent)},
                      "mean_agreement_%": float(_mean_over_heads(percent)), "ci_low_%": float(low), "ci_high_%": float(high),
                      "diversity": diversity(X, nb), "coverage": coverage(nb, len(X))}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "space"
    return out


def quality_table(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """:func:`recommendation_table` for reading (``tables.show`` formats the numbers): heads no
    query could be scored on (no labels) dropped, ``<head>_%`` columns named after their head, the
    interval as one cell headed by its ``level``, coverage in %.  Unknown columns are kept."""
    from .schema import UnknownLabelError, get_head
    from .tables import interval

    frame = table.dropna(axis=1, how="all").copy()
    if {"ci_low_%", "ci_high_%"} <= set(frame.columns):
        cells = [interval(lo, hi) for lo, hi in zip(frame.pop("ci_low_%"), frame.pop("ci_high_%"))]
        frame.insert(list(frame.columns).index("mean_agreement_%") + 1, f"{100 * level:g}% CI", cells)
    if "coverage" in frame:
        frame["coverage"] = 100 * frame["coverage"]
    names = {"mean_agreement_%": "mean agreement %", "coverage": "coverage %"}
    for column in frame.columns:
        if column not in names and str(column).endswith("_%"):
            try:
                names[column] = f"{get_head(str(column).removesuffix('_%')).en} %"
            except UnknownLabelError:
                pass
    return frame.rename(columns=names)


# ----------------------------------------------------------------------------- the collection (chapter 7, CLI)
# the outfit vector follows schema.MODELS: top heads, then bottom heads


def outfit_collection(manifest: pd.DataFrame, clfs: Mapping, views: Mapping, features_dir, image_sizes: Mapping,
                      view_size=None) -> pd.DataFrame:
    """The outfit photos (chapter 1's ``outfit`` flag: a separate top and bottom) of every
    split, one row each: ``image, source, annotation, split, path``, the labels
    (``label.<head>``), the answers (``pred.<head>``) and both models' probabilities
    averaged over ``views[model]`` (``tta.<head>.<class>``), from the cached maps.
    """
    from .pipeline import collection_probas, predictions_frame

    frames = []
    for model in MODELS:
        rows, proba = collection_probas(manifest, clfs[model], views[model], features_dir, image_sizes[model],
                                        view_size=view_size, progress=False)
        frames.append(predictions_frame(rows, {"tta": proba}, schema_heads(model)))
    keys = ["image", "source", "annotation", "split"]
    both = frames[0].merge(frames[1], on=keys)  # photos both models read
    info = manifest.loc[manifest["outfit"].astype(bool), ["image", "source", "path"]]
    return both.merge(info, on=["image", "source"]).reset_index(drop=True)


def collection_labels(collection: pd.DataFrame, heads_=None) -> pd.DataFrame:
    """The ground-truth labels of the collection, one column per head key (NA = no label)."""
    return pd.DataFrame({h.key: collection[f"label.{h.key}"] for h in _heads(heads_)})


def compare_recommenders(spaces: Mapping[str, tuple[Recommender, np.ndarray]], X, labels: pd.DataFrame, ids,
                         query_positions, heads_=None, k: int = 4, n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95) -> pd.DataFrame:
    """:func:`recommendation_table` for the queries ``query_positions`` of the collection.

    ``spaces[name] = (fitted recommender, the vectors it reads)``; each query is looked up
    with its own vector and left out of its own recommendations.  ``random`` picks are
    added as the floor.  Diversity is measured in ``X`` (the full vectors) for every space.
    """
    ids, q = np.asarray(ids), np.asarray(query_positions)
    neighbours = {name: rec.kneighbors(np.asarray(vectors)[q], k=k, exclude=ids[q])[1]
                  for name, (rec, vectors) in spaces.items()}
    neighbours["random"] = random_neighbours(len(ids), q, k, seed)
    return recommendation_table(labels, X, q, neighbours, heads_, n_boot=n_boot, level=level, seed=seed)


def verdict(table: pd.DataFrame, chosen: str, floor: str = "random", ceiling: str = "ground-truth labels") -> str:
    """One sentence placing ``chosen``'s mean agreement among the other rows of ``table``.

    Two rows differ only when their bootstrap intervals do not overlap (the intervals use
    the same resampled queries, see :func:`recommendation_table`).
    """
    row = table.loc[chosen]

    def relation(name):
        other = table.loc[name]
        if other["ci_high_%"] < row["ci_low_%"]:
            return "below"
        if other["ci_low_%"] > row["ci_high_%"]:
            return "above"
        return "within noise of"

    others = [n for n in table.index if n not in (chosen, floor, ceiling)]
    parts = [f"On the test queries it agrees with the query's labels {row['mean_agreement_%']:.1f}% of the time "
             f"({row['ci_low_%']:.1f}–{row['ci_high_%']:.1f})"]
    if floor in table.index:
        parts.append(f"random picks ({table.loc[floor, 'mean_agreement_%']:.1f}%) are {relation(floor)} it")
    if ceiling in table.index:
        parts.append(f"recommending by the true labels ({table.loc[ceiling, 'mean_agreement_%']:.1f}%) is "
                     f"{relation(ceiling)} it")
    if others:
        parts.append("the other spaces are " + ", ".join(f"{relation(n)} it ({n})" for n in others))
    return "; ".join(parts) + "."


def answer_texts(collection: pd.DataFrame, positions, heads_) -> list[str]:
    """Short captions of the models' answers: ``"t-shirt · long\\njeans · ankle"`` (top heads
    on the first line, bottom heads on the second)."""
    texts = []
    for p in np.asarray(positions):
        row = collection.iloc[int(p)]
        lines = [" · ".join(str(row[f"pred.{h.key}"]) for h in _heads(heads_) if h.model == m) for m in MODELS]
        texts.append("\n".join(line for line in lines if line))
    return texts


def neighbour_sheet(collection: pd.DataFrame, positions, distances, heads_, query_path, query_text: str, title: str):
    """The query photo beside its recommended outfits, each titled with the models' answers
    for ``heads_`` and its distance (:func:`fashionkit.plots.recommendation_panel`); chapter 7
    and ``python -m fashionkit recommend --sheet`` draw the same figure."""
    from . import plots

    positions = np.asarray(positions, dtype=int)
    texts = [f"{t}\nd = {d:.3f}" for t, d in zip(answer_texts(collection, positions, heads_), distances)]
    return plots.recommendation_panel(query_path, query_text, collection["path"].to_numpy()[positions], texts, title)


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


def photo_probas(paths, clfs: Mapping, views: Mapping, image_sizes: Mapping, view_size=None) -> dict:
    """Every head's probabilities for photo files, computed from the photos (never the cache):
    each model's probabilities averaged over its views (:func:`fashionkit.inference.predict_photos`)."""
    from .inference import predict_photos

    probas = {}
    for model in MODELS:
        probas.update(predict_photos(clfs[model], paths, views[model], image_sizes[model], view_size))
    return probas


def photo_vectors(paths, clfs: Mapping, views: Mapping, image_sizes: Mapping, view_size=None) -> np.ndarray:
    """Outfit vectors ``(n, D)`` of photo files (:func:`photo_probas` joined as the collection's are)."""
    return outfit_vector_of(photo_probas(paths, clfs, views, image_sizes, view_size))


def outfit_vector_of(probas: Mapping[str, np.ndarray]) -> np.ndarray:
    """Outfit vectors ``(n, D)`` from every head's probabilities (the collection's layout)."""
    from .vectors import outfit_vectors

    return outfit_vectors(probas, [h for model in MODELS for h in schema_heads(model)])


def answers_frame(probas: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """``pred.<head>`` columns (each head's most likely class) from probabilities, as the
    collection holds them, so :func:`answer_texts` can caption any photo."""
    return pd.DataFrame({f"pred.{h.key}": np.asarray(h.names)[np.asarray(probas[h.key]).argmax(axis=1)]
                         for model in MODELS for h in schema_heads(model) if h.key in probas})


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
    from .vectors import head_slices

    heads_ = _heads(heads_)
    vector = np.asarray(vector, dtype=float).ravel()
    slices = head_slices(heads_)
    if vector.size != slices[-1].stop:
        raise ValueError(f"vector has {vector.size} numbers; the heads need {slices[-1].stop}")
    return pd.DataFrame({"head": [h.en for h in heads_],
                         "answer": [h.names[int(vector[s].argmax())] for h, s in zip(heads_, slices)],
                         "probability %": [100 * float(vector[s].max()) for s in slices]})
