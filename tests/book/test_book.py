"""The book's table of contents points at real files, and the built site is complete.

The cheap test always runs.  The tests of the built HTML run only after ``make book``
(they need ``build/book/_build/html``) and are skipped otherwise.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

PROJECT = Path(__file__).resolve().parents[2]
BOOK_SRC = PROJECT / "book"
NOTEBOOK_SRC = PROJECT / "notebooks"
BUILT = PROJECT / "build" / "book"
HTML = BUILT / "_build" / "html"

needs_built_book = pytest.mark.skipif(
    not HTML.is_dir(), reason=f"book not built ({HTML} missing); run `make book` first"
)


def toc_files(toc: dict) -> list[str]:
    """Every ``file`` entry of a jb-book ``_toc.yml``, root first, in reading order."""
    files = [toc["root"]]

    def walk(entries):
        for entry in entries or []:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections"))

    for part in toc.get("parts") or [{"chapters": toc.get("chapters")}]:
        walk(part.get("chapters"))
    return [str(Path(f).with_suffix("")) if Path(f).suffix in {".md", ".ipynb"} else f for f in files]


def read_toc(folder: Path) -> list[str]:
    return toc_files(yaml.safe_load((folder / "_toc.yml").read_text(encoding="utf-8")))


class _Tags(HTMLParser):
    """Collects ``<img src>`` and external ``<script src>`` / ``<link href>`` of a page."""

    def __init__(self):
        super().__init__()
        self.images: list[str] = []
        self.remote_assets: list[str] = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "img" and attrs.get("src"):
            self.images.append(attrs["src"])
        url = attrs.get("src") if tag == "script" else attrs.get("href") if tag == "link" else None
        if url and urlsplit(url).scheme in {"http", "https"} or (url or "").startswith("//"):
            self.remote_assets.append(f"<{tag}> {url}")


def parse_page(path: Path) -> _Tags:
    parser = _Tags()
    parser.feed(path.read_text(encoding="utf-8"))
    return parser


def content_images(tags: _Tags) -> list[str]:
    """Images of the page's content: not the theme's own files under ``_static/``."""
    return [src for src in tags.images if not src.startswith("_static/")]


# --- always on ------------------------------------------------------------------------


def test_toc_lists_existing_files():
    stems = read_toc(BOOK_SRC)
    assert stems[0] == "intro"
    assert len(stems) == len(set(stems)), f"a file is listed twice in book/_toc.yml: {stems}"
    missing = [
        stem for stem in stems
        if not any((BOOK_SRC / f"{stem}{ext}").is_file() for ext in (".md", ".ipynb"))
        and not (NOTEBOOK_SRC / f"{stem}.ipynb").is_file()
    ]
    assert not missing, f"book/_toc.yml lists files found neither in book/ nor notebooks/: {missing}"


def test_every_notebook_is_in_the_toc():
    listed = set(read_toc(BOOK_SRC))
    unlisted = sorted(nb.stem for nb in NOTEBOOK_SRC.glob("[0-9][0-9]_*.ipynb") if nb.stem not in listed)
    assert not unlisted, f"notebooks missing from book/_toc.yml (they would not be in the book): {unlisted}"


# --- after `make book` ----------------------------------------------------------------


@needs_built_book
def test_every_toc_entry_has_a_page():
    stems = read_toc(BUILT)
    missing = [stem for stem in stems if not (HTML / f"{stem}.html").is_file()]
    assert not missing, f"chapters without an HTML page in {HTML}: {missing}"


@needs_built_book
@pytest.mark.parametrize(
    "stem",
    [s for s in (read_toc(BUILT) if (BUILT / "_toc.yml").is_file() else []) if (BUILT / f"{s}.ipynb").is_file()],
)
def test_notebook_pages_show_their_figures(stem):
    page = HTML / f"{stem}.html"
    images = content_images(parse_page(page))
    assert images, f"{page.name} has no <img>: the executed notebook lost its figures"
    for src in images:
        if src.startswith("data:"):
            continue
        assert not urlsplit(src).scheme, f"{page.name} loads an image from the web: {src}"
        target = (page.parent / unquote(urlsplit(src).path)).resolve()
        assert target.is_file(), f"{page.name} references a missing image: {src}"


@needs_built_book
def test_pages_load_nothing_from_the_web():
    remote = {
        page.name: tags.remote_assets
        for page in sorted(HTML.glob("*.html"))
        if (tags := parse_page(page)).remote_assets
    }
    assert not remote, f"pages load scripts or styles from the web (the site must read offline): {remote}"


@needs_built_book
def test_pages_hold_no_progress_bars_or_tracebacks():
    """Progress and warnings went to the terminal (stderr is dropped from the pages)."""
    for page in HTML.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        for marker in ("it/s]", "s/it]", "Traceback"):
            assert marker not in text, f"{page.name} shows {marker!r}"


def test_book_tags_remove_the_parameters_fold_the_injected_ones_and_hide_setup_code(tmp_path):
    import json

    from fashionkit.book.tags import tag_notebook

    cells = [{"cell_type": "markdown", "metadata": {}, "source": "# 1. A chapter"},
             {"cell_type": "code", "metadata": {"tags": ["parameters"]}, "source": "seed = 0"},
             {"cell_type": "code", "metadata": {"tags": ["injected-parameters"]}, "source": "seed = 1"},
             {"cell_type": "markdown", "metadata": {}, "source": "## Setup\n\nImports."},
             {"cell_type": "code", "metadata": {}, "source": "import numpy"},
             {"cell_type": "markdown", "metadata": {}, "source": "## Results"},
             {"cell_type": "code", "metadata": {}, "source": "print(1)"}]
    path = tmp_path / "nb.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    tag_notebook(path)
    tag_notebook(path)  # idempotent
    tags = [c["metadata"].get("tags", []) for c in json.loads(path.read_text())["cells"]]
    assert tags[1] == ["parameters", "remove-cell"] and tags[2] == ["injected-parameters", "hide-cell"]
    assert tags[4] == ["hide-input"] and tags[6] == []


@needs_built_book
def test_no_parameters_block_is_visible():
    for page in HTML.glob("[0-9][0-9]_*.html"):
        text = page.read_text(encoding="utf-8")
        assert "tag_parameters" not in text, f"{page.name} shows the parameters cell"
        for found in re.finditer("tag_injected-parameters", text):
            assert "tag_hide-cell" in text[text.rfind("<div", 0, found.start()):found.start() + 200], \
                f"{page.name}: the injected parameters are not folded"


@needs_built_book
@pytest.mark.parametrize("page", ["intro", "model_card"])
def test_the_headline_figure_is_pasted_from_chapter_5(page):
    html = (HTML / f"{page}.html").read_text(encoding="utf-8")
    images = [src for src in content_images(parse_page(HTML / f"{page}.html")) if "_images/" in src]
    assert images, f"{page}: no figure pasted (glue key headline_accuracy)"
    for src in images:
        assert (HTML / unquote(urlsplit(src).path)).is_file(), f"{page}: {src} missing"
    assert "No key" not in html and "headline_accuracy" not in html  # pasted, not left as a key


# --- what the chapters glue, pasted on the prose pages ------------------------------------

_PASTE = re.compile(r"^```\{glue\}[ \t]+(\S+)[ \t]*\n:doc:[ \t]*(\S+)[ \t]*$", re.MULTILINE)


def pastes() -> list[tuple[str, str, str]]:
    """``(page, key, notebook)`` of every ``{glue}`` paste of the book's prose pages."""
    return [(page.stem, key, doc) for page in sorted(BOOK_SRC.glob("*.md"))
            for key, doc in _PASTE.findall(page.read_text(encoding="utf-8"))]


