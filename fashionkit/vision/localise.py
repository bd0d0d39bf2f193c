"""Find the garment, then read it: a light segmentation head and garment boxes.

The attribute models read a crop of the photo.  A fixed box of the frame
(:data:`fashionkit.vision.crops.UPPER_BODY`, ``LOWER_BODY``) is right only for a full-length,
centred street photo; a half-length portrait, a close-up or a garment on a hanger puts the
garment elsewhere.  This module learns *where* the garments are from CCP's pixel masks
and turns that into one box per garment for any photo.

**Groups.**  CCP's 59 labels are merged into the few groups the heads need
(:data:`GROUPS`): the inner top, outerwear, the bottom garment, one-pieces, footwear,
skin and hair, everything else (bags, jewellery, legwear ...) and the background.
Choices worth knowing: *sweater* and *sweatshirt* count as inner tops (CCP tags them
like tops, and they are what a top head sees when there is no coat); *hoodie*, *vest*,
*cardigan*, *suit* are outerwear; *jumper* is the American pinafore dress (CCP's photos
are from a US site), so a one-piece; tights, stockings and socks are legwear ("other"
and, for socks, footwear as in :mod:`fashionkit.data.masks`) so they never stretch a bottom's box.

**Model.**  :class:`GarmentSegmenter` is a scikit-learn style estimator.  The frozen
ImageNet EfficientNet-Lite trunk (stem and stages up to stride 16) reads the whole photo,
padded to a 2:3 canvas; a small head fuses its stride-8 and stride-16 maps and predicts
each group's share of every 8x8-pixel cell.  It is trained on augmented copies of the
mask photos of the training split: random zoom (a window of 35-130 % of the photo's
height, so half-length photos and zoomed-out ones occur), shift, mirror, and a
"cut-out" copy in which only the garments stay, on a plain background (a stand-in for a
garment photographed alone, though it keeps the wearer's shape).  Only the head is trained; the trunk's maps are computed once per copy.

**Boxes.**  :func:`garment_boxes` turns a predicted map into a box for the top garment
(inner top and outerwear) and one for the bottom garment, with a margin, in relative
coordinates of the photo.  When a garment is not found the box falls back, in this order,
to a part of a one-piece (its upper 55 % for the top, its lower 60 % for the bottom) and
then to the fixed box of the frame; the ``*_source`` column says which (``garment``,
``one-piece``, ``fixed``), and ``note`` explains it in words.  A photo without a person
(no skin or hair found) gets the garment's own box, and the note says so.  The groups and
the box geometry are torch-free and live in :mod:`fashionkit.vision.garment_boxes`, so the deployed command line finds the same boxes without torch.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from PIL import Image
from sklearn.base import BaseEstimator
from torch import nn

from fashionkit.data.images import load_image
from fashionkit.data.labels import CLOTHING_RULES
from fashionkit.data.masks import measure_length
from fashionkit.vision.backbones import create_backbone, data_config
from fashionkit.vision.crops import cut_out_by_mask
from fashionkit.vision.garment_boxes import (
    FIXED_BOXES,
    GARMENTS,
    GROUP_NAMES,
    GROUPS,
    STRIDE,
    BoxRules,
    _expand,
    canvas_array,
    garment_boxes,
    mask_box,
    photo_cells,
    to_canvas,
)
from fashionkit.vision.runtime import runner

__all__ = ["group_lookup", "ccp_group_lookup", "zoom_copy", "box_iou", "mask_iou", "GarmentSegmenter", "cutout_copy", "segmenter_state", "same_segmenter", "segmenter_from_state", "save_segmenter", "load_segmenter", "zoomed_out", "length_from_mask", "garment_shares", "garment_cutout", "found_on_garment_photos"]


def group_lookup(label_names) -> np.ndarray:
    """``lut[label_id] = group index`` for CCP's label list (``label_names[i]`` = name of id ``i``)."""
    index = {name: g for g, names in enumerate(GROUPS.values()) for name in names}
    other = GROUP_NAMES.index("other")
    return np.array([index.get(name, other) for name in label_names], dtype=np.uint8)


