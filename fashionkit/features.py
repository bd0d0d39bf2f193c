"""Cached intermediate feature maps: the CPU training profile's frozen half.

On two CPU cores a full fine-tune of an EfficientNet is too slow, so the backbone is cut
in two (:func:`split_backbone`):

* ``frozen`` -- ``conv_stem, bn1`` and the blocks before the cut: ImageNet weights, kept in eval mode,
  run **once** over every photo and every cached *view* (:func:`extract_features`); its
  output maps are stored as float16 arrays on disk.
* ``upper`` -- the last ``trainable_blocks`` blocks, ``conv_head, bn2, global_pool``: trained on the cached maps
  together with the attribute heads (:mod:`fashionkit.models`).

A *view* is data (:class:`ViewSpec`): an optional relative crop box, an optional
horizontal flip, an optional output size.  The whole photo keeps its 2:3 portrait
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

from . import distributed
from .images import load_image
from .runtime import resolve_engine, runner

__all__ = [
    "ViewSpec",
    "view_spec",
    "WHOLE",
    "WHOLE_FLIP",
    "UPPER_BODY",
    "DEFAULT_VIEWS",
    "FrozenTrunk",
    "UpperTrunk",
    "FeatureCache",
    "split_backbone",
    "stage_boundaries",
    "prepare_image",
    "extract_features",
    "load_features",
]


@dataclass(frozen=True)
class ViewSpec:
    """One deterministic view of a photo.

    ``box``: relative crop ``(left, top, right, bottom)`` in 0..1 of the (upright) photo,
    ``None`` for the whole photo.  ``flip``: mirror left-right after cropping.  ``size``:
    output ``(height, width)``; ``None`` uses the ``image_size`` given to
    :func:`extract_features`.  ``augment``: the name of a recipe in
    :data:`fashionkit.augment.RECIPES`, applied after cropping with a seed derived from the
    photo's file name and the view's name, so a cached augmented view is reproducible.
    ``garment``: crop the box that :mod:`fashionkit.localise` found for this garment in
    this photo (passed to :func:`prepare_image` as ``box``) instead of ``box``;
    ``jitter``: move each side of that box by up to this fraction of its size (seeded like
    ``augment``), so training sees imperfect boxes.  ``cutout`` (with ``garment``): the
    garment alone, cut out by the segmenter's mask onto a plain light background and cut to
    its box (:func:`fashionkit.localise.garment_cutout`), a product-photo stand-in made from a
    street photo; a photo where no garment mask is found gets the plain garment crop.
    """

    name: str
    box: tuple[float, float, float, float] | None = None
    flip: bool = False
    size: tuple[int, int] | None = None
    augment: str | None = None  # an albumentations recipe of fashionkit.augment, seeded per photo
    garment: str | None = None  # "top" / "bottom": the photo's own garment box (fashionkit.localise)
    jitter: float = 0.0         # random shift / scale of the garment box, as a fraction of its size
    cutout: bool = False        # the garment cut out by its predicted mask onto a plain background


WHOLE = ViewSpec("whole")
WHOLE_FLIP = ViewSpec("whole_flip", flip=True)
# Upper body of a full-length 2:3 photo.  Chosen from the CCP pixel masks: the box of the
# blouse/shirt/t-shirt pixels spans x 0.23-0.71 and y 0.16-0.59 (5th-95th percentiles
# of 493 pixel-annotated top-type photos); label-free, so it applies to any photo.
# Sizes: the box is about 165 x 190 px of a 384 px photo, so 224 x 192 keeps every source
# pixel (288 x 240 only upsampled it, at 1.6 times the cost); the bottom box (195 x 240 px)
# is read at 256 x 192.  The garment views below use the same sizes.
UPPER_BODY = ViewSpec("upper_body", box=(0.18, 0.12, 0.82, 0.62), size=(224, 192))
UPPER_BODY_AUG = ViewSpec("upper_body_aug", box=UPPER_BODY.box, size=UPPER_BODY.size, augment="light")
# Lower body of a full-length 2:3 photo: hips to feet (CCP masks put bottoms at y 0.40-0.95).
LOWER_BODY = ViewSpec("lower_body", box=(0.12, 0.38, 0.88, 1.0), size=(256, 192))
LOWER_BODY_AUG = ViewSpec("lower_body_aug", box=LOWER_BODY.box, size=LOWER_BODY.size, augment="light")
# The garment's own box, found in each photo (fashionkit.localise); the _aug views jitter it.
TOP_GARMENT = ViewSpec("top_garment", garment="top", size=UPPER_BODY.size)
TOP_GARMENT_AUG = ViewSpec("top_garment_aug", garment="top", size=TOP_GARMENT.size, augment="light", jitter=0.1)
BOTTOM_GARMENT = ViewSpec("bottom_garment", garment="bottom", size=LOWER_BODY.size)
BOTTOM_GARMENT_AUG = ViewSpec("bottom_garment_aug", garment="bottom", size=BOTTOM_GARMENT.size, augment="light",
                              jitter=0.1)
# The garment cut out onto a plain light background (training only, like the _aug views):
# teaches the models to read a garment without the person around it (a product photo).
TOP_GARMENT_CUTOUT = ViewSpec("top_garment_cutout", garment="top", size=TOP_GARMENT.size, augment="light",
                              cutout=True)
BOTTOM_GARMENT_CUTOUT = ViewSpec("bottom_garment_cutout", garment="bottom", size=BOTTOM_GARMENT.size,
                                 augment="light", cutout=True)
DEFAULT_VIEWS: tuple[ViewSpec, ...] = (WHOLE, WHOLE_FLIP)
# Every named view, so params can name views as data.
VIEWS: dict[str, ViewSpec] = {v.name: v for v in (WHOLE, WHOLE_FLIP, UPPER_BODY, UPPER_BODY_AUG,
                                                   LOWER_BODY, LOWER_BODY_AUG, TOP_GARMENT, TOP_GARMENT_AUG,
                                                   BOTTOM_GARMENT, BOTTOM_GARMENT_AUG, TOP_GARMENT_CUTOUT,
                                                   BOTTOM_GARMENT_CUTOUT)}

_RESAMPLE = {
    "bicubic": Image.BICUBIC,
    "bilinear": Image.BILINEAR,
    "nearest": Image.NEAREST,
    "lanczos": Image.LANCZOS,
    "box": Image.BOX,
    "hamming": Image.HAMMING,
}


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
    before pooling (for class-activation maps).
    """

    def __init__(self, blocks: nn.Sequential, conv_head: nn.Module, bn2: nn.Module, global_pool: nn.Module,
                 num_features: int):
        super().__init__()
        self.blocks = blocks
        self.conv_head = conv_head
        self.bn2 = bn2
        self.global_pool = global_pool
        self.num_features = int(num_features)

    def forward_spatial(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn2(self.conv_head(self.blocks(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.global_pool(self.forward_spatial(x))


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


def split_backbone(model: nn.Module, trainable_blocks: int = 1) -> tuple[FrozenTrunk, UpperTrunk]:
    """Cut a timm EfficientNet before its last ``trainable_blocks`` blocks.

    A *block* is one inverted-residual (or depthwise-separable) block, i.e. one member of
    a stage ``model.blocks[s]``, so the cut may fall inside a stage; on two CPU cores this
    matters because the first block of a stage downsamples and is the costly one to
    train.  :func:`stage_boundaries` lists the values that cut between stages (for
    EfficientNet-Lite2: 1 = the last stage, 6 = the last two).  ``trainable_blocks=0``
    leaves only ``conv_head`` + ``bn2`` trainable.

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
    from .backbones import data_config  # late: keeps `import fashionkit.features` light

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
    upper = UpperTrunk(group(flat[cut:]), model.conv_head, model.bn2, model.global_pool,
                       getattr(model, "num_features", model.conv_head.out_channels))
    return frozen, upper


# --------------------------------------------------------------------------- images


def _pad_to_aspect(img: Image.Image, aspect: float, fill: tuple[int, int, int]) -> Image.Image:
    """Pad (centred) to width / height == ``aspect``; a photo of that aspect is unchanged."""
    w, h = img.size
    if abs(w / h - aspect) * min(w, h) < 1.0:  # within a pixel: leave it
        return img
    if w / h < aspect:
        new_w, new_h = round(h * aspect), h
    else:
        new_w, new_h = w, round(w / aspect)
    canvas = Image.new("RGB", (new_w, new_h), fill)
    canvas.paste(img, ((new_w - w) // 2, (new_h - h) // 2))
    return canvas


def view_seed(view: ViewSpec, path) -> int:
    """The augmentation seed of one photo in one view: stable across runs and subsets."""
    import zlib

    return zlib.crc32(f"{view.name}:{Path(path).name}".encode())


def jitter_box(box, amount: float, seed: int) -> tuple[float, float, float, float]:
    """``box`` with each side moved by up to ``amount`` of the box's width / height (seeded), kept in 0..1."""
    if not amount:
        return tuple(box)
    left, top, right, bottom = box
    d = np.random.default_rng(seed).uniform(-amount, amount, size=4)
    w, h = right - left, bottom - top
    left, right = max(0.0, left + d[0] * w), min(1.0, right + d[2] * w)
    top, bottom = max(0.0, top + d[1] * h), min(1.0, bottom + d[3] * h)
    if right - left < 0.02 or bottom - top < 0.02:  # a degenerate jitter keeps the box as found
        return tuple(box)
    return left, top, right, bottom


def view_box(view: ViewSpec, box=None, seed: int | None = None):
    """The relative crop of ``view`` for one photo: its fixed box, or the photo's garment ``box`` (jittered)."""
    if view.garment is None:
        return view.box
    if box is None:
        raise ValueError(f"view {view.name!r} crops the photo's {view.garment} box: pass box=")
    return jitter_box(box, view.jitter, 0 if seed is None else seed)


def prepare_image(img: Image.Image, view: ViewSpec, image_size: tuple[int, int], config: dict,
                  seed: int | None = None, box=None) -> torch.Tensor:
    """An RGB PIL image -> normalised float tensor ``(3, H, W)`` for ``view``.

    Steps: crop ``view.box`` (or, for a garment view, the photo's ``box`` with
    ``view.jitter``); augment (``view.augment``, with ``seed``); pad to the target aspect
    with the mean colour; resize with the config's interpolation; flip; scale to 0..1;
    ``(x - mean) / std``.
    """
    height, width = view.size or image_size
    crop = view_box(view, box, seed)
    if crop is not None:
        left, top, right, bottom = crop
        w, h = img.size
        img = img.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))
    if view.augment is not None:
        from .augment import augment_image  # late: albumentations only where a view needs it

        img = augment_image(img, view.augment, 0 if seed is None else seed)
    mean = np.asarray(config["mean"], dtype=np.float32)
    std = np.asarray(config["std"], dtype=np.float32)
    fill = tuple(int(round(255 * m)) for m in mean)
    img = _pad_to_aspect(img, width / height, fill)
    resample = _RESAMPLE.get(str(config.get("interpolation", "bicubic")), Image.BICUBIC)
    img = img.resize((width, height), resample)
    if view.flip:
        img = img.transpose(Image.FLIP_LEFT_RIGHT)
    arr = (np.asarray(img, dtype=np.float32) / 255.0 - mean) / std
    return torch.from_numpy(np.ascontiguousarray(arr.transpose(2, 0, 1)))


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
    """Whether a cached view's meta matches what is wanted (later ViewSpec fields at their defaults ignored)."""
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
) -> FeatureCache:
    """Run ``frozen`` once over every photo in every view; store float16 maps on disk.

    ``image_size`` is ``(height, width)`` (default the whole 2:3 photo at 260x390).
    ``config`` defaults to ``frozen.data_config`` (set by :func:`split_backbone`).  Rows
    follow ``paths``; the result is deterministic (eval mode, fixed order, no random
    augmentation).  A view already complete in ``cache_path`` with the same trunk, paths,
    size and config is reused.  An unreadable photo raises
    :class:`~fashionkit.images.ImageProblem` (pass a checked manifest's paths).
    ``engine`` runs the trunk (:func:`fashionkit.runtime.runner`: ``"auto"`` is ONNX Runtime
    when installed, about 2.4x faster than eager PyTorch here, maps equal to about 1e-6);
    the engine is part of the cache key.
    ``augmented_rows`` (positions in ``paths``) limits the views with an ``augment`` recipe to
    those photos, the training photos: an augmented view is only ever read in training, so
    the other rows are left NaN (reading one by mistake shows at once) and are not computed.
    Wall seconds per computed view are recorded in ``meta.json`` (``seconds``).
    ``boxes`` maps each path to its garment boxes (``{"top": (l, t, r, b), "bottom": ...}``,
    :func:`fashionkit.localise.garment_boxes`); views with a ``garment`` need it, and their
    cache is keyed by a digest of those boxes too.  Cut-out views (``cutout``) also need
    ``garment_shares`` (:func:`fashionkit.pipeline.read_garment_shares`: the canvas and each
    path's garment share maps), and are keyed by a digest of the maps of the rows they compute.
    Under ``torchrun`` (:mod:`fashionkit.distributed`) each process computes its share of
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
    for view in views:
        want = _meta_for(frozen, paths, view, image_size, config)
        want["engine"] = engine
        todo = np.arange(len(paths))
        if augmented_rows is not None and view.augment is not None:
            todo = np.unique(np.asarray(augmented_rows, dtype=int))
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
                    batch = torch.stack([prepare_image(img, view, image_size, config, view_seed(view, paths[i]), box)
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


CUTOUT_BACKGROUND = (225, 255)  # grey levels of a cut-out view's plain background, drawn per photo


def _view_input(img: Image.Image, view: ViewSpec, path, boxes: dict | None, garment_shares: dict | None):
    """``(image, box)`` that :func:`prepare_image` reads for ``view``: the photo and its garment box
    (None for a fixed-box view), or for a cut-out view the garment cut out of the photo
    (:func:`fashionkit.localise.garment_cutout`, on a light grey drawn from the view's seed)
    and the whole of it."""
    box = None if view.garment is None else boxes[path][view.garment]
    if not view.cutout:
        return img, box
    from .localise import garment_cutout

    grey = int(np.random.default_rng(view_seed(view, path)).integers(*CUTOUT_BACKGROUND, endpoint=True))
    share = garment_shares["maps"][path][("top", "bottom").index(view.garment)]
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


def view_spec(name: str, view_size=None):
    """The :class:`~fashionkit.features.ViewSpec` called ``name``.

    A name in :data:`~fashionkit.features.VIEWS`, or ``<view>_flip``: that view mirrored
    left-right (e.g. ``upper_body_flip``), built here so test-time views need no entry in
    ``VIEWS``.  ``view_size`` (height, width) replaces the view's size (smoke runs).
    """
    if name in VIEWS:
        spec = VIEWS[name]
    elif name.endswith("_flip") and name.removesuffix("_flip") in VIEWS:
        base = VIEWS[name.removesuffix("_flip")]
        spec = replace(base, name=name, flip=not base.flip)
    else:
        raise KeyError(f"unknown view {name!r}; known: {', '.join(VIEWS)} and <view>_flip")
    return spec if view_size is None else replace(spec, size=tuple(view_size))
