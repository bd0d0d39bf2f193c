"""Fill the generated parts of the book's prose pages from the build's artifacts.

``make book`` copies ``book/`` into ``build/book/`` and then runs::

    python -m fashionkit.bookpages build/book --artifacts build/artifacts --notebooks build/nb

Each *placeholder* in the copied pages, a line of its own such as
``<!-- fashionkit:headline-results -->``, is replaced by Markdown computed here from
the files the notebooks wrote. This is how the prose pages show numbers without anyone
typing them in. The sources in ``book/`` keep their placeholders and are never written.

=====================  ======================  ==========================================
placeholder            page                    filled with
=====================  ======================  ==========================================
headline-results       ``intro.md``            chapter 5's test table, the team targets,
                                               chapter 7's recommendation quality
model-card-metrics     ``model_card.md``       per-model test metrics, calibration,
                                               results per data source, training settings
run-times              ``reproducibility.md``  each notebook's wall time (papermill) and
                                               the software environment
=====================  ======================  ==========================================

The functions that make Markdown are pure (DataFrames and dicts in, a string out) so
they can be tested without files; :func:`fill_book` and :func:`main` read the artifacts
and rewrite the pages. A missing placeholder, a placeholder that appears twice, an
unknown placeholder, or a missing required artifact stops the run with an error that
names the file.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from .data import PROJECT_ROOT

TARGETS_YAML = PROJECT_ROOT / "params" / "targets.yaml"


def read_targets(path=TARGETS_YAML) -> dict[str, dict[str, float]]:
    """The team's aims (``{"accuracy": {head: %}, "macro_f1": {head: %}}``) from ``params/targets.yaml``.

    Goals set before the work, NOT results: the book compares the measured figures with them."""
    raw = yaml.safe_load(Path(path).read_text()) or {}
    return {kind: {k: float(v) for k, v in (raw.get(kind) or {}).items()} for kind in ("accuracy", "macro_f1")}


TEAM_TARGETS_PCT: dict[str, float] = read_targets()["accuracy"]

# Which page holds which placeholder.
PAGES: dict[str, str] = {
    "headline-results": "intro.md",
    "model-card-metrics": "model_card.md",
    "run-times": "reproducibility.md",
}

# Artifacts, relative to the artifacts folder.
TEST_METRICS_CSV = Path("05_tta_eval/test_metrics.csv")          # required
TEST_METRICS_JSON = Path("05_tta_eval/test_metrics.json")        # required
CALIBRATION_CSV = Path("05_tta_eval/calibration.csv")            # optional
BY_GROUP_CSV = Path("05_tta_eval/test_metrics_by_group.csv")     # optional
RECOMMENDATION_CSV = Path("07_autoencoder_recommend/recommendation_quality.csv")  # optional

# Training notebooks whose papermill parameters describe the models, by model name.
TRAINING_NOTEBOOKS = {"top": "03_train_top", "bottom": "04_train_bottom"}

# Packages whose installed versions the reproducibility page lists.
ENV_PACKAGES = ("torch", "timm", "albumentations", "scikit-learn", "umap-learn", "papermill",
                "jupyter-book")

# Columns of test_metrics.csv that the tables cannot do without.
REQUIRED_METRIC_COLUMNS = ("head", "name", "n", "majority_%", "tta_%", "tta_ci_low_%",
                           "tta_ci_high_%", "tta_macro_f1_%")

MISSING = "–"  # shown in a table cell that has no value
NOT_RUN = "not run"
_MARKER = re.compile(r"^[ \t]*<!--[ \t]*fashionkit:([A-Za-z0-9_-]+)[ \t]*-->[ \t]*$", re.MULTILINE)
_NUMBER_CELL = re.compile(r"[-+−–0-9.,% ]*[0-9][-+−–0-9.,% ]*")


class BookPagesError(RuntimeError):
    """A page or an artifact is not as expected; the message names the file."""


# ----------------------------------------------------------------------------- formatting


def _is_missing(value) -> bool:
    if value is None:
        return True
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def fmt_number(value, digits: int = 1) -> str:
    """``value`` rounded to ``digits`` decimals; whole numbers (ints) without decimals.

    ``None`` and NaN become :data:`MISSING`; strings are returned unchanged.
    """
    if _is_missing(value):
        return MISSING
    if isinstance(value, (bool, np.bool_)):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}f}"
    return str(value)


def fmt_count(value) -> str:
    """A count (which pandas may have read as a float because of a gap) without decimals."""
    if _is_missing(value):
        return MISSING
    if isinstance(value, (int, np.integer, float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return fmt_number(value)


def fmt_interval(low, high, digits: int = 1) -> str:
    """``low–high``, or :data:`MISSING` when either end is missing."""
    if _is_missing(low) or _is_missing(high):
        return MISSING
    return f"{fmt_number(float(low), digits)}–{fmt_number(float(high), digits)}"


def column_digits(values: pd.Series, default: int = 1) -> int:
    """Decimals to show for a float column: ``default``, or 2 when every value lies strictly
    between -1 and 1 (a 0–1 score, where one decimal would hide every difference)."""
    numbers = pd.to_numeric(values, errors="coerce").dropna()
    if len(numbers) and (numbers.abs() < 1).all() and (numbers != 0).any():
        return max(default, 2)
    return default


def format_frame(frame: pd.DataFrame, digits: int = 1) -> pd.DataFrame:
    """Every cell of ``frame`` as a display string: floats rounded (see :func:`column_digits`),
    counts (``n``, ``n_*``) and ints without decimals, text unchanged, gaps as :data:`MISSING`."""
    out = pd.DataFrame(index=frame.index)
    for column in frame.columns:
        values = frame[column]
        name = str(column)
        if name == "n" or name.startswith("n_"):
            out[column] = values.map(fmt_count)
        elif pd.api.types.is_float_dtype(values):
            d = column_digits(values, digits)
            out[column] = values.map(lambda v, d=d: fmt_number(v, d))
        else:
            out[column] = values.map(fmt_number)
    return out


def _cell(value) -> str:
    text = MISSING if _is_missing(value) else str(value)
    return text.replace("\n", " ").replace("|", r"\|")


def markdown_table(frame: pd.DataFrame) -> str:
    """A pipe table of ``frame`` (index dropped, cells as given, ``str`` applied).

    A column is right-aligned when each of its cells looks like a number, an interval or
    :data:`MISSING`; other columns are left-aligned.
    """
    header = [_cell(c) for c in frame.columns]
    rows = [[_cell(v) for v in row] for row in frame.itertuples(index=False, name=None)]
    align = []
    for j in range(len(header)):
        cells = [row[j] for row in rows]
        numeric = bool(cells) and all(c == MISSING or _NUMBER_CELL.fullmatch(c) for c in cells) \
            and any(c != MISSING for c in cells)
        align.append("---:" if numeric else "---")
    lines = ["| " + " | ".join(header) + " |", "| " + " | ".join(align) + " |"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _names(items: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = list(items)
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _level_pct(meta: Mapping) -> str:
    """The interval's level from ``test_metrics.json`` as text, e.g. ``95%``."""
    level = meta.get("ci_level", 0.95)
    return f"{100 * float(level):g}%"


