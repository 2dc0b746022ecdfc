"""The toy arithmetic task of Arras et al. (2019), in classification form.

Each sequence has ``T`` steps of two values ``[n_t, m_t]``: a random number
``n_t ~ U(-1, 1)`` and a marker ``m_t`` that is 1 at exactly two positions ``a < b`` (drawn
uniformly among all pairs) and 0 elsewhere. The regression target of Arras et al. is a
function of the two marked numbers (``operation``: ``add`` = ``n_a + n_b``, ``sub`` =
``n_a - n_b``); here it is binned into ``n_classes`` classes at the target's quantiles over
the generated data, so classes are balanced and every classification explainer applies.

Ground truth: the two marked steps (blocks = steps, ``step_block = arange(T)``, both values
of a marked step count): a faithful explanation puts the relevance there and nowhere else.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.registry import TASKS
from rnnxbench.tasks.base import InputSpec, Task, TaskData
from rnnxbench.validate import Interval, Options

OPERATIONS = ("add", "sub")


def make_arith(n: int, n_steps: int, seed: int, operation: str = "add",
               n_classes: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(X (n, T, 2) float32, y (n,) int64, marked (n, T) bool, target (n,) float64)``."""
    if operation not in OPERATIONS:
        raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, got {operation!r}")
    if n_steps < 2 or n_classes < 2 or n < n_classes:
        raise ValueError("need n_steps >= 2, n_classes >= 2 and n_samples >= n_classes, got "
                         f"n_steps={n_steps}, n_classes={n_classes}, n_samples={n}")
    rng = np.random.default_rng(seed)
    numbers = rng.uniform(-1.0, 1.0, size=(n, n_steps))
    # two distinct positions per sample, uniform over all pairs: argsort of random keys
    positions = np.sort(np.argsort(rng.random((n, n_steps)), axis=1)[:, :2], axis=1)
    marked = np.zeros((n, n_steps), dtype=bool)
    np.put_along_axis(marked, positions, True, axis=1)
    first = np.take_along_axis(numbers, positions[:, :1], axis=1)[:, 0]
    second = np.take_along_axis(numbers, positions[:, 1:], axis=1)[:, 0]
    target = first + second if operation == "add" else first - second
    edges = np.quantile(target, np.linspace(0, 1, n_classes + 1)[1:-1])
    y = np.searchsorted(edges, target, side="right").astype(np.int64)
    X = np.stack([numbers, marked.astype(np.float64)], axis=2).astype(np.float32)
    return X, y, marked, target


@TASKS.register("arith")
class ArithmeticTask(Task):
    """Arras et al. (2019)'s toy arithmetic: classify a function of two marked numbers.

    Options: ``operation`` (``add``, ``sub``), ``n_classes`` (3: quantile bins of the
    result), ``n_samples`` (2000), ``n_steps`` (20). Generated from ``build``'s ``seed`` (no
    files; ``source`` is a label, suites use ``"generated"``); ``max_images > 0`` caps the
    number of sequences.
    """

    description = "Arras et al. 2019 toy arithmetic: two marked numbers decide the class"
    has_ground_truth = True

    parameter_constraints = {"operation": [Options(str, OPERATIONS)],
                             "n_classes": [Interval(int, 2, None)],
                             "n_samples": [Interval(int, 1, None)],
                             "n_steps": [Interval(int, 2, None)]}

    @classmethod
    def source_choices(cls) -> list[str]:
        return ["generated"]

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        """At least one sample per class."""
        n_samples, n_classes = options.get("n_samples", 2000), options.get("n_classes", 3)
        if n_samples < n_classes:
            raise ValueError(f"n_samples = {n_samples} must be at least n_classes = {n_classes}")

    def __init__(self, operation: str = "add", n_classes: int = 3, n_samples: int = 2000,
                 n_steps: int = 20, **options: Any):
        if operation not in OPERATIONS:
            raise ValueError(f"operation must be one of {', '.join(OPERATIONS)}, "
                             f"got {operation!r}")
        super().__init__(operation=operation, n_classes=n_classes, n_samples=n_samples,
                         n_steps=n_steps, **options)
        self.operation, self.n_classes = operation, int(n_classes)
        self.n_samples, self.n_steps = int(n_samples), int(n_steps)

    def build(self, source: str = "generated", data_dir: str | None = None,
              max_images: int = 0, seed: int = 0) -> TaskData:
        """Generate the data from ``seed``; ``source`` and ``data_dir`` are not used."""
        n = min(self.n_samples, max_images) if max_images > 0 else self.n_samples
        X, y, marked, _ = make_arith(n, self.n_steps, seed, self.operation,
                                          self.n_classes)
        spec = InputSpec(n_steps=self.n_steps, step_dim=2, step_shape=(2,),
                         n_classes=self.n_classes, bounds=(-1.0, 1.0),
                         background=0.0)  # number 0 (the mean), no marker
        return TaskData(name=f"arith-{self.operation}", X=X, y=y, spec=spec,
                        ground_truth=marked, step_block=np.arange(self.n_steps),
                        source="generated", n_images=n,
                        meta={"operation": self.operation, "seed": seed})
