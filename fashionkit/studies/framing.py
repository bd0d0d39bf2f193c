"""Re-framed photos for the framing test: does a model still read the garment when the photo is cut differently?

Each framing is a function ``(photo, garment_mask, model) -> photo`` in the registry
:data:`FRAMINGS` (configuration as data: chapter 5 names the framings it runs in its
params).  ``garment_mask`` is a boolean array of the photo's size marking the garment the
model reads (the top garment for the top model, the bottom garment for the bottom model);
``model`` is ``"top"`` or ``"bottom"``.  All framings are deterministic.

* ``normal`` -- the photo as it is.
* ``tight`` -- cut to the garment's box with a 5 % margin (a close-up).
* ``half_length`` -- the half of the frame that holds the garment: the upper 55 % for a
  top, the lower 60 % for a bottom (a portrait, or a "waist down" shot).
* ``zoomed_out`` -- the photo shrunk to 55 % in a plain canvas of its own size.
* ``off_centre`` -- the photo moved left by 30 % of its width (its left part leaves the
  frame) on a plain canvas.
* ``background_removed`` -- only the garment's pixels, on a plain background, cut to the garment's box.
  The garment is still worn: it keeps the wearer's shape, pose and the holes of arms and neck.
  It is *not* a photo of a garment alone (chapter 5 measures those directly, on their own test photos).

A framing that leaves a photo as it was (a tight box that is the whole photo, an empty mask)
says nothing about that framing: :func:`framing_test` leaves such photos out of its comparison
and counts them.  Some framings resemble copies the models were trained on
(:data:`ALSO_IN_TRAINING`), so they are not unseen kinds of photo for those parts.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd
from PIL import Image

from fashionkit.data.images import load_image
from fashionkit.data.schema import get_head, heads
from fashionkit.metrics.comparison import paired_bootstrap_diff
from fashionkit.metrics.scores import head_scores
from fashionkit.studies.inference import predict_images
from fashionkit.training.classifier import encode_targets_np
from fashionkit.vision.crops import PLAIN, cut_out_by_mask, margin_box
from fashionkit.vision.localise import garment_mask, mask_path

__all__ = ["FRAMINGS", "ALSO_IN_TRAINING", "register_framing", "reframe", "framing_test", "reader_gain", "framing_summary", "format_gains", "lever_verdicts", "lever_check"]
FRAMINGS: dict[str, Callable] = {}
#: Framings that resemble a training copy, and which (the params named are chapter 2's and 3-4's).
ALSO_IN_TRAINING: dict[str, str] = {
    "tight": "the segmenter's zoomed copies (a window from seg_zoom's 35 % of the photo: close-ups)",
    "half_length": "the segmenter's zoomed and shifted copies (part of the frame)",
    "zoomed_out": "the segmenter's zoomed-out copies (up to seg_zoom's 1.9 times the photo)",
    "background_removed": "the segmenter's cut-out copies (seg_cutout) and the attribute models' "
                          "cut-out views where a lever trains on them (+ cut-out garment copy)",
}


def register_framing(fn: Callable) -> Callable:
    FRAMINGS[fn.__name__] = fn
    return fn


@register_framing
def normal(img: Image.Image, garment_mask: np.ndarray, model: str) -> Image.Image:
    return img


@register_framing
def tight(img: Image.Image, garment_mask: np.ndarray, model: str) -> Image.Image:
    box = margin_box(garment_mask, 0.05)
    return img if box is None else img.crop(box)


@register_framing
def half_length(img: Image.Image, garment_mask: np.ndarray, model: str) -> Image.Image:
    w, h = img.size
    return img.crop((0, 0, w, round(0.55 * h))) if model == "top" else img.crop((0, round(0.4 * h), w, h))


@register_framing
def zoomed_out(img: Image.Image, garment_mask: np.ndarray, model: str) -> Image.Image:
    w, h = img.size
    small = img.resize((max(1, round(0.55 * w)), max(1, round(0.55 * h))), Image.BICUBIC)
    canvas = Image.new("RGB", (w, h), PLAIN)
    canvas.paste(small, ((w - small.width) // 2, (h - small.height) // 2))
    return canvas


@register_framing
def off_centre(img: Image.Image, garment_mask: np.ndarray, model: str) -> Image.Image:
    w, h = img.size
    canvas = Image.new("RGB", (w, h), PLAIN)
    canvas.paste(img, (-round(0.3 * w), 0))
    return canvas


@register_framing
def background_removed(img: Image.Image, garment_mask: np.ndarray, model: str) -> Image.Image:
    out = cut_out_by_mask(img, garment_mask)
    return img if out is None else out


def reframe(img: Image.Image, framing: str, garment_mask: np.ndarray, model: str) -> Image.Image:
    """``img`` in the framing called ``framing`` (a key of :data:`FRAMINGS`)."""
    try:
        fn = FRAMINGS[framing]
    except KeyError:
        raise KeyError(f"unknown framing {framing!r}; known: {', '.join(FRAMINGS)}") from None
    if garment_mask.shape != (img.height, img.width):
        raise ValueError(f"garment mask {garment_mask.shape} does not match the photo {img.height}x{img.width}")
    return fn(img.convert("RGB"), garment_mask.astype(bool), model)


def _changed(before: Image.Image, after: Image.Image) -> bool:
    return before.size != after.size or before.tobytes() != after.tobytes()


def framing_test(readers: dict, images, garment_masks, model: str, framings, targets: dict, names,
                 reference_framing: str = "normal", n_boot: int = 1000, level: float = 0.95,
                 seed: int = 0, segmenter=None, return_probas: bool = False, subsets: dict | None = None):
    """Accuracy of each reader on every framing of the same photos, and its drop from ``reference_framing``.

    ``readers``: ``{name: (classifier, views, image_size)}`` (a trained model and the views
    it reads a photo with); ``images``/``garment_masks``/``names``: the photos, their
    garment masks and file names; ``targets[head]``: class indices, -1 where unlabelled.
    One row per framing, reader and head: labelled photos, accuracy (%), the drop in points
    from the reference framing with a paired bootstrap interval over the same photos
    (:func:`fashionkit.metrics.comparison.paired_bootstrap_diff`), and for readers with garment views
    the share of photos whose box was found on the garment itself.  ``segmenter`` finds the
    boxes (default: the one each classifier carries).  With ``return_probas`` the result is
    ``(table, probas)``, ``probas[framing, reader]`` each head's probabilities (for
    :func:`reader_gain`).  A photo that a framing leaves unchanged is left out of that framing's
    rows (its accuracy and its drop, both on the same photos), and ``unchanged`` counts them.
    ``subsets`` (``{name: boolean array over the photos}``, e.g. photos whose garment mask was
    annotated and those whose mask was predicted) adds the same rows for each subset; the
    ``photos`` column names it ("all" for every photo).
    """

    if reference_framing not in framings:
        raise ValueError(f"the reference framing {reference_framing!r} must be one of the framings {list(framings)}")
    rows, probas = {}, {}
    groups = {"all": np.ones(len(images), dtype=bool), **{k: np.asarray(v, dtype=bool) for k, v in (subsets or {}).items()}}
    as_taken = [img.convert("RGB") for img in images]  # what each framing is compared with
    for framing in [reference_framing] + [f for f in framings if f != reference_framing]:
        framed = [reframe(img, framing, m, model) for img, m in zip(images, garment_masks)]
        changed = np.array([framing == reference_framing or _changed(img, f) for img, f in zip(as_taken, framed)],
                           dtype=bool)
        rows[framing] = []
        for reader, (clf, views, image_size) in readers.items():
            proba, boxes = predict_images(clf, framed, views, image_size, names, return_boxes=True,
                                          segmenter=segmenter)
            probas[framing, reader] = proba
            source = f"{model}_source"
            found = (boxes[source] == "garment").to_numpy() if source in boxes else None
            for group, member in groups.items():
                kept = member & changed
                for key, y in targets.items():
                    y_kept = np.where(kept, np.asarray(y), -1)
                    s = head_scores(y_kept, proba[key])
                    d, lo, hi = paired_bootstrap_diff(y_kept, probas[reference_framing, reader][key], proba[key],
                                                      n_boot, level, seed)
                    rows[framing].append({"framing": framing, "photos": group, "reader": reader, "head": key,
                                          "n": s["n"], "unchanged": int((member & ~changed).sum()),
                                          "accuracy_%": 100 * s["accuracy"], "drop_points": -100 * d,
                                          "drop_lo": -100 * hi, "drop_hi": -100 * lo,
                                          "box found on the garment %": (np.nan if found is None or not kept.any()
                                                                         else float(found[kept].mean() * 100))})
    table = pd.DataFrame([r for f in framings for r in rows[f]])
    return (table, probas) if return_probas else table


def reader_gain(probas: dict, targets: dict, framing: str, reader: str, reference_reader: str,
                n_boot: int = 1000, level: float = 0.95, seed: int = 0) -> pd.DataFrame:
    """Per head, on one framing: accuracy of ``reference_reader`` (``reference_%``) and ``reader``
    (``reader_%``) on the same photos and the gain in points with a paired bootstrap interval
    (``probas`` from :func:`framing_test` with ``return_probas``) -- does a lever read this
    framing better?"""

    rows = []
    for key, y in targets.items():
        a, b = probas[framing, reference_reader][key], probas[framing, reader][key]
        d, lo, hi = paired_bootstrap_diff(y, a, b, n_boot, level, seed)
        ref = head_scores(y, a)
        rows.append({"head": key, "n": ref["n"], "reference_%": 100 * ref["accuracy"],
                     "reader_%": 100 * head_scores(y, b)["accuracy"], "gain_points": 100 * d, "gain_lo": 100 * lo,
                     "gain_hi": 100 * hi})
    return pd.DataFrame(rows)


def framing_summary(table: pd.DataFrame, reference_framing: str = "normal", max_drop: float | None = None) -> pd.DataFrame:
    """Per reader and head: accuracy on each framing, the largest drop from ``reference_framing``
    with its paired interval, and (given the aim ``max_drop``) a verdict: "within the aim"
    when the interval's upper end is at most the aim, "over the aim" when its lower end is
    above it, else "cannot tell".  Rows of :func:`framing_test`'s ``subsets`` are left out: every photo counts."""
    if "photos" in table:
        table = table[table["photos"] == "all"]
    wide = table.pivot_table(index=["reader", "head"], columns="framing", values="accuracy_%", sort=False,
                             dropna=False)
    others = table[table["framing"] != reference_framing]
    worst = (others.sort_values("drop_points", ascending=False, na_position="last", kind="stable")
             .groupby(["reader", "head"], sort=False).head(1).set_index(["reader", "head"]).reindex(wide.index))
    wide["largest drop, points"] = worst["drop_points"]
    wide["its 95% CI"] = [f"{lo:+.1f} to {hi:+.1f}" for lo, hi in zip(worst["drop_lo"], worst["drop_hi"])]
    wide["worst framing"] = worst["framing"].str.replace("_", " ")
    if max_drop is not None:
        wide["verdict"] = np.where(worst["drop_hi"] <= max_drop, "within the aim",
                                   np.where(worst["drop_lo"] > max_drop, "over the aim", "cannot tell"))
    return wide