def check_columns(frame: pd.DataFrame, required: Sequence[str], where: str) -> None:
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise BookPagesError(f"{where}: missing column(s) {missing}; it has {list(frame.columns)}")


# ----------------------------------------------------------------------------- headline results


def target_comparison(metrics: pd.DataFrame, targets: Mapping[str, float] = TEAM_TARGETS_PCT,
                      accuracy: str = "tta_%") -> pd.DataFrame:
    """Each head's test accuracy against the team's target.

    Returns one row per head of ``metrics`` (in its order) with ``head``, ``name``,
    ``accuracy_%``, ``target_%`` (NaN where the team set none), ``met`` (accuracy >=
    target: True / False, or None where either is missing) and ``target_in_ci`` (the
    target lies inside the accuracy's interval, so the test split cannot tell on which
    side of it the model really is; None where unknown).
    """
    rows = []
    for _, r in metrics.iterrows():
        acc, target = r.get(accuracy), targets.get(r["head"], np.nan)
        low, high = r.get("tta_ci_low_%"), r.get("tta_ci_high_%")
        known = not _is_missing(acc) and not _is_missing(target)
        in_ci = (None if not known or _is_missing(low) or _is_missing(high)
                 else bool(float(low) <= float(target) <= float(high)))
        rows.append({"head": r["head"], "name": r.get("name", r["head"]), "accuracy_%": acc,
                     "target_%": target, "met": bool(float(acc) >= float(target)) if known else None,
                     "target_in_ci": in_ci})
    return pd.DataFrame(rows, columns=["head", "name", "accuracy_%", "target_%", "met", "target_in_ci"])


