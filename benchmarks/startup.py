"""Stage start-up: seconds from a fresh interpreter to the stage module imported (where `main` begins its work).

Every DVC stage is a new process, so its imports are paid once per stage: about 80 times in the default run. For
each stage of dvc.yaml this times `python -c "import MODULE"` in a fresh process, several times, and prints the
median. With `--baseline DIR` (another checkout of the project, e.g. `git worktree add /tmp/old <commit>`), each
stage's module in that checkout (read from *its* dvc.yaml, paired by stage name) is timed in turn with this one
(A B A B ...), so a drift of the shared machine hits both, and the ratio baseline / this is printed per stage and for
the sum over the stages of a default run (fan-out stages weighted by their item count).

Run from the repository root:
    .venv/bin/python -m benchmarks.startup --baseline /tmp/old
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def stage_modules(checkout: Path) -> dict[str, tuple[str, int]]:
    """Stage name -> (module its cmd runs, how many stages it stands for in that checkout's default params)."""
    stages = yaml.safe_load((checkout / "dvc.yaml").read_text())["stages"]
    params = yaml.safe_load((checkout / "params.yaml").read_text())
    out = {}
    for name, spec in stages.items():
        body = spec.get("do", spec)
        module = re.match(r"python -m (\S+)", body["cmd"]).group(1)
        count = 1
        if "foreach" in spec:  # e.g. ${autoencoders.names}: the number of items in the checkout's params
            node = params
            for key in spec["foreach"].strip("${}").split("."):
                node = node[key]
            count = len(node)
        out[name] = (module, count)
    return out


def import_seconds(module: str, cwd: Path) -> float:
    """Wall seconds of `python -c "import MODULE"` in a fresh process run from `cwd` (its code shadows others)."""
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", f"import {module}"], cwd=cwd, check=True, capture_output=True)
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", type=Path, help="another checkout of the project to compare with")
    p.add_argument("--runs", type=int, default=5, help="timed imports per module (after one untimed)")
    args = p.parse_args()
    ours = stage_modules(ROOT)
    theirs = stage_modules(args.baseline) if args.baseline else {}
    total_ours = total_theirs = 0.0
    print(f"{'stage':<18} {'x':>3} {'module':<28} {'s':>6}" + (f" {'baseline s':>11} {'ratio':>6}" if theirs else ""))
    for stage, (module, count) in ours.items():
        times, base = [], []
        for r in range(args.runs + 1):
            t = import_seconds(module, ROOT)
            b = import_seconds(theirs[stage][0], args.baseline) if stage in theirs else None
            if r:  # the first round warms the page cache for both
                times.append(t)
                if b is not None:
                    base.append(b)
        s = statistics.median(times)
        total_ours += s * count
        line = f"{stage:<18} {count:>3} {module:<28} {s:>6.2f}"
        if base:
            b = statistics.median(base)
            total_theirs += b * theirs[stage][1]
            line += f" {b:>11.2f} {b / s:>5.2f}x"
        print(line)
    print(f"\nsum over the default run's stage processes: {total_ours:.0f} s", end="")
    if theirs:
        print(f"; baseline {total_theirs:.0f} s; ratio {total_theirs / total_ours:.2f}x")
    else:
        print()


if __name__ == "__main__":
    main()