def subset_drops(table: pd.DataFrame, reader: str, framings) -> pd.DataFrame:
    """One reader's drops on ``framings``, per subset of photos (:func:`framing_test`'s ``subsets``, and
    "all") side by side: a row per framing and head, for each subset the photos compared, the drop
    in points and its interval, and the photos the framing left unchanged (left out)."""
    part = table[(table["reader"] == reader) & table["framing"].isin(list(framings))]
    part = part.assign(drop=[f"{d:+.1f} [{lo:+.1f}, {hi:+.1f}]" if n else "" for d, lo, hi, n in
                             zip(part["drop_points"], part["drop_lo"], part["drop_hi"], part["n"])])
    wide = part.pivot_table(index=["framing", "head"], columns="photos", values=["n", "drop", "unchanged"],
                            aggfunc="first", sort=False)
    wide.columns = [f"{photos}: {what}" for what, photos in wide.columns]
    order = list(dict.fromkeys(part["photos"]))
    return wide[[f"{p}: {w}" for p in order for w in ("n", "drop", "unchanged")]]


def framing_photos(frame: pd.DataFrame, model: str, n: int, seed: int, segmenter, lut) -> tuple[list, list, list]:
    """``(images, garment masks, paths)`` of up to ``n`` rows of ``frame`` drawn with ``seed``.

    The garment mask is CCP's true mask where the photo has one, else the segmenter's
    prediction on the photo as it is (:func:`fashionkit.vision.localise.garment_mask`).
    """
    from PIL import Image as _Image

    picks = frame.iloc[np.sort(np.random.default_rng(seed).permutation(len(frame))[:n])]
    images, masks = [], []
    for path, annotation in zip(picks["path"], picks["annotation"]):
        img = load_image(path)
        groups = lut[np.asarray(_Image.open(mask_path(path)))] if annotation == "pixel" else None
        images.append(img)
        masks.append(garment_mask(segmenter, img, model, groups))
    return images, masks, picks["path"].tolist()


