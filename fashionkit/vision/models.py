"""Multi-head attribute models over a timm EfficientNet, split for CPU training.

:func:`create_model` is a timm-style factory: a backbone name, the schema heads of one
model (``schema.heads("top")`` or ``schema.heads("bottom")``), whether to load the
ImageNet weights, and how many of the backbone's last stages to train.  It returns an
:class:`AttributeNet` whose ``frozen`` half turns photos into the maps that
:func:`fashionkit.vision.features.extract_features` caches, and whose ``upper`` half plus one
linear softmax head per attribute is what the CPU profile trains.

Missing labels are the rule, not the exception (CAD has no top type for sweaters, CCP
no pattern at all ...): targets carry ``-1`` where a photo has no label for a head, and
:func:`masked_cross_entropy` leaves those rows out.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from fashionkit.data import schema
from fashionkit.vision.backbones import BUNDLED_DEFAULT, create_backbone
from fashionkit.vision.features import FrozenTrunk, UpperTrunk, split_backbone

__all__ = ["MISSING", "AttributeNet", "create_model", "masked_cross_entropy", "encode_targets"]

MISSING = -1  # target value of a missing label


class AttributeNet(nn.Module):
    """``frozen`` trunk -> ``upper`` trunk (pooled features) -> one Linear head per attribute.

    ``forward(images)`` and ``forward_features(maps)`` both return ``{head_key: logits}``;
    ``maps`` are ``frozen(images)``, e.g. rows of a feature cache.  ``head_specs`` keeps
    the schema heads (class order = ``Head.names``); ``data_config`` the timm data
    config of the backbone.
    """

    def __init__(self, frozen: FrozenTrunk, upper: UpperTrunk, heads: Sequence[schema.Head],
                 drop_rate: float = 0.0):
        super().__init__()
        heads = tuple(heads)
        if not heads:
            raise ValueError("an AttributeNet needs at least one head")
        empty = [h.key for h in heads if not h.has_data]
        if empty:
            raise ValueError(f"heads without classes cannot be trained: {', '.join(empty)}")
        self.frozen = frozen
        self.upper = upper
        self.head_specs = heads
        self.dropout = nn.Dropout(drop_rate)
        self.heads = nn.ModuleDict({h.key: nn.Linear(upper.num_features, h.n_classes) for h in heads})
        self.data_config = dict(getattr(frozen, "data_config", {}))

    @property
    def num_features(self) -> int:
        return self.upper.num_features

    def embed(self, maps: torch.Tensor) -> torch.Tensor:
        """Pooled features ``(B, num_features)`` of cached maps."""
        return self.upper(maps)

    def forward_head(self, pooled: torch.Tensor) -> dict[str, torch.Tensor]:
        pooled = self.dropout(pooled)
        return {key: head(pooled) for key, head in self.heads.items()}

    def forward_features(self, maps: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per head from frozen-trunk maps (the training path of the CPU profile)."""
        return self.forward_head(self.upper(maps.float()))

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """Logits per head from normalised images ``(B, 3, H, W)``."""
        return self.forward_features(self.frozen(images))

    def trainable_parameters(self):
        return [p for p in self.parameters() if p.requires_grad]


def create_model(
    backbone: str = BUNDLED_DEFAULT,
    heads: Sequence[schema.Head] | None = None,
    pretrained: bool = True,
    trainable_blocks: int = 1,
    drop_rate: float = 0.0,
    cut_pool: bool = False,
    **backbone_kw,
) -> AttributeNet:
    """An :class:`AttributeNet` over ``backbone`` for ``heads`` (default ``schema.heads("top")``).

    ``pretrained=True`` loads the bundled ImageNet weights offline for
    ``tf_efficientnet_lite0/1/2`` (:func:`fashionkit.vision.backbones.create_backbone`).
    ``trainable_blocks``: how many of the last backbone blocks are trained (see
    :func:`fashionkit.vision.features.split_backbone`); the stages before them are frozen.
    ``drop_rate``: dropout on the pooled features before the heads.  ``cut_pool``: the heads
    also read the pooled map at the cut (features from two depths).  ``backbone_kw`` pass
    through to ``timm.create_model`` (e.g. ``drop_path_rate``).
    """
    heads = schema.heads("top") if heads is None else tuple(heads)
    model = create_backbone(backbone, pretrained=pretrained, **backbone_kw)
    frozen, upper = split_backbone(model, trainable_blocks, cut_pool=cut_pool)
    net = AttributeNet(frozen, upper, heads, drop_rate=drop_rate)
    net.backbone_name = backbone
    net.trainable_blocks = int(trainable_blocks)
    net.pretrained_cfg = dict(getattr(model, "pretrained_cfg", {}) or {})
    return net


def masked_cross_entropy(
    logits: Mapping[str, torch.Tensor],
    targets: Mapping[str, torch.Tensor],
    label_smoothing: float = 0.0,
    class_weights: Mapping[str, torch.Tensor] | None = None,
    denominators: Mapping[str, float] | None = None,
    scale: float = 1.0,
) -> torch.Tensor:
    """Sum over heads of the mean cross-entropy over that head's labelled rows.

    ``targets[key]`` is a LongTensor with :data:`MISSING` (-1) where the label is missing.
    A head with no labelled row in the batch contributes exactly 0 (and zero gradient).
    With ``class_weights[key]`` the mean is weighted (``F.cross_entropy`` semantics).
    ``denominators[key]`` replaces what each head's summed loss is divided by (its labelled
    rows, or their class weights), and the result is multiplied by ``scale``: a process that
    holds part of a larger batch computes its share of that batch's loss this way
    (:func:`fashionkit.training.finetune._shard_loss`).
    """
    total = None
    for key, out in logits.items():
        target = targets[key]
        labelled = target >= 0
        if bool(labelled.any()):
            weight = None if class_weights is None else class_weights.get(key)
            if denominators is None:
                loss = F.cross_entropy(out[labelled], target[labelled], weight=weight,
                                       label_smoothing=label_smoothing)
            else:
                loss = F.cross_entropy(out[labelled], target[labelled], weight=weight,
                                       label_smoothing=label_smoothing, reduction="sum") / denominators[key]
            loss = loss * scale
        else:
            loss = out.sum() * 0.0  # keeps the graph; gradient exactly zero
        total = loss if total is None else total + loss
    if total is None:
        raise ValueError("no heads in logits")
    return total


def encode_targets(frame: pd.DataFrame, heads: Sequence[schema.Head]) -> dict[str, torch.Tensor]:
    """Manifest label columns -> ``{head_key: LongTensor}`` of class indices, -1 = missing."""
    out = {}
    for head in heads:
        column = frame[head.key].astype("string")
        codes = [MISSING if pd.isna(v) else head.index(v) for v in column]
        out[head.key] = torch.tensor(codes, dtype=torch.long)
    return out
