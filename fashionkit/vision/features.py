"""Cached intermediate feature maps: the CPU training profile's frozen half.

On two CPU cores a full fine-tune of an EfficientNet is too slow, so the backbone is cut
in two (:func:`split_backbone`):

* ``frozen`` -- ``conv_stem, bn1`` and the blocks before the cut: ImageNet weights, kept in eval mode,
  run **once** over every photo and every cached *view* (:func:`extract_features`); its
  output maps are stored as float16 arrays on disk.
* ``upper`` -- the last ``trainable_blocks`` blocks, ``conv_head, bn2, global_pool``: trained on the cached maps
  together with the attribute heads (:mod:`fashionkit.vision.models`).

A *view* is data (:class:`ViewSpec`): an optional relative crop box, an optional
horizontal flip, an optional output size.  Views and the crop itself live in the torch-free
:mod:`fashionkit.vision.crops` (so the deployed command line crops without torch).  The whole photo keeps its 2:3 portrait
aspect (a square centre crop cuts off the head and the feet); photos of another aspect
are padded with the normalisation mean (grey) to the target aspect, never stretched.
Normalisation (mean, std, interpolation) comes from the model's timm data config.

Cache layout (``cache_path`` is a directory)::

    meta.json          paths, views, image size, data config, trunk description, shapes
    <view>.npy         float16 (n_photos, C, h, w), row i = paths[i]

A view whose ``.npy`` is complete and whose meta matches is reused, not recomputed, so
an interrupted extraction restarts only the unfinished views.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from PIL import Image
from torch import nn
from tqdm import tqdm

from fashionkit.data.images import load_image
from fashionkit.vision import distributed
from fashionkit.vision.backbones import data_config
from fashionkit.vision.crops import DEFAULT_VIEWS, ViewSpec, prepare_array, view_seed
from fashionkit.vision.garment_boxes import GARMENTS
from fashionkit.vision.localise import garment_cutout
from fashionkit.vision.runtime import resolve_engine, runner

__all__ = ["FrozenTrunk", "UpperTrunk", "stage_boundaries", "split_backbone", "prepare_image", "FeatureCache", "extract_features", "load_features"]


# --------------------------------------------------------------------------- the split


class FrozenTrunk(nn.Module):
    """``conv_stem, bn1`` and the blocks before the cut of a timm EfficientNet; always in eval mode.

    ``data_config`` is the source model's timm data config (mean, std, interpolation ...),
    which :func:`extract_features` uses for normalisation.
    """

    def __init__(self, conv_stem: nn.Module, bn1: nn.Module, blocks: nn.Sequential, data_config: dict,
                 description: dict | None = None):
        super().__init__()
        self.conv_stem = conv_stem
        self.bn1 = bn1
        self.blocks = blocks
        self.data_config = dict(data_config)
        self.description = dict(description or {})
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True):  # noqa: D102 - frozen BN statistics never update
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.blocks(self.bn1(self.conv_stem(x)))


class UpperTrunk(nn.Module):
    """The blocks after the cut, ``conv_head, bn2, global_pool`` of a timm EfficientNet (trainable).

    ``forward`` returns pooled features ``(B, num_features)``; ``forward_spatial`` the map
    before pooling (for class-activation maps).  With ``cut_channels`` (> 0) the pooled map
    at the cut (the frozen trunk's output, an earlier stage) is appended to them: features
    from two depths of the network, for small details such as a neckline or buttons.
    """

    def __init__(self, blocks: nn.Sequential, conv_head: nn.Module, bn2: nn.Module, global_pool: nn.Module,
                 num_features: int, cut_channels: int = 0):
        super().__init__()
        self.blocks = blocks
        self.conv_head = conv_head
        self.bn2 = bn2
        self.global_pool = global_pool
        self.cut_channels = int(cut_channels)
        self.num_features = int(num_features) + self.cut_channels

    def forward_spatial(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_head(self.blocks(x)))

    def pool(self, spatial: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """The pooled features of ``forward_spatial(x)``'s map ``spatial`` (and of ``x`` with ``cut_channels``)."""
        pooled = self.global_pool(spatial)
        if self.cut_channels:
            pooled = torch.cat([pooled, self.global_pool(x)], dim=1)
        return pooled

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.forward_spatial(x), x)


