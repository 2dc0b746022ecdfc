"""UCR/UEA time-series classification sets, read offline with aeon.

aeon ships a few archive sets inside its package (``aeon/datasets/data``): among them
GunPoint, ItalyPowerDemand, ArrowHead, OSULeaf (univariate), BasicMotions and JapaneseVowels
(multivariate; JapaneseVowels of variable length). Source ``aeon`` reads those copies; source
``ts`` reads ``<data_dir>/<name>/<name>_TRAIN.ts`` and ``_TEST.ts`` (or the same files
directly in ``data_dir``) for any other set of the archive. Nothing is downloaded.

The series become ``(N, T, C)`` sequences (one step per time point, the channels as its
values). Each channel is standardised with the mean and standard deviation of the training
split, then variable-length series are zero-padded at the end to the longest one, as in the
NeuroView paper (zero is then the channel mean). Classes are the sorted distinct labels.

``split = "own"`` (default) keeps the archive's train/test split: :attr:`TaskData.test_split`
marks the test samples and the harness's folds become repeats (new seeds) on that split.
``split = "kfold"`` pools both parts for the profile's stratified k-fold. Within each part the
samples are shuffled (seeded) so that any prefix of the test set, such as the explained
samples, mixes the classes. The sets have no ground truth: they are scored by test accuracy
and by ground-truth-free metrics (deletion, time_analysis).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnnxbench.registry import TASKS
from rnnxbench.tasks.base import DataUnavailable, InputSpec, Task, TaskData
from rnnxbench.tasks.sources import resolve_data_dir
from rnnxbench.validate import Options

SOURCES = ("aeon", "ts")
SPLITS = ("own", "kfold")


def aeon_data_dir() -> Path:
    """The folder of the archive sets bundled with aeon."""
    try:
        import aeon.datasets
    except ImportError as exc:  # pragma: no cover - aeon is a dependency
        raise DataUnavailable("the ucr task reads .ts files with aeon: pip install aeon") from exc
    return Path(aeon.datasets.__file__).resolve().parent / "data"


def _is_classification(path: Path) -> bool:
    """Whether a .ts file's header declares class labels (not regression targets)."""
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if line.lower().startswith("@classlabel"):
                return line.split()[1].lower() == "true"
            if line.lower().startswith("@data"):
                break
    return False


def bundled_sets() -> list[str]:
    """Classification sets with both splits bundled in aeon (names as in the archive)."""
    root = aeon_data_dir()
    return sorted(p.name for p in root.iterdir()
                  if (p / f"{p.name}_TRAIN.ts").is_file() and (p / f"{p.name}_TEST.ts").is_file()
                  and _is_classification(p / f"{p.name}_TRAIN.ts"))


def _ts_files(dataset: str, source: str, data_dir: str | None) -> tuple[Path, Path]:
    if source == "aeon":
        folder = aeon_data_dir() / dataset
        train, test = folder / f"{dataset}_TRAIN.ts", folder / f"{dataset}_TEST.ts"
        if not (train.is_file() and test.is_file() and _is_classification(train)):
            raise DataUnavailable(
                f"UCR/UEA classification set {dataset!r} is not bundled with aeon (bundled: "
                f"{', '.join(bundled_sets())}); put {dataset}_TRAIN.ts and {dataset}_TEST.ts "
                f"in <data_dir>/{dataset}/ and use source = \"ts\"")
        return train, test
    root = resolve_data_dir(data_dir)
    for folder in (root / dataset, root):
        train, test = folder / f"{dataset}_TRAIN.ts", folder / f"{dataset}_TEST.ts"
        if train.is_file() and test.is_file():
            return train, test
    raise DataUnavailable(f"no {dataset}_TRAIN.ts and {dataset}_TEST.ts in {root / dataset} "
                          f"or {root} (the UCR/UEA archive's .ts files; nothing is downloaded)")


