"""The `train_dit@NAME` stage: a LightningDiT-style DiT with rectified flow on autoencoder NAME's latents.

Run: `python -m diffusion.train NAME` (DVC fans it out over `diffusion.items`); under `torchrun
--nproc_per_node=G` it trains with DDP. For every dataset of `diffusion.items.NAME` it trains one DiT
(`diffusion.model`) on the normalised latents of `<runs>/extract/NAME/<dataset>/`: class-conditional (labels,
label dropout, a null class) where `diffusion.datasets` says `conditional`, unconditional otherwise. The loop is
`bench.loop.train` with `diffusion.train`; each fetch picks a flipped or unflipped latent and, for stored moments,
re-samples z = mu + sigma * eps.

Writes `<runs>/train_dit/NAME/<dataset>/`: `model.pt` (EMA weights, a plain state dict), `dit.json` (the
architecture and the SHA-256 of the `stats.json` trained on, which the sample stage checks), `ckpt/` (resumable),
`live/` (dvclive), `params.json`, `meta.json`.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import torch
from torch import nn

from bench.config import DiTModelCfg, Params, as_dict, load_params
from bench.dist import cleanup, setup
from bench.log import get_logger, setup_logging
from bench.loop import train
from bench.outputs import StageRecord, atomic_path, write_json
from bench.paths import run_dir
from diffusion.dit import DiT, build_dit
from diffusion.extract import check_item
from diffusion.latents import STATS_FILE, LatentDataset, LatentStats, load_stats
from diffusion.objective import flow_loss

log = get_logger(__name__)
MODEL_FILE, DIT_FILE = "model.pt", "dit.json"


def num_classes(params: Params, dataset: str) -> int:
    """Classes the DiT is conditioned on: the data stage's `num_classes` if conditional, else 0.

    Raises:
        ValueError: a conditional dataset with fewer than two classes.
    """
    if params.diffusion.datasets[dataset] == "unconditional":
        return 0
    meta_path = Path(params.paths.data) / dataset / "meta.json"
    if not meta_path.is_file():
        raise FileNotFoundError(f"'{meta_path}' not found: run the data stage first (`dvc repro data`)")
    k = int(json.loads(meta_path.read_text())["num_classes"])
    if k < 2:
        raise ValueError(f"'{dataset}' has {k} class(es): set diffusion.datasets.{dataset} to unconditional")
    return k


def build_model(cfg: DiTModelCfg, stats: LatentStats, side: int, classes: int) -> DiT:
    """The configured DiT size on (C, side, side) latents with `classes` classes (0 = unconditional)."""
    return build_dit(
        cfg.size,
        input_size=side,
        in_channels=stats.channels,
        num_classes=classes,
        class_dropout_prob=cfg.class_dropout_prob if classes else 0.0,
        qk_norm=cfg.qk_norm,
        use_rope=cfg.use_rope,
        use_swiglu=cfg.use_swiglu,
        use_rmsnorm=cfg.use_rmsnorm,
    )


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
    check_item(params, name)
    # The item's folder is the declared DVC output: it exists even for an item with no generation datasets.
    run_dir(params.paths, "train_dit", name).mkdir(parents=True, exist_ok=True)
    if not params.diffusion.items[name]:
        return
    dist = setup(params.runtime, params.seed)
    setup_logging(dist.rank)
    cfg = params.diffusion
    for dataset in cfg.items[name]:
        record = StageRecord()
        src = run_dir(params.paths, "extract", name) / dataset
        out = run_dir(params.paths, "train_dit", name) / dataset
        stats = load_stats(src / STATS_FILE)
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
            out,
            seed=params.seed,
            dist=dist,
            signature=signature,
            desc=f"dit {name}/{dataset}",
        )
        if dist.is_main:
            final, weights = (result.ema, "ema") if result.ema is not None else (result.model, "model")
            with atomic_path(out / MODEL_FILE) as tmp:
                torch.save(final.state_dict(), tmp)
            write_json(out / DIT_FILE, {"config": dit_config, "weights": weights, "stats_sha256": stats.sha256})
            record.write(
                out,
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
                parameters=sum(p.numel() for p in final.parameters()),
                stats_sha256=stats.sha256,
                weights=weights,
                last_metrics=result.metrics,
            )
    cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m diffusion.train NAME   (an item of diffusion.items)")
    main(load_params(), sys.argv[1])