def ccp_group_lookup(data_root) -> np.ndarray:
    """:func:`group_lookup` of CCP's ``labels.csv`` under ``data_root`` (its "null" read as a name)."""
    names = pd.read_csv(Path(data_root) / "ccp" / "labels.csv", keep_default_na=False)["name"]
    return group_lookup(names.tolist())


# --------------------------------------------------------------------------- geometry


def zoom_copy(img: Image.Image, mask: np.ndarray | None, window: tuple[float, float, float, float],
              fill=(128, 128, 128)) -> tuple[Image.Image, np.ndarray | None]:
    """The part of ``img`` (and its label ``mask``) inside ``window`` = (left, top, right, bottom)
    in pixels; parts of the window outside the photo are filled (``fill``, label 0)."""
    size = (max(1, round(window[2] - window[0])), max(1, round(window[3] - window[1])))
    out = img.transform(size, Image.EXTENT, window, Image.BILINEAR, fillcolor=fill)
    if mask is None:
        return out, None
    m = Image.fromarray(mask).transform(size, Image.EXTENT, window, Image.NEAREST, fillcolor=0)
    return out, np.asarray(m)


def box_iou(a, b) -> float:
    """Intersection over union of two ``(l, t, r, b)`` boxes."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def mask_iou(pred: np.ndarray, true: np.ndarray, n_groups: int = len(GROUP_NAMES)) -> np.ndarray:
    """``(n_groups, 2)``: intersection and union pixel counts per group of two group-index maps."""
    out = np.zeros((n_groups, 2), dtype=np.int64)
    for g in range(n_groups):
        p, t = pred == g, true == g
        out[g] = (p & t).sum(), (p | t).sum()
    return out


# --------------------------------------------------------------------------- the estimator


class _SegHead(nn.Module):
    """Fuses the stride-8 and stride-16 trunk maps and predicts group logits per 8x8 cell."""

    def __init__(self, c8: int, c16: int, n_groups: int, width: int):
        super().__init__()
        self.lat8 = nn.Conv2d(c8, width, 1)
        self.lat16 = nn.Conv2d(c16, width, 1)
        self.mix = nn.Sequential(nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                 nn.Conv2d(width, width, 3, padding=1), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
                                 nn.Conv2d(width, n_groups, 1))

    def forward(self, m8: torch.Tensor, m16: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(self.lat16(m16), size=m8.shape[-2:], mode="bilinear", align_corners=False)
        return self.mix(self.lat8(m8) + up)


class _Trunk(nn.Module):
    """Stem and the stages of a timm EfficientNet up to stride 16; returns the stride-8 and -16 maps."""

    def __init__(self, backbone: str):
        super().__init__()

        model = create_backbone(backbone, pretrained=True)
        strides = np.cumprod([2] + [getattr(s[0].conv_dw, "stride", (1,))[0] for s in model.blocks])
        self.i8 = int(np.flatnonzero(strides == 8)[-1]) - 1  # stage whose output is at stride 8
        self.i16 = int(np.flatnonzero(strides == 16)[-1]) - 1
        self.stem = nn.Sequential(model.conv_stem, model.bn1)
        self.stages = nn.Sequential(*list(model.blocks)[:self.i16 + 1])
        self.data_config = data_config(model)
        self.requires_grad_(False)
        self.eval()
        self.to(memory_format=torch.channels_last)  # about twice as fast on CPU here; values unchanged

    def channels(self) -> tuple[int, int]:
        def out_ch(stage):
            last = stage[-1]
            return (last.conv_pwl if hasattr(last, "conv_pwl") else last.conv_pw).out_channels
        return out_ch(self.stages[self.i8]), out_ch(self.stages[self.i16])

    def forward(self, x):
        x = self.stem(x.contiguous(memory_format=torch.channels_last))
        out8 = None
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == self.i8:
                out8 = x
        return out8, x


class GarmentSegmenter(BaseEstimator):
    """Group shares per 8x8 cell of a photo, from a frozen trunk and a small trained head.

    ``fit(images, masks)`` takes RGB PIL photos and their CCP label-id masks (``lut`` maps
    ids to :data:`GROUPS`); it trains the head on ``1 + n_zoom`` augmented copies per
    photo (plus a cut-out copy with probability ``cutout``) and sets ``head_``,
    ``trunk_``, ``runner_`` (the trunk run by ``engine``, :mod:`fashionkit.vision.runtime`; not saved,
    a machine setting), ``history_``, ``fit_seconds_``.  ``predict_shares(images)`` returns
    ``(n, G, H/8, W/8)`` shares on the ``canvas`` (height, width) letter-box;
    ``boxes(images)`` the garment boxes of each photo (:func:`garment_boxes`).
    ``zoom`` bounds the zoomed copies' window height (a share of the photo's height);
    ``plain_fill`` is the share of them padded with a light plain backdrop instead of the
    trunk's mean colour (a zoomed-out photo on a backdrop).
    """

    def __init__(self, backbone="tf_efficientnet_lite2", canvas=(224, 160), width=32, n_zoom=2,
                 zoom=(0.35, 1.3), cutout=0.25, epochs=25, lr=3e-3, weight_decay=1e-4, batch_size=32,
                 rules=BoxRules(), seed=0, progress=True, engine="auto", plain_fill=0.0):
        self.backbone = backbone
        self.canvas = canvas
        self.width = width
        self.n_zoom = n_zoom
        self.zoom = zoom
        self.cutout = cutout
        self.epochs = epochs
        self.lr = lr
        self.weight_decay = weight_decay
        self.batch_size = batch_size
        self.rules = rules
        self.seed = seed
        self.progress = progress
        self.engine = engine
        self.plain_fill = plain_fill

    # ------------------------------------------------------------------ inputs
    def _fill(self, trunk) -> tuple[int, int, int]:
        return tuple(int(round(255 * m)) for m in trunk.data_config["mean"])

    def _tensor(self, img: Image.Image, trunk) -> torch.Tensor:
        return torch.from_numpy(canvas_array(img, tuple(self.canvas), trunk.data_config["mean"],
                                             trunk.data_config["std"]))

    def _target(self, groups: np.ndarray, size) -> np.ndarray:
        """Group shares per cell of a group-index mask letter-boxed like its photo (padding = background)."""
        m = to_canvas(Image.fromarray(groups), tuple(self.canvas), 0, Image.NEAREST)
        m = np.asarray(m)
        h, w = m.shape[0] // STRIDE, m.shape[1] // STRIDE
        onehot = np.eye(len(GROUP_NAMES), dtype=np.float32)[m[:h * STRIDE, :w * STRIDE]]
        return onehot.reshape(h, STRIDE, w, STRIDE, -1).mean(axis=(1, 3)).transpose(2, 0, 1)

    def _copies(self, img: Image.Image, groups: np.ndarray, rng: np.random.Generator, fill):
        """The photo itself, ``n_zoom`` zoomed / shifted / mirrored copies, and maybe a cut-out copy."""
        yield img, groups
        w, h = img.size
        for _ in range(int(self.n_zoom)):
            s = rng.uniform(*self.zoom)
            wh, ww = s * h, s * h * w / h
            cx = rng.uniform(min(ww / 2, w - ww / 2), max(ww / 2, w - ww / 2)) if ww < w else w / 2 + rng.uniform(-0.15, 0.15) * ww
            cy = rng.uniform(min(wh / 2, h - wh / 2), max(wh / 2, h - wh / 2)) if wh < h else h / 2 + rng.uniform(-0.15, 0.15) * wh
            pad = fill
            if self.plain_fill and rng.random() < self.plain_fill:  # a light plain backdrop
                pad = (int(rng.integers(215, 256)),) * 3
            copy, m = zoom_copy(img, groups, (cx - ww / 2, cy - wh / 2, cx + ww / 2, cy + wh / 2), pad)
            if rng.random() < 0.5:
                copy, m = copy.transpose(Image.FLIP_LEFT_RIGHT), m[:, ::-1].copy()
            yield copy, m
        if rng.random() < self.cutout:
            yield cutout_copy(img, groups, rng)

    # ------------------------------------------------------------------ fit
    def fit(self, images, masks, lut: np.ndarray):
        """Train the head on ``images`` (RGB PIL) and label-id ``masks`` (numpy, same sizes)."""
        from tqdm.auto import tqdm

        start = time.perf_counter()
        torch.manual_seed(self.seed)
        rng = np.random.default_rng(self.seed)
        trunk = _Trunk(self.backbone)
        run = runner(trunk, self.engine)
        fill = self._fill(trunk)
        m8s, m16s, targets = [], [], []
        batch, batch_t = [], []

        def flush():
            with torch.inference_mode():
                a, b = run(torch.stack(batch))
            m8s.append(a.to(torch.float16))
            m16s.append(b.to(torch.float16))
            targets.extend(batch_t)
            batch.clear(), batch_t.clear()

        for img, mask in tqdm(list(zip(images, masks)), desc="segmenter maps", disable=not self.progress):
            for copy, groups in self._copies(img, lut[np.asarray(mask)], rng, fill):
                batch.append(self._tensor(copy, trunk))
                batch_t.append(self._target(groups, copy.size))
                if len(batch) == self.batch_size:
                    flush()
        if batch:
            flush()
        m8, m16 = torch.cat(m8s), torch.cat(m16s)
        y = torch.from_numpy(np.stack(targets))
        head = _SegHead(*trunk.channels(), len(GROUP_NAMES), int(self.width))
        opt = torch.optim.AdamW(head.parameters(), lr=self.lr, weight_decay=self.weight_decay)
        steps = int(np.ceil(len(y) / self.batch_size))
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=self.lr, total_steps=max(1, self.epochs * steps))
        history = []
        for epoch in tqdm(range(int(self.epochs)), desc="segmenter epochs", disable=not self.progress):
            head.train()
            order = torch.from_numpy(rng.permutation(len(y)))
            total = 0.0
            for s in range(steps):
                idx = order[s * self.batch_size:(s + 1) * self.batch_size]
                if len(idx) < 2:
                    continue
                logits = head(m8[idx].float(), m16[idx].float())
                loss = -(y[idx] * logits.log_softmax(dim=1)).sum(dim=1).mean()  # soft-target cross-entropy
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
                total += loss.item() * len(idx)
            history.append({"epoch": epoch + 1, "train_loss": total / len(y)})
        head.eval()
        self.trunk_, self.head_, self.runner_ = trunk, head, run
        self.history_ = pd.DataFrame(history)
        self.n_copies_ = len(y)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    # ------------------------------------------------------------------ predict
    def _check(self):
        if not hasattr(self, "head_"):
            raise RuntimeError("GarmentSegmenter is not fitted yet; call fit() or load_segmenter()")

    def predict_shares(self, images, batch_size: int = 32) -> np.ndarray:
        """``(n, G, H/8, W/8)`` float32 group shares on the letter-boxed canvas of each photo."""
        self._check()
        out = []
        with torch.inference_mode():
            for i in range(0, len(images), batch_size):
                x = torch.stack([self._tensor(img, self.trunk_) for img in images[i:i + batch_size]])
                out.append(self.head_(*self.runner_(x)).softmax(dim=1).numpy())
        n_cells = (len(GROUP_NAMES), self.canvas[0] // STRIDE, self.canvas[1] // STRIDE)
        return np.concatenate(out) if out else np.zeros((0, *n_cells), dtype=np.float32)

    def predict(self, images) -> np.ndarray:
        """``(n, H/8, W/8)`` the most likely group of every cell."""
        return self.predict_shares(images).argmax(axis=1).astype(np.uint8)

    def boxes(self, images, batch_size: int = 32) -> pd.DataFrame:
        """One row per photo: the top and bottom boxes, where each came from, person found, note."""
        chunks = [images[i:i + batch_size] for i in range(0, len(images), batch_size)]
        return pd.concat([self.boxes_from_shares(c, self.predict_shares(c)) for c in chunks],
                         ignore_index=True) if chunks else self.boxes_from_shares([], [])

    def boxes_from_shares(self, images, shares) -> pd.DataFrame:
        """:meth:`boxes` of photos whose group shares (:meth:`predict_shares`) are already computed."""
        return pd.DataFrame([garment_boxes(s, img.size, tuple(self.canvas), self.rules) for img, s in zip(images, shares)],
                            columns=["top", "top_source", "bottom", "bottom_source", "person", "note"])

    def shares_on_photo(self, shares: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """A share map ``(G, h, w)`` cut to the photo's own area (the canvas padding removed)."""
        return photo_cells(shares, size, tuple(self.canvas))


