"""Full fine-tuning on photos: the GPU profile.

The CPU profile (:meth:`fashionkit.training.classifier.AttributeClassifier.fit`) trains the upper
blocks on cached frozen-trunk maps.  With a GPU the study's setting is affordable:
EfficientNet-B4 at 380 px, ~30 epochs, **every** block trainable, fresh augmentation on
every draw of a photo.  :func:`fit_on_images` does that for an (unfitted)
:class:`~fashionkit.training.classifier.AttributeClassifier`, reading its settings (backbone, lr,
SGDR, sampling, label smoothing, ...) and setting the same fitted attributes as ``fit``
(``net_``, ``history_``, ``lr_trace_``, ``best_epoch_``, ``classes_``,
``fit_seconds_``), so the rest of the book (metrics, plots) does not care which
profile trained the model.  It runs on CPU too (slowly; the tests use a tiny model).

Choices:

* the whole backbone is trainable, batch norm included: the stem's ``FrozenTrunk`` is
  unfrozen and its BN layers are put in train mode for each training epoch (its own
  ``train()`` always forces eval mode, which is right only for the CPU profile);
* augmentation: the view's crop, then an :mod:`fashionkit.vision.augment` recipe at the photo's
  resolution, then pad-to-aspect, resize and normalise exactly as
  :func:`fashionkit.vision.features.prepare_image` (the model's timm data config);
* one epoch = ``len(train_frame)`` draws: with ``sampling="oversample"`` drawn with
  replacement by :func:`fashionkit.training.sampling.epoch_indices` (the same draws as the CPU
  profile), else a seeded permutation; ``"class_weight"`` weights the loss instead;
* AdamW, backbone at ``lr * upper_lr_mult`` and heads at ``lr``, cosine annealing with
  warm restarts stepped every batch; ``probe_epochs`` first epochs train the heads alone;
* mixed precision (bfloat16 where supported, else float16 with loss scaling) on CUDA only;
* the epoch kept has the best mean macro-F1 on the validation frame.

Several GPUs or machines: under ``torchrun`` (see :mod:`fashionkit.vision.distributed`) the same
call trains with ``DistributedDataParallel``.  ``clf.batch_size`` is the **global** batch,
each of the ``W`` processes takes ``batch_size / W`` rows of it, and the learning rate and
the SGDR steps are those of the global batch.  The epoch's draws are made once, as in one
process, and rank ``r`` takes every ``W``-th (no ``DistributedSampler``, which would redraw
and undo the oversampling), so the ranks' batches together are the single-process batches.
Each rank's loss is its rows' share of the global batch's :func:`masked_cross_entropy`
(summed per head and divided by that head's labelled rows, or class weights, in the whole
global batch, known to every rank from the shared draws), times ``W`` since DDP averages
the gradients: the gradient is the single-process one up to float rounding.  What still
differs: batch norm's batch statistics (per rank unless ``sync_bn``, which needs GPUs), the
random streams of augmentation and dropout (seeded per rank), and a last global batch with
fewer rows than processes, which is skipped (one process skips fewer than 2 rows).
Validation photos are split by rank and gathered in order; rank 0 scores, keeps the best
epoch and broadcasts the decision, so every rank returns the same fitted classifier; only
rank 0 shows progress.  Writing files is the caller's job, on rank 0
(:mod:`fashionkit.training.train_gpu`).

Checkpoints: the net is built with every block in ``upper`` (``net_.trainable_blocks``
= the backbone's block count), so a checkpoint must be rebuilt with that value.
"""

from __future__ import annotations

import copy
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

