"""Seeded, class-stratified draws of samples: data subsets and the explained sequences."""

from __future__ import annotations

import numpy as np


def apportion(weights: np.ndarray, n: int) -> np.ndarray:
    """Integer shares of ``n`` proportional to ``weights`` (largest remainder)."""
    exact = n * np.asarray(weights, dtype=float) / np.sum(weights)
    share = np.floor(exact).astype(int)
    order = np.argsort(-(exact - share), kind="stable")
    share[order[: n - share.sum()]] += 1
    return share


def stratified_subset(y: np.ndarray, n: int, seed: int) -> np.ndarray:
    """Sorted indices of ``n`` samples drawn per class in proportion to the class counts
    (all of them when ``n >= len(y)``)."""
    if n >= len(y):
        return np.arange(len(y))
    classes, counts = np.unique(y, return_counts=True)
    quota = apportion(counts, n)
    rs = np.random.RandomState(seed)
    picked = [rs.permutation(np.flatnonzero(y == c))[:q]
              for c, q in zip(classes, quota, strict=True)]
    return np.sort(np.concatenate(picked))


def per_class_subset(y: np.ndarray, k: int, seed: int) -> np.ndarray:
    """Sorted indices of ``k`` samples of every class (all of a class with fewer), seeded."""
    rs = np.random.RandomState(seed)
    picked = [rs.permutation(np.flatnonzero(y == c))[:k] for c in np.unique(y)]
    return np.sort(np.concatenate(picked)) if picked else np.zeros(0, dtype=np.int64)


def explained_subset(y: np.ndarray, n_samples: int, per_class: int, seed: int) -> np.ndarray:
    """Which of the held-out samples (labels ``y``) a fold's explanations are scored on:
    ``per_class`` of every class, else ``n_samples`` drawn in proportion to the classes,
    else (both 0) all of them. Sorted positions into ``y``."""
    if per_class > 0:
        return per_class_subset(y, per_class, seed)
    if n_samples > 0:
        return stratified_subset(y, n_samples, seed)
    return np.arange(len(y))
