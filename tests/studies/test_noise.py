"""Confident learning on known answers: planted label flips are found and counted."""

import numpy as np
import pytest

from fashionkit.data.schema import get_head
from fashionkit.studies import noise


def noisy_problem(n=600, flip=0.1, seed=0):
    rng = np.random.default_rng(seed)
    true = rng.integers(0, 3, n)
    features = np.eye(3)[true] * 3 + rng.normal(0, 0.6, (n, 3))  # separable classes
    given = true.copy()
    flipped = rng.random(n) < flip
    given[flipped] = (true[flipped] + rng.integers(1, 3, flipped.sum())) % 3
    return features, true, given, flipped


def test_out_of_fold_probabilities_cover_labelled_rows_only():
    x, _, y, _ = noisy_problem(n=120)
    y = y.copy()
    y[:5] = -1
    p = noise.out_of_fold_proba(x, y, 3, n_folds=4)
    assert np.isnan(p[:5]).all() and np.allclose(p[5:].sum(axis=1), 1)


def test_planted_flips_are_estimated_and_flagged():
    x, true, given, flipped = noisy_problem(flip=0.1)
    p = noise.out_of_fold_proba(x, given, 3)
    joint = noise.confident_joint(given, p)
    assert joint.sum() == pytest.approx(len(given))
    rate = 1 - np.trace(joint) / joint.sum()
    assert rate == pytest.approx(flipped.mean(), abs=0.04)
    issues = noise.label_issues(given, p)
    precision = flipped[issues].mean()
    recall = np.isin(np.flatnonzero(flipped), issues).mean()
    assert precision > 0.8 and recall > 0.7


def test_clean_labels_give_little_noise_and_the_table_reads_it():
    x, true, _, _ = noisy_problem(flip=0.0)
    p = noise.out_of_fold_proba(x, true, 3)
    head = get_head("top_sleeve")  # any three-class head
    table = noise.noise_table([head], {head.key: true}, {head.key: p})
    assert table.loc[head.key, "estimated label errors %"] < 3
    assert table.loc[head.key, "accuracy the labels allow %"] > 97
