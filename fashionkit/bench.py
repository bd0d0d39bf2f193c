"""Benchmark figures (printed, never asserted): `make bench` / `python -m fashionkit.bench`.

* wall time of every executed notebook (papermill records each cell's duration),
* extraction time of every cached view,
* training time of the attribute models (their history),
* CPU inference throughput of the trained top model on real photos: images/s at batch 32,
  from the decoded photo to every head's probabilities.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from .data import PROJECT_ROOT
from .pipeline import extraction_seconds


def notebook_times(nb_dir: Path) -> pd.DataFrame:
    """Wall seconds of every executed notebook (papermill metadata; the book's reader)."""
    from .bookpages import read_notebook_runs

    runs = read_notebook_runs(nb_dir)
    return pd.DataFrame(runs, columns=["notebook", "seconds", "start_time", "end_time"])


def inference_throughput(checkpoint: Path, manifest_csv: Path, n_images: int = 64, batch_size: int = 32,
                         threads: int = 2) -> dict:
    """Images/s of the whole model (frozen trunk + upper blocks + heads) on CPU, from photos,
    in the first view the checkpoint was trained on."""
    from .pipeline import photo_throughput
    from .train import load_checkpoint

    torch.set_num_threads(threads)
    clf = load_checkpoint(checkpoint)
    extra = clf.extra_
    view = extra["views"][0]
    paths = pd.read_csv(manifest_csv)["path"].head(n_images).tolist()
    result = photo_throughput(clf, paths, [view], extra.get("image_size", (390, 260)),
                              batch_size=batch_size, repeats=1)
    return {**result, "batch_size": batch_size, "threads": threads, "view": view}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--build", default=str(PROJECT_ROOT / "build"))
    parser.add_argument("--threads", type=int, default=2)
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
    ckpt = build / "artifacts" / "03_train_top" / "top_model.pt"
    if ckpt.is_file():
        result = inference_throughput(ckpt, build / "artifacts" / "01_data_audit" / "manifest.csv",
                                      threads=args.threads)
        print(f"\nTop model CPU inference: {result['images_per_s']} images/s "
              f"(batch {result['batch_size']}, {result['threads']} threads, {result['images']} photos, "
              f"view {result['view']}, decoding included)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