def format_gains(gains: pd.DataFrame, reference: str = "kept") -> pd.DataFrame:
    """:func:`reader_gain` rows of several levers (a ``lever`` column) and framings (``framing``) as a
    table for reading: one row per lever, framing and head (its English name), the two
    accuracies, the gain and its interval."""

    out = pd.DataFrame({"lever": gains["lever"], "framing": gains["framing"],
                        "head": [get_head(k).en for k in gains["head"]], "photos": gains["n"],
                        f"{reference}, %": gains["reference_%"].round(1),
                        "with the lever, %": gains["reader_%"].round(1),
                        "gain, points": gains["gain_points"].round(1),
                        "95% CI": [f"{lo:+.1f} to {hi:+.1f}" for lo, hi in zip(gains["gain_lo"], gains["gain_hi"])]})
    return out.set_index(["lever", "framing", "head"])


def lever_verdicts(gains: pd.DataFrame, better_on: str, guard: str) -> dict[str, str]:
    """Per lever of :func:`reader_gain` rows (``lever`` and ``framing`` columns): kept when it reads
    framing ``better_on`` better beyond noise on some head (interval above 0) and loses beyond
    noise on no head of framing ``guard`` (no interval below 0); the sentence says which heads."""

    out = {}
    for lever, rows in gains.groupby("lever", sort=False):
        up = rows[(rows["framing"] == better_on) & (rows["gain_lo"] > 0)]
        down = rows[(rows["framing"] == guard) & (rows["gain_hi"] < 0)]
        names = lambda r: ", ".join(f"{get_head(k).en} ({g:+.1f})" for k, g in zip(r["head"], r["gain_points"]))
        better = f"better beyond noise on {better_on}: {names(up) or 'no head'}"
        worse = f"worse beyond noise on {guard}: {names(down) or 'no head'}"
        verdict = "kept" if len(up) and not len(down) else "not kept"
        out[lever] = f"{lever}: {verdict} ({better}; {worse})"
    return out


