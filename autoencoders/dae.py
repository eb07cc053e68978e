"""DAE: the SD3-layout convolutional autoencoder trained to recover the clean image from a corrupted one
(supplement eq. 4): L_DAE = E ||x - g(f(x~))||^2 with x~ ~ p_c(x~|x) (gaussian | saltpepper | mask noise).

Corruption applies in `loss` only: `encode` sees the image as given.
Paper: "Latent Diffusion Models with Masked AutoEncoders" (LDMAE, ICCV 2025), supplement A; Vincent et al.,
"Extracting and composing robust features with denoising autoencoders" (ICML 2008).

Import only; nothing to run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.conv import ConvAutoencoder
from autoencoders.losses import corrupt
from bench.config import ConvArchCfg, DAELossCfg, VariantCfg


class DAE(ConvAutoencoder):
    """Deterministic convolutional denoising autoencoder.

    Args:
        arch: the shared convolutional layout.
        noise: corruption type and level.
    """

    probabilistic = False

    def __init__(self, arch: ConvArchCfg, noise: DAELossCfg) -> None:
        super().__init__(arch)
        self.noise = noise

    @classmethod
    def from_config(cls, variant: VariantCfg, arch: ConvArchCfg, perceptual: nn.Module | None, image_size: int) -> DAE:
        return cls(arch, variant.dae)

    def loss(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["image"]  # (B, 3, H, W)
        x_noisy = corrupt(x, self.noise.noise, self.noise.level)  # (B, 3, H, W)
        x_rec = self.decode(self.encode(x_noisy).mode())  # (B, 3, H, W)
        mse = F.mse_loss(x_rec, x)  # against the clean image
        return {"loss": mse, "mse": mse.detach()}
