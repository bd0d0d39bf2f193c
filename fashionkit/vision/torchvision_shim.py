"""Make ``import torchvision`` (and so ``import timm``) work next to a CPU-only torch.

The PyPI torchvision wheel is a CUDA build: its ``_C`` extension needs ``libc10_cuda.so``,
which a CPU torch does not ship, so it fails to load.  torchvision then imports on without
its C++ ops, except that ``torchvision/_meta_registrations.py`` calls
``torch.library.register_fake("torchvision::nms")`` (and ``qnms``) unconditionally, which
raises ``RuntimeError: operator torchvision::nms does not exist`` and breaks the import.

:func:`ensure_torchvision` defines just those two op *schemas* (no kernels), and only
when torchvision's own extension cannot be loaded.  torchvision then imports; its
detection ops (``torchvision.ops.nms`` ...) still raise torchvision's own "Couldn't load
custom C++ ops" error, which fashionkit never calls (timm does not need them).  Where
torchvision works, the function changes nothing and returns False.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import logging
import sys
from pathlib import Path

__all__ = ["ensure_torchvision", "shim_before_torchvision"]

log = logging.getLogger(__name__)

# Schemas exactly as torchvision's C++ extension defines them (torchvision/csrc/ops/nms.cpp).
_SCHEMAS = {
    "nms": "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms": "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
}

# The torch.library.Library holding the registrations; it must stay alive (a Library
# deregisters its definitions when garbage-collected).  None while the shim is inactive.
_LIB = None


def _has_op(name: str) -> bool:
    import torch

    return hasattr(torch.ops.torchvision, name)


def _load_own_extension() -> bool:
    """Load torchvision's ``_C`` extension the way torchvision does; True if it loads."""
    import torch

    spec = importlib.util.find_spec("torchvision")  # locates the package, does not import it
    for folder in (spec.submodule_search_locations or []) if spec else []:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = Path(folder) / f"_C{suffix}"
            if path.is_file():
                try:
                    torch.ops.load_library(str(path))
                    return True
                except (ImportError, OSError):
                    return False
    return False


def ensure_torchvision() -> bool:
    """Register ``torchvision::nms``/``qnms`` schemas if torchvision's extension fails to load.

    Returns True if it registered them, False if nothing was needed (the ops exist, the
    extension loads, torchvision is not installed, or an earlier call already did it).
    """
    global _LIB
    if importlib.util.find_spec("torchvision") is None:
        return False
    missing = [name for name in _SCHEMAS if not _has_op(name)]
    if not missing:
        return False
    if _load_own_extension():
        return False  # torchvision's own extension loaded: it defines what it needs itself

    import torch

    lib = torch.library.Library("torchvision", "FRAGMENT")
    for name in missing:
        lib.define(_SCHEMAS[name])
    _LIB = lib
    log.info("torchvision C++ extension unavailable; registered op schemas %s", missing)
    return True


class _BeforeTorchvision:
    """A meta-path entry that applies :func:`ensure_torchvision` just before the first
    ``import torchvision`` (by timm or anyone) and then steps aside: it finds nothing
    itself, so the normal import goes on.  ``import fashionkit`` thus stays free of torch
    (the command line answers ``--help`` or a bad photo without loading it)."""

    @staticmethod
    def find_spec(name, path=None, target=None):
        if name == "torchvision":
            sys.meta_path[:] = [f for f in sys.meta_path if f is not _BeforeTorchvision]
            ensure_torchvision()
        return None


def shim_before_torchvision() -> None:
    """Arrange for :func:`ensure_torchvision` to run before torchvision is first imported
    (at once if it already is)."""
    if "torchvision" in sys.modules:
        ensure_torchvision()
    elif _BeforeTorchvision not in sys.meta_path:
        sys.meta_path.insert(0, _BeforeTorchvision)
