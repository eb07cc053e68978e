"""The `extract@NAME` stage: encode each generation dataset's train split with autoencoder item NAME (trained or
pretrained: `autoencoders.sources.load_autoencoder`).

Run: `python -m diffusion.extract NAME` (DVC fans it out over `diffusion.items`); under `torchrun` each process
encodes a contiguous block of images into shared memory-mapped files. For every dataset of `diffusion.items.NAME`
it writes `<runs>/extract/NAME/<dataset>/`:

- `latents.npy` (N, C, h, w) float32 posterior means, or (N, 2C, h, w) mean || logvar with `store: moments`
  (probabilistic autoencoders only; deterministic ones always store the mean);
- `latents_flip.npy`, the same for the horizontally flipped images (with `flip: true`, as the release);
- `labels.npy` (N,) int64;
- `stats.json`: per-channel mean/std over `stats_samples` latents drawn with the seeded RNG (see
  `diffusion.latents`), the one file training and sampling normalise with;
- `params.json` (`meta.json` goes to `<runs>/records/extract/NAME/<dataset>/`).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from autoencoders.base import LatentAutoencoder
from autoencoders.sources import load_autoencoder, read_item
from bench.config import ExtractCfg, Params, load_params
from bench.dist import DistInfo, cleanup, setup
from bench.items import check_diffusion_item
from bench.layout import (
    FLIP_FILE,
    LABELS_FILE,
    LATENTS_FILE,
    STATS_FILE,
    Root,
    latents_dir,
    record_dir,
    run_dir,
)
from bench.log import get_logger, setup_logging
from bench.outputs import StageRecord
from bench.splits import open_split
from diffusion.latents import Layout, compute_stats, create_array, publish_arrays, write_stats

log = get_logger(__name__)


def stored_layout(ae: LatentAutoencoder, store: str, image_size: int, device: torch.device) -> Layout:
    """What gets stored: "moments" only where asked for and the autoencoder has a log-variance."""
    if store == "mean":
        return "mean"
    with torch.no_grad():
        probe = ae.encode(torch.zeros(1, 3, image_size, image_size, device=device))
    return "moments" if probe.logvar is not None else "mean"


@torch.no_grad()
def encode_rows(ae: LatentAutoencoder, x: torch.Tensor, layout: Layout) -> torch.Tensor:
    """Images -> stored latent rows.

    Args:
        ae: autoencoder in eval mode.
        x: (B, 3, H, W) images in [-1, 1].
        layout: "mean" or "moments".

    Returns:
        (B, C, h, w) posterior means, or (B, 2C, h, w) mean || logvar; float32 on the CPU.
    """
    post = ae.encode(x)
    rows = torch.cat([post.mean, post.logvar], dim=1) if layout == "moments" else post.mean  # (B, C or 2C, h, w)
    return rows.float().cpu()


def extract_dataset(
    ae: LatentAutoencoder, data: Root, dataset: str, out: Path, cfg: ExtractCfg, seed: int, dist: DistInfo
) -> dict:
    """Encode one dataset's train split (and its flip) into `out`; rank 0 then writes `stats.json`.

    Returns:
        What meta.json reports: image count, stored layout, latent shape, stats sample count.
    """
    split = open_split(data, dataset, "train")
    n, res = len(split), split.resolution
    layout = stored_layout(ae, cfg.store, res, dist.device)
    side = res // ae.downsample
    shape = (n, ae.latent_channels * (2 if layout == "moments" else 1), side, side)
    arrays = {out / LATENTS_FILE: create_array(out / LATENTS_FILE, shape, np.float32, dist)}
    if cfg.flip:
        arrays[out / FLIP_FILE] = create_array(out / FLIP_FILE, shape, np.float32, dist)
    arrays[out / LABELS_FILE] = create_array(out / LABELS_FILE, (n,), np.int64, dist)

    # Contiguous blocks per rank keep each process's writes sequential in the shared files.
    mine = np.array_split(np.arange(n), dist.world_size)[dist.rank].tolist()
    loader = DataLoader(Subset(split, mine), batch_size=cfg.batch_size, num_workers=cfg.num_workers)
    bar = tqdm(total=len(mine), desc=f"extract {dataset}", unit="img", disable=not dist.is_main)
    for batch in loader:
        idx = batch["index"].numpy()
        x = batch["image"].to(dist.device)
        arrays[out / LATENTS_FILE][idx] = encode_rows(ae, x, layout).numpy()
        if cfg.flip:
            arrays[out / FLIP_FILE][idx] = encode_rows(ae, x.flip(-1), layout).numpy()
        arrays[out / LABELS_FILE][idx] = batch["label"].numpy()
        bar.update(len(idx))
    bar.close()
    publish_arrays(arrays, dist)

    count = min(cfg.stats_samples, n)
    if dist.is_main:
        latents = np.load(out / LATENTS_FILE, mmap_mode="r")
        mean, std = compute_stats(latents, layout, count, seed)
        write_stats(out / STATS_FILE, mean, std, layout, count, seed)
        log.info(
            "%s: %d latents %s, mean |mu_c| %.3g, mean std_c %.3g", dataset, n, shape[1:], abs(mean).mean(), std.mean()
        )
    return {"count": n, "layout": layout, "latent_shape": list(shape[1:]), "stats_samples": count}


def main(params: Params, name: str) -> None:
    check_diffusion_item(params, name)
    # The item's declared DVC outputs exist even for an item with no generation datasets (paper-celebahq's ablations).
    run_dir(params.paths, "extract", name).mkdir(parents=True, exist_ok=True)
    record_dir(params.paths, "extract", name).mkdir(parents=True, exist_ok=True)
    if not params.diffusion.items[name]:
        return
    item = read_item(name, params.autoencoders, params.paths)  # before any work: trained or imported yet?
    dist = setup(params.runtime, params.seed)
    setup_logging(dist.rank)
    cfg = params.diffusion.extract
    ae = load_autoencoder(item, image_size=params.data.resolution)
    ae.to(dist.device)
    for dataset in params.diffusion.items[name]:
        record = StageRecord()
        out = latents_dir(params.paths, name, dataset)
        info = extract_dataset(ae, params.paths, dataset, out, cfg, params.seed, dist)
        if dist.is_main:
            record.write(
                out,
                record_dir(params.paths, "extract", name, dataset),
                {
                    "seed": params.seed,
                    "data": {"resolution": params.data.resolution},
                    "autoencoders": item.params,
                    "diffusion": {"extract": cfg},
                },
                world_size=dist.world_size,
                item=name,
                dataset=dataset,
                device=str(dist.device),
                **info,
            )
    cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m diffusion.extract NAME   (an item of diffusion.items)")
    main(load_params(), sys.argv[1])
