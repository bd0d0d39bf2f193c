"""Command line: every head's probabilities for a photo, and the most similar outfits.

    python -m fashionkit predict PHOTO [PHOTO ...]
    python -m fashionkit recommend PHOTO -k 4 [--save neighbours.csv]

Both read what ``make all`` wrote to ``build/artifacts`` (``--artifacts`` to point
elsewhere): ``predict`` the two checkpoints of chapters 3 and 4, ``recommend`` the
recommender chapter 7 chose and saved with its collection.  A photo that is missing,
corrupt or not an image is an error with its reason and exit status 1; the command line
itself (argparse) exits with 2 on a usage error.  Nothing imports this module.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from .data import PROJECT_ROOT

DEFAULT_ARTIFACTS = PROJECT_ROOT / "build" / "artifacts"
CHECKPOINTS = {"top": Path("03_train_top") / "top_model.pt", "bottom": Path("04_train_bottom") / "bottom_model.pt"}
BUNDLE_DIR = Path("07_autoencoder_recommend")


class CliError(Exception):
    """A problem the user can fix (a bad photo, a missing artifact): printed, exit status 1."""


def _check_photos(paths) -> list[Path]:
    """Every photo decodes as an image, before any model is loaded (fail fast, say why)."""
    from .images import ImageProblem, load_image

    checked = []
    for path in map(Path, paths):
        if not path.exists():
            raise CliError(f"{path}: no such file")
        if path.is_dir():
            raise CliError(f"{path}: is a folder, not a photo")
        try:
            load_image(path)
        except ImageProblem as problem:
            raise CliError(str(problem)) from None
        checked.append(path)
    return checked


def _load_models(checkpoints: dict) -> tuple[dict, dict, dict]:
    """``(classifiers, views, image sizes)`` per model, from checkpoint files."""
    from .train import load_checkpoint

    clfs, views, sizes = {}, {}, {}
    for model, path in checkpoints.items():
        path = Path(path)
        if not path.is_file():
            raise CliError(f"no trained {model} model at {path}; run `make all` first (or pass --artifacts)")
        clfs[model] = load_checkpoint(path)
        views[model], sizes[model] = list(clfs[model].extra_["views"]), tuple(clfs[model].extra_["image_size"])
    return clfs, views, sizes


def predict(args) -> int:
    from .evaluate import proba_string
    from .pipeline import predict_photos
    from .schema import heads

    photos = _check_photos(args.photos)
    clfs, views, sizes = _load_models({m: Path(args.artifacts) / p for m, p in CHECKPOINTS.items()})
    answers = {m: predict_photos(clfs[m], photos, views[m], sizes[m], return_boxes=True) for m in clfs}
    probas = {m: a[0] for m, a in answers.items()}
    for i, photo in enumerate(photos):
        print(f"{photo}")
        notes = dict.fromkeys(n for _, boxes in answers.values() if "note" in boxes
                              for n in str(boxes["note"].iloc[i]).split("; ") if n)
        for note in notes:  # a garment not found: which fallback box was read
            print(f"  note: {note}")
        for model in clfs:
            for head in heads(model):
                row = probas[model][head.key][i]
                print(f"  {head.en:<17} {head.names[int(row.argmax())]:<10}  {proba_string(row, head.names)}")
    return 0


def recommend(args) -> int:
    from . import recommend as rec

    photos = _check_photos([args.photo])
    bundle_dir = Path(args.artifacts) / BUNDLE_DIR
    try:
        bundle = rec.load_bundle(bundle_dir)
    except FileNotFoundError as exc:
        raise CliError(f"no saved recommender in {bundle_dir} ({exc}); run `make all` first") from None
    meta = bundle.meta
    clfs, _, _ = _load_models({m: Path(args.artifacts) / p for m, p in CHECKPOINTS.items()})
    vector = rec.photo_vectors(photos, clfs, meta["views"], meta["image_sizes"])
    itself = rec.collection_match(bundle.collection, photos[0])
    k = args.k if args.k is not None else meta["k"]
    dist, pos = bundle.recommender.kneighbors(vector, k=k, exclude=None if itself is None else [itself])
    table = rec.neighbour_table(bundle.collection, pos[0], dist[0])
    note = f" (the photo is outfit {itself} of the collection, left out)" if itself is not None else ""
    print(f"{photos[0]}: the {k} most similar outfits in the {meta['space']} space{note}")
    print(table.to_string(index=False))
    if args.save:
        table.to_csv(args.save, index=False)
        print(f"saved {args.save}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fashionkit", description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", default=os.environ.get("FASHIONKIT_ARTIFACTS", str(DEFAULT_ARTIFACTS)),
                        help="build/artifacts folder of a `make all` run (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="print every head's class probabilities for photos")
    p.add_argument("photos", nargs="+", metavar="PHOTO")
    p.set_defaults(run=predict)
    r = sub.add_parser("recommend", help="print the k most similar outfits of the collection")
    r.add_argument("photo", metavar="PHOTO")
    r.add_argument("-k", type=int, default=None, help="how many outfits (default: the k chapter 7 used)")
    r.add_argument("--save", metavar="CSV", help="also write the neighbours to this CSV file")
    r.set_defaults(run=recommend)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "k", None) is not None and args.k < 1:
        print("error: -k must be at least 1", file=sys.stderr)
        return 2
    try:
        return args.run(args)
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
