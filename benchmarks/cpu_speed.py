"""What pays on the CPU: one training step of the default-scale models under each candidate setting, against the
setting the pipeline uses today, timed in the same run.

Models and batches are the committed `params.yaml` (the CPU default): the convolutional autoencoder (AE objective,
`autoencoders.conv`) at `data.resolution` with `autoencoders.train.batch_size`, and the DiT (`diffusion.model`) on
its latent grid with `diffusion.train.batch_size`. One step is the loss forward, backward and an AdamW update, as in
`bench/loop.py`. Candidates:

- conv AE: `channels_last` (NHWC activations and kernels, oneDNN's preferred layout);
- conv AE and DiT: bf16 autocast (`train.precision: bf16`, which `bench.loop` applies on the CPU too); shown for
  information: the default run trains fp32, because on the val split bf16 moved the conv AE's PSNR by more than
  fp32's two-seed gap (`python -m autoencoders.sweep precision`, docs/sweeps/precision.md);
- DiT: `torch.compile` (inductor's C++ backend), compile time reported apart.

Variants run in turn (A B A B ...) so that a drift of the shared machine hits all of them; each figure is the median
over rounds, and the ratio is baseline time / variant time (above 1: the variant is faster).

Run from the repository root (about 3 min on 2 cores): .venv/bin/python -m benchmarks.cpu_speed
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from contextlib import nullcontext

import torch

from autoencoders import build_autoencoder
from bench.config import load_params
from diffusion.dit import build_dit
from diffusion.objective import flow_loss

Step = Callable[[], None]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--rounds", type=int, default=5, help="timed rounds (one step of every variant per round)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default, as the pipeline)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile variant (slow to compile)")
    return p.parse_args()


def conv_step(channels_last: bool, bf16: bool) -> Step:
    """A training step of the default conv AE; `channels_last` puts weights and images in NHWC."""
    params = load_params()
    torch.manual_seed(0)
    model = build_autoencoder("ae", params.autoencoders, None, image_size=params.data.resolution)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    res, batch = params.data.resolution, params.autoencoders.train.batch_size
    x = torch.rand(batch, 3, res, res).mul(2).sub(1).contiguous(memory_format=fmt)

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            loss = model.loss({"image": x, "label": torch.zeros(batch, dtype=torch.long)}, 0)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    return step


def dit_step(compiled: bool, bf16: bool) -> tuple[Step, float]:
    """A training step of the default DiT (class-conditional, 10 classes); returns (step, compile seconds)."""
    params = load_params()
    cfg = params.diffusion
    side = params.data.resolution // 8
    torch.manual_seed(0)
    model = build_dit(
        cfg.model.size, input_size=side, in_channels=params.autoencoders.conv.latent_channels, num_classes=10,
        class_dropout_prob=cfg.model.class_dropout_prob, qk_norm=cfg.model.qk_norm, use_rope=cfg.model.use_rope,
        use_swiglu=cfg.model.use_swiglu, use_rmsnorm=cfg.model.use_rmsnorm,
    ).train()  # fmt: skip
    net = torch.compile(model) if compiled else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    x1 = torch.randn(cfg.train.batch_size, params.autoencoders.conv.latent_channels, side, side)
    y = torch.randint(0, 10, (cfg.train.batch_size,))
    obj = cfg.objective

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else nullcontext():
            loss = flow_loss(net, x1, y, t_dist=obj.t_dist, t_mean=obj.t_mean, t_std=obj.t_std)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    t0 = time.perf_counter()
    step()  # the first call compiles (and warms up the eager variants)
    return step, time.perf_counter() - t0


def race(variants: dict[str, Step], rounds: int) -> dict[str, float]:
    """Median seconds per step of each variant, timed in turn (A B C A B C ...) after one untimed round."""
    times: dict[str, list[float]] = {name: [] for name in variants}
    for r in range(rounds + 1):
        for name, step in variants.items():
            t0 = time.perf_counter()
            step()
            if r:
                times[name].append(time.perf_counter() - t0)
    return {name: statistics.median(t) for name, t in times.items()}


def report(title: str, medians: dict[str, float], baseline: str) -> None:
    print(f"\n{title}")
    print(f"{'variant':<28} {'ms/step':>9} {'speed-up vs ' + baseline:>24}")
    for name, s in medians.items():
        print(f"{name:<28} {1000 * s:>9.1f} {medians[baseline] / s:>23.2f}x")


def main() -> None:
    args = parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.rounds} rounds")
    conv = {
        "NCHW fp32 (today)": conv_step(channels_last=False, bf16=False),
        "channels_last fp32": conv_step(channels_last=True, bf16=False),
        "NCHW bf16 autocast": conv_step(channels_last=False, bf16=True),
    }
    report("conv AE training step (default scale)", race(conv, args.rounds), "NCHW fp32 (today)")
    dit = {"eager fp32 (today)": dit_step(compiled=False, bf16=False)[0]}
    dit["eager bf16 autocast"] = dit_step(compiled=False, bf16=True)[0]
    if not args.no_compile:
        dit["compiled fp32"], compile_s = dit_step(compiled=True, bf16=False)
        print(f"\ntorch.compile of the DiT step: {compile_s:.1f} s (first call, paid once per stage process)")
    report("DiT training step (default scale)", race(dit, args.rounds), "eager fp32 (today)")


if __name__ == "__main__":
    main()
