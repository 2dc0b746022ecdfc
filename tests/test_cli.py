"""The command line: listing, bad input (exit 2), plugins through entry points."""

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rnnxbench.cli import main


def test_list_prints_every_kind_with_descriptions(capsys):
    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for word in ("tasks:", "architectures:", "explainers:", "metrics:", "suites:",
                 "profiles:", "shallow", "deep", "sa", "gb", "cosine", "relevance_mass",
                 "maj", "smoke", "quick", "paper"):
        assert word in out
    assert main(["list", "explainers"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert all(len(line.split(maxsplit=1)) == 2 for line in lines)  # name + description


def test_unknown_names_exit_2_with_closest_first(capsys):
    assert main(["run", "--suite", "mja"]) == 2
    err = capsys.readouterr().err
    assert "unknown suite 'mja'" in err and "closest first): maj" in err
    assert main(["run", "--suite", "digits", "--explainers", "sa,gbb"]) == 2
    assert "closest first): gb" in capsys.readouterr().err
    assert main(["run", "--suite", "digits", "--architectures", "shalow"]) == 2
    assert "closest first): shallow" in capsys.readouterr().err
    assert main(["run", "--suite", "digits", "--metrics", "cosin"]) == 2
    assert "closest first): cosine" in capsys.readouterr().err
    assert main(["run", "--suite", "digits", "--tasks", "mnist-maj"]) == 2
    assert "digits-maj" in capsys.readouterr().err
    assert main(["list", "explainer"]) == 0
    assert main(["list", "wizards"]) == 2
    assert main(["run", "--suite", "digits", "--device", "tpu"]) == 2
    assert "valid choices" in capsys.readouterr().err


PLUGIN = '''
import torch
from rnnxbench import Explainer


class GradTimesInput(Explainer):
    """Gradient x input of the explained logit."""

    def attribute(self, inputs, target):
        inputs = inputs.detach().requires_grad_(True)
        score = self.model(inputs).gather(1, target[:, None]).sum()
        (grad,) = torch.autograd.grad(score, inputs)
        return grad * inputs
'''


def _install_plugin(root: Path) -> dict[str, str]:
    """A plugin distribution on sys.path: a module plus dist-info with entry points."""
    (root / "my_gxi.py").write_text(textwrap.dedent(PLUGIN))
    info = root / "my_gxi-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: my-gxi\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(
        "[rnnxbench.explainers]\ngxi = my_gxi:GradTimesInput\n"
        "broken = my_gxi_missing:Nothing\n")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(root), env.get("PYTHONPATH", "")])
    return env


