"""Ctrl-C ends a run with one line and exit 130, keeping what is cached; a broken plugin is
warned about once per run; more workers than cores is warned about."""

import os
import signal
import subprocess
import sys
import time

import pytest

from rnnxbench.cli import main

pytestmark = pytest.mark.slow


def test_ctrl_c_stops_with_one_line_and_the_rerun_resumes(tmp_path):
    profile = tmp_path / "long.toml"  # long enough to be interrupted while training
    profile.write_text("epochs = 30\nn_folds = 7\nfolds = [0, 1]\nmax_images = 500\n"
                       "explain_samples = 16\n")
    cache = tmp_path / "cache"
    cli = [sys.executable, "-m", "rnnxbench.cli", "run", "--suite", "digits", "--profile",
           str(profile), "--explainers", "sa", "--metrics", "cosine", "--workers", "1",
           "--no-progress", "--cache-dir", str(cache), "--results-dir", str(tmp_path / "r")]
    proc = subprocess.Popen(cli, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while not list((cache / "models").glob("*.pt")) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert proc.poll() is None, proc.communicate()
    os.kill(proc.pid, signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[-1].startswith("interrupted: ") and lines[-1].endswith(
        "scores are cached; rerun to resume")
    n_models = int(lines[-1].split()[1])
    assert 1 <= n_models < 4 and n_models == len(list((cache / "models").glob("*.pt")))
    assert not (tmp_path / "r" / "digits").exists()  # nothing half-written
    rerun = subprocess.run(cli, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    assert f"models trained: {4 - n_models}, from cache: {n_models}" in rerun.stdout


PLUGIN = '''
from rnnxbench import Explainer


class Copy(Explainer):
    """The input itself."""

    def attribute(self, inputs, target):
        return inputs.abs()
'''


def test_a_broken_plugin_is_warned_about_once_per_run(tmp_path):
    (tmp_path / "my_copy.py").write_text(PLUGIN)
    info = tmp_path / "my_copy-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-copy\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[rnnxbench.explainers]\ncopy = my_copy:Copy\n"
                                           "broken = my_missing_module:Nothing\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path),
                                                        os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run([sys.executable, "-m", "rnnxbench.cli", "run", "--suite", "digits",
                          "--profile", "smoke", "--explainers", "copy,sa", "--metrics",
                          "cosine", "--workers", "2", "--no-progress",
                          "--cache-dir", str(tmp_path / "c"), "--results-dir",
                          str(tmp_path / "r")], env=env, capture_output=True, text=True,
                         timeout=600)
    assert run.returncode == 0, run.stderr
    assert run.stderr.count("plugin 'broken'") == 1, run.stderr


def test_more_workers_than_cores_is_warned_about(tmp_path, capsys):
    too_many = str((os.cpu_count() or 1) + 3)
    assert main(["run", "--suite", "digits", "--profile", "smoke", "--explainers", "sa",
                 "--metrics", "cosine", "--architectures", "shallow", "--workers", too_many,
                 "--no-progress", "--cache-dir", str(tmp_path / "c"),
                 "--results-dir", str(tmp_path / "r")]) == 0
    err = capsys.readouterr().err
    assert f"rnnxbench: warning: --workers {too_many} is more than the" in err
