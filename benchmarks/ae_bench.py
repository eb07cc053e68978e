"""Efficiency benchmark of the five autoencoders: the paper's Table 2 at paper scale, and training throughput at
the default scale.

Part 1, paper scale (256 px; conv: SD3 layout 128-256-512-512, 2 layers per block, 16 latent channels; VMAE: patch
8, width 192, depth 12 + 12, 12 heads, the release's `mae_for_ldmae_f8d16_prev`): parameters and fp32 MiB of what
encode + decode read, GFLOPs per image counted with FlopCounterMode on the meta device (no compute, exact counts),
one timed encode + decode on the chosen device, the VMAE / SD-VAE ratios beside the paper's 13.4 % and 4.1 %, and
a search over counting conventions for the paper's absolute GFLOPs (17,331.3 and 703.9).

Part 2, default scale (the architectures of `params.yaml` at `data.resolution`, batch `autoencoders.train.batch_size`):
one training step per kind (forward, backward, AdamW), img/s, ms/step, FLOPs per step (forward + backward) and the
achieved GFLOP/s as a fraction of a matmul peak measured in the same run. Perceptual losses use a stand-in (a frozen
random two-layer conv feature distance), not the pipeline's trained perceptual network.

CPU threads default to 1: on a shared 2-core machine under load, OpenMP spin-waiting made a 2-thread training step
4x slower than a 1-thread one (measured: 9.2 s vs 2.1 s for the default conv AE). On an idle machine `--threads 0`.

Run from the repository root (CPU: about 1 min at 1 thread, longer under load): .venv/bin/python -m benchmarks.ae_bench
GPU: .venv/bin/python -m benchmarks.ae_bench --device cuda --infer-batch 32
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import os

import torch
from torch import nn

from autoencoders import build_autoencoder
from bench.config import AutoencodersCfg, ConvArchCfg, Params, ViTArchCfg, load_params
from bench.dist import setup
from bench.efficiency import (
    autoencoder_size,
    encode_decode_gflops,
    host_note,
    matmul_peak_gflops,
    throughput,
    train_step_flops,
    train_step_throughput,
)

KINDS = ("ae", "dae", "vae", "sd-vae", "vmae")
PAPER_SIZE = 256
# official-code-notes.md sections 1.1 and 3: the architectures behind the paper's Table 2.
PAPER_CONV = ConvArchCfg(block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32,
                         latent_channels=16)  # fmt: skip
PAPER_VIT = ViTArchCfg(patch_size=8, width=192, depth=12, heads=12, decoder_width=192, decoder_depth=12,
                       decoder_heads=12, mlp_ratio=4.0, latent_channels=16)  # fmt: skip
# Table 2 of the paper: conv baselines vs VMAE.
PAPER_MB = {"conv": 319.7, "vmae": 42.7}
PAPER_GFLOPS = {"conv": 17_331.3, "vmae": 703.9}
PAPER_RATIO = {"size": 13.4, "gflops": 4.1}  # percent, as printed


class StandInPerceptual(nn.Module):
    """Perceptual-loss stand-in: squared distance of frozen random conv features (3 -> 16 -> 32, stride 2), (B,)."""

    name = "stand-in: frozen random 2-layer conv feature distance"

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.ReLU(), nn.Conv2d(16, 32, 3, 2, 1))
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.net(x) - self.net(y)).pow(2).mean(dim=(1, 2, 3))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    p.add_argument("--threads", type=int, default=1, help="CPU threads; 0: torch's default (see the module docstring)")
    p.add_argument("--infer-batch", type=int, default=1, help="batch of the timed paper-scale encode + decode")
    p.add_argument("--steps", type=int, default=3, help="timed training steps per kind")
    p.add_argument("--warmup", type=int, default=1, help="untimed training steps per kind")
    p.add_argument("--skip-latency", action="store_true", help="skip the timed paper-scale encode + decode")
    return p.parse_args()


def print_table(header: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-|-".join("-" * w for w in widths))
    for r in rows:
        print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))
    print()


def item_of(cfg: AutoencodersCfg, kind: str) -> str:
    """The variant named after `kind`, else the first variant of that kind."""
    if kind in cfg.variants and cfg.variants[kind].kind == kind:
        return kind
    names = [n for n, v in cfg.variants.items() if v.kind == kind]
    if not names:
        raise ValueError(f"params.yaml has no autoencoders.variants entry of kind '{kind}'")
    return names[0]


def seconds_per_image(model: nn.Module, size: int, batch: int, device: torch.device) -> float:
    model.to(device).eval()
    x = torch.rand(batch, 3, size, size, device=device) * 2 - 1

    @torch.no_grad()
    def codec() -> None:
        model.decode(model.encode(x).mode())

    return 1.0 / throughput(codec, batch, warmup=1, repeats=1 if device.type == "cpu" else 5, device=device)


# --- part 1: paper scale --------------------------------------------------------------------------


def paper_scale(cfg: AutoencodersCfg, args: argparse.Namespace, device: torch.device) -> None:
    cfg = dataclasses.replace(cfg, conv=PAPER_CONV, vit=PAPER_VIT)
    print(f"== Part 1: paper scale, {PAPER_SIZE} px (conv {list(PAPER_CONV.block_out_channels)} x 2 layers, VMAE "
          f"{PAPER_VIT.width} wide, depth {PAPER_VIT.depth} + {PAPER_VIT.decoder_depth}) ==")  # fmt: skip
    print(
        "size = parameters + fp32 buffers read by encode + decode (traced); GFLOPs per image, batch 1, encode "
        "(posterior mean) + decode, FlopCounterMode on meta tensors, attention counted (math SDPA)\n"
    )
    size, gf, sec = {}, {}, {}
    for kind in KINDS:
        name = item_of(cfg, kind)
        with torch.device("meta"):
            model = build_autoencoder(name, cfg, StandInPerceptual(), image_size=PAPER_SIZE)
        size[kind] = autoencoder_size(model, PAPER_SIZE)
        gf[kind] = {PAPER_SIZE: encode_decode_gflops(model, PAPER_SIZE)}
        if kind in ("sd-vae", "vmae"):  # 512 px for the convention search only
            with torch.device("meta"):
                big = build_autoencoder(name, cfg, StandInPerceptual(), image_size=2 * PAPER_SIZE)
            gf[kind][2 * PAPER_SIZE] = encode_decode_gflops(big, 2 * PAPER_SIZE)
        if not args.skip_latency and kind in ("sd-vae", "vmae"):  # the conv kinds share one inference network
            torch.manual_seed(0)
            real = build_autoencoder(name, cfg, StandInPerceptual(), image_size=PAPER_SIZE)
            sec[kind] = seconds_per_image(real, PAPER_SIZE, args.infer_batch, device)
            del real
    rows = []
    for kind in KINDS:
        g = gf[kind][PAPER_SIZE]
        att = g["encode_attention"] + g["decode_attention"]
        timed = f"{sec[kind]:.3f}" if kind in sec else ("= sd-vae" if kind in ("ae", "dae", "vae") else "-")
        unread = sorted({n.split(".")[0] + (".*" if "." in n else "") for n in size[kind]["excluded"]})
        rows.append([kind, f"{size[kind]['params'] / 1e6:.2f}", f"{size[kind]['mib']:.2f}", ", ".join(unread) or "-",
                     f"{g['encode']:.1f}", f"{g['decode']:.1f}", f"{g['total']:.1f}", f"{att:.1f}", timed])  # fmt: skip
    print_table(["kind", "params (M)", "MiB", "not counted (unread)", "enc GFLOPs", "dec GFLOPs", "total GFLOPs",
                 "of which attention", "s/image encode+decode"], rows)  # fmt: skip
    if sec:
        calls = "one timed call" if device.type == "cpu" else "median of 5 timed calls"
        print(f"timed on {host_note(device)}; batch {args.infer_batch}, one warm-up call, {calls}\n")

    sd, vm = size["sd-vae"], size["vmae"]
    sd_g, vm_g = gf["sd-vae"][PAPER_SIZE]["total"], gf["vmae"][PAPER_SIZE]["total"]
    print_table(["VMAE / SD-VAE", "ours", "paper"], [
        ["model size (MiB, incl. VMAE positional tables)", f"{100 * vm['mib'] / sd['mib']:.1f} %",
         f"{PAPER_RATIO['size']} % (of MB; the text says 'of the parameters')"],
        ["parameters only (no buffers)", f"{100 * vm['params'] / sd['params']:.1f} %", "-"],
        ["GFLOPs per image (encode + decode)", f"{100 * vm_g / sd_g:.1f} %", f"{PAPER_RATIO['gflops']} %"],
    ])  # fmt: skip
    print_table(["absolute claim", "ours", "paper"], [
        ["conv model size", f"{sd['mib']:.1f} MiB", f"{PAPER_MB['conv']} MB"],
        ["VMAE model size", f"{vm['mib']:.1f} MiB", f"{PAPER_MB['vmae']} MB"],
        ["conv GFLOPs", f"{sd_g:,.1f} per image", f"{PAPER_GFLOPS['conv']:,.1f}"],
        ["VMAE GFLOPs", f"{vm_g:,.1f} per image", f"{PAPER_GFLOPS['vmae']:,.1f}"],
    ])  # fmt: skip
    convention_search(gf)


def convention_search(gf: dict[str, dict[int, dict[str, float]]]) -> None:
    """Which counting convention turns our per-image counts into the paper's 17,331.3 and 703.9 GFLOPs?"""
    rows = []
    parts = {"encode": ("encode",), "encode+decode": ("encode", "decode")}
    for (part, keys), attention, px, unit, batch in itertools.product(
        parts.items(), (True, False), sorted(gf["vmae"]), ("FLOPs", "MACs"), (1, 32, 64)
    ):
        vals = {}
        for fam, kind in (("conv", "sd-vae"), ("vmae", "vmae")):
            g = gf[kind][px]
            v = sum(g[k] - (0.0 if attention else g[f"{k}_attention"]) for k in keys)
            vals[fam] = v * batch / (2 if unit == "MACs" else 1)
        err = {f: 100 * (vals[f] / PAPER_GFLOPS[f] - 1) for f in vals}
        label = f"{part}, attention {'counted' if attention else 'not counted'}, {px} px, {unit}, batch {batch}"
        rows.append((max(abs(e) for e in err.values()), label, vals, err))
    rows.sort(key=lambda r: r[0])
    print(f"Counting conventions ({len(rows)} tried: part x attention x resolution x FLOPs/MACs x batch 1/32/64), "
          "the 6 closest to the paper's pair:")  # fmt: skip
    print_table(["convention", "conv GFLOPs", "err vs 17,331.3", "VMAE GFLOPs", "err vs 703.9", "VMAE / conv"],
                [[lab, f"{v['conv']:,.1f}", f"{e['conv']:+.2f} %", f"{v['vmae']:,.1f}", f"{e['vmae']:+.2f} %",
                  f"{100 * v['vmae'] / v['conv']:.2f} %"] for _, lab, v, e in rows[:6]])  # fmt: skip
    exact = [lab for _, lab, v, e in rows if abs(v["conv"] - PAPER_GFLOPS["conv"]) < 0.05]
    print("conv 17,331.3 reproduced to the printed digit by: " + ("; ".join(exact) or "no convention tried"))
    both = [lab for _, lab, v, e in rows if all(abs(v[f] - PAPER_GFLOPS[f]) < 0.05 for f in v)]
    print("both numbers reproduced by one convention: " + ("; ".join(both) or "none") + "\n")