from fashionkit.data.images import load_image
from fashionkit.data.schema import Head
from fashionkit.data.validation import check_is_fitted
from fashionkit.metrics.scores import score_table
from fashionkit.training import sampling
from fashionkit.training.classifier import (
    AttributeClassifier,
    encode_targets_np,
    finish_fit,
    history_row,
    rare_class_weights,
)
from fashionkit.vision import augment, distributed
from fashionkit.vision.crops import WHOLE, ViewSpec
from fashionkit.vision.features import prepare_image, stage_boundaries
from fashionkit.vision.models import MISSING, create_model, encode_targets, masked_cross_entropy

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
    the crop/flip (:class:`~fashionkit.vision.crops.ViewSpec`), ``image_size``
    ``(height, width)``.

    ``recipe=None`` is the evaluation transform (deterministic: exactly
    :func:`~fashionkit.vision.features.prepare_image`).  With a recipe every call draws a fresh
    augmentation; the random stream is seeded with ``seed`` in the main process and with
    the worker's seed (``torch.utils.data.get_worker_info().seed``, drawn from the
    DataLoader's generator) in a worker process.  Unreadable photos raise
    :class:`~fashionkit.data.images.ImageProblem`.
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

    With ``weights`` (:func:`fashionkit.training.sampling.sample_weights`): ``n`` draws with
    replacement (:func:`fashionkit.training.sampling.epoch_indices`, a seeded
    ``WeightedRandomSampler``); without: a permutation.  ``rank`` / ``world_size``: the
    epoch is drawn whole, the same on every rank, and this sampler yields rank ``rank``'s
    share (every ``world_size``-th draw, :func:`fashionkit.vision.distributed.shard`).
    """

    def __init__(self, n: int, weights: np.ndarray | None = None, seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        self.n, self.weights, self.seed, self.epoch = int(n), weights, int(seed), 0
        self.rank, self.world_size = int(rank), int(world_size)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(range(self.rank, self.n, self.world_size))

    def epoch_order(self) -> np.ndarray:
        """Every draw of the epoch, all ranks' shares together (the single-process order)."""
        if self.weights is not None:
            return sampling.epoch_indices(self.weights, self.seed, self.epoch, size=self.n)
        return np.random.default_rng([self.seed, self.epoch]).permutation(self.n)

    def __iter__(self):
        return iter(self.epoch_order()[self.rank::self.world_size].tolist())


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
                 progress=False, ctx: distributed.Context | None = None) -> dict[str, np.ndarray]:
    """Softmax per head, averaged over ``views`` (eval transform).

    Under several processes (``ctx``) each rank predicts its share of the rows and every
    rank gets all of them back, in ``frame``'s order.
    """
    ctx = ctx or distributed.Context(device=device)
    n = len(frame)
    if ctx.distributed:
        frame = frame.iloc[distributed.shard(np.arange(n), ctx)]
    net.eval()
    out = None
    for view in views:
        data = ImageDataset(frame, net.head_specs, net.data_config, view, image_size)
        parts = {k: [] for k in net.heads}
        with torch.inference_mode():
            for x, _ in tqdm(_loader(data, batch_size, num_workers, device), desc=f"predict {view.name}",
                             disable=not (progress and ctx.is_main), leave=False):
                x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
                with _autocast(device)[0]:
                    logits = net(x)
                for key, value in logits.items():
                    parts[key].append(value.float().softmax(dim=1).cpu().numpy())
        proba = {k: np.concatenate(v) if v else np.empty((0, net.heads[k].out_features), np.float32)
                 for k, v in parts.items()}
        out = proba if out is None else {k: out[k] + proba[k] for k in out}
    return distributed.gather_rows({k: v / len(views) for k, v in out.items()}, n, ctx)


def _mirrored(view: ViewSpec) -> ViewSpec:
    return ViewSpec(f"{view.name}_mirrored", view.box, not view.flip, view.size)


def _rank_seed(seed: int, rank: int) -> int:
    """The seed of rank ``rank``'s augmentation and dropout streams (rank 0: ``seed`` itself)."""
    return seed if rank == 0 else int(np.random.SeedSequence([seed, rank]).generate_state(1)[0])


def _denominators(targets: dict[str, np.ndarray], rows: np.ndarray, class_weights) -> dict[str, float]:
    """Per head, what :func:`masked_cross_entropy` divides the global batch ``rows``'s summed loss by:
    the labelled rows, or the sum of their class weights."""
    out = {}
    for key, target in targets.items():
        labels = target[rows]
        labels = labels[labels >= 0]
        out[key] = (float(len(labels)) if class_weights is None
                    else float(class_weights[key].cpu().numpy()[labels].sum()))
    return out


