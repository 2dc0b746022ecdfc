"""Fetch the official MNIST / Fashion-MNIST IDX files, checked against known MD5 sums.

URLs and checksums are those torchvision uses (``torchvision/datasets/mnist.py``).
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.request import urlopen

from rnnxbench.registry import UnknownNameError
from rnnxbench.tasks.base import DataUnavailable
from rnnxbench.tasks.sources import resolve_data_dir

TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Download:
    """Where one data set's files live and their MD5 sums."""

    base_url: str
    files: tuple[tuple[str, str], ...]  # (file name, md5)


DOWNLOADS: dict[str, Download] = {
    "mnist": Download(
        "https://ossci-datasets.s3.amazonaws.com/mnist/",
        (
            ("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
            ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
            ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
            ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c"),
        ),
    ),
    "fashion-mnist": Download(
        "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
        (
            ("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
            ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
            ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
            ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310"),
        ),
    ),
}


def md5sum(path: str | os.PathLike[str]) -> str:
    """The MD5 hex digest of a file's bytes."""
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(name: str, data_dir: str | os.PathLike[str] | None = None) -> list[Path]:
    """Fetch data set ``name`` into ``<data_dir>/<name>/``; return the four file paths.

    Files already present with the right MD5 are kept. Raises DataUnavailable when the
    network is unreachable and ValueError when a fetched file has the wrong checksum.
    """
    if name not in DOWNLOADS:
        raise UnknownNameError("dataset", name, list(DOWNLOADS))
    spec = DOWNLOADS[name]
    folder = resolve_data_dir(data_dir) / name
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for filename, md5 in spec.files:
        target = folder / filename
        if not (target.is_file() and md5sum(target) == md5):
            _fetch(spec.base_url + filename, target, md5, name, folder)
        paths.append(target)
    return paths


def _fetch(url: str, target: Path, md5: str, name: str, folder: Path) -> None:
    partial = target.with_name(target.name + ".part")
    h = hashlib.md5()
    try:
        with urlopen(url, timeout=TIMEOUT_S) as response, open(partial, "wb") as out:
            for chunk in iter(lambda: response.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
    except OSError as exc:  # URLError, HTTPError, timeouts and connection errors
        partial.unlink(missing_ok=True)
        urls = "\n  ".join(DOWNLOADS[name].base_url + f for f, _ in DOWNLOADS[name].files)
        raise DataUnavailable(
            f"could not download {url} ({type(exc).__name__}: {exc}). Fetch these files "
            f"elsewhere and put them in {folder.resolve()}/:\n  {urls}"
        ) from exc
    if h.hexdigest() != md5:
        partial.unlink(missing_ok=True)
        raise ValueError(
            f"{url}: MD5 {h.hexdigest()} does not match the expected {md5}; file discarded"
        )
    partial.replace(target)
