"""Confusions, chance baselines, calibration (ECE, temperature scaling) and the paired bootstrap."""

import numpy as np
import pytest

from fashionkit.book import report_tables
from fashionkit.metrics import calibration, comparison, scores


def onehot(pred, k):
    return np.eye(k)[pred]


def softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


Y = np.array([0, 0, 0, 1, 1, 2, -1, 2, 2, 0])
PRED = np.array([0, 1, 1, 1, 2, 2, 0, 0, 2, 2])


def test_confusion_counts_rows_are_true_classes_and_missing_left_out():
    c = scores.confusion(Y, onehot(PRED, 3), 3)
    assert c.tolist() == [[1, 2, 1],
                          [0, 1, 1],
                          [1, 0, 2]]
    assert c.sum() == 9  # the -1 row is left out
    assert np.trace(c) / c.sum() == pytest.approx(scores.head_scores(Y, onehot(PRED, 3))["accuracy"])
    with pytest.raises(ValueError):
        scores.confusion(Y, onehot(PRED, 3), 4)


def test_top_confusions_most_frequent_first_with_share_of_the_true_class():
    t = scores.top_confusions(Y, onehot(PRED, 3), ["a", "b", "c"], k=3)
    assert list(t.columns) == ["true", "predicted", "n", "share"]
    assert t.iloc[0][["true", "predicted", "n"]].tolist() == ["a", "b", 2]
    assert t.iloc[0]["share"] == pytest.approx(2 / 4)
    # then the ties of one photo, in class-index order: a->c, b->c, c->a
    assert [(r.true, r.predicted) for r in t.itertuples()][1:] == [("a", "c"), ("b", "c")]
    assert t.iloc[2]["share"] == pytest.approx(1 / 2)
    everything = scores.top_confusions(Y, onehot(PRED, 3), ["a", "b", "c"], k=99)
    assert everything["n"].sum() == 9 - 4 and (everything["true"] != everything["predicted"]).all()
    assert scores.top_confusions(Y[Y >= 0], onehot(np.maximum(Y, 0)[Y >= 0], 3), ["a", "b", "c"]).empty


def test_prior_baseline_known_answer():
    y_train = np.array([0, 0, 0, 1, -1])  # priors .75 / .25 / 0
    y_test = np.array([0, 1, 1, 2, -1])   # shares .25 / .5 / .25
    assert scores.prior_baseline(y_test, y_train, 3) == pytest.approx(0.75 * 0.25 + 0.25 * 0.5)
    # uniform priors: 1 / k whatever the test balance
    assert scores.prior_baseline(y_test, np.array([0, 1, 2]), 3) == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        scores.prior_baseline(y_test, np.array([-1, -1]), 3)


def test_ece_zero_when_calibrated_and_large_when_over_confident():
    # every row says 80% for its argmax, and exactly 80% of the argmaxes are right
    y = np.array([0] * 8 + [1] * 2 + [1] * 8 + [0] * 2 + [-1])
    proba = np.array([[0.8, 0.2]] * 10 + [[0.2, 0.8]] * 10 + [[0.5, 0.5]])
    assert calibration.expected_calibration_error(y, proba) == pytest.approx(0.0, abs=1e-12)
    table = calibration.reliability_table(y, proba, n_bins=10)
    assert list(table.columns) == ["bin", "lower", "upper", "n", "confidence", "accuracy"]
    assert len(table) == 10 and table["n"].sum() == 20
    row = table[table["n"] > 0].iloc[0]
    assert (row["lower"], row["upper"]) == pytest.approx((0.7, 0.8))  # 0.8 lies in (0.7, 0.8]
    assert row["confidence"] == pytest.approx(0.8) and row["accuracy"] == pytest.approx(0.8)
    # 99% sure, right half the time
    over = np.array([[0.99, 0.01]] * 20)
    y_half = np.array([0, 1] * 10)
    assert calibration.expected_calibration_error(y_half, over) == pytest.approx(0.49)
    assert calibration.expected_calibration_error(y_half, over) > 0.1


