"""Download the three public clothing datasets and convert them to the book's data layout.

``make data`` runs ``python -m fashionkit.data.fetch --data-dir DIR``.  It downloads the source
repositories as GitHub archive zips (pinned commits), extracts the parts that are needed into
a cache folder and converts them to plain files:

- ``DIR/ccp/``: Clothing Co-Parsing (CCP): ``images/NNNN.jpg``, ``masks/NNNN.png``,
  ``labels.csv``, ``annotations.csv``, ``LICENSE``, ``SOURCE_README.md``.
- ``DIR/cad/``: Clothing Attribute Dataset (CAD): ``images/NNNNNN.jpg``, ``attributes.csv``,
  ``SOURCE_README.txt``.
- ``DIR/clothing/``: clothing-dataset (garments photographed alone): ``images/<uuid>.jpg``,
  ``annotations.csv`` (category and contributor of each photo), ``LICENSE``.  Only the adult
  garments of :data:`CLOTHING_CATEGORIES` are kept, and never the photos of the contributors
  held back for an independent check (``fashionkit/data/clothing_held_back_senders.txt``).

Processing (identical to the prepared copy that the project ships in ``shared/data``):
photos are resized so that the longest side is 384 px (other side
``floor(side * 384 / longest + 0.5)``, Pillow ``LANCZOS``) and saved as JPEG (quality 90, 4:2:0
chroma subsampling, optimized Huffman tables, no EXIF; an embedded ICC profile is copied
unchanged, pixel values are not colour-converted; a garment photo's EXIF orientation is applied
first).  CCP masks are resized with ``NEAREST`` to
the resized photo's size and saved as mode ``L`` PNG.  Files are written in sorted order, so
the output is byte-identical on a rerun with the same library builds.

The converters (:func:`convert_ccp`, :func:`convert_cad`, :func:`convert_clothing`) read a local source folder and do
no network access; :func:`download` and :func:`prepare_data` add the download step.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Sequence

import numpy as np
import scipy.io
from PIL import Image, ImageOps
from tqdm import tqdm

#: Longest side of every converted photo, in pixels.
LONGEST_SIDE = 384
#: JPEG settings of the converted photos.
JPEG_OPTIONS = {"quality": 90, "subsampling": "4:2:0", "optimize": True}
#: The garment photos of the prepared copy were saved without optimized Huffman tables; so are these
#: (the same bytes as ``shared/data/clothing``, checked by the converter test).
CLOTHING_JPEG_OPTIONS = {"quality": 90, "subsampling": "4:2:0"}

CCP_REPO = "bearpaw/clothing-co-parsing"
CCP_COMMIT = "fe34fb77721a9973fbae92c05f7f12b664d10110"
CAD_REPO = "suki2691/ClothingClassifier"
CAD_COMMIT = "e20a181fd9b3e4ed67c3146ea1f5ed21da900e35"
#: Folder of the CAD repository that holds the dataset (README, images/, labels/).
CAD_SUBDIR = "ClothingAttributeDataset"
CLOTHING_REPO = "alexeygrigorev/clothing-dataset"
CLOTHING_COMMIT = "7ed86a9cc56763b6acb35e41cb35184e43a5d218"
#: The source categories kept: those that map onto the heads (the data card gives the rules).
CLOTHING_CATEGORIES = ("Blouse", "Longsleeve", "Pants", "Polo", "Shirt", "Shorts", "Skirt", "T-Shirt")
#: Contributors held back for an independent check: never converted.
CLOTHING_HELD_BACK = Path(__file__).with_name("clothing_held_back_senders.txt")

#: Environment variable that points the project at a prepared data folder.
DATA_ENV = "FASHIONKIT_DATA"
#: Seconds to wait for the server before giving up (per connect / read).
TIMEOUT_S = 30


def archive_url(repo: str, commit: str) -> str:
    """URL of the GitHub archive zip of ``repo`` ("owner/name") at ``commit``."""
    return f"https://github.com/{repo}/archive/{commit}.zip"


CCP_URL = archive_url(CCP_REPO, CCP_COMMIT)
CAD_URL = archive_url(CAD_REPO, CAD_COMMIT)
CLOTHING_URL = archive_url(CLOTHING_REPO, CLOTHING_COMMIT)


class FetchError(RuntimeError):
    """Downloading or unpacking a source dataset failed; the message says what to do."""


# --------------------------------------------------------------------------- image helpers


def resized_size(width: int, height: int, longest: int = LONGEST_SIDE) -> tuple[int, int]:
    """Size after scaling the longest side to ``longest``: other side ``floor(s*L/max+0.5)``."""
    big = max(width, height)

    def scale(side: int) -> int:
        return longest if side == big else int(math.floor(side * longest / big + 0.5))

    return scale(width), scale(height)


def convert_photo(src: Path, dst: Path) -> tuple[int, int]:
    """Resize the photo ``src`` and write it as JPEG to ``dst``; returns the new (w, h).

    The ICC profile of the source (if any) is copied unchanged; EXIF and other metadata are
    dropped.  Non-RGB photos are converted to RGB first.
    """
    with Image.open(src) as im:
        return _save_resized(im, dst)


def _save_resized(im: Image.Image, dst: Path, jpeg_options=JPEG_OPTIONS) -> tuple[int, int]:
    icc = im.info.get("icc_profile")
    rgb = im.convert("RGB") if im.mode != "RGB" else im
    size = resized_size(*rgb.size)
    out = rgb.resize(size, Image.Resampling.LANCZOS)
    out.info = {}  # no comment / exif / dpi carried over from the source
    options = dict(jpeg_options)
    if icc:
        options["icc_profile"] = icc
    dst.parent.mkdir(parents=True, exist_ok=True)
    out.save(dst, "JPEG", **options)
    return size


def _write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Write a CSV with ``\\n`` line ends (minimal quoting), creating parent folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def _mat_array(path: Path, key: str | None = None) -> np.ndarray:
    """The one data array of a MATLAB ``.mat`` file (or the named ``key``)."""
    data = scipy.io.loadmat(str(path))
    if key is not None:
        if key not in data:
            raise ValueError(f"{path}: no variable {key!r} (has {sorted(data)})")
        return data[key]
    keys = [k for k in data if not k.startswith("__")]
    if len(keys) != 1:
        raise ValueError(f"{path}: expected one variable, found {keys}")
    return data[keys[0]]


def _progress(items, desc: str):
    return tqdm(items, desc=desc, unit="photo", disable=None)


# --------------------------------------------------------------------------- CCP


def read_ccp_labels(label_list: Path) -> list[str]:
    """The 59 CCP label names from ``label_list.mat``; the index is the label id (0 = null)."""
    cells = _mat_array(label_list, "label_list").ravel()
    return [str(np.asarray(c).ravel()[0]) for c in cells]


def _tag_names(ids, labels: Sequence[str]) -> str:
    """Space-separated label names of ``ids`` in label-id order, unique, ``null`` (0) excluded."""
    return " ".join(labels[i] for i in sorted({int(i) for i in ids}) if i != 0)


def convert_ccp(src: Path, out: Path) -> dict:
    """Convert a Clothing Co-Parsing repository checkout into ``out/ccp/``.

    ``src`` is the repository root (``photos/*.jpg``, ``annotations/pixel-level/*.mat``,
    ``annotations/image-level/*.mat``, ``label_list.mat``; ``LICENSE`` and ``README.md`` are
    copied when present).  Every photo in ``photos/`` is converted, so a partial checkout
    gives a partial (but consistent) output.  Writes ``images/``, ``masks/``, ``labels.csv``
    and, last, ``annotations.csv``.  Returns counts: ``images``, ``masks``, ``pixel``,
    ``image``, ``none``.
    """
    src, dst = Path(src), Path(out) / "ccp"
    labels = read_ccp_labels(src / "label_list.mat")
    pixel_dir = src / "annotations" / "pixel-level"
    image_dir = src / "annotations" / "image-level"
    photos = sorted((src / "photos").glob("*.jpg"))
    if not photos:
        raise FileNotFoundError(f"no photos/*.jpg in {src}")

    (dst / "images").mkdir(parents=True, exist_ok=True)
    (dst / "masks").mkdir(parents=True, exist_ok=True)
    counts = {"images": 0, "masks": 0, "pixel": 0, "image": 0, "none": 0}
    rows = []
    for photo in _progress(photos, "CCP photos"):
        stem = photo.stem
        width, height = convert_photo(photo, dst / "images" / f"{stem}.jpg")
        counts["images"] += 1
        pixel_mat, image_mat = pixel_dir / f"{stem}.mat", image_dir / f"{stem}.mat"
        if pixel_mat.is_file():
            mask = np.asarray(_mat_array(pixel_mat, "groundtruth"), dtype=np.uint8)
            Image.fromarray(mask).resize(
                (width, height), Image.Resampling.NEAREST
            ).save(dst / "masks" / f"{stem}.png")
            counts["masks"] += 1
            source, tags = "pixel", _tag_names(np.unique(mask), labels)
        elif image_mat.is_file():
            source, tags = "image", _tag_names(_mat_array(image_mat, "tags").ravel(), labels)
        else:
            source, tags = "none", ""
        counts[source] += 1
        rows.append((photo.name, source, tags, width, height))

    _write_csv(dst / "labels.csv", ("id", "name"), list(enumerate(labels)))
    for name, target in (("LICENSE", "LICENSE"), ("README.md", "SOURCE_README.md")):
        if (src / name).is_file():
            shutil.copyfile(src / name, dst / target)
    _write_csv(
        dst / "annotations.csv", ("image", "split_source", "tags", "width", "height"), rows
    )
    return counts


# --------------------------------------------------------------------------- CAD


def read_cad_attributes(labels_dir: Path) -> dict[str, np.ndarray]:
    """``{column: vector}`` from ``labels/*.mat`` (column = file stem, sorted); NaN = no label."""
    mats = sorted(Path(labels_dir).glob("*.mat"))
    if not mats:
        raise FileNotFoundError(f"no *.mat label files in {labels_dir}")
    columns = {m.stem: np.asarray(_mat_array(m), dtype=float).ravel() for m in mats}
    lengths = {len(v) for v in columns.values()}
    if len(lengths) != 1:
        raise ValueError(f"label vectors in {labels_dir} differ in length: {sorted(lengths)}")
    return columns


def _cell(value: float) -> str:
    """A CAD label as CSV text: the integer code, or empty for NaN."""
    if math.isnan(value):
        return ""
    if value != int(value):
        raise ValueError(f"non-integer CAD label {value!r}")
    return str(int(value))


def convert_cad(src: Path, out: Path) -> dict:
    """Convert the ``ClothingAttributeDataset`` folder into ``out/cad/``.

    ``src`` holds ``README``, ``images/NNNNNN.jpg`` and ``labels/*.mat`` (one vector over all
    1856 photos per attribute; row ``i`` is photo ``i+1``).  Converts every photo present and
    writes ``attributes.csv`` (``image`` + one column per label file, alphabetical; integer
    codes, empty cell for NaN) with rows only for the photos present.  ``README`` is copied to
    ``SOURCE_README.txt``.  Returns counts: ``images``, ``rows``, ``attributes``, ``icc``,
    ``upscaled``.
    """
    src, dst = Path(src), Path(out) / "cad"
    columns = read_cad_attributes(src / "labels")
    n_labels = len(next(iter(columns.values())))
    photos = sorted((src / "images").glob("*.jpg"))
    if not photos:
        raise FileNotFoundError(f"no images/*.jpg in {src}")

    (dst / "images").mkdir(parents=True, exist_ok=True)
    counts = {"images": 0, "rows": 0, "attributes": len(columns), "icc": 0, "upscaled": 0}
    rows = []
    for photo in _progress(photos, "CAD photos"):
        with Image.open(photo) as im:
            counts["icc"] += bool(im.info.get("icc_profile"))
            counts["upscaled"] += max(im.size) < LONGEST_SIDE
        convert_photo(photo, dst / "images" / photo.name)
        counts["images"] += 1
        index = int(photo.stem) - 1 if photo.stem.isdigit() else -1
        if 0 <= index < n_labels:
            rows.append([photo.name] + [_cell(v[index]) for v in columns.values()])
            counts["rows"] += 1

    if (src / "README").is_file():
        shutil.copyfile(src / "README", dst / "SOURCE_README.txt")
    _write_csv(dst / "attributes.csv", ["image", *columns], rows)
    return counts


def held_back_senders(path: Path = CLOTHING_HELD_BACK) -> set[int]:
    """The contributor ids whose photos no converter writes (one id a line)."""
    return {int(line) for line in Path(path).read_text(encoding="utf-8").split() if line.strip()}


def convert_clothing(src: Path, out: Path, held_back: set[int] | None = None) -> dict:
    """Convert the clothing-dataset repository root ``src`` into ``out/clothing/``.

    ``src`` holds ``images.csv`` (``image, sender_id, label, kids``) and ``images/<image>.jpg``.
    Keeps the rows of :data:`CLOTHING_CATEGORIES`, not kids' garments, not of a held-back
    contributor; each kept photo is turned upright by its EXIF orientation, then resized as the
    others.  A kept row whose photo is missing or unreadable is reported (``missing``,
    ``unreadable``) and left out.  Writes ``annotations.csv`` (``image, label, sender_id, width,
    height, source_width, source_height``, sorted by image) and copies ``LICENSE``.  Returns counts.
    """
    src, dst = Path(src), Path(out) / "clothing"
    held_back = held_back_senders() if held_back is None else held_back
    table = list(csv.DictReader(open(src / "images.csv", encoding="utf-8")))
    counts = {"rows": len(table), "kept": 0, "other category": 0, "kids": 0, "held back": 0,
              "missing": 0, "unreadable": 0}
    keep = []
    for rec in sorted(table, key=lambda r: r["image"]):
        if rec["label"] not in CLOTHING_CATEGORIES:
            counts["other category"] += 1
        elif rec["kids"].strip().lower() == "true":
            counts["kids"] += 1
        elif int(rec["sender_id"]) in held_back:
            counts["held back"] += 1
        else:
            keep.append(rec)
    (dst / "images").mkdir(parents=True, exist_ok=True)
    rows = []
    for rec in _progress(keep, "garment photos"):
        photo = src / "images" / f"{rec['image']}.jpg"
        if not photo.is_file():
            counts["missing"] += 1
            print(f"clothing: {photo.name} is listed in images.csv but missing; left out", file=sys.stderr)
            continue
        try:
            with Image.open(photo) as im:
                upright = ImageOps.exif_transpose(im)
                source_size = upright.size
                size = _save_resized(upright, dst / "images" / photo.name, CLOTHING_JPEG_OPTIONS)
        except (OSError, SyntaxError) as exc:
            counts["unreadable"] += 1
            print(f"clothing: {photo.name} cannot be read ({exc}); left out", file=sys.stderr)
            continue
        rows.append([photo.name, rec["label"], int(rec["sender_id"]), *size, *source_size])
        counts["kept"] += 1
    _write_csv(dst / "annotations.csv", ["image", "label", "sender_id", "width", "height", "source_width",
                                         "source_height"], rows)
    if (src / "LICENSE").is_file():
        shutil.copyfile(src / "LICENSE", dst / "LICENSE")
    return counts


# --------------------------------------------------------------------------- download


def _offline_help(url: str) -> str:
    return (
        "If this machine cannot reach the internet, put the prepared data folder "
        "(ccp/annotations.csv, cad/attributes.csv, images ...) at the data directory, or set "
        f"the environment variable {DATA_ENV} to such a folder. Source: {url}"
    )


def download(url: str, dest: Path, timeout: float = TIMEOUT_S) -> Path:
    """Download ``url`` to the file ``dest`` (via ``dest.part``, renamed when complete).

    Raises :class:`FetchError` with a message that names the URL, the reason and the
    offline alternative when the server cannot be reached or the transfer breaks off.
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as f:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc=dest.name, disable=None
            ) as bar:
                while chunk := response.read(1 << 20):
                    f.write(chunk)
                    bar.update(len(chunk))
    except (urllib.error.URLError, OSError, ValueError) as exc:
        part.unlink(missing_ok=True)
        reason = exc
        if isinstance(exc, urllib.error.URLError) and not isinstance(exc, urllib.error.HTTPError):
            reason = exc.reason
        raise FetchError(f"Download of {url} failed: {reason}. {_offline_help(url)}") from exc
    part.replace(dest)
    return dest


def _extract(archive: Path, prefix: str, dest: Path) -> Path:
    """Extract the members of ``archive`` under ``<top>/<prefix>`` into ``dest``.

    GitHub archives hold one top folder ``<repo>-<commit>/``; returns ``dest/<top>/<prefix>``.
    """
    try:
        with zipfile.ZipFile(archive) as zf:
            names = zf.namelist()
            top = names[0].split("/", 1)[0]
            wanted = f"{top}/{prefix}".rstrip("/") + "/" if prefix else f"{top}/"
            members = [n for n in names if n.startswith(wanted) or n == wanted.rstrip("/")]
            for name in members:
                if name.startswith("/") or ".." in Path(name).parts:
                    raise FetchError(f"{archive}: unsafe path {name!r} in archive")
            for name in tqdm(members, desc=f"unzip {archive.name}", unit="file", disable=None):
                zf.extract(name, dest)
    except zipfile.BadZipFile as exc:
        archive.unlink(missing_ok=True)
        raise FetchError(
            f"{archive} is not a valid zip archive (deleted; rerun to download it again)"
        ) from exc
    return dest / top / prefix if prefix else dest / top


def _fetch_source(url: str, name: str, prefix: str, cache_dir: Path) -> Path:
    """Downloaded (cached) and extracted source folder for archive ``url``."""
    archive = cache_dir / f"{name}.zip"
    root = cache_dir / name
    done = root / ".extracted"
    if done.is_file():
        return Path(done.read_text(encoding="utf-8").strip())
    if not archive.is_file():
        download(url, archive)
    if root.exists():
        shutil.rmtree(root)
    folder = _extract(archive, prefix, root)
    done.write_text(str(folder), encoding="utf-8")
    return folder


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/fashionkit`` (default ``~/.cache/fashionkit``)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "fashionkit"


def _provenance_readme() -> str:
    return (
        "# Clothing photo datasets (resized copy)\n\n"
        "Written by `python -m fashionkit.data.fetch` from the public originals:\n\n"
        f"- `ccp/`: Clothing Co-Parsing, https://github.com/{CCP_REPO}, commit `{CCP_COMMIT}`"
        " (photos/, annotations/, label_list.mat; Apache License 2.0, see `ccp/LICENSE`).\n"
        f"- `cad/`: Clothing Attribute Dataset, https://github.com/{CAD_REPO}, commit "
        f"`{CAD_COMMIT}`, folder `{CAD_SUBDIR}/` (no licence stated; research use, cite "
        "Chen, Gallagher, Girod, ECCV 2012).\n"
        f"- `clothing/`: clothing-dataset, https://github.com/{CLOTHING_REPO}, commit `{CLOTHING_COMMIT}`"
        " (images.csv, images/, LICENSE; CC0 1.0): adult garments of the kept categories, without the"
        " held-back contributors.\n\n"
        "Processing: longest side -> 384 px (Pillow LANCZOS, other side "
        "`floor(side * 384 / longest + 0.5)`), JPEG quality 90, 4:2:0, optimized, no EXIF, "
        "ICC profile kept; CCP masks resized NEAREST to the photo size, PNG mode L. "
        "See `fashionkit/data/fetch.py` for the exact rules.\n"
    )


#: The file that marks each source as converted.
PREPARED_FILES = {"ccp": "ccp/annotations.csv", "cad": "cad/attributes.csv", "clothing": "clothing/annotations.csv"}


def is_prepared(data_dir: Path) -> bool:
    """True when ``data_dir`` has every source's annotation file (:data:`PREPARED_FILES`)."""
    return all((Path(data_dir) / f).is_file() for f in PREPARED_FILES.values())


def prepare_data(
    data_dir: Path,
    cache_dir: Path | None = None,
    *,
    ccp_src: Path | None = None,
    cad_src: Path | None = None,
    clothing_src: Path | None = None,
) -> Path:
    """Make sure ``data_dir`` holds the converted datasets; returns ``data_dir``.

    Does nothing when ``data_dir`` already has every source (:func:`is_prepared`).  Otherwise
    converts each missing dataset, downloading its repository archive into ``cache_dir``
    (default :func:`default_cache_dir`) unless a local source folder is given (``ccp_src``: CCP
    repository root; ``cad_src``: the ``ClothingAttributeDataset`` folder; ``clothing_src``: the
    clothing-dataset repository root).  Raises :class:`FetchError` when a download fails.
    """
    data_dir = Path(data_dir)
    if is_prepared(data_dir):
        return data_dir
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    try:
        if not (data_dir / "ccp" / "annotations.csv").is_file():
            src = ccp_src or _fetch_source(CCP_URL, f"ccp-{CCP_COMMIT[:7]}", "", cache_dir)
            print(f"CCP: {convert_ccp(Path(src), data_dir)}", file=sys.stderr)
        if not (data_dir / "cad" / "attributes.csv").is_file():
            src = cad_src or _fetch_source(
                CAD_URL, f"cad-{CAD_COMMIT[:7]}", CAD_SUBDIR, cache_dir
            )
            print(f"CAD: {convert_cad(Path(src), data_dir)}", file=sys.stderr)
        if not (data_dir / PREPARED_FILES["clothing"]).is_file():
            src = clothing_src or _fetch_source(CLOTHING_URL, f"clothing-{CLOTHING_COMMIT[:7]}", "", cache_dir)
            print(f"garments: {convert_clothing(Path(src), data_dir)}", file=sys.stderr)
    except FetchError as exc:
        raise FetchError(
            f"{exc}\nData directory (place the prepared data here): {data_dir.resolve()}"
            "\nLocal copies of the source repositories can be converted with "
            "--ccp-src / --cad-src / --clothing-src."
        ) from exc
    readme = data_dir / "README.md"
    if not readme.exists():
        readme.write_text(_provenance_readme(), encoding="utf-8")
    return data_dir


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m fashionkit.data.fetch --data-dir DIR``; returns the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m fashionkit.data.fetch",
        description="Download the CCP, CAD and clothing-dataset photos and convert them to the data layout.",
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=Path(os.environ.get(DATA_ENV) or "data"),
        help=f"output folder (default: ${DATA_ENV} or ./data)",
    )
    parser.add_argument("--cache-dir", type=Path, default=None, help="download cache folder")
    parser.add_argument("--ccp-src", type=Path, default=None, help="local CCP repository root")
    parser.add_argument(
        "--cad-src", type=Path, default=None, help=f"local {CAD_SUBDIR} folder"
    )
    parser.add_argument("--clothing-src", type=Path, default=None, help="local clothing-dataset repository root")
    args = parser.parse_args(argv)
    try:
        path = prepare_data(
            args.data_dir, args.cache_dir, ccp_src=args.ccp_src, cad_src=args.cad_src,
            clothing_src=args.clothing_src,
        )
    except FetchError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"data ready: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
