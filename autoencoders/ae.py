"""AE: the SD3-layout convolutional autoencoder trained with MSE only (supplement eq. 3).

L_AE = E ||x - g(f(x))||^2, deterministic latents (the encoder emits 16 channels, no log-variance).
Paper: "Latent Diffusion Models with Masked AutoEncoders" (LDMAE, ICCV 2025), supplement A.

Import only; nothing to run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.conv import ConvAutoencoder
from bench.config import ConvArchCfg, VariantCfg


class AE(ConvAutoencoder):
    """Deterministic convolutional autoencoder, MSE objective."""

    probabilistic = False

    @classmethod
    def from_config(cls, variant: VariantCfg, arch: ConvArchCfg, perceptual: nn.Module | None, image_size: int) -> AE:
        return cls(arch)

    def loss(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["image"]  # (B, 3, H, W)
        x_rec = self.decode(self.encode(x).mode())  # (B, 3, H, W)
        mse = F.mse_loss(x_rec, x)
        return {"loss": mse, "mse": mse.detach()}
