"""fashionkit.bookpages: the generated parts of the book's prose pages.

Known answers on small hand-made tables, a fake executed notebook for the run times, and
an end-to-end run of ``main()`` on a copy of the book (with the real artifacts of
``build/`` when chapter 5 has been run, skipped otherwise).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fashionkit import bookpages as B
from fashionkit.schema import heads

PROJECT = Path(__file__).resolve().parents[1]
BOOK_SRC = PROJECT / "book"
REAL_ARTIFACTS = PROJECT / "build" / "artifacts"
REAL_NOTEBOOKS = PROJECT / "build" / "nb"
REAL_METRICS = REAL_ARTIFACTS / "05_tta_eval" / "test_metrics.csv"

META = {"split": "test", "n_boot": 500, "ci_level": 0.9, "seed": 3, "split_hash": "abc123",
        "views": {"top": {"plain": ["a"], "tta": ["a", "b", "c"]}},
        "best_epochs": {"top": 2, "bottom": 5}}


def metrics_frame() -> pd.DataFrame:
    """Four heads: exactly on target, short with the target in the CI, clearly above the
    target, and a head the team set no target for."""
    return pd.DataFrame({
        "head": ["top_type", "top_pattern", "bottom_major", "extra_head"],
        "model": ["top", "top", "bottom", "bottom"],
        "name": ["top type", "top pattern", "bottom class", "extra"],
        "study_%": [60.3, 83.4, 89.2, float("nan")],
        "majority_%": [41.75257, 81.25, 68.34862, 50.0],
        "n": [194, 192, 218, 10],
        "plain_%": [69.0, 95.0, 97.0, 55.0],
        "tta_%": [70.0, 95.94, 97.26, 60.0],
        "tta_macro_f1_%": [62.96049, 86.84273, 88.0, 40.0],
        "tta_ci_low_%": [63.0, 93.0, 96.5, 40.0],
        "tta_ci_high_%": [76.04, 98.5, 98.0, 80.0],
    })


def write_artifacts(root: Path, recommendation: pd.DataFrame | None = None) -> Path:
    art = root / "artifacts"
    (art / "05_tta_eval").mkdir(parents=True)
    metrics_frame().to_csv(art / "05_tta_eval" / "test_metrics.csv", index=False)
    (art / "05_tta_eval" / "test_metrics.json").write_text(json.dumps(META))
    if recommendation is not None:
        (art / "07_autoencoder_recommend").mkdir()
        recommendation.to_csv(art / "07_autoencoder_recommend" / "recommendation_quality.csv", index=False)
    return art


def write_notebook(path: Path, duration, start="2026-01-02T03:04:05.678+00:00",
                   end="2026-01-02T03:05:35.678+00:00", parameters=None) -> None:
    papermill = {"duration": duration, "start_time": start, "end_time": end}
    if parameters is not None:
        papermill["parameters"] = parameters
    path.write_text(json.dumps({"cells": [], "metadata": {"papermill": papermill},
                                "nbformat": 4, "nbformat_minor": 5}))


def write_book(root: Path, pages: dict[str, str] | None = None) -> Path:
    book = root / "book"
    book.mkdir()
    pages = pages or {page: f"# {page}\n\ntext before\n\n{B.placeholder(name)}\n\ntext after\n"
                      for name, page in B.PAGES.items()}
    for page, text in pages.items():
        (book / page).write_text(text)
    (book / "_toc.yml").write_text("format: jb-book\nroot: intro\nparts:\n  - caption: C\n    chapters:\n"
                                   "      - file: model_card\n      - file: 01_a\n      - file: 02_b\n"
                                   "      - file: reproducibility\n")
    return book


# --- formatting ---------------------------------------------------------------------------


def test_numbers_are_rounded_and_gaps_shown():
    assert B.fmt_number(41.75257) == "41.8"
    assert B.fmt_number(0.12345, 2) == "0.12"
    assert B.fmt_number(float("nan")) == B.MISSING
    assert B.fmt_number(None) == B.MISSING
    assert B.fmt_number(7) == "7"
    assert B.fmt_count(194.0) == "194"
    assert B.fmt_interval(57.2164, 71.134) == "57.2–71.1"
    assert B.fmt_interval(57.2, float("nan")) == B.MISSING


def test_format_frame_keeps_every_column_and_rounds():
    frame = pd.DataFrame({"space": ["probabilities", "autoencoder 2-D"],
                          "mean_agreement_%": [71.234, 65.06], "diversity": [0.7345, 0.5],
                          "n_queries": [100, 100], "coverage_%": [100.0, 87.45]})
    out = B.format_frame(frame)
    assert list(out.columns) == list(frame.columns)
    assert out["mean_agreement_%"].tolist() == ["71.2", "65.1"]
    assert out["coverage_%"].tolist() == ["100.0", "87.5"]
    assert out["diversity"].tolist() == ["0.73", "0.50"]  # a 0-1 score keeps two decimals
    assert out["n_queries"].tolist() == ["100", "100"]
    assert out["space"].tolist() == ["probabilities", "autoencoder 2-D"]


def test_markdown_table_aligns_numbers_and_escapes_pipes():
    table = B.markdown_table(pd.DataFrame({"name": ["a|b", "c"], "value": ["1.5", B.MISSING],
                                           "ci": ["1.0–2.0", "3.0–4.0"]}))
    lines = table.splitlines()
    assert lines[0] == "| name | value | ci |"
    assert lines[1] == "| --- | ---: | ---: |"
    assert lines[2] == r"| a\|b | 1.5 | 1.0–2.0 |"
    assert lines[3] == f"| c | {B.MISSING} | 3.0–4.0 |"


# --- headline results ---------------------------------------------------------------------


def test_team_targets_name_real_heads():
    keys = {h.key for h in heads()}
    assert set(B.TEAM_TARGETS_PCT) <= keys
    assert B.TEAM_TARGETS_PCT["top_type"] == 70 and B.TEAM_TARGETS_PCT["bottom_major"] == 96


def test_target_comparison_known_answers():
    cmp = B.target_comparison(metrics_frame()).set_index("head")
    assert cmp.loc["top_type", "met"] is True           # 70.0 >= 70: exactly on target counts as met
    assert cmp.loc["top_pattern", "met"] is False       # 95.94 < 96
    assert cmp.loc["top_pattern", "target_in_ci"] is True   # 93.0 <= 96 <= 98.5
    assert cmp.loc["bottom_major", "met"] is True       # 97.26 >= 96
    assert cmp.loc["bottom_major", "target_in_ci"] is False  # interval 96.5-98.0 is above 96
    assert cmp.loc["extra_head", "met"] is None         # no target set
    assert pd.isna(cmp.loc["extra_head", "target_%"])


def test_headline_table_values():
    table = B.headline_table(metrics_frame()).set_index("head")
    assert list(table.columns) == ["n", "majority %", "accuracy (TTA) %", "95% CI", "macro-F1 %", "study %",
                                   "target %", "met?"]
    row = table.loc["top type"]
    assert (row["n"], row["majority %"], row["accuracy (TTA) %"]) == ("194", "41.8", "70.0")
    assert (row["95% CI"], row["macro-F1 %"], row["study %"]) == ("63.0–76.0", "63.0", "60.3")
    assert (row["target %"], row["met?"]) == ("70", "yes")
    assert table.loc["top pattern", "accuracy (TTA) %"] == "95.9"
    assert table.loc["top pattern", "met?"] == "no"
    assert (table.loc["extra", "target %"], table.loc["extra", "met?"]) == (B.MISSING, B.MISSING)
    assert table.loc["extra", "study %"] == B.MISSING


def test_targets_sentence_counts_heads():
    text = B.targets_sentence(B.target_comparison(metrics_frame()))
    assert "reaches the team's target for 2 of 3 heads (top type and bottom class)" in text
    assert "falls short for 1 (top pattern)" in text
    assert "For 2 of the 3 (top type and top pattern) the target lies inside" in text
    assert "For 1 (bottom class) even the lower end of the interval is above the target" in text
    assert "No target is set for extra." in text
    assert "not results" in text


def test_targets_sentence_when_none_is_met():
    frame = metrics_frame().iloc[:2].assign(**{"tta_%": [50.0, 60.0], "tta_ci_low_%": [45.0, 55.0],
                                                "tta_ci_high_%": [55.0, 65.0]})
    text = B.targets_sentence(B.target_comparison(frame))
    assert "falls short of the team's target for all 2 heads" in text
    assert "even the upper end of the interval is below the target" in text


def test_missing_required_column_is_an_error():
    with pytest.raises(B.BookPagesError, match="tta_%"):
        B.headline_table(metrics_frame().drop(columns=["tta_%"]))


def test_split_note_reads_the_json():
    note = B.split_note(META)
    assert "`test` split" in note and "abc123" in note
    assert "90% intervals are percentile bootstraps" in note
    assert "500 resamples, seed 3" in note
    assert "3 views" in note


def test_recommendation_not_run_sentence():
    assert "has not been run" in B.recommendation_md(None)
    md = B.headline_results_md(metrics_frame(), META, None)
    assert "Chapter 7 (`07_autoencoder_recommend`) has not been run" in md
    assert "| 90% CI |" in md  # the interval's level comes from the JSON


def test_recommendation_table_is_rounded_named_and_drops_unscored_heads():
    quality = pd.DataFrame({"space": ["full vector", "map 2-D"], "top_type_%": [61.26, 55.0],
                            "top_neck_%": [np.nan, np.nan], "mystery_%": [1.0, 2.0],
                            "mean_agreement_%": [70.04, 66.66], "ci_low_%": [68.0, 64.1],
                            "ci_high_%": [72.1, 69.2], "diversity": [0.812, 1.6], "coverage": [0.9333, 0.8]})
    md = B.recommendation_md(quality)
    assert ("| space | top type % | mystery_% | mean agreement % | 95% CI | diversity | coverage % |"
            in md), md
    assert "| full vector | 61.3 | 1.0 | 70.0 | 68.0–72.1 | 0.81 | 93.3 |" in md
    assert "| map 2-D | 55.0 | 2.0 | 66.7 | 64.1–69.2 | 1.60 | 80.0 |" in md
    assert "neck" not in md  # no query had a neck label: the column is dropped, not shown empty
    assert "has not been run" not in md


# --- model card ---------------------------------------------------------------------------


def test_model_card_has_one_table_per_model_and_optional_parts():
    calibration = pd.DataFrame({"head": ["top_type", "top_pattern"], "n_val": [197, 192],
                                "temperature": [0.9366, 1.25], "ece_before_%": [3.52, 16.08],
                                "ece_after_%": [5.96, 2.22]})
    by_group = pd.DataFrame({"head": ["top_type", "top_type"], "group": ["CCP tag-list half", "all"],
                             "n": [83, 194], "majority_%": [44.6, 41.8], "tta_%": [51.8, 64.4],
                             "tta_ci_low_%": [41.0, 57.2], "tta_ci_high_%": [62.7, 71.1]})
    params = {"top": {"backbone": "tf_efficientnet_lite2", "image_size": [390, 260], "epochs": 7,
                      "views": ["upper_body", "upper_body_aug"], "trainable_blocks": 1, "limit_per_split": None},
              "bottom": {"profile": "gpu", "backbone": "efficientnet_b4", "view": "whole",
                         "image_size": [570, 380], "epochs": 30}}
    md = B.model_card_md(metrics_frame().assign(tta_balanced_acc_=1.0), META, calibration, by_group, params)
    assert "**Top model, test split:**" in md and "**Bottom model, test split:**" in md
    assert "| top type | 194 | 41.8 | 69.0 | 70.0 | 63.0–76.0 | 63.0 | 1.0 |" in md  # balanced acc shown
    assert "| top type | 197 | 0.94 | 3.5 | 6.0 |" in md
    assert "below 1 for 1 of 2 heads" in md and "above 1 for 1 of 2 heads" in md
    assert "lowered the ECE for 1 of 2 heads" in md
    assert "top type on CCP tag-list half" in md   # 41.0 <= 44.6: not clearly above its majority
    assert "| top | cpu | tf_efficientnet_lite2 | `upper_body`, `upper_body_aug` | last 1 | 7 | 2 |" in md
    assert "| bottom | gpu | efficientnet_b4 | `whole`, 570 × 380 px | all | 30 | 5 |" in md
    assert "Warning" not in md
    smoke = B.model_card_md(metrics_frame(), META, parameters={"top": {"limit_per_split": 20}})
    assert "**Warning:**" in smoke
    bare = B.model_card_md(metrics_frame(), META)
    assert "Calibration" not in bare and "By data source" not in bare


# --- run times ----------------------------------------------------------------------------


def test_run_times_from_papermill_metadata(tmp_path):
    write_notebook(tmp_path / "01_a.ipynb", 90.0)
    write_notebook(tmp_path / "03_c.ipynb", 30.5, start="2026-01-02T05:04:05+02:00")
    write_notebook(tmp_path / "02_b.partial.ipynb", 999.0)  # an unfinished run is not counted
    runs = B.read_notebook_runs(tmp_path)
    assert [r["notebook"] for r in runs] == ["01_a", "03_c"]
    table = B.run_times_table(runs, expected=["01_a", "02_b"]).set_index("notebook")
    assert list(table.index) == ["01_a", "02_b", "03_c", "**total**"]
    assert table.loc["01_a", "seconds"] == "90.0" and table.loc["01_a", "minutes"] == "1.5"
    assert table.loc["01_a", "started (UTC)"] == "2026-01-02 03:04:05"
    assert table.loc["01_a", "finished (UTC)"] == "2026-01-02 03:05:35"
    assert table.loc["03_c", "started (UTC)"] == "2026-01-02 03:04:05"  # converted to UTC
    assert table.loc["02_b", "started (UTC)"] == B.NOT_RUN
    assert table.loc["02_b", "seconds"] == B.MISSING
    assert table.loc["**total**", "seconds"] == "120.5"
    assert table.loc["**total**", "minutes"] == "2.0"
    md = B.run_times_md(runs, ["01_a", "02_b"], {"Python": "3.11.7", "CPU cores": "2"})
    assert "(2 of 3 notebooks run)" in md
    assert "- Python: 3.11.7" in md and "- CPU cores: 2" in md


def test_environment_lists_the_packages():
    env = B.environment_info()
    assert set(B.ENV_PACKAGES) <= set(env)
    assert env["Python"].startswith("3.")
    assert int(env["CPU cores"]) >= 1
    assert B.environment_info(["no-such-package-xyz"])["no-such-package-xyz"] == "not installed"


def test_toc_chapters_of_the_real_book():
    chapters = B.toc_chapters(BOOK_SRC / "_toc.yml")
    assert chapters[0] == "01_data_audit"
    assert "07_autoencoder_recommend" in chapters
    assert "intro" not in chapters and "model_card" not in chapters


# --- placeholders -------------------------------------------------------------------------


def test_placeholder_replaced_exactly_once():
    text = "# Page\n\nbefore\n\n<!-- fashionkit:run-times -->\n\nafter\n"
    out = B.fill_placeholder(text, "run-times", "| a |\n| --- |\n| 1 |\n")
    assert out.count("| a |") == 1
    assert "fashionkit:run-times" not in out
    assert out.startswith("# Page\n\nbefore\n") and out.endswith("\nafter\n")
    assert "\n\n| a |\n| --- |\n| 1 |\n\n" in out  # a blank line on each side
    assert B.leftover_placeholders(out) == []


def test_missing_or_repeated_placeholder_raises():
    with pytest.raises(B.BookPagesError, match=r"intro\.md: placeholder <!-- fashionkit:headline-results -->"):
        B.fill_placeholder("# no marker\n", "headline-results", "x", where="intro.md")
    # inside a sentence it is not a placeholder line
    with pytest.raises(B.BookPagesError, match="not found"):
        B.fill_placeholder("see <!-- fashionkit:run-times --> here\n", "run-times", "x")
    twice = "<!-- fashionkit:run-times -->\n\n<!-- fashionkit:run-times -->\n"
    with pytest.raises(B.BookPagesError, match="2 times"):
        B.fill_placeholder(twice, "run-times", "x")


# --- main ---------------------------------------------------------------------------------


def test_main_fills_every_page(tmp_path, capsys):
    quality = pd.DataFrame({"space": ["probabilities"], "mean_agreement_%": [70.04]})
    art = write_artifacts(tmp_path, quality)
    nbs = tmp_path / "nb"
    nbs.mkdir()
    write_notebook(nbs / "01_a.ipynb", 60.0)
    book = write_book(tmp_path)
    assert B.main([str(book), "--artifacts", str(art), "--notebooks", str(nbs)]) == 0
    intro = (book / "intro.md").read_text()
    assert "| top type | 194 | 41.8 | 70.0 | 63.0–76.0 | 63.0 | 60.3 | 70 | yes |" in intro
    assert "| probabilities | 70.0 |" in intro
    assert "text before" in intro and "text after" in intro
    assert "**Top model, test split:**" in (book / "model_card.md").read_text()
    times = (book / "reproducibility.md").read_text()
    assert "| 01_a |" in times and f"| 02_b | {B.NOT_RUN} |" in times
    for page in B.PAGES.values():
        assert B.leftover_placeholders((book / page).read_text()) == []
    assert "filled" in capsys.readouterr().out
    # a second run finds no placeholder left: an error, not a silent double fill
    assert B.main([str(book), "--artifacts", str(art), "--notebooks", str(nbs)]) == 1


def test_main_without_test_metrics_fails_and_names_the_file(tmp_path, capsys):
    book = write_book(tmp_path)
    before = (book / "intro.md").read_text()
    (tmp_path / "artifacts").mkdir()
    assert B.main([str(book), "--artifacts", str(tmp_path / "artifacts"), "--notebooks", str(tmp_path)]) == 1
    assert "05_tta_eval/test_metrics.csv not found" in capsys.readouterr().err
    assert (book / "intro.md").read_text() == before


def test_main_with_a_page_missing_its_placeholder_writes_nothing(tmp_path, capsys):
    art = write_artifacts(tmp_path)
    pages = {page: f"# {page}\n\n{B.placeholder(name)}\n" for name, page in B.PAGES.items()}
    pages["reproducibility.md"] = "# Reproducibility\n\nno placeholder here\n"
    book = write_book(tmp_path, pages)
    assert B.main([str(book), "--artifacts", str(art), "--notebooks", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "reproducibility.md: placeholder <!-- fashionkit:run-times --> not found" in err
    assert (book / "intro.md").read_text() == pages["intro.md"]  # nothing half-written


def test_unknown_placeholder_is_an_error(tmp_path):
    art = write_artifacts(tmp_path)
    book = write_book(tmp_path)
    (book / "data_card.md").write_text("# Data\n\n<!-- fashionkit:typo-results -->\n")
    with pytest.raises(B.BookPagesError, match="unknown placeholder"):
        B.fill_book(book, art, tmp_path)


def test_the_source_book_is_never_rewritten(tmp_path):
    with pytest.raises(B.BookPagesError, match="source pages"):
        B.fill_book(BOOK_SRC, tmp_path, tmp_path)


def test_source_pages_hold_their_placeholders():
    for name, page in B.PAGES.items():
        text = (BOOK_SRC / page).read_text(encoding="utf-8")
        assert B.leftover_placeholders(text) == [name], page


@pytest.mark.skipif(not REAL_METRICS.is_file(), reason=f"{REAL_METRICS} missing; run chapter 5 first")
def test_main_on_a_copy_of_the_book_with_the_real_artifacts(tmp_path):
    book = tmp_path / "book"
    shutil.copytree(BOOK_SRC, book)
    sources = {p.name: p.read_text(encoding="utf-8") for p in BOOK_SRC.glob("*.md")}
    assert B.main([str(book), "--artifacts", str(REAL_ARTIFACTS), "--notebooks", str(REAL_NOTEBOOKS)]) == 0
    metrics = pd.read_csv(REAL_METRICS)
    intro = (book / "intro.md").read_text(encoding="utf-8")
    for name in metrics["name"]:
        assert f"| {name} |" in intro
    assert "| target % | met? |" in intro
    rec = REAL_ARTIFACTS / B.RECOMMENDATION_CSV
    assert ("has not been run" in intro) != rec.is_file()
    assert "| notebook | started (UTC) |" in (book / "reproducibility.md").read_text(encoding="utf-8")
    for page in B.PAGES.values():
        assert B.leftover_placeholders((book / page).read_text(encoding="utf-8")) == []
    # the sources keep their placeholders
    assert {p.name: p.read_text(encoding="utf-8") for p in BOOK_SRC.glob("*.md")} == sources
