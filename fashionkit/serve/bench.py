"""Benchmark figures (printed, never asserted): `make bench` / `python -m fashionkit.serve.bench`.

* wall time of every executed notebook (papermill records each cell's duration),
* extraction time of every cached view,
* training time of the attribute models (their history),
* ``predict`` end to end on test photos: photos/s for both models (decode once, locate
  once; model loading excluded) through the command line's deployed graphs
  (:mod:`fashionkit.serve.deploy`), through the notebooks' path (trunk on ONNX Runtime, upper
  blocks and heads in PyTorch: :func:`fashionkit.studies.inference.read_outfits`) and through
  PyTorch alone; the agreement of the deployed answers with PyTorch's, per head; and the
  startup time (process start to first answer, the graphs already exported).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from fashionkit.book.pages import read_notebook_runs
from fashionkit.data.sources import PROJECT_ROOT
from fashionkit.serve.deploy import deployment_for, startup_seconds
from fashionkit.serve.deploy import end_to_end as deployed_end_to_end
from fashionkit.studies.inference import agreement, end_to_end
from fashionkit.training.classifier import load_checkpoint
from fashionkit.vision.cached_views import extraction_seconds


def notebook_times(nb_dir: Path) -> pd.DataFrame:
    """Wall seconds of every executed notebook (papermill metadata; the book's reader)."""

    runs = read_notebook_runs(nb_dir)
    return pd.DataFrame(runs, columns=["notebook", "seconds", "start_time", "end_time"])


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(PROJECT_ROOT / "build"))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--photos", type=int, default=300, help="test photos read end to end (default: %(default)s)")
    args = parser.parse_args(argv)
    build = Path(args.build)
    pd.set_option("display.width", 160)
    times = notebook_times(build / "nb")
    print("Notebook wall times (papermill):")
    print(times.to_string(index=False) if len(times) else "  none executed yet")
    chain = times[times.notebook.isin(["02_oversampling", "03_train_top", "04_train_bottom"])]["seconds"].sum()
    print(f"02+03+04 together: {chain / 60:.1f} min")
    if (build / "features").is_dir():
        print("\nFeature extraction (seconds per cached view):")
        print(extraction_seconds(build / "features").to_string(index=False))
    for model in ("top", "bottom"):
        history = build / "artifacts" / f"0{3 if model == 'top' else 4}_train_{model}" / "history.csv"
        if history.is_file():
            h = pd.read_csv(history)
            print(f"\n{model} model: {len(h)} epochs in {h['seconds'].iloc[-1]:.0f} s "
                  f"({np.diff(np.r_[0, h['seconds']]).mean():.1f} s/epoch)")
    artifacts = build / "artifacts"
    checkpoints = {"top": artifacts / "03_train_top" / "top_model.pt",
                   "bottom": artifacts / "04_train_bottom" / "bottom_model.pt"}
    manifest_csv = artifacts / "01_data_audit" / "manifest.csv"
    if all(p.is_file() for p in checkpoints.values()) and manifest_csv.is_file():

        manifest = pd.read_csv(manifest_csv)
        paths = manifest.loc[manifest["split"] == "test", "path"].head(args.photos).tolist()
        torch.set_num_threads(args.threads)
        fast = deployed_end_to_end(deployment_for(artifacts, checkpoints, threads=args.threads), paths)
        print(f"\npredict, end to end (decode, locate, both models; loading excluded): {fast['photos_per_s']} "
              f"photos/s on {fast['photos']} test photos ({fast['seconds']} s, {fast['engine']}; aim: at least 30); "
              f"{fast['cpu_ms_per_photo']} CPU-ms per photo, so {1000 * args.threads / fast['cpu_ms_per_photo']:.1f} "
              f"photos/s on {args.threads} idle cores (load average now {os.getloadavg()[0]:.1f})")
        clfs = {m: load_checkpoint(p) for m, p in checkpoints.items()}
        mixed = end_to_end(clfs, paths, "onnx")
        slow = end_to_end(clfs, paths, "torch")
        print(f"the notebooks' path (trunk on ONNX Runtime, the rest in PyTorch): {mixed['photos_per_s']} photos/s; "
              f"PyTorch alone: {slow['photos_per_s']} photos/s")
        same = agreement(slow["answers"], fast["answers"])
        print("Agreement of the deployed path with PyTorch alone (aim: at least 99 % on every head): lowest "
              f"{same['same answer %'].min():.2f} %")
        print(same.to_string(index=False))
        print(f"startup, process start to first answer (one photo, graphs exported): "
              f"{startup_seconds(Path(paths[0]), artifacts):.1f} s (aim: at most 5)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
