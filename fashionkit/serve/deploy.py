"""The deployed command line's reader: each trained model whole, and the garment segmenter, as ONNX graphs.

``python -m fashionkit predict`` must answer within seconds of being started and read a
batch of photos as fast as two CPU cores allow.  Importing the training code (torch, timm,
torchvision) alone takes about 6 s here, so the command line reads photos through graphs
exported once from the checkpoints, with ONNX Runtime, numpy, PIL and pandas only:

* ``<model>-<H>x<W>.onnx`` per model and view size: the whole attribute network (frozen
  trunk, upper blocks, heads) and each head's softmax, one graph, so no PyTorch runs
  between the trunk and the heads;
* ``segmenter-<n>.onnx``: each distinct segmenter's trunk, head and softmax, giving the group-share
  map that :func:`fashionkit.vision.garment_boxes.garment_boxes` turns into boxes;
* ``deploy.json``: everything the reader needs (:data:`fashionkit.serve.graphs.FORMAT`): per model its views (every
  :class:`~fashionkit.vision.crops.ViewSpec` field), image size, timm data config, heads and
  classes, split hash and segmenter; per segmenter its canvas, box rules, groups and
  normalisation; the SHA-1 of each checkpoint file the graphs came from.

:func:`fashionkit.serve.export.export_deployment` writes them (it needs torch; ``make all`` runs it after chapters
3 and 4: ``python -m fashionkit.serve.deploy``); :func:`load_deployment` checks that they are
complete and come from the checkpoints given (otherwise the command line exports again and
says so on stderr) and returns a :class:`Deployment`, whose :meth:`~Deployment.read` is
:func:`fashionkit.studies.inference.read_outfits` without torch: each photo decoded once, located
once by each distinct segmenter, cropped into each model's views (the same code,
:func:`fashionkit.vision.crops.prepare_array`), answered, the views' probabilities averaged.

Choices, measured on this 2-core CPU (tf_efficientnet_lite2; the machine was shared with
another ``make all`` most of the time, so costs are given as CPU time of one thread, which
other programs barely move, beside wall rates measured side by side):

* **Photo size fixed, batch free.**  The TF-"same" padding of timm's EfficientNets computes
  each stride-2 convolution's padding from the input's shape, which a graph with a dynamic
  size exports as Shape / Gather / Ceil / Pad nodes per convolution.  Each graph is exported
  at its one input size, folded by ONNX Runtime's basic (hardware-independent)
  optimisations into plain Conv / Clip / Add / Gemm nodes, and only then given a symbolic
  batch (a Resize whose folded output size held the batch gets scales instead; the graph
  is checked against PyTorch at another batch size before it is kept): 18.8 CPU-ms per top
  crop against 26.0 with a dynamic size and batch (at two threads, batch 32: 78 against
  60 crops/s).
* **Whole models.**  No PyTorch between the trunk and the heads: on 300 test photos, both
  models, 21.6 photos/s against 14.6 for the notebooks' path (trunk on ONNX Runtime, upper
  blocks and heads in PyTorch) and 4.0 for PyTorch alone (``make bench``, same conditions).
* **ONNX Runtime's full optimisation (its default, kept).**  Its blocked (NCHWc) layout
  makes the depthwise convolutions cheap: 19 CPU-ms per top crop against 62 with the
  extended level only.
* **Two workers, one thread each, batches of 16.**  Two batches are read at once by two
  threads, each session call on one core (ONNX Runtime and PIL release the GIL, so one
  batch's decoding and cropping overlap the other's network): 75 CPU-ms per photo and
  13.3 photos/s against 113 CPU-ms and 8.7 photos/s for one batch at a time on two
  threads (same load, interleaved runs).  Three workers, or batches of 8 or 32, gave no
  more.
* **Rejected: int8.**  Static int8 quantisation (QDQ and QOperator, per channel, 96
  calibration crops) of the top trunk ran 74-78 against 68 crops/s (this CPU has AVX2 but
  no VNNI) and agreed with the float answers on only 74-93 % of photos per head.

**The speed bound.**  A photo costs three network passes: the segmenter (12.8 CPU-ms), the top
crop (18.7) and the bottom crop (21.4), 53 CPU-ms, plus decoding (1.4), the segmenter's
canvas (2.5), two crops (5.7) and the boxes (0.4), about 63 CPU-ms (one thread, the best
of interleaved runs; the same runs vary by up to 25 % on the shared machine).  Two idle
cores shared perfectly would read about 32 photos/s.  Normalising each array channels
first (:func:`fashionkit.vision.crops.normalised_chw`, the same values bit for bit) took about
2 ms off the three arrays of a photo: 28.6 against 27.3 photos/s, three interleaved pairs
of runs on 300 test photos (67.5-69.0 against 67.8-74.2 CPU-ms per photo).

The rest needs fewer network FLOPs, and each way to that was measured and costs accuracy
beyond noise on validation (paired bootstrap, as chapters 3-4 judge levers):

* crops read at 192 x 160 (top) and 224 x 160 (bottom) instead of 224 x 192 and 256 x 192
  cost 33 % and 41 % less network time, but top type lost 6.6 points [-11.7, -1.5] and
  bottom length 4.2 [-8.4, -1.1] (``python -m fashionkit.studies.lever_study top --set
  view_size=[192,160]``, and ``bottom --set view_size=[224,160]``);
* the segmenter's canvas at 192 x 128 instead of 224 x 160 costs 4.2 CPU-ms less, but its
  boxes on the validation mask photos lost 2.1 [-4.0, -0.1] (top) and 5.0 [-8.3, -1.7]
  (bottom) points of IoU with the true garment's box (``python -m fashionkit.studies.lever_study
  segmenter --set canvas=[192,128]``).

So the models as trained read 25-29 photos/s on this machine (ten runs on 300 test photos,
one session), short of the aim of 30; a lighter trunk would have to earn its place in chapters 3-4 first.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd

from fashionkit.data.images import ImageProblem, load_image
from fashionkit.data.schema import heads, read_alone_again
from fashionkit.data.sources import PROJECT_ROOT
from fashionkit.serve.graphs import (
    BOX_COLUMNS,
    CHECKPOINTS,
    DEFAULT_ARTIFACTS,
    DEPLOY_DIR,
    FORMAT,
    MANIFEST,
    StaleDeployment,
    file_digest,
    size_key,
)
from fashionkit.vision.crops import ViewSpec, prepare_array, view_seed
from fashionkit.vision.garment_boxes import GROUP_NAMES, BoxRules, canvas_array, garment_boxes

# --------------------------------------------------------------------------- the reader (no torch)


def _session(path: Path, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = int(threads)
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


def _view(fields_: dict) -> ViewSpec:
    known = {f.name for f in fields(ViewSpec)}
    unknown = set(fields_) - known
    if unknown:
        raise StaleDeployment(f"views with fields this fashionkit does not know: {sorted(unknown)}")
    return ViewSpec(**{k: tuple(v) if isinstance(v, list) else v for k, v in fields_.items()})


@dataclass
class DeployedModel:
    """One model as deployed: its views, sizes, data config, heads and graphs (``sessions``)."""

    model: str
    views: list
    image_size: tuple
    data_config: dict
    heads: dict
    split_hash_: str
    segmenter: str | None
    alone_views: list = field(default_factory=list)  # views of a photo that shows this model's garment alone
    sessions: dict = field(default_factory=dict, repr=False)


class Deployment:
    """The deployed models and segmenters of one ``deploy/`` folder, ready to read photos.

    ``models``: ``{model: DeployedModel}`` (each with ``split_hash_``, as a loaded
    classifier has); :meth:`read` answers photo files.  ``threads``: CPU threads in all
    (default: the machine's cores); with ``workers`` > 1 each session call runs on
    ``threads // workers`` of them.
    """

    def __init__(self, folder, threads: int | None = None, workers: int = 2):
        folder = Path(folder)
        manifest = json.loads((folder / MANIFEST).read_text())
        self.folder, self.manifest = folder, manifest
        self.threads = int(threads or os.cpu_count() or 1)
        self.workers = max(1, min(int(workers), self.threads))
        self.call_threads = max(1, self.threads // self.workers)  # threads of one session call
        self.models = {m: DeployedModel(m, [_view(v) for v in spec["views"]], tuple(spec["image_size"]),
                                        spec["data_config"], spec["heads"], spec["split_hash"], spec["segmenter"],
                                        [_view(v) for v in spec["alone_views"]])
                       for m, spec in manifest["models"].items()}
        self.segmenters = manifest["segmenters"]
        self._sessions: dict = {}
        self._lock = threading.Lock()

    def open(self) -> "Deployment":
        """Start every graph's session now (about 0.1-0.3 s each) rather than on first use; returns self."""
        for graph in self._graphs():
            self._session(graph)
        return self

    def _graphs(self) -> list[str]:
        return ([g for spec in self.manifest["models"].values() for g in spec["graphs"].values()]
                + [spec["graph"] for spec in self.segmenters.values()])

    def _session(self, graph: str):
        with self._lock:  # two workers asking for a new graph at once start it once
            if graph not in self._sessions:  # ONNX Runtime's run may then be called from several threads at once
                self._sessions[graph] = _session(self.folder / graph, self.call_threads)
            return self._sessions[graph]

    def _run(self, graph: str, x: np.ndarray) -> list:
        return self._session(graph).run(None, {"x": x})

    def _boxes(self, images) -> dict:
        """``{segmenter: boxes}`` of decoded photos, one row per photo (GarmentSegmenter.boxes' columns)."""
        out = {}
        for name, spec in self.segmenters.items():
            canvas, rules = tuple(spec["canvas"]), BoxRules(**spec["rules"])
            x = np.stack([canvas_array(img, canvas, spec["mean"], spec["std"]) for img in images])
            shares = self._run(spec["graph"], x)[0]
            out[name] = pd.DataFrame([garment_boxes(s, img.size, canvas, rules) for img, s in zip(images, shares)],
                                     columns=BOX_COLUMNS)
        return out

    def _views(self, model: str, views, images, names, boxes) -> dict:
        """``model``'s probabilities of decoded photos read in ``views``, averaged."""
        dep = self.models[model]
        keys = list(dep.heads)
        per_view = []
        for spec in views:
            size = tuple(spec.size or dep.image_size)
            x = np.stack([prepare_array(img, spec, size, dep.data_config, view_seed(spec, n),
                                        boxes[spec.garment].iloc[j] if spec.garment else None)
                          for j, (img, n) in enumerate(zip(images, names))])
            per_view.append(dict(zip(keys, self._run(self.manifest["models"][model]["graphs"][size_key(size)], x))))
        return _average(per_view)

    def _answer(self, images, names) -> dict:
        """``{model: (probabilities, boxes)}`` of one batch of decoded photos.  A photo in which every other
        model finds no garment (:func:`fashionkit.data.schema.alone_in_photo`) is read again by a model's
        ``alone_views``, where it has some."""
        found = self._boxes(images)
        out = {}
        for model, dep in self.models.items():
            boxes = found[dep.segmenter] if dep.segmenter is not None else pd.DataFrame(index=range(len(images)))
            out[model] = (self._views(model, dep.views, images, names, boxes), boxes)
        again = read_alone_again(
            {m: probas for m, (probas, _) in out.items()}, {m: dep.alone_views for m, dep in self.models.items()},
            lambda m, rows: self._views(m, self.models[m].alone_views, [images[j] for j in rows],
                                        [names[j] for j in rows], out[m][1].iloc[rows].reset_index(drop=True)))
        return {m: (again[m], boxes) for m, (_, boxes) in out.items()}

    def read(self, paths, batch_size: int = 16, progress: bool = False, on_problem=None) -> tuple[list[str], dict]:
        """Every model's answers for photo files: :func:`fashionkit.studies.inference.read_outfits`'s result.

        Returns ``(paths answered, {model: (probabilities, boxes)})``; a file that cannot be
        read is skipped and its reason passed to ``on_problem``.  Batches of ``batch_size``
        photos go to ``workers`` threads at once (in order of the paths in the result).
        """
        from tqdm.auto import tqdm

        paths = [str(p) for p in paths]
        starts = list(range(0, len(paths), batch_size))

        def batch(start):
            images, names, problems = [], [], []
            for path in paths[start:start + batch_size]:
                try:
                    images.append(load_image(path))
                    names.append(path)
                except ImageProblem as problem:
                    problems.append(str(problem))
            return names, problems, (self._answer(images, names) if images else None)

        answered, parts = [], {m: [] for m in self.models}
        with ThreadPoolExecutor(self.workers) as pool, \
                tqdm(total=len(starts), desc="photos", unit="batch", disable=not progress) as bar:
            for names, problems, answers in pool.map(batch, starts):  # `workers` batches at a time, results in order
                bar.update()
                for problem in problems:
                    if on_problem is not None:
                        on_problem(problem)
                if answers is None:
                    continue
                answered.extend(names)
                for model, part in answers.items():
                    parts[model].append(part)
        return answered, {m: _joined(parts[m], self.models[m]) for m in self.models}


def _average(per_view: list) -> dict:
    """The views' probabilities averaged and renormalised (:func:`fashionkit.metrics.comparison.average_views`'s rule)."""
    out = {}
    for key in per_view[0]:
        mean = np.mean([np.asarray(p[key], dtype=float) for p in per_view], axis=0)
        out[key] = mean / mean.sum(axis=1, keepdims=True)
    return out


def _joined(parts: list, dep: DeployedModel) -> tuple[dict, pd.DataFrame]:
    if not parts:
        return {k: np.zeros((0, len(c)), dtype=np.float32) for k, c in dep.heads.items()}, pd.DataFrame()
    return ({k: np.concatenate([p[0][k] for p in parts]) for k in parts[0][0]},
            pd.concat([p[1] for p in parts], ignore_index=True))


def end_to_end(deployed, paths, batch_size: int = 16) -> dict:
    """Photos/s of the command line's reader (:meth:`fashionkit.serve.deploy.Deployment.read`), after a
    warm-up of two batches (sessions, first calls); :func:`fashionkit.studies.inference.end_to_end`'s keys
    and ``cpu_ms_per_photo``, the process's CPU time per photo (what the rate would be on idle
    cores, when other programs share the machine: ``cores / cpu_ms_per_photo``)."""
    import time

    deployed.open().read(paths[:2 * batch_size], batch_size=batch_size)
    start, cpu = time.perf_counter(), time.process_time()
    answered, answers = deployed.read(paths, batch_size=batch_size)
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    return {"engine": f"deployed ONNX graphs, {deployed.workers} workers x {deployed.call_threads} threads",
            "photos": len(answered), "seconds": round(seconds, 1),
            "photos_per_s": round(len(answered) / seconds, 1), "answers": answers,
            "cpu_ms_per_photo": round(1000 * cpu / max(1, len(answered)), 1)}


def startup_seconds(photo: Path, artifacts: Path, repeats: int = 3) -> float:
    """Wall seconds from process start to the first answer: ``python -m fashionkit predict PHOTO``,
    warm (the median of ``repeats`` runs after an untimed one, which exports the graphs if they
    are missing and brings the files into the page cache)."""
    import subprocess
    import sys
    import time

    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    runs = []
    for _ in range(1 + max(1, repeats)):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "fashionkit", "--artifacts", str(Path(artifacts).resolve()), "predict",
                        str(Path(photo).resolve())],
                       env=env, cwd=PROJECT_ROOT, capture_output=True, check=True)
        runs.append(time.perf_counter() - start)
    return float(np.median(runs[1:]))


