"""Output and input folders are checked before any compute (exit 2 from the CLI)."""

from pathlib import Path

import pytest

import rnnxbench
from rnnxbench.cli import main
from rnnxbench.harness.locations import LocationError, check_locations


def _cli(tmp_path: Path, *extra: str) -> list[str]:
    return ["run", "--suite", "digits", "--profile", "smoke", "--explainers", "sa",
            "--no-progress", "--cache-dir", str(tmp_path / "cache"), *extra]


def test_results_dir_that_is_a_file_fails_before_training(tmp_path, capsys):
    (tmp_path / "results").write_text("not a folder")
    assert main(_cli(tmp_path, "--results-dir", str(tmp_path / "results"))) == 2
    err = capsys.readouterr().err
    assert "results folder" in err and "is a file, not a folder" in err
    assert not (tmp_path / "cache" / "models").exists()  # nothing was trained
    (tmp_path / "r").mkdir()
    (tmp_path / "r" / "digits").write_text("")  # results/<suite> itself is a file
    assert main(_cli(tmp_path, "--results-dir", str(tmp_path / "r"))) == 2
    assert "digits is a file" in capsys.readouterr().err


def test_results_dir_that_cannot_be_written_fails_before_training(tmp_path, capsys):
    # /proc refuses new files even to root (permission bits would not stop root)
    assert main(_cli(tmp_path, "--results-dir", "/proc/rnnxbench-results")) == 2
    err = capsys.readouterr().err
    assert "is not writable" in err and "/proc" in err
    assert not (tmp_path / "cache" / "models").exists()


def test_missing_data_dir_fails_instead_of_falling_back(tmp_path, capsys):
    code = main(["run", "--suite", "maj", "--profile", "smoke", "--architectures", "shallow",
                 "--explainers", "sa", "--no-progress", "--cache-dir", str(tmp_path / "c"),
                 "--results-dir", str(tmp_path / "r"), "--data-dir", str(tmp_path / "nope")])
    assert code == 2
    err = capsys.readouterr().err
    assert "data folder (--data-dir)" in err and "does not exist" in err
    assert not (tmp_path / "c" / "models").exists()


def test_check_locations_accepts_folders_still_to_be_made(tmp_path):
    check_locations(tmp_path / "a" / "b", tmp_path / "cache", None, "maj")
    with pytest.raises(LocationError, match="cache folder"):
        (tmp_path / "cachefile").write_text("")
        check_locations(None, tmp_path / "cachefile", None, "maj")
    with pytest.raises(LocationError, match="is a file"):
        rnnxbench.run_suite("digits", "smoke", cache_dir=tmp_path / "c",
                            results_dir=tmp_path / "cachefile", progress=False)
