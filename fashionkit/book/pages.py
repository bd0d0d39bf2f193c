"""The one part of the book that no chapter can glue: how long every chapter took, and where.

The chapters glue their own numbers, tables and sentences (myst-nb ``glue``) and the prose
pages paste them.  The run times of *all* the notebooks and the software environment belong
to no chapter, so ``make book`` copies ``book/`` into ``build/book/`` and then runs::

    python -m fashionkit.book.pages build/book --notebooks build/nb

which replaces the placeholder line ``<!-- fashionkit:run-times -->`` of the copied
``reproducibility.md`` with a table of each executed notebook's papermill wall time (in the
book's one table style, :func:`fashionkit.book.tables.show`) and a list of package versions.
The sources in ``book/`` keep their placeholder.  A missing or repeated placeholder, or a
notebook that cannot be read, stops the run with an error that names the file.
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

import pandas as pd
import yaml

from fashionkit.book.tables import show
from fashionkit.data.sources import PROJECT_ROOT

PAGE = "reproducibility.md"
PLACEHOLDER = "<!-- fashionkit:run-times -->"
# Packages whose installed versions the reproducibility page lists.
ENV_PACKAGES = ("torch", "timm", "albumentations", "scikit-learn", "umap-learn", "papermill", "jupyter-book")
NOT_RUN = "not run"


class BookPagesError(RuntimeError):
    """A page or a notebook is not as expected; the message names the file."""


def _utc(stamp) -> str | None:
    """An ISO time stamp as ``YYYY-MM-DD HH:MM:SS`` in UTC (as given if it cannot be parsed)."""
    if not stamp:
        return None
    try:
        t = datetime.fromisoformat(str(stamp))
    except ValueError:
        return str(stamp)
    return (t.astimezone(timezone.utc) if t.tzinfo else t).strftime("%Y-%m-%d %H:%M:%S")


def read_notebook_runs(nb_dir: Path) -> list[dict]:
    """Wall time and start / end of every executed ``NN_*.ipynb`` in ``nb_dir`` (papermill's
    metadata; partial runs skipped)."""
    runs = []
    for path in sorted(Path(nb_dir).glob("[0-9][0-9]_*.ipynb")):
        if path.name.endswith(".partial.ipynb"):
            continue
        try:
            meta = (json.loads(path.read_text(encoding="utf-8")).get("metadata") or {}).get("papermill") or {}
        except (OSError, json.JSONDecodeError) as exc:
            raise BookPagesError(f"{path}: cannot read the executed notebook ({exc})") from exc
        duration = meta.get("duration")
        runs.append({"notebook": path.stem, "seconds": None if duration is None else float(duration),
                     "start_time": meta.get("start_time"), "end_time": meta.get("end_time")})
    return runs


def run_times_table(runs: Sequence[Mapping], expected: Sequence[str] = ()) -> pd.DataFrame:
    """One row per notebook (``expected`` first, in order, then any other run) and a total;
    a notebook of ``expected`` without a run says :data:`NOT_RUN`."""
    by_name = {r["notebook"]: r for r in runs}
    rows = []
    for name in dict.fromkeys([*expected, *sorted(by_name)]):
        run = by_name.get(name)
        rows.append({"notebook": name,
                     "started (UTC)": _utc(run.get("start_time")) if run else NOT_RUN,
                     "finished (UTC)": _utc(run.get("end_time")) if run else None,
                     "seconds": run.get("seconds") if run else None})
    table = pd.DataFrame(rows, columns=["notebook", "started (UTC)", "finished (UTC)", "seconds"])
    seconds = pd.to_numeric(table["seconds"])
    table.loc[len(table)] = {"notebook": "total", "started (UTC)": "", "finished (UTC)": "",
                             "seconds": seconds.sum(min_count=1)}
    table["seconds"] = pd.to_numeric(table["seconds"])
    table["minutes"] = table["seconds"] / 60
    return table


def environment_info(packages: Sequence[str] = ENV_PACKAGES) -> dict[str, str]:
    """Python's version, the installed versions of ``packages``, the system and the CPU count, now."""
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
    """The block that replaces the placeholder: the run times (an HTML table) and the environment."""
    ran = {r["notebook"] for r in runs}
    names = list(dict.fromkeys([*expected, *sorted(ran)]))
    table = show(run_times_table(runs, expected)).to_html()
    table = "\n".join(line for line in table.splitlines() if line.strip())  # a blank line would end the HTML
    return "\n\n".join([
        f"**Notebook wall times** ({len(ran)} of {len(names)} notebooks run): the whole run of each "
        f"notebook, kernel start included, on the machine and at the time it ran. A notebook that `make` "
        f"did not need to rerun keeps the time of its last run.",
        f'<div class="output text_html">\n{table}\n</div>',
        "**Software and machine** (read when the book was built, from the same environment `make` runs "
        "the notebooks in):",
        "\n".join(f"- {key}: {value}" for key, value in environment.items()),
    ])


