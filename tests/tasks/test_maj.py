from dataclasses import replace

import numpy as np
import pytest

from rnnxbench.registry import TASKS
from rnnxbench.tasks.idx import write_idx
from rnnxbench.tasks.maj import (
    MajorityTask,
    create_majority_data,
    stratified_subset,
    to_image,
    to_sequence,
    valid_n_steps,
)
from rnnxbench.tasks.sources import IDX_FILES, Images


def indexed_images(n: int, size: int = 4, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Images whose every pixel is the image's index; labels cover all 10 classes unevenly."""
    x = np.repeat(np.arange(n, dtype=np.uint8), size * size).reshape(n, size, size)
    y = np.random.RandomState(seed).randint(0, 10, size=n)
    y[:10] = np.arange(10)
    return x, y.astype(np.int64)


def decode_blocks(data, max_value: int = 255) -> np.ndarray:
    """(N, 3): the source-image index shown in each block, read back from X."""
    pixels = to_image(data.X, data.spec)
    values = np.rint((pixels + 1) * max_value / 2).astype(int)
    width = pixels.shape[2] // 3
    blocks = values.reshape(len(values), values.shape[1], 3, width)
    assert (blocks == blocks[:, :1, :, :1]).all()  # each block is one whole source image
    return blocks[:, 0, :, 0]


def reference_create_majority_data(x, y, seed, discard_draw=False):
    """The thesis' create_majority_data on the global np.random stream (one-hot labels)."""
    y = (y[:, np.newaxis] == np.arange(10)) * 1.0
    np.random.seed(seed)
    classes = np.argmax(y, axis=1)
    new_x = np.tile(x, (1, 3))
    digit_positions = np.zeros((new_x.shape[0], 3))
    if discard_draw:
        np.random.choice([0, 1, 2], new_x.shape[0], replace=True)
    for i in range(10):
        samples_in_class_i = np.squeeze(np.argwhere(classes == i))
        total = samples_in_class_i.shape[0]
        samples_not_in_class_i = np.squeeze(np.argwhere(classes != i))
        fake_digit_idx = np.random.choice(samples_not_in_class_i, total)
        same_class_digit_idx = np.random.choice(samples_in_class_i, total)
        for j, idx in zip(range(total), samples_in_class_i, strict=True):
            dd = [x[idx, :, :], x[same_class_digit_idx[j], :, :], x[fake_digit_idx[j], :, :]]
            permuted_pos = np.random.permutation(range(3))
            digit_positions[idx] = permuted_pos
            dd_permuted = [dd[jj] for jj in permuted_pos]
            new_x[idx, :, :] = np.concatenate(dd_permuted, axis=1)
    return new_x, digit_positions <= 1


@pytest.fixture
def keep_global_rng():
    state = np.random.get_state()
    yield
    np.random.set_state(state)


@pytest.mark.parametrize("discard_draw", [True, False])
def test_equals_the_reference_algorithm(keep_global_rng, discard_draw):
    rs = np.random.RandomState(5)
    x = rs.randint(0, 256, size=(80, 5, 3)).astype(np.uint8)
    y = np.concatenate([np.arange(10), rs.randint(0, 10, size=70)])
    ref_x, ref_mark = reference_create_majority_data(x, y, seed=3, discard_draw=discard_draw)
    new_x, mark = create_majority_data(x, y, 3, discard_draw=discard_draw)
    np.testing.assert_array_equal(new_x, ref_x)
    np.testing.assert_array_equal(mark, ref_mark)


def test_the_discarded_draw_changes_the_layout():
    x, y = indexed_images(60)
    with_draw, _ = create_majority_data(x, y, 0, discard_draw=True)
    without, _ = create_majority_data(x, y, 0, discard_draw=False)
    assert not np.array_equal(with_draw, without)


def test_blocks_and_ground_truth_are_consistent():
    x, y = indexed_images(120)
    data = MajorityTask().build_from_images(Images({"all": (x, y)}, "test"), "t-maj")
    shown = decode_blocks(data)  # (N, 3) source index per block
    block_class = y[shown]
    gt = data.ground_truth
    np.testing.assert_array_equal(data.y, y)  # labels unchanged, order kept
    assert (gt.sum(axis=1) == 2).all()
    # exactly the two marked blocks show the label's class, the third another class
    np.testing.assert_array_equal(block_class == y[:, None], gt)
    # the sample's own image is one of the marked blocks
    assert ((shown == np.arange(len(y))[:, None]) & gt).any(axis=1).all()
    # every position is used for the odd block (the permutation is not degenerate)
    assert set(np.argmin(gt, axis=1).tolist()) == {0, 1, 2}


def test_splits_use_the_thesis_seeds_and_are_concatenated(keep_global_rng):
    x, _ = indexed_images(90)
    rs = np.random.RandomState(0)  # every class twice or more per split (the reference needs it)
    y = np.concatenate([rs.permutation(np.arange(n) % 10) for n in (50, 20, 20)])
    parts = {"test": slice(70, 90), "train": slice(0, 50), "val": slice(50, 70)}
    images = Images({k: (x[s], y[s]) for k, s in parts.items()}, "test")
    data = MajorityTask(n_steps=3).build_from_images(images, "t-maj")
    expected = [reference_create_majority_data(x[parts[k]], y[parts[k]], seed)
                for k, seed in (("train", 0), ("test", 3), ("val", 1))]
    composite = np.concatenate([e[0] for e in expected])
    pixels = (2.0 * to_sequence(composite, 3) / 255 - 1).astype(np.float32)  # thesis scaling
    np.testing.assert_array_equal(data.X, pixels)
    np.testing.assert_array_equal(data.ground_truth, np.concatenate([e[1] for e in expected]))
    assert list(data.meta["splits"].items()) == [("train", 50), ("test", 20), ("val", 20)]
    other = MajorityTask(n_steps=3, split_order=["train", "val", "test"])
    assert list(other.build_from_images(images, "t").meta["splits"]) == ["train", "val", "test"]


def test_build_is_reproducible():
    x, y = indexed_images(100)
    images = Images({"all": (x, y)}, "test")
    a = MajorityTask().build_from_images(images, "t", max_images=50, seed=2)
    b = MajorityTask().build_from_images(images, "t", max_images=50, seed=2)
    np.testing.assert_array_equal(decode_blocks(a)[:, 0], decode_blocks(b)[:, 0])
    assert a.fingerprint() == b.fingerprint()
    c = MajorityTask().build_from_images(images, "t", max_images=50, seed=3)
    assert a.fingerprint() != c.fingerprint()


def test_pixels_are_scaled_to_minus_one_one():
    x = np.array([[[0, 255], [128, 64]]] * 20, dtype=np.uint8)
    y = np.arange(20) % 10
    data = MajorityTask(n_steps=6).build_from_images(Images({"all": (x, y)}, "t"), "t")
    assert data.X.dtype == np.float32
    assert data.X.min() == -1.0 and data.X.max() == 1.0
    assert set(np.unique(data.X).tolist()) == {np.float32(2 * v / 255 - 1) for v in (0, 255, 128,
                                                                                     64)}


def write_fake_mnist(folder, n_train=70, n_test=30):
    rs = np.random.RandomState(0)
    folder.mkdir(parents=True)
    arrays = {"train_images": rs.randint(0, 256, (n_train, 28, 28)),
              "train_labels": np.arange(n_train) % 10,
              "test_images": rs.randint(0, 256, (n_test, 28, 28)),
              "test_labels": np.arange(n_test) % 10}
    for key, array in arrays.items():
        write_idx(folder / f"{IDX_FILES[key]}.gz", array.astype(np.uint8))


@pytest.mark.parametrize(("n_steps", "width"), [(12, 7), (6, 14)])
def test_shapes_from_the_mnist_source(tmp_path, monkeypatch, n_steps, width):
    monkeypatch.delenv("RNNXBENCH_DATA", raising=False)
    write_fake_mnist(tmp_path / "mnist")
    data = TASKS.get("maj")(n_steps=n_steps).build("mnist", data_dir=str(tmp_path))
    assert data.name == "mnist-maj" and data.source.startswith("idx:")
    assert data.X.shape == (100, n_steps, 28 * width) and data.y.shape == (100,)
    assert data.spec.step_shape == (1, 28, width) and data.spec.n_classes == 10
    assert data.ground_truth.shape == (100, 3) and data.n_images == 100
    np.testing.assert_array_equal(data.step_block, np.repeat([0, 1, 2], n_steps // 3))
    assert data.meta["image_height"] == 28 and data.meta["image_width"] == 28


def test_invalid_n_steps_lists_the_valid_ones():
    x, y = indexed_images(20, size=28)
    with pytest.raises(ValueError, match="valid n_steps: 3, 6, 12, 21, 42, 84"):
        MajorityTask(n_steps=4).build_from_images(Images({"all": (x, y)}, "t"), "t")
    assert valid_n_steps(8) == [3, 6, 12, 24]


def test_sequence_layout_and_to_image_round_trip():
    x, y = indexed_images(30)
    data = MajorityTask(n_steps=6).build_from_images(Images({"all": (x, y)}, "t"), "t")
    images = to_image(data.X, data.spec)
    assert images.shape == (30, 4, 12)
    np.testing.assert_array_equal(to_sequence(images, 6), data.X)
    # step t holds columns [w*t, w*t + w), flattened row-major (index = row * w + col)
    rs = np.random.RandomState(1)
    img = rs.rand(2, 4, 12)
    seq = to_sequence(img, 6)
    for t, r, c in [(0, 0, 1), (3, 2, 0), (5, 3, 1)]:
        assert seq[1, t, r * 2 + c] == img[1, r, 2 * t + c]
    np.testing.assert_array_equal(to_image(seq, data.spec), img)


def test_max_images_takes_a_stratified_subset():
    x, y = indexed_images(200)
    data = MajorityTask().build_from_images(Images({"all": (x, y)}, "t"), "t", max_images=50)
    assert data.n_images == len(data) == 50
    counts, full = np.bincount(data.y, minlength=10), np.bincount(y, minlength=10)
    assert np.abs(counts - 50 * full / 200).max() < 1
    # the sequences are built from the subset alone: own image first in source order
    subset = stratified_subset(y, 50, seed=0)
    shown = decode_blocks(data)
    assert set(shown.ravel()) <= set(subset.tolist())
    assert ((shown == subset[:, None]) & data.ground_truth).any(axis=1).all()


def test_stratified_subset_spreads_over_splits_and_keeps_order():
    y = np.repeat(np.arange(10), [30, 20, 10, 10, 10, 5, 5, 5, 3, 2])
    idx = stratified_subset(y, 20, seed=0)
    assert len(idx) == 20 and (np.diff(idx) > 0).all()
    assert np.bincount(y[idx], minlength=10).tolist()[:2] == [6, 4]
    x, _ = indexed_images(100)
    images = Images({"train": (x[:80], y[:80]), "test": (x[80:], y[80:])}, "t")
    data = MajorityTask().build_from_images(images, "t", max_images=20)
    assert data.meta["splits"] == {"train": 16, "test": 4}


# --- block images and the image split (split = "images") ---------------------------------

#: Fingerprints of HEAD's code before the image split was added (default split unchanged).
HEAD_FINGERPRINTS = {"all120": "cb880d2e2353a46e", "splits200": "ce762c51b89793d6",
                     "max90": "ad5ba1622c1b883b", "discard6": "7f0d4c6b688a4fcf"}


def three_split_images(n: int = 200) -> Images:
    x, y = indexed_images(n)
    a, b = int(n * 0.6), int(n * 0.8)
    return Images({"train": (x[:a], y[:a]), "test": (x[a:b], y[a:b]), "val": (x[b:], y[b:])},
                  "t")


def test_default_split_is_unchanged_and_records_block_images():
    x, y = indexed_images(120)
    images = three_split_images()
    built = {"all120": MajorityTask().build_from_images(Images({"all": (x, y)}, "t"), "t"),
             "splits200": MajorityTask().build_from_images(images, "t"),
             "max90": MajorityTask().build_from_images(images, "t", max_images=90, seed=4),
             "discard6": MajorityTask(n_steps=6, discard_draw=True).build_from_images(images,
                                                                                       "t")}
    for key, data in built.items():
        assert data.fingerprint() == HEAD_FINGERPRINTS[key], key
        assert data.fold_of is None and data.meta["split"] == "sequences"
        shown = decode_blocks(data)  # source-image ids; block_images index the kept images
        original = np.full(len(data), -1)
        original[data.block_images] = shown
        np.testing.assert_array_equal(original[data.block_images], shown)
        assert len(np.unique(original)) == len(data)  # one kept image <-> one source image
    np.testing.assert_array_equal(built["all120"].block_images, decode_blocks(built["all120"]))


@pytest.mark.parametrize("split", ["sequences", "images"])
def test_block_images_match_the_composites(split):
    rs = np.random.RandomState(2)
    x = rs.randint(0, 256, size=(140, 5, 6)).astype(np.uint8)
    y = np.arange(140) % 10
    images = Images({"train": (x[:100], y[:100]), "test": (x[100:], y[100:])}, "t")
    data = MajorityTask(n_steps=6, split=split).build_from_images(images, "t", folds=(3, 5))
    pixels = to_image(data.X, data.spec).reshape(140, 5, 3, 6)
    scaled = (2.0 * x / 255 - 1).astype(np.float32)  # x is the combined images (train, test)
    for k in range(3):
        np.testing.assert_array_equal(pixels[:, :, k], scaled[data.block_images[:, k]])
    assert (data.block_images[np.arange(140)] == np.arange(140)[:, None]).any(axis=1).all()


def image_split(n: int = 250, k: int = 5, seed: int = 9, **options):
    x, y = indexed_images(n)
    task = MajorityTask(split="images", **options)
    return y, task.build_from_images(Images({"all": (x, y)}, "t"), "t", folds=(k, seed))


def test_image_split_keeps_every_image_inside_its_fold():
    y, data = image_split()
    shown = decode_blocks(data)
    np.testing.assert_array_equal(shown, data.block_images)
    for f in range(5):
        test, train = data.fold_of == f, data.fold_of != f
        assert not set(shown[test].ravel()) & set(shown[train].ravel())
        assert set(shown[test].ravel()) <= set(np.flatnonzero(test).tolist())
    # one sequence per image, labels and ground truth as in the default construction
    assert len(data) == data.n_images == 250 and data.meta["split"] == "images"
    np.testing.assert_array_equal(data.y, y)
    np.testing.assert_array_equal(y[shown] == y[:, None], data.ground_truth)
    assert (data.ground_truth.sum(axis=1) == 2).all()


def test_image_folds_are_class_stratified_and_seeded():
    y, data = image_split()
    counts = np.array([np.bincount(y[data.fold_of == f], minlength=10) for f in range(5)])
    assert (counts > 0).all()  # every class in every fold
    assert (np.abs(counts - np.bincount(y, minlength=10) / 5) < 1).all()
    # the images are dealt as the sequence split deals the sequences (same StratifiedKFold)
    from sklearn.model_selection import StratifiedKFold
    skf = StratifiedKFold(5, shuffle=True, random_state=9).split(np.zeros(250), y)
    for f, (_, test) in enumerate(skf):
        np.testing.assert_array_equal(np.flatnonzero(data.fold_of == f), test)
    assert image_split()[1].fingerprint() == data.fingerprint()
    assert image_split(seed=10)[1].fingerprint() != data.fingerprint()


def test_image_split_needs_folds_and_enough_images():
    task = MajorityTask(split="images")
    assert task.needs_folds and not MajorityTask().needs_folds
    x, y = indexed_images(60)
    with pytest.raises(ValueError, match="folds="):
        task.build_from_images(Images({"all": (x, y)}, "t"), "t")
    with pytest.raises(ValueError, match="fewer than 7 images"):
        task.build_from_images(Images({"all": (x, y)}, "t"), "t", folds=(7, 71))
    with pytest.raises(ValueError, match="split must be one of"):
        MajorityTask(split="blocks")


def test_image_split_takes_the_stratified_subset_first():
    x, y = indexed_images(250)
    task = MajorityTask(split="images")
    data = task.build_from_images(Images({"all": (x, y)}, "t"), "t", max_images=100, seed=1,
                                  folds=(4, 0))
    subset = stratified_subset(y, 100, seed=1)
    assert len(data) == data.n_images == 100
    np.testing.assert_array_equal(data.y, y[subset])
    np.testing.assert_array_equal(subset[data.block_images], decode_blocks(data))
    assert np.unique(data.fold_of).tolist() == [0, 1, 2, 3]


def test_build_task_passes_folds_only_to_tasks_that_need_them(tmp_path, monkeypatch):
    from rnnxbench.tasks.base import Task, build_task

    monkeypatch.delenv("RNNXBENCH_DATA", raising=False)
    write_fake_mnist(tmp_path / "mnist")
    data = build_task(MajorityTask(split="images"), "mnist", str(tmp_path), 0, 0, 5, 71)
    assert np.unique(data.fold_of).tolist() == [0, 1, 2, 3, 4]
    assert build_task(MajorityTask(), "mnist", str(tmp_path), 0, 0, 5, 71).fold_of is None

    class Plugin(Task):  # the README's plugin signature: no ``folds`` argument
        def build(self, source="generated", data_dir=None, max_images=0, seed=0):
            return data.subset(np.arange(100))

    assert build_task(Plugin(), "generated", n_folds=5).fold_of is not None
    with pytest.raises(ValueError, match="n_folds = 7"):
        build_task(Plugin(), "generated", n_folds=7)


def test_the_split_option_is_declared():
    from rnnxbench.validate import InvalidParameterError, validate_options

    validate_options(MajorityTask, {"split": "images"}, where="maj")
    with pytest.raises(InvalidParameterError, match="'images'"):
        validate_options(MajorityTask, {"split": "image"}, where="maj")


def test_task_data_keeps_block_images_and_folds_aligned():
    _, data = image_split(100, 3)
    index = np.array([5, 0, 42])
    part = data.subset(index)
    np.testing.assert_array_equal(part.block_images, data.block_images[index])
    np.testing.assert_array_equal(part.fold_of, data.fold_of[index])
    with pytest.raises(ValueError, match="block_images"):
        replace(data, block_images=data.block_images[:, :2])
    with pytest.raises(ValueError, match="fold_of"):
        replace(data, fold_of=data.fold_of[:-1])
    with pytest.raises(ValueError, match="two splits"):
        replace(data, test_split=data.fold_of == 0)
    moved = replace(data, fold_of=(data.fold_of + 1) % 3)
    assert moved.fingerprint() != data.fingerprint()  # the folds key the cached models
    assert replace(data, block_images=None).fingerprint() == data.fingerprint()
