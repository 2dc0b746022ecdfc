"""Reports: leaderboard and failure tables, figures."""

from rnnxbench.report.figures import leaderboard_figure, plot_leaderboard
from rnnxbench.report.tables import failure_summary, leaderboard, t_interval

__all__ = ["failure_summary", "leaderboard", "leaderboard_figure", "plot_leaderboard", "t_interval"]
