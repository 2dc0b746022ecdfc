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
