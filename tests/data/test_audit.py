"""Audit tables on small hand-made manifests (fashionkit.data.audit) and a smoke test of the plots.

Each manifest is written out row by row, so every expected count, share and string below
can be checked by eye.  The plots test only checks that each figure has a title and
labelled axes (Agg backend, no display).
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from PIL import Image  # noqa: E402

from fashionkit.book import data_figures, style
from fashionkit.data import audit
from fashionkit.data.schema import get_head, label_columns


def _row(source, image, split, group, **labels):
    row = {"source": source, "image": image, "split": split, "group": group,
           "width": 256, "height": 384, "tags": "", "outfit": False,
           "annotation": "pixel" if source == "ccp" else "attributes",
           "hem_height": np.nan, "length_reason": "no mask", "path": f"/nowhere/{image}"}
    row.update({key: None for key in label_columns()})
    row.update(labels)
    return row


@pytest.fixture
def manifest() -> pd.DataFrame:
    rows = (
        # CCP: 10 top-type photos, 7 t-shirt / 2 blouse / 1 shirt; 2 unlabelled photos
        [_row("ccp", f"t{i}.jpg", "train", i, top_type="t-shirt", bottom_sub="jeans",
              bottom_major="pants", outfit=True) for i in range(6)]
        + [_row("ccp", "t6.jpg", "test", 6, top_type="t-shirt", bottom_sub="skirt", bottom_major="skirt", outfit=True)]
        + [_row("ccp", f"b{i}.jpg", "val", 10 + i, top_type="blouse") for i in range(2)]
        + [_row("ccp", "s0.jpg", "train", 20, top_type="shirt", bottom_sub="skirt", bottom_major="skirt")]
        + [_row("ccp", f"u{i}.jpg", "train", 30 + i) for i in range(2)]
        # CAD: 4 photos; one pair of identical photos (group 100) with different necks
        + [_row("cad", "c0.jpg", "train", 100, top_neck="collar", top_sleeve="long"),
           _row("cad", "c1.jpg", "train", 100, top_neck="round", top_sleeve="long"),
           _row("cad", "c2.jpg", "test", 101, top_neck="collar", top_type="shirt"),
           _row("cad", "c3.jpg", "val", 102, width=384, height=256)]
    )
    frame = pd.DataFrame(rows)
    return frame.astype({c: "string" for c in label_columns()})


def test_class_counts_known_values(manifest):
    counts = audit.class_counts(manifest)
    assert list(counts.columns) == audit.COUNT_COLUMNS
    top = counts[(counts["head"] == "top_type") & (counts["source"] == "ccp")]
    n = top.groupby("class")["n"].sum()
    assert n.to_dict() == {"blouse": 2, "shirt": 1, "t-shirt": 7}
    train = top[top["split"] == "train"].set_index("class")
    assert train.loc["t-shirt", "n"] == 6 and train.loc["blouse", "n"] == 0
    assert train.loc["t-shirt", "share"] == pytest.approx(100 * 6 / 7)
    # every split x class appears, zero counts included
    assert len(top) == 3 * 3


def test_class_counts_list_no_data_classes(manifest):
    counts = audit.class_counts(manifest)
    sleeve = counts[(counts["head"] == "top_sleeve")]
    flagged = sleeve[sleeve["no_data"]]
    assert set(flagged["class"]) == {"three-quarter"}
    assert (flagged["n"] == 0).all()
    assert set(sleeve["source"]) == {"cad"}  # only the labelling source
    whole = counts[counts["head"] == "bottom_pattern"]
    assert len(whole) > 0 and whole["no_data"].all() and set(whole["source"]) == {"-"}
    assert set(audit.class_counts(manifest, all_heads=False)["head"]) >= {"top_type"}
    assert "bottom_pattern" not in set(audit.class_counts(manifest, all_heads=False)["head"])


def test_count_pivot_totals_and_schema_order(manifest):
    pivot = audit.count_pivot(audit.class_counts(manifest))
    rows = pivot.loc[("top_type", "ccp")]
    assert list(rows.index) == ["blouse", "shirt", "t-shirt"]
    assert rows.loc["t-shirt", "total"] == 7
    assert rows.loc["t-shirt", "train"] == 6 and rows.loc["t-shirt", "test"] == 1
    assert pivot.loc[("top_sleeve", "cad", "three-quarter"), "no data"] == "no data"


def test_imbalance_string():
    head = get_head("top_type")
    values = pd.Series(["t-shirt"] * 70 + ["blouse"] * 17 + ["shirt"] * 13 + [None] * 5, dtype="string")
    assert audit.imbalance_string(values, head) == "t-shirt 70% / blouse 17% / shirt 13%"
    # a class that never occurs shows as 0%; ties keep the schema order
    tie = pd.Series(["shirt", "t-shirt"], dtype="string")
    assert audit.imbalance_string(tie, head) == "shirt 50% / t-shirt 50% / blouse 0%"
    assert audit.imbalance_string(pd.Series([None], dtype="string"), head) == "no labelled photos"


def test_imbalance_table(manifest):
    table = audit.imbalance_table(manifest).set_index(["head", "source"])
    ccp = table.loc[("top_type", "ccp")]
    assert ccp["classes"] == "t-shirt 70% / blouse 20% / shirt 10%"
    assert ccp["labelled"] == 10
    assert ccp["majority %"] == pytest.approx(70.0)
    assert ccp["max/min"] == pytest.approx(7.0)
    assert table.loc[("top_sleeve", "cad"), "no data"] == "3/4 sleeve"
    assert table.loc[("bottom_point", "-"), "labelled"] == 0


def test_missing_rates(manifest):
    rates = audit.missing_rates(manifest).set_index(["head", "source"])
    ccp_top = rates.loc[("top_type", "ccp")]
    assert (ccp_top["photos"], ccp_top["labelled"], ccp_top["missing"]) == (12, 10, 2)
    assert ccp_top["missing %"] == pytest.approx(100 * 2 / 12)
    cad_neck = rates.loc[("top_neck", "cad")]
    assert cad_neck["missing %"] == pytest.approx(25.0)
    # a source that does not label a head is not listed as missing it
    assert ("top_neck", "ccp") not in rates.index and ("bottom_sub", "cad") not in rates.index


def test_cooccurrence_and_outfits(manifest):
    table = audit.cooccurrence(manifest)
    assert list(table.index) == ["blouse", "shirt", "t-shirt"]
    assert list(table.columns) == list(get_head("bottom_sub").names)
    assert table.loc["t-shirt", "jeans"] == 6 and table.loc["t-shirt", "skirt"] == 1
    assert table.loc["shirt", "skirt"] == 1 and table.to_numpy().sum() == 8
    outfits = audit.outfit_summary(manifest)
    assert outfits["outfit (top and bottom visible)"] == 7
    assert outfits["top type and bottom sub labelled"] == 8


def test_size_stats(manifest):
    stats = audit.size_stats(manifest)
    assert stats.loc["ccp", "photos"] == 12
    assert stats.loc["cad", "width max"] == 384 and stats.loc["cad", "portrait %"] == 75.0
    assert stats.loc["ccp", "longest side not 384 px"] == 0
    line = data_figures.size_line(stats)
    assert line.startswith("Every photo has a 384 px longest side.") and "CAD 75% portrait" in line
    short = manifest.copy()
    short.loc[short["image"] == "c1.jpg", "height"] = 383  # one photo of 4 CAD, one pixel short
    assert audit.size_stats(short).loc["cad", "longest side not 384 px"] == 1
    assert data_figures.size_line(audit.size_stats(short)).startswith(
        "Photos whose longest side is not 384 px: CAD 1. CCP 100% portrait")


def test_groups_splits_and_conflicts(manifest):
    assert audit.straddling_groups(manifest).empty
    bad = manifest.copy()
    bad.loc[bad["image"] == "c1.jpg", "split"] = "test"
    assert set(audit.straddling_groups(bad)["image"]) == {"c0.jpg", "c1.jpg"}
    sizes = audit.group_sizes(manifest)
    assert sizes.loc[2, "cad"] == 1 and sizes.loc[1, "cad"] == 2
    props = audit.split_proportions(manifest)
    assert props.loc["cad", ("photos", "train")] == 2
    assert props.loc["cad", ("% of source", "train")] == 50.0
    conflicts = audit.duplicate_conflicts(manifest).set_index("head")
    assert conflicts.loc["top_neck", "groups that disagree"] == 1
    assert conflicts.loc["top_sleeve", "groups that disagree"] == 0
    assert set(audit.conflicting_groups(manifest, "top_neck")["image"]) == {"c0.jpg", "c1.jpg"}


def test_limit_and_sampling(manifest):
    problems = pd.DataFrame({"source": ["ccp", "ccp", "cad"], "image": ["t0.jpg", "u1.jpg", "gone.jpg"],
                             "kind": ["length not measurable", "length not measurable", "bad image"],
                             "reason": ["x", "y", "unreadable"]})
    kept, kept_problems = audit.limit_rows(manifest, problems, 3)
    assert kept.groupby("source").size().to_dict() == {"ccp": 3, "cad": 3}
    assert set(kept_problems["image"]) == {"t0.jpg", "gone.jpg"}  # unreadable files always stay
    assert audit.limit_rows(manifest, problems, None)[0] is manifest
    a = audit.sample_per_class(manifest, "top_type", 2, seed=1, split=None)
    b = audit.sample_per_class(manifest, "top_type", 2, seed=1, split=None)
    pd.testing.assert_frame_equal(a, b)
    assert a.groupby("top_type").size().to_dict() == {"blouse": 2, "shirt": 2, "t-shirt": 2}
    assert list(a["top_type"]) == ["blouse", "blouse", "shirt", "shirt", "t-shirt", "t-shirt"]


def test_length_examples_span_classes():
    rows = [_row("ccp", f"{name}{i}.jpg", "train", k, bottom_length=name, hem_height=h + i / 100,
                 length_reason="ok")
            for k, (name, h) in enumerate([("full", 0.0), ("ankle", 0.1), ("knee", 0.3)]) for i in range(3)]
    frame = pd.DataFrame(rows).astype({c: "string" for c in label_columns()})
    picked = audit.length_examples(frame, 4, seed=0)
    assert len(picked) == 4
    assert set(picked["bottom_length"]) == {"full", "ankle", "knee"}
    assert list(picked["bottom_length"]) == ["full", "full", "ankle", "knee"]


def test_share_gaps(manifest):
    gaps = audit.share_gaps(audit.class_counts(manifest)).set_index(["head", "source"])
    # CCP top type: val is 100% blouse against 20% overall -> 80 points
    worst = gaps.loc[("top_type", "ccp")]
    assert worst["max gap (points)"] == pytest.approx(80.0)
    assert (worst["class"], worst["split"], worst["smallest split (labelled)"]) == ("blouse", "val", 1)


def test_plots_smoke(manifest, tmp_path):
    photo = tmp_path / "p.jpg"
    Image.new("RGB", (40, 60), (200, 30, 30)).save(photo)
    counts = audit.class_counts(manifest)
    missing = audit.missing_rates(manifest)
    figures = [
        data_figures.class_count_bars(counts, "top_type", "ccp"),
        data_figures.class_count_panels(counts),
        data_figures.missing_rates(missing),
        data_figures.cooccurrence_heatmap(audit.cooccurrence(manifest)),
        data_figures.size_histograms(manifest),
        data_figures.split_shares(manifest),
        style.image_grid([str(photo)] * 3, ["a", "b", "c"], ncols=2, title="grid"),
        style.image_grid([], title="empty grid"),
        data_figures.mask_overlay(np.zeros((60, 40, 3), np.uint8), np.pad(np.ones((20, 40), int), ((20, 20), (0, 0))),
                           {"head": 2, "hem": 39, "sole": 55}, title="overlay"),
        data_figures.mask_overlay_grid([], title="no panels"),
        data_figures.hem_height_histogram(
            pd.DataFrame({"hem_height": [0.0, 0.1, 0.4], "bottom_sub": ["slacks", "jeans", "skirt"]}),
            [("full", 0.06), ("ankle", 0.13), ("midi", 0.23), ("knee", 0.32), ("short", np.inf)]),
    ]
    for fig in figures:
        assert isinstance(fig, matplotlib.figure.Figure)
        titled = fig._suptitle is not None and fig._suptitle.get_text()
        axes = [ax for ax in fig.axes if ax.get_visible() and ax.get_label() != "<colorbar>"]
        assert titled or all(ax.get_title() for ax in axes), "figure without a title"
        for ax in axes:
            if ax.images or not ax.axison or not len(ax.get_xticks()):  # photos, empty cells: no data axes
                continue
            assert ax.get_xlabel() and ax.get_ylabel(), f"unlabelled axes in {ax.get_title()!r}"
    bars = figures[0].axes[0]
    assert bars.get_ylabel() == "% of labelled photos"
    assert figures[2].axes[0].get_xlabel().startswith("%")
    plt.close("all")


def test_korean_falls_back_without_font(manifest, monkeypatch):
    monkeypatch.setattr(style, "cjk_font", lambda: None)
    with pytest.warns(UserWarning, match="no CJK font"):
        fig = data_figures.class_count_bars(audit.class_counts(manifest), "top_type", "ccp", lang="ko")
    assert fig.axes[0].get_title().startswith("top type")
    plt.close("all")


def test_korean_is_drawn_with_the_bundled_font_on_any_machine(manifest):
    import warnings

    from matplotlib import font_manager

    assert "Nanum" in (style._bundled_korean_font() or "")  # koreanize-matplotlib's NanumGothic
    assert style.cjk_font()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no fallback warning
        fig = data_figures.class_count_bars(audit.class_counts(manifest), "top_type", "ccp", lang="ko")
    title = fig.axes[0].get_title()
    assert any("\uac00" <= ch <= "\ud7a3" for ch in title), title  # Hangul, not the English fallback
    used = font_manager.findfont(font_manager.FontProperties(family=plt.rcParams["font.family"]))
    assert "Nanum" in used or any(h in used.lower() for h in style._CJK_HINTS)
    plt.close("all")


@pytest.fixture
def with_garments(manifest) -> pd.DataFrame:
    """The hand-made manifest plus five garment photos of two contributors."""
    from fashionkit.data.labels import clothing_labels

    def garment(image, category, split, contributor):
        row = _row("clothing", image, split, 200 + contributor, **clothing_labels(category))
        return {**row, "tags": category, "annotation": "category", "contributor": contributor}

    extra = pd.DataFrame([garment("g0.jpg", "T-Shirt", "train", 1), garment("g1.jpg", "Longsleeve", "train", 1),
                          garment("g2.jpg", "Skirt", "train", 1), garment("g3.jpg", "Pants", "test", 2),
                          garment("g4.jpg", "T-Shirt", "test", 2)])
    return pd.concat([manifest, extra.astype({c: "string" for c in label_columns()})], ignore_index=True)


def test_a_garment_photo_misses_only_its_own_garments_labels(with_garments):
    rates = audit.missing_rates(with_garments).set_index(["head", "source"])
    # three top photos (the skirt and the pants are not counted), one without a type: the long sleeve
    assert rates.loc[("top_type", "clothing"), ["photos", "missing"]].tolist() == [3, 1]
    assert rates.loc[("top_sleeve", "clothing"), ["photos", "missing"]].tolist() == [3, 0]
    # two bottom photos; the pants leave the sub class open (jeans or slacks)
    assert rates.loc[("bottom_sub", "clothing"), ["photos", "missing"]].tolist() == [2, 1]
    assert ("top_neck", "clothing") not in rates.index  # no category decides the neck


def test_garment_tables(with_garments):
    rules = audit.garment_rules_table()
    assert rules.loc["T-Shirt", "top type"] == "t-shirt" and rules.loc["Polo"].drop("garment").eq("").all()
    assert rules.loc["Pants", "bottom sub class"] == "" and rules.loc["Skirt", "garment"] == "bottom"
    counts = audit.garment_counts(with_garments)
    assert counts.loc["T-Shirt", ["train", "test", "total", "contributors"]].tolist() == [1, 1, 2, 2]
    assert list(counts.index) == ["T-Shirt", "Longsleeve", "Pants", "Skirt"]  # the rules' order
    people = audit.contributor_summary(with_garments)
    assert people.loc["train", ["photos", "contributors", "largest contributor"]].tolist() == [3, 1, 3]
    assert people.loc["test", "contributors"] == 1
