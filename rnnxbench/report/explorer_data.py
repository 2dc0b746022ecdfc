"""The numbers an explorer page shows, computed from an :class:`Exploration`.

- the 2-D projection of every explained sequence's hidden state at every step: PCA
  (deterministic; scikit-learn's full SVD, signs fixed so the largest loading is positive)
  or t-SNE (scikit-learn, seeded, PCA-initialised);
- the distance between consecutive hidden states, ``d_t = ||h_t - h_{t-1}||`` (``d_1``
  from the zero initial state), the seed tool's measure of how much a step changes the
  state;
- pictures quantised to bytes for the page: inputs to 0..255 over the task's bounds,
  relevance to 0..255 with 128 = 0, symmetric per map (``value / max|value|``; the maximum
  is kept to state the scale).
"""

from __future__ import annotations

import numpy as np

from rnnxbench.report.exploration import Exploration
from rnnxbench.report.input_images import as_image, evidence_spans

PROJECTIONS = ("pca", "tsne")


def project_states(states: np.ndarray, method: str = "pca", seed: int = 0) -> np.ndarray:
    """``(N, T, H)`` states -> ``(N, T, 2)`` coordinates."""
    if method not in PROJECTIONS:
        raise ValueError(f"projection {method!r}: choose one of {', '.join(PROJECTIONS)}")
    n, t, h = states.shape
    flat = np.asarray(states, dtype=np.float64).reshape(n * t, h)
    if method == "tsne":
        from sklearn.manifold import TSNE

        perplexity = float(min(30.0, max(2.0, (n * t - 1) / 3)))
        coords = TSNE(n_components=2, init="pca", random_state=seed,
                      perplexity=perplexity).fit_transform(flat)
    else:
        from sklearn.decomposition import PCA

        k = min(2, h, n * t)
        pca = PCA(n_components=k, svd_solver="full").fit(flat)
        comps = pca.components_ * np.sign(
            pca.components_[np.arange(k), np.abs(pca.components_).argmax(1)])[:, None]
        coords = (flat - pca.mean_) @ comps.T
        if k < 2:
            coords = np.concatenate([coords, np.zeros((n * t, 2 - k))], axis=1)
    return coords.reshape(n, t, 2)


def step_distances(states: np.ndarray) -> np.ndarray:
    """``(N, T)`` distance of each step's state from the previous one (zero before step 1)."""
    s = np.asarray(states, dtype=np.float64)
    previous = np.concatenate([np.zeros_like(s[:, :1]), s[:, :-1]], axis=1)
    return np.linalg.norm(s - previous, axis=2)


def input_bytes(x: np.ndarray, step_shape: tuple[int, ...], bounds: tuple[float, float]
                ) -> np.ndarray:
    """One sequence's input image as uint8 (0 at the lower bound, 255 at the upper)."""
    low, high = bounds
    image = (as_image(x, step_shape) - low) / max(high - low, 1e-12)
    return np.clip(np.round(image * 255), 0, 255).astype(np.uint8)


def relevance_bytes(relevance: np.ndarray, step_shape: tuple[int, ...]
                    ) -> tuple[np.ndarray, float]:
    """One sequence's relevance image as uint8 (128 = 0, symmetric) and its max |value|."""
    image = as_image(relevance, step_shape, reduce="sum")
    scale = float(np.abs(image).max())
    q = 128 + np.round(127 * image / scale) if scale > 0 else np.full(image.shape, 128.0)
    return q.astype(np.uint8), scale


def sequence_store(exp: Exploration, coords: np.ndarray, dist: np.ndarray
                   ) -> dict[str, list]:
    """One entry per explained sequence: what the page's views show when it is selected
    (``coords``: the projection, ``dist``: the step distances; images flipped for Bokeh,
    whose row 0 is the bottom)."""
    store: dict[str, list] = {key: [] for key in ("input", "traj_x", "traj_y", "dist",
                                                  "expected", "gt_spans", "series")}
    for name in exp.relevance:
        store[f"rel:{name}"], store[f"scale:{name}"] = [], []
    for i in range(len(exp.label)):
        store["input"].append(np.flipud(input_bytes(exp.x[i], exp.step_shape, exp.bounds)))
        store["traj_x"].append(coords[i, :, 0].astype(np.float32))
        store["traj_y"].append(coords[i, :, 1].astype(np.float32))
        store["dist"].append(dist[i].astype(np.float32))
        store["expected"].append(exp.expected[i].T.astype(np.float32))  # (C, T)
        truth = exp.ground_truth[i] if exp.ground_truth.shape[1] else np.zeros(0, bool)
        store["gt_spans"].append([list(s) for s in evidence_spans(exp.step_block, truth,
                                                                   exp.step_shape)])
        store["series"].append(exp.x[i].T.astype(np.float32).tolist()
                               if len(exp.step_shape) < 2 else [])
        for name, rel in exp.relevance.items():
            q, scale = relevance_bytes(rel[i], exp.step_shape)
            store[f"rel:{name}"].append(np.flipud(q))
            store[f"scale:{name}"].append(scale)
    return store
