"""From photo files to every head's probabilities: the path a photo that was never cached takes.

The book's chapters read cached maps (:mod:`fashionkit.vision.cached_views`); a user's photo (the
command line, chapter 7's query, chapter 5's framing test) is decoded, located, cropped
into the model's views and run through the whole network here: the frozen trunk on the
fastest engine available (:mod:`fashionkit.vision.runtime`), the upper blocks and heads in PyTorch.
:func:`read_outfits` reads a batch with both models at once, decoding each photo once and
finding its garment boxes once.  The command line reads photos the same way through ONNX
graphs of the whole models instead (:mod:`fashionkit.serve.deploy`, no torch); its answers are
compared with these in the tests and in ``make bench``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from fashionkit.data.images import ImageProblem, load_image
from fashionkit.data.schema import heads, read_alone_again
from fashionkit.metrics.comparison import average_views
from fashionkit.vision.crops import view_seed, view_spec
from fashionkit.vision.features import prepare_image
from fashionkit.vision.localise import same_segmenter
from fashionkit.vision.runtime import resolve_engine, runner

__all__ = ["predict_photos", "predict_images", "photo_throughput", "read_outfits", "end_to_end", "agreement"]


def _joined(parts: list, model: str) -> tuple[dict, pd.DataFrame]:
    """``(probabilities, boxes)`` of consecutive chunks of photos, each a ``(probas, boxes)`` pair;
    no chunk: empty arrays of the model's heads."""
    if not parts:
        return {h.key: np.zeros((0, h.n_classes), dtype=np.float32) for h in heads(model)}, pd.DataFrame()
    return ({k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]},
            pd.concat([p[1] for p in parts], ignore_index=True))


def predict_photos(clf, paths, view_names, image_size, view_size=None, batch_size: int = 32,
                   progress: bool = False, segmenter=None, return_boxes: bool = False):
    """Every head's class probabilities for photo files, averaged over ``view_names``.

    Each photo is decoded once (:func:`fashionkit.data.images.load_image`, which raises
    :class:`fashionkit.data.images.ImageProblem` for a file it cannot read) and read by
    :func:`predict_images`.  This is the path a photo that was never cached takes (the
    CLI, chapter 7's ``query_image``).
    """
    from tqdm.auto import tqdm

    paths = [str(p) for p in paths]
    parts = [predict_images(clf, [load_image(p) for p in paths[i:i + batch_size]], view_names, image_size,
                            paths[i:i + batch_size], view_size, batch_size, segmenter, return_boxes=True)
             for i in tqdm(range(0, len(paths), batch_size), desc="photos", unit="batch", disable=not progress)]
    probas, found = _joined(parts, clf.model)
    return (probas, found) if return_boxes else probas


def predict_images(clf, images, view_names, image_size, names=None, view_size=None, batch_size: int = 32,
                   segmenter=None, return_boxes: bool = False, engine: str = "auto", boxes: pd.DataFrame | None = None):
    """Every head's class probabilities for decoded RGB photos, averaged over ``view_names``.

    Every view is cropped / augmented / resized from the photo
    (:func:`fashionkit.vision.features.prepare_image`, seeded by ``names``, the photos' file names,
    as in the cache) and run through the whole net (frozen trunk, upper blocks, heads); the
    softmax outputs are averaged as in :func:`fashionkit.metrics.comparison.average_views`.  The frozen
    trunk runs on ``engine`` (:func:`fashionkit.vision.runtime.runner`), the rest in PyTorch.

    Garment views (:attr:`ViewSpec.garment`) crop the boxes that ``segmenter`` (default:
    the one stored with the model, ``clf.segmenter_``) finds in each photo.  With
    ``return_boxes`` the result is ``(probabilities, boxes)``, ``boxes`` one row per photo
    (:meth:`fashionkit.vision.localise.GarmentSegmenter.boxes`: where each box came from and a
    note on any fallback; no columns when no view needs a box).  ``boxes`` passes boxes
    already found (one row per image, as :meth:`~fashionkit.vision.localise.GarmentSegmenter.boxes`
    returns them), so a photo read by two models is located once.
    """

    specs = [view_spec(v, view_size) for v in view_names]
    located = any(s.garment for s in specs)
    segmenter = segmenter if segmenter is not None else getattr(clf, "segmenter_", None)
    if boxes is not None and len(boxes) != len(images):
        raise ValueError(f"{len(boxes)} rows of boxes for {len(images)} photos")
    if located and segmenter is None and boxes is None:
        raise ValueError(f"views {[s.name for s in specs if s.garment]} crop garment boxes, but no segmenter "
                         "was given or stored with the model")
    names = [str(n) for n in (names if names is not None else range(len(images)))]
    net = clf.net_.eval().to(memory_format=torch.channels_last)
    frozen = runner(net.frozen, engine)
    chunks, found = [], []
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            batch, batch_names = images[i:i + batch_size], names[i:i + batch_size]
            if boxes is not None:
                found_here = boxes.iloc[i:i + batch_size].reset_index(drop=True)
            else:
                found_here = segmenter.boxes(batch) if located else pd.DataFrame(index=range(len(batch)))
            found.append(found_here)
            per_view = []
            for spec in specs:
                x = torch.stack([prepare_image(img, spec, tuple(image_size), net.data_config, view_seed(spec, n),
                                               found_here[spec.garment].iloc[j] if spec.garment else None)
                                 for j, (img, n) in enumerate(zip(batch, batch_names))])
                out = net.forward_features(frozen(x).contiguous(memory_format=torch.channels_last))
                per_view.append({k: v.softmax(dim=1).numpy() for k, v in out.items()})
            chunks.append(average_views(per_view))
    if not chunks:
        probas = {h.key: np.zeros((0, h.n_classes), dtype=np.float32) for h in heads(clf.model)}
    else:
        probas = {k: np.concatenate([c[k] for c in chunks]) for k in chunks[0]}
    if return_boxes:
        return probas, (pd.concat(found, ignore_index=True) if found else pd.DataFrame())
    return probas