def _read_ts(path: Path) -> tuple[list[np.ndarray], np.ndarray]:
    """Series ``(C, L_i)`` float64 and their string labels from one .ts file."""
    from aeon.datasets import load_from_ts_file

    X, y = load_from_ts_file(str(path))
    series = [np.asarray(x, dtype=np.float64) for x in X]
    return series, np.asarray(y).astype(str)


def to_sequences(series: list[np.ndarray], mean: np.ndarray, std: np.ndarray,
                 n_steps: int) -> np.ndarray:
    """``(N, n_steps, C)`` float32: standardised per channel, zero-padded at the end.

    Missing values (NaN, as in some archive sets) become 0, the channel mean.
    """
    out = np.zeros((len(series), n_steps, len(mean)), dtype=np.float32)
    for i, x in enumerate(series):
        z = (x[:, :n_steps].T - mean) / std
        out[i, : z.shape[0]] = np.nan_to_num(z, nan=0.0)
    return out


@TASKS.register("ucr")
class UCRTask(Task):
    """A UCR/UEA classification set: the archive's own train/test split (or k-fold).

    Options: ``dataset`` (archive name, e.g. ``GunPoint``), ``split`` (``own`` or ``kfold``).
    Sources: ``aeon`` (the sets bundled with aeon) or ``ts`` (.ts files in the data folder).
    ``max_images > 0`` caps each split's number of sequences.
    """

    description = "UCR/UEA time-series classification (aeon's bundled sets or .ts files)"
    has_ground_truth = False

    parameter_constraints = {"dataset": [str], "split": [Options(str, SPLITS)]}

    @classmethod
    def source_choices(cls) -> list[str]:
        return list(SOURCES)

    def __init__(self, dataset: str = "GunPoint", split: str = "own", **options: Any):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        super().__init__(dataset=dataset, split=split, **options)
        self.dataset, self.split = str(dataset), split

    def build(self, source: str = "aeon", data_dir: str | None = None, max_images: int = 0,
              seed: int = 0) -> TaskData:
        if source not in SOURCES:
            raise ValueError(f"ucr source must be one of {', '.join(SOURCES)}, got {source!r}")
        train_file, test_file = _ts_files(self.dataset, source, data_dir)
        if not _is_classification(train_file):
            raise ValueError(f"{train_file} holds a regression set (no @classLabel true): "
                             "the ucr task classifies")
        rng = np.random.default_rng(seed)
        parts = []
        for path in (train_file, test_file):
            series, labels = _read_ts(path)
            order = rng.permutation(len(series))
            if max_images > 0:
                order = order[:max_images]
            parts.append(([series[i] for i in order], labels[order]))
        (train_x, train_y), (test_x, test_y) = parts
        classes = np.unique(np.concatenate([train_y, test_y]))
        stacked = np.concatenate(train_x, axis=1)  # (C, sum of lengths)
        mean, std = np.nanmean(stacked, axis=1), np.nanstd(stacked, axis=1)
        std = np.where(std > 0, std, 1.0)
        n_steps = max(x.shape[1] for x in train_x + test_x)
        X = to_sequences(train_x + test_x, mean, std, n_steps)
        y = np.searchsorted(classes, np.concatenate([train_y, test_y])).astype(np.int64)
        test = np.zeros(len(y), dtype=bool)
        test[len(train_y):] = True
        lengths = sorted({x.shape[1] for x in train_x + test_x})
        spec = InputSpec(n_steps=n_steps, step_dim=X.shape[2], step_shape=(X.shape[2],),
                         n_classes=len(classes), bounds=(float(X.min()), float(X.max())),
                         background=0.0)  # the standardised mean (and the padding)
        origin = "aeon" if source == "aeon" else f"ts:{train_file.parent}"
        return TaskData(name=self.dataset, X=X, y=y, spec=spec, source=origin,
                        n_images=len(y), test_split=test if self.split == "own" else None,
                        meta={"dataset": self.dataset, "split": self.split,
                              "classes": classes.tolist(), "n_train": len(train_y),
                              "n_test": len(test_y), "lengths": [lengths[0], lengths[-1]],
                              "padded": len(lengths) > 1})