def headline_table(metrics: pd.DataFrame, targets: Mapping[str, float] = TEAM_TARGETS_PCT,
                   ci_label: str = "95% CI") -> pd.DataFrame:
    """The intro's per-head table as display strings (see :func:`headline_results_md`)."""
    check_columns(metrics, REQUIRED_METRIC_COLUMNS, "test metrics")
    cmp = target_comparison(metrics, targets)
    out = pd.DataFrame({
        "head": metrics["name"].astype(str).values,
        "n": metrics["n"].map(fmt_count).values,
        "majority %": metrics["majority_%"].map(fmt_number).values,
        "accuracy (TTA) %": metrics["tta_%"].map(fmt_number).values,
        ci_label: [fmt_interval(lo, hi) for lo, hi in zip(metrics["tta_ci_low_%"], metrics["tta_ci_high_%"])],
        "macro-F1 %": metrics["tta_macro_f1_%"].map(fmt_number).values,
    })
    if "study_%" in metrics.columns:
        out["study %"] = metrics["study_%"].map(fmt_number).values
    out["target %"] = cmp["target_%"].map(fmt_count).values
    out["met?"] = cmp["met"].map(lambda m: MISSING if m is None else ("yes" if m else "no")).values
    return out


def targets_sentence(cmp: pd.DataFrame) -> str:
    """One paragraph comparing every head with its target, from :func:`target_comparison`."""
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
            reach = (f"reaches the team's target for {len(met)} of {n} heads ({_names(met['name'])}) "
                     f"and falls short for {len(short)} ({_names(short['name'])})")
        parts.append(f"**Against the team's targets.** The test accuracy {reach}.")
        unsure = judged[judged["target_in_ci"].eq(True)]
        if len(unsure):
            parts.append(f"For {len(unsure)} of the {n} ({_names(unsure['name'])}) the target lies inside "
                         f"the accuracy's interval, so this test split cannot say on which side of the "
                         f"target the model really is.")
        above = met[met["target_in_ci"].eq(False)]
        if len(above):
            parts.append(f"For {len(above)} ({_names(above['name'])}) even the lower end of the interval is "
                         f"above the target.")
        below = short[short["target_in_ci"].eq(False)]
        if len(below):
            parts.append(f"For {len(below)} ({_names(below['name'])}) even the upper end of the interval is "
                         f"below the target.")
    else:
        parts.append("**Against the team's targets.** No head has both a target and a measured accuracy.")
    untargeted = cmp[cmp["target_%"].isna()]
    if len(untargeted):
        parts.append(f"No target is set for {_names(untargeted['name'])}.")
    parts.append("The targets are the team's aims, set before the work; they are not results.")
    return " ".join(parts)


def split_note(meta: Mapping) -> str:
    """One line saying which split the numbers are on and how the intervals were computed,
    from chapter 5's ``test_metrics.json``."""
    split = meta.get("split", "test")
    bits = [f"All numbers are on the held-out `{split}` split"]
    if meta.get("split_hash"):
        bits[-1] += f" of the committed split table (hash `{meta['split_hash']}`)"
    bits[-1] += "; n counts the photos of this split that are labelled for the head."
    views = meta.get("views") or {}
    tta = {model: len(v.get("tta") or []) for model, v in views.items() if isinstance(v, Mapping)}
    if tta:
        counts = sorted(set(tta.values()))
        if len(counts) == 1:
            bits.append(f"TTA is the mean of the model's softmax over {counts[0]} views of each photo.")
        else:
            bits.append("TTA is the mean of the model's softmax over "
                        + _names([f"{n} views ({m} model)" for m, n in tta.items()]) + " of each photo.")
    ci = f"The {_level_pct(meta)} intervals are percentile bootstraps over the test photos"  # evaluate.bootstrap_ci
    extras = []
    if meta.get("n_boot") is not None:
        extras.append(f"{meta['n_boot']} resamples")
    if meta.get("seed") is not None:
        extras.append(f"seed {meta['seed']}")
    bits.append(ci + (f" ({', '.join(extras)})." if extras else "."))
    return " ".join(bits)


