"""The aims (``params/targets.yaml``) beside what was measured: the comparison table, its
sentence, chapter 6's shortfall table and the chapters' short answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from fashionkit.data.schema import get_head
from fashionkit.data.sources import PROJECT_ROOT

# ----------------------------------------------------------------------------- aims (params/targets.yaml)

TARGETS_YAML = PROJECT_ROOT / "params" / "targets.yaml"


def read_targets(path=TARGETS_YAML) -> dict[str, dict[str, float]]:
    """The team's aims (``{"accuracy": {head: %}, "macro_f1": {head: %}, "garments_accuracy": {head: %},
    "recommendation_agreement": {space: %}}``) from ``params/targets.yaml``: the street test photos'
    accuracy and macro-F1, the garment photos' accuracy, chapter 7's recommendation agreement.

    Goals set before the work, NOT results: the book compares the measured figures with them."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    return {kind: {k: float(v) for k, v in (raw.get(kind) or {}).items()}
            for kind in ("accuracy", "macro_f1", "garments_accuracy", "recommendation_agreement")}


def above_majority(table: pd.DataFrame) -> pd.Series:
    """Per row of a test table (:func:`~fashionkit.book.report_tables.report_table`, ``group_table``): whether the whole TTA
    interval lies above the majority baseline, i.e. the model beats it beyond noise."""
    return table["tta_ci_low_%"] > table["majority_%"]


def joined_names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    return "".join(items) if len(items) <= 1 else ", ".join(items[:-1]) + " and " + items[-1]


def target_comparison(metrics: pd.DataFrame, targets: Mapping[str, float]) -> pd.DataFrame:
    """Each head's test accuracy (``tta_%``) against the team's accuracy aim (``targets``: ``{head: %}``).

    ``metrics`` is chapter 5's test table (index or column ``head``).  One row per head, in its
    order: ``head``, ``name``, ``accuracy_%``, ``target_%`` (NaN where the team set none), ``met``
    (accuracy >= target; None where either is missing) and ``target_in_ci`` (the target lies inside
    the accuracy's interval, so the test split cannot tell on which side of it the model is; None
    where unknown).
    """
    m = metrics if "head" in metrics.columns else metrics.rename_axis("head").reset_index()
    rows = []
    for _, r in m.iterrows():
        acc, target = r.get("tta_%"), targets.get(r["head"], np.nan)
        low, high = r.get("tta_ci_low_%"), r.get("tta_ci_high_%")
        known = not pd.isna(acc) and not pd.isna(target)
        in_ci = None if not known or pd.isna(low) or pd.isna(high) else bool(low <= target <= high)
        rows.append({"head": r["head"], "name": r.get("name", r["head"]), "accuracy_%": acc,
                     "target_%": target, "met": bool(acc >= target) if known else None,
                     "target_in_ci": in_ci})
    return pd.DataFrame(rows, columns=["head", "name", "accuracy_%", "target_%", "met", "target_in_ci"])


def targets_sentence(cmp: pd.DataFrame) -> str:
    """One paragraph (Markdown) comparing every head with its aim, from :func:`target_comparison`."""
    judged = cmp[cmp["met"].notna()]
    met = judged[judged["met"].astype(bool)]
    short = judged[~judged["met"].astype(bool)]
    parts = []
    if len(judged):
        n = len(judged)
        if len(met) == n:
            reach = f"reaches the team's target for all {n} heads"
        elif len(met) == 0:
            reach = f"falls short of the team's target for all {n} heads"
        else:
            reach = (f"reaches the team's target for {len(met)} of {n} heads ({joined_names(met['name'])}) "
                     f"and falls short for {len(short)} ({joined_names(short['name'])})")
        parts.append(f"**Against the team's targets.** The test accuracy {reach}.")
        unsure = judged[judged["target_in_ci"].eq(True)]
        if len(unsure):
            parts.append(f"For {len(unsure)} of the {n} ({joined_names(unsure['name'])}) the target lies inside "
                         f"the accuracy's interval, so this test split cannot say on which side of the "
                         f"target the model really is.")
        above = met[met["target_in_ci"].eq(False)]
        if len(above):
            parts.append(f"For {len(above)} ({joined_names(above['name'])}) even the lower end of the interval is "
                         f"above the target.")
        below = short[short["target_in_ci"].eq(False)]
        if len(below):
            parts.append(f"For {len(below)} ({joined_names(below['name'])}) even the upper end of the interval is "
                         f"below the target.")
    else:
        parts.append("**Against the team's targets.** No head has both a target and a measured accuracy.")
    untargeted = cmp[cmp["target_%"].isna()]
    if len(untargeted):
        parts.append(f"No target is set for {joined_names(untargeted['name'])}.")
    parts.append("The targets are the team's aims, set before the work; they are not results.")
    return " ".join(parts)


# ----------------------------------------------------------------------------- aims (chapter 6)


