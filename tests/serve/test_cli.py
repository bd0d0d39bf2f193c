"""``python -m fashionkit predict / recommend`` on a real photo, a corrupt file and a missing one."""

import os
import subprocess
import sys

from fashionkit.data.sources import PROJECT_ROOT
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
