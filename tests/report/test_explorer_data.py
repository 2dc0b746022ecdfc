"""The explorer's numbers: projections, step distances and the byte pictures."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from rnnxbench.report.explorer_data import (
    input_bytes,
    project_states,
    relevance_bytes,
    step_distances,
)
from rnnxbench.report.input_images import as_image, evidence_spans


def test_pca_projection_is_sklearns_up_to_sign_and_deterministic():
    rng = np.random.default_rng(0)
    states = rng.normal(size=(5, 4, 6)) * np.array([5, 3, 1, 1, 1, 1])
    coords = project_states(states)
    ref = PCA(2).fit_transform(states.reshape(20, 6))
    for k in range(2):
        assert np.allclose(np.abs(coords.reshape(20, 2)[:, k]), np.abs(ref[:, k]))
    assert np.array_equal(coords, project_states(states.copy()))
    # signs fixed: the largest loading is positive, so -states gives the same picture
    # (mirrored through the centre), not a random flip
    assert np.allclose(project_states(-states), -coords)


def test_one_dimensional_states_and_tsne():
    rng = np.random.default_rng(1)
    coords = project_states(rng.normal(size=(3, 5, 1)))
    assert coords.shape == (3, 5, 2) and np.all(coords[..., 1] == 0)
    states = rng.normal(size=(4, 6, 3))
    tsne = project_states(states, "tsne", seed=3)
    assert tsne.shape == (4, 6, 2) and np.array_equal(tsne, project_states(states, "tsne", 3))
    with pytest.raises(ValueError, match="pca, tsne"):
        project_states(states, "umap")


def test_step_distances_by_hand():
    states = np.array([[[3.0, 4.0], [3.0, 4.0], [0.0, 0.0]]])
    assert step_distances(states).tolist() == [[5.0, 0.0, 5.0]]


def test_relevance_bytes_are_symmetric_around_128():
    rel = np.zeros((2, 4))
    rel[0, 0], rel[1, 3] = 2.0, -1.0
    q, scale = relevance_bytes(rel, (4,))
    assert scale == 2.0 and q.shape == (4, 2)  # D x T
    assert q[0, 0] == 255 and q[3, 1] == 128 - 64 and (q[1:3] == 128).all()
    zero, none = relevance_bytes(np.zeros((2, 4)), (4,))
    assert none == 0.0 and (zero == 128).all()


def test_input_bytes_span_the_bounds():
    x = np.array([[-1.0, 0.0, 1.0, 3.0]])
    assert input_bytes(x, (4,), (-1.0, 1.0)).ravel().tolist() == [0, 128, 255, 255]


def test_image_layout_and_evidence_columns():
    x = np.arange(3 * 6, dtype=float).reshape(3, 6)  # T=3 steps of (1, 2, 3)
    image = as_image(x, (1, 2, 3))
    assert image.shape == (2, 9)
    assert image[:, 3:6].tolist() == x[1].reshape(2, 3).tolist()  # step 1 beside step 0
    assert as_image(x, (6,)).shape == (6, 3)  # a vector step: one row per dimension
    spans = evidence_spans(np.array([0, 1, 1]), np.array([False, True]), (1, 2, 3))
    assert spans == [(3, 9)]
    assert evidence_spans(np.array([0, 1, 1]), np.array([True, False]), (6,)) == [(0, 1)]
