"""What chapter 5 glues for the book's pages (fashionkit.book.report_tables, fashionkit.book.aims_table): the team's aims, the results
tables and the sentences about them, on small hand-made tables with known answers."""

import numpy as np
import pandas as pd

from fashionkit.book import aims_table, report_tables, tables
from fashionkit.data.schema import heads

META = {"split": "test", "n_boot": 500, "ci_level": 0.9, "seed": 3, "split_hash": "abc123",
        "views": {"top": {"plain": ["a"], "tta": ["a", "b", "c"]}}}
AIMS = {"top_type": 70, "top_pattern": 96, "bottom_major": 96}


def metrics_frame() -> pd.DataFrame:
    """Four heads, indexed by key as chapter 5's test table: exactly on target, short with the
    target in the CI, clearly above the target, and a head the team set no target for."""
    return pd.DataFrame({
        "model": ["top", "top", "bottom", "bottom"],
        "name": ["top type", "top pattern", "bottom class", "extra"],
        "study_%": [60.3, 83.4, 89.2, np.nan],
        "majority_%": [41.75257, 81.25, 68.34862, 50.0],
        "n": [194, 192, 218, 10],
        "plain_%": [69.0, 95.0, 97.0, 55.0],
        "tta_%": [70.0, 95.94, 97.26, 60.0],
        "tta_macro_f1_%": [62.96049, 86.84273, 88.0, 40.0],
        "tta_balanced_acc_%": [61.0, 80.0, 87.0, 45.0],
        "tta_ci_low_%": [63.0, 93.0, 96.5, 40.0],
        "tta_ci_high_%": [76.04, 98.5, 98.0, 80.0],
    }, index=pd.Index(["top_type", "top_pattern", "bottom_major", "extra_head"], name="head"))


def test_the_team_targets_file_names_real_heads():
    targets = aims_table.read_targets()
    assert set(targets) == {"accuracy", "macro_f1", "garments_accuracy", "recommendation_agreement"}
    assert targets["recommendation_agreement"] == {"full vector": 74, "chosen space": 78}
    assert set(targets["accuracy"]) | set(targets["garments_accuracy"]) <= {h.key for h in heads()}
    # the garment photos' aims name only heads their categories label (chapter 1's rules)
    assert set(targets["garments_accuracy"]) == {"top_type", "top_sleeve", "bottom_major", "bottom_sub",
                                                   "top_present", "bottom_present"}
    assert targets["accuracy"]["top_type"] == 70 and targets["accuracy"]["bottom_major"] == 96


def test_target_comparison_known_answers():
    cmp = aims_table.target_comparison(metrics_frame(), AIMS).set_index("head")
    assert cmp.loc["top_type", "met"] is True           # 70.0 >= 70: exactly on target counts as met
    assert cmp.loc["top_pattern", "met"] is False       # 95.94 < 96
    assert cmp.loc["top_pattern", "target_in_ci"] is True   # 93.0 <= 96 <= 98.5
    assert cmp.loc["bottom_major", "met"] is True       # 97.26 >= 96
    assert cmp.loc["bottom_major", "target_in_ci"] is False  # interval 96.5-98.0 is above 96
    assert cmp.loc["extra_head", "met"] is None         # no target set
    assert pd.isna(cmp.loc["extra_head", "target_%"])


def test_targets_sentence_counts_heads():
    text = aims_table.targets_sentence(aims_table.target_comparison(metrics_frame(), AIMS))
    assert "reaches the team's target for 2 of 3 heads (top type and bottom class)" in text
    assert "falls short for 1 (top pattern)" in text
    assert "For 2 of the 3 (top type and top pattern) the target lies inside" in text
    assert "For 1 (bottom class) even the lower end of the interval is above the target" in text
    assert "No target is set for extra." in text
    assert "not results" in text


def test_targets_sentence_when_none_is_met():
    frame = metrics_frame().iloc[:2].assign(**{"tta_%": [50.0, 60.0], "tta_ci_low_%": [45.0, 55.0],
                                                "tta_ci_high_%": [55.0, 65.0]})
    text = aims_table.targets_sentence(aims_table.target_comparison(frame, AIMS))
    assert "falls short of the team's target for all 2 heads" in text
    assert "even the upper end of the interval is below the target" in text