def _shard_loss(logits, targets, denominators: dict[str, float], world_size: int,
                label_smoothing: float = 0.0, class_weights=None) -> torch.Tensor:
    """This rank's share of the global batch's :func:`masked_cross_entropy`, times ``world_size``.

    Each head's loss is summed over this rank's labelled rows and divided by the head's
    ``denominators`` entry for the whole global batch (:func:`_denominators`), so the ranks'
    values add up to the single-process loss; DDP averages the gradients over the ranks,
    hence the factor ``world_size``.  A head without a labelled row here contributes 0 and
    stays in the graph (DDP expects a gradient for every head).
    """
    return masked_cross_entropy(logits, targets, label_smoothing, class_weights,
                                denominators=denominators, scale=world_size)


# --------------------------------------------------------------------------- fit / predict


def fit_on_images(clf: AttributeClassifier, train_frame: pd.DataFrame, val_frame: pd.DataFrame,
                  view: ViewSpec = WHOLE, image_size: tuple[int, int] = (380, 254), recipe="light",
                  num_workers: int = 0, device=None, *, val_flips: bool = False,
                  sync_bn: bool = True) -> AttributeClassifier:
    """Fine-tune every block of ``clf.backbone`` plus the heads on photos; return ``clf``.

    ``train_frame`` / ``val_frame``: manifest rows with ``path`` and the head columns of
    ``clf.model``.  ``view`` / ``image_size`` ``(height, width)``: what the network sees
    (default the whole 2:3 photo at 254x380).  ``recipe``: an :mod:`fashionkit.vision.augment`
    recipe name or dict (``None``: no augmentation).  ``device``: default CUDA when
    available, else CPU.  ``val_flips``: validate on the mean of the photo and its
    mirror.  The settings read from ``clf``: model, backbone, pretrained, epochs,
    probe_epochs, batch_size, lr, upper_lr_mult, weight_decay, drop_rate,
    label_smoothing, sgdr_t0, sgdr_t_mult, lr_min_ratio, sampling, sampling_power, seed,
    progress (``trainable_blocks`` and ``eval_views`` are CPU-profile settings, unused).
    The fitted net stays on ``device``; ``image_size_`` and ``view_`` record the input.

    Under ``torchrun`` (module docstring): ``clf.batch_size`` is the global batch and must
    be a multiple of the number of processes; ``device`` ``"cuda"`` means this process's
    GPU (``LOCAL_RANK``); ``sync_bn`` computes batch-norm statistics over the global batch
    on GPUs (``SyncBatchNorm``; ignored on CPU and in one process).  Every rank returns the
    same classifier, its net a plain (unwrapped) :class:`~fashionkit.vision.models.AttributeNet`.
    """
    heads = clf._heads()
    # settles (and checks) the rare-class strategy before any model or photo is touched
    weights, loss_weights = rare_class_weights(train_frame, heads, clf.sampling, clf.sampling_power)
    if recipe is not None:
        augment.get_recipe(recipe)  # a bad name fails before any photo is read
    ctx = distributed.init_from_env(device)
    device, world = ctx.device, ctx.world_size
    if clf.batch_size % world:
        raise ValueError(f"batch_size {clf.batch_size} is the global batch: it must be a multiple of the "
                         f"{world} processes")
    torch.manual_seed(clf.seed)
    net = create_model(clf.backbone, heads=heads, pretrained=clf.pretrained,
                       trainable_blocks=count_blocks(clf.backbone), drop_rate=clf.drop_rate)
    net = net.to(device).to(memory_format=torch.channels_last)
    plain, model, seed = net, net, _rank_seed(clf.seed, ctx.rank)
    if ctx.distributed:
        from torch.nn.parallel import DistributedDataParallel

        torch.manual_seed(seed)  # dropout: each rank its own masks
        if sync_bn and device.type == "cuda":
            from timm.layers import convert_sync_batchnorm

            net = convert_sync_batchnorm(copy.deepcopy(plain))  # the plain net receives the kept weights
        net.requires_grad_(True)  # DDP reduces the gradients of the parameters that need one when wrapped
        # a probe epoch leaves the trunk out of the graph: DDP must look for unused parameters
        model = DistributedDataParallel(net, device_ids=[device] if device.type == "cuda" else None,
                                        find_unused_parameters=clf.probe_epochs > 0)

    data = ImageDataset(train_frame, heads, net.data_config, view, image_size, recipe=recipe, seed=seed)
    sampler = EpochSampler(len(data), weights, clf.seed, ctx.rank, world)
    loader = _loader(data, clf.batch_size // world, num_workers, device, sampler=sampler,
                     generator=torch.Generator().manual_seed(seed), persistent=True)
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
        order = sampler.epoch_order()  # the global batches, which every rank knows
        total, seen = 0.0, 0
        bar = tqdm(loader, total=steps, desc=f"{clf.model} epoch {epoch + 1}/{clf.epochs}",
                   disable=not (clf.progress and ctx.is_main), leave=False)
        for s, (x, y) in enumerate(bar):
            rows = order[s * clf.batch_size:(s + 1) * clf.batch_size]
            if len(rows) < max(2, world):  # batch norm needs two rows; every rank needs one
                continue
            x = x.to(device, non_blocking=True).contiguous(memory_format=torch.channels_last)
            y = {k: v.to(device, non_blocking=True) for k, v in y.items()}
            with autocast:
                logits = model(x)
            if ctx.distributed:
                loss = _shard_loss({k: v.float() for k, v in logits.items()}, y,
                                   _denominators(data.targets, rows, loss_weights), world,
                                   label_smoothing=clf.label_smoothing, class_weights=loss_weights)
            else:
                loss = masked_cross_entropy({k: v.float() for k, v in logits.items()}, y,
                                            label_smoothing=clf.label_smoothing, class_weights=loss_weights)
            opt.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(opt)
            scaler.update()
            lr_trace.append((epoch + s / steps, opt.param_groups[1]["lr"], opt.param_groups[0]["lr"]))
            sched.step()
            total += loss.item() * len(rows) / world  # this rank's share of the global batch's loss
            seen += len(rows)
            bar.set_postfix(loss=f"{total * world / seen:.3f}")
        total = distributed.all_reduce_sum(total, ctx)
        distributed.broadcast_buffers(net, ctx)  # rank 0's batch-norm statistics: all ranks validate one net
        proba = _predict_net(net, val_frame, val_views, image_size, clf.batch_size, num_workers, device,
                             ctx=ctx)
        row = None
        if ctx.is_main:  # rank 0 scores; the row (and so the best epoch) is broadcast
            scores = score_table(heads, val_targets, proba, train_targets)
            row = history_row(epoch, probing, total / max(seen, 1), lr_trace, start, scores)
        row = distributed.broadcast_object(row, ctx)
        history.append(row)
        if best_state is None or row["val_mean_macro_f1"] > best_score:
            best_score, clf.best_epoch_ = row["val_mean_macro_f1"], epoch + 1
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in net.state_dict().items()}
    clf.image_size_ = tuple(image_size)
    clf.view_ = view
    return finish_fit(clf, plain, best_state, history, lr_trace, start)


