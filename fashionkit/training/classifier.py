"""Training of the attribute models: an estimator in scikit-learn style.

:class:`AttributeClassifier` stores its settings in ``__init__`` and does nothing else.
``fit`` trains the upper backbone blocks and the heads of an
:class:`~fashionkit.vision.models.AttributeNet` on cached frozen-trunk maps
(:mod:`fashionkit.vision.features`) and returns ``self``; what it learned is in attributes with
a trailing underscore (``net_``, ``history_``, ``lr_trace_``, ``best_epoch_``).

The study's tricks, each a parameter:

* transfer learning: ImageNet weights; ``probe_epochs`` first train the heads alone on
  frozen features (a linear probe), then ``trainable_blocks`` upper blocks are fine-tuned
  with the heads (at ``lr * upper_lr_mult``);
* augmentation: every epoch draws one of the cached views per photo (whole, mirrored,
  albumentations-augmented ...), so each photo is seen differently across epochs;
* AdamW with cosine annealing and warm restarts (SGDR): the rate restarts after
  ``sgdr_t0`` epochs, then after ``sgdr_t0 * sgdr_t_mult`` ... (stepped every batch);
* rare classes: ``sampling="oversample"`` draws photos in proportion to
  :func:`fashionkit.training.sampling.sample_weights`, ``"class_weight"`` weights the loss
  instead, ``"none"`` does neither.

The epoch kept is the one with the best mean macro-F1 over heads on the validation
split; the test split is never passed here.
"""

from __future__ import annotations

import copy
import json
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from tqdm import tqdm

from fashionkit.data.schema import SchemaDigest, heads
from fashionkit.data.schema import heads as schema_heads
from fashionkit.data.validation import check_is_fitted
from fashionkit.metrics.scores import STUDY_ACCURACY, score_table
from fashionkit.training import sampling
from fashionkit.vision.cached_views import take
from fashionkit.vision.localise import segmenter_from_state
from fashionkit.vision.models import create_model, encode_targets, masked_cross_entropy


def read_sampling_choice(path, sampling: str, power: float) -> tuple[str, float, str]:
    """``(sampling, power, why)``: the given setting, or chapter 2's winner when it says "auto"."""
    if sampling != "auto":
        return sampling, power, "set in params"
    choice = json.loads(Path(path).read_text())
    return choice["sampling"], float(choice["sampling_power"]), f"chapter 2's winner ({Path(path).name})"


def validation_table(clf, manifest: pd.DataFrame, rows: np.ndarray, views: dict, positions: dict,
                     view_names) -> pd.DataFrame:
    """Per head on validation: n, accuracy, macro-F1, balanced accuracy, majority baseline, the study's figure."""

    hs = heads(clf.model)
    frame = manifest.iloc[rows]
    proba = clf.predict_proba(take(views, positions["val"]), view_names)
    table = score_table(hs, encode_targets_np(frame.iloc[positions["val"]], hs), proba,
                        encode_targets_np(frame.iloc[positions["train"]], hs))
    table.insert(0, "study_accuracy_%", [STUDY_ACCURACY.get(k, np.nan) for k in table.index])
    return table


def rare_class_weights(labels: pd.DataFrame, heads, strategy: str, power: float):
    """``(row drawing weights or None, {head: loss weight tensor} or None)`` for a strategy.

    The one place that turns ``sampling`` / ``sampling_power`` into what a training loop
    uses: oversampling draws rows by :func:`fashionkit.training.sampling.sample_weights`, class
    weighting weighs the loss by :func:`fashionkit.training.sampling.class_weights`, "none" neither.
    """
    if strategy not in sampling.STRATEGIES:
        raise ValueError(f"sampling must be one of {sampling.STRATEGIES}, got {strategy!r}")
    rows = sampling.sample_weights(labels, heads, power) if strategy == "oversample" else None
    loss = ({h.key: torch.tensor(sampling.class_weights(labels, h, power), dtype=torch.float32) for h in heads}
            if strategy == "class_weight" else None)
    return rows, loss


