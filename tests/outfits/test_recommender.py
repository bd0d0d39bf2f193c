import joblib
import numpy as np
import pandas as pd
import pytest
import torch

from fashionkit.book import outfit_tables
from fashionkit.data.schema import UnknownLabelError, get_head, heads
from fashionkit.outfits import embed, quality, recommender, vectors

torch.set_num_threads(1)

LINE = np.arange(10, dtype=float)[:, None]  # points 0, 1, ..., 9
TWO = (get_head("top_type"), get_head("bottom_major"))  # 3 + 2 classes


# ----------------------------------------------------------------------------- recommender
def test_neighbours_on_a_line_exclude_the_query():
    rec = recommender.Recommender(k=2).fit(LINE)
    d, p = rec.kneighbors([[5.0]], exclude=[5])
    assert set(p[0]) == {4, 6} and d[0].tolist() == [1, 1]
    assert p[0].tolist() == [4, 6]  # equal distances: the lower position first
    d, p = rec.kneighbors([[5.0]])  # not excluded, the point itself comes first
    assert p[0].tolist() == [5, 4] and d[0].tolist() == [0, 1]


def test_every_query_of_the_collection_gets_k_distinct_others():
    X = np.random.default_rng(0).normal(size=(40, 3))
    X[7] = X[3]  # an exact duplicate: may be recommended, but only once
    rec = recommender.Recommender(k=5).fit(X, ids=[f"img{i}" for i in range(40)])
    _, p = rec.kneighbors(X, exclude=rec.ids_)
    assert p.shape == (40, 5)
    assert all(len(set(row)) == 5 for row in p)
    assert not (p == np.arange(40)[:, None]).any()
    assert 7 in p[3] and 3 in p[7]
    ids = rec.recommend(X[:2], exclude=["img0", ["img1", "img2"]])
    assert "img0" not in ids[0] and not {"img1", "img2"} & set(ids[1])
    assert all(len(i) == 5 for i in ids)


def test_ties_are_broken_by_position_whatever_the_index_returns():
    # 12 points all at distance 1 from the query: the first k positions must win
    X = np.vstack([np.zeros((1, 2)), np.tile([[1.0, 0.0]], (6, 1)), np.tile([[0.0, 1.0]], (6, 1))])
    rec = recommender.Recommender(k=3).fit(X)
    _, p = rec.kneighbors(X[:1], exclude=[0])
    assert p[0].tolist() == [1, 2, 3]
    _, p = rec.kneighbors(X[:1], exclude=[[0, 2]])
    assert p[0].tolist() == [1, 3, 4]


def test_too_large_k_and_bad_exclusions_raise():
    rec = recommender.Recommender(k=2).fit(LINE)
    rec.kneighbors([[0.0]], k=9, exclude=[0])  # 10 items minus 1: fits exactly
    with pytest.raises(ValueError, match="exceeds"):
        rec.kneighbors([[0.0]], k=10, exclude=[0])
    with pytest.raises(ValueError, match="not in the collection"):
        rec.kneighbors([[0.0]], exclude=[42])
    with pytest.raises(ValueError, match="one entry per query"):
        rec.kneighbors([[0.0], [1.0]], exclude=[0])
    with pytest.raises(ValueError, match="2 columns"):
        rec.kneighbors([[0.0, 1.0]])
    with pytest.raises(RuntimeError, match="not fitted"):
        recommender.Recommender().kneighbors(LINE)
    with pytest.raises(ValueError, match="unique"):
        recommender.Recommender().fit(LINE, ids=[0] * 10)


def test_recommending_in_an_embedding_and_joblib_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.dirichlet(np.ones(26), size=60).astype(np.float32)
    ae = embed.Autoencoder(epochs=20, head_sizes=vectors.head_sizes()).fit(X[:40])  # fitted on a part only
    rec = recommender.Recommender(k=4, embedding=ae).fit(X, ids=np.arange(100, 160))
    assert rec.vectors_.shape == (60, 2)
    d, p = rec.kneighbors(X[:5], exclude=np.arange(100, 105))
    # the same as searching the embedded points directly
    Z = ae.transform(X)
    for i in range(5):
        dist = np.linalg.norm(Z - Z[i], axis=1)
        dist[i] = np.inf
        np.testing.assert_allclose(d[i], np.sort(dist)[:4], rtol=1e-5)
    joblib.dump(rec, tmp_path / "rec.joblib")
    back = joblib.load(tmp_path / "rec.joblib")
    d2, p2 = back.kneighbors(X[:5], exclude=np.arange(100, 105))
    assert np.array_equal(p, p2) and np.array_equal(d, d2)
    ids, ids_back = rec.recommend(X[:2], exclude=[100, 101]), back.recommend(X[:2], exclude=[100, 101])
    assert [list(r) for r in ids] == [list(r) for r in ids_back]