def recommendation_frame(quality: pd.DataFrame) -> pd.DataFrame:
    """Chapter 7's table for reading: heads no query could be scored on (no labels) are
    dropped, ``<head>_%`` columns get the head's name, the interval is one column and
    coverage is in %.  Columns this function does not know are kept as they are."""
    from .schema import UnknownLabelError, get_head

    frame = quality.dropna(axis=1, how="all").copy()
    if {"ci_low_%", "ci_high_%"} <= set(frame.columns):
        frame.insert(list(frame.columns).index("ci_low_%"), "95% CI",
                     [fmt_interval(lo, hi) for lo, hi in zip(frame.pop("ci_low_%"), frame.pop("ci_high_%"))])
    if "coverage" in frame:
        frame["coverage"] = 100 * frame["coverage"]
    if "diversity" in frame:  # a distance around 0.5-1.6: two decimals tell the spaces apart
        frame["diversity"] = [fmt_number(v, 2) for v in frame["diversity"]]
    names = {"mean_agreement_%": "mean agreement %", "coverage": "coverage %"}
    for column in frame.columns:
        key = str(column).removesuffix("_%")
        if column not in names and str(column).endswith("_%"):
            try:
                names[column] = f"{get_head(key).en} %"
            except UnknownLabelError:
                pass
    return frame.rename(columns=names)


def recommendation_md(quality: pd.DataFrame | None) -> str:
    """Chapter 7's recommendation-quality table (:func:`recommendation_frame`), or a
    sentence saying that chapter 7 has not been run."""
    if quality is None:
        return ("**Outfit recommendations.** Chapter 7 (`07_autoencoder_recommend`) has not been run in "
                "this build, so there are no recommendation results yet.")
    if quality.empty:
        return ("**Outfit recommendations.** Chapter 7 ran but its `recommendation_quality.csv` has no rows, "
                "so there are no recommendation results to show.")
    return ("**Outfit recommendations** (chapter 7, test queries, one row per space, from "
            "`recommendation_quality.csv`). Each % is how often a recommended outfit has the same true "
            "label as the query, over the heads CCP labels; *random* is the floor and *ground-truth "
            "labels* (recommending from the labels themselves) the ceiling. Diversity is the mean distance "
            "between a query's recommendations; coverage the share of the collection ever recommended."
            "\n\n" + markdown_table(format_frame(recommendation_frame(quality))))


def headline_results_md(metrics: pd.DataFrame, meta: Mapping, recommendation: pd.DataFrame | None,
                        targets: Mapping[str, float] = TEAM_TARGETS_PCT) -> str:
    """The ``headline-results`` block of the intro."""
    ci_label = f"{_level_pct(meta)} CI"
    parts = [
        "**Attribute recognition** (chapter 5, from `test_metrics.csv`):",
        markdown_table(headline_table(metrics, targets, ci_label)),
        split_note(meta),
        targets_sentence(target_comparison(metrics, targets)),
        recommendation_md(recommendation),
    ]
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------- model card

_CALIBRATION_LABELS = {
    "n_val": "n (validation)", "n_test": "n (test)", "temperature": "temperature",
    "ece_plain_%": "ECE, one view %", "ece_before_%": "ECE before %", "ece_after_%": "ECE after %",
    "nll_before": "NLL before", "nll_after": "NLL after",
}
_CALIBRATION_DIGITS = {"temperature": 2, "nll_before": 3, "nll_after": 3}


def model_metrics_table(metrics: pd.DataFrame, ci_label: str = "95% CI") -> pd.DataFrame:
    """Per-head test metrics of one model as display strings."""
    check_columns(metrics, REQUIRED_METRIC_COLUMNS, "test metrics")
    out = pd.DataFrame({"head": metrics["name"].astype(str).values,
                        "n": metrics["n"].map(fmt_count).values,
                        "majority %": metrics["majority_%"].map(fmt_number).values})
    if "plain_%" in metrics.columns:
        out["accuracy, one view %"] = metrics["plain_%"].map(fmt_number).values
    out["accuracy (TTA) %"] = metrics["tta_%"].map(fmt_number).values
    out[ci_label] = [fmt_interval(lo, hi) for lo, hi in zip(metrics["tta_ci_low_%"], metrics["tta_ci_high_%"])]
    out["macro-F1 %"] = metrics["tta_macro_f1_%"].map(fmt_number).values
    balanced = [c for c in metrics.columns if "balanced" in str(c)]
    if balanced:
        out["balanced accuracy %"] = metrics[balanced[0]].map(fmt_number).values
    return out


