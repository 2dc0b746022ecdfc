"""A run's provenance: package versions and the git revision of the code that ran."""

from __future__ import annotations

import importlib.metadata
import platform
import subprocess
from pathlib import Path

PACKAGES = ["rnnxbench", "torch", "numpy", "pandas", "scikit-learn", "scipy", "mlxtend",
            "seaborn", "matplotlib", "pebble", "captum", "statsmodels", "zennit",
            "quantus"]


def versions() -> dict[str, str]:
    """Python and package versions (absent packages are left out)."""
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def cpu_model() -> str:
    """The CPU's model name (floating-point results of training can differ between CPU
    models: the same run is bit-identical on the same kind of machine)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.lower().startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_revision(path: Path | None = None) -> str:
    """The git commit of the rnnxbench source tree, or ''.

    ``+dirty`` when tracked files of the package itself differ from the commit (results or
    docs written next to it do not count: they do not change what ran).
    """
    where = path or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True,
                             text=True, timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                "."], cwd=where, capture_output=True, text=True,
                               timeout=10).stdout
        return rev + ("+dirty" if dirty.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return ""
