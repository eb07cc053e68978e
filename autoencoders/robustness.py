"""Reconstruction quality of a trained autoencoder with and without latent noise: the pass behind the paper's
Table 1 (eps = 0) and Fig. 6 (the noise-perturbation curve).

For every eval image x with global index i (its index in the eval split), the perturbed latent is

    z'(eps) = mu + eps * n_i * std_c,    mu = encode(x).mode(),  n_i ~ N(0, I) seeded by (noise_seed, i),

where std_c is the per-channel std of mu over the evaluated images and all latent positions (`latent_std`, one
pass before the sweep; the release uses the per-channel std of its latent statistics file). One draw n_i serves
every eps, so the curve moves only with eps, and the draw depends on the image alone, never on the batch it is in.
eps = 0 gives z' = mu exactly, so the first row of the sweep *is* the clean reconstruction (Table 1): one code
path for both.

Every decoded image is clamped to [-1, 1] before any metric (PSNR quantises to uint8 anyway; SSIM and the
perceptual distance are thus on valid images, where the release feeds them the unclamped decoder output), and
goes to the evaluation extractors as uint8 (`to_uint8_image`) for rFD.

Import only: `autoencoders.evaluate` (the eval_ae stage) calls these functions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from autoencoders.base import Autoencoder
from bench.features import extract_features
from bench.images import to_hwc_uint8, to_uint8_image
from bench.metrics import POOL, Reference, compute_reconstruction_fd, reconstruction_metrics, summarise
from bench.sharding import sample_noise


@dataclass(frozen=True)
class SweepResult:
    """What one eval split yields.

    Attributes:
        rows: one dict per eps, in order: {"eps", "l1[0-1]", "mse[0-1]", "psnr", "ssim", perceptual key,
            "rfd[judge]"[, "rfid[inception]"]} -> float; rows[0] (eps = 0) is the clean reconstruction.
        n_images: images evaluated.
        images: (K, H, W, 3) uint8, the first K originals (for the report's reconstruction figure).
        recons: (K, H, W, 3) uint8, their clean (eps = 0) reconstructions.
        per_image: one dict per eps: metric key -> (N,) float64 per-image values (what rows average).
        features: one dict per eps: extractor name -> (N, D) float32 pool features of the reconstructions.
        clean: (N, H, W, 3) uint8, every clean reconstruction (for the pyramid SWD, which needs the images).
    """

    rows: list[dict[str, float]]
    n_images: int
    images: np.ndarray
    recons: np.ndarray
    per_image: list[dict[str, np.ndarray]]
    features: list[dict[str, np.ndarray]]
    clean: np.ndarray


@torch.no_grad()
def latent_std(model: Autoencoder, batches: Iterable[dict], device: torch.device) -> torch.Tensor:
    """Per-channel std of the posterior means over all images and latent positions.

    Args:
        model: autoencoder in eval mode on `device`.
        batches: dicts with "image" (B, 3, H, W) in [-1, 1].
        device: where the model runs.

    Returns:
        (C,) float64 on the CPU (unbiased over the N * h * w values of each channel).
    """
    total = squares = None
    count = 0
    for batch in batches:
        mu = model.encode(batch["image"].to(device)).mode().double()  # (B, C, h, w)
        s, q = mu.sum(dim=(0, 2, 3)), mu.square().sum(dim=(0, 2, 3))  # (C,) each
        total, squares = (s, q) if total is None else (total + s, squares + q)
        count += mu.numel() // mu.shape[1]
    if total is None or count < 2:
        raise ValueError("latent_std needs at least two latent values per channel: the eval split is empty")
    mean = total / count
    # float64 sums: E[z^2] - E[z]^2 loses nothing that matters at latent scales, and needs only one pass.
    var = (squares - count * mean.square()) / (count - 1)
    return var.clamp_min(0).sqrt().cpu()


@torch.no_grad()
def noise_sweep(
    model: Autoencoder,
    batches: Iterable[dict],
    *,
    std_c: torch.Tensor,
    eps: tuple[float, ...],
    noise_seed: int,
    perceptual: nn.Module,
    extractors: dict[str, nn.Module],
    references: dict[str, Reference],
    device: torch.device,
    keep: int,
    desc: str = "noise sweep",
) -> SweepResult:
    """Decode every image's perturbed latent at each eps; score pixels, perceptual distance and rFD per eps.

    Args:
        model: autoencoder in eval mode on `device`.
        batches: dicts with "image" (B, 3, H, W) in [-1, 1] and "index" (B,) global image indices.
        std_c: (C,) per-channel latent std from `latent_std`.
        eps: perturbation ratios; eps[0] must be 0 (the clean reconstruction).
        noise_seed: base seed of the per-image noise (`metrics.noise_seed`).
        perceptual: distance module of `bench.featnets.load_perceptual`, on `device`.
        extractors: evaluation extractors by name (`bench.features.suite_extractors`), on `device`.
        references: eval-split reference statistics by extractor name.
        device: where the model runs.
        keep: originals / clean reconstructions kept for the examples figure.
        desc: progress-bar label.

    Returns:
        A `SweepResult`; rows[k] holds the metrics at eps[k].
    """
    if not eps or eps[0] != 0.0:
        raise ValueError(f"noise_eps must start at 0 (its first row is the clean reconstruction), got {list(eps)}")
    per_image: list[dict[str, list[torch.Tensor]]] = [{} for _ in eps]
    feats: list[dict[str, list[torch.Tensor]]] = [{name: [] for name in extractors} for _ in eps]
    images, recons, clean, n_images = [], [], [], 0
    scale = std_c.to(device=device, dtype=torch.float32).view(1, -1, 1, 1)  # (1, C, 1, 1)
    for batch in tqdm(batches, desc=desc, unit="batch"):
        x = batch["image"].to(device)  # (B, 3, H, W)
        mu = model.encode(x).mode()  # (B, C, h, w)
        noise = sample_noise(batch["index"].tolist(), mu.shape[1:], noise_seed).to(device, mu.dtype)  # (B, C, h, w)
        step = noise * scale.to(mu.dtype)  # (B, C, h, w): one unit of eps
        for k, e in enumerate(eps):
            y = model.decode(mu + e * step).clamp(-1, 1)  # (B, 3, H, W); eps = 0 decodes mu itself
            for key, value in reconstruction_metrics(x, y, perceptual).items():
                per_image[k].setdefault(key, []).append(value)
            recon_u8 = to_uint8_image(y)  # (B, 3, H, W) uint8
            for name, extractor in extractors.items():
                feats[k][name].append(extract_features(extractor, [recon_u8])[POOL])  # (B, D)
            if k == 0:
                clean.append(to_hwc_uint8(y))
                take = max(keep - n_images, 0)  # possibly 0: keeps the (0, H, W, 3) shape for the concatenation
                images.append(to_hwc_uint8(x[:take]))
                recons.append(to_hwc_uint8(y[:take]))
        n_images += len(x)
    if n_images < 2:
        raise ValueError(f"the noise sweep needs at least two images for rFD, got {n_images}: check the eval split")
    rows = []
    values = [{key: torch.cat(v).double().numpy() for key, v in per_k.items()} for per_k in per_image]
    pooled = [{name: torch.cat(v).numpy() for name, v in per_k.items()} for per_k in feats]
    for k, e in enumerate(eps):
        row = {"eps": float(e), **summarise(per_image[k])}
        for name in extractors:
            row |= compute_reconstruction_fd(references[name], {POOL: torch.from_numpy(pooled[k][name])})
        rows.append(row)
    return SweepResult(
        rows, n_images, np.concatenate(images), np.concatenate(recons), values, pooled, np.concatenate(clean)
    )
