"""Synthetic boxes (Ismail et al., NeurIPS 2020): a class signal in known (time, feature) cells.

Each sequence is a background process over ``T`` steps and ``D`` features; the class is
carried by an informative *box* of cells. Box layouts (Ismail et al.'s, given for their
50 x 50 inputs and scaled to ``T`` and ``D``: a position or length ``v`` on an axis of size
``n`` becomes ``round(v * n / 50)``, lengths at least 1, starts clipped to fit):

============================  =============================  ==============================
dataset                       time steps (start, length)     features (start, length)
============================  =============================  ==============================
``middle``                    (10, 30)                       (10, 30)
``small_middle``              (18, 14)                       (18, 14)
``moving``                    (random, 30)                   (random, 30)
``rare_time``                 (22, 6)                        (5, 40)
``rare_feature``              (5, 40)                        (22, 6)
``positional_time``           (1 for class 0, 29 for 1, 20)  (random, 20)
``positional_feature``        (random, 20)                   (1 for class 0, 29 for 1, 20)
============================  =============================  ==============================

"random" starts are uniform over every position where the box fits, per sample. The
non-positional types add ``+shift`` (class 1) or ``-shift`` (class 0) to the box cells; the
positional types add ``+shift`` in both classes and encode the class only by *where* the
box is (along time, respectively features). Backgrounds, i.i.d. per sample and feature:

- ``gaussian``: ``x_t ~ N(0, 1)``;
- ``autoregressive``: AR(1) ``x_0 ~ N(0, 1)``, ``x_t = ar x_{t-1} + sqrt(1 - ar^2) e_t``
  (stationary unit variance), plus ``N(0, noise^2)`` observation noise;
- ``harmonic``: ``sin(2 pi f t + phi)`` with ``f ~ U(frequency)`` cycles per step and
  ``phi ~ U(0, 2 pi)``, plus ``N(0, noise^2)`` observation noise.

The ground truth is each sample's box: ``ground_truth_cells`` ``(N, T, D)``, and per step
(blocks = steps, ``step_block = arange(T)``) whether the step holds any box cell.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.registry import TASKS
from rnnxbench.tasks.base import InputSpec, Task, TaskData
from rnnxbench.validate import Interval, Options, SequenceOf

#: Ismail et al.'s layouts on a 50 x 50 grid: (time, feature) axes as (start, length);
#: start None = random per sample, a pair = the start for class 0 and class 1.
LAYOUT_GRID = 50
LAYOUTS: dict[str, tuple[tuple[Any, int], tuple[Any, int]]] = {
    "middle": ((10, 30), (10, 30)),
    "small_middle": ((18, 14), (18, 14)),
    "moving": ((None, 30), (None, 30)),
    "rare_time": ((22, 6), (5, 40)),
    "rare_feature": ((5, 40), (22, 6)),
    "positional_time": (((1, 29), 20), (None, 20)),
    "positional_feature": ((None, 20), ((1, 29), 20)),
}
DATASETS = tuple(LAYOUTS)
BACKGROUNDS = ("gaussian", "autoregressive", "harmonic")


def _scaled(value: float, size: int) -> int:
    return int(np.floor(value * size / LAYOUT_GRID + 0.5))


def box_bounds(dataset: str, y: np.ndarray, size: int, axis: int,
               rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Per-sample box starts ``(N,)`` and the box length along ``axis`` (0 time, 1 features)
    of an axis with ``size`` positions."""
    start, length = LAYOUTS[dataset][axis]
    length = min(size, max(1, _scaled(length, size)))
    last = size - length
    if start is None:
        starts = rng.integers(0, last + 1, size=len(y))
    elif isinstance(start, tuple):
        starts = np.array([min(_scaled(s, size), last) for s in start])[y]
    else:
        starts = np.full(len(y), min(_scaled(start, size), last))
    return starts.astype(np.int64), length


def background(kind: str, shape: tuple[int, int, int], rng: np.random.Generator, *,
               ar: float = 0.9, noise: float = 0.3,
               frequency: tuple[float, float] = (0.05, 0.25)) -> np.ndarray:
    """``(N, T, D)`` float64 background series of ``kind`` (see the module docstring)."""
    n, t, d = shape
    if kind == "gaussian":
        return rng.standard_normal(shape)
    if kind == "autoregressive":
        if not -1 < ar < 1:
            raise ValueError(f"ar must lie in (-1, 1) for a stationary process, got {ar}")
        e = rng.standard_normal(shape)
        x = np.empty(shape)
        x[:, 0] = e[:, 0]
        for step in range(1, t):  # one vectorised update per step
            x[:, step] = ar * x[:, step - 1] + np.sqrt(1 - ar**2) * e[:, step]
        return x + noise * rng.standard_normal(shape)
    if kind == "harmonic":
        lo, hi = frequency
        if not 0 <= lo <= hi:
            raise ValueError(f"frequency must be a range (low, high), got {frequency}")
        f = rng.uniform(lo, hi, size=(n, 1, d))
        phase = rng.uniform(0, 2 * np.pi, size=(n, 1, d))
        steps = np.arange(t)[None, :, None]
        return np.sin(2 * np.pi * f * steps + phase) + noise * rng.standard_normal(shape)
    raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {kind!r}")