def calibration_table(calibration: pd.DataFrame, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    """``calibration.csv`` as display strings: head names from ``names``, friendly headers,
    temperatures with 2 decimals, NLL with 3, the rest with 1. Unknown columns are kept."""
    names = dict(names or {})
    out = pd.DataFrame(index=calibration.index)
    for column in calibration.columns:
        values = calibration[column]
        if column == "head":
            out["head"] = values.map(lambda h: names.get(h, h))
        elif column in ("head_ko", "model"):
            continue
        elif str(column).startswith("n_") or column == "n":
            out[_CALIBRATION_LABELS.get(column, column)] = values.map(fmt_count)
        elif pd.api.types.is_numeric_dtype(values):
            d = _CALIBRATION_DIGITS.get(column, column_digits(values))
            out[_CALIBRATION_LABELS.get(column, column)] = values.map(lambda v, d=d: fmt_number(v, d))
        else:
            out[_CALIBRATION_LABELS.get(column, column)] = values.map(fmt_number)
    return out.reset_index(drop=True)


def calibration_sentence(calibration: pd.DataFrame) -> str:
    """What the temperatures and ECE say, counted from ``calibration.csv`` (empty if the
    needed columns are missing)."""
    parts = []
    if "temperature" in calibration.columns:
        t = pd.to_numeric(calibration["temperature"], errors="coerce").dropna()
        if len(t):
            under, over = int((t < 1).sum()), int((t > 1).sum())
            bits = []
            if under:
                bits.append(f"below 1 for {under} of {len(t)} heads (the raw model was under-confident "
                            f"there, and T < 1 sharpens its probabilities)")
            if over:
                bits.append(f"above 1 for {over} of {len(t)} heads (over-confident, and T > 1 softens them)")
            if bits:
                parts.append("The fitted temperature is " + " and ".join(bits) + ".")
    if {"ece_before_%", "ece_after_%"} <= set(calibration.columns):
        pair = calibration[["ece_before_%", "ece_after_%"]].apply(pd.to_numeric, errors="coerce").dropna()
        if len(pair):
            parts.append(f"On the test split the temperature lowered the ECE for "
                         f"{int((pair['ece_after_%'] < pair['ece_before_%']).sum())} of {len(pair)} heads.")
    return " ".join(parts)


def by_group_table(by_group: pd.DataFrame, names: Mapping[str, str] | None = None,
                   ci_label: str = "95% CI") -> pd.DataFrame:
    """``test_metrics_by_group.csv`` (heads scored per source and CCP half) as display strings."""
    check_columns(by_group, ("head", "group", "n", "majority_%", "tta_%", "tta_ci_low_%", "tta_ci_high_%"),
                  "test metrics by group")
    names = dict(names or {})
    return pd.DataFrame({
        "head": by_group["head"].map(lambda h: names.get(h, h)).values,
        "photos": by_group["group"].astype(str).values,
        "n": by_group["n"].map(fmt_count).values,
        "majority %": by_group["majority_%"].map(fmt_number).values,
        "accuracy (TTA) %": by_group["tta_%"].map(fmt_number).values,
        ci_label: [fmt_interval(lo, hi) for lo, hi in zip(by_group["tta_ci_low_%"], by_group["tta_ci_high_%"])],
    })


def weak_groups(by_group: pd.DataFrame) -> pd.DataFrame:
    """Rows (not ``all``) whose interval reaches down to their own majority baseline: the
    model is not clearly better there than always answering the most common class."""
    rows = by_group[by_group["group"].astype(str) != "all"]
    low = pd.to_numeric(rows["tta_ci_low_%"], errors="coerce")
    return rows[low <= pd.to_numeric(rows["majority_%"], errors="coerce")]


def _training_input(p: Mapping) -> str:
    """The views a model trained on (CPU profile: cached views, each with its own size) or
    the view and its size (GPU profile: ``view`` and ``image_size``)."""
    views = p.get("views")
    if isinstance(views, (list, tuple)) and views:
        return ", ".join(f"`{v}`" for v in views)
    if p.get("view"):
        size = p.get("image_size")
        if isinstance(size, (list, tuple)) and len(size) == 2:
            return f"`{p['view']}`, {size[0]} × {size[1]} px"
        return f"`{p['view']}`"
    return MISSING


def training_table(parameters: Mapping[str, Mapping], best_epochs: Mapping[str, int] | None = None) -> pd.DataFrame:
    """The settings of each trained model, from its training notebook's papermill parameters.

    ``parameters`` maps a model name (``top``) to that notebook's parameters; ``best_epochs``
    (from ``test_metrics.json``) the epoch whose weights were kept.
    """
    best_epochs = dict(best_epochs or {})
    rows = []
    for model, p in parameters.items():
        profile = p.get("profile", "cpu")
        blocks = p.get("trainable_blocks")
        rows.append({
            "model": model,
            "profile": profile,
            "backbone": p.get("backbone", MISSING),
            "training input": _training_input(p),
            "backbone blocks trained": (f"last {blocks}" if blocks is not None
                                        else "all" if profile == "gpu" else MISSING),
            "epochs": fmt_count(p.get("epochs")),
            "epoch kept": fmt_count(best_epochs.get(model)),
        })
    return pd.DataFrame(rows)


def model_card_md(metrics: pd.DataFrame, meta: Mapping, calibration: pd.DataFrame | None = None,
                  by_group: pd.DataFrame | None = None,
                  parameters: Mapping[str, Mapping] | None = None) -> str:
    """The ``model-card-metrics`` block of the model card."""
    ci_label = f"{_level_pct(meta)} CI"
    names = dict(zip(metrics["head"], metrics["name"].astype(str)))
    parts = []
    if parameters:
        parts.append("**The models of this build** (settings from the training notebooks' parameters):")
        parts.append(markdown_table(training_table(parameters, meta.get("best_epochs"))))
        smoke = [m for m, p in parameters.items() if p.get("limit_per_split") not in (None, "", 0)]
        if smoke:
            parts.append(f"**Warning:** the {_names(smoke)} model(s) of this build were trained on a "
                         f"limited number of photos per split (`limit_per_split`), a smoke run. The "
                         f"numbers below do not describe a fully trained model.")
    models = list(dict.fromkeys(metrics["model"])) if "model" in metrics.columns else [None]
    for model in models:
        rows = metrics if model is None else metrics[metrics["model"] == model]
        title = "Test metrics" if model is None else f"{str(model).capitalize()} model, test split"
        parts.append(f"**{title}:**")
        parts.append(markdown_table(model_metrics_table(rows, ci_label)))
    parts.append(split_note(meta))
    if calibration is not None and not calibration.empty:
        parts.append("**Calibration** (one temperature per head, fitted on the validation split and applied "
                     "to the test split; ECE in points of %, lower is better):")
        parts.append(markdown_table(calibration_table(calibration, names)))
        sentence = calibration_sentence(calibration)
        if sentence:
            parts.append(sentence)
    if by_group is not None and not by_group.empty:
        parts.append("**By data source** (heads labelled by more than one group of photos; each group is "
                     "compared with the majority class of its own training photos):")
        parts.append(markdown_table(by_group_table(by_group, names, ci_label)))
        weak = weak_groups(by_group)
        if len(weak):
            items = [f"{names.get(h, h)} on {g}" for h, g in zip(weak["head"], weak["group"])]
            parts.append(f"Not clearly better than always answering the group's most common class (the "
                         f"interval reaches down to the majority baseline): {_names(items)}.")
        else:
            parts.append("In every group the interval lies above the group's majority baseline.")
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------- run times


def _utc(stamp) -> str:
    """An ISO time stamp as ``YYYY-MM-DD HH:MM:SS`` in UTC (as given if it cannot be parsed)."""
    if _is_missing(stamp) or stamp == "":
        return MISSING
    try:
        t = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    if t.tzinfo is not None:
        t = t.astimezone(timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S")


def notebook_run(notebook: Mapping, name: str) -> dict:
    """Wall time and start / end of one executed notebook, from its papermill metadata."""
    meta = (notebook.get("metadata") or {}).get("papermill") or {}
    duration = meta.get("duration")
    return {"notebook": name, "seconds": float(duration) if duration is not None else None,
            "start_time": meta.get("start_time"), "end_time": meta.get("end_time")}


def _read_notebook(path: Path) -> dict:
    """An executed notebook's JSON; a file that cannot be read is a :class:`BookPagesError`."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BookPagesError(f"{path}: cannot read the executed notebook ({exc})") from exc


def read_notebook_runs(nb_dir: Path) -> list[dict]:
    """:func:`notebook_run` of every executed ``NN_*.ipynb`` in ``nb_dir`` (partial runs skipped)."""
    runs = []
    for path in sorted(Path(nb_dir).glob("[0-9][0-9]_*.ipynb")):
        if path.name.endswith(".partial.ipynb"):
            continue
        runs.append(notebook_run(_read_notebook(path), path.stem))
    return runs


def run_times_table(runs: Sequence[Mapping], expected: Sequence[str] = ()) -> pd.DataFrame:
    """One row per notebook (``expected`` first, in order, then any other run) and a total.

    A notebook in ``expected`` without a run is shown as :data:`NOT_RUN`.
    """
    by_name = {r["notebook"]: r for r in runs}
    order = list(dict.fromkeys([*expected, *sorted(by_name)]))
    rows, total, counted = [], 0.0, 0
    for name in order:
        run = by_name.get(name)
        if run is None:
            rows.append({"notebook": name, "started (UTC)": NOT_RUN, "finished (UTC)": MISSING,
                         "seconds": MISSING, "minutes": MISSING})
            continue
        seconds = run.get("seconds")
        if not _is_missing(seconds):
            total += float(seconds)
            counted += 1
        rows.append({"notebook": name, "started (UTC)": _utc(run.get("start_time")),
                     "finished (UTC)": _utc(run.get("end_time")),
                     "seconds": fmt_number(None if _is_missing(seconds) else float(seconds)),
                     "minutes": fmt_number(None if _is_missing(seconds) else float(seconds) / 60)})
    rows.append({"notebook": "**total**", "started (UTC)": "", "finished (UTC)": "",
                 "seconds": fmt_number(total) if counted else MISSING,
                 "minutes": fmt_number(total / 60) if counted else MISSING})
    return pd.DataFrame(rows)


def environment_info(packages: Sequence[str] = ENV_PACKAGES) -> dict[str, str]:
    """Python's version, the installed versions of ``packages`` and the CPU count, now."""
    info = {"Python": platform.python_version()}
    for package in packages:
        try:
            info[package] = importlib.metadata.version(package)
        except importlib.metadata.PackageNotFoundError:
            info[package] = "not installed"
    info["operating system"] = f"{platform.system()} {platform.release()} ({platform.machine()})"
    info["CPU cores"] = str(os.cpu_count())
    return info


def run_times_md(runs: Sequence[Mapping], expected: Sequence[str], environment: Mapping[str, str]) -> str:
    """The ``run-times`` block of the reproducibility page."""
    ran = {r["notebook"] for r in runs}
    done = [name for name in dict.fromkeys([*expected, *sorted(ran)]) if name in ran]
    total_names = len(dict.fromkeys([*expected, *sorted(ran)]))
    parts = [
        f"**Notebook wall times** ({len(done)} of {total_names} notebooks run): the whole run of each "
        f"notebook, kernel start included, on the machine and at the time it ran. A notebook that `make` "
        f"did not need to rerun keeps the time of its last run.",
        markdown_table(run_times_table(runs, expected)),
        "**Software and machine** (read when the book was built, from the same environment `make` runs "
        "the notebooks in):",
        "\n".join(f"- {key}: {value}" for key, value in environment.items()),
    ]
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------- pages


def placeholder(name: str) -> str:
    """The placeholder line of ``name``, e.g. ``<!-- fashionkit:run-times -->``."""
    return f"<!-- fashionkit:{name} -->"


def fill_placeholder(text: str, name: str, markdown: str, where: str = "page") -> str:
    """``text`` with its one placeholder line for ``name`` replaced by ``markdown``.

    The generated block gets a blank line on each side. Raises :class:`BookPagesError`
    (naming ``where``) when the placeholder is missing or appears more than once.
    """
    hits = [m for m in _MARKER.finditer(text) if m.group(1) == name]
    if not hits:
        raise BookPagesError(f"{where}: placeholder {placeholder(name)} not found (it must be a line of its own)")
    if len(hits) > 1:
        raise BookPagesError(f"{where}: placeholder {placeholder(name)} appears {len(hits)} times; "
                             f"it must appear exactly once")
    m = hits[0]
    return text[:m.start()] + "\n" + markdown.strip("\n") + "\n" + text[m.end():]


def leftover_placeholders(text: str) -> list[str]:
    """Names of the placeholders still in ``text``."""
    return [m.group(1) for m in _MARKER.finditer(text)]


def toc_chapters(toc_path: Path) -> list[str]:
    """Numbered chapters (``NN_name``) of a jupyter-book ``_toc.yml``, in reading order."""
    if not Path(toc_path).is_file():
        return []
    toc = yaml.safe_load(Path(toc_path).read_text(encoding="utf-8")) or {}
    stems: list[str] = []

    def walk(entries):
        for entry in entries or []:
            if isinstance(entry, Mapping):
                if "file" in entry:
                    stems.append(Path(str(entry["file"])).stem if str(entry["file"]).endswith((".md", ".ipynb"))
                                 else str(entry["file"]))
                walk(entry.get("sections"))

    for part in toc.get("parts") or [{"chapters": toc.get("chapters")}]:
        walk(part.get("chapters"))
    return [s for s in stems if re.match(r"^\d\d_", Path(s).name)]


def _read_csv(path: Path, required: bool) -> pd.DataFrame | None:
    if not path.is_file():
        if required:
            raise BookPagesError(f"{path} not found: run the notebook that writes it "
                                 f"(`make notebooks`) before building the book")
        return None
    try:
        return pd.read_csv(path)
    except (OSError, ValueError) as exc:
        raise BookPagesError(f"{path}: cannot read it as CSV ({exc})") from exc


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise BookPagesError(f"{path} not found: run chapter 5 (`make notebooks`) before building the book")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise BookPagesError(f"{path}: cannot read it as JSON ({exc})") from exc


def _training_parameters(nb_dir: Path) -> dict[str, dict]:
    parameters = {}
    for model, stem in TRAINING_NOTEBOOKS.items():
        path = Path(nb_dir) / f"{stem}.ipynb"
        if path.is_file():
            notebook = _read_notebook(path)
            parameters[model] = ((notebook.get("metadata") or {}).get("papermill") or {}).get("parameters") or {}
    return parameters


def build_sections(artifacts: Path, nb_dir: Path, expected: Sequence[str] = ()) -> dict[str, str]:
    """The Markdown of every placeholder, read from the artifacts and executed notebooks."""
    artifacts, nb_dir = Path(artifacts), Path(nb_dir)
    metrics_path = artifacts / TEST_METRICS_CSV
    metrics = _read_csv(metrics_path, required=True)
    check_columns(metrics, REQUIRED_METRIC_COLUMNS, str(metrics_path))
    meta = _read_json(artifacts / TEST_METRICS_JSON)
    recommendation = _read_csv(artifacts / RECOMMENDATION_CSV, required=False)
    calibration = _read_csv(artifacts / CALIBRATION_CSV, required=False)
    by_group = _read_csv(artifacts / BY_GROUP_CSV, required=False)
    return {
        "headline-results": headline_results_md(metrics, meta, recommendation),
        "model-card-metrics": model_card_md(metrics, meta, calibration, by_group, _training_parameters(nb_dir)),
        "run-times": run_times_md(read_notebook_runs(nb_dir), expected, environment_info()),
    }


def fill_book(book_dir: Path, artifacts: Path, nb_dir: Path) -> list[Path]:
    """Replace every placeholder of the copied book in ``book_dir``; return the pages written.

    Nothing is written unless every page and artifact is in order. Refuses to touch the
    source pages in the project's ``book/``.
    """
    book_dir = Path(book_dir)
    if not book_dir.is_dir():
        raise BookPagesError(f"{book_dir}: book folder not found")
    if book_dir.resolve() == (PROJECT_ROOT / "book").resolve():
        raise BookPagesError(f"{book_dir} holds the source pages; pass the copied book (e.g. build/book)")
    sections = build_sections(artifacts, nb_dir, toc_chapters(book_dir / "_toc.yml"))
    texts: dict[Path, str] = {}
    for name, page in PAGES.items():
        path = book_dir / page
        if path not in texts:
            if not path.is_file():
                raise BookPagesError(f"{path}: page not found (it should hold {placeholder(name)})")
            texts[path] = path.read_text(encoding="utf-8")
        texts[path] = fill_placeholder(texts[path], name, sections[name], where=str(path))
    for path in sorted(book_dir.rglob("*.md")):
        if "_build" in path.relative_to(book_dir).parts:
            continue
        left = leftover_placeholders(texts.get(path) or path.read_text(encoding="utf-8"))
        if left:
            raise BookPagesError(f"{path}: unknown placeholder(s) {[placeholder(n) for n in left]}; "
                                 f"known: {[placeholder(n) for n in PAGES]}")
    for path, text in texts.items():
        path.write_text(text, encoding="utf-8")
    return list(texts)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fashionkit.bookpages",
        description="Fill the placeholders of the copied book pages from the build's artifacts.")
    parser.add_argument("book_dir", type=Path, help="the COPIED book folder (build/book), never book/")
    parser.add_argument("--artifacts", type=Path, default=PROJECT_ROOT / "build" / "artifacts",
                        help="the notebooks' artifacts folder (default: build/artifacts)")
    parser.add_argument("--notebooks", type=Path, default=PROJECT_ROOT / "build" / "nb",
                        help="the executed notebooks (default: build/nb)")
    args = parser.parse_args(argv)
    try:
        written = fill_book(args.book_dir, args.artifacts, args.notebooks)
    except BookPagesError as exc:
        print(f"bookpages: error: {exc}", file=sys.stderr)
        return 1
    for path in written:
        print(f"bookpages: filled {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