def photo_throughput(clf, paths, view_names, image_size, view_size=None, batch_size: int = 32,
                     repeats: int = 2, warmup: int = 4) -> dict:
    """Images/s from the photo file to every head's probabilities (:func:`predict_photos`).

    The best of ``repeats`` timed passes after an untimed warm-up on ``warmup`` photos
    (first-call overheads: imports, kernels).
    """
    import time

    paths = [str(p) for p in paths]
    predict_photos(clf, paths[:warmup], view_names, image_size, view_size, batch_size)
    runs = []
    for _ in range(max(1, int(repeats))):
        start = time.perf_counter()
        predict_photos(clf, paths, view_names, image_size, view_size, batch_size)
        runs.append(time.perf_counter() - start)
    return {"path": "photos", "views": len(view_names), "images": len(paths), "repeats": len(runs),
            "seconds": round(min(runs), 2), "images_per_s": round(len(paths) / min(runs), 1)}


def shared_segmenter(clfs: dict):
    """The one segmenter every model that reads garment boxes carries, or None when they differ
    (or none carries one): then each model locates the photos itself."""

    segs = [clf.segmenter_ for clf in clfs.values() if getattr(clf, "segmenter_", None) is not None]
    if not segs or not all(same_segmenter(segs[0], s) for s in segs[1:]):
        return None
    return segs[0]


def read_outfits(clfs: dict, paths, batch_size: int = 32, progress: bool = False, on_problem=None,
                 engine: str = "auto") -> tuple[list[str], dict]:
    """Every model's answers for photo files, each photo decoded once and located once.

    ``clfs``: ``{model: classifier}`` loaded by :func:`fashionkit.training.classifier.load_checkpoint`
    (each reads the views and size stored with it, ``extra_["views"]`` and
    ``extra_["image_size"]``).  A file that cannot be read
    (:class:`fashionkit.data.images.ImageProblem`) is skipped and its reason passed to
    ``on_problem`` (a callable; by default the problems are only counted).  Returns
    ``(paths answered, {model: (probabilities, boxes)})``, rows in the order of the
    answered paths.  Photos go in chunks of ``batch_size`` (memory stays flat for any
    number of photos).
    """
    from tqdm.auto import tqdm

    paths = [str(p) for p in paths]
    seg = shared_segmenter(clfs)
    answered, parts = [], {m: [] for m in clfs}
    for start in tqdm(range(0, len(paths), batch_size), desc="photos", unit="batch", disable=not progress):
        images, names = [], []
        for path in paths[start:start + batch_size]:
            try:
                images.append(load_image(path))
                names.append(path)
            except ImageProblem as problem:
                if on_problem is not None:
                    on_problem(str(problem))
        if not images:
            continue
        boxes = seg.boxes(images) if seg is not None else None
        batch = {}
        for model, clf in clfs.items():
            batch[model] = predict_images(clf, images, list(clf.extra_["views"]), tuple(clf.extra_["image_size"]),
                                          names, batch_size=batch_size, return_boxes=True, engine=engine,
                                          boxes=boxes if seg is not None and getattr(clf, "segmenter_", None)
                                          is not None else None)
        again = read_alone_again(  # a garment alone: read again by the model's alone views
            {m: probas for m, (probas, _) in batch.items()},
            {m: list(clf.extra_.get("alone_views", [])) for m, clf in clfs.items()},
            lambda m, rows: predict_images(clfs[m], [images[j] for j in rows], list(clfs[m].extra_["alone_views"]),
                                           tuple(clfs[m].extra_["image_size"]), [names[j] for j in rows],
                                           batch_size=batch_size, engine=engine))
        for model in clfs:
            parts[model].append((again[model], batch[model][1]))
        answered.extend(names)
    return answered, {model: _joined(parts[model], clf.model) for model, clf in clfs.items()}


def end_to_end(clfs: dict, paths, engine: str = "auto", batch_size: int = 32) -> dict:
    """Photos/s of ``python -m fashionkit predict``'s reader (:func:`read_outfits`): decode
    once, locate once, every model of ``clfs`` (loaded checkpoints; loading is not timed),
    after a short warm-up (exports, first calls).  ``answers`` holds what it answered."""
    import time

    read_outfits(clfs, paths[:4], engine=engine)
    start = time.perf_counter()
    answered, answers = read_outfits(clfs, paths, batch_size=batch_size, engine=engine)
    seconds = time.perf_counter() - start
    return {"engine": resolve_engine(engine), "photos": len(answered), "seconds": round(seconds, 1),
            "photos_per_s": round(len(answered) / seconds, 1), "answers": answers}


def agreement(a: dict, b: dict) -> pd.DataFrame:
    """Per head: % of photos where two runs of :func:`end_to_end` give the same answer."""
    rows = []
    for model in a:
        for head, p in a[model][0].items():
            q = b[model][0][head]
            rows.append({"head": head, "photos": len(p), "same answer %": round(100 * float(
                (p.argmax(axis=1) == q.argmax(axis=1)).mean()), 2),
                "largest probability difference": float(np.abs(p - q).max())})
    return pd.DataFrame(rows)
