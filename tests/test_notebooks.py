"""Notebooks are stored clean, and the whole chain runs end to end on the tiny smoke profile."""

import json

import pytest
import yaml

from fashionkit.data.sources import PROJECT_ROOT

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