def history_row(epoch: int, probing: bool, train_loss: float, lr_trace: list, start: float,
                scores: pd.DataFrame) -> dict:
    """One row of the per-epoch log: loss, rate, time, and every head's validation scores."""
    row = {"epoch": epoch + 1, "phase": "probe" if probing else "fine-tune", "train_loss": train_loss,
           "lr": lr_trace[-1][1] if lr_trace else np.nan, "seconds": time.perf_counter() - start,
           "val_mean_macro_f1": scores["macro_f1"].mean()}
    for key, r in scores.iterrows():
        row[f"{key}_accuracy"] = r["accuracy"]
        row[f"{key}_macro_f1"] = r["macro_f1"]
    return row


def finish_fit(clf, net, best_state: dict, history: list, lr_trace: list, start: float):
    """Restore the best epoch's weights and set the fitted attributes of ``clf``; returns it."""
    net.load_state_dict(best_state)
    net.eval()
    clf.net_ = net
    clf.history_ = pd.DataFrame(history)
    clf.lr_trace_ = pd.DataFrame(lr_trace, columns=["epoch", "lr_heads", "lr_upper"])
    clf.classes_ = {h.key: h.names for h in schema_heads(clf.model)}
    clf.fit_seconds_ = time.perf_counter() - start
    return clf


