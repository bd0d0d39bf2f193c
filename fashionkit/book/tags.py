"""Cell tags for the book's copies of the executed notebooks: what a reader sees, not what runs.

`make book` copies each executed notebook into ``build/book`` and tags the copy here
(myst-nb reads the tags when it renders; the notebooks in ``notebooks/`` stay as they are):

* the **parameters** cell is removed: its defaults are overridden by papermill's injected
  cell, which holds the values the run actually used;
* papermill's **injected-parameters** cell is folded (``hide-cell``): one click shows the
  run's settings, and they take no room otherwise;
* the code cells of a chapter's **Setup** section (imports, paths, threads) get their input
  hidden (``hide-input``); what they print stays;
* elsewhere a code cell longer than :data:`OPEN_CODE_MAX_LINES` non-blank lines gets its input
  folded too (``hide-input``): the page shows short calls into ``fashionkit`` and the results,
  and one click shows the code that assembles a table or a sentence;
* a cell the notebook itself tags ``hide-output`` (a detail: a long table, a gallery) keeps the
  tag, and myst-nb folds its output behind a "Show output" button.

Usage: ``python -m fashionkit.book.tags build/book/*.ipynb``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["OPEN_CODE_MAX_LINES", "RULES", "code_lines", "tags_for", "tag_notebook"]

# papermill's own tag -> the tag the book adds (configuration as data)
RULES = {"parameters": "remove-cell", "injected-parameters": "hide-cell"}
SETUP_TITLE = "## Setup"
SETUP_TAG = "hide-input"
FOLD_TAG = "hide-input"
# a code cell with more non-blank lines than this shows its output only (configuration as data)
OPEN_CODE_MAX_LINES = 3
# tags after which a cell's input is already out of sight
INPUT_HIDDEN = {"hide-input", "hide-cell", "remove-input", "remove-cell"}


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def code_lines(cell: dict) -> int:
    """Non-blank lines of a cell's source."""
    return sum(1 for line in _source(cell).splitlines() if line.strip())


def tags_for(cells: list[dict]) -> list[list[str]]:
    """The tags each cell should carry, in order (its own tags plus the book's)."""
    out, in_setup = [], False
    for cell in cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if cell.get("cell_type") == "markdown":
            in_setup = _source(cell).lstrip().startswith(SETUP_TITLE)
        elif cell.get("cell_type") == "code":
            tags += [RULES[t] for t in list(tags) if t in RULES]
            if not any(t in RULES or t in INPUT_HIDDEN for t in tags):
                if in_setup:
                    tags.append(SETUP_TAG)
                elif code_lines(cell) > OPEN_CODE_MAX_LINES:
                    tags.append(FOLD_TAG)
        out.append(list(dict.fromkeys(tags)))
    return out


def tag_notebook(path: str | Path) -> int:
    """Tag one notebook file in place; returns how many cells got a new tag."""
    path = Path(path)
    nb = json.loads(path.read_text(encoding="utf-8"))
    changed = 0
    for cell, tags in zip(nb["cells"], tags_for(nb["cells"])):
        if tags != cell.get("metadata", {}).get("tags", []):
            cell.setdefault("metadata", {})["tags"] = tags
            changed += 1
    path.write_text(json.dumps(nb, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return changed


def main(argv=None) -> int:
    paths = sys.argv[1:] if argv is None else argv
    for p in paths:
        tag_notebook(p)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
