"""The `train_dit@NAME` stage: a LightningDiT-style DiT with rectified flow on autoencoder NAME's latents.

Run: `python -m diffusion.train NAME` (DVC fans it out over `diffusion.items`); under `torchrun
--nproc_per_node=G` it trains with DDP. For every dataset of `diffusion.items.NAME` it trains one DiT
(`diffusion.model`) on the normalised latents of `<runs>/extract/NAME/<dataset>/`: class-conditional (labels,
label dropout, a null class) where `diffusion.datasets` says `conditional`, unconditional otherwise. The loop is
`bench.loop.train` with `diffusion.train`; each fetch picks a flipped or unflipped latent and, for stored moments,
re-samples z = mu + sigma * eps.

Writes `<runs>/train_dit/NAME/<dataset>/`: `model.pt` (EMA weights, a plain state dict), `dit.json` (the
architecture and the SHA-256 of the `stats.json` trained on, which the sample stage checks), `params.json`;
`<runs>/work/train_dit/NAME/<dataset>/`: `ckpt/` (resumable) and `live/` (dvclive); `meta.json` (with the plateau
verdict of the loss, `bench.plateau`) to `<runs>/records/train_dit/NAME/<dataset>/`.
"""

from __future__ import annotations

import dataclasses
import sys

import torch
from torch import nn

from bench import layout
from bench.config import Params, as_dict, load_params
from bench.dist import cleanup, setup
from bench.items import check_diffusion_item
from bench.log import get_logger, setup_logging
from bench.loop import train
from bench.outputs import StageRecord, atomic_path, write_json
from diffusion.dit import DiT
from diffusion.latents import LatentDataset, load_stats
from diffusion.objective import flow_loss
from diffusion.trained import build_model, num_classes

log = get_logger(__name__)


def make_loss(params: Params, conditional: bool, compiled: nn.Module | None = None):
    """`loss_fn(model, batch, step)` for `bench.loop.train`: rectified-flow velocity MSE on normalised latents.

    `compiled` is `torch.compile(model)` of the very module the loop trains (`runtime.compile_dit`): the loss calls
    it in place of `model`. It shares the parameters, so the optimiser, EMA, DDP's gradient hooks and checkpoints
    (saved from the plain module, without `_orig_mod.` key prefixes) are the same as in an eager run.
    """
    obj = params.diffusion.objective

    def loss_fn(model: DiT, batch: dict, step: int) -> dict[str, torch.Tensor]:
        if compiled is not None and getattr(compiled, "_orig_mod", None) is not model:
            raise ValueError("make_loss: `compiled` must be torch.compile(model) of the module being trained")
        net = model if compiled is None else compiled
        y = batch["label"] if conditional else None
        return flow_loss(net, batch["latent"], y, t_dist=obj.t_dist, t_mean=obj.t_mean, t_std=obj.t_std)

    return loss_fn


def main(params: Params, name: str) -> None:
    check_diffusion_item(params, name)
    # The item's declared DVC outputs exist even for an item with no generation datasets (paper-celebahq's ablations).
    layout.run_dir(params.paths, "train_dit", name).mkdir(parents=True, exist_ok=True)
    layout.record_dir(params.paths, "train_dit", name).mkdir(parents=True, exist_ok=True)
    layout.work_dir(params.paths, "train_dit", name).mkdir(parents=True, exist_ok=True)
    if not params.diffusion.items[name]:
        return
    dist = setup(params.runtime, params.seed)
    setup_logging(dist.rank)
    cfg = params.diffusion
    for dataset in cfg.items[name]:
        record = StageRecord()
        src = layout.latents_dir(params.paths, name, dataset)
        out = layout.dit_dir(params.paths, name, dataset)
        stats = load_stats(src / layout.STATS_FILE)
        latents = LatentDataset(src, stats, use_flip=cfg.extract.flip)
        classes = num_classes(params, dataset)
        model = build_model(cfg.model, stats, latents.latents.shape[-1], classes)
        dit_config = dataclasses.asdict(model.config)
        signature = {"dit": dit_config, "objective": as_dict(cfg.objective), "stats_sha256": stats.sha256}
        compiled = torch.compile(model) if params.runtime.compile_dit else None
        result = train(
            model,
            make_loss(params, conditional=classes > 0, compiled=compiled),
            latents,
            cfg.train,
            layout.work_dir(params.paths, "train_dit", name, dataset),
            seed=params.seed,
            dist=dist,
            signature=signature,
            desc=f"dit {name}/{dataset}",
        )
        if dist.is_main:
            final, weights = (result.ema, "ema") if result.ema is not None else (result.model, "model")
            with atomic_path(out / layout.DIT_WEIGHTS_FILE) as tmp:
                torch.save(final.state_dict(), tmp)
            write_json(
                out / layout.DIT_INFO_FILE, {"config": dit_config, "weights": weights, "stats_sha256": stats.sha256}
            )
            record.write(
                out,
                layout.record_dir(params.paths, "train_dit", name, dataset),
                {
                    "seed": params.seed,
                    "diffusion": {
                        "model": cfg.model,
                        "objective": cfg.objective,
                        "train": cfg.train,
                        "mode": cfg.datasets[dataset],
                        "flip": cfg.extract.flip,
                    },
                },  # fmt: skip
                world_size=dist.world_size,
                item=name,
                dataset=dataset,
                device=str(dist.device),
                steps=result.step,
                train_wall_time_s=result.wall_time_s,
                train_steady_time_s=result.steady_time_s,
                parameters=sum(p.numel() for p in final.parameters()),
                stats_sha256=stats.sha256,
                weights=weights,
                last_metrics=result.metrics,
                plateau={"dit": result.plateau},
            )
    cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m diffusion.train NAME   (an item of diffusion.items)")
    main(load_params(), sys.argv[1])
