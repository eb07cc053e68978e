"""What paper scale will cost: device-hours and wall time of every expensive stage of a preset, measured here.

Times one training step of each model the preset trains, at the preset's sizes (the SD3-layout conv autoencoders
and VMAE via `autoencoders.build_autoencoder`, each VMAE phase at its own resolution; the DiT via
`diffusion.dit.build_dit` and `diffusion.objective.flow_loss`), one sampling Euler step (guided and plain) and one
decode, then scales each time per image to the preset's global batch, steps, items and images. The preset is merged
onto params.yaml in memory (`bench.preset.merged`); nothing is trained or written. Times at a small `--batch` are
extrapolated linearly to the global batch (a GPU is usually faster per image at a larger batch, so they overstate
the bill); wall hours on `--gpus` devices assume linear scaling. Perceptual losses run LPIPS-VGG's network, with
random weights where no local VGG16 file exists (the cost does not depend on the weights).

Run from the repository root (CPU, 1 thread, batch 1: about 4 minutes):
    .venv/bin/python -m benchmarks.paper_cost --batch 1 --repeats 2
GPU:
    .venv/bin/python -m benchmarks.paper_cost --device cuda --batch 32 --gpus 8
"""

from __future__ import annotations

import argparse
import dataclasses
import platform
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch import nn

from autoencoders import build_autoencoder
from autoencoders.sources import import_pretrained
from bench.config import CONV_KINDS, Params, SampleCfg, VariantCfg, parse_params
from bench.dist import setup
from bench.efficiency import BENCH_LR, host_note, throughput, train_step_throughput
from bench.featnets import FrozenDistance, LPIPSDistance, vgg16_candidates
from bench.preset import merged
from diffusion.dit import build_dit
from diffusion.objective import flow_loss, shifted_grid

TIMING_CLASSES = 1000  # ImageNet-1K labels for a conditional DiT; the label table's size does not change the cost
HOUR = 3600.0


