"""How recommendations are judged (chapter 7).

The recommender (:class:`fashionkit.outfits.recommender.Recommender`) answers "which outfits
of the collection look most like this one?".  No one labelled which outfits go together, so recommendations are judged indirectly:

* :func:`attribute_agreement`: how often a recommended outfit has the query's ground-truth
  label, per head, counted over pairs where both photos have a label;
* :func:`diversity`: how different the recommended outfits are from one another, in one
  common space for every method (the full probability vector);
* :func:`coverage`: how much of the collection is ever recommended;
* :func:`scored_share`: how many of the recommendations carry a label the agreement can be counted on;

against two references: :func:`random_neighbours` (what chance gives) and
:func:`label_vectors` (neighbours by the ground-truth labels alone, what a perfect
attribute model would give).  :func:`recommendation_table` puts it all in one row per
space, with a bootstrap interval over queries; :func:`fashionkit.book.outfit_tables.quality_table`
is that table for reading.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from fashionkit.data.validation import check_matrix
from fashionkit.outfits.recommender import Recommender, heads_or_all
from fashionkit.outfits.vectors import head_slices


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
    heads_ = heads_or_all(heads_)
    parts = []
    for head in heads_:
        codes = _codes(labels, head)
        onehot = np.zeros((len(codes), head.n_classes), dtype=np.float32)
        rows = np.flatnonzero(codes >= 0)
        onehot[rows, codes[rows]] = 1
        parts.append(onehot)
    return np.concatenate(parts, axis=1)


def labelled_where_known(X, labels: pd.DataFrame, heads_=None) -> np.ndarray:
    """``X`` (outfit vectors) with each head's segment replaced by the outfit's one-hot label where it
    has one: the collection described by its annotations, read by the models only where it has none."""
    heads_ = heads_or_all(heads_)
    X = check_matrix(X, dtype=np.float64).copy()
    if len(X) != len(labels):
        raise ValueError(f"X has {len(X)} rows, labels {len(labels)}: both must be the collection")
    truth = label_vectors(labels, heads_)
    for part in head_slices(heads_):
        known = truth[:, part].any(axis=1)  # a missing label leaves its segment all zero
        X[known, part] = truth[known, part]
    return X


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
    for head in heads_or_all(heads_):
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


def scored_share(labels: pd.DataFrame, query_positions, neighbour_positions, heads_=None) -> pd.Series:
    """Per head, the share (%) of the recommendations that carry a label, among those made to queries
    that carry one (NaN where no query does): how much of a recommender's answers its agreement score
    can judge."""
    q, nb = _positions(query_positions, neighbour_positions, len(labels))
    heads_ = heads_or_all(heads_)
    out = {}
    for head, (_, pairs) in zip(heads_, _pair_counts(labels, q, nb, heads_).values()):
        asked = nb.shape[1] * int((_codes(labels, head)[q] >= 0).sum())
        out[head.key] = 100.0 * pairs.sum() / asked if asked else np.nan
    return pd.Series(out, name="scored_%")


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


def _query_draws(n_queries: int, n_boot: int, seed: int) -> np.ndarray:
    """``(n_boot, n_queries)``: resampling queries with replacement, as counts of how often each is drawn."""
    return np.random.default_rng(seed).multinomial(n_queries, np.full(n_queries, 1 / n_queries), size=n_boot)


def _scored(labels, query_positions, neighbour_positions, heads_, draws) -> tuple[list[str], np.ndarray, np.ndarray]:
    """``(head keys, each head's agreement %, the mean over heads on each resample of draws)``."""
    counts = _pair_counts(labels, query_positions, neighbour_positions, heads_)
    agree = np.stack([a for a, _ in counts.values()], axis=1)  # (n_queries, heads)
    pairs = np.stack([p for _, p in counts.values()], axis=1)
    return (list(counts), _percent(agree.sum(axis=0), pairs.sum(axis=0)),
            _mean_over_heads(_percent(draws @ agree, draws @ pairs)))


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
    are those :func:`fashionkit.book.outfit_figures.recommendation_bars` reads.
    """
    X = check_matrix(X, dtype=np.float64)
    if len(X) != len(labels):
        raise ValueError(f"X has {len(X)} rows, labels {len(labels)}: both must be the collection")
    draws = _query_draws(len(np.asarray(query_positions)), n_boot, seed)  # the same draws for every space
    rows = {}
    for name, nb in neighbours.items():
        keys, percent, boot = _scored(labels, query_positions, nb, heads_, draws)
        boot = boot[~np.isnan(boot)]
        alpha = (1 - level) / 2
        low, high = (np.quantile(boot, [alpha, 1 - alpha]) if boot.size else (np.nan, np.nan))
        rows[name] = {**{f"{key}_%": p for key, p in zip(keys, percent)},
                      "mean_agreement_%": float(_mean_over_heads(percent)), "ci_low_%": float(low), "ci_high_%": float(high),
                      "diversity": diversity(X, nb), "coverage": coverage(nb, len(X))}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "space"
    return out


def agreement_gains(labels: pd.DataFrame, query_positions, neighbours: Mapping[str, np.ndarray], reference: str,
                    heads_=None, n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """How much each space's recommendations agree more (or less) than ``reference``'s, on the same queries.

    One row per other space of ``neighbours`` (``{name: (n_queries, k) positions}``): ``<head key>_points``,
    each head's agreement minus the reference's (percentage points); ``gain_points``, the same for the mean
    over heads; ``gain_lo`` / ``gain_hi``, its paired percentile bootstrap interval at ``level`` (both
    spaces scored on the same resampled queries, as :func:`recommendation_table` draws them).
    Each mean is over the heads with labelled pairs in that space; both spaces see the same labels,
    so they differ only where a head's pairs all lack a label in one space and not in the other.
    """
    if reference not in neighbours:
        raise ValueError(f"the reference {reference!r} is not one of the spaces {list(neighbours)}")
    draws = _query_draws(len(np.asarray(query_positions)), n_boot, seed)
    keys, base, base_boot = _scored(labels, query_positions, neighbours[reference], heads_, draws)
    alpha = (1 - level) / 2
    rows = {}
    for name, nb in neighbours.items():
        if name == reference:
            continue
        _, percent, boot = _scored(labels, query_positions, nb, heads_, draws)
        diff = boot - base_boot
        diff = diff[~np.isnan(diff)]
        low, high = np.quantile(diff, [alpha, 1 - alpha]) if diff.size else (np.nan, np.nan)
        rows[name] = {**{f"{key}_points": p - b for key, p, b in zip(keys, percent, base)},
                      "gain_points": float(_mean_over_heads(percent) - _mean_over_heads(base)),
                      "gain_lo": float(low), "gain_hi": float(high)}
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "space"
    return out


def outside_query_table(collection_labels_: pd.DataFrame, query_labels: pd.DataFrame, X_collection, X_queries,
                        neighbours: Mapping[str, np.ndarray], heads_, k: int, n_boot: int = 1000, level: float = 0.95,
                        seed: int = 0) -> pd.DataFrame:
    """:func:`recommendation_table` for queries that are not outfits of the collection (a garment photographed
    alone): ``neighbours[name]`` holds ``(n_queries, k)`` collection positions; each query's labels
    (``query_labels``, a row per query) are compared with its neighbours' on ``heads_``.  ``random``
    picks ``k`` distinct collection outfits per query.  ``X_*``: the vectors diversity is measured in;
    coverage is a share of the collection."""
    heads_ = heads_or_all(heads_)
    keys = [h.key for h in heads_]
    n = len(collection_labels_)
    labels = pd.concat([collection_labels_[keys], query_labels[keys]], ignore_index=True)
    q = np.arange(n, n + len(query_labels))
    rng = np.random.default_rng(seed)
    picks = {**neighbours, "random": np.array([rng.choice(n, size=k, replace=False) for _ in q], dtype=np.int64)
             .reshape(len(q), k)}
    X = np.vstack([np.asarray(X_collection, dtype=np.float64), np.asarray(X_queries, dtype=np.float64)])
    table = recommendation_table(labels, X, q, picks, heads_, n_boot=n_boot, level=level, seed=seed)
    table["coverage"] = [coverage(nb, n) for nb in picks.values()]
    return table


def collection_labels(collection: pd.DataFrame, heads_=None) -> pd.DataFrame:
    """The ground-truth labels of the collection, one column per head key (NA = no label)."""
    return pd.DataFrame({h.key: collection[f"label.{h.key}"] for h in heads_or_all(heads_)})


def own_query_neighbours(spaces: Mapping[str, tuple[Recommender, np.ndarray]], ids, query_positions,
                         k: int = 4) -> dict[str, np.ndarray]:
    """``{space: (n_queries, k) positions}``: each space's ``k`` recommendations for the collection's
    outfits at ``query_positions``, each looked up with its own vector in that space (``spaces[name] =
    (fitted recommender, the vectors it reads)``) and left out of its own list."""
    ids, q = np.asarray(ids), np.asarray(query_positions)
    return {name: rec.kneighbors(np.asarray(vectors)[q], k=k, exclude=ids[q])[1]
            for name, (rec, vectors) in spaces.items()}


def reading_gains(spaces: Mapping[str, tuple[Recommender, np.ndarray]], labels: pd.DataFrame, ids, query_positions,
                  reference: str, heads_=None, k: int = 4, n_boot: int = 1000, seed: int = 0,
                  level: float = 0.95) -> pd.DataFrame:
    """:func:`agreement_gains` of each space of ``spaces`` (as in :func:`compare_recommenders`: a fitted
    recommender and the vectors it reads) against ``reference``, for the queries ``query_positions``
    of the collection, each left out of its own recommendations."""
    q = np.asarray(query_positions)
    return agreement_gains(labels, q, own_query_neighbours(spaces, ids, q, k), reference, heads_, n_boot=n_boot,
                           level=level, seed=seed)


def compare_recommenders(spaces: Mapping[str, tuple[Recommender, np.ndarray]], X, labels: pd.DataFrame, ids,
                         query_positions, heads_=None, k: int = 4, n_boot: int = 1000, seed: int = 0,
                         level: float = 0.95) -> pd.DataFrame:
    """:func:`recommendation_table` for the queries ``query_positions`` of the collection.

    ``spaces[name] = (fitted recommender, the vectors it reads)``; each query is looked up
    with its own vector and left out of its own recommendations.  ``random`` picks are
    added as the floor.  Diversity is measured in ``X`` (the full vectors) for every space.
    """
    ids, q = np.asarray(ids), np.asarray(query_positions)
    neighbours = own_query_neighbours(spaces, ids, q, k)
    neighbours["random"] = random_neighbours(len(ids), q, k, seed)
    return recommendation_table(labels, X, q, neighbours, heads_, n_boot=n_boot, level=level, seed=seed)