# ----------------------------------------------------------------------------- references
def test_random_neighbours_are_distinct_never_the_query_and_seeded():
    q = np.arange(30)
    a = quality.random_neighbours(30, q, k=4, seed=3)
    assert a.shape == (30, 4)
    assert not (a == q[:, None]).any()
    assert all(len(set(row)) == 4 for row in a)
    assert a.min() >= 0 and a.max() <= 29
    assert np.array_equal(a, quality.random_neighbours(30, q, k=4, seed=3))
    assert not np.array_equal(a, quality.random_neighbours(30, q, k=4, seed=4))
    everyone_else = quality.random_neighbours(5, [2], k=4)  # k = n - 1: all the others
    assert sorted(everyone_else[0]) == [0, 1, 3, 4]
    with pytest.raises(ValueError):
        quality.random_neighbours(5, [2], k=5)


def test_label_vectors_one_hot_zero_for_missing_unknown_raises():
    labels = pd.DataFrame({"top_type": ["shirt", None, "blouse"], "bottom_major": [np.nan, "skirt", "pants"]})
    V = quality.label_vectors(labels, TWO)
    np.testing.assert_array_equal(V, [[0, 1, 0, 0, 0],
                                      [0, 0, 0, 0, 1],
                                      [1, 0, 0, 1, 0]])
    with pytest.raises(UnknownLabelError, match="dress"):
        quality.label_vectors(labels.assign(bottom_major=["pants", "dress", None]), TWO)
    with pytest.raises(ValueError, match="top_type"):
        quality.label_vectors(labels.drop(columns="top_type"), TWO)
    nothing = quality.label_vectors(pd.DataFrame({h.key: [None, None] for h in heads()}))  # all 8 heads
    assert nothing.shape == (2, 26) and not nothing.any()


# ----------------------------------------------------------------------------- scores
LABELS = pd.DataFrame({
    "top_type": ["shirt", "shirt", "blouse", None, "shirt"],
    "bottom_major": ["pants", None, None, None, "skirt"],
})


def test_attribute_agreement_known_percentages():
    queries = [0, 2]
    nb = [[1, 2, 3], [0, 4, 1]]
    # top_type: query 0 (shirt) vs shirt, blouse, - -> 1 of 2; query 2 (blouse) vs shirt x3 -> 0 of 3
    # bottom_major: query 0 (pants) vs -, -, - -> no pair; query 2 has no label -> no pair
    a = quality.attribute_agreement(LABELS, queries, nb, TWO)
    assert a["top_type"] == pytest.approx(100 * 1 / 5)
    assert np.isnan(a["bottom_major"])
    assert a["mean"] == pytest.approx(20.0)  # only the head with data
    counts = quality.agreement_counts(LABELS, queries, nb, TWO)
    assert counts["pairs"].to_dict() == {"top_type": 5, "bottom_major": 0, "mean": 5}
    # query 4 (shirt, skirt) vs 0 (shirt, pants), 1 (shirt, -): top 2/2, bottom 0/1
    a = quality.attribute_agreement(LABELS, [4], [[0, 1]], TWO)
    assert a.tolist() == pytest.approx([100.0, 0.0, 50.0])


def test_diversity_and_coverage_known_answers():
    X = np.array([[0.0, 0.0], [3.0, 4.0], [0.0, 4.0], [9.0, 9.0]])
    # query 1: items 0, 1 (distance 5); query 2: items 0, 2 (4) -> mean 4.5
    assert quality.diversity(X, [[0, 1], [0, 2]]) == pytest.approx(4.5)
    # three items: distances 5, 4, 3 -> 4
    assert quality.diversity(X, [[0, 1, 2]]) == pytest.approx(4.0)
    assert quality.coverage([[0, 1], [0, 2]], 4) == 0.75
    assert quality.coverage([[0, 1], [2, 3]], 8) == 0.5
    with pytest.raises(ValueError):
        quality.diversity(X, [[0], [1]])
    with pytest.raises(ValueError):
        quality.coverage([[0, 9]], 4)


