"""``python -m fashionkit predict / recommend`` on a real photo, a corrupt file and a missing one."""

import os
import subprocess
import sys

import pandas as pd
import pytest

from fashionkit import cli
from fashionkit.data import PROJECT_ROOT
from fashionkit.schema import heads


@pytest.fixture()
def photo(shared_data):
    return shared_data / "ccp" / "images" / "0005.jpg"


@pytest.fixture()
def corrupt(tmp_path):
    path = tmp_path / "holiday.jpg"
    path.write_bytes(b"\xff\xd8\xff\xe0 this is not a photo" * 4)
    return path


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


def test_predict_prints_every_head_of_both_models(smoke_chain, photo, capsys):
    assert cli.main(["--artifacts", str(smoke_chain), "predict", str(photo)]) == 0
    out = capsys.readouterr().out
    for head in heads():
        line = next(line for line in out.splitlines() if line.strip().startswith(head.en + " "))
        shares = [float(part.rsplit(" ", 1)[1].rstrip("%")) for part in line.split("  ")[-1].split(" · ")]
        assert len(shares) == head.n_classes and abs(sum(shares) - 100) < 0.5, line


def test_recommend_prints_and_saves_k_distinct_outfits_never_the_photo_itself(smoke_chain, shared_data, tmp_path,
                                                                              capsys):
    collection = pd.read_csv(smoke_chain / "07_autoencoder_recommend" / "collection.csv", dtype={"image": str})
    own = collection["path"].iloc[0]
    saved = tmp_path / "neighbours.csv"
    assert cli.main(["--artifacts", str(smoke_chain), "recommend", own, "-k", "3", "--save", str(saved)]) == 0
    out = capsys.readouterr().out
    assert "left out" in out  # the photo is one of the collection's
    table = pd.read_csv(saved, dtype={"image": str})
    assert len(table) == 3 and table["image"].is_unique
    assert collection["image"].iloc[0] not in set(table["image"])
    assert (table["distance"].diff().dropna() >= 0).all()
    assert set(table["image"]) <= set(collection["image"])


def test_module_entry_point_exits_non_zero_on_a_corrupt_file(corrupt):
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT)}
    run = subprocess.run([sys.executable, "-m", "fashionkit", "predict", str(corrupt)], capture_output=True,
                         text=True, env=env, cwd=PROJECT_ROOT, timeout=300)
    assert run.returncode == 1 and "error:" in run.stderr and str(corrupt) in run.stderr
    assert run.stdout == ""


def test_a_mixed_batch_answers_every_good_photo_and_reports_every_bad_one(smoke_chain, shared_data, tmp_path,
                                                                          corrupt, capsys):
    good = [shared_data / "ccp" / "images" / "0005.jpg", shared_data / "cad" / "images" / "000003.jpg"]
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    batch = [good[0], corrupt, tmp_path / "absent.jpg", empty, good[1]]
    assert cli.main(["--artifacts", str(smoke_chain), "predict", *map(str, batch)]) == 1
    captured = capsys.readouterr()
    answered = [line for line in captured.out.splitlines() if not line.startswith(" ")]
    assert answered == [str(p) for p in good]
    errors = [line for line in captured.err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 3 and all(str(p) in "\n".join(errors) for p in (corrupt, empty, tmp_path / "absent.jpg"))


def test_a_folder_is_read_recursively(smoke_chain, shared_data, tmp_path, capsys):
    import shutil

    nested = tmp_path / "album" / "summer"
    nested.mkdir(parents=True)
    shutil.copy(shared_data / "ccp" / "images" / "0005.jpg", nested / "a.jpg")
    shutil.copy(shared_data / "ccp" / "images" / "0006.jpg", tmp_path / "album" / "b.JPG")
    (tmp_path / "album" / "readme.txt").write_text("not a photo")
    assert cli.main(["--artifacts", str(smoke_chain), "predict", str(tmp_path / "album")]) == 0
    answered = [line for line in capsys.readouterr().out.splitlines() if not line.startswith(" ")]
    assert sorted(answered) == sorted([str(tmp_path / "album" / "b.JPG"), str(nested / "a.jpg")])
    (tmp_path / "nothing").mkdir()
    assert cli.main(["--artifacts", str(smoke_chain), "predict", str(tmp_path / "nothing")]) == 1
    assert "no photos" in capsys.readouterr().err


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_machine_readable_answers_hold_every_head(smoke_chain, shared_data, tmp_path, fmt):
    import json

    photos = [shared_data / "ccp" / "images" / "0005.jpg", shared_data / "cad" / "images" / "000003.jpg"]
    target = tmp_path / f"answers.{fmt}"
    assert cli.main(["--artifacts", str(smoke_chain), "predict", *map(str, photos), "--format", fmt,
                     "--output", str(target)]) == 0
    table = pd.read_csv(target) if fmt == "csv" else pd.DataFrame(json.loads(target.read_text()))
    assert table["path"].tolist() == [str(p) for p in photos]
    for head in heads():
        assert table[head.key].isin(head.names).all()
        probs = table[[f"{head.key}.{c}" for c in head.names]].to_numpy(float)
        assert abs(probs.sum(axis=1) - 1).max() < 1e-3
    assert {"top_box", "bottom_box", "note", "top_model_split"} <= set(table.columns)


@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_recommend_writes_machine_readable_neighbours_and_a_sheet(smoke_chain, shared_data, tmp_path, fmt):
    import json

    from PIL import Image

    photo = shared_data / "cad" / "images" / "000003.jpg"  # not in the smoke collection
    target, sheet = tmp_path / f"neighbours.{fmt}", tmp_path / "sheet.png"
    assert cli.main(["--artifacts", str(smoke_chain), "recommend", str(photo), "-k", "3", "--format", fmt,
                     "--output", str(target), "--sheet", str(sheet)]) == 0
    table = pd.read_csv(target, dtype={"image": str}) if fmt == "csv" else pd.DataFrame(json.loads(target.read_text()))
    assert table["query"].eq(str(photo)).all() and table["rank"].tolist() == [1, 2, 3]
    assert (table["distance"].diff().dropna() >= 0).all()
    for head in heads():
        assert table[head.key].isin(head.names).all()
    with Image.open(sheet) as img:
        assert img.size == (round(2.3 * 4 * 100), round(3.9 * 100))  # the query and 3 neighbours, 100 dpi


def test_predict_sheet_draws_every_photo(smoke_chain, shared_data, tmp_path, capsys):
    from PIL import Image

    photos = [shared_data / "ccp" / "images" / "0005.jpg", shared_data / "cad" / "images" / "000003.jpg"]
    sheet = tmp_path / "answers.png"
    assert cli.main(["--artifacts", str(smoke_chain), "predict", *map(str, photos), "--sheet", str(sheet)]) == 0
    with Image.open(sheet) as img:
        assert img.size == (round((1.9 * 2 + 1.0) * 100), round(2.6 * 100))  # one row of two photos
    assert "saved" in capsys.readouterr().err
