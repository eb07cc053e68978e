"""The pyramid SWD of many image sets against one reference: the reference's side computed per call (as before)
against once per seed (`bench.metrics.pyramid_swd_against`, what `validate_metrics` now does), timed in one run.

`validate_metrics` scores about 230 disturbed sets per dataset against one fixed reference set, all with one seed;
each `pyramid_swd` call built the reference's pyramid, descriptors and sorted projections again. The baseline here
is that call (`pyramid_swd`, the one-shot path through `bench.swd.swd`, which streams both sides on every call as
before); the candidate keeps one `pyramid_swd_against` scorer (`bench.swd.SwdAgainst`). Both score the same sets
and must give identical values.

Sets: the first `--images` images of a finished run's `eval` split of each dataset against as many of its train
split (`--run DIR`, a checkout whose `data` stage has run; default: here), disturbed by Gaussian noise at a few
levels, with the committed `metrics.swd` and the stage's default threads. Variants run in turn per set (A B A B
...) so that a drift of the shared machine hits both; figures are medians over sets of seconds per call;
ratio = baseline / candidate (above 1: the candidate is faster).

Run from the repository root (about 1 min on 2 cores): .venv/bin/python -m benchmarks.swd_reference --run DIR
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

from bench.config import load_params
from bench.disturbances import disturb
from bench.metrics import pyramid_swd, pyramid_swd_against
from bench.splits import open_split, uint8_array


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--run", type=Path, default=Path("."), help="a checkout whose data stage has run")
    p.add_argument("--images", type=int, default=500, help="images per set (validate_metrics: metrics.validate.images)")
    p.add_argument("--sets", type=int, default=6, help="disturbed sets scored per dataset")
    return p.parse_args()


def timed(fn) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn()
    return time.perf_counter() - start, value


def main() -> None:
    args = parse_args()
    if args.sets < 2:
        raise SystemExit("--sets must be >= 2: the first kept call builds the reference side and is timed apart")
    os.chdir(args.run)  # params.yaml's relative paths name the run's data
    params = load_params()
    cfg = params.metrics.swd
    print(f"SWD {cfg}, {args.images} images per set, {args.sets} sets per dataset, run {args.run.resolve()}")
    print(f"{'dataset':<8} {'per call (s)':>13} {'kept (s)':>9} {'ratio':>6}")
    for dataset in params.data.sets:
        reference = uint8_array(open_split(params.paths, dataset, "train"), args.images)
        clean = uint8_array(open_split(params.paths, dataset, "eval"), args.images)
        levels = np.linspace(0.0, 1.0, args.sets)
        sets = [disturb("gaussian_noise", clean, float(lv), 0) if lv > 0 else clean for lv in levels]
        scorer = pyramid_swd_against(reference, cfg)  # builds the reference side on its first call
        fresh, kept = [], []
        for x in sets:
            t_fresh, v_fresh = timed(lambda: pyramid_swd(x, reference, cfg, params.seed))  # noqa: B023
            t_kept, v_kept = timed(lambda: scorer(x, params.seed))  # noqa: B023
            if v_fresh != v_kept:
                raise SystemExit(f"{dataset}: the kept reference side changed the value ({v_fresh} vs {v_kept})")
            fresh.append(t_fresh)
            kept.append(t_kept)
        a, b = statistics.median(fresh), statistics.median(kept[1:])  # the first kept call builds the side
        first = f"(the first kept call, which builds the side: {kept[0]:.3f} s)"
        print(f"{dataset:<8} {a:>13.3f} {b:>9.3f} {a / b:>5.2f}x   {first}")


if __name__ == "__main__":
    main()
