"""results/<suite>/index.html: written by every run, self-contained (Bokeh's JavaScript
inlined, nothing fetched), with the leaderboard's rows, the environment and the files; and,
where Chromium is installed, rendered in a headless browser into a non-blank screenshot."""

import json
import re
import shutil
import subprocess

import numpy as np
import pytest

import rnnxbench

SMALL = {"explainers": ["sa", "lrp"], "metrics": ["cosine", "relevance_mass"],
         "progress": False}


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    root = tmp_path_factory.mktemp("index")
    result = rnnxbench.run_suite("digits", "smoke", cache_dir=root / "cache",
                                 results_dir=root / "results", **SMALL)
    folder = root / "results" / "digits"
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


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="no Chromium installed (Debian: chromium)")
def test_the_index_renders_in_headless_chromium(page, tmp_path):
    folder, _, _ = page
    shot = tmp_path / "index.png"
    cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
           "--disable-background-networking", "--disable-component-update", "--disable-sync",
           f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1200,1400",
           "--virtual-time-budget=5000", f"--screenshot={shot}",
           (folder / "index.html").as_uri()]
    subprocess.run(cmd, check=True, capture_output=True, timeout=120)
    from matplotlib.image import imread

    pixels = imread(shot)
    assert pixels.shape[0] > 100 and pixels[..., :3].std() > 0.02  # not a blank page
    dom = subprocess.run([*cmd[:-2], "--dump-dom", (folder / "index.html").as_uri()],
                         check=True, capture_output=True, text=True, timeout=120).stdout
    assert "bk-root" in dom or "bk-" in dom  # Bokeh's document was rendered