def page_text(html: str) -> str:
    """The visible text of some HTML, tags dropped and whitespace collapsed."""
    from html import unescape

    html = re.sub(r"<style.*?</style>", " ", html, flags=re.DOTALL)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def glued(notebook: Path, key: str) -> dict:
    """The mime bundle a notebook glued under ``key`` (papermill's record prefix dropped)."""
    import json

    for cell in json.loads(notebook.read_text(encoding="utf-8"))["cells"]:
        for output in cell.get("outputs", []):
            scrap = output.get("metadata", {}).get("scrapbook", {})
            if scrap.get("name") == key:
                prefix = scrap.get("mime_prefix", "")
                return {mime.removeprefix(prefix): data for mime, data in output.get("data", {}).items()}
    raise AssertionError(f"{notebook.name} glues no {key!r}")


def test_the_prose_pages_paste_what_the_chapters_glue():
    found = {(page, key) for page, key, _ in pastes()}
    for key in ("headline_table", "aims_sentence", "split_note", "recommendation_table"):
        assert ("intro", key) in found, key
    for key in ("training_settings", "model_metrics", "calibration_table", "groups_table"):
        assert ("model_card", key) in found, key
    import json

    for _, key, doc in pastes():
        cells = json.loads((NOTEBOOK_SRC / doc).read_text(encoding="utf-8"))["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        assert re.search(rf'glue\(\s*"{key}"', code), f"{doc} glues no {key!r}"


@needs_built_book
@pytest.mark.parametrize("page,key,doc", pastes(), ids=lambda v: str(v))
def test_every_glued_value_is_on_its_page(page, key, doc):
    html = (HTML / f"{page}.html").read_text(encoding="utf-8")
    bundle = glued(BUILT / doc, key)
    if "text/html" in bundle:
        value = "".join(bundle["text/html"]) if isinstance(bundle["text/html"], list) else bundle["text/html"]
        expected = page_text(value)
        assert len(expected) > 20, f"{doc}: {key} glued almost nothing: {expected!r}"
        assert expected in page_text(html), f"{page}: the value glued as {key} by {doc} is not on the page"
    else:
        assert "image/png" in bundle, f"{doc}: {key} is glued as {sorted(bundle)}: paste HTML or a figure"
        assert any("_images/" in src for src in content_images(parse_page(HTML / f"{page}.html")))


@needs_built_book
def test_the_run_times_list_every_chapter():
    html = (HTML / "reproducibility.html").read_text(encoding="utf-8")
    assert "<!-- fashionkit:run-times -->" not in html  # filled (the prose quotes it escaped)
    text = page_text(html)
    for stem in read_toc(BUILT):
        if (BUILT / f"{stem}.ipynb").is_file():
            assert f" {stem} " in text, f"reproducibility: no run time for {stem}"


@needs_built_book
def test_no_page_shows_a_path_of_this_machine():
    from fashionkit.data.sources import default_data_dir

    paths = {str(PROJECT), str(default_data_dir().resolve()), str(Path.home()) + "/"}
    for page in HTML.glob("*.html"):
        text = page.read_text(encoding="utf-8")
        shown = [p for p in paths if p in text]
        assert not shown, f"{page.name} shows {shown}"
