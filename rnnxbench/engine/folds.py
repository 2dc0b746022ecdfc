"""Stratified k-fold cross-validation over a task's combined data (thesis §3), a task's own
folds, and how many test images the training sequences also show."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import StratifiedKFold

from rnnxbench.tasks.base import TaskData

Splits = dict[int, tuple[np.ndarray, np.ndarray]]


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
                test_split: np.ndarray | None = None, fold_of: np.ndarray | None = None
                ) -> Splits:
    """``{fold id: (train, test)}``: stratified k-fold folds over the sequences; given a data
    set's own ``test_split`` (bool mask), that one split for every fold id (the folds are
    repeats); given the task's own folds ``fold_of`` (:attr:`TaskData.fold_of`), test = the
    fold's sequences, train = all others (it must hold exactly ``n_folds`` folds)."""
    if fold_of is not None:
        fold_of = np.asarray(fold_of)
        found = np.unique(fold_of).tolist()
        if found != list(range(n_folds)):
            raise ValueError(f"the task's data were split into folds {found} (fold_of), the "
                             f"profile has n_folds = {n_folds}: build the task with the "
                             f"profile's folds (rnnxbench.tasks.base.build_task)")
        return {f: (np.flatnonzero(fold_of != f), np.flatnonzero(fold_of == f))
                for f in fold_ids}
    if test_split is not None:
        mask = np.asarray(test_split, dtype=bool)
        own = (np.flatnonzero(~mask), np.flatnonzero(mask))
        return {f: own for f in fold_ids}
    folds = fold_indices(y, n_folds, seed)
    return {f: folds[f] for f in fold_ids}


def image_overlap(data: TaskData, splits: Splits) -> dict[int, dict[str, float | None]]:
    """Per fold, the share of test blocks (``test_blocks_seen_in_training``) and of distinct
    test images (``test_images_seen_in_training``) whose source image some training sequence
    also shows (:attr:`TaskData.block_images`; -1 entries are ignored). ``{}`` for a task
    without block images; a value is None when the fold's test blocks show no known image."""
    images = data.block_images
    if images is None:
        return {}
    overlap: dict[int, dict[str, float | None]] = {}
    for fold, (train, test) in splits.items():
        seen = np.unique(images[train])
        blocks = images[test].ravel()
        blocks = blocks[blocks >= 0]
        distinct = np.unique(blocks)
        overlap[fold] = {
            "test_blocks_seen_in_training":
                float(np.isin(blocks, seen).mean()) if len(blocks) else None,
            "test_images_seen_in_training":
                float(np.isin(distinct, seen).mean()) if len(distinct) else None}
    return overlap
