"""Atomic publishing: a results folder is replaced whole, never mixed, even on a kill."""

import json
import os
import subprocess
import sys
import textwrap

import pytest

import rnnxbench
from rnnxbench.report.publish import publishing, recover


def test_an_error_while_writing_leaves_the_old_folder_untouched(tmp_path):
    target = tmp_path / "maj"
    with publishing(target) as folder:
        (folder / "scores.csv").write_text("old")
    with pytest.raises(RuntimeError), publishing(target) as folder:
        (folder / "scores.csv").write_text("new")
        raise RuntimeError("figure crashed the writer")
    assert (target / "scores.csv").read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["maj"]  # no leftovers
    with publishing(target) as folder:
        (folder / "tests.csv").write_text("new")
    assert sorted(p.name for p in target.iterdir()) == ["tests.csv"]  # replaced whole


def test_recover_restores_a_folder_renamed_aside_and_drops_dead_runs(tmp_path):
    (tmp_path / ".maj.old-x1").mkdir()
    (tmp_path / ".maj.old-x1" / "scores.csv").write_text("previous")
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (tmp_path / f".maj.new-{dead}-abc").mkdir()
    (tmp_path / f".maj.new-{os.getpid()}-def").mkdir()  # a live writer's: kept
    recover(tmp_path / "maj")
    assert (tmp_path / "maj" / "scores.csv").read_text() == "previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f".maj.new-{os.getpid()}-def",
                                                          "maj"]


KILLED_WHILE_WRITING = """
import os, signal, sys
import rnnxbench.report.writers as writers

def killed(*args, **kwargs):  # the tables are written; the process dies before run.json
    os.kill(os.getpid(), signal.SIGKILL)

writers.write_figures = killed
import rnnxbench
rnnxbench.run_suite("digits", "smoke", explainers=["sa", "gb"], metrics=["cosine"],
                    cache_dir=sys.argv[1], results_dir=sys.argv[2], progress=False)
"""


@pytest.mark.slow
def files(folder):
    """Every file under ``folder`` (explorer pages included) and its bytes."""
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*")
            if p.is_file()}


def test_a_kill_while_writing_keeps_the_previous_results_whole(tmp_path):
    dirs = {"cache_dir": tmp_path / "cache", "results_dir": tmp_path / "results"}
    rnnxbench.run_suite("digits", "smoke", explainers=["sa"], metrics=["cosine"],
                        progress=False, **dirs)
    out = dirs["results_dir"] / "digits"
    before = files(out)
    script = tmp_path / "killed.py"
    script.write_text(textwrap.dedent(KILLED_WHILE_WRITING))
    run = subprocess.run([sys.executable, str(script), str(dirs["cache_dir"]),
                          str(dirs["results_dir"])], capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == -9, run.stderr
    assert files(out) == before  # old scores, old run.json, old pages
    leftover = list(dirs["results_dir"].glob(".digits.new-*"))
    assert len(leftover) == 1 and (leftover[0] / "scores.csv").exists()  # it had written
    assert "gb" in (leftover[0] / "scores.csv").read_text()
    result = rnnxbench.run_suite("digits", "smoke", explainers=["sa", "gb"],
                                 metrics=["cosine"], progress=False, **dirs)
    assert result.info["scores"]["from_cache"] == 8  # the killed run's scores were kept
    assert not list(dirs["results_dir"].glob(".digits.*"))  # the leftover is cleaned up
    info = json.loads((out / "run.json").read_text())
    assert "gb" in (out / "scores.csv").read_text() and info["scores"]["computed"] == 0