def predict_images(clf: AttributeClassifier, frame: pd.DataFrame, view: ViewSpec | None = None,
                   image_size: tuple[int, int] | None = None, batch_size: int = 32, flips: bool = False,
                   num_workers: int = 0, device=None) -> dict[str, np.ndarray]:
    """Class probabilities ``{head: (n, k)}`` for the photos of ``frame`` (column ``path``).

    ``view`` / ``image_size`` default to those of :func:`fit_on_images`.  ``flips=True``
    averages with the mirrored photo.  ``device`` defaults to where ``clf.net_`` is
    (passing another moves the net there).  Head columns are not needed.  Under
    ``torchrun`` each process predicts its share of the photos (on its own GPU when
    ``device`` is CUDA) and every process returns all of them, in ``frame``'s order.
    """
    check_is_fitted(clf)
    view = view or getattr(clf, "view_", WHOLE)
    image_size = image_size or getattr(clf, "image_size_", None)
    if image_size is None:
        raise ValueError("image_size is needed for a classifier not fitted by fit_on_images")
    net = clf.net_
    device = torch.device(device) if device is not None else next(net.parameters()).device
    ctx = distributed.init_from_env(device)
    device = ctx.device
    net.to(device)
    views = [view, _mirrored(view)] if flips else [view]
    return _predict_net(net, frame, views, image_size, batch_size, num_workers, device,
                        progress=getattr(clf, "progress", False), ctx=ctx)
