"""rnnxbench: explanation benchmarks for recurrent neural networks.

``rnnxbench.run("maj", profile="smoke")`` runs a suite and returns its scores as a
pandas DataFrame; ``rnnxbench run --suite maj`` does the same from the shell.
"""

from rnnxbench.explainers.base import Explainer
from rnnxbench.explaining import explain
from rnnxbench.harness import RunResult, explore_suite, run, run_suite
from rnnxbench.metrics.base import Metric
from rnnxbench.models.base import Architecture
from rnnxbench.registry import (
    ARCHITECTURES,
    EXPLAINERS,
    METRICS,
    SOURCES,
    TASKS,
    Registry,
    UnknownNameError,
)
from rnnxbench.tasks.base import DataUnavailable, InputSpec, Task, TaskData

__version__ = "0.1.0"

__all__ = ["ARCHITECTURES", "EXPLAINERS", "METRICS", "SOURCES", "TASKS", "Architecture",
           "DataUnavailable", "Explainer", "InputSpec", "Metric", "Registry", "RunResult",
           "Task", "TaskData", "UnknownNameError", "__version__", "explain",
           "explore_suite", "run", "run_suite"]
