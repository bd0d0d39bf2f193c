"""Tables behind chapter 6, on a hand-made predictions frame with known answers."""

import numpy as np
import pandas as pd

from fashionkit.book import error_tables, tables
from fashionkit.data.schema import get_head

TYPE = get_head("top_type")


def predictions():
    rows = [  # image, true label, tta probabilities (blouse, shirt, t-shirt)
        ("a.jpg", "blouse", (0.10, 0.85, 0.05)),   # confident mistake
        ("b.jpg", "shirt", (0.60, 0.30, 0.10)),    # mild mistake
        ("c.jpg", "t-shirt", (0.05, 0.05, 0.90)),  # correct
        ("d.jpg", None, (0.20, 0.20, 0.60)),       # unlabelled: never in a gallery
    ]
    frame = pd.DataFrame({"image": [r[0] for r in rows], "source": "ccp", "label.top_type": [r[1] for r in rows]})
    for i, name in enumerate(TYPE.names):
        frame[f"tta.top_type.{name}"] = [r[2][i] for r in rows]
    return frame


def test_probability_printout_in_class_order():
    assert tables.proba_string([0.115, 0.078, 0.539], TYPE.names) == "blouse 11.5% · shirt 7.8% · t-shirt 53.9%"


def test_gallery_ranks_confident_mistakes_first_and_skips_unlabelled():
    picks = error_tables.gallery_picks(predictions(), TYPE, n_wrong=2, n_right=2)
    wrong = picks[picks.kind == "mistake"]
    assert list(wrong.image) == ["a.jpg", "b.jpg"]
    assert list(wrong.predicted) == ["shirt", "blouse"]
    assert list(picks[picks.kind == "correct"].image) == ["c.jpg"]
    assert "d.jpg" not in set(picks.image)


def test_mistake_summary_and_outfit_card():
    summary = error_tables.mistake_summary(predictions(), [TYPE], confident=0.8).loc["top_type"]
    assert (summary["n"], summary["mistakes"], summary["mistakes_at_80%+"]) == (3, 2, 1)
    assert np.isclose(summary["error_%"], 200 / 3)
    card = error_tables.outfit_table(predictions().iloc[0], [TYPE])
    assert card.iloc[0]["predicted_ko"] == "셔츠" and card.iloc[0]["ok"] == "✗"


def test_the_reannotation_is_written_for_reading_with_its_interval_and_what_it_confirms():
    agreement = pd.DataFrame({"re-annotated": [60], "unsure": [2], "compared": [58], "agree": [50],
                              "agreement %": [50 / 58 * 100], "ci_low_%": [75.0], "ci_high_%": [92.6]},
                             index=pd.Index(["bottom_sub"], name="head"))
    shown = error_tables.agreement_for_reading(agreement, 0.9)
    assert list(shown.index) == ["bottom sub class"] and shown["90% CI"].iloc[0] == "75.0–92.6"
    confirmed = pd.DataFrame({"head": ["bottom_sub"] * 3, "the annotator says": ["the model's answer",
                                                                                  "the dataset's label",
                                                                                  "the model's answer"]})
    line = error_tables.reannotation_sentence(agreement, confirmed, 0.8)
    assert "bottom sub class 86% (75–93; 50 of 58)" in line
    assert "Of the 3 confident mistakes (at least 80%)" in line
    assert "2 where the annotator names the model's answer (a label error)" in line
    none = error_tables.reannotation_sentence(agreement, confirmed.iloc[:0], 0.8)
    assert none.endswith("None of the model's confident mistakes (at least 80%) is among these photos.")
