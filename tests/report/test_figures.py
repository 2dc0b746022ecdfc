"""The leaderboard figure is written and shows the leaderboard's means and intervals."""

import contextlib

import numpy as np
import pandas as pd
import pytest

from rnnxbench.report.figures import folds_figure, leaderboard_figure, plot_folds, plot_leaderboard
from rnnxbench.report.tables import leaderboard

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def grid_scores(n_folds=3, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for task in ["maj", "fmaj"]:
        for arch in ["shallow", "deep"]:
            for explainer in ["sa", "lrp"]:
                for metric in ["cosine", "relevance_mass"]:
                    for fold in range(n_folds):
                        rows.append(dict(suite="s", task=task, data_source="idx",
                                         architecture=arch, explainer=explainer, metric=metric,
                                         fold=fold, value=rng.uniform(0.5, 0.9), accuracy=0.98,
                                         gate_passed=True, status="ok", seed=0,
                                         model_hash="h", error=""))
    return pd.DataFrame(rows)


def test_figure_written(tmp_path):
    path = plot_leaderboard(grid_scores(), tmp_path / "figs" / "cosine.png")
    assert path == tmp_path / "figs" / "cosine.png"
    data = path.read_bytes()
    assert data.startswith(PNG_MAGIC) and len(data) > 5000


def test_points_and_bars_match_leaderboard():
    scores = grid_scores()
    board = leaderboard(scores[scores["metric"] == "cosine"])
    fig = leaderboard_figure(scores, "cosine")
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["maj", "fmaj"]
    for ax, task in zip(axes, ["maj", "fmaj"], strict=True):
        rows = board[board["task"] == task]
        points = np.concatenate([line.get_ydata() for line in ax.get_lines()
                                 if line.get_marker() == "o"])
        np.testing.assert_allclose(np.sort(points), np.sort(rows["mean"]))
        segments = [seg for coll in ax.collections for seg in coll.get_segments()]
        bars = sorted((min(s[:, 1]), max(s[:, 1])) for s in segments)
        expected = sorted(zip(rows["ci95_low"], rows["ci95_high"], strict=True))
        np.testing.assert_allclose(bars, expected)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["sa", "lrp"]


def test_failed_nan_and_single_fold(tmp_path):
    scores = grid_scores(n_folds=1)
    scores.loc[scores["explainer"] == "lrp", "status"] = "failed"
    scores.loc[scores["explainer"] == "lrp", "value"] = np.nan
    scores.loc[0, "value"] = np.nan
    fig = leaderboard_figure(scores, "cosine")
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert not [seg for ax in axes for c in ax.collections for seg in c.get_segments()]
    for ax in axes:  # the failed explainer is left out; the NaN fold of one cell too
        assert [t.get_text() for t in ax.get_xticklabels()] == ["sa"]
    n_points = sum(len(line.get_ydata()) for ax in axes for line in ax.get_lines())
    assert n_points == 2 * 2 - 1
    path = plot_leaderboard(scores, tmp_path / "single.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_metric_without_data_still_writes(tmp_path):
    path = plot_leaderboard(grid_scores(), tmp_path / "none.png", metric="absent")
    assert path.stat().st_size > 0


def test_order_follows_scores_even_when_first_group_failed():
    scores = grid_scores()
    first = (scores["task"] == "maj") & (scores["architecture"] == "shallow") & (
        scores["explainer"] == "sa")
    scores.loc[first, "status"] = "failed"
    fig = leaderboard_figure(scores, "cosine")
    for ax in (ax for ax in fig.axes if ax.get_title()):
        assert [t.get_text() for t in ax.get_xticklabels()] == ["sa", "lrp"]
    legend = fig.legends[0]
    assert [t.get_text() for t in legend.get_texts()] == ["shallow", "deep"]


def _fold_points(ax) -> np.ndarray:
    """(x, y) of every fold point (scatter) on ``ax``."""
    from matplotlib.collections import PathCollection

    offsets = [c.get_offsets() for c in ax.collections if isinstance(c, PathCollection)]
    return np.concatenate([o for o in offsets if len(o)]) if offsets else np.empty((0, 2))


def test_folds_figure_shows_every_fold_and_the_leaderboard_interval(tmp_path):
    from matplotlib.collections import LineCollection

    scores = grid_scores(n_folds=4)
    failed = (scores["task"] == "maj") & (scores["architecture"] == "deep") & (
        scores["explainer"] == "lrp") & (scores["fold"] == 0)
    scores.loc[failed, ["status", "value"]] = ["failed", 99.0]
    board = leaderboard(scores[scores["metric"] == "cosine"])
    fig = folds_figure(scores, "cosine")
    axes = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in axes] == ["maj", "fmaj"]
    for ax, task in zip(axes, ["maj", "fmaj"], strict=True):
        ok = scores[(scores["task"] == task) & (scores["metric"] == "cosine")
                    & (scores["status"] == "ok")]
        points = _fold_points(ax)
        np.testing.assert_allclose(np.sort(points[:, 1]), np.sort(ok["value"]))
        rows = board[board["task"] == task]
        means = [line for line in ax.get_lines() if line.get_marker() == "D"]
        np.testing.assert_allclose(np.sort(np.concatenate([m.get_ydata() for m in means])),
                                   np.sort(rows["mean"]))
        segments = [seg for c in ax.collections if isinstance(c, LineCollection)
                    for seg in c.get_segments()]
        bars = sorted((min(s[:, 1]), max(s[:, 1])) for s in segments)
        np.testing.assert_allclose(bars, sorted(zip(rows["ci95_low"], rows["ci95_high"],
                                                    strict=True)))
        # each mean sits in the middle of its own architecture's dodged strip of folds
        for line in means:
            for x, y in zip(line.get_xdata(), line.get_ydata(), strict=True):
                near = points[np.abs(points[:, 0] - x) < 0.15]
                assert len(near) in (3, 4) and np.mean(near[:, 1]) == pytest.approx(y)
        assert [t.get_text() for t in ax.get_xticklabels()] == ["sa", "lrp"]
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["shallow", "deep"]
    path = plot_folds(scores, tmp_path / "cosine_folds.png", "cosine")
    assert path.read_bytes().startswith(PNG_MAGIC)


def test_folds_figure_without_ok_folds_still_writes(tmp_path):
    scores = grid_scores(n_folds=1)
    scores["status"] = "failed"
    fig = folds_figure(scores, "cosine")
    assert all(len(_fold_points(ax)) == 0 for ax in fig.axes)
    assert plot_folds(scores, tmp_path / "x.png", "absent").stat().st_size > 0


def test_step_profile_figure_has_a_panel_per_explainer_and_a_uniform_line():
    from rnnxbench.report.figures import step_profile_figure

    rows = [{"task": "maj", "architecture": a, "explainer": e, "fold": f, "step": t,
             "share": share}
            for a in ("shallow", "deep") for e in ("sa", "lrp", "dtd", "gb", "uniform")
            for f in (0, 1) for t, share in enumerate([0.1, 0.2, 0.7])]
    fig = step_profile_figure(pd.DataFrame(rows), "maj")
    visible = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in visible] == ["sa", "lrp", "dtd", "gb", "uniform"]
    line = visible[0].get_lines()
    assert np.allclose(line[0].get_ydata(), [0.1, 0.2, 0.7])  # shallow's mean over folds
    assert np.allclose(line[-1].get_ydata(), 1 / 3)  # the uniform share


