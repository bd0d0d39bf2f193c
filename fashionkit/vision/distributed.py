"""Several processes, GPUs or machines: what ``torchrun`` gives, and the few collectives used here.

The GPU profile (:func:`fashionkit.training.finetune.fit_on_images`), its predictions and the CPU
profile's feature cache (:func:`fashionkit.vision.features.extract_features`) run unchanged in one
process and under ``torchrun --nproc_per_node N [--nnodes M ...]``.  ``torchrun`` sets
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK`` and the rendezvous address in each process's
environment; :func:`init_from_env` reads them and joins the process group (NCCL on GPUs,
gloo on CPU).  Without ``WORLD_SIZE`` (or with 1) nothing is initialised and every helper
below is the identity, so the single-process path runs exactly as before.

The work is split by rows: rank ``r`` of ``W`` takes rows ``r, r + W, r + 2W, ...``
(:func:`shard`) of a list every rank computes identically (an epoch's draws, the validation
photos, the photos to extract), and :func:`gather_rows` puts the per-rank answers back in
the list's order.  Decisions (the best epoch, whether a cached view is complete) are made on
rank 0 and broadcast (:func:`broadcast_object`); only rank 0 writes files, then every rank
waits at a :func:`barrier`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import torch
import torch.distributed as dist

__all__ = ["Context", "current", "init_from_env", "shard", "gather_rows", "all_reduce_sum", "broadcast_object", "broadcast_buffers", "barrier", "close"]


@dataclass(frozen=True)
class Context:
    """Where this process stands: ``rank`` of ``world_size``, ``local_rank`` on its machine, ``device``."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_main(self) -> bool:
        """Rank 0: the process that scores, prints and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def _default_device(device) -> torch.device:
    return torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))


def current(device=None) -> Context:
    """The context of the process group already joined, else a single process on ``device``."""
    if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
        return Context(device=_default_device(device))
    local_rank = int(os.environ.get("LOCAL_RANK", 0))
    want = _default_device(device)
    if dist.get_backend() == "nccl" or (want.type == "cuda" and torch.cuda.is_available()):
        want = torch.device("cuda", local_rank)
    return Context(dist.get_rank(), dist.get_world_size(), local_rank, want)


def init_from_env(device=None) -> Context:
    """Join the process group ``torchrun`` describes in the environment; return this process's context.

    ``device``: ``None`` (CUDA when available, else CPU), ``"cuda"`` or ``"cpu"``.  Under
    ``torchrun`` a CUDA device becomes ``cuda:LOCAL_RANK`` with the NCCL backend; a CPU
    device uses gloo.  Calling it again (or after the caller joined a group itself) returns
    the same context.  Without ``WORLD_SIZE`` > 1 nothing is initialised.
    """
    if int(os.environ.get("WORLD_SIZE", 1)) > 1 and not dist.is_initialized():
        want = _default_device(device)
        cuda = want.type == "cuda" and torch.cuda.is_available()
        if cuda:
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
        dist.init_process_group("nccl" if cuda else "gloo")
    return current(device)


def shard(rows, ctx: Context):
    """Rank ``ctx.rank``'s share of ``rows``: every ``world_size``-th, starting at its rank.

    With a global batch of ``B = b * W`` rows, rank ``r``'s ``s``-th batch of ``b`` holds
    exactly its share of the ``s``-th global batch, so the ranks' batches together are the
    single-process batches.
    """
    return rows[ctx.rank::ctx.world_size]


def gather_rows(part, n: int, ctx: Context):
    """The per-rank ``part`` (rows ``shard(range(n))``) of every rank, put back in row order, on every rank.

    ``part``: an array with one row per shard row, or a dict of such arrays (e.g. one per
    head).  One process: ``part`` itself.
    """
    if not ctx.distributed:
        return part
    parts = [None] * ctx.world_size
    dist.all_gather_object(parts, part)
    if isinstance(part, dict):
        return {k: _interleave([p[k] for p in parts], n) for k in part}
    return _interleave(parts, n)


def _interleave(parts, n: int) -> np.ndarray:
    """Rows ``r::W`` from ``parts[r]``; a rank without rows may send any empty array."""
    first = next(p for p in parts if len(p))
    out = np.empty((n, *first.shape[1:]), dtype=first.dtype)
    for r, p in enumerate(parts):
        if len(p):
            out[r::len(parts)] = p
    return out


def all_reduce_sum(value: float, ctx: Context) -> float:
    """The sum of ``value`` over the ranks (float64, so the sum does not depend on the device)."""
    if not ctx.distributed:
        return value
    t = torch.tensor([float(value)], dtype=torch.float64, device=ctx.device)
    dist.all_reduce(t)
    return float(t.item())


def broadcast_object(obj, ctx: Context):
    """Rank 0's ``obj`` on every rank (a decision made once)."""
    if not ctx.distributed:
        return obj
    box = [obj]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def broadcast_buffers(module: torch.nn.Module, ctx: Context) -> None:
    """Rank 0's buffers (batch-norm running statistics) on every rank, so all ranks evaluate the same net."""
    if ctx.distributed:
        for buffer in module.buffers():
            dist.broadcast(buffer.data, src=0)


def barrier(ctx: Context) -> None:
    """Wait until every rank arrives (after rank 0 wrote files the others read)."""
    if ctx.distributed:
        dist.barrier()


def close() -> None:
    """Leave the process group, if this process joined one (at the end of a ``torchrun`` entry point)."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