def _block_list(blocks: nn.Sequential) -> list[tuple[int, int, nn.Module]]:
    """``(stage, index, block)`` for every block of a timm EfficientNet, in order."""
    out = []
    for s, stage in enumerate(blocks):
        members = list(stage) if isinstance(stage, nn.Sequential) else [stage]
        out.extend((s, i, b) for i, b in enumerate(members))
    return out


def stage_boundaries(model: nn.Module) -> list[int]:
    """``trainable_blocks`` values that cut exactly between stages (0 = none, ... all).

    For ``tf_efficientnet_lite2``: ``[0, 1, 6, 10, 14, 17, 20, 21]`` -- 1 is the last
    stage, 6 the last two stages.
    """
    sizes = [len(stage) if isinstance(stage, nn.Sequential) else 1 for stage in model.blocks]
    return [sum(sizes[len(sizes) - k:]) for k in range(len(sizes) + 1)]


def split_backbone(model: nn.Module, trainable_blocks: int = 1, cut_pool: bool = False) -> tuple[FrozenTrunk, UpperTrunk]:
    """Cut a timm EfficientNet before its last ``trainable_blocks`` blocks.

    A *block* is one inverted-residual (or depthwise-separable) block, i.e. one member of
    a stage ``model.blocks[s]``, so the cut may fall inside a stage; on two CPU cores this
    matters because the first block of a stage downsamples and is the costly one to
    train.  :func:`stage_boundaries` lists the values that cut between stages (for
    EfficientNet-Lite2: 1 = the last stage, 6 = the last two).  ``trainable_blocks=0``
    leaves only ``conv_head`` + ``bn2`` trainable.  ``cut_pool``: the upper half's pooled
    features also hold the pooled map at the cut (:class:`UpperTrunk`'s ``cut_channels``).

    The halves share the model's modules (no copies); ``frozen`` gets ``requires_grad``
    off and stays in eval mode.  ``upper(frozen(x))`` equals the model's pooled features
    ``model.forward_head(model.forward_features(x), pre_logits=True)``.
    """
    needed = ("conv_stem", "bn1", "blocks", "conv_head", "bn2", "global_pool")
    missing = [name for name in needed if not hasattr(model, name)]
    if missing or not isinstance(model.blocks, nn.Sequential):
        raise TypeError(
            f"split_backbone needs a timm EfficientNet-style model ({', '.join(needed)}); "
            f"{type(model).__name__} lacks {', '.join(missing) or 'a Sequential blocks'}"
        )
    flat = _block_list(model.blocks)
    n = len(flat)
    if not 0 <= int(trainable_blocks) <= n:
        raise ValueError(f"trainable_blocks must be in 0..{n} for this model, got {trainable_blocks}")
    cut = n - int(trainable_blocks)

    def group(part):  # keep timm's stage nesting so parameter names stay recognisable
        stages: dict[int, list[nn.Module]] = {}
        for s, _, block in part:
            stages.setdefault(s, []).append(block)
        return nn.Sequential(*(nn.Sequential(*blocks) for blocks in stages.values()))

    cfg = getattr(model, "pretrained_cfg", None) or {}
    description = {"architecture": cfg.get("architecture") or type(model).__name__, "blocks": n,
                   "trainable_blocks": int(trainable_blocks),
                   "cut_before": None if cut == n else list(flat[cut][:2])}
    frozen = FrozenTrunk(model.conv_stem, model.bn1, group(flat[:cut]), data_config(model), description)
    cut_channels = 0
    if cut_pool:  # the channels of the map at the cut: what the first upper block (or conv_head) reads
        first = model.conv_head if cut == n else getattr(flat[cut][2], "conv_pw", None) or flat[cut][2].conv_dw
        cut_channels = first.in_channels
    upper = UpperTrunk(group(flat[cut:]), model.conv_head, model.bn2, model.global_pool,
                       getattr(model, "num_features", model.conv_head.out_channels), cut_channels=cut_channels)
    return frozen, upper


