"""Derive the schema's labels from each source's raw annotations.

Pure functions, one per source, each returning ``{head_key: class name or None}``.
``None`` means *missing*: the source does not say, or says something outside the
schema's vocabulary.  A missing label is masked out in training, never guessed.
Unknown raw values (a tag CCP's label list does not have, a CAD code outside its code
table) raise :class:`~fashionkit.data.schema.UnknownLabelError`; the caller reports them.

The rules (each a choice; the data card in the book repeats them):

CCP (tags of one photo)
  * ``top_type``: exactly one of the tags blouse / shirt / t-shirt.  Photos with none or
    several are unlabelled.  Other tops (sweater, "top", coat ...) are not lumped into an
    "other" class: such a class would mostly be "the top is hidden by a coat" and would
    teach the head nothing about type.
  * bottoms: tags pants, jeans, shorts, skirt, and leggings.  Leggings worn with a skirt or
    shorts are legwear (like tights), so they count as a bottom only when alone.
    Photos with a one-piece (dress, romper) are unlabelled for every bottom head.
  * ``bottom_major``: all bottoms pants-like -> pants; only skirt -> skirt; both kinds ->
    unlabelled (ambiguous).
  * ``bottom_sub``: exactly one bottom -> jeans / slacks (the plain "pants" tag) / shorts /
    leggings / skirt.
  * ``bottom_length`` comes from the pixel masks (:mod:`fashionkit.data.masks`), not from tags.

CAD (one row of attributes.csv; codes as in the source README)
  * ``top_type``: category 1 (shirt) or 3 (t-shirt); other categories are not in the
    vocabulary (no CAD blouses).
  * ``top_pattern``: exactly one of pattern_solid / _stripe / _graphics is "yes" (2).
  * ``top_buttons``: placket 2 -> buttons, 1 -> none.
  * ``top_neck``: collar 2 -> collar; otherwise the agreed neckline: 1 -> v-neck,
    2 -> round, 3 ("other") -> unlabelled.  An unagreed collar (NaN) is read as "no agreed
    collar" so the agreed neckline decides; 500 of 626 V-necklines are suit lapels, which
    the collar rule catches.
  * ``top_sleeve``: 1 -> sleeveless, 2 -> short, 3 -> long.

Garments photographed alone (clothing-dataset; one category per photo, see
:data:`CLOTHING_RULES`).  The category names one garment; a head gets a label only where the
category decides it, judged by looking at random photos of each category (60 each of T-Shirt,
Polo and Shorts, 12 of the others):
  * ``T-Shirt``: a t-shirt with short sleeves (every one looked at).
  * ``Longsleeve``: long sleeves; its type is open (long-sleeved t-shirts, sweaters, cardigans).
  * ``Shirt``: a shirt; sleeves long or short, so the sleeve is open.
  * ``Blouse``: a blouse; sleeves vary.
  * ``Polo``: neither type (no class of the vocabulary; CAD has no polo category) nor sleeve
    (mostly short, some long): it says only that a top is present.
  * ``Pants``: pants; jeans, slacks and joggers alike, so the sub class is open; no length
    (there is no body to measure the hem against).
  * ``Shorts``: a bottom of the pants kind, as in CCP, sub class shorts; length open (some
    reach the knee).
  * ``Skirt``: skirt, sub class skirt; length open.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

from fashionkit.data.schema import UnknownLabelError, label_columns

Labels = dict[str, "str | None"]

CCP_TOP_TYPES = {"blouse": "blouse", "shirt": "shirt", "t-shirt": "t-shirt"}
CCP_PANTS_LIKE = {"pants": "slacks", "jeans": "jeans", "shorts": "shorts", "leggings": "leggings"}
CCP_ONE_PIECES = frozenset({"dress", "romper"})
CCP_BOTTOMS = frozenset({"pants", "jeans", "shorts", "skirt", "leggings"})  # separate bottom garments
# Garments that cover the upper body; a photo with one of them and a bottom is an outfit.
CCP_UPPER_GARMENTS = frozenset(
    {"blouse", "shirt", "t-shirt", "top", "sweater", "sweatshirt", "cardigan", "hoodie",
     "vest", "blazer", "jacket", "coat", "cape", "bodysuit", "suit"}
)

CAD_CODES = {
    "category_GT": {1: "shirt", 2: "sweater", 3: "t-shirt", 4: "outerwear", 5: "suit", 6: "tank top", 7: "dress"},
    "neckline_GT": {1: "v-neck", 2: "round", 3: "other"},
    "sleevelength_GT": {1: "sleeveless", 2: "short", 3: "long"},
}
CAD_BINARY = {1: False, 2: True}
CAD_PATTERNS = {"pattern_solid_GT": "solid", "pattern_stripe_GT": "stripe", "pattern_graphics_GT": "graphic"}


# Garments photographed alone: category -> (the garment it is, the labels it decides).
CLOTHING_RULES: dict[str, tuple[str, dict[str, str]]] = {
    "T-Shirt": ("top", {"top_type": "t-shirt", "top_sleeve": "short"}),
    "Longsleeve": ("top", {"top_sleeve": "long"}),
    "Shirt": ("top", {"top_type": "shirt"}),
    "Blouse": ("top", {"top_type": "blouse"}),
    "Polo": ("top", {}),
    "Pants": ("bottom", {"bottom_major": "pants"}),
    "Shorts": ("bottom", {"bottom_major": "pants", "bottom_sub": "shorts"}),
    "Skirt": ("bottom", {"bottom_major": "skirt", "bottom_sub": "skirt"}),
}


def empty_labels() -> Labels:
    return {key: None for key in label_columns()}


def check_tags(tags: Iterable[str], vocabulary: Iterable[str]) -> list[str]:
    """Return the tags as a list, raising if any is not in the source's label list."""
    tags = list(tags)
    unknown = sorted(set(tags) - set(vocabulary))
    if unknown:
        raise UnknownLabelError(f"unknown CCP tag(s) {', '.join(map(repr, unknown))}")
    return tags


