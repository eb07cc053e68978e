"""Distributed setup: torchrun + plain DDP, with a single-process CPU fallback (nanoGPT's shape).

`setup(runtime)` reads RANK / LOCAL_RANK / WORLD_SIZE from the torchrun environment; without them it
runs one process. The backend is NCCL on CUDA and gloo on CPU (tests run two gloo processes).
TF32 and cudnn.benchmark are params applied here, never at import time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from bench.config import RuntimeCfg


@dataclass(frozen=True)
class DistInfo:
    rank: int
    local_rank: int
    world_size: int
    device: torch.device

    @property
    def is_main(self) -> bool:
        return self.rank == 0


# What `runtime.cpu_isa: avx2` sets. Each library reads its variable when it first runs a kernel, not at import, so
# setting them at the start of a stage's main() works (checked: the same weights as exporting them before Python).
# MKL's CBWR ("conditional numerical reproducibility") is Intel's own switch for results that agree across CPUs; on
# this host it changed nothing in a conv + linear training probe (those run in oneDNN and ATen), so it is there for
# the ops that do reach MKL, and whether it is read lazily is unverified.
AVX2_KERNELS = {"ATEN_CPU_CAPABILITY": "avx2", "ONEDNN_MAX_CPU_ISA": "AVX2", "MKL_CBWR": "AVX2"}


def pin_cpu_kernels(cpu_isa: str) -> None:
    """Apply `runtime.cpu_isa` before the process's first tensor kernel.

    Args:
        cpu_isa: "avx2" (set `AVX2_KERNELS` and check that ATen took them) or "native" (leave every library its
            choice).

    Raises:
        RuntimeError: ATen already chose its kernels (a tensor op ran before this call), or the CPU lacks AVX2;
            the message names the fix.
    """
    if cpu_isa == "native":
        return
    os.environ.update(AVX2_KERNELS)
    chosen = torch.backends.cpu.get_cpu_capability()  # ATen fixes it at its first kernel; "DEFAULT" without AVX2
    if chosen != "AVX2":
        raise RuntimeError(
            f"runtime.cpu_isa is 'avx2' but torch's CPU kernels are {chosen}: either a tensor op ran before the "
            "stage applied its runtime (call bench.dist.pick_device first) or this CPU has no AVX2 (set "
            "runtime.cpu_isa: native; its numbers then differ from AVX2 hosts')"
        )


def pick_device(runtime: RuntimeCfg, local_rank: int = 0) -> torch.device:
    """The suite's one device rule: `runtime.device` ("auto" takes CUDA when visible), the local rank's GPU.

    Every stage whose torch arithmetic makes its numbers calls it (directly or through `setup`) before its first
    tensor op, so it also pins the CPU kernels (`pin_cpu_kernels`). compress_raw and import_ae do not: their torch
    calls only move and convert pixels or run a shape probe, and their numbers come from numpy or the files read.

    Raises:
        ValueError: `cuda` asked for where no CUDA device is visible.
        RuntimeError: the CPU kernels cannot be pinned as `runtime.cpu_isa` asks.
    """
    pin_cpu_kernels(runtime.cpu_isa)
    if runtime.device == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "runtime.device is 'cuda' but no CUDA device is visible: set runtime.device to 'auto' or 'cpu'"
        )
    if runtime.device == "cpu" or not torch.cuda.is_available():
        return torch.device("cpu")
    return torch.device("cuda", local_rank)


def setup(runtime: RuntimeCfg, seed: int) -> DistInfo:
    """Initialise the process group if launched by torchrun; return rank, world size and device.

    Also seeds torch's global RNGs (CPU and CUDA) with `seed`, the same on every rank: models are built right
    after this call, so their initial weights are a function of `params.seed` (and identical across ranks
    before DDP broadcasts rank 0's). The training loop re-seeds per rank for masking and noise.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = pick_device(runtime, local_rank)  # first: it pins the CPU kernels before any torch call
    torch.manual_seed(seed)
    if device.type == "cuda":
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = runtime.tf32
        torch.backends.cudnn.allow_tf32 = runtime.tf32
        torch.backends.cudnn.benchmark = runtime.cudnn_benchmark
    if runtime.cpu_threads > 0:
        torch.set_num_threads(runtime.cpu_threads)
    if world > 1 and not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(rank=rank, local_rank=local_rank, world_size=world, device=device)


def cleanup() -> None:
    if dist.is_initialized():
        dist.destroy_process_group()


def reduce_mean(values: dict[str, float], info: DistInfo) -> dict[str, float]:
    """Average scalar metrics over ranks (called only at log intervals, never per step)."""
    if info.world_size == 1 or not values:
        return values
    keys = sorted(values)
    t = torch.tensor([values[k] for k in keys], dtype=torch.float64, device=info.device)
    dist.all_reduce(t)
    return {k: float(v) / info.world_size for k, v in zip(keys, t.tolist(), strict=True)}


def barrier(info: DistInfo) -> None:
    if info.world_size > 1:
        dist.barrier()
