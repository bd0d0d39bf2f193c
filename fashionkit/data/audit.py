"""Tables for the data audit (notebook 01): what labels there are, how balanced, how split.

Pure functions over the manifest of :func:`fashionkit.data.sources.build_manifest` (one row per
photo, a column per head holding a class name or NA) and, where a split is involved, its
``split`` / ``group`` columns from :func:`fashionkit.data.splits.attach_splits`.  Nothing here
reads files; every class and head name comes from :mod:`fashionkit.data.schema`.

Conventions
  * *labelled* = the head's column is not NA; shares are "% of labelled photos".
  * A head's classes without data (``Head.no_data``) appear in count tables with ``n = 0``
    and ``no_data = True``, so tables show them instead of leaving them out.
  * Without a ``split`` column every photo counts under split ``"all"``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from fashionkit.data.labels import CLOTHING_RULES, clothing_garment
from fashionkit.data.schema import HEADS, Head, get_head, heads

SPLIT_ORDER = ("train", "val", "test", "all")
COUNT_COLUMNS = ["source", "split", "head", "class", "display", "n", "share", "no_data"]


def _splits(frame: pd.DataFrame) -> pd.Series:
    if "split" in frame:
        return frame["split"].astype("string")
    return pd.Series("all", index=frame.index, dtype="string")


def _sources(head: Head, frame: pd.DataFrame) -> list[str]:
    """The present sources that label ``head``, in schema order (``["-"]`` for a head without data)."""
    if not head.sources:
        return ["-"]
    present = set(frame["source"])
    return [s for s in head.sources if s in present]


def _photos_of(head: Head, frame: pd.DataFrame, source: str) -> pd.DataFrame:
    """The photos of ``source`` that could carry ``head``'s label: for the garments, those of its garment."""
    part = frame[frame["source"] == source]
    if source == "clothing":
        part = part[part["tags"].map(clothing_garment) == head.model]
    return part


def _split_names(frame: pd.DataFrame) -> list[str]:
    found = set(_splits(frame).dropna())
    return [s for s in SPLIT_ORDER if s in found] + sorted(found - set(SPLIT_ORDER))


def class_counts(manifest: pd.DataFrame, all_heads: bool = True) -> pd.DataFrame:
    """Long table ``source, split, head, class, display, n, share, no_data``.

    One row per (source that labels the head) x split x class, zero counts included.
    ``share`` is the class's % of the labelled photos of that source, split and head.
    With ``all_heads`` the heads without any data (bottom pattern, point) are listed too,
    under source ``"-"``, with their ``no_data`` classes at n = 0.
    """
    frame = manifest.assign(split=_splits(manifest))
    split_names = _split_names(frame)
    rows = []
    for head in heads(with_data=not all_heads):
        for source in _sources(head, frame):
            part = frame[frame["source"] == source]
            for split in split_names:
                values = part.loc[part["split"] == split, head.key] if head.key in part else pd.Series(dtype="string")
                counts = values.dropna().value_counts()
                labelled = int(counts.sum())
                for spec in head.classes:
                    n = int(counts.get(spec.name, 0))
                    share = 100.0 * n / labelled if labelled else np.nan
                    rows.append((source, split, head.key, spec.name, spec.en, n, share, False))
                for spec in head.no_data:
                    rows.append((source, split, head.key, spec.name, spec.en, 0, np.nan, True))
    return pd.DataFrame(rows, columns=COUNT_COLUMNS).astype({"n": int, "no_data": bool})


