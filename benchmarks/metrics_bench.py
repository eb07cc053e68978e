"""Throughput of the metric suite on CPU, and its overhead against torch-fidelity's own `calculate_metrics`.

Run: `python benchmarks/metrics_bench.py` (about a minute on the shared 2-core machine, one thread; prints a table).

For 32 and 64 px, on synthetic images and UNTRAINED feature networks (timings do not depend on training):
- "full set": per-image pixel metrics + the own perceptual distance on (original, reconstruction) pairs, judge
  features of both sets, then FD / sFD / IS / KID / precision / recall (`compute_generation_metrics`);
  images/s counts image pairs;
- "suite FD+KID+PRC" vs "torch-fidelity": the same judge, the same images, the same three metrics on the pool
  features, once through this suite (`extract_features` + `bench.metrics`) and once through
  `torch_fidelity.calculate_metrics(feature_extractor="judge")`; the ratio is suite time / torch-fidelity time.
Each timing is the best of several runs (REPEATS, RATIO_REPEATS), because the machine is shared.
"""

from __future__ import annotations

import time

import torch
import torch.nn.functional as F
import torch_fidelity
from threadpoolctl import threadpool_limits
from torch.utils.data import Dataset

from bench import metrics as M
from bench.featnets import JUDGE_NET, PERCEPTUAL_NET, PerceptualDistance, build_featnet
from bench.features import build_extractor, extract_features
from bench.images import to_uint8_image

RESOLUTIONS = (32, 64)
NUM_IMAGES = 256
BATCH = 64
NUM_CLASSES = 10
REPEATS = 2  # full-set runs
# One thread for torch (OpenMP) and numpy/scipy (OpenBLAS): on the shared 2-core machine two threads stall on each
# other whenever another process holds a core (measured: 32 px full set 0.9 s quiet, 16 s under others' load with
# 2 threads, 1.2 s with 1).
THREADS = 1
RATIO_REPEATS = 5  # interleaved suite / torch-fidelity pairs: the ratio needs both to see a quiet moment
KID = dict(kid_subsets=100, kid_subset_size=NUM_IMAGES)
GEN = dict(is_splits=10, prc_neighborhood=3, seed=2020, **KID)


class UInt8Images(Dataset):
    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


def synthetic_pairs(size: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Smooth random images in [-1, 1] (N, 3, size, size) and noisy 'reconstructions' of them."""
    g = torch.Generator().manual_seed(seed)
    x = F.interpolate(torch.rand(NUM_IMAGES, 3, 8, 8, generator=g), size=size, mode="bilinear") * 2 - 1
    return x, (x + 0.1 * torch.randn(x.shape, generator=g)).clamp(-1, 1)


def best_time(fn, *args, repeats: int = 1) -> tuple[float, object]:
    """(best wall time over `repeats` runs in seconds, the last run's result)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn(*args)
        times.append(time.perf_counter() - start)
    return min(times), result


def full_set(x, y, perceptual, extractor) -> None:
    per_image: dict[str, list[torch.Tensor]] = {}
    for xb, yb in zip(x.split(BATCH), y.split(BATCH), strict=True):
        for k, v in M.reconstruction_metrics(xb, yb, perceptual).items():
            per_image.setdefault(k, []).append(v)
    M.summarise(per_image)
    real = extract_features(extractor, (to_uint8_image(b) for b in x.split(BATCH)))
    fake = extract_features(extractor, (to_uint8_image(b) for b in y.split(BATCH)))
    M.compute_generation_metrics(M.reference_from_features(real, "judge", extractor.identity), fake, **GEN)


def suite_fd_kid_prc(real_u8, fake_u8, extractor) -> dict[str, float]:
    real = extract_features(extractor, real_u8.split(BATCH))[M.POOL]
    fake = extract_features(extractor, fake_u8.split(BATCH))[M.POOL]
    kid, _ = M.kernel_distance(fake, real, KID["kid_subsets"], KID["kid_subset_size"], seed=GEN["seed"])
    precision, recall = M.precision_recall(fake, real, GEN["prc_neighborhood"])
    fd = M.frechet_distance(M.feature_stats(real), M.feature_stats(fake))
    return {"fd": fd, "kid": kid, "precision": precision, "recall": recall}


def torch_fidelity_fd_kid_prc(real_u8, fake_u8, judge) -> dict[str, float]:
    return torch_fidelity.calculate_metrics(
        input1=UInt8Images(fake_u8),
        input2=UInt8Images(real_u8),
        feature_extractor="judge",
        judge_network=judge,
        fid=True,
        kid=True,
        prc=True,
        cuda=False,
        cache=False,
        verbose=False,
        save_cpu_ram=True,  # no DataLoader worker processes: the suite does not spawn any either
        batch_size=BATCH,
        rng_seed=GEN["seed"],
        **KID,
    )


def bench_resolution(size: int) -> tuple:
    """Timings at one resolution: (size, full-set s, suite s, torch-fidelity s, values agree)."""
    judge = build_featnet(JUDGE_NET, NUM_CLASSES, size)
    perceptual = PerceptualDistance(build_featnet(PERCEPTUAL_NET, NUM_CLASSES, size))
    x, y = synthetic_pairs(size, seed=size)
    with torch.no_grad():
        full, _ = best_time(full_set, x, y, perceptual, build_extractor("judge", judge_network=judge), repeats=REPEATS)
    real_u8, fake_u8 = to_uint8_image(x), to_uint8_image(y)
    pool_only = build_extractor("judge", features=(M.POOL,), judge_network=judge)
    suite = tf = float("inf")
    for _ in range(RATIO_REPEATS):  # interleaved, so both paths see the same background load
        t_suite, ours = best_time(suite_fd_kid_prc, real_u8, fake_u8, pool_only)
        t_tf, theirs = best_time(torch_fidelity_fd_kid_prc, real_u8, fake_u8, judge)
        suite, tf = min(suite, t_suite), min(tf, t_tf)
    keys = {"fd": "frechet_inception_distance", "kid": "kernel_inception_distance_mean"}
    keys |= {"precision": "precision", "recall": "recall"}
    agree = all(abs(ours[k] - theirs[t]) <= 1e-4 * max(1.0, abs(ours[k])) for k, t in keys.items())
    return size, full, suite, tf, agree


def main() -> None:
    torch.manual_seed(0)
    with threadpool_limits(limits=THREADS):  # threadpoolctl ships with scikit-learn (pinned in requirements.lock)
        rows = [bench_resolution(size) for size in RESOLUTIONS]
    threads, runs = THREADS, f"best of {REPEATS} (full set) / {RATIO_REPEATS} (suite vs tf)"
    print(f"metric suite on CPU ({threads} threads), N = {NUM_IMAGES} image pairs, {runs}")
    header = ("px", "full set s", "full img/s", "suite FD+KID+PRC s", "torch-fidelity s", "suite / tf", "same values")
    print(" | ".join(header))
    for size, full, suite, tf, agree in rows:
        cells = (
            size,
            f"{full:.2f}",
            f"{NUM_IMAGES / full:.1f}",
            f"{suite:.2f}",
            f"{tf:.2f}",
            f"{suite / tf:.2f}",
            agree,
        )
        print(" | ".join(str(c).rjust(len(h)) for c, h in zip(cells, header, strict=True)))


if __name__ == "__main__":
    main()
