"""How many BLAS threads the metric maths should use: numpy's and scipy's OpenBLAS on one thread against two, timed
in the same run on the default scale's shapes.

The evaluation stages do their statistics in numpy/scipy, whose OpenBLAS keeps its own thread pool (torch's
`runtime.cpu_threads` does not reach it), on small matrices: judge features are D = 96 (pool) and 112 (spatial)
for N = 500 images. Kernels timed, each the work of one stage:

- "intervals stage, reconstruction": `bench.intervals.recon_intervals` (Table 1 and Fig. 6, most of the stage) on
  a finished run's own eval_ae features (`--run DIR`, a checkout where `make repro` has run; default: here) with
  `--resamples` resamples (the default run has 300), every number of both sets as the stage computes them;
- "FD bootstrap, synthetic": `bench.intervals.frechet_block` on K = 9 items x M = 3 judges x N = 500 x D = 96
  Gaussian features (one Fig. 6 eps of one set); no run needed;
- "generation metrics": `bench.metrics.compute_generation_metrics` on one judge's features of 500 samples
  (torch-fidelity's FD via scipy's sqrtm, KID, IS, precision/recall): what eval_gen and every `validate_metrics`
  score compute per judge;
- "pyramid SWD": `bench.metrics.pyramid_swd` of two 500-image 32 px sets with the committed `metrics.swd`.

Each (kernel, threads) timing runs in a fresh process, as a stage does (OpenBLAS's thread pool behaves differently
once a process has changed its size: toggling it inside one process showed 2.9x where whole processes showed 5.7x).
The stage code limits itself to one thread (`bench.uncertainty.one_blas_thread`); the 2-thread variant replaces that
limit by two. Variants run in turn (A B A B ...) so that a drift of the shared machine hits both; figures are medians
over rounds of the kernel's own time (imports excluded); ratio = 2-thread time / 1-thread time (above 1: one thread
is faster).

Run from the repository root (about 3 min on 2 cores): .venv/bin/python -m benchmarks.blas_threads
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from bench import intervals, layout, uncertainty
from bench.config import load_params
from bench.intervals import frechet_block, recon_intervals
from bench.metrics import LOGITS, POOL, SPATIAL, compute_generation_metrics, pyramid_swd, reference_from_features
from bench.uncertainty import FrechetAgainst

ITEMS, MEMBERS, IMAGES, POOL_DIM, SPATIAL_DIM, CLASSES = 9, 3, 500, 96, 112, 15


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (every kernel under both settings per round)")
    p.add_argument("--resamples", type=int, default=5, help="bootstrap resamples of the FD computations")
    p.add_argument("--run", type=Path, default=Path("."), help="a checkout whose default run has finished")
    p.add_argument("--child", nargs=2, metavar=("KERNEL", "THREADS"), help=argparse.SUPPRESS)  # one timed call
    return p.parse_args()


def kernels(resamples: int, run: Path) -> dict[str, Callable[[], object]]:
    """Name -> a call doing one stage's work at the default scale."""
    params = load_params(run / "params.yaml")
    params = replace(params, paths=replace(params.paths, runs=str(run / params.paths.runs)))
    members = [layout.judge_name(k) for k in range(params.judges.members)]
    missing = [i for i in params.autoencoders.names if not layout.eval_ae_features(params.paths, i).is_file()]
    if missing:
        raise FileNotFoundError(f"{run} has no eval_ae features for {missing}: run `make repro` there first, or pass "
                                "--run DIR of a finished run")  # fmt: skip
    rng = np.random.default_rng(0)
    feats = rng.normal(size=(ITEMS, MEMBERS, IMAGES, POOL_DIM)).astype(np.float32)  # (K, M, N, D), as eval_ae saves
    refs = [FrechetAgainst(*(lambda x: (x.mean(0), np.cov(x, rowvar=False)))(rng.normal(size=(IMAGES, POOL_DIM))))
            for _ in range(MEMBERS)]  # fmt: skip
    boot = replace(params.metrics.bootstrap, n_resamples=resamples)
    params = replace(params, metrics=replace(params.metrics, bootstrap=boot))
    items = [f"item-{k}" for k in range(ITEMS)]

    def features() -> dict[str, torch.Tensor]:
        return {POOL: torch.from_numpy(rng.normal(size=(IMAGES, POOL_DIM))).float(),
                SPATIAL: torch.from_numpy(rng.normal(size=(IMAGES, SPATIAL_DIM))).float(),
                LOGITS: torch.from_numpy(rng.normal(size=(IMAGES, CLASSES))).float()}  # fmt: skip

    ref, fake, m = reference_from_features(features(), "judge", "synthetic"), features(), params.metrics
    res = params.data.resolution
    images_a, images_b = (rng.integers(0, 256, size=(IMAGES, res, res, 3), dtype=np.uint8) for _ in range(2))
    return {
        "intervals stage, reconstruction": lambda: recon_intervals(params, members),
        "FD bootstrap, synthetic": lambda: frechet_block(feats, refs, items, boot, 0),
        "generation metrics": lambda: compute_generation_metrics(
            ref,
            fake,
            is_splits=m.is_splits,
            kid_subsets=m.kid_subsets,
            kid_subset_size=min(m.kid_subset_size, IMAGES),
            prc_neighborhood=m.prc_neighborhood,
            seed=0,
        ),  # fmt: skip
        "pyramid SWD": lambda: pyramid_swd(images_a, images_b, m.swd, 0),
    }


def child(args: argparse.Namespace) -> None:
    """Time one kernel under `threads` BLAS threads in this process; print the seconds."""
    name, threads = args.child[0], int(args.child[1])
    torch.set_num_threads(1)  # torch's pool is not under test: keep it fixed
    if threads != 1:  # lift the stage code's own one-thread limit
        uncertainty.one_blas_thread = lambda: threadpool_limits(limits=threads, user_api="blas")
        intervals.one_blas_thread = uncertainty.one_blas_thread
    call = kernels(args.resamples, args.run)[name]
    with threadpool_limits(limits=threads, user_api="blas"):
        start = time.perf_counter()
        call()
        print(time.perf_counter() - start)


def timed(args: argparse.Namespace, name: str, threads: int) -> float:
    cmd = [sys.executable, "-m", "benchmarks.blas_threads", "--resamples", str(args.resamples), "--run", str(args.run),
           "--child", name, str(threads)]  # fmt: skip
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return float(out.strip().splitlines()[-1])


def main() -> None:
    args = parse_args()
    if args.child:
        return child(args)
    names = list(kernels(args.resamples, args.run))  # fails early, with the fix, when the run has no outputs
    times: dict[tuple[str, int], list[float]] = {}
    for name in names:
        for _ in range(args.rounds):
            for threads in (1, 2):
                times.setdefault((name, threads), []).append(timed(args, name, threads))
    print(f"BLAS threads, medians of {args.rounds} interleaved rounds, one process each (resamples={args.resamples})")
    print(f"{'kernel':<34}{'1 thread (s)':>14}{'2 threads (s)':>15}{'ratio 2/1':>11}")
    for name in names:
        one, two = (statistics.median(times[(name, t)]) for t in (1, 2))
        print(f"{name:<34}{one:>14.3f}{two:>15.3f}{two / one:>11.2f}")


if __name__ == "__main__":
    main()
