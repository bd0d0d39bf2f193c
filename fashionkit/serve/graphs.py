"""The deployed folder's format: file names, the format tag, the checkpoints it comes from and their digests.

Shared by the exporter (:mod:`fashionkit.serve.export`, torch) and the reader (:mod:`fashionkit.serve.deploy`, no torch).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from fashionkit.data.sources import PROJECT_ROOT

FORMAT = "fashionkit-deploy-2"  # bump when the graphs or the JSON change meaning: older exports become stale
DEPLOY_DIR = "deploy"           # under the artifacts folder
MANIFEST = "deploy.json"
DEFAULT_ARTIFACTS = PROJECT_ROOT / "build" / "artifacts"


# the checkpoints chapters 3 and 4 write, under the artifacts folder
CHECKPOINTS = {"top": Path("03_train_top") / "top_model.pt", "bottom": Path("04_train_bottom") / "bottom_model.pt"}
BOX_COLUMNS = ["top", "top_source", "bottom", "bottom_source", "person", "note"]  # GarmentSegmenter.boxes


class StaleDeployment(Exception):
    """The deployed graphs are missing, incomplete, of an older format or from other checkpoints."""


def file_digest(path) -> str:
    """SHA-1 of a file's bytes (a checkpoint of 20 MB takes about 30 ms)."""
    h = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def size_key(size) -> str:
    return f"{int(size[0])}x{int(size[1])}"
