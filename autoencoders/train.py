"""The `train_ae@NAME` stage: train one autoencoder item of `autoencoders.variants` with the shared loop.

Run: `python -m autoencoders.train NAME` (DVC fans it out over `autoencoders.variants`; pretrained items skip this
stage, see `autoencoders.import_ae`); under
`torchrun --nproc_per_node=G` it trains with DDP. Every item gets the same budget in steps
(`autoencoders.train.steps`), split into the release's phases where the variant asks for them:

1. pre-training at `resolution // pretrain_downscale` (VMAE: half resolution, masked);
2. positional tables bilinearly resized to the full resolution (a no-op for convolutional models);
3. fine-tuning at full resolution for the last `finetune_fraction` of the steps, decoder only
   (the paper) or everything (`finetune: all`, what the release really did).

Writes `<runs>/autoencoders/NAME/` (the item's autoencoder, `bench.layout.autoencoder_dir`): `model.pt` (final
weights, a plain state dict), `recon.png` (eval images over their reconstructions), `params.json`;
`<runs>/work/train_ae/NAME/phase{1,3}/`: resumable checkpoints and dvclive curves;
`<runs>/records/autoencoders/NAME/meta.json`: wall and steady (steps x median step) time per phase, steps, device,
library versions, perceptual network, and per phase whether the loss plateaued (`bench.plateau`).
"""

from __future__ import annotations

import dataclasses
import sys
from importlib.metadata import version
from pathlib import Path

import torch
import torch.nn.functional as F

from autoencoders import build_autoencoder
from autoencoders.base import Autoencoder
from bench import layout
from bench.config import Params, as_dict, load_params
from bench.dist import cleanup, setup
from bench.featnets import load_perceptual
from bench.items import check_trained_item
from bench.log import get_logger, setup_logging
from bench.loop import TrainResult, train
from bench.outputs import StageRecord, atomic_path
from bench.splits import fingerprint, open_split, open_union

log = get_logger(__name__)
RECON_PER_SET = 8  # images per eval set in recon.png


def resized(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 3, H, W) in [-1, 1] -> (B, 3, size, size), antialiased (phase 1 sees smaller images, as the release)."""
    if x.shape[-1] == size:
        return x
    return F.interpolate(x, size=(size, size), mode="bicubic", antialias=True, align_corners=False).clamp(-1, 1)


def _times(result: TrainResult) -> tuple[float, float, dict]:
    """A phase's wall time, steady time (steps x median step) and plateau verdict, as meta.json records them."""
    return result.wall_time_s, result.steady_time_s, result.plateau


def phase_steps(total: int, finetune_fraction: float) -> tuple[int, int]:
    """(pre-training steps, fine-tuning steps) summing to `total`."""
    finetune = round(total * finetune_fraction)
    return total - finetune, finetune


@torch.no_grad()
def save_recon_grid(model: Autoencoder, params: Params, device: torch.device, path: Path) -> None:
    """Write eval images (odd rows) over their reconstructions (even rows), RECON_PER_SET per training set, as PNG."""
    from torchvision.utils import make_grid, save_image  # only for this picture: keeps torchvision out of start-up

    model.eval()
    rows = []
    for name in params.autoencoders.train_sets:
        split = open_split(params.paths, name, "eval")
        x = torch.stack([split[i]["image"] for i in range(min(RECON_PER_SET, len(split)))]).to(device)
        rows += [x, model.decode(model.encode(x).mode()).clamp(-1, 1)]
    grid = make_grid(torch.cat(rows).cpu() * 0.5 + 0.5, nrow=RECON_PER_SET, padding=1)  # (3, H', W')
    with atomic_path(path) as tmp:
        save_image(grid, tmp, format="png")