def test_recommendation_table_orders_spaces_as_expected():
    rng = np.random.default_rng(0)
    n = 200
    labels = pd.DataFrame({"top_type": rng.choice(["blouse", "shirt", "t-shirt"], n),
                           "bottom_major": rng.choice(["pants", "skirt", None], n)})
    Xlab = quality.label_vectors(labels, TWO)
    X = Xlab + rng.normal(scale=0.05, size=Xlab.shape)
    q = np.arange(n)
    by_labels = recommender.Recommender(k=4).fit(Xlab + rng.normal(scale=1e-3, size=Xlab.shape))
    _, nb_lab = by_labels.kneighbors(by_labels.vectors_, exclude=q)
    table = quality.recommendation_table(labels, X, q, {"labels": nb_lab, "random": quality.random_neighbours(n, q, 4)},
                                   TWO, n_boot=200, seed=1)
    assert list(table.index) == ["labels", "random"]
    assert list(table.columns) == ["top_type_%", "bottom_major_%", "mean_agreement_%", "ci_low_%", "ci_high_%",
                                   "diversity", "coverage"]
    assert table.loc["labels", "top_type_%"] == 100.0 and table.loc["labels", "mean_agreement_%"] > 95
    # random: top type agrees 1/3 of the time, bottom major (2 classes) 1/2 -> mean about 42%
    assert 30 < table.loc["random", "mean_agreement_%"] < 55
    for space in table.index:
        lo, mid, hi = table.loc[space, ["ci_low_%", "mean_agreement_%", "ci_high_%"]]
        assert lo <= mid <= hi
    assert table.loc["labels", "ci_low_%"] > table.loc["random", "ci_high_%"]
    assert table.loc["random", "diversity"] > table.loc["labels", "diversity"]
    assert 0 < table.loc["labels", "coverage"] <= 1
    again = quality.recommendation_table(labels, X, q, {"labels": nb_lab}, TWO, n_boot=200, seed=1)
    assert again.loc["labels"].equals(table.loc["labels"])


def test_quality_table_is_named_and_drops_unscored_heads():
    scored = pd.DataFrame({"top_type_%": [61.26, 55.0], "top_neck_%": [np.nan, np.nan],
                            "mystery_%": [1.0, 2.0], "mean_agreement_%": [70.04, 66.66],
                            "ci_low_%": [68.0, 64.1], "ci_high_%": [72.1, 69.2],
                            "diversity": [0.812, 1.6], "coverage": [0.9333, 0.8]},
                           index=pd.Index(["full vector", "map 2-D"], name="space"))
    table = outfit_tables.quality_table(scored)
    assert list(table.columns) == ["top type %", "mystery_%", "mean agreement %", "95% CI", "diversity",
                                   "coverage %"]  # no query had a neck label: dropped, not shown empty
    assert table.loc["full vector", "95% CI"] == "68.0–72.1"
    assert table.loc["map 2-D", "coverage %"] == pytest.approx(80.0)
    assert table.loc["full vector", "top type %"] == 61.26  # numbers kept: tables.show rounds them


def test_vector_answers_reads_each_heads_most_probable_class():
    from fashionkit.outfits.vectors import head_slices

    hs = heads()
    vector = np.zeros(head_slices(hs)[-1].stop)
    for h, s in zip(hs, head_slices(hs)):
        vector[s] = 0.1 / max(h.n_classes - 1, 1)
        vector[s.start + h.n_classes - 1] = 0.9  # the last class of every head
    table = recommender.vector_answers(vector, hs)
    assert table["answer"].tolist() == [h.names[-1] for h in hs]
    assert np.allclose(table["probability %"], 90)
    with pytest.raises(ValueError):
        recommender.vector_answers(vector[:-1], hs)


