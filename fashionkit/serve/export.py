"""Export each trained model whole, and the garment segmenter, as ONNX graphs (needs torch).

``python -m fashionkit.serve.deploy --artifacts build/artifacts`` runs it (``make all`` does after chapters 3
and 4); the choices and their measurements are in :mod:`fashionkit.serve.deploy`.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from fashionkit.serve.graphs import FORMAT, MANIFEST, file_digest, size_key
from fashionkit.training.classifier import load_checkpoint
from fashionkit.vision.crops import view_spec
from fashionkit.vision.garment_boxes import GROUP_NAMES
from fashionkit.vision.localise import same_segmenter


def _export_graph(module, shape: tuple[int, ...], outputs: list[str], path: Path) -> None:
    """``module`` as an ONNX graph for inputs ``(batch, *shape)``: exported at batch 1 with the
    size fixed, folded (ONNX Runtime's basic optimisations: the TF-"same" padding's shape
    arithmetic becomes constants), then given a symbolic batch."""
    import io
    import tempfile
    import warnings

    import onnx
    import onnxruntime as ort
    import torch

    buffer = io.BytesIO()
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(module.eval(), (torch.zeros((1, *shape)),), buffer, input_names=["x"],
                          output_names=outputs, opset_version=17, do_constant_folding=True, dynamo=False)
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        options.optimized_model_filepath = str(Path(tmp) / "folded.onnx")
        options.log_severity_level = 3
        ort.InferenceSession(buffer.getvalue(), options, providers=["CPUExecutionProvider"])
        graph = onnx.load(options.optimized_model_filepath)
    _free_batch(graph)
    onnx.checker.check_model(graph)
    _check_graph(graph.SerializeToString(), module, shape, outputs)
    partial = path.with_suffix(f".{os.getpid()}.partial")
    partial.write_bytes(graph.SerializeToString())
    partial.replace(path)


def _free_batch(graph) -> None:
    """Give a graph folded at batch 1 a symbolic batch.  Inputs and outputs get a ``batch``
    dimension; a Resize whose output size was folded into a constant (batch 1 included: the
    segmenter head's upsampling) gets the equivalent per-axis scales instead."""
    from onnx import numpy_helper, shape_inference

    inferred = shape_inference.infer_shapes(graph)
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    constants = {t.name: t for t in graph.graph.initializer}
    for node in graph.graph.node:
        if node.op_type == "Resize" and len(node.input) == 4 and node.input[3] in constants:
            sizes = numpy_helper.to_array(constants[node.input[3]])
            source = shapes[node.input[0]]
            scales = np.array([1.0, 1.0, *(o / i for o, i in zip(sizes[2:], source[2:]))], dtype=np.float32)
            name = f"{node.name or node.output[0]}_scales"
            graph.graph.initializer.append(numpy_helper.from_array(scales, name))
            graph.graph.initializer.remove(constants[node.input[3]])
            node.input[2], node.input[3] = name, ""
            del node.input[3]
    for value in list(graph.graph.input) + list(graph.graph.output):
        dim = value.type.tensor_type.shape.dim[0]
        dim.ClearField("dim_value")
        dim.dim_param = "batch"
    del graph.graph.value_info[:]  # shapes inferred at batch 1; ONNX Runtime infers them again


def _check_graph(data: bytes, module, shape: tuple[int, ...], outputs: list[str], batch: int = 3) -> None:
    """Refuse a graph whose outputs at another batch size differ from the module's (beyond 1e-4)."""
    import onnxruntime as ort
    import torch

    x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (batch, *shape)).astype(np.float32))
    with torch.no_grad():
        want = module(x)
    want = want if isinstance(want, tuple) else (want,)
    got = ort.InferenceSession(data, providers=["CPUExecutionProvider"]).run(None, {"x": x.numpy()})
    for name, a, b in zip(outputs, got, want):
        if a.shape != tuple(b.shape) or float(np.abs(a - b.numpy()).max()) > 1e-4:
            raise RuntimeError(f"the exported graph's {name} differs from PyTorch's at batch {batch}")


def _probabilities(net, keys):
    """An attribute network returning each head's softmax, in ``keys`` order."""
    from torch import nn

    class Probabilities(nn.Module):
        def __init__(self):
            super().__init__()
            self.net = net

        def forward(self, x):
            out = self.net(x)
            return tuple(out[k].softmax(dim=1) for k in keys)

    return Probabilities()


