"""VAE: the SD3-layout convolutional autoencoder trained with reconstruction + KL to N(0, I) (supplement eq. 5).

loss = MSE(x, g(z)) + weight * KL(q(z|x) || N(0, I)), z ~ q(z|x) by reparameterisation. The KL is summed per
image and divided by the number of image values (3 H W), i.e. both terms are per-image sums scaled by the same
constant, so `weight` is the beta of a beta-VAE and compares with the LDM recipe's kl_weight.
Paper: "Latent Diffusion Models with Masked AutoEncoders" (LDMAE, ICCV 2025), supplement A; Kingma & Welling,
"Auto-Encoding Variational Bayes" (ICLR 2014).

Import only; nothing to run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.conv import ConvAutoencoder
from autoencoders.losses import kl_standard_normal
from bench.config import ConvArchCfg, KLCfg, VariantCfg


class VAE(ConvAutoencoder):
    """Probabilistic convolutional autoencoder (encoder emits mean || logvar).

    Args:
        arch: the shared convolutional layout.
        kl: the KL weight.
    """

    probabilistic = True

    def __init__(self, arch: ConvArchCfg, kl: KLCfg) -> None:
        super().__init__(arch)
        self.kl = kl

    @classmethod
    def from_config(cls, variant: VariantCfg, arch: ConvArchCfg, perceptual: nn.Module | None, image_size: int) -> VAE:
        return cls(arch, variant.vae)

    def loss(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["image"]  # (B, 3, H, W)
        posterior = self.encode(x)  # mean, logvar: (B, C, h, w)
        x_rec = self.decode(posterior.sample())  # (B, 3, H, W)
        mse = F.mse_loss(x_rec, x)
        kl = kl_standard_normal(posterior.mean, posterior.logvar).sum() / x.numel()  # per image value
        loss = mse + self.kl.weight * kl
        return {"loss": loss, "mse": mse.detach(), "kl": kl.detach()}