@pytest.mark.slow
def test_entry_point_plugin_is_listed_and_scored(tmp_path):
    env = _install_plugin(tmp_path)
    cli = [sys.executable, "-m", "rnnxbench.cli"]
    listed = subprocess.run(cli + ["list", "explainers"], env=env, capture_output=True,
                            text=True, timeout=120)
    assert listed.returncode == 0
    assert "gxi" in listed.stdout and "Gradient x input" in listed.stdout
    assert "broken" in listed.stdout and "my_gxi_missing" in listed.stdout
    run = subprocess.run(cli + ["run", "--suite", "digits", "--profile", "smoke",
                                "--explainers", "gxi,sa", "--architectures", "deep",
                                "--workers", "2", "--no-progress",
                                "--cache-dir", str(tmp_path / "cache"),
                                "--results-dir", str(tmp_path / "results")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "my_gxi_missing" in run.stderr  # the broken plugin is named, the rest runs
    scores = pd.read_csv(tmp_path / "results" / "digits" / "scores.csv")
    assert set(scores["explainer"]) == {"gxi", "sa"}
    assert (scores["status"] == "ok").all()


@pytest.mark.slow
def test_failed_rows_give_nonzero_exit_after_writing(tmp_path):
    env = _install_plugin(tmp_path)
    (tmp_path / "my_gxi.py").write_text(textwrap.dedent(PLUGIN).replace(
        "return grad * inputs", "raise RuntimeError('plugin bug')"))
    run = subprocess.run([sys.executable, "-m", "rnnxbench.cli", "run", "--suite", "digits",
                          "--profile", "smoke", "--explainers", "gxi,sa", "--architectures",
                          "shallow", "--no-progress", "--cache-dir", str(tmp_path / "c"),
                          "--results-dir", str(tmp_path / "r")],
                         env=env, capture_output=True, text=True, timeout=600)
    assert run.returncode == 1
    assert "plugin bug" in run.stderr
    scores = pd.read_csv(tmp_path / "r" / "digits" / "scores.csv")
    assert set(scores.loc[scores.explainer == "gxi", "status"]) == {"failed"}
    assert set(scores.loc[scores.explainer == "sa", "status"]) == {"ok"}
    assert (tmp_path / "r" / "digits" / "leaderboard.csv").exists()


def test_list_architectures_for_a_task_with_sizes(capsys):
    assert main(["list", "architectures", "--task", "maj"]) == 0
    out = capsys.readouterr().out
    assert "T=12, step (1, 28, 7)" in out
    assert "184,330" in out and "153,578" in out  # the thesis' Shallow and Deep
    assert main(["list", "architectures", "--task", "digits-maj"]) == 0
    assert "step (1, 8, 2)" in capsys.readouterr().out
    assert main(["list", "architectures", "--task", "mja"]) == 2
    assert "closest first): maj" in capsys.readouterr().err


def test_bad_baseline_or_alpha_exit_2_with_the_architectures(capsys):
    assert main(["run", "--suite", "digits", "--baseline", "shalow"]) == 2
    err = capsys.readouterr().err
    assert "unknown baseline architecture 'shalow'" in err
    assert "closest first): shallow, deep" in err
    # the baseline must be one of the architectures run, not merely a registered one
    assert main(["run", "--suite", "digits", "--architectures", "deep,lstm",
                 "--baseline", "shallow"]) == 2
    err = capsys.readouterr().err
    assert "baseline architecture 'shallow'" in err and "deep" in err and "lstm" in err
    assert main(["run", "--suite", "digits", "--alpha", "1.5"]) == 2
    assert "alpha" in capsys.readouterr().err


@pytest.mark.slow
def test_run_writes_paired_tests_ranks_and_fold_figures(run_dirs, capsys):
    import json

    from rnnxbench.report.statistics import RANK_COLUMNS, TEST_COLUMNS, paired_tests

    tiny = run_dirs["cache_dir"].parent / "tiny.toml"  # the smoke profile, smaller still
    tiny.write_text("epochs = 1\nn_folds = 7\nfolds = [0, 1]\nmax_images = 210\n"
                    "explain_samples = 16\n")
    code = main(["run", "--suite", "digits", "--profile", str(tiny), "--explainers", "sa,lrp",
                 "--baseline", "deep", "--workers", "1", "--no-progress",
                 "--cache-dir", str(run_dirs["cache_dir"]),
                 "--results-dir", str(run_dirs["results_dir"])])
    assert code == 0
    assert "paired t-tests against 'deep'" in capsys.readouterr().out
    out = run_dirs["results_dir"] / "digits"
    tests = pd.read_csv(out / "tests.csv")
    assert list(tests.columns) == TEST_COLUMNS and len(tests) == 2 * 2  # explainers x metrics
    assert set(tests["architecture"]) == {"shallow"} and set(tests["baseline"]) == {"deep"}
    assert set(tests["alternative"]) == {"greater"} and (tests["n_pairs"] == 2).all()
    again = paired_tests(pd.read_csv(out / "scores.csv"), "deep")  # from the CSV, by hand
    np.testing.assert_allclose(tests["p"], again["p"], rtol=1e-4)  # CSV keeps 10 digits
    ranks = pd.read_csv(out / "explainer_ranks.csv")
    assert list(ranks.columns) == RANK_COLUMNS and len(ranks) == 2 * 2
    assert (ranks["n_architectures"] == 2).all() and ranks["mean_rank"].between(1, 2).all()
    board = pd.read_csv(out / "leaderboard.csv")
    assert set(board["rank"]) <= {1.0, 1.5, 2.0}
    info = json.loads((out / "run.json").read_text())
    assert info["baseline"] == info["config"]["baseline"] == "deep"
    assert info["statistics"]["correction"] == "holm"
    assert info["fold_figures"] == ["cosine_folds.png", "relevance_mass_folds.png"]
    assert (out / "cosine_folds.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.slow
def test_explore_writes_pages_from_cached_models_only(run_dirs, capsys):
    import json

    tiny = run_dirs["cache_dir"].parent / "tiny.toml"
    tiny.write_text("epochs = 1\nn_folds = 7\nfolds = [0, 1]\nmax_images = 210\n"
                    "explain_samples = 16\n")
    where = ["--cache-dir", str(run_dirs["cache_dir"]), "--results-dir",
             str(run_dirs["results_dir"]), "--no-progress", "--workers", "1"]
    common = ["--suite", "digits", "--profile", str(tiny), "--explainers", "sa,lrp", *where]
    out = run_dirs["results_dir"] / "digits"
    # nothing cached yet: explore refuses to train, naming the models
    assert main(["explore", *common]) == 2
    err = capsys.readouterr().err
    assert "2 models of fold 0 are not in the cache" in err and "digits-maj/shallow" in err
    assert not out.exists()
    assert main(["run", *common, "--no-explore"]) == 0
    assert (out / "heatmaps_digits-maj.png").exists() and not (out / "explore").exists()
    capsys.readouterr()
    # bad fold / projection: exit 2 with the choices, before any compute
    assert main(["explore", *common, "--fold", "3"]) == 2
    assert "valid choices: 0, 1" in capsys.readouterr().err
    assert main(["explore", *common, "--projection", "umap"]) == 2
    assert "'pca', 'tsne'" in capsys.readouterr().err
    assert main(["explore", *common, "--fold", "1", "--projection", "tsne"]) == 0
    assert "2 explorer pages written" in capsys.readouterr().out
    pages = sorted(p.name for p in (out / "explore").iterdir())
    assert pages == ["digits-maj__deep__fold1.html", "digits-maj__shallow__fold1.html"]
    info = json.loads((out / "run.json").read_text())
    assert sorted(info["explorer_pages"]) == [f"explore/{p}" for p in pages]
    assert "heatmaps_digits-maj_fold1.png" in info["heatmap_figures"]
    index = (out / "index.html").read_text()
    assert all(f"href='explore/{p}'" in index for p in pages)
    assert "TSNE" in (out / "explore" / pages[0]).read_text()


def test_default_baseline_is_the_suites_else_the_first_architecture(capsys):
    from rnnxbench.config import load_config
    from rnnxbench.harness.run import resolve_baseline

    assert resolve_baseline(load_config("digits", "smoke"), None) == "shallow"
    assert resolve_baseline(load_config("digits", "smoke"), "deep") == "deep"
    other = load_config("digits", "smoke", architectures=["deep", "lstm"])
    assert resolve_baseline(other, None) == "deep"
    assert "baseline 'shallow' of suite 'digits' is not run" in capsys.readouterr().err


def test_failure_lines_list_failures_and_group_the_rest():
    import pandas as pd

    from rnnxbench.cli import failure_lines

    rows = [("failed", "t", "deep", "lrp", "cosine", "ValueError: NaN")]
    rows += [("unsupported", "t", a, "deeplift", m, f"no rule for {a}")
             for a in ("shallow", "deep", "rlstm", "gru") for m in ("cosine", "auprc")]
    rows += [("degenerate", "t", "shallow", "uniform", "randomization", "constant map")]
    failed = pd.DataFrame(rows, columns=["status", "task", "architecture", "explainer",
                                         "metric", "error"])
    lines = failure_lines(failed)
    assert lines[0] == "  failed      t deep lrp cosine: ValueError: NaN"
    assert lines[1] == ("  unsupported t deeplift on 4 architectures (cosine, auprc): "
                        "no rule for shallow")
    assert lines[2] == "  degenerate  t uniform on shallow (randomization): constant map"
    assert len(lines) == 3
    assert all(len(line) <= 60 for line in failure_lines(failed, width=60))