class AttributeClassifier:
    """Multi-head classifier for one model of the schema (``"top"`` or ``"bottom"``)."""

    def __init__(self, model="top", backbone="tf_efficientnet_lite2", pretrained=True, trainable_blocks=1,
                 epochs=7, probe_epochs=1, batch_size=32, lr=1e-3, upper_lr_mult=0.3, weight_decay=0.02,
                 drop_rate=0.2, label_smoothing=0.1, sgdr_t0=1, sgdr_t_mult=2, lr_min_ratio=0.01,
                 sampling="oversample", sampling_power=0.5, eval_views=("whole",), seed=0, progress=True,
                 cut_pool=False):
        self.model = model
        self.backbone = backbone
        self.pretrained = pretrained
        self.trainable_blocks = trainable_blocks
        self.epochs = epochs
        self.probe_epochs = probe_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.upper_lr_mult = upper_lr_mult
        self.weight_decay = weight_decay
        self.drop_rate = drop_rate
        self.label_smoothing = label_smoothing
        self.sgdr_t0 = sgdr_t0
        self.sgdr_t_mult = sgdr_t_mult
        self.lr_min_ratio = lr_min_ratio
        self.sampling = sampling
        self.sampling_power = sampling_power
        self.eval_views = eval_views
        self.seed = seed
        self.progress = progress
        self.cut_pool = cut_pool

    # ------------------------------------------------------------------ helpers
    def get_params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.endswith("_")}

    def _heads(self):
        return schema_heads(self.model)

    @staticmethod
    def _batch(views: dict, names: Sequence[str], rows: np.ndarray, view_idx: np.ndarray) -> torch.Tensor:
        x = np.stack([views[names[v]][r] for r, v in zip(rows, view_idx)])
        return torch.from_numpy(x).float().contiguous(memory_format=torch.channels_last)

    @classmethod
    def _forward(cls, net, views: dict, names: Sequence[str], rows: np.ndarray, view_idx: np.ndarray) -> dict:
        """Logits of a batch whose photos were each drawn in one of ``names``; views whose maps
        differ in size (a garment crop is smaller than the fixed crop) run as sub-batches and
        the logits come back in the batch's order."""
        shapes = [views[names[v]].shape[1:] for v in view_idx]
        groups: dict[tuple, list[int]] = {}
        for i, shape in enumerate(shapes):
            groups.setdefault(tuple(shape), []).append(i)
        if len(groups) == 1:
            return net.forward_features(cls._batch(views, names, rows, view_idx))
        parts = [(np.array(i), net.forward_features(cls._batch(views, names, rows[i], view_idx[i])))
                 for i in groups.values()]
        back = torch.from_numpy(np.argsort(np.concatenate([i for i, _ in parts]), kind="stable"))
        return {k: torch.cat([out[k] for _, out in parts])[back] for k in parts[0][1]}

    # ------------------------------------------------------------------ fit
    def fit(self, views: dict, labels: pd.DataFrame, val_views: dict, val_labels: pd.DataFrame):
        """Train on cached maps.

        ``views``: ``{view name: array (n, C, h, w)}`` for the training rows (float16 is
        fine), rows aligned with ``labels`` (a manifest slice with the head columns);
        ``val_views`` / ``val_labels`` the same for the validation rows.
        """
        heads = self._heads()
        names = list(views)
        self.views_ = tuple(names)  # the views it was trained on (one drawn per photo and epoch)
        n = len(labels)
        if any(len(v) != n for v in views.values()):
            raise ValueError("every training view must have one row per label row")
        # settles (and checks) the rare-class strategy before the costly model is built
        weights, loss_weights = rare_class_weights(labels, heads, self.sampling, self.sampling_power)
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        net = create_model(self.backbone, heads=heads, pretrained=self.pretrained,
                           trainable_blocks=self.trainable_blocks, drop_rate=self.drop_rate, cut_pool=self.cut_pool)
        net = net.to(memory_format=torch.channels_last)
        targets = encode_targets(labels, heads)

        steps = int(np.ceil(n / self.batch_size))
        opt = torch.optim.AdamW([{"params": list(net.upper.parameters()), "lr": self.lr * self.upper_lr_mult},
                                 {"params": list(net.heads.parameters()), "lr": self.lr}],
                                weight_decay=self.weight_decay)
        sched = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            opt, T_0=max(1, self.sgdr_t0 * steps), T_mult=self.sgdr_t_mult, eta_min=self.lr * self.lr_min_ratio)

        history, lr_trace, best_score, best_state = [], [], -np.inf, None
        start = time.perf_counter()
        for epoch in range(self.epochs):
            probing = epoch < self.probe_epochs
            net.upper.requires_grad_(not probing)
            net.train()
            if probing:
                net.upper.eval()  # a linear probe: the upper blocks act as fixed features
            order = (sampling.epoch_indices(weights, self.seed, epoch) if weights is not None
                     else rng.permutation(n))
            view_idx = rng.integers(0, len(names), size=len(order))
            total, seen = 0.0, 0
            bar = tqdm(range(steps), desc=f"{self.model} epoch {epoch + 1}/{self.epochs}",
                       disable=not self.progress, leave=False)
            for s in bar:
                rows = order[s * self.batch_size:(s + 1) * self.batch_size]
                if len(rows) < 2:  # batch norm needs two rows
                    continue
                logits = self._forward(net, views, names, rows, view_idx[s * self.batch_size:(s + 1) * self.batch_size])
                batch_targets = {k: v[rows] for k, v in targets.items()}
                loss = masked_cross_entropy(logits, batch_targets,
                                            label_smoothing=self.label_smoothing, class_weights=loss_weights)
                opt.zero_grad()
                loss.backward()
                opt.step()
                lr_trace.append((epoch + s / steps, opt.param_groups[1]["lr"], opt.param_groups[0]["lr"]))
                sched.step()
                total += loss.item() * len(rows)
                seen += len(rows)
            self.net_ = net
            proba = self._predict(net, val_views, self.eval_views)
            scores = score_table(heads, encode_targets_np(val_labels, heads), proba,
                                 encode_targets_np(labels, heads))
            row = history_row(epoch, probing, total / max(seen, 1), lr_trace, start, scores)
            history.append(row)
            if row["val_mean_macro_f1"] > best_score:
                best_score, best_state, self.best_epoch_ = row["val_mean_macro_f1"], copy.deepcopy(net.state_dict()), epoch + 1
        return finish_fit(self, net, best_state, history, lr_trace, start)

    # ------------------------------------------------------------------ predict
    @staticmethod
    def _predict(net, views: dict, names: Sequence[str], batch_size: int = 128) -> dict[str, np.ndarray]:
        net.eval()
        out = None
        with torch.inference_mode():
            for name in names:
                maps = views[name]
                parts = {h: [] for h in net.heads}
                for i in range(0, len(maps), batch_size):
                    x = torch.from_numpy(np.array(maps[i:i + batch_size], dtype=np.float32))
                    for key, logits in net.forward_features(x.contiguous(memory_format=torch.channels_last)).items():
                        parts[key].append(logits.softmax(dim=1).numpy())
                proba = {k: np.concatenate(v) for k, v in parts.items()}
                out = proba if out is None else {k: out[k] + proba[k] for k in out}
        return {k: v / len(names) for k, v in out.items()}

    def predict_proba(self, views: dict, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        """Class probabilities per head from cached maps, averaged over ``names`` views."""
        check_is_fitted(self)
        return self._predict(self.net_, views, list(names or self.eval_views))


def encode_targets_np(frame: pd.DataFrame, heads) -> dict[str, np.ndarray]:
    return {k: v.numpy() for k, v in encode_targets(frame, heads).items()}


# ---------------------------------------------------------------------- checkpoints
class SchemaMismatchError(ValueError):
    """A checkpoint was trained for other heads or classes than the current schema's."""


def schema_record(model: str) -> dict[str, list[str]]:
    """The schema's digest of one model as a checkpoint stores it (plain lists)."""
    return {key: list(names) for key, names in SchemaDigest.of(model).heads.items()}


def split_digest(split_table: pd.DataFrame) -> str:
    """A short hash of the split table (source, image, split), stored in checkpoints."""
    import hashlib

    rows = split_table.sort_values(["source", "image"])[["source", "image", "split"]]
    return hashlib.sha1(rows.to_csv(index=False).encode()).hexdigest()[:16]


def save_checkpoint(clf: AttributeClassifier, path, split_hash: str, extra: dict | None = None) -> None:
    """Weights + schema + parameters + split hash, so a checkpoint can't be misused silently."""
    check_is_fitted(clf)
    torch.save({
        "format": "fashionkit-checkpoint-1",
        "state_dict": clf.net_.state_dict(),
        "schema": schema_record(clf.model),
        "params": {**clf.get_params(), "trainable_blocks": clf.net_.trainable_blocks},
        "split_hash": split_hash,
        "data_config": clf.net_.data_config,
        "best_epoch": clf.best_epoch_,
        "extra": dict(extra or {}),
    }, path)


def load_checkpoint(path, split_hash: str | None = None) -> AttributeClassifier:
    """Rebuild a fitted :class:`AttributeClassifier`; raise if the schema (or split) differs.

    Besides the weights, ``extra_`` holds the ``extra`` dict the training chapter saved
    (its views and image size), so callers read the file once.
    """
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    params = dict(ckpt["params"])
    clf = AttributeClassifier(**{**params, "pretrained": False})
    clf.pretrained = params.get("pretrained", True)
    current = schema_record(clf.model)
    if ckpt["schema"] != current:
        diff = sorted(k for k in set(current) | set(ckpt["schema"]) if current.get(k) != ckpt["schema"].get(k))
        raise SchemaMismatchError(
            f"checkpoint {path} was trained for another schema (heads differing: {', '.join(diff)}); "
            "retrain it with the current fashionkit.data.schema")
    if split_hash is not None and ckpt["split_hash"] != split_hash:
        raise SchemaMismatchError(f"checkpoint {path} was trained on split {ckpt['split_hash']}, not {split_hash}")
    net = create_model(clf.backbone, heads=clf._heads(), pretrained=False,
                       trainable_blocks=clf.trainable_blocks, drop_rate=clf.drop_rate, cut_pool=clf.cut_pool)
    net.load_state_dict(ckpt["state_dict"])
    net.eval()
    clf.net_, clf.best_epoch_ = net, ckpt["best_epoch"]
    clf.extra_ = dict(ckpt.get("extra", {}))  # what the training chapter stored: views, image size
    if "segmenter" in clf.extra_:  # the garment locator the model's views crop with

        clf.segmenter_ = segmenter_from_state(clf.extra_.pop("segmenter"))
    clf.classes_ = current
    clf.split_hash_ = ckpt["split_hash"]
    return clf


# ---------------------------------------------------------------------- linear probes
def settings_table(classifiers) -> pd.DataFrame:
    """How each model was trained, read from its checkpoint (:func:`load_checkpoint`): one row per
    model of ``classifiers`` (``{model: fitted AttributeClassifier}``)."""
    rows = {}
    for model, clf in classifiers.items():
        extra = getattr(clf, "extra_", {})
        size = extra.get("image_size")
        rows[model] = {
            "backbone": clf.backbone,
            "trained on views": ", ".join(extra.get("trained_views") or []) or None,
            "image size": f"{size[0]} × {size[1]} px" if size else None,
            "backbone blocks trained": f"last {clf.trainable_blocks}",
            "rare classes": clf.sampling,
            "epochs": clf.epochs,
            "epoch kept": clf.best_epoch_,
        }
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def pooled_features(net, views: dict, batch_size: int = 256) -> dict[str, np.ndarray]:
    """``{view: (n, num_features)}``: the pooled output of ``net.upper`` on cached maps (eval mode)."""
    net.eval()
    out = {}
    with torch.inference_mode():
        for name, maps in views.items():
            parts = [net.embed(torch.from_numpy(np.array(maps[i:i + batch_size], dtype=np.float32))
                               .contiguous(memory_format=torch.channels_last)).numpy()
                     for i in range(0, len(maps), batch_size)]
            out[name] = np.concatenate(parts)
    return out


class HeadProbe:
    """Linear softmax heads on fixed pooled features: the quick model of chapter 2.

    It isolates what a resampling strategy does to the heads, with the backbone held
    fixed, in seconds instead of minutes.  Same ``sampling`` settings as
    :class:`AttributeClassifier`; each epoch draws one of the given views per photo.
    """

    def __init__(self, model="top", sampling="oversample", sampling_power=0.5, epochs=30, batch_size=64,
                 lr=3e-3, weight_decay=1e-3, label_smoothing=0.0, seed=0):
        self.model = model
        self.sampling = sampling
        self.sampling_power = sampling_power
        self.epochs = epochs
        self.batch_size = batch_size
        self.lr = lr
        self.weight_decay = weight_decay
        self.label_smoothing = label_smoothing
        self.seed = seed

    def fit(self, features: dict, labels: pd.DataFrame):
        heads = schema_heads(self.model)
        names = list(features)
        dim = features[names[0]].shape[1]
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        self.heads_ = torch.nn.ModuleDict({h.key: torch.nn.Linear(dim, h.n_classes) for h in heads})
        targets = encode_targets(labels, heads)
        weights, loss_weights = rare_class_weights(labels, heads, self.sampling, self.sampling_power)
        stacked = torch.from_numpy(np.stack([features[n] for n in names]).astype(np.float32))
        opt = torch.optim.AdamW(self.heads_.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        n = len(labels)
        for epoch in range(self.epochs):
            order = sampling.epoch_indices(weights, self.seed, epoch) if weights is not None else rng.permutation(n)
            view_idx = torch.from_numpy(rng.integers(0, len(names), size=n))
            for s in range(0, n, self.batch_size):
                rows = torch.from_numpy(order[s:s + self.batch_size])
                x = stacked[view_idx[s:s + self.batch_size], rows]
                logits = {k: head(x) for k, head in self.heads_.items()}
                loss = masked_cross_entropy(logits, {k: v[rows] for k, v in targets.items()},
                                            self.label_smoothing, loss_weights)
                opt.zero_grad()
                loss.backward()
                opt.step()
        self.classes_ = {h.key: h.names for h in heads}
        return self

    def predict_proba(self, features: dict, names: Sequence[str] | None = None) -> dict[str, np.ndarray]:
        check_is_fitted(self, "heads_")
        names = list(names or features)
        with torch.inference_mode():
            out = {k: np.zeros((len(features[names[0]]), len(c))) for k, c in self.classes_.items()}
            for name in names:
                x = torch.from_numpy(np.asarray(features[name], dtype=np.float32))
                for k, head in self.heads_.items():
                    out[k] += head(x).softmax(dim=1).numpy() / len(names)
        return out
