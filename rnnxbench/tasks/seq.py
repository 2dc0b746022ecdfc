"""SEQ (thesis experiment 1): one image read as T column slices; no ground-truth mask."""

from __future__ import annotations

from typing import Any

import numpy as np

from rnnxbench.registry import SOURCES, TASKS
from rnnxbench.tasks.base import InputSpec, Task, TaskData
from rnnxbench.tasks.maj import pixel_scale, to_sequence
from rnnxbench.tasks.sampling import stratified_subset
from rnnxbench.tasks.sources import Images, load_source
from rnnxbench.validate import Interval


def divisors(width: int) -> list[int]:
    return [t for t in range(1, width + 1) if width % t == 0]


@TASKS.register("seq")
class SequenceTask(Task):
    """SEQ: classify one image read as ``n_steps`` column slices (thesis experiment 1).

    Options: ``n_steps`` (7; the thesis used 1, 4 and 7 on 28x28 MNIST; any divisor of the
    image width). There is no ground truth: localisation metrics are ``unsupported`` here,
    the per-step relevance distribution (``step_share``, ``last_step_share``) applies.
    """

    description = "SEQ: one image in column slices (thesis experiment 1), no ground truth"
    has_ground_truth = False

    parameter_constraints = {"n_steps": [Interval(int, 1, None)]}

    @classmethod
    def source_choices(cls) -> list[str]:
        return SOURCES.names()

    def __init__(self, n_steps: int = 7, **options: Any):
        super().__init__(n_steps=n_steps, **options)
        self.n_steps = int(n_steps)

    def build(self, source: str, data_dir: str | None = None, max_images: int = 0,
              seed: int = 0) -> TaskData:
        """SEQ sequences from ``source``; ``max_images > 0`` uses a stratified subset."""
        return self.build_from_images(load_source(source, data_dir), f"{source}-seq",
                                      max_images=max_images, seed=seed)

    def build_from_images(self, images: Images, name: str, max_images: int = 0,
                          seed: int = 0) -> TaskData:
        height, width = images.image_shape
        if self.n_steps not in divisors(width):
            raise ValueError(f"n_steps={self.n_steps} does not divide the image width {width}; "
                             f"valid n_steps: {', '.join(map(str, divisors(width)))}")
        x = np.concatenate([s[0] for s in images.splits.values()])
        y = np.concatenate([s[1] for s in images.splits.values()]).astype(np.int64)
        if max_images > 0:
            keep = stratified_subset(y, max_images, seed)
            x, y = x[keep], y[keep]
        scale = pixel_scale(images.max_value)
        w = width // self.n_steps
        spec = InputSpec(n_steps=self.n_steps, step_dim=height * w, step_shape=(1, height, w),
                         n_classes=int(y.max()) + 1, bounds=(-1.0, 1.0),
                         background=float(scale[0]))  # pixel 0, the black background
        return TaskData(name=name, X=scale[to_sequence(x, self.n_steps)], y=y, spec=spec,
                        source=images.origin, n_images=len(y),
                        meta={"image_height": height, "image_width": width})