def test_the_agreement_guard_states_each_aim_with_a_computed_verdict():
    table = pd.DataFrame({"mean_agreement_%": [66.5, 79.0, 42.7], "ci_low_%": [63.1, 76.0, 39.4],
                          "ci_high_%": [69.9, 82.0, 45.9]}, index=["full vector", "UMAP 2-D", "random"])
    line = outfit_tables.aims_line(table, "UMAP 2-D", {"full vector": 74, "chosen space": 78})
    assert "full vector 66.5% (63.1–69.9) against an aim of 74%: **not met**;" in line
    assert "chosen space (UMAP 2-D) 79.0% (76.0–82.0) against an aim of 78%: **met**" in line
    near = outfit_tables.aims_line(table, "full vector", {"full vector": 68})
    assert near.endswith("against an aim of 68%: **not met** (the interval holds the aim).")
    assert outfit_tables.aims_line(table, "full vector", {}) == ""


def test_a_garment_query_outside_the_collection_is_scored_against_its_own_labels():
    from fashionkit.data.schema import get_head
    from fashionkit.outfits.quality import outside_query_table

    sub = get_head("bottom_sub")
    collection = pd.DataFrame({"bottom_sub": ["skirt", "jeans", "skirt", "slacks", "jeans", "shorts"]})
    queries = pd.DataFrame({"bottom_sub": ["skirt", "jeans"]})
    X = np.eye(6)
    nb = np.array([[0, 2], [1, 4]])  # every neighbour shares its query's label
    table = outside_query_table(collection, queries, X, np.eye(6)[:2], {"bottom heads": nb}, [sub], k=2, n_boot=50)
    assert table.loc["bottom heads", "bottom_sub_%"] == 100.0
    assert table.loc["bottom heads", "coverage"] == pytest.approx(4 / 6)  # a share of the collection, not of the queries
    assert "random" in table.index and table.loc["random", "bottom_sub_%"] <= 100.0


def test_a_reading_s_gain_is_paired_over_the_same_queries_and_explained_by_head():
    """Forty queries of two heads.  The reference's neighbours share the query's top type half the
    time and its bottom class always; the better space's always share both; the worse one's never
    share the top type.  Known answers: +25 and -25 points on the mean of the two heads."""
    rng = np.random.default_rng(0)
    n = 40
    labels = pd.DataFrame({"top_type": rng.choice(["shirt", "blouse"], n), "bottom_major": rng.choice(["pants", "skirt"], n)})
    q = np.arange(n)
    same = [np.flatnonzero((labels["top_type"] == labels.loc[i, "top_type"]) & (labels["bottom_major"] == labels.loc[i, "bottom_major"]) & (np.arange(n) != i)) for i in q]
    other_top = [np.flatnonzero((labels["top_type"] != labels.loc[i, "top_type"]) & (labels["bottom_major"] == labels.loc[i, "bottom_major"])) for i in q]
    both = np.array([[s[0], s[1]] for s in same])
    half = np.array([[s[0], o[0]] for s, o in zip(same, other_top)])
    never = np.array([[o[0], o[1]] for o in other_top])
    gains = quality.agreement_gains(labels, q, {"used": half, "better": both, "worse": never}, "used", TWO, n_boot=200)
    assert gains.loc["better", "top_type_points"] == 50 and gains.loc["better", "bottom_major_points"] == 0
    assert gains.loc["better", "gain_points"] == 25 and gains.loc["worse", "gain_points"] == -25
    assert gains.loc["better", "gain_lo"] == gains.loc["better", "gain_hi"] == 25  # the same every query: no spread
    line = outfit_tables.reading_gains_line(gains, {"better": "the crop", "worse": "the photos"})
    assert "the crop (better): +25.0 points [+25.0, +25.0], better (most in top type +50.0)" in line  # class: +0
    assert "the photos (worse): -25.0 points [-25.0, -25.0], worse" in line
    assert line.endswith("Beyond noise, agreement rises only with the crop.")
    with pytest.raises(ValueError, match="reference"):
        quality.agreement_gains(labels, q, {"better": both}, "used", TWO)
    noise = gains.assign(gain_lo=-1.0, gain_hi=1.0)
    assert outfit_tables.reading_gains_line(noise, {}).endswith("No change raises agreement beyond noise.")


