"""MAJ: three images side by side, two of the label's class; read column slice by slice.

The construction follows the thesis' reference code ``create_majority_data`` (same random
stream, same order of draws); the ground truth marks the two class-consistent blocks.
``split = "sequences"`` (default, the thesis) builds the sequences per source split and leaves
the folds to the harness, so test blocks show images that training sequences also show;
``split = "images"`` deals the images into the profile's folds first and builds each fold's
sequences from its own images (:func:`image_fold_layout`), so no image crosses a fold.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.registry import SOURCES, TASKS
from rnnxbench.tasks.base import InputSpec, Task, TaskData
from rnnxbench.tasks.sampling import apportion, stratified_subset
from rnnxbench.tasks.sources import Images, load_source
from rnnxbench.validate import Interval, Options, SequenceOf

N_CLASSES = 10
N_BLOCKS = 3
#: The thesis' per-split seeds; a source with one split ("all") uses the train seed.
SPLIT_SEEDS = {"train": 0, "val": 1, "test": 3, "all": 0}
#: ``split`` option: folds over sequences (the thesis) or over base images
SPLITS = ("sequences", "images")


def create_majority_data(x: np.ndarray, y: np.ndarray, seed: int, *,
                         discard_draw: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Majority composites of images ``x`` (N, H, W) with labels ``y``: ``(N, H, 3W)``, mark.

    For sample j of class c the blocks are [x_j, a random image of class c, a random image
    of another class] in the order of a random permutation; ``mark[j, k]`` is True iff
    block k is of class c. Draws as in the reference code of the 7-fold models;
    ``discard_draw`` reproduces the earlier code's unused ``choice([0, 1, 2], N)`` call.
    """
    x, y = np.asarray(x), np.asarray(y)
    if x.ndim != 3 or y.shape != (len(x),):
        raise ValueError(f"expected images (N, H, W) and labels (N,), got {x.shape}, {y.shape}")
    source, mark = majority_layout(y, seed, discard_draw=discard_draw)
    return np.concatenate([x[source[:, k]] for k in range(N_BLOCKS)], axis=2), mark


def majority_layout(y: np.ndarray, seed: int, *, discard_draw: bool = False
                    ) -> tuple[np.ndarray, np.ndarray]:
    """The draws of :func:`create_majority_data`: ``source`` (N, 3), the image index each
    block of each sample shows, and ``mark`` (N, 3), True for the blocks of the label's class.
    """
    y = np.asarray(y)
    if len(y) and (y.min() < 0 or y.max() >= N_CLASSES):
        raise ValueError(f"labels must be in 0..{N_CLASSES - 1}")
    if len(np.unique(y)) < 2:
        raise ValueError("MAJ needs images of at least two classes")
    rs = np.random.RandomState(seed)
    n = len(y)
    if discard_draw:
        rs.choice([0, 1, 2], n, replace=True)
    # source[j] = image index of each block of sample j; perm[j] = the block permutation
    source = np.repeat(np.arange(n)[:, None], N_BLOCKS, axis=1)
    perm = np.tile(np.arange(N_BLOCKS), (n, 1))
    for c in range(N_CLASSES):
        members = np.flatnonzero(y == c)
        others = np.flatnonzero(y != c)
        fake = rs.choice(others, len(members))
        same = rs.choice(members, len(members)) if len(members) else members
        for j, idx in enumerate(members):
            p = rs.permutation(N_BLOCKS)
            perm[idx] = p
            source[idx] = np.array([idx, same[j], fake[j]])[p]
    return source, perm != 2