def ccp_bottom_tag(tags: Iterable[str]) -> str | None:
    """The CCP tag naming the single bottom garment, or None (none, several, one-piece)."""
    tags = set(tags)
    if tags & CCP_ONE_PIECES:
        return None
    bottoms = tags & {"pants", "jeans", "shorts", "skirt"}
    if not bottoms and "leggings" in tags:
        bottoms = {"leggings"}
    return next(iter(bottoms)) if len(bottoms) == 1 else None


def ccp_labels(tags: Iterable[str], vocabulary: Iterable[str]) -> Labels:
    """Labels of one CCP photo from its tag list (``vocabulary``: CCP's label names)."""
    tags = set(check_tags(tags, vocabulary))
    out = empty_labels()
    tops = tags & CCP_TOP_TYPES.keys()
    if len(tops) == 1:
        out["top_type"] = CCP_TOP_TYPES[tops.pop()]
    if tags & CCP_ONE_PIECES:
        return out
    bottoms = tags & {"pants", "jeans", "shorts", "skirt"} or tags & {"leggings"}
    if bottoms and "skirt" not in bottoms:
        out["bottom_major"] = "pants"
    elif bottoms == {"skirt"}:
        out["bottom_major"] = "skirt"
    single = ccp_bottom_tag(tags)
    if single is not None:
        out["bottom_sub"] = CCP_PANTS_LIKE.get(single, single)
    return out


def ccp_is_outfit(tags: Iterable[str]) -> bool:
    """A separate top and a separate bottom are visible (no one-piece)."""
    tags = set(tags)
    has_bottom = bool(tags & CCP_BOTTOMS)
    return has_bottom and bool(tags & CCP_UPPER_GARMENTS) and not tags & CCP_ONE_PIECES


def garments_present(source: str, tags: str) -> dict[str, bool | None]:
    """Which garments a photo shows, where its labels tell: ``{"top": ..., "bottom": ...}``, each
    True (shown), False (not shown) or None (the labels do not say).

    * A garment photographed alone (``clothing``; ``tags`` is its category) shows its category's
      garment and not the other one: one garment per photo.
    * CCP (``tags``: its tag list): a top when an upper garment is tagged, a bottom when a bottom
      is; a missing tag says nothing (a street photo's tags need not be complete, and a one-piece
      stands for both), so it is None, never False.
    * CAD photos show a top (the attributes describe it); their bottom is not labelled.
    """
    if source == "clothing":
        shown = CLOTHING_RULES[tags][0]
        return {"top": shown == "top", "bottom": shown == "bottom"}
    if source == "ccp":
        tagged = set(str(tags).split())
        return {"top": True if tagged & CCP_UPPER_GARMENTS else None,
                "bottom": True if tagged & CCP_BOTTOMS else None}
    if source == "cad":
        return {"top": True, "bottom": None}
    raise ValueError(f"unknown source {source!r}")


def presence_labels(source: str, tags: str) -> Labels:
    """The presence heads' labels (``top_present``, ``bottom_present``: "yes" / "no" / None) from
    :func:`garments_present`."""
    word = {True: "yes", False: "no", None: None}
    return {f"{g}_present": word[shown] for g, shown in garments_present(source, tags).items()}


def _code(row: Mapping, column: str, table: Mapping[int, object]):
    """Read one CAD cell: None for NaN/empty, the table's value, or raise on a stray code."""
    value = row.get(column)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    code = int(value)
    if code != value or code not in table:
        raise UnknownLabelError(f"CAD column {column}: unknown code {value!r}; known {sorted(table)}")
    return table[code]


def cad_labels(row: Mapping) -> Labels:
    """Labels of one CAD photo from its attributes.csv row (a mapping column -> code)."""
    out = empty_labels()
    category = _code(row, "category_GT", CAD_CODES["category_GT"])
    if category in ("shirt", "t-shirt"):
        out["top_type"] = category

    patterns = [name for col, name in CAD_PATTERNS.items() if _code(row, col, CAD_BINARY)]
    if len(patterns) == 1:
        out["top_pattern"] = patterns[0]

    placket = _code(row, "placket_GT", CAD_BINARY)
    if placket is not None:
        out["top_buttons"] = "buttons" if placket else "none"

    collar = _code(row, "collar_GT", CAD_BINARY)
    neckline = _code(row, "neckline_GT", CAD_CODES["neckline_GT"])
    if collar:
        out["top_neck"] = "collar"
    elif neckline in ("v-neck", "round"):
        out["top_neck"] = neckline

    out["top_sleeve"] = _code(row, "sleevelength_GT", CAD_CODES["sleevelength_GT"])
    return out


def clothing_garment(category: str) -> str:
    """``"top"`` or ``"bottom"``: the one garment a photo of ``category`` shows."""
    return _clothing_rule(category)[0]


def clothing_labels(category: str) -> Labels:
    """Labels of one garment photo from its category (every other head stays missing)."""
    out = empty_labels()
    out.update(_clothing_rule(category)[1])
    return out


def _clothing_rule(category: str) -> tuple[str, dict[str, str]]:
    try:
        return CLOTHING_RULES[category]
    except KeyError:
        raise UnknownLabelError(f"unknown garment category {category!r}; known: {', '.join(CLOTHING_RULES)}") from None
