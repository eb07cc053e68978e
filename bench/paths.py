"""Where every stage reads and writes, derived from the `paths:` section of params.yaml.

`dvc.yaml` templates the same keys (`${paths.data}`, `${paths.runs}`), so code and pipeline agree
on one layout:

    <data>/<set>/<split>/         data stage: one folder per dataset split
    <runs>/<stage>/<item>/        one folder per stage and pipeline item (e.g. runs/train_ae/vmae)
    <results>/{tables,figures}/   report artefacts
"""

from __future__ import annotations

from pathlib import Path

from bench.config import PathsCfg

SPLITS = ("train", "eval")


def split_dir(paths: PathsCfg, dataset: str, split: str) -> Path:
    """Folder of one materialised split, e.g. `data/shapes/train`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return Path(paths.data) / dataset / split


def run_dir(paths: PathsCfg, stage: str, item: str | None = None) -> Path:
    """Output folder of a stage (and item, for fan-out stages), e.g. `runs/train_ae/vmae`."""
    root = Path(paths.runs) / stage
    return root / item if item else root


def figures_dir(paths: PathsCfg) -> Path:
    return Path(paths.results) / "figures"


def tables_dir(paths: PathsCfg) -> Path:
    return Path(paths.results) / "tables"
