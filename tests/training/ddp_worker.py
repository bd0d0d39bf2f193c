"""Run by ``tests/training/test_distributed.py`` under ``torchrun`` (two gloo processes) and in the test
process: a sharded feature extraction, then :mod:`fashionkit.training.train_gpu`, recording the epoch
draws each process's sampler handed its loader.

    python -m torch.distributed.run --standalone --nproc_per_node 2 tests/training/ddp_worker.py PARAMS OUT

The launcher was measured against ``torch.multiprocessing`` spawning the two processes and
against two plain subprocesses given ``torchrun``'s environment by hand: on the 2-core test
machine (load about 5 from other work) the test's shared run took 36-41 s with the launcher,
42-43 s with plain subprocesses and 56 s spawned (about 27 s of CPU time with the launcher,
most of it the two processes importing torch and timm), so the test uses the launcher, which
is also what a user runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
from pathlib import Path

import pandas as pd
import torch

from fashionkit.training import finetune, train_gpu
from fashionkit.vision.crops import WHOLE, WHOLE_FLIP
from fashionkit.vision.features import extract_features
from fashionkit.vision.models import create_model

SIZE = (64, 48)


@contextlib.contextmanager
def recording_draws():
    """A list that receives, per epoch, the row indices this process's ``EpochSampler`` yielded."""
    draws, plain = [], finetune.EpochSampler.__iter__

    def recorded(sampler):
        order = list(plain(sampler))
        draws.append(order)
        return iter(order)

    finetune.EpochSampler.__iter__ = recorded
    try:
        yield draws
    finally:
        finetune.EpochSampler.__iter__ = plain


def extract(paths, cache):
    """A tiny randomly initialised trunk (the same weights in every process) over ``paths``, 2 views,
    3 photos per batch and process, so the last global batch leaves a rank short."""
    torch.manual_seed(0)
    net = create_model("tf_efficientnet_lite0", pretrained=False, trainable_blocks=1)
    return extract_features(net.frozen, paths, [WHOLE, WHOLE_FLIP], SIZE, batch_size=3, cache_path=cache,
                            progress=False, engine="torch")


def run(params_file, out: Path) -> list:
    """Extraction of the manifest's first 11 photos into ``out/cache``, then training on the
    params file into ``out/model``; returns this process's draws."""
    manifest = train_gpu.read_params(params_file)["manifest_csv"]
    extract(pd.read_csv(manifest)["path"].head(11).tolist(), out / "cache")
    with recording_draws() as draws:
        train_gpu.main([str(params_file), "--out", str(out / "model")])
    return draws


if __name__ == "__main__":  # one of the torchrun processes: its draws go to OUT/draws/rank<RANK>.json
    torch.set_num_threads(1)
    out = Path(sys.argv[2])
    draws = run(sys.argv[1], out)
    (out / "draws").mkdir(parents=True, exist_ok=True)
    (out / "draws" / f"rank{os.environ['RANK']}.json").write_text(json.dumps(draws))
