"""Confident learning on known answers: planted label flips are found and counted, a weak probe on clean
labels is not read as noisy labels, and the blind re-annotation is compared with the dataset's labels."""

import numpy as np
import pandas as pd
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
    assert table.loc[head.key, "probe disagreement %"] < 3 and table.loc[head.key, "flagged %"] < 3
    assert not any("allow" in c or "ceiling" in c for c in table.columns)


def test_a_weak_probe_on_clean_labels_disagrees_a_lot_so_the_figure_is_no_ceiling():
    """Clean labels (no error at all) and features that barely separate the classes: the probe is
    about half right and confident learning flags many photos.  The figure follows the probe."""
    rng = np.random.default_rng(1)
    true = rng.integers(0, 3, 900)
    x = np.eye(3)[true] * 0.35 + rng.normal(0, 1.0, (900, 3))
    p = noise.out_of_fold_proba(x, true, 3)
    head = get_head("top_sleeve")
    table = noise.noise_table([head], {head.key: true}, {head.key: p})
    probe = table.loc[head.key, "probe accuracy %"]
    assert 35 < probe < 65
    assert table.loc[head.key, "probe disagreement %"] > 25  # on labels with no error at all
    assert table.loc[head.key, "flagged %"] > 20  # every flagged photo is the probe's own mistake


def test_a_flagged_photo_suggests_its_confident_class_not_the_arg_max(monkeypatch):
    # photo 0 is labelled 0; its probabilities: class 1 passes its (low) threshold, class 2 is the
    # arg-max but never reaches its own (high) threshold
    p = np.array([[0.05, 0.40, 0.55], [0.9, 0.05, 0.05], [0.1, 0.35, 0.55], [0.1, 0.3, 0.6],
                  [0.0, 0.01, 0.99], [0.0, 0.02, 0.98]])
    features = np.zeros((6, 2))
    frame = pd.DataFrame({"image": list("abcdef"), "path": list("abcdef"), "top_sleeve": ["long", "long", "short",
                                                                                          "short", "sleeveless",
                                                                                          "sleeveless"]})
    monkeypatch.setattr(noise, "out_of_fold_proba", lambda *a, **k: p)  # the probe's answers, given
    _, issues = noise.estimate(features, frame, [get_head("top_sleeve")])
    first = issues.iloc[0]
    assert first["image"] == "a" and first["given"] == "long" and first["suggested"] == "short"


def test_reannotation_agreement_and_the_confident_mistakes_it_confirms():
    manifest = pd.DataFrame({"source": ["ccp"] * 5, "image": ["1", "2", "3", "4", "5"],
                             "bottom_sub": ["jeans", "skirt", "slacks", "jeans", None]})
    again = pd.DataFrame({"head": ["bottom_sub"] * 5, "source": ["ccp"] * 5, "image": ["1", "2", "3", "4", "5"],
                          "label": ["jeans", "skirt", "jeans", "unsure", "skirt"]})
    table = noise.reannotation_agreement(again, manifest)
    row = table.loc["bottom_sub"]
    assert (row["re-annotated"], row["unsure"], row["compared"], row["agree"]) == (5, 1, 3, 2)
    assert row["agreement %"] == pytest.approx(200 / 3) and row["ci_low_%"] < row["agreement %"] < row["ci_high_%"]
    sub = get_head("bottom_sub")
    predictions = pd.DataFrame({"source": ["ccp"] * 3, "image": ["1", "2", "3"],
                                "pred.bottom_sub": ["slacks", "skirt", "jeans"],
                                **{f"tta.bottom_sub.{c}": [0.9 if c == "slacks" else 0.025, 0.9 if c == "skirt"
                                                           else 0.025, 0.85 if c == "jeans" else 0.0375]
                                   for c in sub.names}})
    found = noise.confirmed_errors(again, manifest, predictions, confident=0.8).set_index("image")
    assert list(found.index) == ["1", "3"]  # photo 2: right; photos 4-5: not predicted
    assert found.loc["1", "the annotator says"] == "the dataset's label"
    assert found.loc["3", "the annotator says"] == "the model's answer"
    with pytest.raises(ValueError, match="not in the manifest"):
        noise.reannotation_agreement(again.assign(image="9"), manifest)
