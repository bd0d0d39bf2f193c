"""Command line: every head's probabilities for a photo, and the most similar outfits.

    python -m fashionkit predict PHOTO|FOLDER [...] [--format table|csv|json] [--output FILE] [--sheet PNG]
    python -m fashionkit recommend PHOTO -k 4 [--format table|csv|json] [--output FILE] [--sheet PNG]

Both read what ``make all`` wrote to ``build/artifacts`` (``--artifacts`` to point
elsewhere): ``predict`` the two checkpoints of chapters 3 and 4, ``recommend`` the
recommender chapter 7 chose and saved with its collection.  A photo that is missing,
corrupt or not an image is reported on stderr with its reason and skipped; the good photos
of a batch are still answered, and the exit status is 1 when any photo failed (0 when all
were answered); the command line itself (argparse) exits with 2 on a usage error.  Nothing imports this module.

Photos are read through the models' deployed ONNX graphs (:mod:`fashionkit.serve.deploy`; exported
again, with a line on stderr, when missing or older than the checkpoints), so neither
command imports torch or (``predict``) scikit-learn: ``predict`` answers a photo about 2 s
after it is started, where importing the training code alone took 6.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

from fashionkit.book.tables import proba_string
from fashionkit.data.images import ImageProblem, load_image
from fashionkit.data.schema import garment_in_photo, get_head, heads, presence_head
from fashionkit.serve.deploy import deployment_for
from fashionkit.serve.graphs import CHECKPOINTS, DEFAULT_ARTIFACTS

BUNDLE_DIR = Path("07_autoencoder_recommend")


class CliError(Exception):
    """A problem the user can fix (a bad photo, a missing artifact): printed, exit status 1."""


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff"}


def _expand(paths, folders: bool) -> list[Path]:
    """Files as given; with ``folders`` a folder becomes every image file below it (by suffix, sorted)."""
    out = []
    for path in map(Path, paths):
        found = sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES) \
            if folders and path.is_dir() else []
        out.extend(found or [path])  # a folder without photos is reported, not skipped silently
    return out


def _existing(paths, folders: bool = True) -> tuple[list[Path], list[str]]:
    """``(files to read, problems)``: every path that names no file (missing, or a folder
    without photos) becomes a problem with its reason; nothing is decoded here."""
    good, problems = [], []
    for path in _expand(paths, folders):
        if not path.exists():
            problems.append(f"{path}: no such file")
        elif path.is_dir():
            problems.append(f"{path}: is a folder with no photos in it" if folders
                            else f"{path}: is a folder, not a photo")
        else:
            good.append(path)
    return good, problems


def _check_photos(paths, folders: bool = True) -> tuple[list[Path], int]:
    """``(readable photos, number of problems)``; each unreadable path is reported on stderr
    with its reason (checked before any model is loaded; a bad file never stops the others).

    Raises :class:`CliError` when no photo is readable.
    """

    good = []
    files, problems = _existing(paths, folders)
    for path in files:
        try:
            load_image(path)
            good.append(path)
        except ImageProblem as problem:
            problems.append(str(problem))
    if not good:
        for problem in problems[:-1]:
            print(f"error: {problem}", file=sys.stderr)
        raise CliError(problems[-1] if problems else "no photo given")
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    return good, len(problems)


def _checkpoints(artifacts) -> dict:
    """``{model: checkpoint path}`` under ``artifacts``; :class:`CliError` when one is missing."""
    checkpoints = {m: Path(artifacts) / p for m, p in CHECKPOINTS.items()}
    for model, path in checkpoints.items():
        if not path.is_file():
            raise CliError(f"no trained {model} model at {path}; run `make all` first (or pass --artifacts)")
    return checkpoints


def _load_models(checkpoints: dict) -> dict:
    """The classifier of each model, from checkpoint files (each holds the views and size it reads)."""
    for model, path in checkpoints.items():  # before the (slow) model code is imported
        if not Path(path).is_file():
            raise CliError(f"no trained {model} model at {path}; run `make all` first (or pass --artifacts)")
    from fashionkit.training.classifier import load_checkpoint  # torch: only when the bundle needs other views

    return {model: load_checkpoint(Path(path)) for model, path in checkpoints.items()}


def _deployed(artifacts, checkpoints: dict):
    """The models as deployed ONNX graphs (:mod:`fashionkit.serve.deploy`: no torch), exported first when
    missing or older than the checkpoints (said on stderr)."""

    return deployment_for(artifacts, checkpoints)


def predict(args) -> int:
    files, problems = _existing(args.photos)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if not files:
        raise CliError("no photo to read" if problems else "no photo given")
    try:
        checkpoints = _checkpoints(args.artifacts)
    except CliError:
        _check_photos(files)  # no models: still say which photos could not be read (none readable: that error)
        raise
    deployed = _deployed(args.artifacts, checkpoints)  # after the checks: a usage problem never waits for a model
    failed = len(problems)

    def report(problem: str) -> None:  # each photo is decoded once, by the models' reader
        nonlocal failed
        failed += 1
        print(f"error: {problem}", file=sys.stderr)

    photos, answers = deployed.read(files, progress=len(files) > 48 and sys.stderr.isatty(), on_problem=report)
    if not photos:
        raise CliError("none of the photos could be read (see above)")
    table = answer_table(photos, answers, deployed.models)
    _write(table, args.format, args.output, lambda: _as_text(table, deployed.models))
    if args.sheet:
        predict_sheet(table, args.sheet)
    if failed:
        print(f"{len(photos)} photo(s) answered, {failed} could not be read (see above)", file=sys.stderr)
    return 1 if failed else 0


def answer_table(photos, answers: dict, clfs: dict):
    """One row per photo: path, each head's answer and every class probability
    (``<head>.<class>``), where each garment box came from, any note, and the models'
    split hashes (which training data they come from).  ``clfs``: ``{model: m}``, any ``m``
    with a ``split_hash_`` (a loaded classifier or a :class:`fashionkit.serve.deploy.DeployedModel`).

    A garment the model's presence head says is not in the photo (``<model>_present``: no) gets
    empty answers and probabilities for its other heads and a note, instead of an answer read
    off another garment; a photo with neither gets "no garment found"."""
    import pandas as pd

    out = pd.DataFrame({"path": [str(p) for p in photos]})
    notes = [[] for _ in photos]
    missing = {}
    for model, (probas, boxes) in answers.items():
        source = f"{model}_source"
        shown = garment_in_photo(model, probas)
        missing[model] = ~shown
        for head in heads(model):
            kept = shown | head.presence  # the presence head itself is always answered
            out[head.key] = [head.names[int(i)] if k else "" for i, k in zip(probas[head.key].argmax(axis=1), kept)]
        for head in heads(model):
            kept = shown | head.presence
            for j, name in enumerate(head.names):
                out[f"{head.key}.{name}"] = np.where(kept, probas[head.key][:, j].round(4), np.nan)
        if source in boxes:
            out[f"{model}_box"] = boxes[source].to_numpy()
        for i, note in enumerate(boxes["note"] if "note" in boxes else []):
            notes[i].extend(n for n in str(note).split("; ") if n and n not in notes[i])
    for i in range(len(photos)):
        absent = [m for m in answers if missing[m][i]]
        if absent and len(absent) == len(answers):
            notes[i] = ["no garment found: every head is left empty"]
        elif absent:  # the box's own fallback note ("... fixed box of the frame") said less
            notes[i] = [n for n in notes[i] if not any(n.startswith(f"no {m} garment found") for m in absent)]
            notes[i].extend(f"no {m} garment found: its heads are left empty" for m in absent)
    out["note"] = ["; ".join(n) for n in notes]
    for model, clf in clfs.items():
        out[f"{model}_model_split"] = getattr(clf, "split_hash_", "")
    return out


def _as_text(table, clfs: dict) -> str:

    lines = []
    for _, row in table.iterrows():
        lines.append(row["path"])
        lines.extend(f"  note: {n}" for n in str(row["note"]).split("; ") if n)
        for model in clfs:
            for head in heads(model):
                if not row[head.key]:  # a garment not found in the photo (see the note)
                    lines.append(f"  {head.en:<17} -")
                    continue
                probs = [row[f"{head.key}.{c}"] for c in head.names]
                lines.append(f"  {head.en:<17} {row[head.key]:<10}  {proba_string(probs, head.names)}")
    return "\n".join(lines) + "\n"


SHEET_HEADS = ("top_type", "top_sleeve", "bottom_sub", "bottom_length")  # the answers a sheet prints
SHEET_MAX = 60  # photos on one predict sheet (a contact sheet of thousands helps nobody)
# recommend: a presence head's "yes" probability inside this band is reported as one the reader cannot be sure of
UNSURE_PRESENCE = (0.3, 0.7)


def _write(table, fmt: str, output: str | None, text_table) -> None:
    """``table`` as ``fmt`` (table / csv / json) on stdout or into ``output``."""
    text = (text_table() if fmt == "table" else table.to_csv(index=False) if fmt == "csv"
            else table.to_json(orient="records", indent=1) + "\n")
    if output:
        Path(output).write_text(text)
        print(f"saved {output} ({len(table)} rows)", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _save_sheet(fig, path) -> None:
    import matplotlib.pyplot as plt

    fig.savefig(path, dpi=100)
    plt.close(fig)
    print(f"saved {path}", file=sys.stderr)


def predict_sheet(table, path) -> None:
    """A contact sheet: each photo titled with its main answers (at most :data:`SHEET_MAX` photos)."""
    from fashionkit.book import style  # matplotlib: only for --sheet, predict starts without it

    rows = table.head(SHEET_MAX)
    if len(table) > SHEET_MAX:
        print(f"the sheet shows the first {SHEET_MAX} of {len(table)} photos", file=sys.stderr)
    titles = [f"{Path(r['path']).name}\n" + " · ".join(str(r[k]) for k in SHEET_HEADS[:2] if k in r) + "\n"
              + " · ".join(str(r[k]) for k in SHEET_HEADS[2:] if k in r) for _, r in rows.iterrows()]
    _save_sheet(style.image_grid(rows["path"].tolist(), titles, ncols=6, title="python -m fashionkit predict"), path)


def _photo_probas(artifacts, photos, meta: dict) -> tuple[dict, dict]:
    """``(probabilities, shown)``: every head's probabilities for ``photos`` read in the views and sizes
    the recommender's collection was read in (``meta``), and per model whether its garment was found
    in each photo (its presence head, :func:`garment_in_photo`): through the deployed graphs (each photo
    decoded once for both models), or, when the bundle asks for other views than the models were
    deployed with, through the PyTorch models (:func:`fashionkit.outfits.reading.photo_probas`)."""
    checkpoints = _checkpoints(artifacts)
    deployed = _deployed(artifacts, checkpoints)
    same = all([v.name for v in deployed.models[m].views] == list(meta["views"][m])
               and list(deployed.models[m].image_size) == list(meta["image_sizes"][m]) for m in deployed.models)
    if same:
        _, answers = deployed.read(photos)
        probas = {k: v for p, _ in answers.values() for k, v in p.items()}
    else:
        from fashionkit.outfits import reading  # torch: only when the bundle needs other views

        probas = reading.photo_probas(photos, _load_models(checkpoints), meta["views"], meta["image_sizes"])
    return probas, {m: garment_in_photo(m, probas) for m in CHECKPOINTS}


def recommend(args) -> int:
    from fashionkit.book import outfit_figures  # matplotlib: recommend only, predict starts without it
    from fashionkit.outfits import recommender  # scikit-learn: recommend only, predict starts without it

    photos, _ = _check_photos([args.photo], folders=False)
    bundle_dir = Path(args.artifacts) / BUNDLE_DIR
    try:
        bundle = recommender.load_bundle(bundle_dir)
    except FileNotFoundError as exc:
        raise CliError(f"no saved recommender in {bundle_dir} ({exc}); run `make all` first") from None
    meta = bundle.meta
    probas, shown = _photo_probas(args.artifacts, photos, meta)
    garments = recommender.query_garments({m: found[0] for m, found in shown.items()})
    if not garments:
        print(f"{photos[0]}: no garment found (neither a top nor a bottom): nothing to recommend")
        return 0
    for model in shown:  # what the reader decided, with its own confidence
        head = presence_head(model)
        yes = float(probas[head.key][0, head.index("yes")])
        if model not in garments or yes < UNSURE_PRESENCE[1]:
            sure = "" if not UNSURE_PRESENCE[0] <= yes <= UNSURE_PRESENCE[1] else " (the reader cannot tell for sure)"
            print(f"note: the {model} model gives a {model} garment in the photo a probability of {yes:.2f}"
                  + sure, file=sys.stderr)
    itself = recommender.collection_match(bundle.collection, photos[0])
    k = args.k if args.k is not None else meta["k"]
    exclude = None if itself is None else [itself]
    if len(garments) == 1:  # a garment alone: whole outfits whose same garment resembles it
        garment = garments[0]
        found_by = f"{garment} only"
        dist, pos = recommender.garment_recommender(bundle.collection, garment, k).kneighbors(
            recommender.garment_vector_of(probas, garment), exclude=exclude)
        what = f"the {k} outfits whose {garment} is most similar (only the {garment} heads count: no " \
               f"{'bottom' if garment == 'top' else 'top'} found)"
    else:
        found_by = "outfit"
        dist, pos = bundle.recommender.kneighbors(recommender.outfit_vector_of(probas), k=k, exclude=exclude)
        what = f"the {k} most similar outfits in the {meta['space']} space"
    table = recommender.neighbour_table(bundle.collection, pos[0], dist[0])
    table.insert(0, "query", str(photos[0]))
    table.insert(1, "matched_by", found_by)
    note = f" (the photo is outfit {itself} of the collection, left out)" if itself is not None else ""
    heading = f"{photos[0]}: {what}{note}"
    _write(table, args.format, args.output,
           lambda: heading + "\n" + table.drop(columns=["query", "matched_by"]).to_string(index=False) + "\n")
    if args.save:
        table.to_csv(args.save, index=False)
        print(f"saved {args.save}", file=sys.stderr)
    if args.sheet:
        shown_heads = [get_head(h) for h in SHEET_HEADS]
        query_text = recommender.answer_texts(recommender.answers_frame(probas), [0],
                                              [h for h in shown_heads if h.model in garments])[0]
        title = (f"{Path(photos[0]).name} and its {k} most similar outfits" if len(garments) > 1 else
                 f"{Path(photos[0]).name}: a {garments[0]} alone, and the {k} outfits whose {garments[0]} is most similar")
        _save_sheet(outfit_figures.neighbour_sheet(bundle.collection, pos[0], dist[0], shown_heads, photos[0], query_text,
                                                   title), args.sheet)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m fashionkit", description=__doc__.split("\n")[0])
    parser.add_argument("--artifacts", default=os.environ.get("FASHIONKIT_ARTIFACTS", str(DEFAULT_ARTIFACTS)),
                        help="build/artifacts folder of a `make all` run (default: %(default)s)")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("predict", help="print every head's class probabilities for photos",
                       description="Every head's class probabilities for each photo. PHOTO may be a folder: "
                       "every image file below it is read. An unreadable file is reported on stderr and "
                       "skipped; exit status 0 when every photo was answered, 1 when any could not be read "
                       "(the others are still answered), 2 on a usage error.")
    p.add_argument("photos", nargs="+", metavar="PHOTO", help="photo files or folders of photos")
    p.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table (for reading), csv or json: one row per photo with every head's answer and "
                   "probabilities (default: %(default)s)")
    p.add_argument("--output", metavar="FILE", help="write the answers to FILE instead of the terminal")
    p.add_argument("--sheet", metavar="PNG", help=f"also draw the photos with their answers into PNG "
                   f"(the first {SHEET_MAX})")
    p.set_defaults(run=predict)
    r = sub.add_parser("recommend", help="print the k most similar outfits of the collection",
                       description="The k outfits of the collection most similar to PHOTO (chapter 7's "
                       "recommender). Exit status 0 when answered, 1 when the photo or the models cannot be "
                       "read, 2 on a usage error.")
    r.add_argument("photo", metavar="PHOTO")
    r.add_argument("-k", type=int, default=None, help="how many outfits (default: the k chapter 7 used)")
    r.add_argument("--format", choices=("table", "csv", "json"), default="table",
                   help="table, csv or json: one row per neighbour (query, rank, image, distance, its answers, "
                   "path) (default: %(default)s)")
    r.add_argument("--output", metavar="FILE", help="write the neighbours to FILE instead of the terminal")
    r.add_argument("--save", metavar="CSV", help="also write the neighbours to this CSV file")
    r.add_argument("--sheet", metavar="PNG", help="also draw the photo beside its k neighbours into PNG")
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