def cutout_copy(img: Image.Image, groups: np.ndarray, rng: np.random.Generator | None = None,
                background=(245, 245, 245), keep=("inner_top", "outerwear", "bottom", "one_piece")):
    """Only the garments of a group mask on a plain background, cropped to them (the background removed).

    Returns ``(image, groups)`` with every other pixel set to ``background`` / group 0; with
    ``rng`` one garment group at random is kept (a single-garment photo), else all of ``keep``.
    """
    idx = [GROUP_NAMES.index(k) for k in keep]
    present = [i for i in idx if (groups == i).any()]
    if rng is not None and present:
        present = [present[int(rng.integers(len(present)))]]
    on = np.isin(groups, present)
    arr = np.where(on[..., None], np.asarray(img.convert("RGB")), np.array(background, dtype=np.uint8))
    out_groups = np.where(on, groups, 0).astype(np.uint8)
    box = mask_box(on, 0.0, 0.0)
    if box is None:
        return Image.fromarray(arr.astype(np.uint8)), out_groups
    h, w = groups.shape
    l, t, r, b = _expand(box, 0.06)
    window = (int(l * w), int(t * h), max(int(r * w), int(l * w) + 1), max(int(b * h), int(t * h) + 1))
    return (Image.fromarray(arr.astype(np.uint8)).crop(window),
            out_groups[window[1]:window[3], window[0]:window[2]])