# --------------------------------------------------------------------------- images


def prepare_image(img: Image.Image, view: ViewSpec, image_size: tuple[int, int], config: dict,
                  seed: int | None = None, box=None) -> torch.Tensor:
    """:func:`fashionkit.vision.crops.prepare_array` as a float tensor ``(3, H, W)`` (the cache's and training's input)."""
    return torch.from_numpy(prepare_array(img, view, image_size, config, seed, box))



# --------------------------------------------------------------------------- the cache


@dataclass
class FeatureCache:
    """Cached maps: ``views[name]`` is a read-only float16 memmap ``(n, C, h, w)``."""

    path: Path
    paths: list[str]
    views: dict[str, np.ndarray]
    meta: dict

    def stack(self, names: Sequence[str] | None = None, rows=None) -> np.ndarray:
        """``(n, V, C, h, w)`` float16 in RAM for views ``names`` (default: all)."""
        names = list(names or self.views)
        rows = slice(None) if rows is None else rows
        return np.stack([np.asarray(self.views[n][rows]) for n in names], axis=1)


_LATER_FIELDS = {"garment": None, "jitter": 0.0, "cutout": False}  # ViewSpec fields added after caches were first written


def _same_meta(have: dict, want: dict) -> bool:
    """Whether a cached view's meta matches what is wanted (later ViewSpec fields at their defaults ignored;
    a view some of whose photos read their whole frame never stands in for one that reads none)."""
    if have.get("whole_frame_digest") != want.get("whole_frame_digest"):
        return False
    have = {k: have.get(k) for k in want}
    if isinstance(have.get("view"), dict):
        have["view"] = {k: v for k, v in have["view"].items() if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}
    return have == want


def _meta_for(frozen: nn.Module, paths, view: ViewSpec, image_size, config) -> dict:
    return {
        "trunk": getattr(frozen, "description", {"module": type(frozen).__name__}),
        "n_parameters": int(sum(p.numel() for p in frozen.parameters())),
        "data_config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in config.items()},
        "image_size": list(view.size or image_size),
        # a field left at its default is not written, so caches made before the field existed stay valid
        "view": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(view).items()
                 if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]},
        "n_photos": len(paths),
        "paths_digest": _digest(paths),
    }


def _digest(paths) -> str:
    return hashlib.sha1("\n".join(map(str, paths)).encode()).hexdigest()


