"""Tasks and data sources; importing this module registers the built-ins.

Downloads: ``rnnxbench.tasks.download.download`` (not re-exported here, so that the name
``rnnxbench.tasks.download`` stays the module).
"""

from rnnxbench.tasks.arith import ArithmeticTask, make_arith
from rnnxbench.tasks.base import DataUnavailable, InputSpec, Task, TaskData
from rnnxbench.tasks.idx import read_idx, write_idx
from rnnxbench.tasks.maj import MajorityTask, create_majority_data, to_image, valid_n_steps
from rnnxbench.tasks.seq import SequenceTask
from rnnxbench.tasks.sources import (
    DigitsSource,
    FashionMnistSource,
    Images,
    MnistSource,
    load_source,
    resolve_data_dir,
)
from rnnxbench.tasks.synthetic import SyntheticTask
from rnnxbench.tasks.ucr import UCRTask, bundled_sets

__all__ = [
    "ArithmeticTask",
    "DataUnavailable",
    "DigitsSource",
    "FashionMnistSource",
    "Images",
    "InputSpec",
    "MajorityTask",
    "MnistSource",
    "SequenceTask",
    "SyntheticTask",
    "Task",
    "TaskData",
    "UCRTask",
    "bundled_sets",
    "create_majority_data",
    "load_source",
    "make_arith",
    "read_idx",
    "resolve_data_dir",
    "to_image",
    "valid_n_steps",
    "write_idx",
]
