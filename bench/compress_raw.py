"""The `compress_raw` stage: the raw-pixel reference of the perceptual-compression measures (Fig. 7's "raw image").

Run: `python -m bench.compress_raw` (one DVC stage, no autoencoder). Exactly as `compress@NAME`, but the
features are the raw eval images on the autoencoders' latent grid: `raw_features(image, h, w, mode)` by
`analysis.compress.raw_mode` ("unshuffle": each cell's f x f x 3 pixels, nothing discarded; "area": the block
mean; "pca": unshuffle projected by PCA to the latents' channel count, so both sides have one dimension),
normalised the same way. The grid factor f is the autoencoders' downsampling, read
from their architecture blocks (conv: 2 ** (len(block_out_channels) - 1); ViT: patch_size), which must agree
so that every item and this reference share one grid. See `bench.latent_features` for the shared choices.

Writes `<runs>/compress_raw/`: `metrics.json`, `per_image.npz`, `maps.npz` (PCA of the raw patches),
`params.json` (`meta.json` to `<runs>/records/compress_raw/`).
"""

from __future__ import annotations

import numpy as np
import torch

from bench import layout
from bench.compression import raw_features
from bench.config import AutoencodersCfg, Params, load_params
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


def grid_factor(cfg: AutoencodersCfg, resolution: int) -> int:
    """The downsampling factor f shared by every autoencoder family.

    Raises:
        ValueError: the conv and ViT families downsample differently, or f does not divide the resolution.
    """
    conv = 2 ** (len(cfg.conv.block_out_channels) - 1)
    if conv != cfg.vit.patch_size:
        raise ValueError(
            f"autoencoders.conv downsamples by {conv} (2 ** (len(block_out_channels) - 1)) but autoencoders.vit."
            f"patch_size is {cfg.vit.patch_size}: the raw reference needs one latent grid, so make them equal"
        )
    if resolution % conv:
        raise ValueError(f"data.resolution {resolution} is not a multiple of the autoencoders' downsampling {conv}")
    return conv


def latent_channels(cfg: AutoencodersCfg) -> int:
    """The latent channel count shared by the conv and ViT families (the "pca" raw reference's dimension)."""
    if cfg.conv.latent_channels != cfg.vit.latent_channels:
        raise ValueError(
            f"autoencoders.conv.latent_channels {cfg.conv.latent_channels} != autoencoders.vit.latent_channels "
            f"{cfg.vit.latent_channels}: raw_mode 'pca' projects to one dimension, so make them equal or use "
            "analysis.compress.raw_mode 'unshuffle'"
        )
    return cfg.conv.latent_channels


def raw_featurise(side: int, mode: str):
    """Images -> raw-pixel features on the side x side grid.

    Returns:
        A function (B, 3, H, W) in [-1, 1] -> (B, side, side, 3·f·f) ("unshuffle") or (B, side, side, 3) ("area").
    """

    def featurise(x: torch.Tensor) -> np.ndarray:
        return np.stack([raw_features(img, side, side, mode) for img in x.double().numpy()])

    return featurise


def main(params: Params) -> None:
    cfg = params.analysis.compress
    factor = grid_factor(params.autoencoders, params.data.resolution)
    res = params.data.resolution * cfg.upscale  # the sets' resolution (`open_masked_sets`)
    side = res // factor
    check_grid(side, cfg)
    splits = open_masked_sets(params)
    setup_logging()
    record = StageRecord()

    pca = cfg.raw_mode == "pca"
    dims = latent_channels(params.autoencoders) if pca else None
    featurise = raw_featurise(side, "unshuffle" if pca else cfg.raw_mode)
    metrics, per_image, maps = measure_sets(splits, cfg, featurise, side, params.seed, "raw", dims)
    metrics = {dataset: m | {"resolution": res} for dataset, m in metrics.items()}
    out = layout.compress_dir(params.paths, "raw")
    write_outputs(out, metrics, per_image, maps)
    for dataset, m in metrics.items():
        log.info("raw %s (%s, %d px): sigma2 %.4g rho %.4g", dataset, m["level"], res, m["sigma2"], m["rho"])
    record.write(
        out,
        layout.record_dir(params.paths, "compress_raw"),
        {
            "seed": params.seed,
            "data": {"resolution": params.data.resolution, "shapes": params.data.shapes, "faces": params.data.faces},
            "autoencoders": {
                "conv": {
                    "block_out_channels": params.autoencoders.conv.block_out_channels,
                    "latent_channels": params.autoencoders.conv.latent_channels,
                },
                "vit": {
                    "patch_size": params.autoencoders.vit.patch_size,
                    "latent_channels": params.autoencoders.vit.latent_channels,
                },
            },
            "analysis": {"compress": cfg},
        },
        item="raw",
        features=f"raw pixels on the latent grid, raw_mode {cfg.raw_mode!r}" + (f" ({dims} components)" if pca else ""),
        normalisation=NORMALISATION[cfg.normalise],
        downsample=factor,
        resolution=res,
        grid=[side, side],
        **record_extras(splits),
    )


if __name__ == "__main__":
    main(load_params())