def image_fold_layout(y: np.ndarray, n_folds: int, cv_seed: int, *, discard_draw: bool = False
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(source, mark, fold_of)`` of one sequence per image with no image shared by folds.

    The images are dealt into folds by ``StratifiedKFold(n_folds, shuffle=True,
    random_state=cv_seed)`` on their labels (the call the sequence split makes, so each fold
    holds the same sequence indices as there); fold f's sequences are then drawn by
    :func:`majority_layout` from fold f's images alone (ascending order, seed ``f``): own
    image, same-class and other-class partners all from fold f.
    """
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y)
    counts = np.bincount(y, minlength=N_CLASSES)
    if counts[counts > 0].min() < n_folds:
        raise ValueError(f'split = "images" needs every class in every fold: a class has fewer '
                         f"than {n_folds} images (class counts {counts.tolist()}); use fewer "
                         f"folds or more images")
    fold_of = np.empty(len(y), dtype=np.int64)
    skf = StratifiedKFold(n_splits=n_folds, shuffle=True, random_state=cv_seed)
    for f, (_, test) in enumerate(skf.split(np.zeros(len(y)), y)):
        fold_of[test] = f
    source = np.empty((len(y), N_BLOCKS), dtype=np.int64)
    mark = np.empty((len(y), N_BLOCKS), dtype=bool)
    for f in range(n_folds):
        members = np.flatnonzero(fold_of == f)
        fold_source, mark[members] = majority_layout(y[members], f, discard_draw=discard_draw)
        source[members] = members[fold_source]
    return source, mark, fold_of


def pixel_scale(max_value: int) -> np.ndarray:
    """Lookup table ``v -> 2 v / max - 1`` (float32): pixels to [-1, 1] without a float64
    copy of the images (``table[images]``)."""
    return (2.0 * np.arange(max_value + 1) / max_value - 1.0).astype(np.float32)


def valid_n_steps(width: int) -> list[int]:
    """The step counts that cut a ``3 * width`` wide composite into whole, block-aligned slices."""
    total = N_BLOCKS * width
    return [t for t in range(N_BLOCKS, total + 1, N_BLOCKS) if total % t == 0]


def to_sequence(images: np.ndarray, n_steps: int) -> np.ndarray:
    """(N, H, W) -> (N, T, H*w): T column slices of width w = W/T, each flattened row-major."""
    n, h, w_total = images.shape
    w = w_total // n_steps
    return images.reshape(n, h, n_steps, w).transpose(0, 2, 1, 3).reshape(n, n_steps, h * w)


def to_image(values: np.ndarray, spec: InputSpec) -> np.ndarray:
    """(N, T, D) step values -> (N, H, T*w): each step put back at its columns (for heatmaps)."""
    values = np.asarray(values)
    h, w = spec.step_shape[-2:]
    n, t = values.shape[:2]
    if values.shape[1:] != (spec.n_steps, spec.step_dim):
        raise ValueError(f"values of shape {values.shape} do not match {spec}")
    return values.reshape(n, t, h, w).transpose(0, 2, 1, 3).reshape(n, h, t * w)


@TASKS.register("maj")
class MajorityTask(Task):
    """MAJ (thesis): classify the majority class of three images read as column slices.

    Options: ``n_steps`` (12; must divide 3W and be a multiple of 3); ``discard_draw``
    (False, as the reference code that built the 7-fold models; True: the earlier code's
    unused ``choice`` draw); ``split_order`` (how the splits are concatenated before the
    folds are drawn; the reference ``build_cvdataset`` stacks train, test, val); ``split``
    (``"sequences"``: the thesis' per-split construction, folds drawn over the sequences by
    the harness; ``"images"``: the images dealt into the profile's folds first, each fold's
    sequences built from its own images, :attr:`TaskData.fold_of` returned). The per-split
    seeds are the thesis' (train 0, val 1, test 3); ``build``'s ``seed`` only picks the
    ``max_images`` subset, taken (stratified) before any fold is drawn. One sequence per
    image either way; :attr:`TaskData.block_images` indexes the combined images.
    """

    description = "MAJ: majority class of three side-by-side images, read in column slices"
    has_ground_truth = True

    parameter_constraints = {"n_steps": [Interval(int, N_BLOCKS, None)], "discard_draw": [bool],
                             "split_order": [SequenceOf(str)], "split": [Options(str, SPLITS)]}

    @classmethod
    def source_choices(cls) -> list[str]:
        return SOURCES.names()

    @classmethod
    def check_parameters(cls, options: dict[str, Any]) -> None:
        """``n_steps`` is a multiple of the 3 blocks (and must divide 3W, checked on build)."""
        if options.get("n_steps", 12) % N_BLOCKS:
            raise ValueError(f"n_steps = {options['n_steps']} is not a multiple of {N_BLOCKS} "
                             f"(the three images must be cut into whole slices)")

    def __init__(self, n_steps: int = 12, discard_draw: bool = False,
                 split_order: tuple[str, ...] | list[str] = ("train", "test", "val"),
                 split: str = "sequences", **options: Any):
        if split not in SPLITS:
            raise ValueError(f"split must be one of {', '.join(SPLITS)}, got {split!r}")
        super().__init__(n_steps=n_steps, discard_draw=discard_draw,
                         split_order=tuple(split_order), split=split, **options)
        self.n_steps = int(n_steps)
        self.discard_draw = bool(discard_draw)
        self.split_order = tuple(split_order)
        self.split = split
        #: the image split is drawn from the profile's folds (see base.build_task)
        self.needs_folds = split == "images"

    def build(self, source: str, data_dir: str | None = None, max_images: int = 0,
              seed: int = 0, folds: tuple[int, int] | None = None) -> TaskData:
        """MAJ sequences from source ``source``; ``max_images > 0`` uses a stratified subset;
        ``folds = (n_folds, cv_seed)`` is required with ``split = "images"``."""
        return self.build_from_images(load_source(source, data_dir), f"{source}-maj",
                                      max_images=max_images, seed=seed, folds=folds)

    def build_from_images(self, images: Images, name: str, max_images: int = 0,
                          seed: int = 0, folds: tuple[int, int] | None = None) -> TaskData:
        """MAJ data from already loaded images (the splits combined in ``split_order``)."""
        if self.split == "images" and folds is None:
            raise ValueError('split = "images" deals the images into the profile\'s folds: '
                             "build(..., folds=(n_folds, cv_seed)) (rnnxbench.tasks.base."
                             "build_task passes them)")
        height, width = images.image_shape
        choices = valid_n_steps(width)
        if self.n_steps not in choices:
            raise ValueError(
                f"n_steps={self.n_steps} does not cut {N_BLOCKS} images of width {width} into "
                f"equal block-aligned slices; valid n_steps: {', '.join(map(str, choices))}"
            )
        splits = self._ordered_splits(images)
        if max_images > 0:
            budget = apportion([len(y) for _, y in splits.values()], max_images)
            splits = {
                name_: (x[i], y[i])
                for (name_, (x, y)), n in zip(splits.items(), budget, strict=True)
                for i in [stratified_subset(y, int(n), seed)] if n > 0
            }
        x = np.concatenate([x for x, _ in splits.values()])
        y = np.concatenate([y for _, y in splits.values()]).astype(np.int64)
        source, mark, fold_of = self._layout(splits, y, folds)
        composite = np.concatenate([x[source[:, k]] for k in range(N_BLOCKS)], axis=2)
        t = self.n_steps
        scale = pixel_scale(images.max_value)
        w = N_BLOCKS * width // t
        spec = InputSpec(n_steps=t, step_dim=height * w, step_shape=(1, height, w),
                         n_classes=N_CLASSES, bounds=(-1.0, 1.0),
                         background=float(scale[0]))  # pixel 0, the black background
        return TaskData(
            name=name,
            X=scale[to_sequence(composite, t)],
            y=y,
            spec=spec,
            ground_truth=mark,
            step_block=np.repeat(np.arange(N_BLOCKS), t // N_BLOCKS),
            source=images.origin,
            n_images=len(y),
            meta={"image_height": height, "image_width": width, "split": self.split,
                  "splits": {k: len(y) for k, (_, y) in splits.items()}},
            block_images=source,
            fold_of=fold_of,
        )

    def _layout(self, splits: dict[str, tuple[np.ndarray, np.ndarray]], y: np.ndarray,
                folds: tuple[int, int] | None
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(source, mark, fold_of)`` over the combined images ``y`` (see the options)."""
        if self.split == "images":
            n_folds, cv_seed = folds
            return image_fold_layout(y, int(n_folds), int(cv_seed),
                                     discard_draw=self.discard_draw)
        sources, marks, offset = [], [], 0
        for split, (_, part) in splits.items():
            source, mark = majority_layout(part, SPLIT_SEEDS.get(split, 0),
                                           discard_draw=self.discard_draw)
            sources.append(source + offset)
            marks.append(mark)
            offset += len(part)
        return np.concatenate(sources), np.concatenate(marks), None

    def _ordered_splits(self, images: Images) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        known = [s for s in self.split_order if s in images.splits]
        rest = [s for s in images.splits if s not in known]
        return {s: images.splits[s] for s in known + rest}
