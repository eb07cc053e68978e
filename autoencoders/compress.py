"""The `compress@NAME` stage: perceptual compression of autoencoder NAME's latents (Figs 4, 7, 8 of the paper).

Run: `python -m autoencoders.compress NAME` (DVC fans it out over `autoencoders.names`). For every set of
`analysis.compress.sets` (dataset -> "object" | "part") it encodes the first `analysis.compress.images` eval
images, takes the per-position posterior means `encode(x).mode()` (C channels on the h = w = resolution /
downsample grid) as features, normalises them over those images' positions (`analysis.compress.normalise`),
labels each latent cell from the ground-truth masks (`cell_labels`, `purity`) and measures σ² (compression
degree) and ρ (semantic disentanglement) with bootstrap CIs, plus k-means and PCA-RGB maps of the first
`kmeans_images` images. See `bench.latent_features` for the shared choices and the file layout,
`bench.compression` for the measures.

Writes `<runs>/compress/NAME/`: `metrics.json`, `per_image.npz`, `maps.npz`, `params.json` (`meta.json` to
`<runs>/records/compress/NAME/`).
`python -m bench.compress_raw` writes the raw-pixel reference in the same format.
"""

from __future__ import annotations

import sys

import numpy as np
import torch

from autoencoders.base import LatentAutoencoder
from autoencoders.sources import load_autoencoder, read_item
from bench import layout
from bench.config import Params, load_params
from bench.dist import cleanup, setup
from bench.items import check_autoencoder_item
from bench.latent_features import (
    NORMALISATION,
    check_grid,
    measure_sets,
    open_masked_sets,
    record_extras,
    write_outputs,
)
from bench.log import get_logger, setup_logging
from bench.outputs import StageRecord

log = get_logger(__name__)


def latent_featurise(ae: LatentAutoencoder, device: torch.device):
    """Images -> standardisable latent features of `ae`.

    Returns:
        A function (B, 3, H, W) in [-1, 1] -> (B, h, w, C) float64 posterior means.
    """

    @torch.no_grad()
    def featurise(x: torch.Tensor) -> np.ndarray:
        z = ae.encode(x.to(device)).mode()  # (B, C, h, w)
        return z.permute(0, 2, 3, 1).double().cpu().numpy()  # (B, h, w, C)

    return featurise


def main(params: Params, name: str) -> None:
    cfg = params.analysis.compress
    check_autoencoder_item(params, name)
    splits = open_masked_sets(params.paths, cfg)
    item = read_item(name, params.autoencoders, params.paths)  # before any work: trained or imported yet?
    dist = setup(params.runtime, params.seed)
    if dist.world_size > 1:
        raise ValueError("compress runs in one process: start it with `python -m autoencoders.compress NAME`")
    setup_logging(dist.rank)
    record = StageRecord()
    res = params.data.resolution
    ae = load_autoencoder(item, image_size=res)
    ae.to(dist.device)
    side = res // ae.downsample
    check_grid(side, cfg)

    metrics, per_image, maps = measure_sets(splits, cfg, latent_featurise(ae, dist.device), side, params.seed, name)
    out = layout.compress_dir(params.paths, name)
    write_outputs(out, metrics, per_image, maps)
    for dataset, m in metrics.items():
        log.info("%s %s (%s): sigma2 %.4g rho %.4g", name, dataset, m["level"], m["sigma2"], m["rho"])
    record.write(
        out,
        layout.record_dir(params.paths, "compress", name),
        {
            "seed": params.seed,
            "data": {"resolution": res},
            "autoencoders": item.params,
            "analysis": {"compress": cfg},
        },
        item=name,
        kind=item.kind,
        device=str(dist.device),
        features="posterior mean encode(x).mode()",
        normalisation=NORMALISATION[cfg.normalise],
        grid=[side, side],
        latent_channels=ae.latent_channels,
        **record_extras(splits),
    )
    cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m autoencoders.compress NAME   (an item of autoencoders.names)")
    main(load_params(), sys.argv[1])
