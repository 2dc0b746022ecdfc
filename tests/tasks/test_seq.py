import numpy as np
import pytest

from rnnxbench.registry import TASKS
from rnnxbench.tasks.maj import to_image
from rnnxbench.tasks.seq import SequenceTask
from rnnxbench.tasks.sources import Images


def _images(n=40, h=4, w=6):
    rs = np.random.RandomState(0)
    return Images({"all": (rs.randint(0, 256, (n, h, w)).astype(np.uint8),
                           np.arange(n) % 10)}, "test")


def test_seq_is_one_image_in_column_slices():
    images = _images()
    data = SequenceTask(n_steps=3).build_from_images(images, "t-seq")
    x, y = images.splits["all"]
    assert data.X.shape == (40, 3, 4 * 2) and data.spec.step_shape == (1, 4, 2)
    assert data.ground_truth is None and data.step_block is None
    np.testing.assert_array_equal(data.y, y)
    back = to_image(data.X, data.spec)  # steps placed back at their columns
    np.testing.assert_allclose(back, 2 * x.astype(float) / 255 - 1, atol=1e-6)
    assert data.spec.n_classes == 10


def test_seq_validates_n_steps_and_subsets():
    with pytest.raises(ValueError, match="valid n_steps: 1, 2, 3, 6"):
        SequenceTask(n_steps=4).build_from_images(_images(), "t")
    data = SequenceTask(n_steps=2).build_from_images(_images(), "t", max_images=20)
    assert len(data) == 20 and np.bincount(data.y).tolist() == [2] * 10


def test_seq_on_digits_through_the_registry():
    data = TASKS.get("seq")(n_steps=4).build("digits", max_images=100)
    assert data.X.shape == (100, 4, 16) and data.name == "digits-seq"
    assert data.X.min() >= -1 and data.X.max() <= 1
