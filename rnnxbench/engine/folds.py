"""Stratified k-fold cross-validation over a task's combined data (thesis §3)."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold


def fold_indices(y: np.ndarray, n_folds: int = 7, seed: int = 71
                 ) -> list[tuple[np.ndarray, np.ndarray]]:
    """(train, test) index arrays of ``StratifiedKFold(n_folds, shuffle=True, seed)``."""
    counts = np.bincount(y)
    if counts[counts > 0].min() < n_folds:
        raise ValueError(f"a class has fewer than {n_folds} samples "
                         f"(class counts {counts.tolist()}); use fewer folds or more data")
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    return list(skf.split(np.zeros(len(y)), y))


def task_splits(y: np.ndarray, fold_ids: list[int], n_folds: int = 7, seed: int = 71,
                test_split: np.ndarray | None = None
                ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """``{fold id: (train, test)}``: stratified k-fold folds, or, given a data set's own
    ``test_split`` (bool mask), that one split for every fold id (the folds are repeats)."""
    if test_split is not None:
        mask = np.asarray(test_split, dtype=bool)
        own = (np.flatnonzero(~mask), np.flatnonzero(mask))
        return {f: own for f in fold_ids}
    folds = fold_indices(y, n_folds, seed)
    return {f: folds[f] for f in fold_ids}
