"""Loading images safely: every image comes back as 8-bit RGB, or as a clear problem.

Rule: bad input gets a clear message and nothing is lost.  A corrupt or odd image is
either *handled* (converted to 8-bit RGB the same way every time) or *reported and
skipped* with a count, and the valid images around it still load.

Handled
    EXIF orientation (``ImageOps.exif_transpose``); modes CMYK, YCbCr, LAB, HSV, L, 1,
    P (palette, with or without transparency), LA / PA / RGBA / RGBa (alpha composited
    on white), 16-bit greyscale (``I;16``, ``I;16B``, ``I;16L``, ``I;16N``), 32-bit
    integer ``I`` and 32-bit float ``F``.  High-bit-depth images are *scaled* into
    0..255, never clipped: see :func:`_to_uint8`.

Reported (:class:`ImageProblem`, a ``ValueError``)
    missing file, a directory, an unreadable file, an empty (0-byte) file, a file that is
    not an image, truncated or corrupt pixel data (the image is fully decoded, so this is
    found here and not later inside a data loader), a zero-size image, an image smaller
    than ``min_side`` on either side, an image too large to decode safely, an image mode
    that cannot be converted.  No raw PIL or OS error escapes :func:`load_image` or
    :func:`image_size`.

:func:`scan_images` checks a list of paths once, up front, and returns the good ones in
input order plus a ``path, reason`` table of the bad ones, with one warning that counts
them.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError
from tqdm import tqdm

__all__ = ["DEFAULT_MIN_SIDE", "ImageProblem", "ImageSkipWarning", "load_image", "image_size", "scan_images"]

DEFAULT_MIN_SIDE = 32

# EXIF tag 0x0112; values 5..8 swap width and height.
_ORIENTATION_TAG = 0x0112
_SWAPPING_ORIENTATIONS = {5, 6, 7, 8}

_ALPHA_MODES = {"LA", "La", "PA", "RGBA", "RGBa"}
_SIXTEEN_BIT_MODES = {"I;16", "I;16L", "I;16B", "I;16N"}
_HIGH_DEPTH_MODES = _SIXTEEN_BIT_MODES | {"I", "F"}

_truncation_lock = threading.Lock()


class ImageProblem(ValueError):
    """An image that cannot be used, with the path and a human-readable reason.

    ``str(problem)`` is ``"<path>: <reason>"``.
    """

    def __init__(self, path: str | os.PathLike, reason: str):
        self.path = Path(path)
        self.reason = str(reason)
        super().__init__(f"{os.fspath(path)}: {self.reason}")

    def __reduce__(self):  # keep it picklable (DataLoader workers send errors back)
        return (type(self), (self.path, self.reason))


class ImageSkipWarning(UserWarning):
    """Emitted once by :func:`scan_images` when some images were skipped."""


# --------------------------------------------------------------------------- helpers


def _describe(exc: BaseException) -> str:
    msg = str(exc).strip()
    return f"{type(exc).__name__}: {msg}" if msg else type(exc).__name__


def _check_file(path: Path) -> None:
    """Raise ImageProblem for a path that is not a readable, non-empty file."""
    try:
        if not path.exists():
            raise ImageProblem(path, "file not found")
        if path.is_dir():
            raise ImageProblem(path, "is a directory, not an image file")
        if path.stat().st_size == 0:
            raise ImageProblem(path, "empty file (0 bytes)")
    except ImageProblem:
        raise
    except OSError as exc:  # e.g. permission denied on a parent directory
        raise ImageProblem(path, f"cannot read file ({_describe(exc)})") from exc


def _open(path: Path) -> Image.Image:
    """Image.open with every failure turned into an ImageProblem."""
    _check_file(path)
    try:
        return Image.open(path)
    except UnidentifiedImageError as exc:
        raise ImageProblem(path, "not an image (unidentified or unsupported format)") from exc
    except Image.DecompressionBombError as exc:
        raise ImageProblem(path, f"image too large to decode safely ({exc})") from exc
    except PermissionError as exc:
        raise ImageProblem(path, "cannot read file (permission denied)") from exc
    except FileNotFoundError as exc:  # vanished between the check and the open
        raise ImageProblem(path, "file not found") from exc
    except Exception as exc:  # OSError, SyntaxError, struct.error ... from a plugin
        raise ImageProblem(path, f"not an image or corrupt header ({_describe(exc)})") from exc


def _check_dimensions(path: Path, size: tuple[int, int], min_side: int) -> None:
    w, h = size
    if w <= 0 or h <= 0:
        raise ImageProblem(path, f"zero-size image ({w}x{h} px)")
    if min(w, h) < min_side:
        raise ImageProblem(
            path, f"image too small: {w}x{h} px (minimum side is {min_side} px)"
        )


def _full_decode(path: Path, img: Image.Image) -> None:
    """Decode every pixel now, so truncated or corrupt data fails here.

    ``ImageFile.LOAD_TRUNCATED_IMAGES`` is forced off for this call (and restored),
    because with it on PIL silently fills a truncated image with grey.
    """
    try:
        if ImageFile.LOAD_TRUNCATED_IMAGES:
            with _truncation_lock:
                saved = ImageFile.LOAD_TRUNCATED_IMAGES
                ImageFile.LOAD_TRUNCATED_IMAGES = False
                try:
                    img.load()
                finally:
                    ImageFile.LOAD_TRUNCATED_IMAGES = saved
        else:
            img.load()
    except Image.DecompressionBombError as exc:
        raise ImageProblem(path, f"image too large to decode safely ({exc})") from exc
    except MemoryError as exc:
        raise ImageProblem(path, "image too large to decode (out of memory)") from exc
    except Exception as exc:  # OSError, SyntaxError, EOFError, zlib.error, ...
        text = str(exc).lower()
        kind = "truncated image data" if "truncat" in text else "corrupt image data"
        raise ImageProblem(path, f"{kind}: could not decode pixels ({_describe(exc)})") from exc


def _scale_to_uint8(arr: np.ndarray, is_float: bool) -> np.ndarray:
    """Map a high-depth array into 0..255 by scaling, never by clipping.

    The smallest conventional range that holds every value is used, so the same data
    always maps the same way: [0, 1] (floats only) -> x255, [0, 255] -> as is,
    [0, 65535] -> /257 (65535 -> 255 exactly).  Anything else (negative values,
    more than 16 bits) is stretched min..max -> 0..255.  NaN/inf become 0 / the ends.
    """
    a = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        if finite.any():
            lo_f, hi_f = a[finite].min(), a[finite].max()
        else:
            lo_f = hi_f = 0.0
        a = np.nan_to_num(a, nan=lo_f, posinf=hi_f, neginf=lo_f)
    if a.size == 0:
        return np.zeros(a.shape, dtype=np.uint8)
    lo, hi = float(a.min()), float(a.max())
    if lo >= 0 and is_float and hi <= 1.0:
        out = a * 255.0
    elif lo >= 0 and hi <= 255:
        out = a
    elif lo >= 0 and hi <= 65535:
        out = a / 257.0
    else:
        span = hi - lo
        out = (a - lo) * (255.0 / span) if span > 0 else np.zeros_like(a)
    return np.clip(np.rint(out), 0, 255).astype(np.uint8)


def _to_uint8_grey(img: Image.Image) -> Image.Image:
    """I;16* / I / F single-channel image -> 8-bit 'L', scaled (see _scale_to_uint8)."""
    if img.mode in _SIXTEEN_BIT_MODES:
        try:
            arr = np.asarray(img)
        except Exception:
            arr = np.asarray(img.convert("I"))
        # unsigned 16-bit: the range is known, always /257 (0..65535 -> 0..255)
        if arr.dtype.kind == "u":
            out = np.rint(arr.astype(np.float64) / 257.0).astype(np.uint8)
            return Image.fromarray(out)
        return Image.fromarray(_scale_to_uint8(arr, is_float=False))
    arr = np.asarray(img)
    return Image.fromarray(_scale_to_uint8(arr, is_float=img.mode == "F"))


def _on_white(img: Image.Image) -> Image.Image:
    rgba = img.convert("RGBA")
    white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
    return Image.alpha_composite(white, rgba).convert("RGB")


def _to_rgb(path: Path, img: Image.Image) -> Image.Image:
    mode = img.mode
    try:
        if mode in _HIGH_DEPTH_MODES:
            return _to_uint8_grey(img).convert("RGB")
        if mode in _ALPHA_MODES or "transparency" in img.info:
            return _on_white(img)
        if mode == "RGB":
            return img
        return img.convert("RGB")  # CMYK, YCbCr, LAB, HSV, L, 1, P without alpha
    except Exception as exc:
        raise ImageProblem(
            path, f"unsupported image mode {mode!r} (cannot convert to RGB: {_describe(exc)})"
        ) from exc


def _exif_orientation(img: Image.Image) -> int | None:
    try:
        value = img.getexif().get(_ORIENTATION_TAG)
        return int(value) if value is not None else None
    except Exception:  # unreadable EXIF block: treat as "no orientation"
        return None


# --------------------------------------------------------------------------- public API


def load_image(path: str | os.PathLike, min_side: int = DEFAULT_MIN_SIDE) -> Image.Image:
    """Load ``path`` as an 8-bit RGB PIL image, upright (EXIF orientation applied).

    Raises :class:`ImageProblem` (with a specific reason) for a missing, empty,
    unreadable, non-image, truncated, corrupt, zero-size or too-small image
    (``min_side``: smallest allowed width or height in pixels).  Never raises a raw
    PIL or OS error.  See the module docstring for how each mode is converted.
    """
    path = Path(path)
    with _open(path) as img:
        _check_dimensions(path, img.size, min_side)  # cheap: header only
        _full_decode(path, img)
        try:
            upright = ImageOps.exif_transpose(img)
        except Exception as exc:  # corrupt EXIF: handled, keep the stored orientation
            warnings.warn(
                f"{path}: EXIF orientation ignored (unreadable EXIF: {_describe(exc)})",
                UserWarning,
                stacklevel=2,
            )
            upright = img
        out = _to_rgb(path, upright)
        if out is img:  # never hand back the object tied to the (now closing) file
            out = out.copy()
    if out.mode != "RGB":  # pragma: no cover - defensive
        raise ImageProblem(path, f"conversion produced mode {out.mode!r}, not RGB")
    return out


def image_size(path: str | os.PathLike) -> tuple[int, int]:
    """``(width, height)`` as :func:`load_image` would return it, from the header only.

    EXIF orientations 5-8 (90/270 degree rotations) swap width and height.  Pixels are
    not decoded, so a truncated file is not detected here.  Raises :class:`ImageProblem`
    for a missing, empty or non-image file.
    """
    path = Path(path)
    with _open(path) as img:
        w, h = img.size
        if _exif_orientation(img) in _SWAPPING_ORIENTATIONS:
            w, h = h, w
    return int(w), int(h)


def scan_images(
    paths: Iterable[str | os.PathLike],
    min_side: int = DEFAULT_MIN_SIDE,
    progress: bool = True,
) -> tuple[list[Path], pd.DataFrame]:
    """Check every image once; return ``(good_paths, problems)``.

    ``good_paths`` keeps the input order (and any repeats).  ``problems`` has columns
    ``path`` (str) and ``reason``, one row per bad input, in input order; it is empty
    (with those columns) when all images are fine.  Each image goes through exactly the
    checks and conversion of :func:`load_image`, so whatever passes here loads later.
    One :class:`ImageSkipWarning` "N of M images skipped: ..." is emitted when any were
    skipped.
    """
    paths = [Path(p) for p in paths]
    good: list[Path] = []
    rows: list[dict[str, str]] = []
    for p in tqdm(paths, desc="checking images", unit="img", disable=not progress):
        try:
            load_image(p, min_side=min_side)
        except ImageProblem as problem:
            rows.append({"path": os.fspath(p), "reason": problem.reason})
        else:
            good.append(p)
    problems = pd.DataFrame(rows, columns=["path", "reason"])
    if rows:
        n, m = len(rows), len(paths)
        shown = "; ".join(f"{r['path']} ({r['reason']})" for r in rows[:5])
        more = f"; and {n - 5} more" if n > 5 else ""
        warnings.warn(
            f"{n} of {m} images skipped: {shown}{more} (full list in the problems table)",
            ImageSkipWarning,
            stacklevel=2,
        )
    return good, problems
