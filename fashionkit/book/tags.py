"""Cell tags for the book's copies of the executed notebooks: what a reader sees, not what runs.

`make book` copies each executed notebook into ``build/book`` and tags the copy here
(myst-nb reads the tags when it renders; the notebooks in ``notebooks/`` stay as they are):

* the **parameters** cell is removed: its defaults are overridden by papermill's injected
  cell, which holds the values the run actually used;
* papermill's **injected-parameters** cell is folded (``hide-cell``): one click shows the
  run's settings, and they take no room otherwise;
* the code cells of a chapter's **Setup** section (imports, paths, threads) get their input
  hidden (``hide-input``); what they print stays.

Usage: ``python -m fashionkit.book.tags build/book/*.ipynb``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

__all__ = ["RULES", "tags_for", "tag_notebook"]

# papermill's own tag -> the tag the book adds (configuration as data)
RULES = {"parameters": "remove-cell", "injected-parameters": "hide-cell"}
SETUP_TITLE = "## Setup"
SETUP_TAG = "hide-input"


def _source(cell: dict) -> str:
    src = cell.get("source", "")
    return "".join(src) if isinstance(src, list) else src


def tags_for(cells: list[dict]) -> list[list[str]]:
    """The tags each cell should carry, in order (its own tags plus the book's)."""
    out, in_setup = [], False
    for cell in cells:
        tags = list(cell.get("metadata", {}).get("tags", []))
        if cell.get("cell_type") == "markdown":
            in_setup = _source(cell).lstrip().startswith(SETUP_TITLE)
        elif cell.get("cell_type") == "code":
            tags += [RULES[t] for t in list(tags) if t in RULES]
            if in_setup and not any(t in RULES for t in tags):
                tags.append(SETUP_TAG)
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