# --- part 2: default scale training throughput ------------------------------------------------------


def training_throughput(params: Params, args: argparse.Namespace, device: torch.device) -> None:
    cfg, res = params.autoencoders, params.data.resolution
    batch_size = cfg.train.batch_size
    bf16 = cfg.train.precision == "bf16"  # as bench/loop.py: autocast on CUDA and CPU
    print(f"== Part 2: training throughput at the default scale: {res} px, batch {batch_size}, "
          f"{'bf16 autocast' if bf16 else 'fp32'}, conv {list(cfg.conv.block_out_channels)} x "
          f"{cfg.conv.layers_per_block} layers, ViT {cfg.vit.width} wide, depth {cfg.vit.depth} + "
          f"{cfg.vit.decoder_depth} ==")  # fmt: skip
    print(
        f"perceptual loss (sd-vae, vmae): {StandInPerceptual.name}; its FLOPs are inside the step's count; "
        f"{args.warmup} warm-up + {args.steps} timed steps per kind\n"
    )

    def loss_fn(model, batch, step):
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            return model.loss(batch, step)

    runs = [(kind, res) for kind in KINDS]
    vmae_down = cfg.variants[item_of(cfg, "vmae")].phases.pretrain_downscale
    if vmae_down > 1:  # what the pipeline's VMAE phase 1 really runs at
        runs.append(("vmae", res // vmae_down))

    def measure_peak() -> float:
        dtype = torch.bfloat16 if bf16 else torch.float32
        return matmul_peak_gflops(n=2048 if device.type == "cpu" else 8192, device=device, dtype=dtype)

    peak, results = measure_peak(), []
    for kind, size in runs:
        name = item_of(cfg, kind)
        variant = cfg.variants[name]
        step = variant.sdvae.disc_start if variant.sdvae is not None else 0  # adversarial terms on, as most steps
        with torch.device("meta"):  # FLOPs need shapes only: count on a twin instead of spending a real step
            twin = build_autoencoder(name, cfg, StandInPerceptual(), image_size=size)
            meta_batch = {"image": torch.empty(batch_size, 3, size, size)}
        step_flops = train_step_flops(twin, loss_fn, meta_batch, step, twin.optim_groups())
        torch.manual_seed(0)
        model = build_autoencoder(name, cfg, StandInPerceptual().to(device), image_size=size).to(device)
        batch = {"image": torch.rand(batch_size, 3, size, size, device=device) * 2 - 1}
        groups = model.optim_groups()
        ips, ms = train_step_throughput(model, loss_fn, batch, args.steps, warmup=args.warmup, step=step,
                                        groups=groups)  # fmt: skip
        load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        results.append((f"{kind} ({size} px)", sum(p.numel() for p in model.parameters()), ips, ms, step_flops, load))
        del model
    peak = max(peak, measure_peak())
    rows = []
    for label, n, ips, ms, fl, load in results:
        achieved = fl / ms * 1e-6  # FLOPs per ms -> GFLOP/s
        rows.append([label, f"{n / 1e6:.2f}", f"{ips:.1f}", f"{ms:.0f}", f"{fl / 1e9:.1f}", f"{achieved:.1f}",
                     f"{100 * achieved / peak:.1f} %", f"{load:.2f}"])  # fmt: skip
    print_table(["kind", "params (M)", "img/s", "ms/step (median)", "GFLOP/step (fwd+bwd)", "GFLOP/s",
                 "of matmul peak", "load (1 min)"], rows)  # fmt: skip
    print(f"matmul peak ({'bf16' if bf16 else 'fp32'} mm, best of before and after the steps): {peak:.1f} GFLOP/s; "
          f"{host_note(device)}")  # fmt: skip
    print("params include training-only parts (SD-VAE discriminator, VMAE mask token); the optimiser update is timed "
          "but not counted in FLOPs")  # fmt: skip


def main() -> None:
    args = parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise ValueError("--device cuda was asked for but CUDA is not available; run with --device cpu")
    params = load_params()
    # The pipeline's runtime settings (TF32, cudnn.benchmark), with this run's device and thread count.
    device = setup(
        dataclasses.replace(params.runtime, device=args.device, cpu_threads=args.threads), params.seed
    ).device
    tf32 = f"; TF32 {'on' if params.runtime.tf32 else 'off'}" if device.type == "cuda" else ""
    print(f"host: {host_note(device)}{tf32}\n")
    paper_scale(params.autoencoders, args, device)
    training_throughput(params, args, device)


if __name__ == "__main__":
    main()