def shortfall_table(metrics: pd.DataFrame, targets: Mapping[str, Mapping[str, float]],
                    levers: pd.DataFrame | None = None, per_class: pd.DataFrame | None = None,
                    level: float = 0.95, kept: str = "+ garment photos (kept)") -> pd.DataFrame:
    """Per head: the test figures against the team's aims, by how much each falls short, and what the
    book computed about it.

    ``metrics`` is chapter 5's test table (``test_metrics.csv``, index or column ``head``), its
    intervals at ``level`` (chapter 5's ``ci_level``); ``targets`` ``{"accuracy": {head: %},
    "macro_f1": {head: %}}`` (``params/targets.yaml``); ``levers`` chapters 3-4's
    :func:`~fashionkit.metrics.comparison.ablation_table` rows with the kept model (``kept``) as the
    reference (``ablation_vs_kept.csv``); ``per_class`` chapter 5's per-class table
    (``test_per_class.csv``: ``head`` display name, ``class``, ``support``, ``f1``).  The ``why``
    column states only what those numbers show: whether the aim lies inside the test interval,
    which classes have the lowest F1 where macro-F1 falls short, and whether any lever beat the
    kept model beyond noise on validation.
    """
    m = metrics.set_index("head") if "head" in metrics.columns else metrics
    acc_aims, f1_aims = dict(targets.get("accuracy", {})), dict(targets.get("macro_f1", {}))
    in_ci = target_comparison(m, acc_aims).set_index("head")["target_in_ci"]
    rows = []
    for key, r in m.iterrows():
        acc, lo, hi, f1 = (float(r[c]) for c in ("tta_%", "tta_ci_low_%", "tta_ci_high_%", "tta_macro_f1_%"))
        aim, f1_aim = acc_aims.get(key, np.nan), f1_aims.get(key, np.nan)
        short = max(0.0, aim - acc) if np.isfinite(aim) else np.nan
        f1_short = max(0.0, f1_aim - f1) if np.isfinite(f1_aim) else np.nan
        why = []
        if not (short > 0 or f1_short > 0):
            why.append("aim met" if np.isfinite(aim) else "no aim set")
        else:
            if short > 0 and in_ci[key]:
                why.append(f"the aim lies inside the {100 * level:g}% interval: this test split cannot tell")
            if f1_short > 0:
                weakest = ""
                if per_class is not None and len(per_class):
                    classes = per_class[per_class["head"] == get_head(key).en].dropna(subset=["f1"]).nsmallest(2, "f1")
                    weakest = "; lowest F1: " + ", ".join(f"{c['class']} {100 * c['f1']:.0f} ({int(c['support'])} "
                                                          "test photos)" for _, c in classes.iterrows())
                why.append(f"macro-F1 {f1:.1f} vs aim {f1_aim:g}{weakest}")
            if levers is not None and len(levers):
                others = levers[(levers["head"] == key) & (levers["verdict"] != "reference")]
                if len(others):
                    better = others[others["verdict"] == "better"]
                    best = others.loc[others["diff_points"].idxmax()]
                    if len(better):
                        why.append("beat the kept model beyond noise on validation: " + ", ".join(better["variant"]))
                    else:
                        why.append(f"nothing beat the kept model beyond noise on validation (closest: {best['variant']}, "
                                   f"{best['diff_points']:+.1f} [{best['diff_lo']:+.1f}, {best['diff_hi']:+.1f}])")
        rows.append({"head": key, "name": r.get("name", key), "test accuracy %": acc,
                     f"{100 * level:g}% CI": f"{lo:.1f}–{hi:.1f}", "aim %": aim, "short by, points": short,
                     "macro-F1 %": f1, "macro-F1 aim %": f1_aim, "why": "; ".join(why)})
    return pd.DataFrame(rows).set_index("head")


def test_short_answer(table: pd.DataFrame, aims: Mapping[str, float] | None = None) -> str:
    """Chapter 5's one-line answer, from its test table: how many heads clear the majority
    baseline beyond noise, the range of test accuracies, whether TTA moved any head, and how
    many heads reach the team's aim (``aims``: ``{head key: %}``)."""
    t = table[table["n"] > 0]
    clear = int(above_majority(t).sum())
    moved = t[t["verdict"] != "within noise"]
    parts = [f"{clear} of {len(t)} heads beat the photo-blind majority baseline beyond noise, with test "
             f"accuracies from {t['tta_%'].min():.1f}% ({t.loc[t['tta_%'].idxmin(), 'name']}) to "
             f"{t['tta_%'].max():.1f}% ({t.loc[t['tta_%'].idxmax(), 'name']})",
             "TTA moved no head beyond noise" if moved.empty else
             f"TTA moved {len(moved)} ({', '.join(moved['name'])})"]
    if aims:
        judged = target_comparison(t, aims)["met"].dropna()
        parts.append(f"the team's aim is met on {int(judged.sum())} of {len(judged)} heads")
    return "; ".join(parts) + "."


def validation_short_answer(table: pd.DataFrame, ablation: pd.DataFrame | None = None) -> str:
    """Chapters 3-4's one-line answer: from the validation table (fractions ``accuracy``,
    ``majority``; index the head keys) and the ablation (:func:`~fashionkit.metrics.comparison.ablation_table`)."""
    names = {k: get_head(k).en for k in table.index}
    margin = 100 * (table["accuracy"] - table["majority"])
    text = (f"on validation the model beats always answering the majority class on {int((margin > 0).sum())} of "
            f"{len(table)} heads, by {margin.min():+.1f} ({names[margin.idxmin()]}) to {margin.max():+.1f} points "
            f"({names[margin.idxmax()]}), with accuracies from {100 * table['accuracy'].min():.1f}% to "
            f"{100 * table['accuracy'].max():.1f}%")
    if ablation is not None and len(ablation):
        levers = ablation[ablation["verdict"] != "reference"]
        better = levers[levers["verdict"] == "better"]
        worse = levers[levers["verdict"] == "worse"]
        if better.empty and worse.empty:
            text += "; no variant of the ablation differs from the fixed-box reference beyond noise"
        else:
            text += "; beyond noise against the fixed-box reference: " + "; ".join(
                f"{r['variant']} {r['diff_points']:+.1f} on {get_head(r['head']).en}"
                for _, r in pd.concat([better, worse]).iterrows())
    return text[0].upper() + text[1:] + "."
