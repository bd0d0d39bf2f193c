"""No typed figure in the book's own pages: every number a reader sees in ``book/*.md`` comes from a
computation (a ``glue`` role or directive pasting a chapter's output) or is one of the names,
references and identifiers of :data:`ALLOWED`.  A figure typed into the prose goes stale the
first time a chapter's result changes; this test fails on it, naming file, line and token."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

BOOK = Path(__file__).resolve().parents[2] / "book"

# What is removed before looking for digits: code and directives (fenced blocks), MyST roles with
# their content (glue pastes computed values; doc / ref name pages), inline code, link targets,
# label targets, HTML comments.
STRIPPED = [r"```.*?```", r"<!--.*?-->", r"\{[\w:-]+\}`[^`]*`", r"`[^`]*`", r"(?<=\])\([^)]*\)", r"^\([\w-]+\)=$"]

# Digits that are names, references or identifiers, not results: each with why it may stay.
ALLOWED = {
    r"^\s*\d+\.\s": "an ordered list's item number",
    r"\b[Cc]hapters? \d+(?:\s*(?:[-–,]|and|to)\s*\d+)*(?:'s)?": "a chapter reference",
    r"\bEfficientNet-(?:Lite\d|B\d)\b|\bLite\d\b|\bB4\b": "a backbone's name",
    r"\b(?:macro-)?F1\b": "the F1 score's name",
    r"\b[23]-D\b": "two- / three-dimensional",
    r"\b3/4\b|\b\d+부": "a class name (3/4 sleeve; Korean lengths)",
    r"\bPython 3\.11\b|\bfloat16\b|\b8-bit\b|\bCC0 1\.0\b|\bCC BY(?:-\w+)? \d\.\d\b|\bApache License 2\.0\b":
        "a version, type or licence name",
    r"\[[\w.-]+/[\w.-]+\]": "a repository's name (owner/name) as a link's text",
    r"\b(?:19|20)\d\d\b": "a year in a citation",
    r"\b\d{4,6}(?:\s*[–-]\s*\d{4,6})?\b": "a photo's identifier or a range of them (CCP 0001-1004)",
    r"\b0–255\b": "the 8-bit pixel range",
}


def _prose(text: str) -> str:
    for pattern in STRIPPED:
        text = re.sub(pattern, lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S | re.M)
    return text


def typed_numbers(text: str) -> list[tuple[int, str]]:
    """``(line, token)`` of every digit in the prose of ``text`` that :data:`ALLOWED` does not explain."""
    found = []
    for number, line in enumerate(_prose(text).splitlines(), 1):
        for pattern in ALLOWED:
            line = re.sub(pattern, " ", line)
        found += [(number, m.group(0)) for m in re.finditer(r"\S*\d\S*", line)]
    return found


@pytest.mark.parametrize("page", sorted(p.name for p in BOOK.glob("*.md")))
def test_the_book_s_pages_type_no_figure(page):
    hits = typed_numbers((BOOK / page).read_text())
    assert not hits, f"{page}: typed figures (glue them from a chapter or remove them): {hits}"


def test_the_scan_finds_a_typed_figure_and_lets_computed_and_named_ones_pass():
    page = ("The test split holds 412 photos.\n"
            "Top type scores {glue:text}`top_acc` (chapter 5's table; chapters 3-4 train it).\n"
            "1. EfficientNet-Lite2 reads 3/4 sleeves as long; see `params/targets.yaml` and CCP 0001–1004.\n"
            "```{glue} table\n:doc: 05_tta_eval.ipynb\n```\n")
    assert typed_numbers(page) == [(1, "412")]
