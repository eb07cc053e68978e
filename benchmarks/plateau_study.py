"""Plateau study: how many steps the default models need before `bench.plateau` calls their training plateaued.

Each (item, budget) trains in its own scratch project (`<work>/<tag>/`, `bench.scratch` as the sweeps use: params.yaml
with the budget, the device and one CPU thread set, every one validated before anything starts; the repository's
data and perceptual network) by the stage modules themselves, in parallel, until a deadline; a run still going then
is killed and left out. Autoencoders anneal with a cosine schedule, so every budget is its own run. The DiT's
learning rate is constant after warm-up, so one long run cut at T is the run of T steps: the chain
`autoencoders.train ae` -> `diffusion.extract ae` -> `diffusion.train ae` gives r(T) for every T from one history.

Needs `data/` and `runs/featnets/perceptual.pt` in the checkout (`dvc repro featnets`). Outside DVC on purpose: it
trains models at budgets the pipeline never uses, to choose a budget, and its outputs are a report.

Outputs (`--out`, default docs/plateau): `plateau_study.json.gz` (the plateau records of every run's meta.json and
each phase's per-step loss history, from its last checkpoint) and `plateau_study.md` (the tables).

Run: .venv/bin/python -m benchmarks.plateau_study --device cuda --deadline 470
     .venv/bin/python -m benchmarks.plateau_study --summarise docs/plateau/plateau_study.json.gz   (tables only)
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import torch
import yaml

from autoencoders.sweep import flat
from bench.ckpt import latest_checkpoint
from bench.config import PlateauCfg, parse_params
from bench.plateau import plateau, smooth
from bench.scratch import scratch_params

ITEMS = {"ae": "ae", "vmae": "vmae", "sdvae": "sd-vae"}  # option name -> autoencoder item
DIT_CUTS = (300, 600, 1000, 2000, 3000, 4000, 6000, 8000, 10000, 15000, 20000)


def study_params(root: Path, overrides: dict, device: str, project: Path | None = None) -> dict:
    """params.yaml of `root` with `overrides` (nested mapping), the device and 1 CPU thread set, and the runs and
    results folders moved into `project` (`bench.scratch`, as the sweeps); validated.

    One thread: the runs share the machine's cores, and OpenMP spin-waiting under oversubscription slows a step
    many times over (benchmarks/ae_bench.py measured 4x on 2 cores).
    """
    raw = yaml.safe_load((root / "params.yaml").read_text())
    changes = flat({"runtime": {"device": device, "cpu_threads": 1}, **overrides})
    out = scratch_params(raw, project or root, changes)
    parse_params(out, source=f"plateau study {overrides}")  # a bad budget fails here, before any training
    return out


def plan(args: argparse.Namespace) -> dict[str, tuple[dict, list[list[str]]]]:
    """{tag: (overrides, stage commands run in order)} for every requested run."""
    runs = {}
    for opt, item in ITEMS.items():
        for steps in getattr(args, opt):
            runs[f"{opt}_{steps}"] = (
                {"autoencoders": {"train": {"steps": steps, "ckpt_every": 1000}}},
                [["autoencoders.train", item]],
            )
    if args.dit:
        runs[f"dit_{args.dit}"] = (
            {
                "autoencoders": {"train": {"steps": args.dit_ae_steps, "ckpt_every": 1000}},
                "diffusion": {"train": {"steps": args.dit, "ckpt_every": 1000, "log_every": 100}},
            },
            [["autoencoders.train", "ae"], ["diffusion.extract", "ae"], ["diffusion.train", "ae"]],
        )
    return runs


def collect(folder: Path) -> dict:
    """The plateau records of every meta.json and the loss history of every phase's last checkpoint in a copy."""
    metas = {
        str(p.parent.relative_to(folder)): json.loads(p.read_text()).get("plateau")
        for p in sorted((folder / "runs" / "records").rglob("meta.json"))
    }
    histories = {}
    for ckpt_dir in sorted((folder / "runs" / "work").rglob("ckpt")):
        last = latest_checkpoint(ckpt_dir)
        if last is not None:
            state = torch.load(last, map_location="cpu", weights_only=True)
            histories[str(ckpt_dir.parent.relative_to(folder))] = {
                "loss": state["loss_history"].tolist(),
                "step_ms_median": 1000 * float(state["step_seconds"].median()),
            }
    return {"plateau": metas, "history": histories}