def make_synthetic(dataset: str, background_kind: str, n_samples: int, n_steps: int,
                   n_features: int, seed: int, *, shift: float = 1.0,
                   **background_options: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``X (N, T, D)`` float32, balanced labels ``y (N,)`` and the box mask ``(N, T, D)``."""
    if dataset not in LAYOUTS:
        raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    if min(n_samples, n_steps, n_features) < 1:
        raise ValueError("n_samples, n_steps and n_features must be positive")
    rng = np.random.default_rng(seed)
    y = rng.permutation(np.arange(n_samples) % 2)
    t0, t_len = box_bounds(dataset, y, n_steps, 0, rng)
    f0, f_len = box_bounds(dataset, y, n_features, 1, rng)
    steps, features = np.arange(n_steps), np.arange(n_features)
    in_time = (steps >= t0[:, None]) & (steps < t0[:, None] + t_len)  # (N, T)
    in_features = (features >= f0[:, None]) & (features < f0[:, None] + f_len)  # (N, D)
    cells = in_time[:, :, None] & in_features[:, None, :]
    x = background(background_kind, (n_samples, n_steps, n_features), rng, **background_options)
    sign = np.ones(n_samples) if dataset.startswith("positional") else 2.0 * y - 1.0
    x += shift * sign[:, None, None] * cells
    return x.astype(np.float32), y.astype(np.int64), cells


@TASKS.register("synthetic")
class SyntheticTask(Task):
    """Synthetic boxes after Ismail et al. (2020): binary class signal in known cells.

    Options: ``dataset`` (``middle``, ``small_middle``, ``moving``, ``rare_time``,
    ``rare_feature``, ``positional_time``, ``positional_feature``), ``background``
    (``gaussian``, ``autoregressive``, ``harmonic``), ``n_samples`` (1000), ``n_steps`` (50),
    ``n_features`` (50), ``shift`` (1.0, the box signal), ``ar`` (0.9), ``noise`` (0.3),
    ``frequency`` ((0.05, 0.25) cycles per step). The data are generated from ``build``'s
    ``seed`` (no files): ``source`` is only a label (suites use ``"generated"``) and
    ``max_images > 0`` caps the number of sequences.
    """

    description = "Synthetic boxes (Ismail et al. 2020): class signal in known cells"
    has_ground_truth = True

    parameter_constraints = {
        "dataset": [Options(str, DATASETS)], "background": [Options(str, BACKGROUNDS)],
        "n_samples": [Interval(int, 1, None)], "n_steps": [Interval(int, 1, None)],
        "n_features": [Interval(int, 1, None)], "shift": [float],
        "ar": [Interval(float, -1, 1, closed="neither")], "noise": [Interval(float, 0, None)],
        "frequency": [SequenceOf(Interval(float, 0, None), length=2)],
    }

    @classmethod
    def source_choices(cls) -> list[str]:
        return ["generated"]

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        """``frequency`` is a range ``(low, high)``."""
        low, high = options.get("frequency", (0.05, 0.25))
        if low > high:
            raise ValueError(f"frequency must be a range (low, high), got {[low, high]}")

    def __init__(self, dataset: str = "middle", background: str = "gaussian",
                 n_samples: int = 1000, n_steps: int = 50, n_features: int = 50,
                 shift: float = 1.0, ar: float = 0.9, noise: float = 0.3,
                 frequency: tuple[float, float] | list[float] = (0.05, 0.25), **options: Any):
        if dataset not in LAYOUTS:
            raise ValueError(f"dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
        if background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, "
                             f"got {background!r}")
        frequency = tuple(float(f) for f in frequency)
        if len(frequency) != 2 or not 0 <= frequency[0] <= frequency[1]:
            raise ValueError(f"frequency must be a range (low, high), got {frequency}")
        if not -1 < ar < 1:
            raise ValueError(f"ar must lie in (-1, 1) for a stationary process, got {ar}")
        if noise < 0 or min(n_samples, n_steps, n_features) < 1:
            raise ValueError("noise must be >= 0 and n_samples, n_steps, n_features positive")
        super().__init__(dataset=dataset, background=background, n_samples=n_samples,
                         n_steps=n_steps, n_features=n_features, shift=shift, ar=ar,
                         noise=noise, frequency=frequency, **options)
        self.dataset, self.background = dataset, background
        self.n_samples, self.n_steps = int(n_samples), int(n_steps)
        self.n_features, self.shift = int(n_features), float(shift)
        self.ar, self.noise, self.frequency = float(ar), float(noise), frequency

    def build(self, source: str = "generated", data_dir: str | None = None,
              max_images: int = 0, seed: int = 0) -> TaskData:
        """Generate the data from ``seed``; ``source`` and ``data_dir`` are not used."""
        n = min(self.n_samples, max_images) if max_images > 0 else self.n_samples
        x, y, cells = make_synthetic(self.dataset, self.background, n, self.n_steps,
                                     self.n_features, seed, shift=self.shift, ar=self.ar,
                                     noise=self.noise, frequency=self.frequency)
        spec = InputSpec(n_steps=self.n_steps, step_dim=self.n_features,
                         step_shape=(self.n_features,), n_classes=2,
                         bounds=(float(x.min()), float(x.max())),
                         background=0.0)  # the background process' mean, no box
        return TaskData(
            name=f"synthetic-{self.dataset}-{self.background}", X=x, y=y, spec=spec,
            ground_truth=cells.any(axis=2), step_block=np.arange(self.n_steps),
            source="generated", n_images=n,
            meta={"dataset": self.dataset, "background": self.background, "seed": seed},
            ground_truth_cells=cells,
        )
