"""A user's own autoencoder behind the suite's interface: the test fixture of `format: module`, and the README's
example ("Benchmark your own autoencoder").

The suite imports `tiny_user_ae:build` with this file's folder (the item's `path`) first on the import path, calls
`build(image_size=data.resolution)`, and checks the result against `autoencoders.base.LatentAutoencoder`: an
`nn.Module` with `latent_channels`, `downsample`, `encode(x) -> Posterior` and `decode(z)`, images in [-1, 1].
The weights are read from `model.pt` beside this file, so code and weights both sit under `path`, which DVC tracks.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from bench.posterior import Posterior

WEIGHTS = Path(__file__).with_name("model.pt")


class TinyUserAE(nn.Module):
    """Two strided convolutions each way: f4, a Gaussian posterior over 4 channels."""

    latent_channels = 4
    downsample = 4

    def __init__(self, width: int = 16) -> None:
        super().__init__()
        c = self.latent_channels
        self.encoder = nn.Sequential(
            nn.Conv2d(3, width, 4, stride=2, padding=1), nn.SiLU(), nn.Conv2d(width, 2 * c, 4, stride=2, padding=1)
        )
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(c, width, 4, stride=2, padding=1), nn.SiLU(), nn.ConvTranspose2d(width, 3, 4, 2, 1)
        )

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior.from_moments(self.encoder(x))  # (B, 3, H, W) -> mean, logvar (B, 4, H/4, W/4)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.decoder(z))  # (B, 4, H/4, W/4) -> (B, 3, H, W) in [-1, 1]

    def set_image_size(self, image_size: int) -> None:
        """Optional: convolutions take any side divisible by 4, so Table 2 may count GFLOPs at 256 px."""


def build(image_size: int) -> TinyUserAE:
    """The factory named by `entry: tiny_user_ae:build`; convolutions take any image side divisible by 4."""
    model = TinyUserAE()
    model.load_state_dict(torch.load(WEIGHTS, map_location="cpu", weights_only=True))
    return model
