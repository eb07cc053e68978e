"""dvc.yaml behaves: `dvc repro data` runs once, a second repro does nothing, and only edits to the keys a
stage declares re-run it. Runs the real DVC CLI in a scratch copy of the project (no git needed)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.conftest import ROOT, tiny_raw

pytestmark = pytest.mark.slow


def dvc(cwd: Path, *args: str) -> str:
    env = {**os.environ, "DVC_NO_ANALYTICS": "1", "PYTHONPATH": str(ROOT)}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    out = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr
    return out.stdout + out.stderr


@pytest.fixture
def project(tmp_path) -> Path:
    for name in ("bench", "analysis", "autoencoders", "diffusion", "presets"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", tmp_path / "dvc.yaml")
    raw = tiny_raw(Path("."))  # repo-relative paths inside the scratch project
    raw["paths"] = {k: Path(v).name for k, v in raw["paths"].items()}
    raw["data"]["sets"]["shapes"].update(num_train=8, num_eval=4)
    raw["data"]["sets"]["faces"].update(num_train=8, num_eval=4)
    (tmp_path / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    dvc(tmp_path, "init", "--no-scm", "-q")
    return tmp_path


def edit(project: Path, dotted: str, value) -> None:
    raw = yaml.safe_load((project / "params.yaml").read_text())
    *head, last = dotted.split(".")
    node = raw
    for k in head:
        node = node[k]
    node[last] = value
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))


def test_repro_data_then_nothing_then_only_what_changed(project):
    first = dvc(project, "repro", "data")
    assert "Running stage 'data'" in first and (project / "data" / "shapes" / "train" / "images.npy").is_file()
    assert "didn't change, skipping" in dvc(project, "repro", "data")
    edit(project, "data.preview_count", 3)  # read by fig_datasets only
    edit(project, "autoencoders.train.steps", 41)
    assert "didn't change, skipping" in dvc(project, "repro", "data")
    edit(project, "data.resolution", 64)  # read by data
    assert "Running stage 'data'" in dvc(project, "repro", "data")
