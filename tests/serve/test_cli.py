"""``python -m fashionkit predict / recommend`` on a real photo, a corrupt file and a missing one."""

import io
import json
import os
import subprocess
import sys

import numpy as np
import pandas as pd

from fashionkit.data.schema import heads
from fashionkit.data.sources import PROJECT_ROOT
from fashionkit.outfits import recommender
from fashionkit.serve import cli


def test_missing_corrupt_and_non_image_files_are_clear_errors(tmp_path, corrupt, capsys):
    text = tmp_path / "notes.jpg"
    text.write_text("just some words, not pixels")
    for argv, reason in [(["predict", str(tmp_path / "absent.jpg")], "no such file"),
                         (["predict", str(corrupt)], str(corrupt)),
                         (["recommend", str(text)], str(text)),
                         (["recommend", str(tmp_path)], "is a folder"),
                         (["predict", str(tmp_path / "no-photos")], "no photos")]:
        (tmp_path / "no-photos").mkdir(exist_ok=True)
        assert cli.main(["--artifacts", str(tmp_path), *argv]) == 1
        err = capsys.readouterr().err
        assert err.startswith("error: ") and reason in err, err


def test_a_good_photo_without_trained_models_says_to_run_make_all(tmp_path, photo, capsys):
    assert cli.main(["--artifacts", str(tmp_path / "nothing"), "predict", str(photo)]) == 1
    assert "make all" in capsys.readouterr().err
    assert cli.main(["--artifacts", str(tmp_path / "nothing"), "recommend", str(photo)]) == 1
    assert "make all" in capsys.readouterr().err


def test_bad_k_is_a_usage_error(photo, capsys):
    assert cli.main(["recommend", str(photo), "-k", "0"]) == 2


def test_module_entry_point_exits_non_zero_on_a_corrupt_file(corrupt, tmp_path):
    """``python -m fashionkit`` end to end in a new process.  An artifacts folder without
    models keeps it quick (no model code is imported): the photo is still checked and named."""
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    run = subprocess.run([sys.executable, "-m", "fashionkit", "--artifacts", str(tmp_path), "predict", str(corrupt)],
                         capture_output=True, text=True, env=env, cwd=PROJECT_ROOT, timeout=300)
    assert run.returncode == 1 and "error:" in run.stderr and str(corrupt) in run.stderr
    assert run.stdout == ""


def _answers(shown_of: dict) -> dict:
    """Both models' answers for a few photos: the first class of every head, and the presence head's
    "yes" where ``shown_of[model]`` says the garment is in the photo."""
    out = {}
    for model, shown in shown_of.items():
        n = len(shown)
        probas = {h.key: np.tile(np.eye(h.n_classes)[0], (n, 1)) for h in heads(model)}
        probas[f"{model}_present"] = np.array([[0.9, 0.1] if s else [0.2, 0.8] for s in shown])
        out[model] = (probas, pd.DataFrame({f"{model}_source": ["garment"] * n, "note": [""] * n}))
    return out


def test_an_absent_garment_gets_empty_heads_and_a_note_and_nothing_found_says_so(tmp_path):
    answers = _answers({"top": [True, False, False], "bottom": [True, True, False]})
    table = cli.answer_table(["a.jpg", "skirt.jpg", "bag.jpg"], answers, {})
    assert table["note"].tolist() == ["", "no top garment found: its heads are left empty",
                                      "no garment found: every head is left empty"]
    assert table["top_present"].tolist() == ["yes", "no", "no"]  # the presence head is always answered
    for head in heads():
        if head.presence:
            continue
        answered = table[head.key] != ""
        assert answered.tolist() == ([True, False, False] if head.model == "top" else [True, True, False])
        probs = table[[f"{head.key}.{c}" for c in head.names]].to_numpy(float)
        assert np.isnan(probs[~answered.to_numpy()]).all() and (probs[answered.to_numpy()].sum(axis=1) == 1).all()
    text = cli._as_text(table, {"top": None, "bottom": None})
    assert "skirt.jpg\n  note: no top garment found: its heads are left empty\n  top type          -" in text
    records = json.loads(table.to_json(orient="records"))  # the --format json rows: empty heads are null
    assert records[2]["top_type.t-shirt"] is None and records[2]["top_type"] == ""
    assert pd.isna(pd.read_csv(io.StringIO(table.to_csv(index=False)))["top_type"].iloc[2])


