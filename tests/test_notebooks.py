"""Notebooks are stored clean, and the whole chain runs end to end on the tiny smoke profile."""

import json

import pytest
import yaml

from fashionkit.data import PROJECT_ROOT

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
SMOKE = yaml.safe_load((PROJECT_ROOT / "tests" / "smoke_params.yaml").read_text())


def test_every_notebook_has_params_and_a_smoke_profile():
    assert NOTEBOOKS, "no notebooks found"
    for nb in NOTEBOOKS:
        assert (PROJECT_ROOT / "params" / f"{nb.stem}.yaml").is_file(), nb.stem
        assert nb.stem in SMOKE, f"{nb.stem} lacks a smoke profile in tests/smoke_params.yaml"


@pytest.mark.parametrize("nb", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_stored_without_outputs(nb):
    cells = json.loads(nb.read_text())["cells"]
    code = [c for c in cells if c["cell_type"] == "code"]
    assert not any(c.get("outputs") or c.get("execution_count") for c in code)
    tagged = [c for c in code if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1, "exactly one cell tagged 'parameters'"
    params = yaml.safe_load((PROJECT_ROOT / "params" / f"{nb.stem}.yaml").read_text()) or {}
    source = "".join(tagged[0]["source"])
    for key in params:
        assert f"{key} =" in source, f"params key {key!r} has no default in the parameters cell"


def test_the_notebook_chain_runs_on_the_smoke_profile(smoke_chain):
    """01 -> 02 -> ... -> 07 (the ``smoke_chain`` fixture): each writes its artifacts."""
    for nb in NOTEBOOKS:
        assert (smoke_chain / nb.name).is_file(), f"{nb.stem} was not executed"
        assert any((smoke_chain / nb.stem).iterdir()), f"{nb.stem} wrote no artifacts"


@pytest.mark.parametrize("stem,model", [("03_train_top", "top"), ("04_train_bottom", "bottom")])
def test_each_trained_model_saw_exactly_its_params_views(smoke_chain, stem, model):
    """The kept model trains on ``views``, the reference on ``reference_views``; the levers' extra
    views are cached beside them but must not leak into either."""
    from fashionkit.train import load_checkpoint

    params = yaml.safe_load((PROJECT_ROOT / "params" / f"{stem}.yaml").read_text())
    kept = load_checkpoint(smoke_chain / stem / f"{model}_model.pt")
    reference = load_checkpoint(smoke_chain / stem / f"{model}_model_fixed.pt")
    assert kept.extra_["trained_views"] == params["views"]
    assert reference.extra_["trained_views"] == params["reference_views"]
    lever_views = {v for change in params["levers"].values() for v in change.get("views", [])}
    assert lever_views - set(params["views"]), "the lever adds a view; otherwise this test proves nothing"
