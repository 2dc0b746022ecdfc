import pytest

from rnnxbench.engine.jobs import single_thread


@pytest.fixture(autouse=True, scope="module")
def _one_torch_thread():
    """The test models are tiny: extra intra-op threads only add contention (and much time
    on a loaded machine). The harness runs every job this way too."""
    with single_thread():
        yield


@pytest.fixture
def run_dirs(tmp_path):
    """Fresh cache and results folders for one end-to-end run."""
    return {"cache_dir": tmp_path / "cache", "results_dir": tmp_path / "results"}
