"""The judges' training budget, chosen on the val split: `judges.train.steps` swept, every point a real judges stage.

Run: `python -m bench.judge_sweep [--steps 500 1000 1500]` from the repository root after `dvc repro data`.

Each point runs, in a scratch project under `runs/sweeps/judge-steps/steps=<N>/` whose params.yaml is the
repository's with `judges.train.steps` changed (data: the repository's own), the stages that make and test the
instrument, each its own module in a subprocess: `bench.train_judges`, `bench.reference`, `bench.validate_metrics`,
`analysis.table_validation`. Points resume: a finished point is read back, not run again.

The choice rests on the val split only (`SWEEP_RULE`, fixed before the numbers are seen): every member's val
accuracy against `judges.min_accuracy`. The metric-validation verdicts (eval split against its reference) are
reported beside it, to show what the choice does to the instrument, and never pick the value: a budget tuned until
the validation passes would be tuned on the test. Writes `docs/sweeps/judge-steps.{csv,md}`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from bench import layout
from bench.config import load_params
from bench.scratch import scratch_params
from bench.scratch import write_report as write_sweep_report

ROOT = Path(__file__).resolve().parents[1]
NAME = "judge-steps"
STAGES = ("bench.train_judges", "bench.reference", "bench.validate_metrics", "analysis.table_validation")
SWEEP_RULE = (
    "the smallest budget at which every member reaches judges.min_accuracy on the val split (the suite's own bar for "
    "a judge whose metrics count as evidence); if none does, the largest tried"
)


def run_point(raw: dict, project: Path, steps: int) -> None:
    """The four stages in `project`, unless a finished point with the same params is there already."""
    params = scratch_params(raw, project, {"judges.train.steps": steps})
    done = layout.metric_validation(project / "runs").is_file()
    if done and yaml.safe_load((project / "params.yaml").read_text()) == params:
        return
    if done:
        raise ValueError(
            f"{project} holds a finished point made with other params (params.yaml changed since): delete the folder "
            "to run it again"
        )
    project.mkdir(parents=True, exist_ok=True)
    (project / "params.yaml").write_text(yaml.safe_dump(params))
    env = {**os.environ, "PYTHONPATH": str(ROOT), "MPLBACKEND": "Agg"}
    for module in STAGES:
        subprocess.run([sys.executable, "-m", module], cwd=project, env=env, check=True)


def read_point(project: Path, steps: int) -> list[dict]:
    """One row per judge member: val accuracy overall and per set, its plateau reading, and the point's
    metric-validation counts (eval split; the same on every member's row)."""
    runs = project / "runs"
    members = json.loads((layout.run_dir(runs, "judges") / layout.METRICS_FILE).read_text())["members"]
    meta = json.loads((layout.record_dir(runs, "judges") / layout.META_FILE).read_text())
    verdicts = json.loads(layout.metric_validation(runs).read_text())
    cells = [v for per_set in verdicts["sets"].values() for per_dist in per_set.values() for v in per_dist.values()]
    expected = [v for v in cells if v["expected"]]
    fd = [v for per_set in verdicts["sets"].values() for v in per_set.get(f"fd[{layout.JUDGE}]", {}).values()]
    rows = []
    for m in members:
        plateau = meta["plateau"][m["member"]]
        rows.append(
            {
                "steps": steps,
                "member": m["member"],
                "val_accuracy": m["val_accuracy"],
                **{f"val_{s}": v["accuracy"] for s, v in m["val_per_set"].items()},
                "loss_tail_improvement": plateau["relative_improvement"],
                "plateaued": plateau["plateaued"],
                "stage_s": meta["wall_time_s"],
                "validation_passes": sum(v["passes"] for v in expected),
                "validation_cells": len(expected),
                "fd_judge_passes": sum(v["passes"] for v in fd if v["expected"]),
                "fd_judge_cells": sum(v["expected"] for v in fd),
                "validated": ", ".join(sorted(k for k, v in verdicts["metrics"].items() if v["validated"])) or "none",
            }
        )
    return rows


def choose(rows: list[dict], min_accuracy: float) -> int:
    """`SWEEP_RULE` applied to the member rows of every point."""
    budgets = sorted({r["steps"] for r in rows})
    ok = [s for s in budgets if all(r["val_accuracy"] >= min_accuracy for r in rows if r["steps"] == s)]
    return ok[0] if ok else budgets[-1]


def write_report(rows: list[dict], chosen: int, min_accuracy: float) -> None:
    intro = [
        f"# Sweep `{NAME}`: `judges.train.steps`",
        "",
        "`python -m bench.judge_sweep`: each point is the judges stage and the stages that test it, in a scratch "
        "project (`bench/judge_sweep.py`). One row per judge member. `val_accuracy`: class accuracy on the val split, "
        "both sets pooled (what `judges.min_accuracy` is read against); `val_<set>`: each set's; "
        "`loss_tail_improvement`: the relative fall of the smoothed training loss over the last fifth (plateaued "
        "below 0.01); `stage_s`: the judges stage's wall time (all members); `validation_*`: metric-validation "
        "cells passed / expected over every metric, disturbance and set, on the eval split (reported, never used "
        "for the choice); `validated`: the metrics that pass everything expected of them.",
    ]
    rule = (
        f"{SWEEP_RULE} (min_accuracy {min_accuracy}). Budgets not listed were not tried: a smaller one between them "
        "may also meet the bar."
    )
    write_sweep_report(NAME, rows, intro, rule, f"steps = {chosen}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, nargs="+", default=[500, 1000, 1500], help="the budgets tried")
    args = parser.parse_args()
    params = load_params()
    raw = yaml.safe_load(Path("params.yaml").read_text())
    rows = []
    for steps in args.steps:
        project = layout.run_dir(params.paths, "sweeps", NAME, f"steps={steps}").resolve()
        run_point(raw, project, steps)
        rows += read_point(project, steps)
    chosen = choose(rows, params.judges.min_accuracy)
    write_report(rows, chosen, params.judges.min_accuracy)
    print(f"chosen: judges.train.steps = {chosen} (docs/sweeps/{NAME}.md)")


if __name__ == "__main__":
    main()
