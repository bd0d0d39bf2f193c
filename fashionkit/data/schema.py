"""The attribute schema: every head of both models, its classes and display names.

This module is the single source of truth.  Label derivation, heads, plots, tables and
the book all read it; nothing else spells a class name.  The module itself needs no torch.

A *head* is one attribute of one model (``top_type``, ``bottom_length`` ...).  Its
``classes`` are the classes some source labels and a model can learn.  Classes of the
study's vocabulary that no source provides are kept in ``no_data``: they are shown as
"no data" in tables and never invented.  A head whose classes are all ``no_data`` (bottom
pattern, point) stays in the schema so the book can say so.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

MODELS = ("top", "bottom")


class UnknownLabelError(ValueError):
    """A label value that the schema (or a source's code table) does not know."""


@dataclass(frozen=True)
class ClassSpec:
    name: str  # machine name used in manifests and CSVs
    en: str
    ko: str


@dataclass(frozen=True)
class Head:
    key: str  # "<model>_<attribute>", the manifest column name
    model: str
    en: str
    ko: str
    classes: tuple[ClassSpec, ...]
    no_data: tuple[ClassSpec, ...] = ()
    sources: tuple[str, ...] = ()
    note: str = ""
    presence: bool = False  # says whether the model's garment is in the photo, not what it looks like

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.classes)

    @property
    def n_classes(self) -> int:
        return len(self.classes)

    @property
    def has_data(self) -> bool:
        return bool(self.classes)

    def index(self, name: str) -> int:
        try:
            return self.names.index(name)
        except ValueError:
            raise UnknownLabelError(
                f"{name!r} is not a class of head {self.key!r}; known: {', '.join(self.names)}"
            ) from None

    def display(self, name: str, lang: str = "en") -> str:
        for spec in self.classes + self.no_data:
            if spec.name == name:
                return getattr(spec, lang)
        raise UnknownLabelError(f"{name!r} is not a class of head {self.key!r}")

    def title(self, lang: str = "en") -> str:
        return getattr(self, lang)


def _c(name: str, en: str, ko: str) -> ClassSpec:
    return ClassSpec(name, en, ko)


# The classes of a presence head (``Head.presence``): is the model's garment in the photo?
PRESENCE_CLASSES = (_c("yes", "yes", "있음"), _c("no", "no", "없음"))

