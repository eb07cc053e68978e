"""Throughput benchmark of the latent DiT: parameters, training-step time, img/s, FLOPs and utilisation.

Prints one table: the parameter count of DiT-B/1 (LightningDiT-B/1 of the LDMAE paper, ICCV 2025, ~130 M), then
for the chosen size and latent grid one full rectified-flow training step (loss forward, backward, AdamW update):
step time, images/s, FLOPs per step counted with `torch.utils.flop_counter.FlopCounterMode` (forward + backward),
the achieved GFLOP/s and its ratio to a matmul peak measured in the same run (a large `torch.mm` in the step's
precision). On CUDA the ratio is the model FLOP utilisation (MFU) against that measured peak.

Run (CPU default: a small size, 8x8x16 latents, batch 64):
    python benchmarks/dit_bench.py
GPU, paper scale (32x32x16 latents of a 256 px image, f8d16; the release's global batch is 256 on ImageNet and
1024 on CelebA-HQ, so 32 or 128 per GPU on 8 GPUs):
    python benchmarks/dit_bench.py --device cuda --size DiT-B/1 --latent 32 --precision bf16 --batch 64
    python benchmarks/dit_bench.py --device cuda --size DiT-B/1 --latent 32 --precision bf16 --batch 128 --compile
On one 80 GB H100 (2026-11-22, torch 2.11): eager batch 64 used 42 GiB and batch 128 ran out of memory; compiled,
batch 64 took 28 GiB and batch 128 55 GiB. README "GPUs" has the figures; `runtime.compile_dit` does this in
train_dit.

FLOPs are counted on one sample with the math attention backend (the fused CPU attention kernel has no FLOP formula,
the math one decomposes into batched matmuls) and scaled by the batch size; the optimizer update is not counted.
"""

from __future__ import annotations

import argparse

import torch

from bench.efficiency import flops, matmul_peak_gflops, throughput
from diffusion.dit import DIT_MODELS, DiT, build_dit
from diffusion.objective import flow_loss

# The LDMAE ImageNet release's model flags and time distribution (for a representative step, not a result).
RELEASE_FLAGS = dict(qk_norm=True, use_rope=True, use_swiglu=True, use_rmsnorm=True)
T_LOGIT_NORMAL = dict(t_dist="logit_normal", t_mean=0.0, t_std=1.0)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--size", default="DiT-T/1", choices=sorted(DIT_MODELS))
    p.add_argument("--latent", type=int, default=8, help="latent grid side (tokens per side at patch 1)")
    p.add_argument("--channels", type=int, default=16, help="latent channels")
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--num-classes", type=int, default=1000)
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"])
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--iters", type=int, default=5)
    p.add_argument("--threads", type=int, default=0, help="CPU threads (0: torch's default)")
    p.add_argument("--compile", action="store_true", help="torch.compile the model (FLOPs counted uncompiled)")
    return p.parse_args()


def make_batch(args: argparse.Namespace, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    x1 = torch.randn(args.batch, args.channels, args.latent, args.latent, device=device)
    y = torch.randint(0, args.num_classes, (args.batch,), device=device)
    return x1, y


def train_step(model, opt, x1, y, autocast) -> None:
    with autocast():
        loss = flow_loss(model, x1, y, **T_LOGIT_NORMAL)["loss"]
    loss.backward()
    opt.step()
    opt.zero_grad(set_to_none=True)


def count_flops(model: DiT, x1: torch.Tensor, y: torch.Tensor, autocast) -> float:
    """FLOPs of one forward + backward of the whole batch, counted on one sample and scaled (FLOPs are linear in
    the batch: every op is per sample or per token). `bench.efficiency.flops` counts attention through the math
    SDPA backend, which the fused CPU kernel (invisible to the counter) is not."""

    def forward_backward() -> None:
        with autocast():
            loss = flow_loss(model, x1[:1], y[:1], **T_LOGIT_NORMAL)["loss"]
        loss.backward()

    total = flops(forward_backward)
    model.zero_grad(set_to_none=True)
    return total * x1.shape[0]


def main() -> None:
    args = parse_args()
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but CUDA is not available; run with --device cpu")
    dtype = torch.bfloat16 if args.precision == "bf16" else torch.float32
    if args.threads:
        torch.set_num_threads(args.threads)

    def autocast():
        return torch.autocast(device.type, dtype=torch.bfloat16, enabled=args.precision == "bf16")

    with torch.device("meta"):  # shapes only: counting DiT-B/1's parameters needs no memory or init
        b1 = build_dit(
            "DiT-B/1", input_size=32, in_channels=16, num_classes=1000, class_dropout_prob=0.1, **RELEASE_FLAGS
        )
    b1_params = sum(p.numel() for p in b1.parameters())

    torch.manual_seed(0)
    model = build_dit(
        args.size,
        input_size=args.latent,
        in_channels=args.channels,
        num_classes=args.num_classes,
        class_dropout_prob=0.1,
        **RELEASE_FLAGS,
    ).to(device)
    model.train()
    params = sum(p.numel() for p in model.parameters())
    x1, y = make_batch(args, device)
    flops = count_flops(model, x1, y, autocast)

    runner = torch.compile(model) if args.compile else model
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, betas=(0.9, 0.95), weight_decay=0.0)
    ips = throughput(lambda: train_step(runner, opt, x1, y, autocast), args.batch, args.warmup, args.iters, device)
    step_s = args.batch / ips

    peak = matmul_peak_gflops(n=2048 if device.type == "cpu" else 8192, device=device, dtype=dtype) * 1e9
    achieved = flops / step_s
    rows = [
        ("DiT-B/1 parameters", f"{b1_params / 1e6:.1f} M"),
        ("device / precision", f"{device.type} / {args.precision}" + (" / compiled" if args.compile else "")),
        ("threads (CPU)", str(torch.get_num_threads())),
        ("model / latent / batch", f"{args.size} ({params / 1e6:.2f} M) / {args.latent}x{args.latent}x{args.channels} "
         f"({(args.latent // model.config.patch_size) ** 2} tokens) / {args.batch}"),
        ("train step (fwd+bwd+AdamW)", f"{step_s * 1e3:.1f} ms"),
        ("throughput", f"{args.batch / step_s:.1f} img/s"),
        ("FLOPs per step (fwd+bwd)", f"{flops / 1e9:.2f} GFLOP"),
        ("achieved", f"{achieved / 1e9:.1f} GFLOP/s"),
        (f"matmul peak ({args.precision} mm)", f"{peak / 1e9:.1f} GFLOP/s"),
        ("utilisation (MFU vs measured peak)", f"{100 * achieved / peak:.1f} %"),
    ]  # fmt: skip
    if device.type == "cuda":
        rows.append(("peak memory", f"{torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"))
    width = max(len(k) for k, _ in rows)
    print(f"{'quantity':<{width}} | value")
    print(f"{'-' * width}-|-{'-' * 40}")
    for k, v in rows:
        print(f"{k:<{width}} | {v}")


if __name__ == "__main__":
    main()