X_LABEL, Y_LABEL = "erased steps (fraction of T)", "accuracy"


def curve_rows(n_folds=3, xs=(0.0, 0.1, 0.5), seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = [{"task": task, "architecture": arch, "explainer": explainer,
             "metric": "time_analysis", "fold": fold, "x": x, "y": rng.uniform(0.4, 1.0),
             "x_label": X_LABEL, "y_label": Y_LABEL}
            for task in ("maj", "fmaj") for arch in ("shallow", "deep", "gru")
            for explainer in ("sa", "lrp", "ig", "gb") for fold in range(n_folds) for x in xs]
    return pd.DataFrame(rows)


def test_curves_figure_means_intervals_panels_and_labels(tmp_path):
    from rnnxbench.report.figures import curves_figure, plot_curves
    from rnnxbench.report.tables import t_interval

    curves = curve_rows()
    # lrp has no rows for gru; one NaN y is ignored
    curves = curves[~((curves["explainer"] == "lrp") & (curves["architecture"] == "gru"))]
    nan_at = curves.index[(curves["task"] == "maj") & (curves["architecture"] == "shallow")
                          & (curves["explainer"] == "sa")][0]
    curves = curves.copy()
    curves.loc[nan_at, "y"] = np.nan
    fig = curves_figure(curves, "maj", "time_analysis")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in panels] == ["sa", "lrp", "ig", "gb"]
    assert [len(ax.get_lines()) for ax in panels] == [3, 2, 3, 3]
    assert [len(ax.collections) for ax in panels] == [3, 2, 3, 3]  # one band per line
    assert fig.get_suptitle().startswith("maj: time_analysis")
    assert {ax.get_xlabel() for ax in panels[-3:]} == {X_LABEL}
    assert panels[0].get_ylabel() == Y_LABEL and panels[3].get_ylabel() == Y_LABEL
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["shallow", "deep", "gru"]

    sub = curves[(curves["task"] == "maj") & (curves["explainer"] == "sa")
                 & (curves["architecture"] == "shallow")]
    expected = sub.groupby("x")["y"].mean()  # skips the NaN
    line = panels[0].get_lines()[0]
    np.testing.assert_allclose(line.get_xdata(), [0.0, 0.1, 0.5])
    np.testing.assert_allclose(line.get_ydata(), expected.to_numpy())
    band = panels[0].collections[0].get_paths()[0].vertices[:, 1]
    _, _, low, high = t_interval(sub.loc[sub["x"] == 0.5, "y"].to_numpy())
    assert band.min() <= low + 1e-9 and np.isclose(band, high).any()
    # the same architecture has the same colour in every panel
    assert panels[0].get_lines()[2].get_color() == panels[2].get_lines()[2].get_color()

    path = plot_curves(curves, tmp_path / "c" / "time_analysis_curve_maj.png", "maj",
                       "time_analysis")
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 5000


