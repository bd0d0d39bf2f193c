"""Chapter 5's page tables and sentences: the test report per head (one view and TTA, with
intervals and the majority baseline), per-group and calibration tables, the headline table of
the introduction and model card, and the split note.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from fashionkit.book.aims_table import above_majority, joined_names, target_comparison
from fashionkit.book.tables import interval
from fashionkit.data.schema import Head, get_head
from fashionkit.metrics.calibration import apply_temperature, expected_calibration_error, fit_temperature, nll
from fashionkit.metrics.comparison import paired_bootstrap_diff
from fashionkit.metrics.scores import STUDY_ACCURACY, bootstrap_ci, head_scores, prior_baseline


def _has_labels(y) -> bool:
    return bool((np.asarray(y) >= 0).any())


def _report_row(y_test, proba_plain, proba_tta, y_train, n_classes: int, n_boot: int, seed: int,
                level: float) -> dict:
    """The numbers of one line of the test report, in % (points for the TTA gain)."""
    import warnings

    train = y_train if _has_labels(y_train) else None
    with warnings.catch_warnings():  # a class predicted but absent from a small group is expected here
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        plain = head_scores(y_test, proba_plain, train)
        tta = head_scores(y_test, proba_tta)
    lo, hi = bootstrap_ci(y_test, proba_tta, n_boot=n_boot, level=level, seed=seed)
    diff = paired_bootstrap_diff(y_test, proba_plain, proba_tta, n_boot=n_boot, level=level, seed=seed)
    prior = (prior_baseline(y_test, y_train, n_classes) if train is not None and _has_labels(y_test)
             else np.nan)
    return {"majority_%": 100 * plain["majority"], "prior_%": 100 * prior, "n": plain["n"],
            "plain_%": 100 * plain["accuracy"], "tta_%": 100 * tta["accuracy"],
            "tta_macro_f1_%": 100 * tta["macro_f1"], "tta_balanced_acc_%": 100 * tta["balanced_accuracy"],
            "tta_ci_low_%": 100 * lo, "tta_ci_high_%": 100 * hi,
            "tta_gain_pts": 100 * diff[0], "gain_ci_low_pts": 100 * diff[1], "gain_ci_high_pts": 100 * diff[2],
            "verdict": tta_verdict(diff)}


def report_table(heads: Sequence[Head], y_test: Mapping[str, np.ndarray], proba_plain: Mapping[str, np.ndarray],
               proba_tta: Mapping[str, np.ndarray], y_train: Mapping[str, np.ndarray], n_boot: int = 2000,
               seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """The test report: one row per head, every number in % of the head's labelled test photos.

    Columns: ``model``, ``name`` (display name), ``study_%`` (:data:`STUDY_ACCURACY`, the
    study's figure on its own training images), ``majority_%`` (always answering the
    training split's majority class), ``prior_%`` (:func:`prior_baseline`), ``n``,
    ``plain_%`` / ``tta_%`` (accuracy without / with test-time augmentation),
    ``tta_macro_f1_%``, ``tta_balanced_acc_%`` (mean per-class recall),
    ``tta_ci_low_%`` / ``tta_ci_high_%`` (percentile bootstrap of the TTA accuracy),
    ``tta_gain_pts`` with its paired-bootstrap interval ``gain_ci_low_pts`` /
    ``gain_ci_high_pts`` (:func:`paired_bootstrap_diff`) and ``verdict`` (:func:`tta_verdict`).
    A head without labelled test photos gets NaN.
    """
    rows = []
    for head in heads:
        k = head.key
        rows.append({"head": k, "model": head.model, "name": head.en, "study_%": STUDY_ACCURACY.get(k, np.nan),
                     **_report_row(y_test[k], proba_plain[k], proba_tta[k], y_train[k], head.n_classes,
                                   n_boot, seed, level)})
    return pd.DataFrame(rows).set_index("head")


def group_table(head: Head, y_test, groups_test, proba_plain, proba_tta, y_train, groups_train,
                n_boot: int = 2000, seed: int = 0, level: float = 0.95) -> pd.DataFrame:
    """:func:`report_table`'s numbers for one head per group of photos (source, CCP half ...), then ``all``.

    ``groups_test`` / ``groups_train`` name each photo's group; the baselines of a group
    come from that group's own training labels (its majority class and class mix), so a
    group whose classes are skewed is judged against its own skew.  Groups without a
    labelled test photo of the head are left out.
    """
    y_test, y_train = np.asarray(y_test), np.asarray(y_train)
    groups_test, groups_train = np.asarray(groups_test), np.asarray(groups_train)
    proba_plain, proba_tta = np.asarray(proba_plain), np.asarray(proba_tta)
    rows = []
    for group in [*dict.fromkeys(groups_test[y_test >= 0]), "all"]:
        t = np.ones(len(y_test), bool) if group == "all" else groups_test == group
        r = np.ones(len(y_train), bool) if group == "all" else groups_train == group
        rows.append({"head": head.key, "group": group,
                     **_report_row(y_test[t], proba_plain[t], proba_tta[t], y_train[r], head.n_classes,
                                   n_boot, seed, level)})
    return pd.DataFrame(rows).drop(columns=["tta_macro_f1_%", "tta_balanced_acc_%"])


def format_report(table: pd.DataFrame) -> pd.DataFrame:
    """:func:`report_table` or :func:`group_table` as short strings for display (one decimal)."""
    out = pd.DataFrame(index=table.index)
    for column in ("model", "name", "group"):
        if column in table:
            out[column] = table[column]
    for column, label in (("study_%", "study %"), ("majority_%", "majority %"), ("prior_%", "prior %")):
        if column in table:
            out[label] = table[column].map(lambda v: "–" if pd.isna(v) else f"{v:.1f}")
    out["n"] = table["n"]
    out["plain %"] = table["plain_%"].map(lambda v: f"{v:.1f}")
    out["TTA %"] = table["tta_%"].map(lambda v: f"{v:.1f}")
    if "tta_macro_f1_%" in table:
        out["TTA macro-F1 %"] = table["tta_macro_f1_%"].map(lambda v: f"{v:.1f}")
    if "tta_balanced_acc_%" in table:
        out["TTA balanced acc %"] = table["tta_balanced_acc_%"].map(lambda v: f"{v:.1f}")
    out["TTA 95% CI"] = [interval(lo, hi) for lo, hi in zip(table["tta_ci_low_%"], table["tta_ci_high_%"])]
    out["TTA gain (paired CI)"] = [f"{d:+.1f} ({lo:+.1f} to {hi:+.1f})" for d, lo, hi in
                                   zip(table["tta_gain_pts"], table["gain_ci_low_pts"], table["gain_ci_high_pts"])]
    out["verdict"] = table["verdict"]
    return out


def calibration_table(heads: Sequence[Head], y_val: Mapping[str, np.ndarray], proba_val: Mapping[str, np.ndarray],
                      y_test: Mapping[str, np.ndarray], proba_test: Mapping[str, np.ndarray],
                      n_bins: int = 10) -> pd.DataFrame:
    """Temperature scaling per head: fitted on validation, scored on test.

    Columns: ``n_val`` / ``n_test`` (labelled photos), ``temperature`` (1.0 where
    validation has no label), ``ece_before_%`` / ``ece_after_%``
    (:func:`expected_calibration_error` of the test probabilities before / after the
    temperature, in points of %) and ``nll_before`` / ``nll_after`` (:func:`nll`, nats).
    """
    rows = []
    for head in heads:
        k = head.key
        t = fit_temperature(y_val[k], proba_val[k]) if _has_labels(y_val[k]) else 1.0
        after = apply_temperature(proba_test[k], t)
        rows.append({"head": k, "n_val": int((np.asarray(y_val[k]) >= 0).sum()),
                     "n_test": int((np.asarray(y_test[k]) >= 0).sum()), "temperature": t,
                     "ece_before_%": 100 * expected_calibration_error(y_test[k], proba_test[k], n_bins),
                     "ece_after_%": 100 * expected_calibration_error(y_test[k], after, n_bins),
                     "nll_before": nll(y_test[k], proba_test[k]), "nll_after": nll(y_test[k], after)})
    return pd.DataFrame(rows).set_index("head")


def report_summary(table: pd.DataFrame, calibration: pd.DataFrame | None = None,
                   groups: pd.DataFrame | None = None) -> list[str]:
    """Sentences (Markdown) that state what :func:`report_table` found, and, when given,
    :func:`calibration_table` and the :func:`group_table` rows (``head`` and ``group`` columns)."""
    t = table[table["n"] > 0]
    lines = []
    clear = t[above_majority(t)]
    unclear = t.drop(clear.index)
    if unclear.empty:
        lines.append(f"**Baselines.** All {len(t)} heads beat their majority baseline, each with its whole 95% "
                     "bootstrap interval above it.")
    else:
        lines.append(f"**Baselines.** {len(clear)} of {len(t)} heads beat their majority baseline with the whole 95% "
                     "bootstrap interval above it; not clearly: " + "; ".join(
                         f"{r['name']} ({r['tta_%']:.1f}% vs {r['majority_%']:.1f}%, CI {r['tta_ci_low_%']:.1f}–"
                         f"{r['tta_ci_high_%']:.1f})" for _, r in unclear.iterrows()) + ".")
    below = t[t["tta_%"] <= t["majority_%"]]
    if len(below):
        lines.append("**At or below the majority baseline** (TTA accuracy): " + ", ".join(
            f"{r['name']} ({r['tta_%']:.1f}% vs {r['majority_%']:.1f}%)" for _, r in below.iterrows()) + ".")
    verdicts = t["verdict"].value_counts()
    moved = "; ".join(f"{r['name']} {r['tta_gain_pts']:+.1f} points ({r['gain_ci_low_pts']:+.1f} to "
                      f"{r['gain_ci_high_pts']:+.1f})" for _, r in t[t["verdict"] != "within noise"].iterrows())
    span = f"gains from {t['tta_gain_pts'].min():+.1f} to {t['tta_gain_pts'].max():+.1f} points"
    if moved:
        lines.append(f"**TTA.** Helped beyond the paired-bootstrap noise on {verdicts.get('helped', 0)} heads, hurt on "
                     f"{verdicts.get('hurt', 0)}, within noise on {verdicts.get('within noise', 0)} ({span}): {moved}.")
    else:
        lines.append(f"**TTA.** Changed no head's accuracy beyond the paired-bootstrap noise ({span}, every "
                     "interval includes 0).")
    gap = (t["tta_%"] - t["study_%"]).dropna()
    if len(gap):
        order = gap.abs().sort_values(ascending=False).index[:3]
        lines.append("**Biggest gaps to the study's figures** (ours minus the study's): " + "; ".join(
            f"{t.loc[k, 'name']} {gap[k]:+.1f} points ({t.loc[k, 'tta_%']:.1f}% vs {t.loc[k, 'study_%']:.1f}%)"
            for k in order) + ". The study scored its own photos and labels, on the images it trained on; "
            "ours are held-out photos with other label rules, so a gap is a difference of task, not a ranking.")
    for key, part in ([] if groups is None else groups[groups["group"] != "all"].groupby("head", sort=False)):
        name = t.loc[key, "name"] if key in t.index else key
        lines.append(f"**{name[0].upper() + name[1:]} per group** (TTA vs the group's own majority baseline): " + "; ".join(
            f"{r['group']} {r['tta_%']:.1f}% vs {r['majority_%']:.1f}% (n={r['n']}, CI {r['tta_ci_low_%']:.1f}–"
            f"{r['tta_ci_high_%']:.1f}{'' if above else ', not clearly above'})"
            for (_, r), above in zip(part.iterrows(), above_majority(part))) + ".")
    if calibration is not None and len(calibration):
        lines.append(calibration_line(calibration))
    return lines


def calibration_line(calibration: pd.DataFrame) -> str:
    """What :func:`calibration_table` found, in one sentence (Markdown): the temperatures, which way
    they correct the raw model, and how the test ECE and NLL moved."""
    c = calibration.dropna(subset=["ece_before_%", "ece_after_%"])
    if c.empty:
        return "**Calibration.** No head has labelled test photos to measure a calibration on."
    better = int((c["ece_after_%"] < c["ece_before_%"]).sum())
    under, over = int((c["temperature"] < 1).sum()), int((c["temperature"] > 1).sum())
    sides = []
    if under:
        sides.append(f"below 1 for {under} of {len(c)} heads (the raw model was under-confident there, and "
                     "T < 1 sharpens its probabilities)")
    if over:
        sides.append(f"above 1 for {over} of {len(c)} heads (over-confident, and T > 1 softens them)")
    return (f"**Calibration.** The temperatures fitted on validation ({c['temperature'].min():.2f}–"
            f"{c['temperature'].max():.2f}) are {' and '.join(sides) or '1 for every head'}. They lowered "
            f"the test ECE on {better} of {len(c)} heads (mean {c['ece_before_%'].mean():.1f} → "
            f"{c['ece_after_%'].mean():.1f} points) and the mean NLL from {c['nll_before'].mean():.3f} to "
            f"{c['nll_after'].mean():.3f} nats.")


def groups_line(groups: pd.DataFrame) -> str:
    """One sentence (Markdown) naming the groups of :func:`group_table` rows (``head`` and ``group``
    columns; the ``all`` rows are skipped) where the model is not clearly better than always answering
    the group's own most common class."""
    rows = groups[groups["group"].astype(str) != "all"]
    weak = rows[~above_majority(rows)]
    if weak.empty:
        return "In every group the interval lies above the group's own majority baseline."
    items = [f"{get_head(h).en} on {g}" for h, g in zip(weak["head"], weak["group"])]
    return ("Not clearly better than always answering the group's most common class (the interval reaches "
            f"down to the group's majority baseline): {joined_names(items)}.")


# ----------------------------------------------------------------------------- the book's pages (chapter 5)

# Columns of the test table (:func:`report_table`) as the book's pages head them; ``ci`` is the
# TTA interval in one cell.
RESULT_LABELS = {"n": "n", "majority_%": "majority %", "plain_%": "accuracy, one view %",
                 "tta_%": "accuracy (TTA) %", "ci": "CI", "tta_macro_f1_%": "macro-F1 %",
                 "tta_balanced_acc_%": "balanced accuracy %", "study_%": "study %"}


HEADLINE_COLUMNS = ("n", "majority_%", "tta_%", "ci", "tta_macro_f1_%", "study_%")  # the introduction
MODEL_CARD_COLUMNS = ("n", "majority_%", "plain_%", "tta_%", "ci", "tta_macro_f1_%", "tta_balanced_acc_%")


def results_table(table: pd.DataFrame, columns: Sequence[str] = HEADLINE_COLUMNS,
                  aims: Mapping[str, float] | None = None, level: float = 0.95,
                  by_model: bool = False) -> pd.DataFrame:
    """:func:`report_table` for the book's pages (numbers kept; ``tables.show`` formats them).

    One row per head, labelled by its name (under its model with ``by_model``), ``columns`` (keys of
    :data:`RESULT_LABELS`) with readable headings, the TTA interval as one cell headed by its
    ``level``; with ``aims`` (``{head: %}``) also the team's ``target %`` and ``met?`` (yes / no).
    """
    t = table if "head" in table.columns else table.rename_axis("head").reset_index()
    index = (pd.MultiIndex.from_arrays([t["model"], t["name"]], names=["model", "head"]) if by_model
             else pd.Index(t["name"], name="head"))
    out = pd.DataFrame(index=index)
    for column in columns:
        if column == "ci":
            out[f"{100 * level:g}% CI"] = [interval(lo, hi)
                                           for lo, hi in zip(t["tta_ci_low_%"], t["tta_ci_high_%"])]
        elif column in t.columns:
            out[RESULT_LABELS[column]] = t[column].to_numpy()
    if aims is not None:
        cmp = target_comparison(t, aims)
        out["target %"] = cmp["target_%"].to_numpy()
        out["met?"] = [None if m is None else "yes" if m else "no" for m in cmp["met"]]
    return out


def split_note(meta: Mapping) -> str:
    """One paragraph (Markdown) saying which split the numbers are on and how the intervals were
    computed, from chapter 5's ``test_metrics.json`` record (``meta``)."""
    bits = [f"All numbers are on the held-out `{meta.get('split', 'test')}` split"]
    if meta.get("split_hash"):
        bits[-1] += f" of the committed split table (hash `{meta['split_hash']}`)"
    bits[-1] += "; n counts the photos of this split that are labelled for the head."
    tta = {model: len(v.get("tta") or []) for model, v in (meta.get("views") or {}).items()
           if isinstance(v, Mapping)}
    if len(set(tta.values())) == 1:
        n_views = next(iter(tta.values()))
        bits.append(f"TTA is the mean of the model's softmax over {n_views} views of each photo.")
    elif tta:
        bits.append("TTA is the mean of the model's softmax over "
                    + joined_names([f"{n} views ({m} model)" for m, n in tta.items()]) + " of each photo.")
    extras = [f"{meta['n_boot']} resamples" if meta.get("n_boot") is not None else "",
              f"seed {meta['seed']}" if meta.get("seed") is not None else ""]
    extras = ", ".join(e for e in extras if e)
    level = 100 * float(meta.get("ci_level", 0.95))
    bits.append(f"The {level:g}% intervals are percentile bootstraps over the test photos"
                + (f" ({extras})." if extras else "."))
    if meta.get("limit_per_split"):
        bits.append(f"**Smoke run:** at most {meta['limit_per_split']} photos per split were read "
                    "(`limit_per_split`), so these numbers do not describe a full evaluation.")
    return " ".join(bits)


def paired_verdict(diff_ci: tuple[float, float, float], name_a: str = "plain", name_b: str = "TTA") -> str:
    """A sentence for :func:`paired_bootstrap_diff`'s ``(diff, lo, hi)`` (fractions)."""
    diff, lo, hi = diff_ci
    span = f"{100 * diff:+.1f} points (bootstrap CI {100 * lo:+.1f} to {100 * hi:+.1f})"
    if lo > 0:
        return f"{name_b} is more accurate than {name_a}: {span}."
    if hi < 0:
        return f"{name_b} is less accurate than {name_a}: {span}."
    return f"no clear difference between {name_b} and {name_a}: {span}, the interval includes 0."


def tta_verdict(diff_ci: tuple[float, float, float]) -> str:
    """One word for :func:`paired_bootstrap_diff`'s ``(diff, lo, hi)`` of TTA minus plain.

    ``"helped"`` (interval above 0), ``"hurt"`` (below 0), ``"within noise"`` (it includes
    0) or ``"no data"``; :func:`paired_verdict` gives the sentence.
    """
    diff, lo, hi = diff_ci
    if not np.isfinite(diff):
        return "no data"
    return "helped" if lo > 0 else "hurt" if hi < 0 else "within noise"


def comparison_line(table: pd.DataFrame) -> str:
    """One sentence for a paired comparison (:func:`fashionkit.metrics.comparison.ablation_table`): for
    each variant other than the reference, the heads better and worse beyond noise, each with its
    difference in points and interval, and how many heads are within noise."""
    parts = []
    for variant, part in table[table["verdict"] != "reference"].groupby("variant", sort=False):
        said = []
        for verdict in ("better", "worse"):
            rows = part[part["verdict"] == verdict]
            said.append(f"{verdict} on " + (", ".join(
                f"{get_head(h).en} {d:+.1f} [{lo:+.1f}, {hi:+.1f}]"
                for h, d, lo, hi in zip(rows["head"], rows["diff_points"], rows["diff_lo"], rows["diff_hi"]))
                or "no head"))
        said.append(f"within noise on {int((part['verdict'] == 'within noise').sum())} of {len(part)} heads")
        parts.append(f"{variant}: " + "; ".join(said))
    return ". ".join(parts) + "." if parts else ""


def presence_line(presence: pd.DataFrame, group: str = "garments alone") -> str:
    """One sentence for :func:`fashionkit.metrics.scores.presence_table` rows (with a ``reader`` column):
    each reader's accuracy at saying whether the top and the bottom are in the photo, on ``group``'s
    photos, with its interval."""
    rows = presence[presence["group"] == group]
    parts = []
    for reader, part in rows.groupby("reader", sort=False):
        parts.append(f"{reader}: " + ", ".join(
            f"{g} {a:.1f}% ({lo:.1f}–{hi:.1f})"
            for g, a, lo, hi in zip(part["garment"], part["accuracy_%"], part["ci_low_%"], part["ci_high_%"])))
    return f"Is each garment in the photo, on the {group} test photos? " + "; ".join(parts) + "." if parts else ""
