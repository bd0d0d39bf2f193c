"""Everything that reads the notebook chain run on the smoke profile (``conftest.smoke_chain``):
the chain itself, the views each model trained on, and the command line on the chain's models.

They share one file because ``make test`` spreads the test files over two processes
(``pytest -n 2 --dist loadfile``): in one file they run in one process, so the chain (about
two minutes) runs once while the other process takes the rest of the suite."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from fashionkit.data.schema import heads
from fashionkit.data.sources import PROJECT_ROOT
from fashionkit.serve import cli

NOTEBOOKS = sorted((PROJECT_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_the_notebook_chain_runs_on_the_smoke_profile(smoke_chain):
    """01 -> 02 -> ... -> 07 (the ``smoke_chain`` fixture): each writes its artifacts."""
    for nb in NOTEBOOKS:
        assert (smoke_chain / nb.name).is_file(), f"{nb.stem} was not executed"
        assert any((smoke_chain / nb.stem).iterdir()), f"{nb.stem} wrote no artifacts"


@pytest.mark.parametrize("stem,model", [("03_train_top", "top"), ("04_train_bottom", "bottom")])
def test_each_trained_model_saw_exactly_its_params_views(smoke_chain, stem, model):
    """The kept model trains on ``views``, the reference on ``reference_views``; the levers' extra
    views are cached beside them but must not leak into either."""
    from fashionkit.training.classifier import load_checkpoint

    params = yaml.safe_load((PROJECT_ROOT / "params" / f"{stem}.yaml").read_text())
    kept = load_checkpoint(smoke_chain / stem / f"{model}_model.pt")
    reference = load_checkpoint(smoke_chain / stem / f"{model}_model_fixed.pt")
    assert kept.extra_["trained_views"] == params["views"]
    assert reference.extra_["trained_views"] == params["reference_views"]
    lever_views = {v for change in params["levers"].values() for v in change.get("views", [])}
    assert lever_views - set(params["views"]), "the lever adds a view; otherwise this test proves nothing"



def test_predict_prints_every_head_of_both_models(smoke_chain, photo, capsys):
    assert cli.main(["--artifacts", str(smoke_chain), "predict", str(photo)]) == 0
    out = capsys.readouterr().out
    for head in heads():
        line = next(line for line in out.splitlines() if line.strip().startswith(head.en + " "))
        if line.split()[-1] == "-":  # a garment not found: said in a note, its heads left empty
            assert f"note: no {head.model} garment found" in out or "note: no garment found" in out
            continue
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
        found = (table[f"{head.model}_present"] == "yes") | head.presence  # else: empty answer and probabilities
        assert table.loc[found, head.key].isin(head.names).all()
        assert table.loc[~found, head.key].map(lambda v: pd.isna(v) or v == "").all()  # empty, in CSV or JSON
        probs = table[[f"{head.key}.{c}" for c in head.names]].to_numpy(float)
        assert abs(probs[found.to_numpy()].sum(axis=1) - 1).max(initial=0) < 1e-3
        assert np.isnan(probs[~found.to_numpy()]).all()
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


def test_the_deployed_graphs_answer_as_the_pytorch_models_do(smoke_chain, shared_data):
    """The command line's path (fashionkit.serve.deploy: whole models and the segmenter as ONNX
    graphs) against the PyTorch path (inference.read_outfits) on real photos: the same boxes,
    probabilities within 1e-4, and the same answers for a bad file in the batch."""
    import numpy as np

    from fashionkit.serve.deploy import deployment_for
    from fashionkit.serve.graphs import CHECKPOINTS
    from fashionkit.studies.inference import read_outfits
    from fashionkit.training.classifier import load_checkpoint

    checkpoints = {m: smoke_chain / p for m, p in CHECKPOINTS.items()}
    photos = [shared_data / "ccp" / "images" / f"{i:04d}.jpg" for i in (5, 6, 7)] + [
        shared_data / "cad" / "images" / "000003.jpg", shared_data / "ccp" / "images" / "absent.jpg"]
    fast_problems, slow_problems = [], []
    deployed = deployment_for(smoke_chain, checkpoints)
    fast_paths, fast = deployed.read(photos, batch_size=2, on_problem=fast_problems.append)
    slow_paths, slow = read_outfits({m: load_checkpoint(p) for m, p in checkpoints.items()}, photos,
                                    on_problem=slow_problems.append)
    assert fast_paths == slow_paths and len(fast_paths) == 4 and fast_problems == slow_problems
    for model in ("top", "bottom"):
        for head in heads(model):
            assert np.abs(fast[model][0][head.key] - slow[model][0][head.key]).max() < 1e-4, head.key
        pd.testing.assert_frame_equal(fast[model][1], slow[model][1])
    assert deployed.models["top"].split_hash_ == load_checkpoint(checkpoints["top"]).split_hash_


def test_predict_reads_photos_without_importing_torch(smoke_chain, photo):
    """A new process answering a photo (the graphs already exported) never imports torch,
    timm or scikit-learn: that is what keeps the command line's startup short."""
    import subprocess
    import sys

    from fashionkit.serve.deploy import deployment_for
    from fashionkit.serve.graphs import CHECKPOINTS

    deployment_for(smoke_chain, {m: smoke_chain / p for m, p in CHECKPOINTS.items()})  # exported once
    code = ("import sys; from fashionkit.serve import cli\n"
            f"rc = cli.main(['--artifacts', {str(smoke_chain)!r}, 'predict', {str(photo)!r}, '--format', 'csv'])\n"
            "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'timm', 'torchvision', 'sklearn'))\n"
            "print('heavy:', heavy, file=sys.stderr); sys.exit(rc)")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "heavy: []" in run.stderr, run.stderr
    assert "exporting" not in run.stderr and run.stdout.startswith("path,")