def main(params: Params, name: str) -> None:
    check_trained_item(params, name)
    dist = setup(params.runtime, params.seed)
    setup_logging(dist.rank)
    cfg = params.autoencoders
    variant = cfg.variants[name]
    out = layout.autoencoder_dir(params.paths, name)
    work = layout.work_dir(params.paths, "train_ae", name)
    record = StageRecord()

    perceptual = load_perceptual(params.paths.weights, layout.featnet(params.paths, "perceptual"), cfg.percep_own_scale)
    perceptual.to(dist.device)
    res = params.data.resolution
    model = build_autoencoder(name, cfg, perceptual, image_size=res // variant.phases.pretrain_downscale)
    dataset = open_union(params.paths, cfg.train_sets, "train")
    loss_scale = perceptual.scale  # percep-own's training multiplier; 1 for LPIPS-VGG
    signature = {
        "variant": as_dict(variant),
        "arch": as_dict(cfg.arch(name)),
        "perceptual": perceptual.name,
        "data": fingerprint(params.paths, tuple(cfg.train_sets), "train"),
    }
    if loss_scale != 1.0:  # a checkpoint trained under another multiplier is not resumed
        signature["perceptual_loss_scale"] = loss_scale
    pre_steps, ft_steps = phase_steps(cfg.train.steps, variant.phases.finetune_fraction)
    seed = params.seed
    wall, steady, plateaus = {}, {}, {}

    # Phase 1: (masked) pre-training at reduced resolution.
    size = res // variant.phases.pretrain_downscale
    model.set_phase("pretrain")
    result = train(
        model,
        lambda m, b, step: m.loss({**b, "image": resized(b["image"], size)}, step),
        dataset,
        dataclasses.replace(cfg.train_cfg(name), steps=pre_steps),
        work / "phase1",
        seed=seed,
        dist=dist,
        groups=lambda m: m.optim_groups(),
        group_settings=variant.optim,
        signature=signature,
        desc=f"{name} phase 1 ({size}px)",
    )
    wall["phase1_s"], steady["phase1_s"], plateaus["phase1"] = _times(result)
    # Phase 2: positional tables to the full resolution (bilinear, as the release).
    model.set_image_size(res)
    # Phase 3: fine-tuning at full resolution.
    if ft_steps:
        model.set_phase("finetune_decoder" if variant.phases.finetune == "decoder" else "finetune_all")
        ft_cfg = dataclasses.replace(cfg.train_cfg(name), steps=ft_steps, lr=variant.phases.finetune_lr, warmup_steps=0)
        result = train(
            model,
            lambda m, b, step: m.loss(b, step),
            dataset,
            ft_cfg,
            work / "phase3",
            seed=seed + 1,
            dist=dist,
            groups=lambda m: m.optim_groups(),
            group_settings=variant.optim,
            signature=signature,
            desc=f"{name} phase 3 ({res}px)",
        )
        wall["phase3_s"], steady["phase3_s"], plateaus["phase3"] = _times(result)

    if dist.is_main:
        final = result.ema if result.ema is not None else result.model
        with atomic_path(layout.autoencoder_weights(params.paths, name)) as tmp:
            torch.save(final.state_dict(), tmp)
        save_recon_grid(final, params, dist.device, out / "recon.png")
        record.write(
            out,
            layout.autoencoder_record_dir(params.paths, name),
            {
                "seed": seed,
                "data": {"resolution": res},
                "autoencoders": {
                    "train_sets": cfg.train_sets,
                    "train": cfg.train,
                    "arch": cfg.arch(name),
                    "variant": variant,
                },
            },
            world_size=dist.world_size,
            item=name,
            kind=variant.kind,
            steps={"phase1": pre_steps, "phase3": ft_steps},
            train_wall_time_s=wall,
            train_steady_time_s=steady,  # steps x median step: Table 2's training time (bench.loop.TrainResult)
            device=str(dist.device),
            perceptual=perceptual.name,
            perceptual_loss_scale=loss_scale,
            parameters=sum(p.numel() for n, p in final.named_parameters() if not n.startswith("discriminator.")),
            versions={"timm": version("timm"), "diffusers": version("diffusers")},
            last_metrics=result.metrics,
            plateau=plateaus,
        )
    cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m autoencoders.train NAME   (a key of autoencoders.variants)")
    main(load_params(), sys.argv[1])
