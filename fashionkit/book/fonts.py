"""The Korean font the book uses everywhere: NanumGothic, shipped by the pinned
``koreanize-matplotlib`` package, so no machine needs a CJK font of its own.

:func:`bundled_korean_ttf` finds it (the figures register it with matplotlib,
:func:`fashionkit.book.style.cjk_font`); :func:`write_web_font` copies it for the book's pages,
where ``book/_static/korean.css`` serves it to the browser for Hangul only.  The copy drops
the font's VTT hinting-source tables (``TSI0``-``TSI5``): they are empty in this file, and
browsers' font sanitiser (OTS) refuses a font with an empty table, so the pages would fall
back to boxes.

Usage (the Makefile's book step): ``python -m fashionkit.book.fonts build/book/_static/NanumGothic.ttf``.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

__all__ = ["bundled_korean_ttf", "write_web_font"]

HINTING_SOURCES = ("TSI0", "TSI1", "TSI2", "TSI3", "TSI5")


def bundled_korean_ttf() -> Path | None:
    """NanumGothic.ttf inside the installed ``koreanize_matplotlib`` package (found without
    importing it: its import rewrites matplotlib's settings), or None."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        ttf = Path(folder) / "fonts" / "NanumGothic.ttf"
        if ttf.is_file():
            return ttf
    return None


def write_web_font(dest) -> Path:
    """Write the bundled font to ``dest``, without the tables browsers refuse; return ``dest``."""
    from fontTools.ttLib import TTFont  # matplotlib's own dependency

    source = bundled_korean_ttf()
    if source is None:
        raise FileNotFoundError("koreanize-matplotlib (which ships NanumGothic) is not installed")
    font = TTFont(str(source))
    for tag in HINTING_SOURCES:
        if tag in font:
            del font[tag]
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    font.save(str(dest))
    return dest


if __name__ == "__main__":
    print(f"fonts: wrote {write_web_font(sys.argv[1])}")