def test_startup_is_timed_from_a_relative_artifacts_folder(smoke_chain, photo, monkeypatch):
    """Chapter 5 names the artifacts folder relative to notebooks/; the timed command line runs
    from the project root, so the paths it is given must not depend on the caller's folder."""
    import os

    from fashionkit.serve.deploy import deployment_for, startup_seconds
    from fashionkit.serve.graphs import CHECKPOINTS

    deployment_for(smoke_chain, {m: smoke_chain / p for m, p in CHECKPOINTS.items()})  # exported once
    monkeypatch.chdir(smoke_chain / "05_tta_eval")
    seconds = startup_seconds(Path(os.path.relpath(photo)), Path(".."), repeats=1)
    assert 0 < seconds < 60


@pytest.mark.parametrize("model", ["top", "bottom"])
def test_each_lever_is_compared_with_the_kept_model_cut_out_and_as_taken(smoke_chain, model):
    folder = smoke_chain / ("03_train_top" if model == "top" else "04_train_bottom")
    gains = pd.read_csv(folder / "framing_levers.csv")
    levers = yaml.safe_load((PROJECT_ROOT / "params" / f"{folder.name}.yaml").read_text())["levers"]
    assert set(gains["lever"]) == set(levers)
    for _, rows in gains.groupby("lever"):
        assert set(rows["framing"]) == {"background removed", "as taken"}
        assert sorted(rows["head"].unique()) == sorted(h.key for h in heads(model))
        assert (rows["gain_lo"] <= rows["gain_points"] + 1e-9).all() and (rows["gain_points"] <= rows["gain_hi"] + 1e-9).all()


def _smoke_params(smoke_chain, stem, tmp_path) -> Path:
    """The chapter's params file with the smoke profile's overrides, as the chain ran it."""
    params = yaml.safe_load((PROJECT_ROOT / "params" / f"{stem}.yaml").read_text())
    for key, value in yaml.safe_load((PROJECT_ROOT / "tests" / "smoke_params.yaml").read_text())[stem].items():
        params[key] = value.format(tmp=smoke_chain) if isinstance(value, str) else value
    path = tmp_path / f"{stem}.yaml"
    path.write_text(yaml.safe_dump(params))
    return path


def test_a_lever_study_reproduces_the_chapter_and_keeps_its_maps_apart(smoke_chain, tmp_path):
    from fashionkit.studies import lever_study

    params = _smoke_params(smoke_chain, "03_train_top", tmp_path)
    cache = smoke_chain / "features" / "tf_efficientnet_lite2_cut1_cad+ccp+clothing"
    before = {f.name: f.stat().st_mtime_ns for f in cache.iterdir()}
    table = lever_study.study("top", {"view_size": [48, 32], "trainable_blocks": 2}, params_file=params, n_boot=50,
                              progress=False, clean_labels=smoke_chain / "06_error_gallery" / "label_issues.csv")
    kept = table[table["variant"] == lever_study.KEPT].set_index("head")
    chapter = pd.read_csv(smoke_chain / "03_train_top" / "validation.csv", index_col=0)  # the kept model
    pd.testing.assert_series_equal(kept["accuracy_%"], 100 * chapter["accuracy"], check_names=False,
                                   check_index_type=False)  # the same training, retraced
    changed = table[table["variant"] == "view_size=[48, 32], trainable_blocks=2, flagged labels left out"]
    assert sorted(changed["head"]) == sorted(h.key for h in heads("top"))
    assert {f.name: f.stat().st_mtime_ns for f in cache.iterdir()} == before  # the book's maps untouched
    assert (smoke_chain / "features" / "lever_study" / "tf_efficientnet_lite2_cut2_cad+ccp+clothing").is_dir()


