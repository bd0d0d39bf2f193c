"""Shared fixtures: the prepared data beside the project (``../shared/data``) when present."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Notebook kernels started by the tests import fashionkit from this checkout, as under make.
os.environ["PYTHONPATH"] = os.pathsep.join(
    p for p in (str(Path(__file__).resolve().parents[1]), os.environ.get("PYTHONPATH")) if p)

PROJECT = Path(__file__).resolve().parents[1]
SHARED_DATA = PROJECT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not (SHARED_DATA / "ccp" / "annotations.csv").is_file():
        pytest.skip(f"prepared data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture()
def photo(shared_data):
    """A real street photo (CCP 0005)."""
    return shared_data / "ccp" / "images" / "0005.jpg"


@pytest.fixture()
def corrupt(tmp_path):
    """A file named like a photo that is not one (a JPEG header, then text)."""
    path = tmp_path / "holiday.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a photo" * 4)
    return path


@pytest.fixture(scope="session")
def smoke_chain(tmp_path_factory, shared_data) -> Path:
    """Every notebook run in order on the tiny profile of ``tests/smoke_params.yaml``, as
    under make (each reads what the ones before it wrote); returns the artifacts folder
    (``<folder>/<notebook>/...``, executed copies beside them).  Run once per session: the
    tests of ``test_chain.py`` read it.

    One kernel runs the whole chain, to pay the imports (torch, timm, numba ...) once
    instead of seven times (about 40 s of a ~3 min chain).  Before each notebook its
    namespace is emptied (``%reset -f``), figures closed and matplotlib's settings
    restored, so a notebook that used a name only an earlier one defines still fails;
    what survives is module state (imported modules and their caches).  ``make all``
    keeps one kernel per notebook."""
    import nbformat
    import papermill as pm
    import yaml
    from jupyter_client.manager import KernelManager

    smoke = yaml.safe_load((PROJECT / "tests" / "smoke_params.yaml").read_text())
    tmp = tmp_path_factory.mktemp("chain")
    fresh = nbformat.v4.new_code_cell(
        "get_ipython().run_line_magic('reset', '-f')\n"
        "import matplotlib, matplotlib.pyplot\n"
        "matplotlib.pyplot.close('all')\n"
        "matplotlib.rcdefaults()\n"
        "matplotlib.use('module://matplotlib_inline.backend_inline')")
    km = KernelManager(kernel_name="python3")  # started by the first notebook, kept for the rest
    try:
        for nb in sorted((PROJECT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
            params = yaml.safe_load((PROJECT / "params" / f"{nb.stem}.yaml").read_text()) or {}
            for key, value in smoke[nb.stem].items():
                params[key] = (value.format(tmp=tmp) if isinstance(value, str)
                               else [v.format(tmp=tmp) if isinstance(v, str) else v for v in value]
                               if isinstance(value, list) else value)
            params["artifacts_dir"] = str(tmp / nb.stem)
            node = nbformat.read(nb, as_version=4)
            node.cells.insert(0, fresh)
            pm.execute_notebook(node, str(tmp / nb.name), parameters=params, cwd=str(PROJECT / "notebooks"),
                                kernel_name="python3", progress_bar=False, km=km)
    finally:
        if km.has_kernel:
            km.shutdown_kernel(now=True)
    return tmp
