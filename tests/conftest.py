import pytest


@pytest.fixture
def run_dirs(tmp_path):
    """Fresh cache and results folders for one end-to-end run."""
    return {"cache_dir": tmp_path / "cache", "results_dir": tmp_path / "results"}