def test_a_lever_study_refuses_an_unknown_setting():
    from fashionkit.studies import lever_study

    with pytest.raises(ValueError, match="trainable_blocks"):
        lever_study.parse_changes(["trainable_block=3"])
    assert lever_study.parse_changes(["view_size=[192,160]", "epochs=15"]) == {"view_size": [192, 160], "epochs": 15}
    assert lever_study.parse_changes(["canvas=[192,128]"], "segmenter") == {"canvas": [192, 128]}
    with pytest.raises(ValueError, match="canvas"):
        lever_study.parse_changes(["view_size=[1,1]"], "segmenter")


def test_a_segmenter_study_reproduces_chapter_2_and_pairs_every_photo(smoke_chain, tmp_path):
    from fashionkit.studies import lever_study

    params = _smoke_params(smoke_chain, "02_oversampling", tmp_path)
    table = lever_study.segmenter_study({"canvas": [48, 32]}, params_file=params, n_boot=50, progress=False)
    chapter = pd.read_csv(smoke_chain / "02_oversampling" / "box_iou.csv").set_index(["photos_as", "garment"])
    mine = table.set_index(["photos_as", "garment"])
    assert set(mine.index) == set(chapter.index)
    pd.testing.assert_series_equal(mine["kept box IoU %"], chapter.loc[mine.index, "box IoU, localised %"],
                                   check_names=False)  # chapter 2's segmenter, retrained the same way
    assert (mine["photos"] == chapter.loc[mine.index, "photos"]).all()
    assert ((mine["diff_lo"] <= mine["diff_points"] + 1e-9) & (mine["diff_points"] <= mine["diff_hi"] + 1e-9)).all()


def test_clean_labels_leaves_out_only_the_flagged_labels(smoke_chain):
    from fashionkit.studies import lever_study

    issues = pd.read_csv(smoke_chain / "06_error_gallery" / "label_issues.csv")
    manifest = pd.read_csv(smoke_chain / "01_data_audit" / "manifest.csv")
    flagged = issues.iloc[0]
    cleaned = lever_study.without_flagged(manifest, issues.iloc[:1], heads("top") + heads("bottom"))
    row = manifest["path"] == flagged["path"]
    assert cleaned.loc[row, flagged["head"]].isna().all() and manifest.loc[row, flagged["head"]].notna().all()
    others = [c for c in manifest.columns if c != flagged["head"]]
    pd.testing.assert_frame_equal(cleaned[others], manifest[others])  # nothing else moved
    pd.testing.assert_series_equal(cleaned.loc[~row, flagged["head"]], manifest.loc[~row, flagged["head"]])


def test_a_retrained_checkpoint_is_exported_again_and_answers_as_the_new_weights_do(smoke_chain, tmp_path, photo):
    """A checkpoint really changed after the export (the bottom model's class head shifted towards
    "skirt", saved over the old file): the deployed folder is stale, ``deployment_for`` exports it
    again, and the new graphs answer as the changed PyTorch model does."""
    import shutil

    import numpy as np
    import torch

    from fashionkit.serve.deploy import deployment_for, load_deployment
    from fashionkit.serve.graphs import CHECKPOINTS, DEPLOY_DIR, StaleDeployment
    from fashionkit.studies.inference import read_outfits
    from fashionkit.training.classifier import load_checkpoint, save_checkpoint
    from fashionkit.vision.localise import segmenter_state

    artifacts = tmp_path / "artifacts"
    for path in CHECKPOINTS.values():
        (artifacts / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(smoke_chain / path, artifacts / path)
    checkpoints = {m: artifacts / p for m, p in CHECKPOINTS.items()}
    before = deployment_for(artifacts, checkpoints, say=lambda line: None).read([photo])[1]
    clf = load_checkpoint(checkpoints["bottom"])
    with torch.no_grad():
        head = clf.net_.heads["bottom_major"]
        last = [m for m in head.modules() if isinstance(m, torch.nn.Linear)][-1]
        last.bias[1] += 50.0  # "skirt", whatever the photo
    save_checkpoint(clf, checkpoints["bottom"], clf.split_hash_,
                    extra={**clf.extra_, "segmenter": segmenter_state(clf.segmenter_)})  # as chapter 4 saves it
    with pytest.raises(StaleDeployment, match="changed since the export"):
        load_deployment(artifacts / DEPLOY_DIR, checkpoints)
    said = []
    after = deployment_for(artifacts, checkpoints, say=said.append).read([photo])[1]
    assert said and "exporting" in said[0]
    assert after["bottom"][0]["bottom_major"][0].argmax() == 1 and after["bottom"][0]["bottom_major"][0, 1] > 0.99
    slow = read_outfits({m: load_checkpoint(p) for m, p in checkpoints.items()}, [photo])[1]
    assert np.abs(after["bottom"][0]["bottom_major"] - slow["bottom"][0]["bottom_major"]).max() < 1e-4
    assert np.abs(after["top"][0]["top_type"] - before["top"][0]["top_type"]).max() < 1e-6  # the top model is unchanged