def extract_features(
    frozen: nn.Module,
    paths: Sequence[str | os.PathLike],
    views: Sequence[ViewSpec] = DEFAULT_VIEWS,
    image_size: tuple[int, int] = (390, 260),
    batch_size: int = 32,
    cache_path: str | os.PathLike = "build/features",
    config: dict | None = None,
    progress: bool = True,
    boxes: dict | None = None,
    engine: str = "auto",
    augmented_rows: Sequence[int] | None = None,
    garment_shares: dict | None = None,
    whole_frame_rows: Sequence[int] | None = None,
) -> FeatureCache:
    """Run ``frozen`` once over every photo in every view; store float16 maps on disk.

    ``image_size`` is ``(height, width)`` (default the whole 2:3 photo at 260x390).
    ``config`` defaults to ``frozen.data_config`` (set by :func:`split_backbone`).  Rows
    follow ``paths``; the result is deterministic (eval mode, fixed order, no random
    augmentation).  A view already complete in ``cache_path`` with the same trunk, paths,
    size and config is reused.  An unreadable photo raises
    :class:`~fashionkit.data.images.ImageProblem` (pass a checked manifest's paths).
    ``engine`` runs the trunk (:func:`fashionkit.vision.runtime.runner`: ``"auto"`` is ONNX Runtime
    when installed, about 2.4x faster than eager PyTorch here, maps equal to about 1e-6);
    the engine is part of the cache key.
    ``augmented_rows`` (positions in ``paths``) limits the views with an ``augment`` recipe to
    those photos, the training photos: an augmented view is only ever read in training, so
    the other rows are left NaN (reading one by mistake shows at once) and are not computed.
    Wall seconds per computed view are recorded in ``meta.json`` (``seconds``).
    ``boxes`` maps each path to its garment boxes (``{"top": (l, t, r, b), "bottom": ...}``,
    :func:`fashionkit.vision.garment_boxes.garment_boxes`); views with a ``garment`` need it, and their
    cache is keyed by a digest of those boxes too.  Cut-out views (``cutout``) also need
    ``garment_shares`` (:func:`fashionkit.vision.cached_views.read_garment_shares`: the canvas and each
    path's garment share maps), and are keyed by a digest of the maps of the rows they compute.
    ``whole_frame_rows`` (positions in ``paths``): photos of one garment alone, with no person
    (:func:`fashionkit.data.sources.garment_alone`), where a view's fixed box of the frame reads the
    whole photo instead; those views are keyed by a digest of these rows.  A cut-out view (training
    only) is not computed for them: a garment alone has no scene to cut it out of (NaN rows).
    Under ``torchrun`` (:mod:`fashionkit.vision.distributed`) each process computes its share of
    every global batch of ``batch_size`` rows per process; rank 0 gathers them in order and
    alone writes the cache (the same files as one process writes), which every rank then
    opens: ``cache_path`` must be a folder all machines see.
    """
    config = dict(config or getattr(frozen, "data_config", None) or {})
    if not {"mean", "std"} <= set(config):
        raise ValueError("no data config: pass config=backbones.data_config(model) or use split_backbone")
    names = [v.name for v in views]
    if len(set(names)) != len(names):
        raise ValueError(f"view names must be unique, got {names}")
    root = Path(cache_path)
    root.mkdir(parents=True, exist_ok=True)
    paths = [os.fspath(p) for p in paths]
    meta_file = root / "meta.json"
    meta = json.loads(meta_file.read_text()) if meta_file.is_file() else {}
    if meta.get("paths") != paths:
        meta = {"paths": paths, "views": {}}
    frozen.eval()
    ctx = distributed.init_from_env()
    progress = progress and ctx.is_main
    engine = resolve_engine(engine)
    run = runner(frozen, engine)
    whole = frozenset(int(i) for i in (whole_frame_rows if whole_frame_rows is not None else ()))
    for view in views:
        want = _meta_for(frozen, paths, view, image_size, config)
        want["engine"] = engine
        todo = np.arange(len(paths))
        if whole and view.garment is None and view.box is not None:
            want["whole_frame_digest"] = _digest(sorted(whole))
        if augmented_rows is not None and view.augment is not None:
            todo = np.unique(np.asarray(augmented_rows, dtype=int))
            if view.cutout and whole:  # a garment alone has no scene to cut it out of: no cut-out view
                todo = np.setdiff1d(todo, np.fromiter(whole, dtype=int))
            want["rows_digest"] = _digest(todo.tolist())
            if not len(todo):
                raise ValueError(f"view {view.name!r}: augmented_rows is empty (no training photos?)")
        if view.garment is not None:
            if boxes is None:
                raise ValueError(f"view {view.name!r} needs the photos' garment boxes (boxes=)")
            missing = [p for p in paths if p not in boxes]
            if missing:
                raise KeyError(f"no garment boxes for {len(missing)} of the photos (first: {missing[0]}); "
                               "locate them first (chapter 2 writes them for every photo of the manifest)")
            want["boxes_digest"] = _digest([tuple(boxes[p][view.garment]) for p in paths])
        if view.cutout:
            if garment_shares is None or any(paths[i] not in garment_shares["maps"] for i in todo):
                raise ValueError(f"view {view.name!r} cuts the garment out by its share map: pass garment_shares= "
                                 "with every photo's maps (chapter 2 writes them)")
            h = hashlib.sha1(str(tuple(garment_shares["canvas"])).encode())
            for i in todo:
                h.update(np.ascontiguousarray(garment_shares["maps"][paths[i]], dtype=np.float16).tobytes())
            want["shares_digest"] = h.hexdigest()
        have = meta["views"].get(view.name, {})
        cached = have.get("complete") and _same_meta(have, want) and (root / f"{view.name}.npy").is_file()
        if distributed.broadcast_object(cached, ctx):  # rank 0's cache decides
            continue
        t0 = time.perf_counter()
        out = None
        mine, step = distributed.shard(todo, ctx), batch_size * ctx.world_size
        with torch.inference_mode():
            for start in tqdm(range(0, len(todo), step), desc=f"features {view.name}",
                              unit="batch", disable=not progress):
                at = mine[start // ctx.world_size:start // ctx.world_size + batch_size]
                maps = np.empty(0, np.float16)  # a rank may have no row of the last global batch
                if len(at):
                    batch = torch.stack([prepare_image(img, _framed(view, i in whole), image_size, config,
                                                       view_seed(view, paths[i]), box)
                                         for i in at for img, box in [_view_input(load_image(paths[i]), view,
                                                                                  paths[i], boxes, garment_shares)]])
                    maps = run(batch).to(torch.float16).contiguous().numpy()
                if ctx.distributed:  # every rank's share of the global batch, in order
                    at = todo[start:start + step]
                    maps = distributed.gather_rows(maps, len(at), ctx)
                if not ctx.is_main:
                    continue
                if out is None:
                    out = np.lib.format.open_memmap(root / f"{view.name}.npy", mode="w+", dtype=np.float16,
                                                    shape=(len(paths), *maps.shape[1:]))
                    if len(todo) < len(paths):
                        out[:] = np.nan
                out[at] = maps
        if not ctx.is_main:  # rank 0 writes the maps and the meta
            continue
        out.flush()
        shape = list(out.shape)
        del out
        meta["views"][view.name] = {**want, "shape": shape, "seconds": round(time.perf_counter() - t0, 1),
                                    "complete": True}
        meta_file.write_text(json.dumps(meta, indent=1))
    distributed.barrier(ctx)
    return load_features(root, names)


def _framed(view: ViewSpec, whole_frame: bool) -> ViewSpec:
    """``view`` for one photo: a fixed-box view of a garment-alone photo reads the whole photo."""
    return replace(view, box=None) if whole_frame and view.garment is None and view.box is not None else view


CUTOUT_BACKGROUND = (225, 255)  # grey levels of a cut-out view's plain background, drawn per photo


def _view_input(img: Image.Image, view: ViewSpec, path, boxes: dict | None, garment_shares: dict | None):
    """``(image, box)`` that :func:`prepare_image` reads for ``view``: the photo and its garment box
    (None for a fixed-box view), or for a cut-out view the garment cut out of the photo
    (:func:`fashionkit.vision.localise.garment_cutout`, on a light grey drawn from the view's seed)
    and the whole of it."""
    box = None if view.garment is None else boxes[path][view.garment]
    if not view.cutout:
        return img, box

    grey = int(np.random.default_rng(view_seed(view, path)).integers(*CUTOUT_BACKGROUND, endpoint=True))
    share = garment_shares["maps"][path][list(GARMENTS).index(view.garment)]
    cut = garment_cutout(img, share, garment_shares["canvas"], background=(grey, grey, grey))
    return (img, box) if cut is None else (cut, (0.0, 0.0, 1.0, 1.0))


def load_features(cache_path: str | os.PathLike, views: Sequence[str] | None = None) -> FeatureCache:
    """Open a cache written by :func:`extract_features` (memory-mapped, read-only)."""
    root = Path(cache_path)
    meta = json.loads((root / "meta.json").read_text())
    names = list(views or meta["views"])
    incomplete = [n for n in names if not meta["views"].get(n, {}).get("complete")]
    if incomplete:
        raise FileNotFoundError(f"views {incomplete} are not (completely) cached in {root}")
    arrays = {n: np.load(root / f"{n}.npy", mmap_mode="r") for n in names}
    return FeatureCache(root, list(meta["paths"]), arrays, meta)
