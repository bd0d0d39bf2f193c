"""Run a frozen network for inference: eager PyTorch or ONNX Runtime, one interface.

The frozen trunk (cached maps, the segmenter's trunk, the photo path of ``predict``) is
pure inference, and on this 2-core CPU ONNX Runtime runs EfficientNet-Lite about 2.4x faster
than eager PyTorch (50 vs 21 crops/s at 224x192; depthwise convolutions are what it does
better).  Its maps agree with PyTorch's to about 1e-6 of their range, which the float16
cache mostly cannot even store.  Trainable parts (upper blocks, heads) stay in PyTorch.

Engines are a registry (:data:`ENGINES`); :func:`runner` picks one by name, ``"auto"``
meaning ONNX Runtime when it is installed and PyTorch otherwise.  A runner is called like
the module (a batch tensor in, a tensor or a tuple of tensors out).  The ONNX runner
exports the module once per input size (the TF-"same" padding of these models is fixed at
export), with a dynamic batch, and keeps the graph on disk (:func:`cache_dir`) keyed by a
digest of the module's weights and the input size, so a new process does not export again.

The command line does not use these runners: it reads photos through whole-model graphs
exported once per build (:mod:`fashionkit.serve.deploy`, without torch).  Measured and rejected
for both: static int8 quantisation (QDQ and QOperator, per channel) of the trunk, 74-78
against 68 crops/s on this AVX2 CPU without VNNI, with answers agreeing on only 74-93 % of
photos per head.
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
import weakref
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

__all__ = ["ENGINES", "register_engine", "resolve_engine", "runner", "TorchRunner", "cache_dir", "OnnxRunner"]

ENGINES: dict[str, type] = {}


def register_engine(name: str) -> Callable[[type], type]:
    def add(cls: type) -> type:
        ENGINES[name] = cls
        cls.engine = name
        return cls
    return add


def _onnxruntime():
    try:
        import onnxruntime
    except ImportError:  # pragma: no cover - depends on the environment
        return None
    return onnxruntime


def resolve_engine(engine: str = "auto") -> str:
    """The engine ``runner(module, engine)`` will use: ``"auto"`` is ``"onnx"`` when ONNX Runtime
    is importable, else ``"torch"``."""
    if engine == "auto":
        return "onnx" if _onnxruntime() is not None else "torch"
    if engine not in ENGINES:
        raise ValueError(f"unknown engine {engine!r}; choose from {sorted(ENGINES)} or 'auto'")
    return engine


_RUNNERS: "weakref.WeakKeyDictionary[nn.Module, dict]" = weakref.WeakKeyDictionary()


def runner(module: nn.Module, engine: str = "auto", threads: int | None = None):
    """A callable running ``module`` (eval mode, no gradients) with ``engine``.

    Runners are kept per module, engine and thread count (an ONNX export costs seconds), so
    asking again for the same module is free.  The module must not be changed afterwards.
    """
    key = (resolve_engine(engine), int(threads or torch.get_num_threads()))
    kept = _RUNNERS.setdefault(module, {})
    if key not in kept:
        kept[key] = ENGINES[key[0]](module, threads=key[1])
    return kept[key]


@register_engine("torch")
class TorchRunner:
    """Eager PyTorch in channels-last layout (about 1.8x faster than contiguous on this CPU)."""

    def __init__(self, module: nn.Module, threads: int | None = None):
        self.module = module.eval().to(memory_format=torch.channels_last)

    def __call__(self, x: torch.Tensor):
        with torch.inference_mode():
            return self.module(x.contiguous(memory_format=torch.channels_last))


def cache_dir() -> Path:
    """Where exported ONNX graphs are kept: ``$FASHIONKIT_CACHE`` or ``~/.cache/fashionkit``, under ``onnx/``."""
    root = os.environ.get("FASHIONKIT_CACHE") or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "fashionkit"
    return Path(root) / "onnx"


def _fingerprint(module: nn.Module, shape: tuple[int, ...]) -> str:
    """A digest of everything an export depends on: the module's structure and weights, the
    input shape and the torch version."""
    h = hashlib.sha1(f"{torch.__version__}|{shape}|{module!r}".encode())
    for name, tensor in module.state_dict().items():
        h.update(name.encode())
        h.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()[:20]


def _exported(module: nn.Module, shape: tuple[int, ...], dtype) -> bytes:
    """The ONNX graph of ``module`` for inputs ``(batch, *shape)``, exported once per machine
    (kept in :func:`cache_dir`; an export of EfficientNet-Lite2 takes about 4 s here)."""
    path = cache_dir() / f"{_fingerprint(module, shape)}.onnx"
    if path.is_file():
        return path.read_bytes()
    example = torch.zeros((1, *shape), dtype=dtype)
    with torch.no_grad():
        out = module(example)
    names = [f"y{i}" for i in range(len(out))] if isinstance(out, (tuple, list)) else ["y0"]
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (example,), buffer, input_names=["x"], output_names=names,
                          dynamic_axes={"x": {0: "batch"}, **{n: {0: "batch"} for n in names}}, dynamo=False)
    data = buffer.getvalue()
    try:  # a cache that cannot be written (read-only home) only costs the next run an export
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_suffix(f".{os.getpid()}.partial")
        partial.write_bytes(data)
        partial.replace(path)
    except OSError:
        pass
    return data


@register_engine("onnx")
class OnnxRunner:
    """ONNX Runtime on the CPU; one session per input size, exported on first use."""

    def __init__(self, module: nn.Module, threads: int | None = None):
        ort = _onnxruntime()
        if ort is None:
            raise ImportError("engine 'onnx' needs onnxruntime (pip install onnxruntime onnx); "
                              "use engine='torch'")
        self.module = module.eval()
        self.threads = int(threads or torch.get_num_threads())
        self._ort = ort
        self._sessions: dict[tuple[int, ...], object] = {}
        self._tuple = False

    def _session(self, x: torch.Tensor):
        key = tuple(x.shape[1:])
        if key not in self._sessions:
            data = _exported(self.module, key, x.dtype)
            options = self._ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.log_severity_level = 3
            session = self._ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
            self._tuple = len(session.get_outputs()) > 1
            self._sessions[key] = session
        return self._sessions[key]

    def __call__(self, x: torch.Tensor):
        session = self._session(x)
        outs = session.run(None, {"x": x.detach().contiguous().float().numpy()})
        outs = tuple(torch.from_numpy(o) for o in outs)
        return outs if self._tuple else outs[0]


def set_threads(n: int) -> None:
    """Torch CPU threads, set deliberately (the default can oversubscribe a small machine)."""
    torch.set_num_threads(int(n))
