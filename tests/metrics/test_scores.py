import numpy as np
import pandas as pd
import pytest

from fashionkit.book import aims_table
from fashionkit.metrics import scores


def onehot(pred, k):
    return np.eye(k)[pred]


def test_known_answers_with_missing_labels_left_out():
    y = np.array([0, 0, 1, 2, -1, 2])
    pred = np.array([0, 1, 1, 2, 0, 0])
    s = scores.head_scores(y, onehot(pred, 3), y_train=np.array([2, 2, 0, -1]))
    assert s["n"] == 5
    assert s["accuracy"] == pytest.approx(3 / 5)
    # per-class F1: class 0: p=.5, r=.5 -> 1/2; class 1: p=.5, r=1 -> 2/3; class 2: p=1, r=.5 -> 2/3
    assert s["macro_f1"] == pytest.approx((1 / 2 + 2 / 3 + 2 / 3) / 3)
    assert s["balanced_accuracy"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert s["majority"] == pytest.approx(2 / 5)  # training majority is class 2


def test_majority_baseline_and_errors():
    assert scores.majority_class(np.array([1, 1, 0, -1, -1, -1])) == 1
    with pytest.raises(ValueError):
        scores.majority_class(np.array([-1, -1]))
    with pytest.raises(ValueError):
        scores.head_scores(np.array([0, 1]), np.ones((3, 2)))


def test_bootstrap_interval_covers_the_truth_on_a_synthetic_case():
    rng = np.random.default_rng(0)
    hits = 0
    for trial in range(40):  # a classifier that is right 80% of the time
        y = rng.integers(0, 2, 200)
        pred = np.where(rng.random(200) < 0.8, y, 1 - y)
        lo, hi = scores.bootstrap_ci(y, onehot(pred, 2), n_boot=200, seed=trial)
        hits += lo <= 0.8 <= hi
    assert hits >= 33  # ~95% nominal coverage; allow sampling noise


def test_per_class_table_known_answers():
    # the same case as above: class 0 p=.5 r=.5; class 1 p=.5 r=1; class 2 p=1 r=.5; class 3 never seen
    y = np.array([0, 0, 1, 2, -1, 2])
    pred = np.array([0, 1, 1, 2, 0, 0])
    t = scores.per_class_table(y, onehot(pred, 4), ["a", "b", "c", "d"])
    assert list(t.index) == ["a", "b", "c", "d"]
    assert t["support"].tolist() == [2, 1, 2, 0]
    assert t["predicted"].tolist() == [2, 2, 1, 0]  # the unlabelled row's answer is not counted
    assert t.loc["a", ["precision", "recall", "f1"]].tolist() == pytest.approx([0.5, 0.5, 0.5])
    assert t.loc["b", ["precision", "recall", "f1"]].tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    assert t.loc["c", ["precision", "recall", "f1"]].tolist() == pytest.approx([1.0, 0.5, 2 / 3])
    assert t.loc["d"][["precision", "recall", "f1"]].isna().all()  # no evidence, not zero
    # mean recall over classes present = balanced accuracy
    assert t["recall"].mean() == pytest.approx(scores.head_scores(y, onehot(pred, 4))["balanced_accuracy"])
    assert scores.per_class_recall(y, onehot(pred, 4), ["a", "b", "c", "d"]).tolist()[:3] == pytest.approx([0.5, 1, 0.5])
    with pytest.raises(ValueError):
        scores.per_class_table(y, onehot(pred, 4), ["a", "b"])


def test_per_class_table_class_predicted_never_is_nan_precision_zero_f1_when_missed():
    y = np.array([0, 1, 1])
    t = scores.per_class_table(y, onehot(np.array([0, 0, 0]), 2), ["x", "y"])
    assert np.isnan(t.loc["y", "precision"]) and t.loc["y", "recall"] == 0
    assert t.loc["x", "precision"] == pytest.approx(1 / 3) and t.loc["x", "recall"] == 1


def test_shortfall_table_says_by_how_much_and_what_was_computed():
    from fashionkit.book.aims_table import shortfall_table

    metrics = pd.DataFrame({
        "head": ["top_type", "top_pattern", "bottom_sub"], "name": ["type", "pattern", "sub"],
        "tta_%": [61.0, 97.0, 71.0], "tta_ci_low_%": [55.0, 95.0, 66.0], "tta_ci_high_%": [67.0, 99.0, 76.0],
        "tta_macro_f1_%": [59.0, 90.0, 60.0]})
    targets = {"accuracy": {"top_type": 70, "top_pattern": 96, "bottom_sub": 80}, "macro_f1": {"top_pattern": 92}}
    kept = "+ garment photos (kept)"
    levers = pd.DataFrame({"variant": [kept, "lever", kept, "lever"], "head": ["top_type"] * 2 + ["bottom_sub"] * 2,
                           "diff_points": [0, 2.0, 0, 5.0], "diff_lo": [np.nan, -3.0, np.nan, 1.0],
                           "diff_hi": [np.nan, 7.0, np.nan, 9.0],
                           "verdict": ["reference", "within noise", "reference", "better"]})
    per_class = pd.DataFrame({"head": ["top pattern"] * 3, "class": ["solid", "stripe", "graphic"],
                              "support": [150, 20, 22], "f1": [0.97, 0.80, 0.70]})
    table = shortfall_table(metrics, targets, levers, per_class, level=0.9)
    assert table.loc["top_type", "short by, points"] == pytest.approx(9.0)
    assert "nothing beat the kept model beyond noise" in table.loc["top_type", "why"]
    assert kept not in table.loc["top_type", "why"]  # the kept model is the reference, never a lever
    # accuracy met, macro-F1 not: still short, and the classes with the lowest F1 are named
    assert table.loc["top_pattern", "short by, points"] == 0
    assert "macro-F1 90.0 vs aim 92; lowest F1: graphic 70 (22 test photos), stripe 80" in table.loc["top_pattern", "why"]
    assert "rare" not in table.loc["top_pattern", "why"]  # a cause nothing computes is not stated
    assert "beat the kept model beyond noise on validation: lever" in table.loc["bottom_sub", "why"]
    assert "cannot tell" not in table.loc["top_type", "why"]  # 70 lies above the interval 55-67
    assert "90% CI" in table.columns and "labels allow %" not in table.columns
    wide = shortfall_table(metrics.assign(**{"tta_ci_high_%": [72.0, 99.0, 76.0]}), targets, level=0.9)
    assert "the aim lies inside the 90% interval" in wide.loc["top_type", "why"]
    met = shortfall_table(metrics.assign(**{"tta_%": 99.0, "tta_macro_f1_%": 99.0}), targets)
    assert (met["why"] == "aim met").all()

def test_test_short_answer_counts_from_the_table():
    table = pd.DataFrame({"name": ["type", "sub"], "n": [100, 50], "tta_%": [61.0, 82.0],
                          "majority_%": [40.0, 79.0], "tta_ci_low_%": [55.0, 75.0],
                          "verdict": ["within noise", "helped"]}, index=pd.Index(["top_type", "bottom_sub"], name="head"))
    text = aims_table.test_short_answer(table, {"top_type": 70, "bottom_sub": 80})
    assert text.startswith("1 of 2 heads beat the photo-blind majority baseline beyond noise")
    assert "from 61.0% (type) to 82.0% (sub)" in text and "TTA moved 1 (sub)" in text
    assert text.endswith("the team's aim is met on 1 of 2 heads.")


def test_validation_short_answer_reads_the_margins_and_the_ablation():
    table = pd.DataFrame({"accuracy": [0.64, 0.94], "majority": [0.44, 0.80]},
                         index=pd.Index(["top_type", "top_pattern"], name="head"))
    ablation = pd.DataFrame({"variant": ["ref", "lever", "ref", "lever"], "head": ["top_type", "top_type",
                             "top_pattern", "top_pattern"], "diff_points": [0, 3.0, 0, -4.0],
                             "verdict": ["reference", "within noise", "reference", "worse"]})
    text = aims_table.validation_short_answer(table, ablation)
    assert text.startswith("On validation the model beats always answering the majority class on 2 of 2 heads")
    assert "+14.0 (top pattern) to +20.0 points (top type)" in text
    assert "lever -4.0 on top pattern" in text
    quiet = aims_table.validation_short_answer(table, ablation.assign(verdict=["reference", "within noise"] * 2))
    assert quiet.endswith("no variant of the ablation differs from the fixed-box reference beyond noise.")


def test_wilson_interval_known_values():
    from fashionkit.metrics.scores import wilson_interval

    lo, hi = wilson_interval(8, 10)  # the textbook example: 0.49 to 0.94
    assert abs(lo - 0.4902) < 1e-3 and abs(hi - 0.9433) < 1e-3
    lo, hi = wilson_interval(10, 10)
    assert abs(hi - 1.0) < 1e-9 and 0.69 < lo < 0.73  # never above 1, and not zero-width at 100 %
    assert all(np.isnan(v) for v in wilson_interval(0, 0))


def test_presence_table_scores_known_answers_only_against_the_groups_majority():
    from fashionkit.metrics.scores import presence_table

    truth = pd.DataFrame({"top": [True, True, False, None], "bottom": [None, False, True, True]})
    predicted = pd.DataFrame({"top": [True, False, False, True], "bottom": [False, False, True, False]})
    groups = ["street", "garments", "garments", "garments"]
    train = pd.DataFrame({"top": [True, False, False], "bottom": [None, True, True]})
    table = presence_table(truth, predicted, groups, train, ["street", "garments", "garments"])
    rows = table.set_index(["garment", "group"])
    assert rows.loc[("top", "garments"), ["photos", "shown", "accuracy_%"]].tolist() == [2, 1, 50.0]
    assert rows.loc[("top", "garments"), "majority_%"] == 50.0  # garments' training majority: no top
    assert rows.loc[("top", "street"), "majority_%"] == 100.0
    assert rows.loc[("top", "all"), "photos"] == 3 and rows.loc[("bottom", "all"), "photos"] == 3
    assert "street" not in rows.loc["bottom"].index  # the street photo's bottom is unknown: left out
    assert rows.loc[("bottom", "garments"), "accuracy_%"] == 200 / 3
