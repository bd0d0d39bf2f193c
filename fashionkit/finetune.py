"""Full fine-tuning on photos: the GPU profile.

The CPU profile (:meth:`fashionkit.train.AttributeClassifier.fit`) trains the upper
blocks on cached frozen-trunk maps.  With a GPU the study's setting is affordable:
EfficientNet-B4 at 380 px, ~30 epochs, **every** block trainable, fresh augmentation on
every draw of a photo.  :func:`fit_on_images` does that for an (unfitted)
:class:`~fashionkit.train.AttributeClassifier`, reading its settings (backbone, lr,
SGDR, sampling, label smoothing, ...) and setting the same fitted attributes as ``fit``
(``net_``, ``history_``, ``lr_trace_``, ``best_epoch_``, ``classes_``,
``fit_seconds_``), so the rest of the book (metrics, plots) does not care which
profile trained the model.  It runs on CPU too (slowly; the tests use a tiny model).

Choices:

* the whole backbone is trainable, batch norm included: the stem's ``FrozenTrunk`` is
  unfrozen and its BN layers are put in train mode for each training epoch (its own
  ``train()`` always forces eval mode, which is right only for the CPU profile);
* augmentation: the view's crop, then an :mod:`fashionkit.augment` recipe at the photo's
  resolution, then pad-to-aspect, resize and normalise exactly as
  :func:`fashionkit.features.prepare_image` (the model's timm data config);
* one epoch = ``len(train_frame)`` draws: with ``sampling="oversample"`` drawn with
  replacement by :func:`fashionkit.sampling.epoch_indices` (the same draws as the CPU
  profile), else a seeded permutation; ``"class_weight"`` weights the loss instead;
* AdamW, backbone at ``lr * upper_lr_mult`` and heads at ``lr``, cosine annealing with
  warm restarts stepped every batch; ``probe_epochs`` first epochs train the heads alone;
* mixed precision (bfloat16 where supported, else float16 with loss scaling) on CUDA only;
* the epoch kept has the best mean macro-F1 on the validation frame.

Checkpoints: the net is built with every block in ``upper`` (``net_.trainable_blocks``
= the backbone's block count), so a checkpoint must be rebuilt with that value.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from . import augment, sampling
from .evaluate import score_table
from .features import WHOLE, ViewSpec, prepare_image, stage_boundaries
from .images import load_image
from .models import MISSING, create_model, encode_targets, masked_cross_entropy
from .schema import Head
from .train import (AttributeClassifier, check_is_fitted, encode_targets_np, finish_fit, history_row,
                    rare_class_weights)

__all__ = ["ImageDataset", "EpochSampler", "count_blocks", "fit_on_images", "predict_images"]


# --------------------------------------------------------------------------- data


def _crop(img: Image.Image, box) -> Image.Image:
    """The relative crop of :class:`ViewSpec` (same rounding as ``prepare_image``)."""
    if box is None:
        return img
    left, top, right, bottom = box
    w, h = img.size
    return img.crop((round(left * w), round(top * h), round(right * w), round(bottom * h)))


def _targets(frame: pd.DataFrame, heads: Sequence[Head]) -> dict[str, np.ndarray]:
    """Class indices per head, ``-1`` where missing (a head column absent = all missing)."""
    present = [h for h in heads if h.key in frame.columns]
    out = {k: v.numpy() for k, v in encode_targets(frame, present).items()} if present else {}
    return {h.key: out.get(h.key, np.full(len(frame), MISSING, dtype=np.int64)) for h in heads}


class ImageDataset(Dataset):
    """Photos of a manifest frame as ``(image tensor (3, H, W), {head: class index or -1})``.

    ``frame``: a column ``path_column`` (default ``"path"``) and the head columns (class
    names, missing = NA; an absent head column counts as all missing).  ``config``: the
    model's timm data config (``net.data_config``: mean, std, interpolation).  ``view``:
    the crop/flip (:class:`~fashionkit.features.ViewSpec`), ``image_size``
    ``(height, width)``.

    ``recipe=None`` is the evaluation transform (deterministic: exactly
    :func:`~fashionkit.features.prepare_image`).  With a recipe every call draws a fresh
    augmentation; the random stream is seeded with ``seed`` in the main process and with
    the worker's seed (``torch.utils.data.get_worker_info().seed``, drawn from the
    DataLoader's generator) in a worker process.  Unreadable photos raise
    :class:`~fashionkit.images.ImageProblem`.
    """

    def __init__(self, frame: pd.DataFrame, heads: Sequence[Head], config: dict, view: ViewSpec = WHOLE,
                 image_size: tuple[int, int] = (380, 254), recipe=None, seed: int = 0, path_column: str = "path"):
        if path_column not in frame.columns:
            raise KeyError(f"the frame needs a {path_column!r} column with the photo paths")
        self.paths = [os.fspath(p) for p in frame[path_column]]
        self.heads = tuple(heads)
        self.targets = _targets(frame, self.heads)
        self.config = dict(config)
        self.view = view
        self.image_size = tuple(image_size)
        self.recipe = None if recipe is None else augment.get_recipe(recipe)
        self.seed = int(seed)
        self.fill = augment.mean_fill(self.config)
        # after the crop and the augmentation: pad, resize, the view's flip, normalise
        self._finish = ViewSpec(view.name, None, view.flip, view.size)
        self._compose, self._key = None, None

    def __len__(self) -> int:
        return len(self.paths)

    def __getstate__(self):  # workers rebuild the pipeline with their own seed
        return {**self.__dict__, "_compose": None, "_key": None}

    def _pipeline(self):
        info = torch.utils.data.get_worker_info()
        seed = self.seed if info is None else info.seed
        key = (os.getpid(), seed)
        if self._key != key:
            self._compose = augment.build(self.recipe, seed=seed % 2**32, fill=self.fill)
            self._key = key
        return self._compose

    def image(self, i: int) -> torch.Tensor:
        img = load_image(self.paths[i])
        if self.recipe is None:
            return prepare_image(img, self.view, self.image_size, self.config)
        arr = np.asarray(_crop(img, self.view.box))
        img = Image.fromarray(np.ascontiguousarray(self._pipeline()(image=arr)["image"]))
        return prepare_image(img, self._finish, self.image_size, self.config)

    def __getitem__(self, i: int):
        return self.image(i), {k: int(v[i]) for k, v in self.targets.items()}


class EpochSampler(Sampler):
    """Row indices of one epoch, seeded by ``(seed, epoch)``; call :meth:`set_epoch` first.

    With ``weights`` (:func:`fashionkit.sampling.sample_weights`): ``n`` draws with
    replacement (:func:`fashionkit.sampling.epoch_indices`, a seeded
    ``WeightedRandomSampler``); without: a permutation.
    """

    def __init__(self, n: int, weights: np.ndarray | None = None, seed: int = 0):
        self.n, self.weights, self.seed, self.epoch = int(n), weights, int(seed), 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.n

    def __iter__(self):
        if self.weights is not None:
            order = sampling.epoch_indices(self.weights, self.seed, self.epoch, size=self.n)
        else:
            order = np.random.default_rng([self.seed, self.epoch]).permutation(self.n)
        return iter(order.tolist())


# --------------------------------------------------------------------------- model


def count_blocks(backbone: str) -> int:
    """Number of blocks of a timm EfficientNet (``trainable_blocks`` for "all of them").

    Built on the meta device: no weights are allocated or downloaded.
    """
    import timm

    with torch.device("meta"):
        model = timm.create_model(backbone, pretrained=False)
    return stage_boundaries(model)[-1]


def _set_backbone_mode(net, train: bool) -> None:
    """Trainable or fixed backbone (stem included); BN statistics update only when training."""
    for part in (net.frozen, net.upper):
        part.requires_grad_(train)
        nn.Module.train(part, train)  # bypasses FrozenTrunk.train, which forces eval


def _autocast(device: torch.device):
    if device.type != "cuda":
        return torch.autocast("cpu", enabled=False), None
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype), dtype


def _loader(dataset, batch_size, num_workers, device, sampler=None, generator=None,
            persistent: bool = False) -> DataLoader:
    """``persistent``: keep the worker processes between epochs (the training loader)."""
    return DataLoader(dataset, batch_size=batch_size, sampler=sampler, shuffle=False, num_workers=num_workers,
                      pin_memory=device.type == "cuda", generator=generator,
                      persistent_workers=persistent and num_workers > 0)


def _predict_net(net, frame, views: Sequence[ViewSpec], image_size, batch_size, num_workers, device,
                 progress=False) -> dict[str, np.ndarray]:
    """Softmax per head, averaged over ``views`` (eval transform)."""
    net.eval()
    out = None
    for view in views:
        data = ImageDataset(frame, net.head_specs, net.data_config, view, image_size)
        parts = {k: [] for k in net.heads}
        with torch.inference_mode():
            for x, _ in tqdm(_loader(data, batch_size, num_workers, device), desc=f"predict {view.name}",
                             disable=not progress, leave=False):
                x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                with _autocast(device)[0]:
                    logits = net(x)
                for key, value in logits.items():
                    parts[key].append(value.float().softmax(dim=1).cpu().numpy())
        proba = {k: np.concatenate(v) for k, v in parts.items()}
        out = proba if out is None else {k: out[k] + proba[k] for k in out}
    return {k: v / len(views) for k, v in out.items()}


def _mirrored(view: ViewSpec) -> ViewSpec:
    return ViewSpec(f"{view.name}_mirrored", view.box, not view.flip, view.size)


# --------------------------------------------------------------------------- fit / predict


def fit_on_images(clf: AttributeClassifier, train_frame: pd.DataFrame, val_frame: pd.DataFrame,
                  view: ViewSpec = WHOLE, image_size: tuple[int, int] = (380, 254), recipe="light",
                  num_workers: int = 0, device=None, *, val_flips: bool = False) -> AttributeClassifier:
    """Fine-tune every block of ``clf.backbone`` plus the heads on photos; return ``clf``.

    ``train_frame`` / ``val_frame``: manifest rows with ``path`` and the head columns of
    ``clf.model``.  ``view`` / ``image_size`` ``(height, width)``: what the network sees
    (default the whole 2:3 photo at 254x380).  ``recipe``: an :mod:`fashionkit.augment`
    recipe name or dict (``None``: no augmentation).  ``device``: default CUDA when
    available, else CPU.  ``val_flips``: validate on the mean of the photo and its
    mirror.  The settings read from ``clf``: model, backbone, pretrained, epochs,
    probe_epochs, batch_size, lr, upper_lr_mult, weight_decay, drop_rate,
    label_smoothing, sgdr_t0, sgdr_t_mult, lr_min_ratio, sampling, sampling_power, seed,
    progress (``trainable_blocks`` and ``eval_views`` are CPU-profile settings, unused).
    The fitted net stays on ``device``; ``image_size_`` and ``view_`` record the input.
    """
    heads = clf._heads()
    # settles (and checks) the rare-class strategy before any model or photo is touched
    weights, loss_weights = rare_class_weights(train_frame, heads, clf.sampling, clf.sampling_power)
    if recipe is not None:
        augment.get_recipe(recipe)  # a bad name fails before any photo is read
    device = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.manual_seed(clf.seed)
    net = create_model(clf.backbone, heads=heads, pretrained=clf.pretrained,
                       trainable_blocks=count_blocks(clf.backbone), drop_rate=clf.drop_rate)
    net = net.to(device).to(memory_format=torch.channels_last)

    data = ImageDataset(train_frame, heads, net.data_config, view, image_size, recipe=recipe, seed=clf.seed)
    sampler = EpochSampler(len(data), weights, clf.seed)
    loader = _loader(data, clf.batch_size, num_workers, device, sampler=sampler,
                     generator=torch.Generator().manual_seed(clf.seed), persistent=True)
    if loss_weights is not None:
        loss_weights = {k: v.to(device) for k, v in loss_weights.items()}
    train_targets = encode_targets_np(train_frame, heads)
    val_targets = encode_targets_np(val_frame, heads)
    val_views = [view, _mirrored(view)] if val_flips else [view]

    steps = int(np.ceil(len(data) / clf.batch_size))
    backbone = list(net.frozen.parameters()) + list(net.upper.parameters())
    opt = torch.optim.AdamW([{"params": backbone, "lr": clf.lr * clf.upper_lr_mult},
                             {"params": list(net.heads.parameters()), "lr": clf.lr}],
                            weight_decay=clf.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
        opt, T_0=max(1, clf.sgdr_t0 * steps), T_mult=clf.sgdr_t_mult, eta_min=clf.lr * clf.lr_min_ratio)
    autocast, amp_dtype = _autocast(device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16)

    history, lr_trace, best_score, best_state = [], [], -np.inf, None
    start = time.perf_counter()
    for epoch in range(clf.epochs):
        probing = epoch < clf.probe_epochs
        net.train()
        _set_backbone_mode(net, not probing)  # a probe: the backbone acts as fixed features
        sampler.set_epoch(epoch)
        total, seen = 0.0, 0
        bar = tqdm(loader, total=steps, desc=f"{clf.model} epoch {epoch + 1}/{clf.epochs}",
                   disable=not clf.progress, leave=False)
        for s, (x, y) in enumerate(bar):
            if len(x) < 2:  # batch norm needs two rows
                continue
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = {k: v.to(device, non_blocking=True) for k, v in y.items()}
            with autocast:
                logits = net(x)
            loss = masked_cross_entropy({k: v.float() for k, v in logits.items()}, y,
                                        label_smoothing=clf.label_smoothing, class_weights=loss_weights)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            lr_trace.append((epoch + s / steps, opt.param_groups[1]["lr"], opt.param_groups[0]["lr"]))
            sched.step()
            total += loss.item() * len(x)
            seen += len(x)
            bar.set_postfix(loss=f"{total / seen:.3f}")
        proba = _predict_net(net, val_frame, val_views, image_size, clf.batch_size, num_workers, device)
        scores = score_table(heads, val_targets, proba, train_targets)
        row = history_row(epoch, probing, total / max(seen, 1), lr_trace, start, scores)
        history.append(row)
        if best_state is None or row["val_mean_macro_f1"] > best_score:
            best_score, clf.best_epoch_ = row["val_mean_macro_f1"], epoch + 1
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
    clf.image_size_ = tuple(image_size)
    clf.view_ = view
    return finish_fit(clf, net, best_state, history, lr_trace, start)


def predict_images(clf: AttributeClassifier, frame: pd.DataFrame, view: ViewSpec | None = None,
                   image_size: tuple[int, int] | None = None, batch_size: int = 32, flips: bool = False,
                   num_workers: int = 0, device=None) -> dict[str, np.ndarray]:
    """Class probabilities ``{head: (n, k)}`` for the photos of ``frame`` (column ``path``).

    ``view`` / ``image_size`` default to those of :func:`fit_on_images`.  ``flips=True``
    averages with the mirrored photo.  ``device`` defaults to where ``clf.net_`` is
    (passing another moves the net there).  Head columns are not needed.
    """
    check_is_fitted(clf)
    view = view or getattr(clf, "view_", WHOLE)
    image_size = image_size or getattr(clf, "image_size_", None)
    if image_size is None:
        raise ValueError("image_size is needed for a classifier not fitted by fit_on_images")
    net = clf.net_
    device = torch.device(device) if device is not None else next(net.parameters()).device
    net.to(device)
    views = [view, _mirrored(view)] if flips else [view]
    return _predict_net(net, frame, views, image_size, batch_size, num_workers, device,
                        progress=getattr(clf, "progress", False))
