"""The harness: a suite's run as a short sequence of stages.

``plan`` (model jobs and their cache keys) -> ``training`` (train jobs) -> ``scoring``
(explain + score jobs, typed metric context and score records) -> ``result`` (the scores
table and run provenance) -> ``rnnxbench.report.writers`` (the published folder);
``run.run_suite`` strings them together after checking everything it was told;
``explore_run.explore_suite`` writes the explorer pages of a run's cached models.
"""

from rnnxbench.harness.explore_run import explore_suite
from rnnxbench.harness.options import RunOptions
from rnnxbench.harness.result import SCORE_COLUMNS, RunResult
from rnnxbench.harness.run import RunInterrupted, run, run_suite

__all__ = ["SCORE_COLUMNS", "RunInterrupted", "RunOptions", "RunResult", "explore_suite", "run",
           "run_suite"]