def lever_check(kept, levers: dict, views, image_size, frame: pd.DataFrame, model: str, framings, n_photos: int,
                segmenter, lut, as_taken: tuple | None = None, n_boot: int = 1000, seed: int = 0,
                kept_name: str = "garment box (kept)") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Does each lever read re-framed photos better than the kept model?  Chapters 3-4's check on validation.

    ``n_photos`` rows of ``frame`` (validation photos) drawn with ``seed`` (:func:`framing_photos`)
    are re-framed (``framings``, which must hold ``"normal"``) and read the way a user's
    photo is read by ``kept`` and every classifier of ``levers`` (``{name: classifier}``),
    all with ``views`` at ``image_size`` and boxes from ``segmenter``.  ``as_taken``
    (``(targets, {reader: probabilities})``, e.g. the ablation's probabilities of every
    validation photo) adds the same comparison on the photos as taken.  Returns
    ``(framing_test table, gains)``: gains are :func:`reader_gain` rows, one per lever,
    framing other than "normal" (plus "as taken") and head, with ``lever`` and ``framing``
    (spaces for underscores) columns, ready for :func:`format_gains` and :func:`lever_verdicts`.
    """

    images, masks, paths = framing_photos(frame, model, n_photos, seed, segmenter, lut)
    y = encode_targets_np(frame.set_index("path").loc[paths], heads(model))
    readers = {kept_name: (kept, views, image_size), **{name: (lever, views, image_size)
                                                        for name, lever in levers.items()}}
    table, probas = framing_test(readers, images, masks, model, framings, y, paths, n_boot=n_boot, seed=seed,
                                 segmenter=segmenter, return_probas=True)
    compared = [(f, y) for f in framings if f != "normal"]
    if as_taken is not None:
        targets, taken = as_taken
        probas.update({("as taken", name): taken[name] for name in readers})
        compared.append(("as taken", targets))
    gains = pd.concat([reader_gain(probas, targets, f, name, kept_name, n_boot, seed=seed)
                       .assign(lever=name, framing=f.replace("_", " "))
                       for name in levers for f, targets in compared], ignore_index=True)
    return table, gains
