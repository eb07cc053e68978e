"""Atomic writers for stage outputs, and the `params.json` / `meta.json` every stage leaves.

A stage that dies half-way must never leave a file that looks complete: each writer goes to a
temporary name in the same folder and `os.replace`s it into place (atomic on POSIX).
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from bench.config import as_dict
from bench.layout import META_FILE, PARAMS_FILE


@contextmanager
def atomic_path(path: str | Path):
    """Yield a temporary path beside `path`; on success move it onto `path`, else delete it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600; outputs are meant to be shared and read
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _write(path: str | Path, writer: Callable[[Path], None]) -> Path:
    with atomic_path(path) as tmp:
        writer(tmp)
    return Path(path)


def write_json(path: str | Path, obj: Any) -> Path:
    """Write `obj` (dataclasses allowed) as indented JSON, atomically."""
    text = json.dumps(as_dict(obj), indent=2, sort_keys=False, default=_json_default) + "\n"
    return _write(path, lambda p: p.write_text(text))


def write_npy(path: str | Path, array: np.ndarray) -> Path:
    """Write one array as `.npy`, atomically (memory-mappable by readers)."""

    def save(p: Path) -> None:
        with p.open("wb") as f:
            np.save(f, array, allow_pickle=False)

    return _write(path, save)


def save_figure(fig, path: str | Path, dpi: int = 150) -> Path:
    """Save a matplotlib figure atomically; the format follows the suffix (.png, .pdf)."""
    path = Path(path)
    return _write(path, lambda p: fig.savefig(p, dpi=dpi, bbox_inches="tight", format=path.suffix[1:]))


def save_figures(fig, stem: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Save a figure once per format: `stem.png` to look at, `stem.pdf` for papers (each written atomically)."""
    stem = Path(stem)
    return [save_figure(fig, stem.with_name(f"{stem.name}.{ext}")) for ext in formats]


def _json_default(o: Any) -> Any:
    if isinstance(o, (np.integer, np.floating)):
        return o.item()
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


def git_sha() -> str:
    """The repository's HEAD commit, or 'unknown' outside a git checkout."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return out.stdout.strip()


class StageRecord:
    """Collects what `meta.json` reports about a stage run: code version, software, wall time.

    Usage: `rec = StageRecord(); ...work...; rec.write(out_dir, record_dir, cfg, **extra)`. The resolved
    sub-config (`params.json`, a function of params alone) goes beside the outputs; `meta.json` (wall time, git
    SHA, host: different on every run) goes to `record_dir` (`bench.layout.record_dir`), outside anything a later
    stage depends on, so the same inputs give the same output hashes.
    """

    def __init__(self) -> None:
        self.start = time.perf_counter()

    def write(self, out_dir: str | Path, record_dir: str | Path, cfg: Any, world_size: int = 1, **extra: Any) -> None:
        import torch  # here, not at the top: report stages write files through this module without needing torch

        write_json(Path(out_dir) / PARAMS_FILE, cfg)
        meta = {
            "git_sha": git_sha(),
            "torch": torch.__version__,
            "python": platform.python_version(),
            "host_cpu_count": os.cpu_count(),
            # The CPU numbers depend on both: oneDNN and ATen pick kernels by instruction set and split their
            # reductions by thread, so a different thread count or CPU gives (slightly) different weights.
            "cpu_threads": torch.get_num_threads(),
            "cpu_capability": torch.backends.cpu.get_cpu_capability(),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "world_size": world_size,
            "wall_time_s": round(time.perf_counter() - self.start, 3),
            **extra,
        }
        write_json(Path(record_dir) / META_FILE, meta)