HEADS: tuple[Head, ...] = (
    Head(
        "top_type", "top", "top type", "상의 종류",
        (_c("blouse", "blouse", "블라우스"), _c("shirt", "shirt", "셔츠"), _c("t-shirt", "t-shirt", "티셔츠")),
        sources=("ccp", "cad", "clothing"),
        note="CCP: exactly one of the blouse/shirt/t-shirt tags; CAD: category shirt or t-shirt; garments: "
        "category T-Shirt, Shirt or Blouse. Other tops (sweater, top, coat, polo ...) are left unlabelled, "
        "not lumped into 'other'.",
    ),
    Head(
        "top_pattern", "top", "top pattern", "상의 패턴",
        (_c("solid", "solid", "무지"), _c("stripe", "stripe", "스트라이프"),
         _c("graphic", "lettering / graphic", "레터링")),
        sources=("cad",),
        note="CAD: exactly one of pattern_solid / pattern_stripe / pattern_graphics is 'yes'. "
        "Floral, plaid and spot are outside the study's vocabulary and left unlabelled.",
    ),
    Head(
        "top_buttons", "top", "detail: buttons", "디테일",
        (_c("buttons", "buttons", "단추"), _c("none", "no buttons", "없음")),
        sources=("cad",),
        note="CAD placket: has placket = buttons.",
    ),
    Head(
        "top_neck", "top", "neck", "목",
        (_c("round", "round", "라운드"), _c("v-neck", "v-neck", "브이넥"), _c("collar", "collar", "카라")),
        sources=("cad",),
        note="CAD: collar if collar_GT says 'has collar'; else neckline V or round "
        "(neckline 'other' and unknown collar stay unlabelled).",
    ),
    Head(
        "top_sleeve", "top", "sleeve length", "소매기장",
        (_c("long", "long", "긴팔"), _c("short", "short", "반팔"), _c("sleeveless", "sleeveless", "민소매")),
        no_data=(_c("three-quarter", "3/4 sleeve", "7부"),),
        sources=("cad", "clothing"),
        note="CAD sleevelength; garments: T-Shirt short, Longsleeve long. No source labels 3/4 sleeves.",
    ),
    Head(
        "top_present", "top", "top in the photo", "상의 있음", PRESENCE_CLASSES,
        sources=("ccp", "cad", "clothing"),
        note="Garments: yes for a top's category, no for a bottom's (one garment per photo); CCP: yes when an "
        "upper garment is tagged (an untagged one is left unlabelled, not 'no'); CAD: yes. "
        "The command line leaves the top heads empty when the answer is no.",
        presence=True,
    ),
    Head(
        "bottom_major", "bottom", "bottom class", "하의 대분류",
        (_c("pants", "pants", "바지"), _c("skirt", "skirt", "치마")),
        sources=("ccp", "clothing"),
        note="CCP: pants/jeans/shorts/leggings tags = pants, skirt = skirt; photos with a one-piece "
        "(dress, romper) or with both kinds are left unlabelled. Garments: Pants and Shorts = pants, Skirt = skirt.",
    ),
    Head(
        "bottom_sub", "bottom", "bottom sub class", "하의 소분류",
        (_c("jeans", "jeans", "청바지"), _c("slacks", "slacks (other pants)", "슬랙스"),
         _c("shorts", "shorts", "반바지"), _c("leggings", "leggings", "레깅스"),
         _c("skirt", "skirt (any)", "치마")),
        no_data=(_c("flare-skirt", "flare skirt", "플레어"), _c("pencil-skirt", "pencil skirt", "H라인")),
        sources=("ccp", "clothing"),
        note="CCP: exactly one of the jeans/pants/shorts/leggings/skirt tags; 'pants' means pants that "
        "are not jeans, shorts or leggings. Garments: Shorts and Skirt (Pants cannot tell jeans from slacks). "
        "No source names skirt shapes.",
    ),
    Head(
        "bottom_length", "bottom", "bottom length", "하의 기장",
        (_c("full", "full (floor)", "10부"), _c("ankle", "ankle", "9부"), _c("midi", "midi / calf", "미디"),
         _c("knee", "knee", "무릎"), _c("short", "short (above knee)", "숏")),
        sources=("ccp",),
        note="Measured on CCP pixel masks: where the bottom garment's hem sits between waist and sole "
        "(fashionkit.data.masks); tag-only photos have no length label.",
    ),
    Head(
        "bottom_present", "bottom", "bottom in the photo", "하의 있음", PRESENCE_CLASSES,
        sources=("ccp", "clothing"),
        note="Garments: yes for a bottom's category, no for a top's; CCP: yes when a bottom garment is tagged "
        "(else unlabelled). The command line leaves the bottom heads empty when the answer is no.",
        presence=True,
    ),
    Head("bottom_pattern", "bottom", "bottom pattern", "하의 패턴", (),
         no_data=(_c("solid", "solid", "무지"), _c("pattern", "patterned", "패턴")),
         note="No source labels the pattern of bottoms."),
    Head("bottom_point", "bottom", "bottom point", "하의 포인트", (),
         no_data=(_c("point", "point detail", "포인트"),),
         note="No source labels bottom details."),
)

_BY_KEY = {h.key: h for h in HEADS}


