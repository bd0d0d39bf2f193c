"""Chapter 7's tables and sentences for reading: the recommendation table of
:func:`fashionkit.outfits.quality.recommendation_table` formatted, the sentence placing
the chosen space among the others, the guard beside the aims, what changing one
ingredient of the vectors does to agreement (:func:`reading_gains_line`), and why the
collection is not described by its own labels (:func:`labelled_collection_line`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fashionkit.book.tables import interval
from fashionkit.data.schema import UnknownLabelError, get_head
from fashionkit.metrics.comparison import diff_verdict


def quality_table(table: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
    """:func:`~fashionkit.outfits.quality.recommendation_table` for reading (``tables.show`` formats the numbers): heads no
    query could be scored on (no labels) dropped, ``<head>_%`` columns named after their head, the
    interval as one cell headed by its ``level``, coverage in %.  Unknown columns are kept."""

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


def aims_line(table: pd.DataFrame, chosen: str, aims: dict) -> str:
    """The guard of chapter 7's first screen: the test agreement of the full vector and of the space
    chosen on validation beside their aims (``aims``: ``{"full vector": %, "chosen space": %}``, from
    ``params/targets.yaml``), each with a computed verdict: met, not met with the aim inside the
    interval, or not met."""
    parts = []
    for name, space in (("full vector", "full vector"), ("chosen space", chosen)):
        if name not in aims or space not in table.index:
            continue
        row, aim = table.loc[space], aims[name]
        mean, low, high = row["mean_agreement_%"], row["ci_low_%"], row["ci_high_%"]
        verdict_ = ("**met**" if mean >= aim else
                    "**not met** (the interval holds the aim)" if high >= aim else "**not met**")
        label = "full vector" if name == "full vector" else f"chosen space ({space})"
        parts.append(f"{label} {mean:.1f}% ({low:.1f}–{high:.1f}) against an aim of {aim:g}%: {verdict_}")
    return "Agreement on the test queries: " + "; ".join(parts) + "." if parts else ""


def reading_gains_line(gains: pd.DataFrame, changes: dict, n_heads: int = 2) -> str:
    """What each way of reading the vectors does to agreement, and which of them bring it back.

    ``gains``: :func:`fashionkit.outfits.quality.agreement_gains` against the vectors in use;
    ``changes``: ``{space: what that reading changes}`` (e.g. "the crop read").  Per space: the gain
    in points with its interval and a verdict (:func:`fashionkit.metrics.comparison.diff_verdict`),
    and for a space beyond noise its ``n_heads`` heads that moved most.  Ends with the changes whose
    readings are better, or says that none is.
    """
    parts, better = [], []
    for space, row in gains.iterrows():
        gain, low, high = row["gain_points"], row["gain_lo"], row["gain_hi"]
        verdict_ = diff_verdict(gain, low, high)
        text = f"{changes.get(space, space)} ({space}): {gain:+.1f} points [{low:+.1f}, {high:+.1f}], {verdict_}"
        if verdict_ in ("better", "worse"):
            heads_ = row.filter(like="_points").drop("gain_points").dropna()
            heads_ = heads_[heads_ != 0]  # a head that did not move explains nothing
            heads_ = heads_.reindex(heads_.abs().sort_values(ascending=False, kind="stable").index)[:n_heads]
            text += " (most in " + " and ".join(
                f"{get_head(str(k).removesuffix('_points')).en} {v:+.1f}" for k, v in heads_.items()) + ")"
        if verdict_ == "better":
            better.append(changes.get(space, space))
        parts.append(text)
    end = ("Beyond noise, agreement rises only with " + " and ".join(better) if better
           else "No change raises agreement beyond noise")
    return "Against the vectors in use, on the validation queries: " + "; ".join(parts) + ". " + end + "."


def labelled_collection_line(gain: pd.Series, share_used: pd.Series, share_labelled: pd.Series,
                             n_heads: int = 2, min_drop: float = 1.0) -> str:
    """Whether describing the collection by its own labels is a fix, in one sentence.

    ``gain``: the :func:`fashionkit.outfits.quality.agreement_gains` row of the collection described
    by its labels where it has them (:func:`fashionkit.outfits.quality.labelled_where_known`), against
    the vectors in use; ``share_*``: :func:`fashionkit.outfits.quality.scored_share` of each.  The gain
    comes with its verdict (:func:`fashionkit.metrics.comparison.diff_verdict`).  If the scored share
    of some head falls by ``min_drop`` points or more, the sentence names the ``n_heads`` that fall most
    and says the gain is not like for like; otherwise it says the score judges as many recommendations.
    """
    points, low, high = gain["gain_points"], gain["gain_lo"], gain["gain_hi"]
    if not np.isfinite(points) or share_used.isna().all() or share_labelled.isna().all():
        return "No validation query carries a label to score the collection described by its own labels."
    score = (f"Describing the collection by its own labels where it has them (the queries still read by"
             f" the models) scores {points:+.1f} points [{low:+.1f}, {high:+.1f}] against the vectors in use"
             f" ({diff_verdict(points, low, high)})")
    drop = (share_used - share_labelled).dropna()
    drop = drop[drop >= min_drop].sort_values(ascending=False, kind="stable")[:n_heads]
    if drop.empty:
        return score + "; its recommendations carry the scored labels at least as often as those in use."
    shares = " and ".join(f"{get_head(str(k)).en} {share_labelled[k]:.0f}% against {share_used[k]:.0f}%"
                          for k in drop.index)
    return (score + "; but fewer of its recommendations carry the labels it is scored on (" + shares
            + "), so the score judges fewer of them than for the vectors in use: the gain is not like for"
            " like, and the collection is not described this way.")
