"""The chapters read as a report: little open code, each figure once, pages of a readable length.

The open-code rule is checked on the notebooks as the book tags them (no build needed); the
figures and the page heights on the built book, the heights in headless Chromium at the width
a reader's laptop shows (``browser.py``; skipped without a browser or a built book).
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest

from fashionkit.book.tags import INPUT_HIDDEN, code_lines, tags_for

from browser import WebDriver, needs_browser

PROJECT = Path(__file__).resolve().parents[2]
HTML = PROJECT / "build" / "book" / "_build" / "html"
CHAPTERS = sorted(p.stem for p in (PROJECT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
OPEN_CODE_LINES_MAX = 60  # open (unfolded) code lines per chapter page
PAGE_HEIGHT_MAX = 14000   # px, at WIDTH
WIDTH = 1400
needs_book = pytest.mark.skipif(not (HTML / f"{CHAPTERS[-1]}.html").is_file(),
                                reason="the book is not built here (make all builds it)")


def open_code_lines(cells: list[dict]) -> int:
    """Non-blank code lines a reader sees unfolded once the book has tagged ``cells``."""
    return sum(code_lines(cell) for cell, tags in zip(cells, tags_for(cells))
               if cell.get("cell_type") == "code" and not INPUT_HIDDEN & set(tags))


def test_a_long_cell_is_folded_and_a_short_call_stays_open():
    cells = [{"cell_type": "code", "metadata": {}, "source": "fig = figures.panels(counts)"},
             {"cell_type": "code", "metadata": {}, "source": "a = 1\nb = 2\n\nc = 3\nd = 4"},
             {"cell_type": "code", "metadata": {"tags": ["hide-output"]}, "source": "display(table)"}]
    tags = tags_for(cells)
    assert tags[0] == [] and tags[1] == ["hide-input"] and tags[2] == ["hide-output"]
    assert open_code_lines(cells) == 2


@pytest.mark.parametrize("stem", CHAPTERS)
def test_each_chapter_shows_little_open_code(stem):
    cells = json.loads((PROJECT / "notebooks" / f"{stem}.ipynb").read_text(encoding="utf-8"))["cells"]
    assert open_code_lines(cells) <= OPEN_CODE_LINES_MAX


def _content_images(page: Path) -> list[Path]:
    srcs = re.findall(r'<img[^>]+src="([^"]+)"', page.read_text(encoding="utf-8"))
    return [page.parent / unquote(urlsplit(s).path) for s in srcs
            if not s.startswith(("data:", "_static/")) and "_images/" in s]


@needs_book
@pytest.mark.parametrize("stem", CHAPTERS)
def test_each_figure_is_shown_once_per_page(stem):
    digests: dict[str, str] = {}
    for image in _content_images(HTML / f"{stem}.html"):
        digest = hashlib.sha1(image.read_bytes()).hexdigest()
        assert digest not in digests, f"{stem}: {image.name} repeats {digests[digest]}"
        digests[digest] = image.name


# per chapter: code lines shown unfolded (the copy button's label left out) and the page's height
MEASURE = r"""
let open = 0;
for (const cell of document.querySelectorAll('div.cell')) {
  const input = cell.querySelector('div.cell_input');
  if (!input || /tag_(hide|remove)-(input|cell)/.test(cell.className)) continue;
  open += (input.textContent || '').split('\n').filter(l => l.trim() && l.trim() !== 'Copy to clipboard').length;
}
return [open, Math.max(document.body.scrollHeight, document.documentElement.scrollHeight)];
"""


@needs_browser
@needs_book
def test_each_built_chapter_is_short_enough_to_read():
    driver = WebDriver(width=WIDTH, height=1000)
    try:
        measured = {}
        for stem in CHAPTERS:
            driver.get((HTML / f"{stem}.html").as_uri())
            time.sleep(1)
            measured[stem] = driver.execute(MEASURE)
    finally:
        driver.quit()
    over = {stem: (lines, height) for stem, (lines, height) in measured.items()
            if lines > OPEN_CODE_LINES_MAX or height >= PAGE_HEIGHT_MAX}
    assert not over, f"(open code lines, height px) over {OPEN_CODE_LINES_MAX} / {PAGE_HEIGHT_MAX}: {over}"