# --------------------------------------------------------------------------- finding it


def load_deployment(folder, checkpoints: dict, **kw) -> Deployment:
    """The :class:`Deployment` in ``folder`` if it is complete and exported from exactly
    ``checkpoints`` (``{model: path}``, compared by SHA-1); raises :class:`StaleDeployment` otherwise."""

    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError) as exc:
        raise StaleDeployment(f"no readable {MANIFEST} in {folder} ({exc})") from None
    if manifest.get("format") != FORMAT:
        raise StaleDeployment(f"format {manifest.get('format')!r}, not {FORMAT!r}")
    stored = manifest.get("checkpoints", {})
    if set(stored) != set(checkpoints):
        raise StaleDeployment(f"exported for models {sorted(stored)}, not {sorted(checkpoints)}")
    for model, path in checkpoints.items():
        if stored[model]["sha1"] != file_digest(path):
            raise StaleDeployment(f"the {model} checkpoint {path} changed since the export")
        if manifest["models"][model]["heads"] != {h.key: list(h.names) for h in heads(model)}:
            raise StaleDeployment(f"the {model} model's heads differ from the schema's")
    for name, spec in manifest.get("segmenters", {}).items():
        if spec["groups"] != list(GROUP_NAMES):
            raise StaleDeployment(f"{name} was exported for other garment groups than fashionkit.vision.garment_boxes'")
    graphs = [g for spec in manifest["models"].values() for g in spec["graphs"].values()]
    graphs += [spec["graph"] for spec in manifest["segmenters"].values()]
    missing = [g for g in graphs if not (folder / g).is_file()]
    if missing:
        raise StaleDeployment(f"graphs missing: {', '.join(missing)}")
    return Deployment(folder, **kw)


