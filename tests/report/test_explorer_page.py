"""The hidden-state explorer pages: written by every run, self-contained, and in a real
browser free of errors and requests, with every view following the selected sequence."""

import re

import numpy as np
import pytest

from rnnxbench.report.exploration import Exploration
from rnnxbench.report.explorer_page import write_explorer

DOC = "Bokeh.documents[0]"


def model(name: str) -> str:
    return f"{DOC}.get_model_by_name('{name}')"


def vector_exploration(n: int = 6, t: int = 8, d: int = 2) -> Exploration:
    """A time-series task's exploration built by hand (no ground truth for one sequence)."""
    rng = np.random.default_rng(0)
    label = np.arange(n) % 2
    expected = rng.dirichlet(np.ones(2), size=(n, t)).astype(np.float32)
    truth = np.zeros((n, 2), dtype=bool)
    truth[1:, 1] = True
    return Exploration(
        "series", "gru", 0, 0, "abc", (d,), (-1.0, 1.0), sample=np.arange(n) * 3,
        label=label, predicted=label, proba=expected[:, -1], x=rng.normal(
            size=(n, t, d)).astype(np.float32), states=rng.normal(size=(n, t, 4)),
        expected=expected, confusion=np.array([[5, 1], [2, 4]]),
        step_block=np.repeat([0, 1], t // 2), ground_truth=truth,
        relevance={"sa": rng.normal(size=(n, t, d)).astype(np.float32)},
        missing={"lrp": "failed: ValueError: x"}, explainers=["sa", "lrp"])


@pytest.fixture(scope="module")
def pages(digits_results):
    folder, result = digits_results
    return folder, result, {e.architecture: folder / "explore" /
                            f"digits-maj__{e.architecture}__fold0.html"
                            for e in result.explorations}


@pytest.mark.slow
def test_every_run_writes_self_contained_explorer_pages(pages):
    folder, result, paths = pages
    assert sorted(paths) == ["deep", "shallow"]
    for arch, path in paths.items():
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script[^>]+src=", text)
        assert not re.search(r"<link[^>]+href=['\"]https?:", text)
        assert not re.search(r"<img[^>]+src=['\"]https?:", text)
        assert len(text) < 5_000_000
        assert f"Explorer: {arch} on digits-maj" in text and "../index.html" in text
        for name in ("sequences", "points", "trajectory", "input", "relevance:sa",
                     "relevance:lrp", "expected", "distances", "threshold", "colour"):
            assert f'"name":"{name}"' in text.replace(" ", "")
        assert "AttentionGRU" not in text and "attention needs" in text  # why no map


def selected_views(check) -> dict:
    return check.evaluate(f"""() => {{
        const img = (n) => Array.from({model('"+n+"')}.data.image[0]);
        return {{traj: Array.from({model('trajectory')}.data.x),
                 input: Array.from({model('input')}.data.image[0]),
                 sa: Array.from({model('relevance:sa')}.data.image[0]),
                 expected: Array.from({model('expected')}.data.image[0]),
                 dist: Array.from({model('distances')}.data.dist),
                 text: {model('selected')}.text}}; }}""")


@pytest.mark.slow
def test_selecting_a_sequence_updates_every_view(pages, browser, tmp_path):
    folder, result, paths = pages
    exp = next(e for e in result.explorations if e.architecture == "deep")
    with browser.open(paths["deep"]) as check:
        assert check.console_errors == [] and check.page_errors == []
        assert check.outside == []
        assert check.not_blank(check.screenshot(tmp_path / "explorer.png"))
        before = selected_views(check)
        store = check.evaluate(f"""() => {{ const d = {model('store')}.data;
            return {{traj: Array.from(d.traj_x[3]), input: Array.from(d.input[3]),
                     sa: Array.from(d['rel:sa'][3])}}; }}""")
        # a table row
        check.evaluate(f"() => {{ {model('sequences')}.selected.indices = [3]; }}")
        check.page.wait_for_timeout(400)
        after = selected_views(check)
        assert after["traj"] != before["traj"] and after["input"] != before["input"]
        assert np.allclose(after["traj"], store["traj"]) and after["input"] == store["input"]
        assert after["sa"] == store["sa"] and after["expected"] != before["expected"]
        assert f"sequence {int(exp.sample[3])} " in after["text"]
        np.testing.assert_allclose(after["dist"], np.linalg.norm(
            exp.states[3] - np.vstack([np.zeros_like(exp.states[3][:1]), exp.states[3][:-1]]),
            axis=1), rtol=1e-5)
        # a point of the projection selects its sequence
        check.evaluate(f"""() => {{ const p = {model('points')};
            const i = Array.from(p.data.seq).indexOf(5); p.selected.indices = [i]; }}""")
        check.page.wait_for_timeout(400)
        assert check.evaluate(f"() => {model('sequences')}.selected.indices") == [5]
        assert selected_views(check)["traj"] != after["traj"]
        # the threshold labels the steps above it on the projection
        check.evaluate(f"() => {{ {model('threshold')}.value = 0; }}")
        check.page.wait_for_timeout(300)
        labels = check.evaluate(f"() => Array.from({model('jumps')}.data.text)")
        assert labels == [f"t={s}" for s in range(1, exp.x.shape[1] + 1)]
        # colour by true class
        check.evaluate(f"() => {{ {model('colour')}.value = 'true class'; }}")
        check.page.wait_for_timeout(300)
        colours = check.evaluate(f"""() => {{ const p = {model('points')}.data;
            return [Array.from(p.color), Array.from(p.color_label)]; }}""")
        assert colours[0] == colours[1]
        assert check.console_errors == [] and check.page_errors == []


@pytest.mark.slow
def test_a_time_series_page_draws_the_series(browser, tmp_path):
    exp = vector_exploration()
    path = write_explorer(exp, tmp_path)
    text = path.read_text(encoding="utf-8")
    assert "failed: ValueError: x" in text  # the explainer without a map says why
    with browser.open(path) as check:
        assert check.console_errors == [] and check.page_errors == [] and check.outside == []
        lines = check.evaluate(f"() => {model('series')}.data.ys.length")
        assert lines == exp.x.shape[2]
        boxes = check.evaluate(f"() => Array.from({model('gt_boxes')}.data.left)")
        assert boxes == []  # sequence 0 has no evidence blocks
        check.evaluate(f"() => {{ {model('sequences')}.selected.indices = [2]; }}")
        check.page.wait_for_timeout(400)
        assert check.evaluate(f"() => Array.from({model('gt_boxes')}.data.left)") == [4]
        assert check.not_blank(check.screenshot(tmp_path / "series.png"))
