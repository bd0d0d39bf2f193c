"""The GPU profile under ``torchrun``: two gloo processes on CPU against one process.

One ``torchrun --standalone --nproc_per_node 2`` run of ``tests/training/ddp_worker.py`` (a sharded
feature extraction, then ``python -m fashionkit.training.train_gpu``'s main on 32 CAD photos, tiny
model, 2 epochs) is shared by the assertions; the single-process reference runs the same
worker code in this process meanwhile.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml

from fashionkit.data import labels
from fashionkit.data.schema import heads, label_columns
from fashionkit.training import train_gpu
from fashionkit.training.classifier import load_checkpoint
from fashionkit.training.finetune import EpochSampler, _denominators, _shard_loss
from fashionkit.vision import distributed
from fashionkit.vision.features import load_features
from fashionkit.vision.models import masked_cross_entropy

PROJECT = Path(__file__).resolve().parents[2]
CAD = PROJECT.parent / "shared" / "data" / "cad"
sys.path.insert(0, str(Path(__file__).parent))
import ddp_worker  # noqa: E402

# Epoch 1 is a probe (the backbone in eval mode: each photo's logits depend on that photo
# alone), so two processes compute the single-process gradients up to float rounding: its
# loss must agree to PROBE_RTOL.  Epoch 2 fine-tunes every block: batch norm then normalises
# over each process's 4 photos instead of the global batch's 8 (SyncBatchNorm, which removes
# this on GPUs, does not run on CPU), so that loss only agrees to FINE_TUNE_RTOL (observed
# about 1e-7 and 4%; a loss taken from one rank only, or scaled by the process count, is off by
# far more).
PROBE_RTOL = 1e-5
FINE_TUNE_RTOL = 0.10


@pytest.fixture(scope="module")
def params_file(tmp_path_factory):
    if not (CAD / "attributes.csv").is_file() or not (CAD / "images").is_dir():
        pytest.skip(f"CAD data not found at {CAD}")
    tmp = tmp_path_factory.mktemp("ddp")
    attrs = pd.read_csv(CAD / "attributes.csv").head(60)
    rows = pd.DataFrame([{"source": "cad", "image": r["image"], "path": str(CAD / "images" / r["image"]),
                          **labels.cad_labels(r)} for r in attrs.to_dict("records")])
    rows = rows[rows[[h.key for h in heads("top")]].notna().any(axis=1)].head(32).reset_index(drop=True)
    rows["split"] = ["train"] * 24 + ["val"] * 8
    rows[["source", "image", "path", "split", *label_columns()]].to_csv(tmp / "manifest.csv", index=False)
    params = yaml.safe_load((PROJECT / "params" / "gpu" / "03_train_top.yaml").read_text())
    params.update(manifest_csv=str(tmp / "manifest.csv"), backbone="tf_efficientnet_lite0", pretrained=False,
                  image_size=list(ddp_worker.SIZE), recipe=None, epochs=2, probe_epochs=1, batch_size=8,
                  lr=1e-3, drop_rate=0.0, sgdr_t_mult=1, val_flips=True, num_workers=0, device="cpu",
                  threads=1)
    (tmp / "params.yaml").write_text(yaml.safe_dump(params))
    return tmp / "params.yaml"


@pytest.fixture(scope="module")
def runs(params_file):
    """``(two-process folder, single-process folder, single-process draws)``; fails with the
    processes' log when they fail."""
    root = params_file.parent
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(PROJECT)}
    # the two processes start (importing torch) while this one runs the reference
    launch = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2"]
    proc = subprocess.Popen([*launch, str(Path(ddp_worker.__file__)), str(params_file), str(root / "two")],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # as each of the two processes: a second thread only competes with them
    try:
        single = ddp_worker.run(params_file, root / "one")
    finally:
        torch.set_num_threads(threads)
        log, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0, log[-3000:]
    return root / "two", root / "one", single


def test_two_processes_finish_and_only_rank_0_writes(runs):
    two, one, _ = runs
    assert sorted(p.relative_to(two / "model").as_posix() for p in (two / "model").rglob("*")) == \
        ["history.csv", "lr_trace.csv", "top_model.pt"]
    clf = load_checkpoint(two / "model" / "top_model.pt")
    assert clf.extra_["processes"] == 2 and clf.extra_["profile"] == "gpu"
    assert load_checkpoint(one / "model" / "top_model.pt").extra_["processes"] == 1


def test_ranks_draw_disjoint_shares_of_the_single_process_epoch(runs):
    two, _, single = runs
    ranks = [json.loads((two / "draws" / f"rank{r}.json").read_text()) for r in (0, 1)]
    assert len(single) == 2 and single[0] != single[1]  # one draw per epoch, a new one each epoch
    assert len(set(single[0])) < len(single[0])  # oversampled: drawn with replacement
    for epoch, whole in enumerate(single):
        first, second = ranks[0][epoch], ranks[1][epoch]
        assert len(first) == len(second) == len(whole) // 2
        # positions 0, 2, 4 ... of the single-process draws to rank 0, 1, 3, 5 ... to rank 1
        assert first == whole[0::2] and second == whole[1::2]


def test_loss_history_matches_the_single_process_run(runs):
    two, one, _ = runs
    a, b = (pd.read_csv(d / "model" / "history.csv") for d in (two, one))
    assert list(a["phase"]) == list(b["phase"]) == ["probe", "fine-tune"]
    np.testing.assert_allclose(a["lr"], b["lr"], rtol=1e-12)
    np.testing.assert_allclose(a["train_loss"][0], b["train_loss"][0], rtol=PROBE_RTOL)
    np.testing.assert_allclose(a["val_mean_macro_f1"][0], b["val_mean_macro_f1"][0], rtol=1e-6)
    np.testing.assert_allclose(a["train_loss"][1], b["train_loss"][1], rtol=FINE_TUNE_RTOL)
    rates = [pd.read_csv(d / "model" / "lr_trace.csv") for d in (two, one)]
    assert len(rates[0]) == len(rates[1]) == 2 * 3  # 3 global batches of 8 per epoch, both runs


def test_sharded_extraction_writes_the_single_process_cache(runs):
    two, one, _ = runs
    a, b = load_features(two / "cache"), load_features(one / "cache")
    assert a.paths == b.paths and len(a.paths) == 11
    for view in ("whole", "whole_flip"):
        assert a.views[view].shape == b.views[view].shape and np.isfinite(b.views[view]).all()
        # The trunk's float32 arithmetic depends a little on the batch's make-up (3 photos per
        # process vs 3 in one process, other photos), so a few values round to another float16:
        # observed about 1% of them, by at most 0.004 on maps reaching 15.  A row put in the
        # wrong place would differ by the maps' own scale.
        x, y = np.asarray(a.views[view], np.float32), np.asarray(b.views[view], np.float32)
        np.testing.assert_allclose(x, y, rtol=0, atol=1e-3 * np.abs(y).max())
        assert (x == y).mean() > 0.98
        assert {k: v for k, v in a.meta["views"][view].items() if k != "seconds"} == \
            {k: v for k, v in b.meta["views"][view].items() if k != "seconds"}


def test_shard_losses_add_up_to_the_global_batch_loss():
    """What makes the gradients equal: the ranks' losses, each divided by W (DDP's average),
    sum to masked_cross_entropy of the whole batch, missing labels and class weights included."""
    torch.manual_seed(0)
    logits = {"a": torch.randn(8, 3, dtype=torch.float64), "b": torch.randn(8, 2, dtype=torch.float64)}
    targets = {"a": np.array([0, 2, -1, 1, -1, -1, 2, 0]), "b": np.array([-1, 1, -1, 0, -1, -1, -1, -1])}
    weights = {"a": torch.tensor([0.5, 1.0, 2.0], dtype=torch.float64),
               "b": torch.tensor([1.0, 3.0], dtype=torch.float64)}
    rows = np.arange(8)
    for class_weights in (None, weights):
        whole = masked_cross_entropy(logits, {k: torch.from_numpy(v) for k, v in targets.items()}, 0.1,
                                     class_weights)
        den = _denominators(targets, rows, class_weights)
        ctx = [distributed.Context(rank=r, world_size=2) for r in (0, 1)]
        parts = [_shard_loss({k: distributed.shard(v, c) for k, v in logits.items()},
                             {k: torch.from_numpy(distributed.shard(v, c)) for k, v in targets.items()},
                             den, 2, 0.1, class_weights) for c in ctx]
        assert float(sum(parts) / 2) == pytest.approx(float(whole), rel=1e-12)
        # rank 1 holds no labelled row of head "b": its share of "b" is 0, not a NaN mean
        assert torch.isfinite(parts[1])


def test_sampler_shards_and_gather_restores_order():
    weights = np.array([1.0, 1.0, 5.0, 1.0, 2.0])
    whole = EpochSampler(7, weights, seed=3)
    shares = [EpochSampler(7, weights, seed=3, rank=r, world_size=3) for r in range(3)]
    for s in (whole, *shares):
        s.set_epoch(2)
    assert [len(s) for s in shares] == [3, 2, 2]
    order = list(whole)
    assert [list(s) for s in shares] == [order[0::3], order[1::3], order[2::3]]
    parts = [np.array(order[r::3]) for r in range(3)]
    assert distributed._interleave(parts, 7).tolist() == order
    single = distributed.Context()
    assert not single.distributed and single.is_main
    assert distributed.shard(order, single) == order
    assert distributed.gather_rows(parts[0], 3, single) is parts[0]


def test_params_file_and_overrides(tmp_path):
    params = tmp_path / "p.yaml"
    params.write_text("epochs: 30\nimage_size: [570, 380]\n")
    assert train_gpu.read_params(params, ["epochs=2", "image_size=[64, 48]", "recipe=null"]) == \
        {"epochs": 2, "image_size": [64, 48], "recipe": None}
    with pytest.raises(ValueError, match="key=value"):
        train_gpu.read_params(params, ["epochs"])
