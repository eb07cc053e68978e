"""A tiny model and dataset driven through `bench.loop.train`, shared by the loop tests.

Run as a script (`python tests/loop_worker.py OUT_DIR STEPS DELAY`) it trains in its own process, so a
test can SIGKILL it mid-run; `ddp_worker` is the entry point for the two-process gloo test.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

from bench.config import PlateauCfg, RuntimeCfg, TrainCfg
from bench.dist import cleanup, setup
from bench.loop import train

RUNTIME = RuntimeCfg(device="cpu", tf32=False, cudnn_benchmark=False, cpu_threads=1, cpu_isa="avx2", compile_dit=False)


def train_cfg(steps: int, ema: float = 0.9, accum: int = 1, batch: int = 8) -> TrainCfg:
    return TrainCfg(
        steps=steps, batch_size=batch, grad_accum=accum, lr=1e-2, lr_schedule="cosine", warmup_steps=2,
        weight_decay=0.01, betas=(0.9, 0.95), grad_clip=1.0, ema_decay=ema, precision="fp32",
        ckpt_every=3, log_every=2, num_workers=0, plateau=PlateauCfg(smoothing=0.9, tail=0.2, threshold=0.01),
    )  # fmt: skip


class Points(Dataset):
    """y = A x + noise, fixed by a seed; `delay` seconds per item slow the run down for the kill test."""

    def __init__(self, n: int = 64, delay: float = 0.0) -> None:
        g = torch.Generator().manual_seed(123)
        self.x = torch.randn(n, 6, generator=g)
        self.y = self.x @ torch.randn(6, 3, generator=g)
        self.delay = delay

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        if self.delay:
            time.sleep(self.delay)
        return {"x": self.x[i], "y": self.y[i]}


def make_model() -> nn.Module:
    torch.manual_seed(0)
    # Dropout and the noise in `loss` use the global RNG: resume must restore it to match bitwise.
    return nn.Sequential(nn.Linear(6, 16), nn.GELU(), nn.Dropout(0.2), nn.Linear(16, 3))


def loss(model: nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
    x = batch["x"] + 0.01 * torch.randn_like(batch["x"])
    err = model(x) - batch["y"]
    return {"loss": err.pow(2).mean(), "mae": err.abs().mean().detach()}


def run(out_dir: str, steps: int, delay: float = 0.0, ema: float = 0.9, accum: int = 1):
    info = setup(RUNTIME, seed=5)
    return train(make_model(), loss, Points(delay=delay), train_cfg(steps, ema, accum), out_dir, seed=5, dist=info)


def ddp_worker(rank: int, world: int, port: int, out_dir: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world))
    os.environ["LOCAL_RANK"] = str(rank)
    info = setup(RUNTIME, seed=5)
    res = train(make_model(), loss, Points(), train_cfg(6, ema=0.0), Path(out_dir) / f"r{rank}", seed=5, dist=info)
    torch.save(res.model.state_dict(), Path(out_dir) / f"rank{rank}.pt")
    cleanup()


if __name__ == "__main__":
    run(sys.argv[1], int(sys.argv[2]), float(sys.argv[3]))