def count_pivot(counts: pd.DataFrame) -> pd.DataFrame:
    """``class_counts`` as head x source x class rows and one column per split plus ``total``."""
    head_order = {h.key: i for i, h in enumerate(HEADS)}
    class_order = {(h.key, c.name): i for h in HEADS for i, c in enumerate(h.classes + h.no_data)}
    source_order = {s: i for i, s in enumerate(dict.fromkeys(s for h in HEADS for s in h.sources))}
    table = counts.pivot_table(index=["head", "source", "class"], columns="split", values="n",
                               aggfunc="sum", sort=False, observed=True)
    table = table[[s for s in SPLIT_ORDER if s in table.columns]]
    table["total"] = table.sum(axis=1)
    flags = counts.drop_duplicates(["head", "source", "class"]).set_index(["head", "source", "class"])["no_data"]
    table["no data"] = flags.reindex(table.index).map({True: "no data", False: ""})
    keys = sorted(table.index, key=lambda k: (head_order[k[0]], source_order.get(k[1], 99),
                                              class_order[k[0], k[2]]))
    return table.loc[keys].astype({c: int for c in table.columns if c != "no data"})


def imbalance_string(values: pd.Series, head: Head, lang: str = "en") -> str:
    """``"t-shirt 70% / blouse 17% / shirt 13%"``: the head's labelled classes, largest first.

    Percentages are of the labelled photos, rounded to whole percent; a class of the head
    that never occurs shows as 0%.  Ties keep the schema's class order.
    """
    counts = values.dropna().value_counts().reindex(list(head.names), fill_value=0)
    total = counts.sum()
    if total == 0:
        return "no labelled photos"
    order = sorted(range(len(counts)), key=lambda i: (-counts.iloc[i], i))
    return " / ".join(
        f"{head.display(counts.index[i], lang)} {100 * counts.iloc[i] / total:.0f}%" for i in order
    )


def imbalance_table(manifest: pd.DataFrame, lang: str = "en") -> pd.DataFrame:
    """Per head and source: labelled photos, class shares as a string, majority share, ratio.

    ``max/min`` is the largest over the smallest class count among the classes the source
    has photos of (a class with none shows as 0% in ``classes``, e.g. CAD has no blouses);
    ``no data`` lists the head's classes that no source labels.
    """
    rows = []
    for head in heads(with_data=False):
        no_data = ", ".join(c.en for c in head.no_data)
        if not head.has_data:
            rows.append((head.key, head.title(lang), "-", 0, "no source labels this head", np.nan, np.nan, no_data))
            continue
        for source in _sources(head, manifest):
            values = manifest.loc[manifest["source"] == source, head.key]
            counts = values.dropna().value_counts().reindex(list(head.names), fill_value=0)
            total = int(counts.sum())
            majority = 100.0 * counts.max() / total if total else np.nan
            present = counts[counts > 0]
            ratio = present.max() / present.min() if len(present) else np.nan
            rows.append((head.key, head.title(lang), source, total, imbalance_string(values, head, lang),
                         majority, ratio if total else np.nan, no_data))
    return pd.DataFrame(rows, columns=["head", "name", "source", "labelled", "classes",
                                       "majority %", "max/min", "no data"])