def heads(model: str | None = None, *, with_data: bool = True, presence: bool = True) -> tuple[Head, ...]:
    """Heads of one model (or of both), by default only those some source labels; ``presence=False``
    leaves out the heads that say whether a garment is in the photo (an outfit's description has none)."""
    if model is not None and model not in MODELS:
        raise UnknownLabelError(f"unknown model {model!r}; known: {', '.join(MODELS)}")
    return tuple(
        h for h in HEADS if (model is None or h.model == model) and (h.has_data or not with_data)
        and (presence or not h.presence)
    )


def get_head(key: str) -> Head:
    try:
        return _BY_KEY[key]
    except KeyError:
        raise UnknownLabelError(f"unknown head {key!r}; known: {', '.join(_BY_KEY)}") from None


def presence_head(model: str) -> Head:
    """The head of ``model`` that says whether its garment is in the photo."""
    return next(h for h in heads(model) if h.presence)


def garment_in_photo(model: str, probas) -> np.ndarray:
    """Per photo: does ``model``'s presence head (``probas``: head key -> class probabilities) say its
    garment is in the photo?  The one rule the command line and chapter 5 read presence by."""
    head = presence_head(model)
    return np.asarray(probas[head.key])[:, head.index("yes")] >= 0.5


def alone_in_photo(model: str, answers: Mapping[str, Mapping]) -> np.ndarray:
    """Per photo: does every other model of ``answers`` (model -> its heads' probabilities) say its garment is
    absent?  Such a photo shows ``model``'s garment alone, if any; ``model`` then reads it by its
    ``alone_views`` (a checkpoint's ``extra_["alone_views"]``; chapter 4 chooses them on validation).
    The one rule the command line and chapters 4-5 read it by."""
    others = [m for m in answers if m != model]
    if not others:
        raise ValueError(f"no other model's answers to tell whether {model}'s garment is alone")
    return np.logical_and.reduce([~garment_in_photo(m, answers[m]) for m in others])


def replace_rows(probas: Mapping[str, np.ndarray], other: Mapping[str, np.ndarray], rows) -> dict[str, np.ndarray]:
    """``probas`` (head -> class probabilities, a row per photo) with the photos of ``rows`` (a boolean
    mask) answered by ``other`` instead (a row per photo of ``rows``, in order): one reading for most
    photos, another for some (a garment photographed alone read by its whole frame,
    :func:`alone_in_photo`)."""
    rows = np.asarray(rows, dtype=bool)
    out = {}
    for k, p in probas.items():
        out[k] = np.array(p, dtype=float)
        if rows.any():
            replacement = np.asarray(other[k], dtype=float)
            if len(replacement) != int(rows.sum()):
                raise ValueError(f"{k}: {len(replacement)} replacement rows for {int(rows.sum())} photos")
            out[k][rows] = replacement
    return out


def read_alone_again(first: Mapping[str, Mapping], alone_views: Mapping[str, Sequence],
                     read: Callable[[str, np.ndarray], Mapping]) -> dict:
    """Every model's probabilities after the rule for a photo that shows one garment alone: ``first``
    (model -> its heads' probabilities, a row per photo) as read in each model's usual views;
    ``alone_views`` (model -> its alone views, empty for none); ``read(model, rows)`` that model's
    probabilities of the photos at positions ``rows`` in its alone views.  The photos of
    :func:`alone_in_photo` are answered by ``read``, the others as first read.  Both readers (the
    deployed graphs and the PyTorch models) apply the rule through this one function."""
    out = dict(first)
    if len(first) < 2:
        return out
    for model, views in alone_views.items():
        if not views:
            continue
        alone = alone_in_photo(model, first)
        if alone.any():
            out[model] = replace_rows(first[model], read(model, np.flatnonzero(alone)), alone)
    return out


def label_columns(model: str | None = None) -> list[str]:
    return [h.key for h in heads(model)]


@dataclass(frozen=True)
class SchemaDigest:
    """What a checkpoint records so it cannot be paired with another schema silently."""

    heads: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, model: str | None = None) -> "SchemaDigest":
        return cls({h.key: h.names for h in heads(model)})