def test_nll_known_answer_and_clipping():
    assert calibration.nll(np.array([0, 1, -1]), np.array([[0.5, 0.5], [0.1, 0.9], [1.0, 0.0]])) == pytest.approx(
        -(np.log(0.5) + np.log(0.9)) / 2)
    assert np.isfinite(calibration.nll(np.array([1]), np.array([[1.0, 0.0]])))


def synthetic(scale, n=4000, k=4, seed=0):
    """Labels drawn from softmax(logits): calibrated at scale 1, over-confident at scale > 1."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.5, (n, k))
    y = np.array([rng.choice(k, p=p) for p in softmax(logits)])
    return y, softmax(scale * logits)


def test_temperature_scaling_recovers_the_overconfidence_and_lowers_nll():
    y, proba = synthetic(scale=3.0)
    t = calibration.fit_temperature(y, proba)
    assert t == pytest.approx(3.0, rel=0.1)
    after = calibration.apply_temperature(proba, t)
    assert calibration.nll(y, after) < calibration.nll(y, proba) - 0.1
    assert calibration.expected_calibration_error(y, after) < calibration.expected_calibration_error(y, proba)
    assert (after.argmax(axis=1) == proba.argmax(axis=1)).all()  # accuracy unchanged


def test_temperature_of_a_calibrated_case_is_near_one():
    y, proba = synthetic(scale=1.0, seed=1)
    assert calibration.fit_temperature(y, proba) == pytest.approx(1.0, abs=0.1)


def test_apply_temperature_rows_sum_to_one_and_checks_t():
    proba = np.random.default_rng(0).dirichlet(np.ones(5), 50)
    for t in (0.2, 1.0, 7.0):
        out = calibration.apply_temperature(proba, t)
        assert out.shape == proba.shape and np.allclose(out.sum(axis=1), 1.0)
    np.testing.assert_allclose(calibration.apply_temperature(proba, 1.0), proba, atol=1e-9)
    with pytest.raises(ValueError):
        calibration.apply_temperature(proba, 0.0)


def test_paired_bootstrap_identical_predictions_give_zero():
    y, proba = synthetic(scale=1.0, n=300)
    assert comparison.paired_bootstrap_diff(y, proba, proba.copy(), n_boot=200) == (0.0, 0.0, 0.0)


def test_paired_bootstrap_detects_a_clear_gain_and_is_seeded():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 500)
    a = onehot(np.where(rng.random(500) < 0.6, y, (y + 1) % 3), 3)
    b = onehot(np.where(rng.random(500) < 0.9, y, (y + 1) % 3), 3)
    diff, lo, hi = comparison.paired_bootstrap_diff(y, a, b, n_boot=500, seed=3)
    assert diff == pytest.approx((b.argmax(1) == y).mean() - (a.argmax(1) == y).mean())
    assert 0 < lo <= diff <= hi
    assert comparison.paired_bootstrap_diff(y, a, b, n_boot=500, seed=3) == (diff, lo, hi)
    assert report_tables.paired_verdict((diff, lo, hi)).startswith("TTA is more accurate")
    assert report_tables.paired_verdict((0.0, -0.01, 0.02)).startswith("no clear difference")


def test_plots_draw_the_new_figures():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fashionkit.book import model_figures

    fig = model_figures.confusion_heatmap(scores.confusion(Y, onehot(PRED, 3), 3), ["blouse", "shirt", "t-shirt"],
                                  "top type", head="top_type")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["blouse", "shirt", "t-shirt"]
    assert "25%\n(1)" in [t.get_text() for t in ax.texts]
    plt.close(fig)
    y, proba = synthetic(scale=3.0, n=500)
    tables = {"before": calibration.reliability_table(y, proba),
              "after temperature scaling": calibration.reliability_table(y, calibration.apply_temperature(proba, 3.0))}
    fig = model_figures.reliability_diagram(tables, "calibration")
    ax = fig.axes[0]
    assert (ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) == ("confidence (%)", "accuracy (%)", "calibration")
    assert len(ax.get_legend().get_texts()) == 3
    plt.close(fig)