def missing_rates(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per head and labelling source: photos, labelled, missing and % missing.

    Only (head, source) pairs where the source labels the head are listed: a CAD photo
    without a bottom label is not "missing" one, CAD has no bottoms.  Likewise a garment photo
    counts only for the heads of its own garment (a skirt does not miss a top type).
    """
    rows = []
    for head in heads():
        for source in _sources(head, manifest):
            values = _photos_of(head, manifest, source)[head.key]
            n, labelled = len(values), int(values.notna().sum())
            rows.append((head.key, head.en, source, n, labelled, n - labelled,
                         100.0 * (n - labelled) / n if n else np.nan))
    return pd.DataFrame(rows, columns=["head", "name", "source", "photos", "labelled", "missing", "missing %"])


def cooccurrence(manifest: pd.DataFrame, rows: str = "top_type", cols: str = "bottom_sub",
                 source: str = "ccp") -> pd.DataFrame:
    """Photos of ``source`` labelled for both heads: a class x class count table (zeros kept)."""
    r, c = get_head(rows), get_head(cols)
    part = manifest[(manifest["source"] == source)].dropna(subset=[rows, cols])
    table = pd.crosstab(part[rows], part[cols]).reindex(index=list(r.names), columns=list(c.names), fill_value=0)
    table.index.name, table.columns.name = rows, cols
    return table.astype(int)


def outfit_summary(manifest: pd.DataFrame, source: str = "ccp") -> pd.Series:
    """How many photos could serve an outfit collection (a separate top and bottom visible)."""
    part = manifest[manifest["source"] == source]
    outfit = part["outfit"].astype(bool) if "outfit" in part else pd.Series(False, index=part.index)
    both = part["top_type"].notna() & part["bottom_sub"].notna()
    return pd.Series({
        "photos": len(part),
        "outfit (top and bottom visible)": int(outfit.sum()),
        "outfit with top type and bottom sub labels": int((outfit & both).sum()),
        "top type and bottom sub labelled": int(both.sum()),
    }, name=source)


def size_stats(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per source: photo count and width / height / aspect (w/h) quartiles, in px."""
    frame = manifest.assign(aspect=manifest["width"] / manifest["height"])
    out = {}
    for source, part in frame.groupby("source", sort=False):
        stats = {"photos": len(part)}
        for col in ("width", "height", "aspect"):
            q = part[col].quantile([0, 0.5, 1.0])
            digits = 2 if col == "aspect" else 0
            stats.update({f"{col} min": round(q.iloc[0], digits), f"{col} median": round(q.iloc[1], digits),
                          f"{col} max": round(q.iloc[2], digits)})
        stats["portrait %"] = round(100.0 * (part["height"] > part["width"]).mean(), 1)
        stats["longest side not 384 px"] = int((part[["width", "height"]].max(axis=1) != 384).sum())
        out[source] = stats
    return pd.DataFrame(out).T


def limit_rows(manifest: pd.DataFrame, problems: pd.DataFrame, limit: int | None):
    """First ``limit`` photos per source (smoke runs); problems of dropped photos go too.

    Problems about photos that never reached the manifest (unreadable files) are kept.
    """
    if limit is None:
        return manifest, problems
    kept = manifest.groupby("source", sort=False).head(int(limit)).reset_index(drop=True)
    key = problems["source"] + "/" + problems["image"]
    in_kept = key.isin(kept["source"] + "/" + kept["image"])
    in_manifest = key.isin(manifest["source"] + "/" + manifest["image"])
    return kept, problems[in_kept | ~in_manifest].reset_index(drop=True)


def sample_per_class(manifest: pd.DataFrame, head: str, n: int, seed: int = 0,
                     split: str | None = "train") -> pd.DataFrame:
    """Up to ``n`` photos per class of ``head`` (from ``split``), deterministic for a seed.

    Rows come grouped by class in schema order; a class with fewer photos gives what it has.
    """
    h = get_head(head)
    part = manifest if split is None or "split" not in manifest else manifest[manifest["split"] == split]
    picked = []
    for name in h.names:
        rows = part[part[head] == name]
        picked.append(rows.sample(min(n, len(rows)), random_state=seed))
    out = pd.concat(picked) if picked else part.iloc[:0]
    return out.reset_index(drop=True)


def length_examples(manifest: pd.DataFrame, n: int, seed: int = 0) -> pd.DataFrame:
    """``n`` measured photos spanning the length classes: round robin over the classes.

    Within a class the photos are drawn at random (``seed``); the result is ordered from the
    longest garment (full) to the shortest, then by hem height.
    """
    h = get_head("bottom_length")
    part = manifest.dropna(subset=["bottom_length"])
    pools = {name: part[part["bottom_length"] == name].sample(frac=1.0, random_state=seed) for name in h.names}
    picked, depth = [], 0
    while len(picked) < n and any(len(p) > depth for p in pools.values()):
        for name in h.names:
            if len(picked) < n and len(pools[name]) > depth:
                picked.append(pools[name].iloc[depth])
        depth += 1
    if not picked:
        return part.iloc[:0]
    out = pd.DataFrame(picked)
    out["_order"] = out["bottom_length"].map({name: i for i, name in enumerate(h.names)})
    return out.sort_values(["_order", "hem_height"]).drop(columns="_order").reset_index(drop=True)


def length_coverage(manifest: pd.DataFrame, source: str = "ccp") -> pd.DataFrame:
    """Why each photo of ``source`` with a single bottom garment has a length label or not."""
    part = manifest[(manifest["source"] == source) & manifest["bottom_sub"].notna()]
    reason = part["length_reason"].where(part["annotation"] == "pixel", "no mask (tag-list photo)")
    table = pd.crosstab(reason, part["annotation"], margins=True, margins_name="total")
    table.index.name, table.columns.name = "length", "annotation"
    return table


def group_sizes(splits: pd.DataFrame) -> pd.DataFrame:
    """Per source: how many groups have 1, 2, 3 ... photos (identical photos share a group)."""
    sizes = splits.groupby(["source", "group"]).size().rename("photos per group")
    table = sizes.groupby("source").value_counts().unstack("source", fill_value=0).sort_index()
    table.columns.name = "groups per source"
    return table


def straddling_groups(splits: pd.DataFrame) -> pd.DataFrame:
    """Groups whose photos sit in more than one split (should be empty)."""
    n_splits = splits.groupby(["source", "group"])["split"].nunique()
    bad = n_splits[n_splits > 1].index
    return splits.set_index(["source", "group"]).loc[bad].reset_index() if len(bad) else splits.iloc[:0]


def split_proportions(frame: pd.DataFrame) -> pd.DataFrame:
    """Photos per source and split, with each split's % of its source."""
    counts = frame.groupby(["source", "split"]).size().unstack("split", fill_value=0)
    counts = counts[[s for s in SPLIT_ORDER if s in counts.columns]]
    share = counts.div(counts.sum(axis=1), axis=0).mul(100).round(1)
    out = pd.concat({"photos": counts, "% of source": share}, axis=1)
    return out


def duplicate_conflicts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per head: groups of identical photos with two or more labels, and how many disagree.

    Identical photos (CAD group shots) can carry different labels because each row
    describes a different person in the photo.
    """
    multi = manifest[manifest.groupby(["source", "group"])["image"].transform("size") > 1]
    rows = []
    for head in heads():
        labelled = multi.dropna(subset=[head.key])
        per_group = labelled.groupby(["source", "group"])[head.key].agg(["size", "nunique"])
        per_group = per_group[per_group["size"] > 1]
        rows.append((head.key, len(per_group), int((per_group["nunique"] > 1).sum())))
    return pd.DataFrame(rows, columns=["head", "groups with 2+ labels", "groups that disagree"])


def problem_summary(problems: pd.DataFrame) -> pd.DataFrame:
    """Problem counts by source, kind and reason (an empty table when there are none)."""
    if problems.empty:
        return pd.DataFrame(columns=["source", "kind", "reason", "photos"])
    return (problems.groupby(["source", "kind", "reason"]).size().rename("photos")
            .reset_index().sort_values(["source", "photos"], ascending=[True, False], ignore_index=True))


def schema_table(lang: str = "en") -> pd.DataFrame:
    """Every head of the schema: model, name, classes, classes without data, sources, rule."""
    rows = []
    for h in HEADS:
        rows.append({
            "model": h.model, "head": h.key, "name": h.title(lang),
            "classes": ", ".join(c.en if lang == "en" else getattr(c, lang) for c in h.classes) or "-",
            "no data": ", ".join(c.en if lang == "en" else getattr(c, lang) for c in h.no_data) or "-",
            "sources": ", ".join(s.upper() for s in h.sources) or "none",
            "rule": h.note,
        })
    return pd.DataFrame(rows)


def no_data_list() -> pd.DataFrame:
    """Heads and classes of the study's vocabulary that no source labels."""
    rows = [(h.key, h.en, c.en, c.ko, "whole head" if not h.has_data else "class")
            for h in HEADS for c in h.no_data]
    return pd.DataFrame(rows, columns=["head", "head name", "class", "class (ko)", "missing"])


def share_gaps(counts: pd.DataFrame) -> pd.DataFrame:
    """How far each split's class shares stray from the source's overall shares.

    Per head and source (from ``class_counts``): the largest absolute gap in percentage
    points between a split's share of a class and that class's share over all splits, the
    class and split where it occurs, and the smallest split's labelled photos.
    """
    data = counts[~counts["no_data"]]
    rows = []
    for (head, source), part in data.groupby(["head", "source"], sort=False):
        totals = part.groupby("class")["n"].sum()
        if totals.sum() == 0:
            continue
        overall = 100.0 * totals / totals.sum()
        gap = part.assign(gap=(part["share"] - part["class"].map(overall)).abs()).dropna(subset=["gap"])
        worst = gap.loc[gap["gap"].idxmax()]
        smallest = part.groupby("split")["n"].sum().min()
        rows.append((head, source, round(float(worst["gap"]), 1), worst["class"], worst["split"], int(smallest)))
    return pd.DataFrame(rows, columns=["head", "source", "max gap (points)", "class", "split",
                                       "smallest split (labelled)"])


def conflicting_groups(manifest: pd.DataFrame, head: str, n: int = 4) -> pd.DataFrame:
    """Rows of the first ``n`` groups of identical photos whose ``head`` labels disagree."""
    sizes = manifest.groupby(["source", "group"])["image"].transform("size")
    multi = manifest[sizes > 1]
    disagree = multi.groupby(["source", "group"])[head].transform(lambda v: v.dropna().nunique() > 1)
    picked = multi[disagree.astype(bool)].sort_values(["source", "group", "image"])
    keys = picked[["source", "group"]].drop_duplicates().head(n)
    return picked.merge(keys, on=["source", "group"]).reset_index(drop=True)


# ----------------------------------------------------------------------------- garments photographed alone
def garment_rules_table() -> pd.DataFrame:
    """Each garment category: the garment it shows and the label it gives each head (blank: left missing)."""
    keys = [h.key for h in heads() if "clothing" in h.sources]
    rows = [{"category": c, "garment": g, **{get_head(k).en: labels.get(k, "") for k in keys}}
            for c, (g, labels) in CLOTHING_RULES.items()]
    return pd.DataFrame(rows).set_index("category")


def garment_counts(manifest: pd.DataFrame) -> pd.DataFrame:
    """Garment photos per category and split, with the contributors behind them."""
    part = manifest[manifest["source"] == "clothing"].assign(split=lambda f: _splits(f))
    photos = part.pivot_table(index="tags", columns="split", values="image", aggfunc="size", fill_value=0)
    photos = photos[[s for s in SPLIT_ORDER if s in photos.columns]]
    photos["total"] = photos.sum(axis=1)
    photos["contributors"] = part.groupby("tags")["contributor"].nunique()
    order = [c for c in CLOTHING_RULES if c in photos.index]
    return photos.loc[order].rename_axis("category")


def contributor_summary(manifest: pd.DataFrame) -> pd.DataFrame:
    """Per split: garment photos, contributors, and photos per contributor (median, largest)."""
    part = manifest[manifest["source"] == "clothing"].assign(split=lambda f: _splits(f))
    per = part.groupby(["split", "contributor"]).size()
    out = pd.DataFrame({"photos": part.groupby("split").size(),
                        "contributors": per.groupby(level="split").size(),
                        "median photos per contributor": per.groupby(level="split").median(),
                        "largest contributor": per.groupby(level="split").max()})
    return out.reindex([s for s in SPLIT_ORDER if s in out.index])
