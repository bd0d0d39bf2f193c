"""The book's one table style (fashionkit.book.tables): headers, index, number formats."""

import re

import numpy as np
import pandas as pd

from fashionkit.book import tables


def test_headers_are_words_and_a_default_index_is_hidden():
    html = tables.show(pd.DataFrame({"tta_macro_f1_%": [61.234], "ece_plain": [0.04567]})).to_html()
    assert "TTA macro F1 %" in html and "ECE plain" in html and "tta_macro" not in html
    assert 'class="row_heading' not in html  # no 0..N index column
    named = tables.show(pd.DataFrame({"n": [3]}, index=pd.Index(["top_type"], name="head_key"))).to_html()
    assert "top type" in named and "head key" in named  # a meaningful index stays, readable


def test_numbers_are_formatted_by_what_they_are():
    frame = pd.DataFrame({"accuracy_%": [61.2345, np.nan], "photos": [1234, 5], "mse": [0.041812, 0.5],
                          "temperature": [1.23456, 2.0], "label": ["a", None]})
    html = tables.show(frame).to_html()
    for shown in ("61.2", "1,234", "0.0418", "1.23", "–"):
        assert f">{shown}<" in html, shown
    for hidden in ("61.2345", "0.041812", "1.23456", ">nan<", ">None<"):
        assert hidden not in html, hidden


def test_duplicate_column_labels_still_render():
    frame = pd.DataFrame([[1.0, 2.0]], columns=["a", "a"])
    assert "<table" in tables.show(frame).to_html()


def test_an_interval_is_one_cell_and_a_sentence_pastes_as_html():
    assert tables.interval(57.2164, 71.134) == "57.2–71.1"
    assert tables.interval(57.2, np.nan) == "–"
    html = tables.html("**Against the aims.** Split `test` <ok> & done.").data
    assert html == "<p><strong>Against the aims.</strong> Split <code>test</code> &lt;ok&gt; &amp; done.</p>"


def test_words_read_from_the_left_numbers_stay_right():
    frame = pd.DataFrame({"head": ["top type", "neck"], "accuracy %": [62.94, 80.71], "n": [194, 212]})
    html = tables.show(frame).to_html()
    left = re.findall(r"#(T_\w+?_row\d+_col(\d+))\s*\{[^}]*text-align: left", html)
    assert left and {col for _, col in left} == {"0"}  # only the text column
