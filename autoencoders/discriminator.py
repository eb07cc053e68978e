"""PatchGAN discriminator of the SD-VAE recipe (pix2pix `NLayerDiscriminator`, as used by taming / LDM).

Strided 4x4 convolutions with LeakyReLU(0.2) and BatchNorm (taming's default, `use_actnorm=False`); the
output is a map of per-patch real/fake logits. Real and fake batches go through separately, as in LDM.

References (pinned):
- https://github.com/CompVis/taming-transformers/blob/d8464046ffba4a03273df8fe93788ccf6a915993/taming/modules/discriminator/model.py
- https://github.com/junyanz/pytorch-CycleGAN-and-pix2pix (origin of NLayerDiscriminator)

Import only; nothing to run.
"""

from __future__ import annotations

import torch
from torch import nn

KERNEL, PAD = 4, 1  # pix2pix PatchGAN geometry
LEAK = 0.2
MAX_WIDTH_MULT = 8  # widths grow x2 per layer up to 8x the first layer


def _conv_block(c_in: int, c_out: int, stride: int) -> list[nn.Module]:
    """Conv (no bias: BatchNorm follows) -> BatchNorm -> LeakyReLU."""
    return [
        nn.Conv2d(c_in, c_out, KERNEL, stride, PAD, bias=False),
        nn.BatchNorm2d(c_out),
        nn.LeakyReLU(LEAK, inplace=True),
    ]


class NLayerDiscriminator(nn.Module):
    """PatchGAN: (B, C, H, W) images -> (B, 1, h, w) logits.

    Args:
        in_channels: image channels.
        channels: width of the first layer (LDM: 64).
        num_layers: number of stride-2 layers (LDM: 3).
    """

    def __init__(self, in_channels: int = 3, channels: int = 64, num_layers: int = 3) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_channels, channels, KERNEL, 2, PAD), nn.LeakyReLU(LEAK, inplace=True)]
        mult = 1
        for n in range(1, num_layers):
            prev, mult = mult, min(2**n, MAX_WIDTH_MULT)
            layers += _conv_block(channels * prev, channels * mult, stride=2)
        prev, mult = mult, min(2**num_layers, MAX_WIDTH_MULT)
        layers += _conv_block(channels * prev, channels * mult, stride=1)
        layers.append(nn.Conv2d(channels * mult, 1, KERNEL, 1, PAD))
        self.main = nn.Sequential(*layers)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, 0.0, 0.02)  # pix2pix/taming: N(0, 0.02) conv weights
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.normal_(m.weight, 1.0, 0.02)  # pix2pix/taming: BN gain N(1, 0.02), zero shift
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.main(x)  # (B, 3, H, W) -> (B, 1, h, w)