class RandomLPIPS(FrozenDistance):
    """LPIPS-VGG's network with random weights: the FLOPs of `LPIPSDistance` where no VGG16 file is local."""

    name = "LPIPS-VGG network with random weights (no local VGG16 file; same cost)"

    def __init__(self) -> None:
        super().__init__()
        import lpips  # only needed here, as in bench.featnets

        with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=False`
            warnings.simplefilter("ignore", UserWarning)
            self.lpips = lpips.LPIPS(net="vgg", version="0.1", pretrained=False, pnet_rand=True, verbose=False)
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return self.lpips(x, y).flatten()  # (B,)


@dataclass(frozen=True)
class Timing:
    """Where and how each call is timed: `batch` images per call, one warm-up, median of `repeats`."""

    device: torch.device
    batch: int
    repeats: int

    def per_image(self, fn: Callable[[], object]) -> float:
        return 1.0 / throughput(fn, self.batch, 1, self.repeats, self.device)

    def bf16(self, precision: str) -> bool:
        """bf16 autocast as `bench.loop` applies it (CUDA and CPU), where a CUDA device supports it."""
        return precision == "bf16" and (self.device.type != "cuda" or torch.cuda.is_bf16_supported())


@dataclass
class Row:
    """One stage and setting: measured seconds per image, images per unit, and units (steps or images) in all."""

    stage: str
    setting: str
    sec_per_image: float
    images_per_unit: int  # the global batch of one optimiser step, or 1 per sampled image
    items: list[str] = field(default_factory=list)
    units: int = 0


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpuinfo = Path("/proc/cpuinfo")  # platform.processor() is empty on many Linux hosts
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    names = [line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")]
    return names[0] if names else platform.processor() or platform.machine()


def ae_cost_key(variant: VariantCfg, size: int, phase: str) -> tuple:
    """Items whose steps run the same networks on the same tensors cost the same, whatever their loss weights: ae,
    dae and vae differ only in elementwise terms (noise, KL); sd-vae adds LPIPS and a discriminator; VMAE items
    differ in whether the perceptual network runs and whether tokens are masked."""
    if variant.kind in CONV_KINDS:
        return ("conv", variant.sdvae is not None, size, phase)
    v = variant.vmae
    percep = v.perceptual_weight if phase == "pretrain" else v.finetune_perceptual_weight
    return ("vit", percep > 0, phase == "pretrain" and v.mask_ratio > 0, size, phase)


def time_ae_step(params: Params, item: str, size: int, phase: str, percep: nn.Module, tm: Timing) -> float:
    """Seconds per image of one autoencoder training step (loss forward, backward, AdamW per loss group)."""
    cfg = params.autoencoders
    variant, bf16 = cfg.variants[item], tm.bf16(cfg.train.precision)
    torch.manual_seed(params.seed)
    model = build_autoencoder(item, cfg, percep, image_size=size).to(tm.device)
    model.set_phase(phase)

    def loss_fn(m: nn.Module, batch: dict, step: int) -> dict[str, torch.Tensor]:
        with torch.autocast(tm.device.type, dtype=torch.bfloat16, enabled=bf16):
            return m.loss(batch, step)

    batch = {"image": torch.rand(tm.batch, 3, size, size, device=tm.device) * 2 - 1}
    step = variant.sdvae.disc_start if variant.sdvae is not None else 0  # adversarial terms on, as in most steps
    ips, _ = train_step_throughput(model, loss_fn, batch, tm.repeats, step=step, groups=model.optim_groups())
    return 1.0 / ips


def time_decode(params: Params, item: str, percep: nn.Module, tm: Timing) -> tuple[float, tuple[int, int]]:
    """Seconds per image of one full-resolution decode, and the (channels, side) of the latents it reads."""
    res = params.data.resolution
    if params.autoencoders.is_pretrained(item):  # its own architecture: the files must be in place
        model = import_pretrained(item, params.autoencoders.pretrained[item], res).model.to(tm.device)
    else:
        model = build_autoencoder(item, params.autoencoders, percep, image_size=res).to(tm.device).eval()
    shape = (model.latent_channels, res // model.downsample)
    z = torch.randn(tm.batch, shape[0], shape[1], shape[1], device=tm.device)
    with torch.no_grad():
        return tm.per_image(lambda: model.decode(z)), shape


def time_dit(params: Params, shape: tuple[int, int], conditional: bool, tm: Timing) -> dict[str, float]:
    """Seconds per image of a DiT training step (flow_loss, backward, AdamW), a plain sampling forward and a guided
    one (cond + uncond as one 2x batch). Sampling runs fp32 and eager, as `diffusion.sample` does."""
    d, s, classes = params.diffusion, params.diffusion.sample, TIMING_CLASSES if conditional else 0
    torch.manual_seed(params.seed)
    model = build_dit(d.model.size, input_size=shape[1], in_channels=shape[0], num_classes=classes,
                      class_dropout_prob=d.model.class_dropout_prob if classes else 0.0, qk_norm=d.model.qk_norm,
                      use_rope=d.model.use_rope, use_swiglu=d.model.use_swiglu,
                      use_rmsnorm=d.model.use_rmsnorm).to(tm.device)  # fmt: skip
    opt = torch.optim.AdamW(model.parameters(), lr=BENCH_LR, betas=d.train.betas, fused=tm.device.type == "cuda")
    x = torch.randn(tm.batch, shape[0], shape[1], shape[1], device=tm.device)
    y = torch.randint(0, classes, (tm.batch,), device=tm.device) if conditional else None
    bf16, obj = tm.bf16(d.train.precision), d.objective

    def train_step() -> None:
        with torch.autocast(tm.device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = flow_loss(model, x, y, t_dist=obj.t_dist, t_mean=obj.t_mean, t_std=obj.t_std)["loss"]
        loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)

    out = {"train": tm.per_image(train_step)}
    model.eval()
    t = torch.full((tm.batch,), 0.5, device=tm.device)
    with torch.no_grad():
        out["plain"] = tm.per_image(lambda: model(x, t, y))
        if conditional:
            out["guided"] = tm.per_image(lambda: model.forward_with_cfg(x, t, y, s.cfg_scale, s.cfg_channels))
    return out


def guided_steps(s: SampleCfg, conditional: bool) -> int:
    """Euler steps that run guidance: `euler_sample` guides only where w > 1 and t >= cfg_interval_start."""
    if not conditional or s.cfg_scale <= 1.0:
        return 0
    return int((shifted_grid(s.num_steps, s.shift)[:-1] >= s.cfg_interval_start).sum())


def add(rows: dict[tuple, Row], key: tuple, item: str, units: int, **row: object) -> None:
    """Add `units` steps or images of `item` to row `key`, created from `row` the first time."""
    rows.setdefault(key, Row(**row))
    rows[key].items.append(item)
    rows[key].units += units


def bill(params: Params, percep: nn.Module, tm: Timing) -> list[Row]:
    """train_ae (phase 1 at resolution // pretrain_downscale, phase 3 at full resolution, as autoencoders.train) of
    each trained item, then train_dit and sample for each (item, dataset) DiT of diffusion.items (a pretrained
    item's decoder is timed from its files)."""
    cfg, d, res, s = params.autoencoders, params.diffusion, params.data.resolution, params.diffusion.sample
    rows: dict[tuple, Row] = {}
    ae_s: dict[tuple, float] = {}
    for item in [n for n in cfg.names if not cfg.is_pretrained(n)]:  # pretrained items are not trained here
        variant = cfg.variants[item]
        finetune = round(cfg.train.steps * variant.phases.finetune_fraction)  # as autoencoders.train.phase_steps
        ft_phase = "finetune_decoder" if variant.phases.finetune == "decoder" else "finetune_all"
        pre_size = res // variant.phases.pretrain_downscale
        for size, phase, steps in [(pre_size, "pretrain", cfg.train.steps - finetune), (res, ft_phase, finetune)]:
            if not steps:
                continue
            key = ae_cost_key(variant, size, phase)
            ae_s[key] = ae_s.get(key) or time_ae_step(params, item, size, phase, percep, tm)
            add(rows, key, item, steps, stage="train_ae", setting=f"{variant.kind} {phase}, {size} px",
                sec_per_image=ae_s[key], images_per_unit=cfg.train.batch_size)  # fmt: skip
    decode: dict[bool | str, tuple[float, tuple[int, int]]] = {}
    dit: dict[tuple, dict[str, float]] = {}
    for item in cfg.names:
        # Every conv kind shares one decoder, every ViT the other; a pretrained item has its own.
        key = item if cfg.is_pretrained(item) else cfg.variants[item].kind in CONV_KINDS
        decode[key] = decode.get(key) or time_decode(params, item, percep, tm)
        dec_s, shape = decode[key]
        for dataset in d.items.get(item, ()):
            cond = d.datasets[dataset] == "conditional"
            dit[(shape, cond)] = dit.get((shape, cond)) or time_dit(params, shape, cond, tm)
            t, g, name = dit[(shape, cond)], guided_steps(s, cond), f"{item}/{dataset}"
            add(rows, ("train_dit", shape, cond), name, d.train.steps, stage="train_dit",
                setting=f"{d.model.size}, {shape[0]}x{shape[1]}x{shape[1]} latents", sec_per_image=t["train"],
                images_per_unit=d.train.batch_size)  # fmt: skip
            add(rows, ("sample", shape, cond), name, s.num_images, stage="sample: DiT", images_per_unit=1,
                setting=f"{g} guided + {s.num_steps - g} plain Euler steps",
                sec_per_image=g * t.get("guided", 0.0) + (s.num_steps - g) * t["plain"])  # fmt: skip
            kind = key if isinstance(key, str) else "conv" if key else "ViT"
            add(rows, ("decode", key), name, s.num_images, stage="sample: decode", images_per_unit=1,
                setting=f"{kind} decoder, {res} px", sec_per_image=dec_s)  # fmt: skip
    return list(rows.values())


def fmt(x: float) -> str:
    return f"{x:,.0f}" if x >= 100 else f"{x:.3g}"


def print_table(rows: list[Row], gpus: int, batch: int) -> None:
    hours = [r.sec_per_image * r.images_per_unit * r.units / HOUR for r in rows]
    lines = [["stage", "setting", "items", f"measured s/img (batch {batch})", "s/step or s/img", "steps or images",
              "device-h", f"wall-h on {gpus}"]]  # fmt: skip
    for r, h in zip(rows, hours, strict=True):
        items = ", ".join(r.items) if len(r.items) <= 3 else f"{len(r.items)}: {r.items[0]} ... {r.items[-1]}"
        lines.append([r.stage, r.setting, items, fmt(r.sec_per_image), fmt(r.sec_per_image * r.images_per_unit),
                      f"{r.units:,}", fmt(h), fmt(h / gpus)])  # fmt: skip
    lines.append(["total", "", "", "", "", "", fmt(sum(hours)), fmt(sum(hours) / gpus)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    rule = "-|-".join("-" * w for w in widths)
    for i, line in enumerate(lines):
        if i == len(lines) - 1:
            print(rule)
        print(" | ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)))
        if i == 0:
            print(rule)


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="paper-imagenet", help="a presets/NAME.yaml, merged onto params.yaml")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    p.add_argument("--batch", type=int, default=1, help="images per timed call (per device)")
    p.add_argument("--repeats", type=int, default=3, help="timed calls per measurement after one warm-up (median)")
    p.add_argument("--gpus", type=int, default=8, help="devices the wall hours are split over (linear scaling)")
    # 1, as benchmarks/ae_bench.py: on a shared 2-core machine under load, 2 threads made a DiT-B/1 step swing
    # between 3 s and 22 s (OpenMP spin-waiting) where 1 thread held at 5-7 s.
    p.add_argument("--threads", type=int, default=1, help="CPU threads (0: torch's default)")
    return p.parse_args()


def main() -> None:
    args = parse_args()
    if args.batch < 1 or args.repeats < 1 or args.gpus < 1:
        raise ValueError("--batch, --repeats and --gpus must be >= 1")
    params = parse_params(merged(args.preset), source=f"params.yaml + presets/{args.preset}.yaml")
    runtime = dataclasses.replace(params.runtime, device=args.device, cpu_threads=args.threads)
    tm = Timing(setup(runtime, params.seed).device, args.batch, args.repeats)  # the preset's TF32 / cudnn settings
    cfg, d = params.autoencoders, params.diffusion
    found = [p for p in vgg16_candidates(params.paths.weights) if p.is_file()]
    percep = (LPIPSDistance(found[0]) if found else RandomLPIPS()).to(tm.device)
    precision = {k: "bf16 autocast" if tm.bf16(c.train.precision) else "fp32" for k, c in (("ae", cfg), ("dit", d))}
    print(f"device: {device_name(tm.device)} ({host_note(tm.device)})")
    print(f"preset: {args.preset} (merged onto params.yaml in memory), {params.data.resolution} px")
    print(f"perceptual network timed: {percep.name}")
    print(f"timing: batch {args.batch} per call, 1 warm-up + {args.repeats} timed calls, median; training "
          f"autoencoders {precision['ae']}, DiT {precision['dit']} (eager; the preset compiles train_dit's DiT); "
          "sampling fp32\n")  # fmt: skip
    print_table(bill(params, percep, tm), args.gpus, args.batch)
    print(f"\nExtrapolated: times measured at batch {args.batch}, scaled linearly to the global batch "
          f"({cfg.train.batch_size} images per autoencoder step, {d.train.batch_size} per DiT step) and to "
          f"{d.sample.num_images:,} sampled images per DiT.")  # fmt: skip
    print(f"Assumed: linear scaling over {args.gpus} devices (no communication, data-loading or checkpoint cost).")
    print("Not billed: data, featnets, extract (encoding every training image), evaluation.")
    print("Items in one row share one measurement: ae, dae and vae run the same networks; VMAE items are grouped by "
          "phase, whether the perceptual network runs and whether tokens are masked.")  # fmt: skip


if __name__ == "__main__":
    main()
