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