def segmenter_state(seg: GarmentSegmenter) -> dict:
    """What a saved segmenter holds: the head's weights and the estimator's parameters
    (the frozen trunk is rebuilt from its bundled ImageNet weights)."""
    seg._check()
    params = {k: v for k, v in seg.get_params().items() if k not in ("rules", "progress", "engine")}
    return {"format": "fashionkit-segmenter-1", "params": params, "rules": vars(seg.rules),
            "groups": list(GROUP_NAMES), "head": seg.head_.state_dict()}


def same_segmenter(a: GarmentSegmenter, b: GarmentSegmenter) -> bool:
    """Whether two fitted segmenters find the same boxes: same settings, rules and head weights."""
    if a is b:
        return True
    sa, sb = segmenter_state(a), segmenter_state(b)
    if (sa["params"], sa["rules"], sa["groups"]) != (sb["params"], sb["rules"], sb["groups"]):
        return False
    return sa["head"].keys() == sb["head"].keys() and all(torch.equal(sa["head"][k], sb["head"][k]) for k in sa["head"])


def segmenter_from_state(state: dict) -> GarmentSegmenter:
    """A fitted :class:`GarmentSegmenter` from :func:`segmenter_state`'s dict."""
    if state.get("groups") != list(GROUP_NAMES):
        raise ValueError(f"the segmenter was trained for other groups: {state.get('groups')}")
    seg = GarmentSegmenter(**state["params"], rules=BoxRules(**state["rules"]), progress=False)
    seg.trunk_ = _Trunk(seg.backbone)
    seg.runner_ = runner(seg.trunk_, seg.engine)
    seg.head_ = _SegHead(*seg.trunk_.channels(), len(GROUP_NAMES), int(seg.width))
    seg.head_.load_state_dict(state["head"])
    seg.head_.eval()
    return seg