def test_curves_figure_single_fold_single_x_and_missing_names(tmp_path):
    from rnnxbench.report.figures import curves_figure, plot_curves

    one = curve_rows(n_folds=1, xs=(0.2,))
    fig = curves_figure(one, "fmaj", "time_analysis")
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert all(len(ax.get_lines()) == 3 and not ax.collections for ax in panels)
    assert all(len(line.get_ydata()) == 1 for ax in panels for line in ax.get_lines())
    # a single x with two folds gets a bar rather than a (flat) band
    two = curve_rows(n_folds=2, xs=(0.2,))
    panels = [ax for ax in curves_figure(two, "maj", "time_analysis").axes
              if ax.get_visible()]
    assert all(len(ax.collections) == 3 for ax in panels)
    assert plot_curves(one, tmp_path / "one.png", "fmaj", "time_analysis").stat().st_size > 0

    with pytest.raises(ValueError, match=r"tasks: \['maj', 'fmaj'\]"):
        curves_figure(one, "absent", "time_analysis")
    with pytest.raises(ValueError, match=r"metrics: \['time_analysis'\]"):
        curves_figure(one, "maj", "absent")


def test_accuracy_figure_is_a_heatmap_of_the_means(tmp_path):
    from rnnxbench.report.figures import accuracy_figure, plot_accuracy

    archs = ["shallow", "deep", "gru"]
    tasks = ["maj", "ECG200"]
    rows = [{"task": t, "architecture": a, "mean": 0.5 + 0.1 * i + 0.01 * j, "std": 0.01,
             "ci95_low": np.nan, "ci95_high": np.nan, "n_folds": 3, "n_failed": 0,
             "gate": 0.9, "gate_passed_all": True}
            for j, t in enumerate(tasks) for i, a in enumerate(archs)]
    accuracy = pd.DataFrame(rows)
    accuracy.loc[(accuracy["task"] == "ECG200") & (accuracy["architecture"] == "deep"),
                 "mean"] = np.nan
    fig = accuracy_figure(accuracy)
    ax = fig.axes[0]
    assert len(fig.axes) == 2  # the heatmap and its colour bar
    assert ax.get_title() == "test accuracy (mean over folds)"
    assert [t.get_text() for t in ax.get_yticklabels()] == archs
    assert [t.get_text() for t in ax.get_xticklabels()] == tasks
    # row-major over the cells, the NaN cell is left blank
    assert [t.get_text() for t in ax.texts] == ["0.50", "0.51", "0.60", "0.70", "0.71"]
    assert ax.collections[0].get_clim() == (0.0, 1.0)

    many = pd.DataFrame([{"task": "maj", "architecture": f"a{i}", "mean": 0.9}
                         for i in range(27)])
    assert accuracy_figure(many).get_figheight() >= 0.3 * 27
    assert fig.get_figheight() < accuracy_figure(many).get_figheight()
    path = plot_accuracy(accuracy, tmp_path / "acc" / "accuracy.png")
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 5000