def deployment_for(artifacts, checkpoints: dict, say=None, **kw) -> Deployment:
    """The deployed models of ``checkpoints``, from ``<artifacts>/deploy``; exported there first
    (torch; ``say`` is told why, one line) when missing or stale.  Where that folder cannot
    be written, the graphs go to ``$FASHIONKIT_CACHE/deploy/<digest>`` (or ``~/.cache/fashionkit``)."""
    folder = Path(artifacts) / DEPLOY_DIR
    try:
        return load_deployment(folder, checkpoints, **kw)
    except StaleDeployment as why:
        reason = str(why)
    from fashionkit.serve.export import export_deployment  # torch: only when the graphs are missing or stale

    say = say or (lambda line: print(line, file=sys.stderr))
    say(f"exporting the models for fast reading into {folder} ({reason}); this needs torch and takes "
        "about half a minute, once")
    try:
        export_deployment(checkpoints, folder)
    except OSError:  # read-only artifacts (a shared build): export into the user's cache instead
        digest = hashlib.sha1("".join(file_digest(p) for p in checkpoints.values()).encode()).hexdigest()[:16]
        root = os.environ.get("FASHIONKIT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fashionkit"
        folder = Path(root) / DEPLOY_DIR / digest
        say(f"{Path(artifacts) / DEPLOY_DIR} is not writable: the graphs go to {folder}")
        try:
            return load_deployment(folder, checkpoints, **kw)
        except StaleDeployment:
            export_deployment(checkpoints, folder)
    return load_deployment(folder, checkpoints, **kw)


def main(argv=None) -> int:
    """``python -m fashionkit.serve.deploy [--artifacts DIR]``: export the deployed graphs of a ``make all`` run."""
    import argparse

    parser = argparse.ArgumentParser(description=main.__doc__.split(":")[0].strip("`"))
    parser.add_argument("--artifacts", default=str(DEFAULT_ARTIFACTS))
    args = parser.parse_args(argv)
    checkpoints = {m: Path(args.artifacts) / p for m, p in CHECKPOINTS.items()}
    try:
        load_deployment(Path(args.artifacts) / DEPLOY_DIR, checkpoints)
        print(f"{Path(args.artifacts) / DEPLOY_DIR}: up to date")
    except StaleDeployment as why:
        print(f"exporting into {Path(args.artifacts) / DEPLOY_DIR} ({why})")
        from fashionkit.serve.export import export_deployment  # torch: only when the graphs are stale

        export_deployment(checkpoints, Path(args.artifacts) / DEPLOY_DIR, log=lambda line: print("  " + line))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
