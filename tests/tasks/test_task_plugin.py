"""The README's task-plugin example, run as written (code and suite from README.md)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

import rnnxbench
from rnnxbench.registry import TASKS

README = Path(__file__).resolve().parents[2] / "README.md"


def _block(text: str, first_line: str) -> str:
    """The fenced code block of README.md that starts with ``first_line``."""
    for block in re.findall(r"```(?:python|toml)\n(.*?)```", text, flags=re.S):
        if block.startswith(first_line):
            return block
    raise AssertionError(f"README.md has no code block starting with {first_line!r}")


@pytest.mark.slow
def test_readme_task_plugin_runs_through_the_harness(tmp_path, run_dirs):
    text = README.read_text()
    namespace: dict = {}
    exec(compile(_block(text, "# my_spike.py"), "my_spike.py", "exec"), namespace)
    task_cls = namespace["SpikeTask"]
    entry_point = '# pyproject.toml of your package\n[project.entry-points."rnnxbench.tasks"]'
    assert 'spike = "my_spike:SpikeTask"' in _block(text, entry_point)
    data = task_cls(n_samples=50).build(seed=1)
    assert data.X.shape == (50, 20, 1) and data.ground_truth.sum(axis=1).tolist() == [1] * 50
    spike = np.abs(data.X[..., 0]).argmax(axis=1)
    np.testing.assert_array_equal(data.ground_truth.argmax(axis=1), spike)
    np.testing.assert_array_equal(data.y, (data.X[np.arange(50), spike, 0] > 0).astype(int))

    suite = tmp_path / "spike.toml"
    suite.write_text(_block(text, "# spike.toml"))
    # what the entry point does on import, without installing a package
    with TASKS.override("spike", task_cls, origin="README example"):
        result = rnnxbench.run_suite(
            config=suite, profile="smoke", explainers=["sa", "nv_weights"],
            metrics=["cosine", "relevance_mass"], progress=False,
            profile_overrides={"max_images": 140, "folds": [0]}, **run_dirs)
    scores = result.scores
    ok = scores[scores["status"] == "ok"]
    assert set(ok["explainer"]) == {"sa", "nv_weights"} and ok["value"].between(0, 1).all()
    assert set(scores.loc[scores["status"] != "ok", "architecture"]) == {"gru"}  # nv_weights
