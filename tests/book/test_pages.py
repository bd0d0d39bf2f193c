"""fashionkit.book.pages: the run times on the reproducibility page, the one part no chapter glues.

A fake executed notebook for the run times, the placeholder rules, and ``main()`` on a copy
of the book's real pages.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from fashionkit.book import pages

PROJECT = Path(__file__).resolve().parents[2]
BOOK_SRC = PROJECT / "book"


def write_notebook(path: Path, duration, start="2026-01-02T03:04:05.678+00:00",
                   end="2026-01-02T03:05:35.678+00:00") -> None:
    papermill = {"duration": duration, "start_time": start, "end_time": end}
    path.write_text(json.dumps({"cells": [], "metadata": {"papermill": papermill},
                                "nbformat": 4, "nbformat_minor": 5}))


def test_run_times_from_papermill_metadata(tmp_path):
    write_notebook(tmp_path / "01_a.ipynb", 90.0)
    write_notebook(tmp_path / "03_c.ipynb", 30.5, start="2026-01-02T05:04:05+02:00")
    write_notebook(tmp_path / "02_b.partial.ipynb", 999.0)  # an unfinished run is not counted
    runs = pages.read_notebook_runs(tmp_path)
    assert [r["notebook"] for r in runs] == ["01_a", "03_c"]
    table = pages.run_times_table(runs, expected=["01_a", "02_b"]).set_index("notebook")
    assert list(table.index) == ["01_a", "02_b", "03_c", "total"]
    assert table.loc["01_a", "seconds"] == 90.0 and table.loc["01_a", "minutes"] == 1.5
    assert table.loc["01_a", "started (UTC)"] == "2026-01-02 03:04:05"
    assert table.loc["01_a", "finished (UTC)"] == "2026-01-02 03:05:35"
    assert table.loc["03_c", "started (UTC)"] == "2026-01-02 03:04:05"  # converted to UTC
    assert table.loc["02_b", "started (UTC)"] == pages.NOT_RUN
    assert table.loc["total", "seconds"] == 120.5
    md = pages.run_times_md(runs, ["01_a", "02_b"], {"Python": "3.11.7", "CPU cores": "2"})
    assert "(2 of 3 notebooks run)" in md
    assert ">01_a<" in md and ">120.5<" in md and ">2.01<" in md  # the book's table style rounds
    assert "\n\n" not in md[md.index("<div"):md.index("</div>")]  # a blank line would end the HTML block
    assert "- Python: 3.11.7" in md and "- CPU cores: 2" in md


def test_a_notebook_that_cannot_be_read_is_named(tmp_path):
    (tmp_path / "01_a.ipynb").write_text("{not json")
    with pytest.raises(pages.BookPagesError, match="01_a.ipynb"):
        pages.read_notebook_runs(tmp_path)


def test_environment_lists_the_packages():
    env = pages.environment_info()
    assert set(pages.ENV_PACKAGES) <= set(env)
    assert env["Python"].startswith("3.")
    assert int(env["CPU cores"]) >= 1
    assert pages.environment_info(["no-such-package-xyz"])["no-such-package-xyz"] == "not installed"


def test_toc_chapters_of_the_real_book():
    chapters = pages.toc_chapters(BOOK_SRC / "_toc.yml")
    assert chapters[0] == "01_data_audit"
    assert "07_autoencoder_recommend" in chapters
    assert "intro" not in chapters and "model_card" not in chapters


def test_placeholder_replaced_exactly_once():
    text = f"# Page\n\nbefore\n\n{pages.PLACEHOLDER}\n\nafter\n"
    out = pages.fill_placeholder(text, "| a |\n")
    assert out.count("| a |") == 1 and pages.PLACEHOLDER not in out
    assert out.startswith("# Page\n\nbefore\n") and out.endswith("\nafter\n")
    assert "\n\n| a |\n\n" in out  # a blank line on each side


def test_missing_or_repeated_placeholder_raises():
    with pytest.raises(pages.BookPagesError, match=r"repro\.md: placeholder <!-- fashionkit:run-times -->"):
        pages.fill_placeholder("# no marker\n", "x", where="repro.md")
    with pytest.raises(pages.BookPagesError, match="not found"):  # inside a sentence it is not a placeholder line
        pages.fill_placeholder(f"see {pages.PLACEHOLDER} here\n", "x")
    with pytest.raises(pages.BookPagesError, match="2 times"):
        pages.fill_placeholder(f"{pages.PLACEHOLDER}\n\n{pages.PLACEHOLDER}\n", "x")


def test_main_fills_a_copy_of_the_real_book_and_only_once(tmp_path, capsys):
    book = tmp_path / "book"
    shutil.copytree(BOOK_SRC, book)
    nbs = tmp_path / "nb"
    nbs.mkdir()
    write_notebook(nbs / "01_data_audit.ipynb", 60.0)
    assert pages.main([str(book), "--notebooks", str(nbs)]) == 0
    page = (book / pages.PAGE).read_text(encoding="utf-8")
    assert ">01_data_audit<" in page and f">{pages.NOT_RUN}<" in page
    assert "filled" in capsys.readouterr().out
    assert pages.fill_placeholder((BOOK_SRC / pages.PAGE).read_text(encoding="utf-8"), "x")  # the source keeps it
    # a second run finds no placeholder left: an error, not a silent double fill
    assert pages.main([str(book), "--notebooks", str(nbs)]) == 1
    assert "not found" in capsys.readouterr().err


def test_the_source_book_is_never_rewritten(tmp_path):
    with pytest.raises(pages.BookPagesError, match="source pages"):
        pages.fill_book(BOOK_SRC, tmp_path)
