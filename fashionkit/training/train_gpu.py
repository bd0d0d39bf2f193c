"""The GPU profile from the command line: one GPU, several GPUs, several machines.

    python -m fashionkit.training.train_gpu params/gpu/03_train_top.yaml
    torchrun --nproc_per_node 4 -m fashionkit.training.train_gpu params/gpu/03_train_top.yaml
    torchrun --nnodes 2 --nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint HOST:29500 \
        -m fashionkit.training.train_gpu params/gpu/03_train_top.yaml

(``make train-gpu MODEL=top NPROC=4`` runs the second line.)  It reads a ``params/gpu``
file (paths relative to ``notebooks/``, as for the notebooks; ``--set key=value`` overrides
one setting, the value read as YAML), takes the model's photos from chapter 1's manifest
with the chapters' split (train and validation photos with at least one label of the
model), and trains with :func:`fashionkit.training.finetune.fit_on_images`, which shards the work
over the ``torchrun`` processes (:mod:`fashionkit.vision.distributed`).  Rank 0 alone writes to
``--out`` (default ``build/artifacts/gpu/<params file name>``): ``<model>_model.pt``
(:func:`fashionkit.training.classifier.save_checkpoint`; ``extra`` holds the view, the image size and
the profile), ``history.csv`` and ``lr_trace.csv``; every rank waits until they are written.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import yaml

from fashionkit.data import sources
from fashionkit.data.sources import PROJECT_ROOT
from fashionkit.data.splits import read_splits
from fashionkit.training.classifier import AttributeClassifier, save_checkpoint, split_digest
from fashionkit.training.finetune import fit_on_images
from fashionkit.vision import distributed, runtime
from fashionkit.vision.crops import view_spec

# the params keys that are AttributeClassifier settings (the others say what the net sees and where)
CLASSIFIER_KEYS = ("model", "backbone", "pretrained", "epochs", "probe_epochs", "batch_size", "lr",
                   "upper_lr_mult", "weight_decay", "drop_rate", "label_smoothing", "sgdr_t0", "sgdr_t_mult",
                   "lr_min_ratio", "sampling", "sampling_power", "seed")


def read_params(path, overrides=()) -> dict:
    """The params file as a dict, with ``key=value`` overrides (values parsed as YAML)."""
    params = yaml.safe_load(Path(path).read_text()) or {}
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep:
            raise ValueError(f"--set wants key=value, got {item!r}")
        params[key] = yaml.safe_load(value)
    return params


def train(params: dict, out, sync_bn: bool = True):
    """Train the model ``params`` describe; rank 0 writes the checkpoint, history and rate trace to ``out``.

    Returns the fitted :class:`~fashionkit.training.classifier.AttributeClassifier` (the same on every rank).
    """

    ctx = distributed.init_from_env(params.get("device"))
    if "threads" in params:  # else torch's default (torchrun sets OMP_NUM_THREADS=1 for several processes)
        runtime.set_threads(params["threads"])
    manifest = sources.load_manifest(PROJECT_ROOT / "notebooks" / params["manifest_csv"],
                                      params.get("limit_per_split"))
    rows = sources.model_rows(manifest, params["model"])
    pos = sources.split_positions(manifest, rows, params["model"])
    frame = manifest.iloc[rows]
    clf = AttributeClassifier(**{k: params[k] for k in CLASSIFIER_KEYS if k in params}, progress=ctx.is_main)
    image_size = tuple(params["image_size"])
    fit_on_images(clf, frame.iloc[pos["train"]], frame.iloc[pos["val"]], view_spec(params["view"]),
                  image_size, recipe=params.get("recipe"), num_workers=params.get("num_workers", 0),
                  device=ctx.device, val_flips=params.get("val_flips", False), sync_bn=sync_bn)
    out = Path(out)
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        split_hash = split_digest(read_splits(PROJECT_ROOT / "params" / "splits.csv"))
        save_checkpoint(clf, out / f"{clf.model}_model.pt", split_hash,
                        extra={"views": [params["view"]], "image_size": list(image_size), "profile": "gpu",
                               "processes": ctx.world_size})
        clf.history_.to_csv(out / "history.csv", index=False)
        clf.lr_trace_.to_csv(out / "lr_trace.csv", index=False)
        print(f"{clf.model}: best epoch {clf.best_epoch_} of {clf.epochs}, {clf.fit_seconds_:.0f} s on "
              f"{ctx.world_size} process(es); wrote {out}")
    distributed.barrier(ctx)
    return clf


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("params", help="a params/gpu/*.yaml file")
    parser.add_argument("--out", help="output folder (default build/artifacts/gpu/<params file name>)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override a setting")
    parser.add_argument("--no-sync-bn", action="store_true",
                        help="batch-norm statistics per process instead of over the global batch")
    args = parser.parse_args(argv)
    params = read_params(args.params, args.set)
    out = args.out or PROJECT_ROOT / "build" / "artifacts" / "gpu" / Path(args.params).stem

    try:
        train(params, out, sync_bn=not args.no_sync_bn)
    finally:
        distributed.close()
    return 0


if __name__ == "__main__":
    os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    raise SystemExit(main())