def test_fold_points_are_where_seaborn_stripplot_puts_them():
    """folds_figure draws the strips itself (one scatter instead of one per explainer x
    architecture): seaborn's points, but for the jitter, which comes from a seeded generator
    (the same figure for the same data) and stays within seaborn's bound."""
    import seaborn as sns
    from matplotlib.figure import Figure

    from rnnxbench.report.drawing import dodge

    scores = grid_scores(n_folds=4)
    scores = scores[(scores["task"] == "maj") & (scores["metric"] == "cosine")]
    scores = scores[~((scores["architecture"] == "deep") & (scores["explainer"] == "lrp")
                      & (scores["fold"] > 0))]  # a single fold: no jitter
    explainers, archs = ["sa", "lrp"], ["shallow", "deep"]
    colors, width, _ = dodge(archs)
    np.random.seed(7)
    ax = Figure().subplots()
    sns.stripplot(data=scores, x="explainer", y="value", hue="architecture", order=explainers,
                  hue_order=archs, palette=colors, dodge=True, jitter=0.25 * width, size=3.5,
                  alpha=0.55, legend=False, ax=ax)
    expected = _fold_points(ax)
    panel = next(ax for ax in folds_figure(scores, "cosine").axes if ax.get_title() == "maj")
    ours = _fold_points(panel)
    bound = 0.25 * width / len(archs)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=2 * bound + 1e-12)
    again = next(ax for ax in folds_figure(scores, "cosine").axes if ax.get_title() == "maj")
    np.testing.assert_array_equal(_fold_points(again), ours)  # deterministic
    ours, theirs = panel.collections[0], ax.collections[0]
    np.testing.assert_array_equal(ours.get_sizes(), theirs.get_sizes())
    np.testing.assert_array_equal(ours.get_facecolors()[0], theirs.get_facecolors()[0])
    assert ours.get_zorder() == theirs.get_zorder()
    assert not any(line.get_visible() for line in panel.xaxis.get_gridlines())  # as seaborn's
    assert any(line.get_visible() for line in panel.yaxis.get_gridlines())


def test_autoscaling_once_gives_the_incremental_limits():
    from matplotlib.figure import Figure

    from rnnxbench.report.drawing import autoscaled_once

    def draw(deferred: bool):
        axes = Figure(layout="constrained").subplots(2, 2, sharex=True, sharey=True).ravel()
        axes[3].set_visible(False)
        with autoscaled_once(axes) if deferred else contextlib.nullcontext():
            for i, ax in enumerate(axes[:3]):
                ax.plot([0, 1 + i], [0.2 * i, -i], marker="o")
                ax.fill_between([0, 2], [-1, -2 - i], [1, 3 + i], alpha=0.1)
                ax.axhline(0.5, linestyle="--")
                ax.errorbar([i], [i], yerr=[[1], [2]])
        return [(ax.get_xlim(), ax.get_ylim()) for ax in axes]

    assert draw(True) == draw(False)