def save_segmenter(seg: GarmentSegmenter, path) -> None:
    torch.save(segmenter_state(seg), path)


def load_segmenter(path) -> GarmentSegmenter:
    return segmenter_from_state(torch.load(path, map_location="cpu", weights_only=False))


# --------------------------------------------------------------------------- data and report


def mask_path(photo_path) -> Path:
    """CCP's mask file of a photo (``ccp/images/NNNN.jpg`` -> ``ccp/masks/NNNN.png``)."""
    p = Path(photo_path)
    return p.parents[1] / "masks" / f"{p.stem}.png"


def load_mask_photos(frame: pd.DataFrame) -> tuple[list, list]:
    """``(photos, label-id masks)`` of manifest rows that have CCP pixel masks."""

    return ([load_image(p) for p in frame["path"]],
            [np.asarray(Image.open(mask_path(p))) for p in frame["path"]])


def _groups_at(groups: np.ndarray, shape) -> np.ndarray:
    return np.asarray(Image.fromarray(groups).resize((shape[1], shape[0]), Image.NEAREST))


def zoomed_out(images, masks, lut: np.ndarray, scale: float, fill=(240, 240, 240)):
    """``(photos, group masks)``: each photo shrunk to ``scale`` of its size, centred in a plain
    canvas of its own size (chapter 5's ``zoomed_out`` framing), with its mask's groups moved alike."""
    out_images, out_groups = [], []
    for img, mask in zip(images, masks):
        w, h = img.size
        width, height = w / scale, h / scale
        window = ((w - width) / 2, (h - height) / 2, (w + width) / 2, (h + height) / 2)
        a, b = zoom_copy(img, lut[np.asarray(mask)], window, fill)
        out_images.append(a.resize((w, h), Image.BILINEAR))
        out_groups.append(np.asarray(Image.fromarray(b).resize((w, h), Image.NEAREST)))
    return out_images, out_groups