def fill_placeholder(text: str, markdown: str, where: str = "page") -> str:
    """``text`` with its one :data:`PLACEHOLDER` line replaced by ``markdown`` (a blank line on
    each side); :class:`BookPagesError`, naming ``where``, if it is missing or repeated."""
    hits = list(re.finditer(rf"^[ \t]*{re.escape(PLACEHOLDER)}[ \t]*$", text, re.MULTILINE))
    if len(hits) != 1:
        raise BookPagesError(f"{where}: placeholder {PLACEHOLDER} "
                             + ("not found (it must be a line of its own)" if not hits
                                else f"appears {len(hits)} times; it must appear exactly once"))
    return text[:hits[0].start()] + "\n" + markdown.strip("\n") + "\n" + text[hits[0].end():]


def toc_chapters(toc_path: Path) -> list[str]:
    """Numbered chapters (``NN_name``) of a jupyter-book ``_toc.yml``, in reading order."""
    toc = yaml.safe_load(Path(toc_path).read_text(encoding="utf-8")) if Path(toc_path).is_file() else {}
    stems: list[str] = []

    def walk(entries):
        for entry in entries or []:
            if isinstance(entry, Mapping):
                if "file" in entry:
                    stems.append(Path(str(entry["file"])).stem)
                walk(entry.get("sections"))

    for part in (toc or {}).get("parts") or [{"chapters": (toc or {}).get("chapters")}]:
        walk(part.get("chapters"))
    return [s for s in stems if re.match(r"^\d\d_", s)]


def fill_book(book_dir: Path, nb_dir: Path) -> Path:
    """Fill the run times into the copied book in ``book_dir``; return the page written.
    Refuses to touch the source pages in the project's ``book/``."""
    book_dir = Path(book_dir)
    if book_dir.resolve() == (PROJECT_ROOT / "book").resolve():
        raise BookPagesError(f"{book_dir} holds the source pages; pass the copied book (e.g. build/book)")
    path = book_dir / PAGE
    if not path.is_file():
        raise BookPagesError(f"{path}: page not found (it should hold {PLACEHOLDER})")
    block = run_times_md(read_notebook_runs(nb_dir), toc_chapters(book_dir / "_toc.yml"), environment_info())
    path.write_text(fill_placeholder(path.read_text(encoding="utf-8"), block, str(path)), encoding="utf-8")
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fashionkit.book.pages",
        description="Fill the run times into the copied book's reproducibility page.")
    parser.add_argument("book_dir", type=Path, help="the COPIED book folder (build/book), never book/")
    parser.add_argument("--notebooks", type=Path, default=PROJECT_ROOT / "build" / "nb",
                        help="the executed notebooks (default: build/nb)")
    args = parser.parse_args(argv)
    try:
        written = fill_book(args.book_dir, args.notebooks)
    except BookPagesError as exc:
        print(f"fashionkit.book.pages: error: {exc}", file=sys.stderr)
        return 1
    print(f"fashionkit.book.pages: filled {written}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
