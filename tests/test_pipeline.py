"""dvc.yaml behaves: `dvc repro data` runs once, a second repro does nothing, and only edits to the keys a
stage declares re-run it. Runs the real DVC CLI in a scratch copy of the project (no git needed)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bench.dist import AVX2_KERNELS
from tests.conftest import ROOT, tiny_raw
from tests.pretrained_items import save_module

pytestmark = pytest.mark.slow


def dvc(cwd: Path, *args: str, ok: bool = True) -> str:
    """Run the DVC CLI in `cwd`; its output, asserting it succeeded (or, with `ok=False`, that it failed)."""
    # Without the CPU-kernel variables conftest exports for this process: each stage must pin its own kernels
    # (runtime.cpu_isa) before its first tensor op, and fails loudly where it does not (bench.dist.pin_cpu_kernels).
    env = {k: v for k, v in os.environ.items() if k not in AVX2_KERNELS}
    env.update(DVC_NO_ANALYTICS="1", PYTHONPATH=str(ROOT))
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    out = subprocess.run([sys.executable, "-m", "dvc", *args], cwd=cwd, env=env, capture_output=True, text=True)
    assert (out.returncode == 0) == ok, out.stdout + out.stderr
    return out.stdout + out.stderr


def scratch_project(folder: Path, shrink: bool) -> Path:
    """A copy of the project's code and pipeline in `folder`, on the tiny preset (smaller still if `shrink`)."""
    for name in ("bench", "analysis", "autoencoders", "diffusion", "presets", "notebooks"):
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "dvc.yaml", folder / "dvc.yaml")
    raw = tiny_raw(Path("."))  # repo-relative paths inside the scratch project
    raw["paths"] = {k: Path(v).name for k, v in raw["paths"].items()}
    if shrink:
        raw["data"]["sets"]["shapes"].update(num_train=8, num_eval=4)
        raw["data"]["sets"]["faces"].update(num_train=8, num_eval=4)
    (folder / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    dvc(folder, "init", "--no-scm", "-q")
    return folder


@pytest.fixture
def project(tmp_path) -> Path:
    return scratch_project(tmp_path, shrink=True)


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


# One trained item per model code path. The others train the same code with other loss weights (dae: ae plus input
# noise; vmae-mse, -lm, -lm-reg, -release: vmae's), and each item costs eight stages of process start-up: about two
# minutes of CI. The tiny preset keeps all nine; test_stages trains dae and vmae-release through train_ae, and
# test_autoencoders builds every item of params.yaml.
E2E_ITEMS = ("ae", "vae", "sd-vae", "vmae")


def check_swd_has_intervals(runs: Path, raw: dict) -> None:
    """Tables 1 and 3 print swd[pyramid] with an interval around the eval stages' own value, and its pairs."""
    intervals = json.loads((runs / "intervals" / "intervals.json").read_text())
    for part, stage in (("recon", "eval_ae"), ("gen", "eval_gen")):
        for dataset, columns in intervals[part].items():
            block = columns["swd[pyramid]"]
            for item, entry in block["values"].items():
                metrics = json.loads((runs / stage / item / "metrics.json").read_text())
                value = (metrics["reconstruction"] if part == "recon" else metrics)[dataset]["swd[pyramid]"]
                assert entry["value"] == pytest.approx(value, rel=1e-9)
                assert entry["low"] < entry["value"] < entry["high"], (part, dataset, item, entry)
            assert len(block["values"]) < 2 or block["pairs"], (part, dataset)


def test_tiny_pipeline_end_to_end(tmp_path):
    """CI runs the whole pipeline at tiny scale: every stage, through DVC, then nothing left to do."""
    project = scratch_project(tmp_path, shrink=False)
    raw = yaml.safe_load((project / "params.yaml").read_text())
    raw["autoencoders"]["names"] = list(E2E_ITEMS)
    raw["autoencoders"]["variants"] = {k: v for k, v in raw["autoencoders"]["variants"].items() if k in E2E_ITEMS}
    raw["diffusion"]["items"] = {k: v for k, v in raw["diffusion"]["items"].items() if k in E2E_ITEMS}
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    dvc(project, "repro")
    status = dvc(project, "status")
    assert "up to date" in status, status
    runs = project / "runs"
    raw = yaml.safe_load((project / "params.yaml").read_text())
    for item in raw["autoencoders"]["names"]:
        assert (runs / "autoencoders" / item / "model.pt").is_file()
    for item, sets in raw["diffusion"]["items"].items():
        for dataset in sets:
            assert (runs / "sample" / item / dataset / "samples.npy").is_file()
    assert (project / "results" / "figures" / "dataset_samples.png").is_file()
    assert (project / "results" / "paper_check.md").is_file()
    shown = dvc(project, "metrics", "show")
    assert "runs/featnets/metrics.json" in shown and "runs/eval_ae/vmae/metrics.json" in shown, shown
    check_swd_has_intervals(runs, raw)
    check_same_inputs_same_hashes(project)
    check_edits_rerun_only_their_stages(project)
    execute_notebooks(project)
    entry = {"format": "module", "path": "weights/my-ae", "entry": "tiny_user_ae:build"}
    save_module(project / entry["path"])
    check_adding_an_item_leaves_the_others_up_to_date(project, "my-ae", entry)


def stale_stages(project: Path) -> set[str]:
    """Stages `dvc status` reports as changed (e.g. {"fig_noise", "eval_ae@vmae"})."""
    return set(json.loads(dvc(project, "status", "--json")))


def check_same_inputs_same_hashes(project: Path) -> None:
    """Forcing the data stage again on unchanged params leaves every later stage up to date: its outputs are
    byte-identical and its volatile record (wall time, git SHA) is outside them."""
    dvc(project, "repro", "-f", "-s", "data")
    assert stale_stages(project) == set()


def check_edits_rerun_only_their_stages(project: Path) -> None:
    """A one-line edit makes stale exactly the stages whose code imports the file (STYLE R11)."""

    def after_editing(path: str) -> set[str]:
        file = project / path
        original = file.read_text()
        file.write_text(original + "\n# an edit\n")
        try:
            return stale_stages(project)
        finally:
            file.write_text(original)

    assert after_editing("analysis/fig_noise.py") == {"fig_noise"}  # a figure: that figure only
    # A metric formula: measuring stages only, no training. compress is one: it records each model's reconstruction
    # PSNR at the resolution it encodes (analysis.compress.upscale), with bench.metrics.psnr.
    metric = after_editing("bench/metrics.py")
    assert {"reference", "eval_ae@vmae", "eval_gen@vmae", "validate_metrics", "intervals", "compress@vmae"} <= metric
    measuring = ("reference", "eval_ae@", "proxies@", "eval_gen@", "validate_metrics", "intervals", "compress@")
    assert all(s.startswith(measuring) for s in metric), metric
    dit = after_editing("diffusion/dit.py")  # the DiT: its training and sampling, not the autoencoders
    assert {"train_dit@vmae", "sample@vmae"} <= dit and all(s.startswith(("train_dit@", "sample@")) for s in dit), dit
    assert stale_stages(project) == set()


CHAIN = ("import_ae", "eval_ae", "compress", "extract", "train_dit", "sample", "eval_gen")  # a pretrained item's


def check_adding_an_item_leaves_the_others_up_to_date(project: Path, name: str, entry: dict) -> None:
    """Adding pretrained item `name` (`entry`, its files already in place) to params makes stale its own chain and the
    stages that report over all items, and not one stage of any other item."""
    raw = yaml.safe_load((project / "params.yaml").read_text())
    others = list(raw["autoencoders"]["names"])
    raw["autoencoders"]["names"].append(name)
    raw["autoencoders"]["pretrained"][name] = entry
    raw["diffusion"]["items"][name] = list(raw["diffusion"]["datasets"])[:1]
    (project / "params.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    stale = stale_stages(project)
    assert {f"{stage}@{name}" for stage in CHAIN} <= stale, stale
    assert not [s for s in stale if s.rsplit("@", 1)[-1] in others], stale  # every other item: up to date
    assert only_its_chain_or_reports(stale, name), stale


def only_its_chain_or_reports(stale: set[str], name: str) -> bool:
    """Every stage of `stale` is item `name`'s or a report over all items (no other item's stage)."""
    return all(s.endswith(f"@{name}") or "@" not in s or s.startswith("fig_samples@") for s in stale)


def execute_notebooks(project: Path) -> None:
    """Run every notebook top to bottom against the tiny run's outputs (the README's figures, redrawn)."""
    import nbformat
    from nbclient import NotebookClient

    os.environ["LDMAE_PARAMS"] = str(project / "params.yaml")
    try:
        for path in sorted((project / "notebooks").glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            NotebookClient(
                nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
            ).execute()
            images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
            assert images, f"{path.name} drew nothing"
    finally:
        del os.environ["LDMAE_PARAMS"]