def segmentation_report(seg: GarmentSegmenter, images, masks, lut: np.ndarray | None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Held-out quality of a fitted segmenter: ``(mask IoU per group, box IoU per garment)``.

    ``masks`` are CCP label ids mapped to groups by ``lut``, or group ids already (``lut=None``).

    Mask IoU is pooled over the photos, on the segmenter's grid (the true mask is reduced
    to it by nearest neighbour).  Box IoU compares the box :func:`garment_boxes` returns
    (margin included) and the fixed box of the frame with the true garment's box, on the
    photos where the garment is present; ``found %`` is the share of those photos whose box
    came from the garment itself.
    """
    counts = np.zeros((len(GROUP_NAMES), 2), dtype=np.int64)
    predicted = seg.predict_shares(images)
    for img, mask, shares in zip(images, masks, predicted):
        groups = np.asarray(mask) if lut is None else lut[np.asarray(mask)]
        on_photo = seg.shares_on_photo(shares, img.size)
        counts += mask_iou(on_photo.argmax(axis=0), _groups_at(groups, on_photo.shape[1:]))
    iou = pd.DataFrame({"group": GROUP_NAMES, "pixels_%": 100 * counts[:, 1] / max(1, counts[:, 1].sum()),
                        "IoU_%": 100 * counts[:, 0] / np.maximum(1, counts[:, 1])})
    rows = box_ious(seg, images, masks, lut, predicted)
    boxes = pd.DataFrame([{"garment": g, "photos": len(r),
                           "found %": 100 * r["found"].mean() if len(r) else np.nan,
                           "box IoU, localised %": 100 * r["localised"].mean() if len(r) else np.nan,
                           "box IoU, fixed box %": 100 * r["fixed"].mean() if len(r) else np.nan,
                           "localised IoU ≥ 50 %": 100 * (r["localised"] >= 0.5).mean() if len(r) else np.nan,
                           "fixed IoU ≥ 50 %": 100 * (r["fixed"] >= 0.5).mean() if len(r) else np.nan}
                          for g, r in rows.items()])
    return iou, boxes


def box_ious(seg: GarmentSegmenter, images, masks, lut: np.ndarray | None, shares=None) -> dict[str, pd.DataFrame]:
    """Per garment, one row per photo where it is present: the IoU of the box
    :func:`garment_boxes` finds (``localised``) and of the fixed box (``fixed``) with the
    true garment's box, and whether the box came from the garment itself (``found``).
    ``shares``: the segmenter's share maps of ``images`` when already computed."""
    rows = {g: [] for g in GARMENTS}
    shares = seg.predict_shares(images) if shares is None else shares
    for img, mask, share in zip(images, masks, shares):
        groups = np.asarray(mask) if lut is None else lut[np.asarray(mask)]
        found = garment_boxes(share, img.size, tuple(seg.canvas), seg.rules)
        for garment, names in GARMENTS.items():
            true = mask_box(np.isin(groups, [GROUP_NAMES.index(n) for n in names]))
            if true is not None:
                rows[garment].append({"localised": box_iou(found[garment], true),
                                      "fixed": box_iou(FIXED_BOXES[garment], true),
                                      "found": found[f"{garment}_source"] == "garment"})
    return {g: pd.DataFrame(r, columns=["localised", "fixed", "found"]) for g, r in rows.items()}


