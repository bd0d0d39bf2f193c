"""One table style for the whole book: ``display(tables.show(frame))``.

What a reader should not have to decode: a raw 0..N index, six-decimal floats, snake_case
headers (``ece_plain_%``), a fraction beside a percentage.  :func:`show` returns a pandas
``Styler`` that

* hides a default 0..N index (a named or meaningful index stays: it labels the rows);
* writes headers as words (``tta_macro_f1_%`` → ``tta macro F1 %``);
* aligns words left (numbers stay right-aligned, as the book's style sheet sets them);
* formats numbers by what they are: ``%`` / ``points`` columns and numbers from 10 up with
  one decimal, counts with a thousands separator, numbers below 1 with three significant
  digits (an MSE of 0.0418 stays readable), others with two decimals;
  missing values as an en dash.

Heavy lifting stays with pandas (``Styler.format`` / ``format_index`` / ``hide``); this module
only decides the rules, in one place.  Beside :func:`show`: :func:`interval` writes a confidence
interval as one cell, and :func:`html` turns a sentence into HTML for another page to paste
(myst-nb pastes another page's Markdown as plain text, but HTML as it is).
"""

from __future__ import annotations

import re
from html import escape

import numpy as np
import pandas as pd
from pandas.io.formats.style import Styler

__all__ = ["PERCENT_MARKERS", "header", "show", "interval", "html", "proba_string"]

PERCENT_MARKERS = ("%", "points", "pts")  # a column whose name holds one of these is in % or points
_WORDS = {"f1": "F1", "ece": "ECE", "nll": "NLL", "ci": "CI", "iou": "IoU", "tta": "TTA", "mse": "MSE",
          "n": "n", "acc": "accuracy"}


def header(name) -> str:
    """A column or index name for reading: underscores to spaces, a few abbreviations spelt."""
    if not isinstance(name, str):
        return name
    words = re.split(r"_+", name.strip("_"))
    return " ".join(_WORDS.get(w.lower(), w) for w in words if w).replace(" %", " %")


def _is_percent(name) -> bool:
    return isinstance(name, str) and any(m in name for m in PERCENT_MARKERS)


def _formatter(name, values: pd.Series):
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        return lambda v: "–" if v is None or (isinstance(v, float) and np.isnan(v)) else str(v)
    finite = values[np.isfinite(values.astype(float))]
    if pd.api.types.is_integer_dtype(values) or (len(finite) and (finite == finite.round()).all()
                                                 and not _is_percent(name) and finite.abs().max() >= 10):
        return lambda v: "–" if pd.isna(v) else f"{int(round(v)):,}"
    if _is_percent(name) or (len(finite) and finite.abs().max() >= 10):
        return lambda v: "–" if pd.isna(v) else f"{v:,.1f}"
    return lambda v: "–" if pd.isna(v) else f"{v:.2f}" if abs(v) >= 1 else f"{v:.3g}"


def show(frame: pd.DataFrame | pd.Series, caption: str | None = None) -> Styler:
    """``frame`` styled the book's way (see the module docstring); ``caption`` above it."""
    if isinstance(frame, pd.Series):
        frame = frame.to_frame()
    frame = frame.copy()
    default_index = isinstance(frame.index, pd.RangeIndex) and frame.index.name is None
    styler = frame.style
    if frame.columns.is_unique:  # pandas formats column by column only when the labels are unique
        styler = styler.format({column: _formatter(column, frame[column]) for column in frame.columns})
        words = [c for c in frame.columns
                 if pd.api.types.is_bool_dtype(frame[c]) or not pd.api.types.is_numeric_dtype(frame[c])]
        if words:  # numbers line up on the right (book/_static/tables.css), words read from the left
            styler = styler.set_properties(subset=words, **{"text-align": "left"})
    styler = styler.format_index(header, axis=1)
    styler = styler.format_index(header, axis=0) if not default_index else styler.hide(axis="index")
    if frame.index.names and not default_index:
        styler.index.names = [header(n) if n else n for n in frame.index.names]
    if caption:
        styler = styler.set_caption(caption)
    return styler


def interval(low, high) -> str:
    """A confidence interval as one cell: ``low–high`` with one decimal, an en dash if an end is missing."""
    if pd.isna(low) or pd.isna(high):
        return "–"
    return f"{low:.1f}–{high:.1f}"


def html(markdown: str):
    """``markdown`` (one paragraph; ``**bold**`` and ```code``` only) as an ``IPython.display.HTML``
    paragraph, for ``glue`` when another page pastes it."""
    from IPython.display import HTML

    text = re.sub(r"\*\*(.+?)\*\*", r"<strong>\1</strong>", escape(markdown, quote=False))
    return HTML("<p>" + re.sub(r"`([^`]+)`", r"<code>\1</code>", text) + "</p>")


def proba_string(proba_row, names) -> str:
    """``"blouse 11.5% · shirt 7.8% · t-shirt 53.9%"``: every class's probability, in class order
    (here, not in :mod:`fashionkit.metrics.scores`, so the command line prints it without importing scikit-learn)."""
    return " · ".join(f"{n} {100 * p:.1f}%" for n, p in zip(names, proba_row))