def test_the_gain_s_interval_is_paired_so_a_steady_gain_has_no_spread():
    """Agreement varies from query to query (a query's reference neighbours share its top type 0 or 1
    times in 2), but the other space's neighbours always share it once more.  Paired over the same
    resampled queries the gain is +50 points on every draw; scored on separate draws it would spread."""
    labels = pd.DataFrame({"top_type": ["shirt", "blouse"] * 10})
    q = np.arange(20)
    like = [np.flatnonzero((labels["top_type"] == labels.loc[i, "top_type"]).to_numpy() & (q != i)) for i in q]
    unlike = [np.flatnonzero((labels["top_type"] != labels.loc[i, "top_type"]).to_numpy()) for i in q]
    reference = np.array([[u[0], u[1]] if i % 4 < 2 else [l[0], u[0]] for i, (l, u) in enumerate(zip(like, unlike))])
    better = np.array([[l[0], u[0]] if i % 4 < 2 else [l[0], l[1]] for i, (l, u) in enumerate(zip(like, unlike))])
    gains = quality.agreement_gains(labels, q, {"reference": reference, "better": better}, "reference",
                                    [get_head("top_type")], n_boot=500)
    assert gains.loc["better", "gain_points"] == 50
    assert gains.loc["better", "gain_lo"] == gains.loc["better", "gain_hi"] == 50
    table = quality.recommendation_table(labels, np.zeros((20, 1)), q, {"reference": reference, "better": better},
                                         [get_head("top_type")], n_boot=500)
    assert table.loc["reference", "ci_high_%"] - table.loc["reference", "ci_low_%"] > 10  # each alone does spread


def test_a_collection_described_by_its_labels_and_the_share_its_score_can_judge():
    """Two heads (top type, pants or skirt): a labelled head becomes one-hot, an unlabelled one keeps
    the models' reading; the scored share counts, per head, the recommendations that carry a label
    among those made to labelled queries."""
    labels = pd.DataFrame({"top_type": ["shirt", None, "blouse"], "bottom_major": [None, "skirt", "pants"]})
    X = np.array([[0.2, 0.5, 0.3, 0.6, 0.4], [0.1, 0.1, 0.8, 0.3, 0.7], [0.3, 0.3, 0.4, 0.9, 0.1]])
    described = quality.labelled_where_known(X, labels, TWO)
    top, bottom = get_head("top_type"), get_head("bottom_major")

    def one_hot(head, name):
        return [float(i == head.index(name)) for i in range(head.n_classes)]

    assert described[0, :3].tolist() == one_hot(top, "shirt") and described[2, :3].tolist() == one_hot(top, "blouse")
    assert described[1, 3:].tolist() == one_hot(bottom, "skirt") and described[2, 3:].tolist() == one_hot(bottom, "pants")
    assert described[1, :3].tolist() == X[1, :3].tolist()  # no top-type label: the reading stays
    assert described[0, 3:].tolist() == X[0, 3:].tolist()
    with pytest.raises(ValueError, match="collection"):
        quality.labelled_where_known(X[:2], labels, TWO)
    # queries 0 and 2, two recommendations each
    share = quality.scored_share(labels, [0, 2], np.array([[1, 2], [0, 1]]), TWO)
    assert share["top_type"] == 50.0  # query 0: 1 labelled of 2; query 2: 1 of 2
    assert share["bottom_major"] == 50.0  # only query 2 is labelled; of its picks, 1 is and 0 is not
    assert np.isnan(quality.scored_share(labels, [1], np.array([[0, 2]]), TWO)["top_type"])  # no labelled query
    gain = pd.Series({"gain_points": 10.0, "gain_lo": 4.0, "gain_hi": 16.0})
    fewer = share.copy()
    fewer["top_type"] = 25.0
    line = outfit_tables.labelled_collection_line(gain, share, fewer)
    assert "+10.0 points [+4.0, +16.0] against the vectors in use (better)" in line
    assert "(top type 25% against 50%)" in line and "not like for like" in line
    fewer["top_type"] = 49.5  # under a point fewer: not named
    assert outfit_tables.labelled_collection_line(gain, share, fewer).endswith("at least as often as those in use.")
    nothing = share * np.nan
    assert outfit_tables.labelled_collection_line(gain * np.nan, nothing, nothing).startswith("No validation query")