def garment_mask(seg: GarmentSegmenter, img: Image.Image, garment: str, groups: np.ndarray | None = None,
                 threshold: float = 0.5) -> np.ndarray:
    """Boolean mask (photo size) of one garment: from the true group mask when given, else predicted."""
    ids = [GROUP_NAMES.index(n) for n in GARMENTS[garment]]
    if groups is not None:
        return np.isin(groups, ids)
    shares = seg.shares_on_photo(seg.predict_shares([img])[0], img.size)
    small = (shares[ids].sum(axis=0) >= threshold).astype(np.uint8) * 255
    return np.asarray(Image.fromarray(small).resize(img.size, Image.NEAREST)) > 0


def length_from_mask(seg: GarmentSegmenter, images) -> list[str | None]:
    """Bottom length class of each photo read from the segmenter's predicted groups with the hem
    rule that made CCP's length labels from the true masks (:func:`fashionkit.data.masks.measure_length`:
    the hem's height between the top of the body and the sole); None where the rule cannot
    measure (no bottom or no footwear found, head or feet cut off by the frame)."""

    bottom, feet = [GROUP_NAMES.index("bottom")], [GROUP_NAMES.index("footwear")]
    out = []
    for img, shares in zip(images, seg.predict_shares(images)):
        groups = seg.shares_on_photo(shares, img.size).argmax(axis=0)
        out.append(measure_length(groups, bottom, feet, min_pixels=1).length)
    return out


def garment_shares(shares: np.ndarray) -> np.ndarray:
    """``(n, 2, h, w)``: each garment's share (in the order of :data:`GARMENTS`: top, bottom) of every cell
    of group-share maps ``(n, G, h, w)`` (:meth:`GarmentSegmenter.predict_shares`)."""
    ids = [[GROUP_NAMES.index(g) for g in GARMENTS[garment]] for garment in GARMENTS]
    return np.stack([shares[:, i].sum(axis=1) for i in ids], axis=1)


