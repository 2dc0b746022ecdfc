"""results/<suite>/index.html: written by every run, self-contained (Bokeh's JavaScript
inlined, nothing fetched), with the leaderboard's rows, the environment and the files; and,
where Chromium is installed, rendered in a headless browser into a non-blank screenshot."""

import json
import re

import numpy as np
import pytest


@pytest.fixture(scope="module")
def page(digits_results):
    folder, result = digits_results
    return folder, (folder / "index.html").read_text(encoding="utf-8"), result


@pytest.mark.slow
def test_every_run_writes_a_self_contained_index(page):
    folder, text, result = page
    assert "figure_errors" not in json.loads((folder / "run.json").read_text())
    # nothing is loaded from outside the page: no external scripts, styles or images
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=['\"]https?:", text)
    assert not re.search(r"<img[^>]+src=['\"]https?:", text)
    assert "Bokeh" in text and len(text) < 4_000_000
    # the environment header and the data the tables show
    assert result.info["config_hash"] in text and "torch " in text and "config hash" in text
    board = result.leaderboard
    for arch in board["architecture"].unique():
        assert f'"{arch}"' in text
    mean = float(board["mean"].dropna().iloc[0])
    assert np.isclose(mean, [float(m) for m in re.findall(r"-?\d+\.\d{6,}", text)]).any()
    for name in ("scores.csv", "leaderboard.csv", "cosine.png"):
        assert f"'{name}'" in text and (folder / name).exists()


@pytest.mark.slow
def test_the_index_links_the_explorer_pages_and_shows_the_heatmaps(page):
    folder, text, result = page
    info = json.loads((folder / "run.json").read_text())
    pages = info["explorer_pages"]
    assert sorted(pages) == sorted(f"explore/digits-maj__{a}__fold0.html"
                                   for a in ("shallow", "deep"))
    for name in pages:
        assert f"href='{name}'" in text and (folder / name).exists()
    assert info["heatmap_figures"] == ["heatmaps_digits-maj.png"]
    assert "img src='heatmaps_digits-maj.png'" in text
    assert text.count("heatmaps_digits-maj.png") == 2  # shown once (image + caption)


@pytest.mark.slow
def test_the_index_renders_in_headless_chromium(page, browser, tmp_path):
    folder, _, result = page
    with browser.open(folder / "index.html") as check:
        assert check.console_errors == [] and check.page_errors == []
        assert check.outside == []  # nothing fetched from outside the page
        assert (folder / "index.html").as_uri() in check.requests
        assert check.not_blank(check.screenshot(tmp_path / "index.png"))
        # Bokeh built the document: the leaderboard's tabs, one per task x metric, each with
        # its table of rows, and the accuracy table
        assert check.evaluate("Bokeh.documents[0].get_model_by_name('leaderboard') !== null")
        titles = check.evaluate(
            "Bokeh.documents[0].get_model_by_name('leaderboard').tabs.map(t => t.title)")
        groups = result.leaderboard.groupby(["task", "metric"], sort=False).size()
        assert titles == [f"{task} {metric}" for task, metric in groups.index]
        rows = check.evaluate("[...Bokeh.documents[0].all_models]"
                              ".filter(m => m.name === 'table').map(t => t.source.get_length())")
        assert len(rows) == len(groups) + 1 and sorted(rows[:-1]) == sorted(groups.tolist())
