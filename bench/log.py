"""Logging for every stage: `logging` on rank 0 (a null handler elsewhere) and dvclive metrics.

Never monkey-patches print; stages call `get_logger(__name__)` and `setup_logging(rank)` once.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def setup_logging(rank: int = 0) -> None:
    """Route `logging` to stderr on rank 0; silence other ranks (DiT's convention)."""
    root = logging.getLogger()
    for h in list(root.handlers):
        root.removeHandler(h)
    if rank == 0:
        handler: logging.Handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter(FORMAT, datefmt="%H:%M:%S"))
        root.setLevel(logging.INFO)
    else:
        handler = logging.NullHandler()
    root.addHandler(handler)


def get_logger(name: str) -> logging.Logger:
    return logging.getLogger(name)


def open_live(out_dir: str | Path, resume: bool):
    """A dvclive `Live` writing under `out_dir` (metrics.json + plots), without touching git or dvc.yaml.

    The stage declares `<out_dir>/metrics.json` and `<out_dir>/plots` in dvc.yaml itself, so dvclive is
    told not to write its own dvc.yaml nor to save experiments.
    """
    os.environ.setdefault("DVCLIVE_LOGLEVEL", "WARNING")
    from dvclive import Live

    return Live(dir=str(out_dir), resume=resume, save_dvc_exp=False, dvcyaml=None, report=None)