def run_study(args: argparse.Namespace) -> dict:
    root = Path.cwd()
    if not (root / "runs/featnets/perceptual.pt").is_file():
        raise SystemExit("runs/featnets/perceptual.pt is missing: run `dvc repro featnets` first")
    runs = plan(args)
    work = Path(args.work).resolve()
    params = {tag: study_params(root, overrides, args.device, work / tag) for tag, (overrides, _) in runs.items()}
    if not (root / "data").is_dir():
        subprocess.run([sys.executable, "-m", "bench.data"], cwd=root, check=True)
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", MPLBACKEND="Agg", PYTHONPATH=str(root))
    procs, queues, logs = {}, {}, {}
    for tag, (_, commands) in runs.items():
        folder = work / tag  # a scratch project: its own params.yaml and runs/, the repository's data
        (folder / "runs").mkdir(parents=True)
        (folder / "runs/featnets").symlink_to(root / "runs/featnets", target_is_directory=True)
        (folder / "params.yaml").write_text(yaml.safe_dump(params[tag], sort_keys=False))
        queues[tag] = list(commands)
        logs[tag] = open(work / f"{tag}.log", "w")  # noqa: SIM115 - open for the subprocesses' whole life
    deadline = time.time() + args.deadline
    status = {}
    while time.time() < deadline and (queues or procs):
        for tag in list(procs):
            rc = procs[tag].poll()
            if rc is not None:
                del procs[tag]
                if rc != 0:
                    status[tag], queues[tag] = f"failed (rc {rc}, see {work / tag}.log)", []
        for tag in [t for t in queues if t not in procs]:
            if queues[tag]:
                cmd = queues[tag].pop(0)
                procs[tag] = subprocess.Popen(
                    [sys.executable, "-m", *cmd], cwd=work / tag, env=env, stdout=logs[tag], stderr=subprocess.STDOUT
                )
            else:
                del queues[tag]
                status.setdefault(tag, "finished")
        time.sleep(1)
    for tag, proc in procs.items():
        proc.kill()
        status[tag] = f"killed at the deadline ({args.deadline} s)"
    device = torch.cuda.get_device_name() if args.device == "cuda" else "cpu"
    return {
        "device": device,
        "torch": torch.__version__,
        "status": status,
        "runs": {tag: collect(work / tag) for tag in runs},
    }


def cuts(losses: list[float], cfg: PlateauCfg, steps: tuple[int, ...] = DIT_CUTS) -> list[dict]:
    """The plateau verdict of a constant-learning-rate history cut at each T in `steps` (those it reaches)."""
    return [plateau(losses[:t], cfg) | {"cut": t} for t in steps if t <= len(losses)]


def finished(run: dict, phase: str) -> bool:
    """Did the autoencoder phase `runs/work/train_ae/ITEM/PHASE` finish (its stage wrote the phase's verdict)?"""
    item, name = phase.split("/")[-2:]
    return any(key.endswith(f"autoencoders/{item}") and name in (rec or {}) for key, rec in run["plateau"].items())


def summarise(study: dict, cfg: PlateauCfg) -> str:
    """The study's tables as Markdown."""
    lines = [
        f"Device: {study['device']} (torch {study['torch']}). Rule: EMA {cfg.smoothing}, last {cfg.tail:.0%} "
        f"of the steps, plateaued below {cfg.threshold:.0%} relative improvement.",
        "",
        "| run | phase | steps | ms / step (median) | improvement over the tail | plateaued | final loss (EMA) |",
        "|:--|:--|--:|--:|--:|:--|--:|",
    ]
    if "made_by" in study:
        lines[1:1] = ["", f"Made by {study['made_by']}."]
    for tag, run in study["runs"].items():
        done = [
            (phase, hist) for phase, hist in run["history"].items() if "train_dit" not in phase and finished(run, phase)
        ]
        if study["status"].get(tag, "finished") != "finished":
            lines.append(f"| {tag} | | | | | {study['status'][tag]} | |")
        for phase, hist in done:
            verdict = plateau(hist["loss"], cfg)
            lines.append(
                f"| {tag} | {phase.rsplit('/', 1)[-1]} | {verdict['steps']} | {hist['step_ms_median']:.1f} | "
                f"{verdict['relative_improvement']:.4f} | {verdict['plateaued']} | "
                f"{smooth(hist['loss'], cfg.smoothing)[-1]:.5g} |"
            )
    for tag, run in study["runs"].items():
        for phase, hist in run["history"].items():
            if "train_dit" not in phase:
                continue
            note = "" if study["status"].get(tag, "finished") == "finished" else " (cut short at the deadline)"
            lines += [
                "",
                f"DiT `{phase}`, constant learning rate, {len(hist['loss'])} steps{note}: the run cut at T.",
                "",
                "| T | improvement over the tail | plateaued | loss (EMA) at T |",
                "|--:|--:|:--|--:|",
            ]
            lines += [
                f"| {c['cut']} | {c['relative_improvement']:.4f} | {c['plateaued']} | {c['smoothed_end']:.4f} |"
                for c in cuts(hist["loss"], cfg)
            ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    budgets = lambda s: [int(x) for x in s.split(",") if x]  # noqa: E731
    ap.add_argument("--device", default="cuda", choices=["cpu", "cuda"])
    ap.add_argument("--ae", type=budgets, default=[2700, 9000, 24000], help="conv AE budgets (steps)")
    ap.add_argument("--vmae", type=budgets, default=[2700, 9000, 24000], help="VMAE budgets")
    ap.add_argument("--sdvae", type=budgets, default=[2700, 9000], help="SD-VAE budgets")
    ap.add_argument("--dit", type=int, default=10000, help="DiT steps per dataset (0: none)")
    ap.add_argument("--dit-ae-steps", type=int, default=900, help="steps of the AE whose latents the DiT learns")
    ap.add_argument("--deadline", type=float, default=470.0, help="seconds before unfinished runs are killed")
    ap.add_argument("--work", default="/tmp/plateau_study", help="folder for the runs' checkout copies")
    ap.add_argument("--out", default="docs/plateau")
    ap.add_argument("--summarise", help="a plateau_study.json.gz to tabulate again; trains nothing")
    args = ap.parse_args()
    cfg = parse_params(yaml.safe_load(Path("params.yaml").read_text()), source="params.yaml").autoencoders.train.plateau
    if args.summarise:
        study = json.loads(gzip.decompress(Path(args.summarise).read_bytes()))
    else:
        study = run_study(args)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "plateau_study.json.gz").write_bytes(gzip.compress(json.dumps(study).encode()))
    table = summarise(study, cfg)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "plateau_study.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