def locate_photos(seg: GarmentSegmenter, paths, batch_size: int = 32, progress: bool = True,
                  return_shares: bool = False):
    """:meth:`GarmentSegmenter.boxes` of photo files, read in batches (one row per path, in order).

    With ``return_shares`` the result is ``(boxes, shares)``, ``shares`` the garments' share
    maps on the canvas (:func:`garment_shares`, float16), from the same segmenter pass: what
    a cut-out view (:attr:`fashionkit.vision.crops.ViewSpec.cutout`) cuts the garment out by.
    """
    from tqdm.auto import tqdm

    paths = [str(p) for p in paths]
    parts, maps = [], []
    for i in tqdm(range(0, len(paths), batch_size), desc="garment boxes", disable=not progress):
        images = [load_image(p) for p in paths[i:i + batch_size]]
        shares = seg.predict_shares(images)
        parts.append(seg.boxes_from_shares(images, shares))
        maps.append(garment_shares(shares).astype(np.float16))
    boxes = pd.concat(parts, ignore_index=True) if parts else seg.boxes([])
    if not return_shares:
        return boxes
    n_cells = (2, seg.canvas[0] // STRIDE, seg.canvas[1] // STRIDE)
    return boxes, (np.concatenate(maps) if maps else np.zeros((0, *n_cells), dtype=np.float16))


def garment_cutout(img: Image.Image, share: np.ndarray, canvas: tuple[int, int], threshold: float = 0.5,
                   background=(240, 240, 240), margin: float = 0.06) -> Image.Image | None:
    """The garment alone on a plain ``background``, cut to its box (the background removed; made
    from a street photo); None when no cell of the photo reaches ``threshold``.

    ``share`` is one garment's share map ``(h, w)`` on the letter-box ``canvas`` (a plane of
    :func:`garment_shares`); it is cut to the photo's cells, resized to the photo
    bilinearly (smooth edges rather than 8-pixel steps) and thresholded.  The cut is
    :func:`fashionkit.vision.crops.cut_out_by_mask`, the same as chapter 5's ``cut_out`` framing.
    """

    cells = photo_cells(np.asarray(share, dtype=np.float32)[None], img.size, tuple(canvas))[0]
    smooth = np.asarray(Image.fromarray(np.ascontiguousarray(cells)).resize(img.size, Image.BILINEAR))
    mask = smooth >= threshold
    if mask.mean() < BoxRules().min_share:
        return None
    return cut_out_by_mask(img, mask, margin, background)


def example_photos(manifest: pd.DataFrame, mask_photos: tuple[list, list], lut: np.ndarray, n: int = 8,
                   seed: int = 0) -> list[dict]:
    """Photos to show the segmenter on: CAD validation photos (no masks), two close-ups and two
    single garments cut out of held-out mask photos (``mask_photos``); ``{"image", "title"}`` each."""

    rng = np.random.default_rng(seed)
    images, masks = mask_photos
    out = []
    if len(images) >= 2:
        for img, (t, b), what in zip(images[:2], ((0.0, 0.45), (0.45, 1.0)), ("upper", "lower")):
            w, h = img.size
            out.append({"image": zoom_copy(img, None, (0, t * h, w, b * h))[0], "title": f"close-up: {what} part"})
    for img, mask, keep in zip(images[2:4], masks[2:4], (("bottom",), ("inner_top", "outerwear"))):
        copy, _ = cutout_copy(img, lut[np.asarray(mask)], keep=keep)
        out.append({"image": copy, "title": f"cut out: {' + '.join(k.replace('_', ' ') for k in keep)}"})
    cad = manifest[(manifest.source == "cad") & (manifest.split == "val")]
    picks = cad.iloc[rng.permutation(len(cad))[:max(0, n - len(out))]] if len(cad) else cad
    out = [{"image": load_image(p), "title": f"CAD {Path(p).name}"} for p in picks["path"]] + out
    return out[:n]


def found_on_garment_photos(boxes: pd.DataFrame, categories) -> pd.DataFrame:
    """How the boxes read photos of one garment alone, per category (``categories``, aligned with
    ``boxes``' rows, named in :data:`fashionkit.data.labels.CLOTHING_RULES`): photos, % where the
    category's garment was found on a garment (not a fallback), % where the *other* garment was
    "found" too (a box on nothing), % where a person was "found"."""
    frame = pd.DataFrame({"category": list(categories)})
    present = frame["category"].map(lambda c: CLOTHING_RULES[c][0])
    source = {g: boxes[f"{g}_source"].to_numpy() == "garment" for g in GARMENTS}
    frame["its garment found %"] = np.where(present == "top", source["top"], source["bottom"]) * 100.0
    frame["other garment found %"] = np.where(present == "top", source["bottom"], source["top"]) * 100.0
    frame["person found %"] = boxes["person"].to_numpy().astype(float) * 100.0
    table = frame.groupby("category", sort=False).agg(
        photos=("category", "size"), **{c: (c, "mean") for c in frame.columns[1:]})
    total = frame.drop(columns="category").mean().to_frame("all").T.assign(photos=len(frame))
    return pd.concat([table.sort_values("photos", ascending=False), total]).round(1)