def test_headline_table_has_the_aims_and_one_interval_cell():
    table = report_tables.results_table(metrics_frame(), aims=AIMS, level=0.9)
    assert list(table.columns) == ["n", "majority %", "accuracy (TTA) %", "90% CI", "macro-F1 %", "study %",
                                   "target %", "met?"]
    row = table.loc["top type"]
    assert (row["n"], row["90% CI"], row["target %"], row["met?"]) == (194, "63.0–76.0", 70, "yes")
    assert table.loc["top pattern", "met?"] == "no"
    assert pd.isna(table.loc["extra", "target %"]) and pd.isna(table.loc["extra", "met?"])
    html = tables.show(table).to_html()  # the book's one style rounds and fills the gaps
    for shown in (">41.8<", ">70.0<", ">63.0–76.0<", ">yes<", ">–<"):
        assert shown in html, shown
    assert "41.75257" not in html


def test_model_card_table_is_per_model_with_one_view_and_balanced_accuracy():
    table = report_tables.results_table(metrics_frame(), report_tables.MODEL_CARD_COLUMNS, by_model=True)
    assert table.index.names == ["model", "head"]
    assert table.loc[("top", "top type"), "accuracy, one view %"] == 69.0
    assert table.loc[("bottom", "bottom class"), "balanced accuracy %"] == 87.0
    assert "95% CI" in table.columns and "target %" not in table.columns


def test_split_note_reads_the_json_and_flags_a_smoke_run():
    note = report_tables.split_note(META)
    assert "`test` split" in note and "abc123" in note
    assert "90% intervals are percentile bootstraps" in note
    assert "500 resamples, seed 3" in note
    assert "3 views" in note
    assert "Smoke run" not in note
    assert "**Smoke run:** at most 12 photos per split" in report_tables.split_note({**META, "limit_per_split": 12})


def test_calibration_line_counts_temperatures_and_ece():
    calibration = pd.DataFrame({"temperature": [0.9366, 1.25], "ece_before_%": [3.52, 16.08],
                                "ece_after_%": [5.96, 2.22], "nll_before": [0.5, 0.7],
                                "nll_after": [0.4, 0.6]}, index=["top_type", "top_pattern"])
    line = report_tables.calibration_line(calibration)
    assert "(0.94–1.25)" in line
    assert "below 1 for 1 of 2 heads" in line and "above 1 for 1 of 2 heads" in line
    assert "lowered the test ECE on 1 of 2 heads (mean 9.8 → 4.1 points)" in line
    assert "from 0.600 to 0.500 nats" in line
    unmeasured = calibration.assign(**{"ece_after_%": np.nan})
    assert "No head has labelled test photos" in report_tables.calibration_line(unmeasured)


def test_groups_line_names_the_groups_not_clearly_above_their_majority():
    groups = pd.DataFrame({"head": ["top_type", "top_type", "top_type"],
                           "group": ["CCP tag-list half", "CAD", "all"],
                           "majority_%": [44.6, 50.0, 99.0], "tta_ci_low_%": [41.0, 60.0, 57.2]})
    assert report_tables.groups_line(groups).endswith(": top type on CCP tag-list half.")  # 41.0 <= 44.6; "all" skipped
    assert "In every group" in report_tables.groups_line(groups.iloc[1:])


def test_a_comparison_is_one_sentence_naming_what_moved_beyond_noise():
    from fashionkit.metrics.comparison import ablation_table
    from fashionkit.data.schema import get_head

    hs = [get_head("top_sleeve"), get_head("top_type")]
    y = {"top_sleeve": np.array([0, 1, 2] * 20), "top_type": np.array([0, 1, 2] * 20)}
    right = np.eye(3)[[0, 1, 2] * 20]
    wrong = np.eye(3)[[1, 2, 0] * 20]
    table = ablation_table(hs, y, {"old": {"top_sleeve": wrong, "top_type": right},
                                   "new": {"top_sleeve": right, "top_type": right}}, "old", 200, 0.95, 0)
    line = report_tables.comparison_line(table)
    assert line == ("new: better on sleeve length +100.0 [+100.0, +100.0]; worse on no head; "
                    "within noise on 1 of 2 heads.")


def test_presence_is_one_sentence_per_reader_on_the_chosen_photos():
    presence = pd.DataFrame({"garment": ["top", "bottom", "top", "top"], "group": ["garments alone"] * 3 + ["CCP"],
                             "accuracy_%": [96.44, 94.66, 67.7, 100.0], "ci_low_%": [94.1, 92.0, 62.9, 98.6],
                             "ci_high_%": [97.9, 96.5, 72.1, 100.0],
                             "reader": ["presence head", "presence head", "boxes", "boxes"]})
    assert report_tables.presence_line(presence) == (
        "Is each garment in the photo, on the garments alone test photos? presence head: top 96.4% (94.1–97.9), "
        "bottom 94.7% (92.0–96.5); boxes: top 67.7% (62.9–72.1).")
    assert report_tables.presence_line(presence, group="nowhere") == ""
