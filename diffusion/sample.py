"""The `sample@NAME` stage: generate images with each trained DiT of autoencoder NAME.

Run: `python -m diffusion.sample NAME` (DVC fans it out over `diffusion.items`); under `torchrun` each process
makes the images of its `shard_indices` share and writes them into shared memory-mapped files. Image i starts from
noise (and, for class-conditional sets, a uniform random label) seeded by (seed + sample.seed_offset, i) alone, so
the output does not depend on the number of processes or the batch size. Each image is integrated with Euler
(`diffusion.sample`: steps, time shift, guidance on conditional sets), denormalised with the extract stage's
`stats.json` (the very file the DiT was trained on: its SHA-256 is checked against `dit.json`), and decoded by the
autoencoder.

Writes `<runs>/sample/NAME/<dataset>/`: `samples.npy` uint8 (N, H, W, 3), `labels.npy` int64 (N,) (-1 for
unconditional sets), `grid.png` (the first 64 samples), `params.json`; `meta.json` to
`<runs>/records/sample/NAME/<dataset>/`.
"""

from __future__ import annotations

import sys

import numpy as np
import torch
from torchvision.utils import make_grid, save_image
from tqdm import tqdm

from autoencoders.base import LatentAutoencoder
from autoencoders.sources import load_autoencoder, read_item
from bench import layout
from bench.config import Params, SampleCfg, load_params
from bench.dist import cleanup, setup
from bench.images import to_hwc_uint8
from bench.items import check_diffusion_item
from bench.layout import LABELS_FILE, SAMPLES_FILE, STATS_FILE
from bench.log import get_logger, setup_logging
from bench.outputs import StageRecord, atomic_path
from bench.sharding import sample_labels, sample_noise, shard_indices
from diffusion.dit import DiT
from diffusion.latents import LatentStats, create_array, denormalise, load_stats, publish_arrays
from diffusion.objective import euler_sample
from diffusion.trained import load_dit

log = get_logger(__name__)
NO_LABEL = -1  # labels.npy entry of an unconditionally generated image
GRID_IMAGES, GRID_ROW = 64, 8  # grid.png: the first 64 samples, 8 per row


@torch.no_grad()
def generate(
    model: DiT, ae: LatentAutoencoder, stats: LatentStats, indices: list[int], cfg: SampleCfg, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The images of the given global indices (a pure function of the indices, the weights and `seed`).

    Args:
        model: trained DiT in eval mode, on the same device as `ae`.
        ae: the autoencoder whose latents the DiT was trained on, in eval mode.
        stats: the latent statistics the DiT was trained with.
        indices: global sample indices.
        cfg: the sampler settings; guidance only where the DiT is class-conditional.
        seed: the sampling seed.

    Returns:
        (images uint8 (B, H, W, 3), labels int64 (B,), NO_LABEL where unconditional).
    """
    device = next(model.parameters()).device
    c, side = model.config.in_channels, model.config.input_size
    noise = sample_noise(indices, (c, side, side), seed).to(device)  # (B, C, h, w)
    conditional = model.config.conditional
    y = sample_labels(indices, model.config.num_classes, seed) if conditional else None  # (B,)
    x = euler_sample(
        model,
        noise,
        y.to(device) if y is not None else None,
        num_steps=cfg.num_steps,
        shift=cfg.shift,
        cfg_scale=cfg.cfg_scale if conditional else 1.0,
        cfg_interval_start=cfg.cfg_interval_start,
        cfg_channels=cfg.cfg_channels,
    )  # (B, C, h, w) normalised
    images = ae.decode(denormalise(x, stats))  # (B, 3, H, W) in about [-1, 1]
    images = to_hwc_uint8(images)  # (B, H, W, 3) uint8
    labels = y.numpy() if y is not None else np.full(len(indices), NO_LABEL, dtype=np.int64)
    return images, labels


def main(params: Params, name: str) -> None:
    check_diffusion_item(params, name)
    # The item's declared DVC outputs exist even for an item with no generation datasets (paper-celebahq's ablations).
    layout.run_dir(params.paths, "sample", name).mkdir(parents=True, exist_ok=True)
    layout.record_dir(params.paths, "sample", name).mkdir(parents=True, exist_ok=True)
    if not params.diffusion.items[name]:
        return
    item = read_item(name, params.autoencoders, params.paths)  # before any work: trained or imported yet?
    dist = setup(params.runtime, params.seed)
    setup_logging(dist.rank)
    cfg = params.diffusion.sample
    seed = params.seed + cfg.seed_offset
    res = params.data.resolution
    ae = load_autoencoder(item, image_size=res).to(dist.device)
    for dataset in params.diffusion.items[name]:
        record = StageRecord()
        stats = load_stats(layout.latents_dir(params.paths, name, dataset) / STATS_FILE)
        model = load_dit(layout.dit_dir(params.paths, name, dataset), stats).to(dist.device)
        out = layout.samples_dir(params.paths, name, dataset)
        arrays = {
            out / SAMPLES_FILE: create_array(out / SAMPLES_FILE, (cfg.num_images, res, res, 3), np.uint8, dist),
            out / LABELS_FILE: create_array(out / LABELS_FILE, (cfg.num_images,), np.int64, dist),
        }
        mine = shard_indices(cfg.num_images, dist.rank, dist.world_size)
        batches = [mine[i : i + cfg.batch_size] for i in range(0, len(mine), cfg.batch_size)]
        for batch in tqdm(batches, desc=f"sample {name}/{dataset}", unit="batch", disable=not dist.is_main):
            images, labels = generate(model, ae, stats, batch, cfg, seed)
            arrays[out / SAMPLES_FILE][batch] = images
            arrays[out / LABELS_FILE][batch] = labels
        publish_arrays(arrays, dist)
        if dist.is_main:
            first = torch.from_numpy(np.load(out / SAMPLES_FILE, mmap_mode="r")[:GRID_IMAGES].copy())
            grid = make_grid(first.permute(0, 3, 1, 2).float() / 255, nrow=GRID_ROW, padding=1)
            with atomic_path(out / "grid.png") as tmp:
                save_image(grid, tmp, format="png")
            record.write(
                out,
                layout.record_dir(params.paths, "sample", name, dataset),
                {"seed": params.seed, "diffusion": {"sample": cfg, "mode": params.diffusion.datasets[dataset]}},
                world_size=dist.world_size,
                item=name,
                dataset=dataset,
                device=str(dist.device),
                num_images=cfg.num_images,
                sampling_seed=seed,
                guided=model.config.conditional and cfg.cfg_scale > 1.0,
                stats_sha256=stats.sha256,
            )
    cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m diffusion.sample NAME   (an item of diffusion.items)")
    main(load_params(), sys.argv[1])