def _shares(seg):
    """A fitted :class:`~fashionkit.vision.localise.GarmentSegmenter` as one module: photo canvas -> group shares."""
    from torch import nn

    class Shares(nn.Module):
        def __init__(self):
            super().__init__()
            self.trunk, self.head = seg.trunk_, seg.head_

        def forward(self, x):
            return self.head(*self.trunk(x)).softmax(dim=1)

    return Shares()


def _plain(value):
    """JSON-ready: tuples as lists, recursively."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_plain(v) for v in value]
    return value


def export_deployment(checkpoints: dict, out_dir, log=None) -> Path:
    """Write the deployed graphs and ``deploy.json`` of ``checkpoints`` (``{model: path}``) to ``out_dir``.

    Needs torch (the checkpoints are loaded with :func:`fashionkit.training.classifier.load_checkpoint`).
    A model reads its views at the sizes stored with it (``extra_["views"]``,
    ``extra_["image_size"]``), one graph per distinct size; models that carry the same
    segmenter (:func:`fashionkit.vision.localise.same_segmenter`) share one segmenter graph.
    Returns the manifest's path.  ``log``: a callable given one line per graph.
    """
    import torch


    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / MANIFEST).unlink(missing_ok=True)  # the old graphs are about to be replaced: no reader may trust them
    say = log or (lambda line: None)
    clfs = {m: load_checkpoint(Path(p)) for m, p in checkpoints.items()}
    segmenters: list = []
    manifest = {"format": FORMAT, "torch": torch.__version__, "models": {}, "segmenters": {},
                "checkpoints": {m: {"path": str(Path(p).resolve()), "sha1": file_digest(p)}
                                for m, p in checkpoints.items()}}
    for model, clf in clfs.items():
        specs = [view_spec(v) for v in clf.extra_["views"]]
        alone = [view_spec(v) for v in clf.extra_.get("alone_views", [])]
        image_size = [int(s) for s in clf.extra_["image_size"]]
        keys = list(clf.net_.heads)
        graphs = {}
        for size in sorted({tuple(s.size or image_size) for s in specs + alone}):
            name = f"{model}-{size_key(size)}.onnx"
            say(f"{name}: the {model} model whole (trunk, upper blocks, heads, softmax) at {size[0]}x{size[1]}")
            _export_graph(_probabilities(clf.net_.eval(), keys), (3, *size), [f"p_{k}" for k in keys], out / name)
            graphs[size_key(size)] = name
        seg_name = None
        seg = getattr(clf, "segmenter_", None)
        if seg is not None:
            match = next((i for i, s in enumerate(segmenters) if same_segmenter(s, seg)), None)
            if match is None:
                segmenters.append(seg)
                match = len(segmenters) - 1
                seg_name = f"segmenter-{match}"
                say(f"{seg_name}.onnx: the garment segmenter (trunk, head, softmax) at "
                    f"{seg.canvas[0]}x{seg.canvas[1]}")
                _export_graph(_shares(seg), (3, *seg.canvas), ["shares"], out / f"{seg_name}.onnx")
                manifest["segmenters"][seg_name] = {
                    "graph": f"{seg_name}.onnx", "canvas": list(seg.canvas), "rules": vars(seg.rules),
                    "groups": list(GROUP_NAMES), "mean": list(seg.trunk_.data_config["mean"]),
                    "std": list(seg.trunk_.data_config["std"])}
            seg_name = f"segmenter-{match}"
        manifest["models"][model] = {
            "views": [_plain(asdict(s)) for s in specs], "alone_views": [_plain(asdict(s)) for s in alone],
            "image_size": image_size,
            "data_config": _plain(dict(clf.net_.data_config)),
            "heads": {k: list(clf.classes_[k]) for k in keys}, "graphs": graphs,
            "split_hash": clf.split_hash_, "segmenter": seg_name}
    partial = out / f"{MANIFEST}.{os.getpid()}.partial"  # written last and whole: a reader sees all or nothing
    partial.write_text(json.dumps(manifest, indent=1))
    partial.replace(out / MANIFEST)
    return out / MANIFEST
