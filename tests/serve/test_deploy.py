"""When the deployed graphs (fashionkit.serve.deploy) are used and when they are exported again.

The graphs themselves are compared with the PyTorch models in ``test_chain.py``, on the smoke
chain's checkpoints; here only the manifest's rules, with stand-in files (no torch)."""

import json
import sys
import types

import pytest

from fashionkit.data.schema import heads
from fashionkit.serve import deploy, graphs


@pytest.fixture()
def exported(tmp_path):
    """A deploy folder whose manifest names two stand-in checkpoints, and those checkpoints."""
    checkpoints = {}
    for model in ("top", "bottom"):
        checkpoints[model] = tmp_path / f"{model}.pt"
        checkpoints[model].write_bytes(model.encode() * 100)
    folder = tmp_path / "deploy"
    folder.mkdir()
    view = {"name": "upper_body", "box": [0.18, 0.12, 0.82, 0.62], "flip": False, "size": [224, 192],
            "augment": None, "garment": None, "jitter": 0.0}
    manifest = {"format": graphs.FORMAT, "segmenters": {},
                "checkpoints": {m: {"path": str(p), "sha1": graphs.file_digest(p)} for m, p in checkpoints.items()},
                "models": {m: {"views": [view], "image_size": [390, 260], "data_config": {"mean": [0.5] * 3},
                               "heads": {h.key: list(h.names) for h in heads(m)}, "graphs": {"224x192": f"{m}.onnx"},
                               "split_hash": "abc", "segmenter": None,
                               "alone_views": [{**view, "name": "bottom_whole_frame", "box": None, "size": [256, 192]}]
                               if m == "bottom" else []} for m in checkpoints}}
    (folder / graphs.MANIFEST).write_text(json.dumps(manifest))
    for model in checkpoints:
        (folder / f"{model}.onnx").write_bytes(b"graph")
    return folder, checkpoints


def test_a_complete_export_of_the_same_checkpoints_is_used(exported):
    folder, checkpoints = exported
    deployed = deploy.load_deployment(folder, checkpoints)
    assert deployed.models["top"].views[0].box == (0.18, 0.12, 0.82, 0.62)  # a ViewSpec again, tuples and all
    assert deployed.models["bottom"].split_hash_ == "abc"
    assert deployed.models["bottom"].alone_views[0].size == (256, 192) and deployed.models["top"].alone_views == []


@pytest.mark.parametrize("change,reason", [
    (lambda folder, ckpt: ckpt["top"].write_bytes(b"retrained"), "changed since the export"),
    (lambda folder, ckpt: (folder / "bottom.onnx").unlink(), "graphs missing"),
    (lambda folder, ckpt: (folder / graphs.MANIFEST).write_text("{"), "no readable"),
    (lambda folder, ckpt: (folder / graphs.MANIFEST).write_text(json.dumps(
        {**json.loads((folder / graphs.MANIFEST).read_text()), "format": "fashionkit-deploy-0"})), "format"),
])
def test_a_missing_changed_or_older_export_is_stale(exported, change, reason):
    folder, checkpoints = exported
    change(folder, checkpoints)
    with pytest.raises(graphs.StaleDeployment, match=reason):
        deploy.load_deployment(folder, checkpoints)


def test_a_stale_export_is_exported_again_and_said_on_stderr(exported, monkeypatch):
    folder, checkpoints = exported
    checkpoints["top"].write_bytes(b"retrained")
    calls, said = [], []
    # the exporter (torch) as a stand-in module: deployment_for imports it only when it must export
    exporter = types.ModuleType("fashionkit.serve.export")
    exporter.export_deployment = lambda ckpt, out, log=None: calls.append(out)
    monkeypatch.setitem(sys.modules, "fashionkit.serve.export", exporter)
    monkeypatch.setattr(deploy, "load_deployment", lambda *a, **k: "deployed" if calls else
                        (_ for _ in ()).throw(graphs.StaleDeployment("the top checkpoint changed")))
    assert deploy.deployment_for(folder.parent, checkpoints, say=said.append) == "deployed"
    assert calls == [folder] and "torch" in said[0] and "changed" in said[0]


def test_a_photo_with_no_top_is_read_again_by_the_bottom_models_alone_views(exported, monkeypatch):
    """The reader's rule (schema.alone_in_photo): where the top model finds no top, the bottom model's
    answer comes from its alone views (here a graph of their own size), elsewhere from its usual views."""
    import numpy as np
    import pandas as pd
    from PIL import Image

    folder, checkpoints = exported
    manifest = json.loads((folder / graphs.MANIFEST).read_text())
    for spec in manifest["models"].values():
        spec["data_config"] = {"mean": [0.5] * 3, "std": [0.25] * 3}
    manifest["models"]["bottom"]["graphs"]["256x192"] = "bottom-alone.onnx"
    (folder / graphs.MANIFEST).write_text(json.dumps(manifest))
    (folder / "bottom-alone.onnx").write_bytes(b"graph")
    deployed = deploy.load_deployment(folder, checkpoints)
    top_says = {0: [0.1, 0.9], 1: [0.9, 0.1]}  # photo 0: no top (yes share 0.1); photo 1: a top

    def run(graph, x):  # stand-in graphs: every head answers by the graph that ran
        model = "top" if graph.startswith("top") else "bottom"
        out = []
        for head in heads(model):
            p = np.zeros((len(x), head.n_classes), dtype=np.float32)
            if head.key == "top_present":
                p[:] = [top_says[i] for i in range(len(x))]
            else:
                p[:, 1 if graph == "bottom-alone.onnx" else 0] = 1.0
            out.append(p)
        return out

    monkeypatch.setattr(deployed, "_run", run)
    monkeypatch.setattr(deployed, "_boxes", lambda images: {})
    images = [Image.new("RGB", (260, 390), c) for c in ("white", "grey")]
    answers = deployed._answer(images, ["a.jpg", "b.jpg"])
    bottom = answers["bottom"][0]["bottom_major"]
    assert bottom.argmax(axis=1).tolist() == [1, 0]  # photo 0 by the alone views, photo 1 as usual
    assert answers["top"][0]["top_type"].argmax(axis=1).tolist() == [0, 0]  # the top model is read once, as usual
    assert isinstance(answers["bottom"][1], pd.DataFrame)
