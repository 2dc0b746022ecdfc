"""What the explorer pages and heatmap grids show of one trained model: an
:class:`Exploration`, stored as named arrays (``.npz``, no pickles).

For one model (a task x architecture of one fold, the first training seed) and its fold's
explained sequences: the inputs, labels, predictions and class probabilities, the hidden
states ``(N, T, H)`` and expected predictions ``(N, T, C)`` of
:mod:`rnnxbench.models.states`, every explainer's relevance for the true class (or why it
has none), the fold's confusion matrix and the sequences' ground truth. The harness
computes it (:mod:`rnnxbench.harness.exploration`); the report draws it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

_ARRAYS = ("sample", "label", "predicted", "proba", "x", "states", "expected", "confusion",
           "step_block", "ground_truth")


@dataclass
class Exploration:
    """One model on its fold's explained sequences (N of them, T steps, D values a step)."""

    task: str
    architecture: str
    fold: int
    seed: int
    model_hash: str
    step_shape: tuple[int, ...]
    bounds: tuple[float, float]
    sample: np.ndarray  # (N,) indices into the task's data
    label: np.ndarray  # (N,)
    predicted: np.ndarray  # (N,)
    proba: np.ndarray  # (N, C) softmax of the model's output
    x: np.ndarray  # (N, T, D) inputs
    states: np.ndarray  # (N, T, H)
    expected: np.ndarray  # (N, T, C)
    confusion: np.ndarray  # (C, C): rows true class, columns predicted, the fold's test set
    step_block: np.ndarray  # (T,) the block of each step (-1: none)
    ground_truth: np.ndarray  # (N, B) bool, the evidence blocks ((N, 0) without)
    #: explainer id -> (N, T, D) float32 relevance for the true class
    relevance: dict[str, np.ndarray] = field(default_factory=dict)
    #: explainer id -> why it has no relevance here (unsupported or failed)
    missing: dict[str, str] = field(default_factory=dict)
    explainers: list[str] = field(default_factory=list)  # in the run's order

    @property
    def n_classes(self) -> int:
        return int(self.proba.shape[1])

    def to_arrays(self) -> dict[str, np.ndarray]:
        meta = {"task": self.task, "architecture": self.architecture, "fold": self.fold,
                "seed": self.seed, "model_hash": self.model_hash,
                "step_shape": list(self.step_shape), "bounds": list(self.bounds),
                "missing": self.missing, "explainers": self.explainers,
                "relevance": list(self.relevance)}
        out = {name: np.asarray(getattr(self, name)) for name in _ARRAYS}
        out.update({f"relevance_{i}": rel for i, rel in enumerate(self.relevance.values())})
        out["meta"] = np.array(json.dumps(meta))
        return out

    @classmethod
    def from_arrays(cls, arrays: dict[str, np.ndarray]) -> Exploration:
        """Inverse of :meth:`to_arrays` (KeyError/ValueError when it is not one)."""
        meta = json.loads(str(arrays["meta"]))
        relevance = {name: arrays[f"relevance_{i}"] for i, name in enumerate(meta["relevance"])}
        return cls(meta["task"], meta["architecture"], int(meta["fold"]), int(meta["seed"]),
                   meta["model_hash"], tuple(meta["step_shape"]), tuple(meta["bounds"]),
                   **{name: arrays[name] for name in _ARRAYS}, relevance=relevance,
                   missing=dict(meta["missing"]), explainers=list(meta["explainers"]))