def test_recommend_on_a_photo_with_no_garment_says_so_and_exits_zero(tmp_path, photo, capsys, monkeypatch):
    class Bundle:
        meta = {"k": 4, "space": "full vector"}

    monkeypatch.setattr(recommender, "load_bundle", lambda folder: Bundle())
    monkeypatch.setattr(cli, "_photo_probas", lambda artifacts, photos, meta: (
        {}, {"top": np.array([False]), "bottom": np.array([False])}))
    assert cli.main(["--artifacts", str(tmp_path), "recommend", str(photo)]) == 0
    assert "no garment found" in capsys.readouterr().out


def test_recommend_answers_a_garment_alone_by_that_garments_heads_only(tmp_path, photo, capsys, monkeypatch):
    """A photo of a skirt alone: the outfits whose bottom is a skirt, although another outfit's top matches
    the top the model would have read off the skirt (the whole vector would pick that one)."""
    def probas_of(top_class: int, sub: str, present=(0.9, 0.1)) -> dict:
        out = {}
        for model in ("top", "bottom"):
            for h in heads(model, presence=False):
                if h.model == "top":
                    index = min(top_class, h.n_classes - 1)
                else:
                    index = h.index(sub) if h.key == "bottom_sub" else int(h.key == "bottom_major" and sub == "skirt")
                out[h.key] = np.eye(h.n_classes)[[index]]
        out["top_present"], out["bottom_present"] = np.array([present]), np.array([[0.9, 0.1]])
        return out

    outfits = {"skirt-outfit": probas_of(1, "skirt"), "pants-same-top": probas_of(2, "jeans"),
               "pants-other": probas_of(0, "slacks")}
    columns = recommender.garment_columns("top") + recommender.garment_columns("bottom")
    rows = []
    for image, p in outfits.items():
        vector = recommender.outfit_vector_of(p)[0]
        rows.append({"image": image, "path": str(photo.parent / f"{image}.jpg"), **dict(zip(columns, vector)),
                     **recommender.answers_frame(p).iloc[0].to_dict()})
    collection = pd.DataFrame(rows)
    X = collection[columns].to_numpy()

    class Bundle:
        meta = {"k": 1, "space": "full vector"}
        recommender = recommender.Recommender(k=1).fit(X, collection["image"].to_numpy())

    Bundle.collection = collection
    query = probas_of(2, "skirt", present=(0.1, 0.9))  # no top found; the top heads would say "pants-same-top"
    monkeypatch.setattr(recommender, "load_bundle", lambda folder: Bundle())
    monkeypatch.setattr(cli, "_photo_probas", lambda artifacts, photos, meta: (
        query, {"top": np.array([False]), "bottom": np.array([True])}))
    out = tmp_path / "answer.csv"
    assert cli.main(["--artifacts", str(tmp_path), "recommend", str(photo), "--format", "csv", "--output", str(out)]) == 0
    answer = pd.read_csv(out)
    assert answer["image"].tolist() == ["skirt-outfit"] and answer["matched_by"].tolist() == ["bottom only"]
    assert "the top model gives a top garment in the photo a probability of 0.10" in capsys.readouterr().err
    # the same photo as an outfit (a top found): the whole vector, and the other outfit wins
    monkeypatch.setattr(cli, "_photo_probas", lambda artifacts, photos, meta: (
        query, {"top": np.array([True]), "bottom": np.array([True])}))
    assert cli.main(["--artifacts", str(tmp_path), "recommend", str(photo), "--format", "csv", "--output", str(out)]) == 0
    answer = pd.read_csv(out)
    assert answer["image"].tolist() == ["pants-same-top"] and answer["matched_by"].tolist() == ["outfit"]
