"""The `compress@NAME` stage: perceptual compression of autoencoder NAME's latents (Figs 4, 7, 8 of the paper).

Run: `python -m autoencoders.compress NAME` (DVC fans it out over `autoencoders.names`). For every set of
`analysis.compress.sets` (dataset -> "object" | "part") it encodes the first `analysis.compress.images` eval
images (rendered at data.resolution x `analysis.compress.upscale`), takes the per-position posterior means
`encode(x).mode()` (C channels on the h = w = resolution / downsample grid) as features and the reconstruction
PSNR at that resolution, normalises the features over those images' positions (`analysis.compress.normalise`),
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
from bench.metrics import psnr
from bench.outputs import StageRecord

log = get_logger(__name__)


class LatentFeatures:
    """Images -> the posterior means of `ae`, keeping each image's reconstruction PSNR (the decoded mean) on the way:
    encoded at another resolution than it was trained at, a model whose reconstructions fall apart has latents that
    say little about the images there.

    Call: (B, 3, H, W) in [-1, 1] -> (B, h, w, C) float64 posterior means; `psnr` collects (B,) dB per call.
    """

    def __init__(self, ae: LatentAutoencoder, device: torch.device) -> None:
        self.ae, self.device = ae, device
        self.psnr: list[torch.Tensor] = []

    @torch.no_grad()
    def __call__(self, x: torch.Tensor) -> np.ndarray:
        z = self.ae.encode(x.to(self.device)).mode()  # (B, C, h, w)
        self.psnr.append(psnr(self.ae.decode(z).clamp(-1, 1).cpu().float(), x.float()))
        return z.permute(0, 2, 3, 1).double().cpu().numpy()  # (B, h, w, C)


def main(params: Params, name: str) -> None:
    cfg = params.analysis.compress
    check_autoencoder_item(params, name)
    splits = open_masked_sets(params)  # before any work: masks of the right level (rendered later, if upscaled)
    item = read_item(name, params.autoencoders, params.paths)  # before any work: trained or imported yet?
    dist = setup(params.runtime, params.seed)
    if dist.world_size > 1:
        raise ValueError("compress runs in one process: start it with `python -m autoencoders.compress NAME`")
    setup_logging(dist.rank)
    record = StageRecord()
    res = params.data.resolution * cfg.upscale  # the sets' resolution (`open_masked_sets`)
    ae = load_autoencoder(item, image_size=params.data.resolution)  # the size its weights were made for
    if res != params.data.resolution:
        resize = getattr(ae, "set_image_size", None)  # optional for a user's model (`LatentAutoencoder`)
        if resize is None:
            raise ValueError(
                f"'{name}' has no set_image_size, so it cannot be told to encode {res}-px images: set "
                "analysis.compress.upscale to 1, or give the model a set_image_size (a no-op if it is convolutional)"
            )
        # VMAE resizes its positional tables bilinearly, as the release does from 128 to 256 px (there 2x, then
        # fine-tuned; here 8x with no fine-tuning, so the recorded PSNR says how well it holds).
        resize(res)
    ae.to(dist.device)
    side = res // ae.downsample
    check_grid(side, cfg)

    metrics, per_image, maps = {}, {}, {}
    for dataset, split in splits.items():  # one set at a time, so each gets its own reconstruction PSNR
        featurise = LatentFeatures(ae, dist.device)
        m, p, mp = measure_sets({dataset: split}, cfg, featurise, side, params.seed, name)
        m[dataset] |= {"resolution": res, "psnr": torch.cat(featurise.psnr).mean().item()}
        metrics, per_image, maps = metrics | m, per_image | p, maps | mp
    out = layout.compress_dir(params.paths, name)
    write_outputs(out, metrics, per_image, maps)
    for dataset, m in metrics.items():
        log.info(
            "%s %s (%s, %d px): sigma2 %.4g rho %.4g, reconstruction %.2f dB",
            *(name, dataset, m["level"], res, m["sigma2"], m["rho"], m["psnr"]),
        )
    record.write(
        out,
        layout.record_dir(params.paths, "compress", name),
        {
            "seed": params.seed,
            "data": {"resolution": params.data.resolution, "shapes": params.data.shapes, "faces": params.data.faces},
            "autoencoders": item.params,
            "analysis": {"compress": cfg},
        },
        item=name,
        kind=item.kind,
        device=str(dist.device),
        features="posterior mean encode(x).mode()",
        normalisation=NORMALISATION[cfg.normalise],
        resolution=res,
        grid=[side, side],
        latent_channels=ae.latent_channels,
        **record_extras(splits),
    )
    cleanup()


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m autoencoders.compress NAME   (an item of autoencoders.names)")
    main(load_params(), sys.argv[1])
