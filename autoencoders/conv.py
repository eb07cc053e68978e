"""The convolutional autoencoder shared by AE, DAE, VAE and SD-VAE: the SD3 VAE layout.

The encoder and decoder are diffusers' own `Encoder` / `Decoder` (the modules inside `AutoencoderKL`), built as
the LDMAE release builds its baselines: DownEncoderBlock2D / UpDecoderBlock2D, GroupNorm, SiLU, a mid-block with
attention, and no quant / post-quant convolutions. Submodule names equal `AutoencoderKL`'s (`encoder.*`,
`decoder.*`), so a diffusers state dict loads without renaming (see `autoencoders/pretrained.py`).

Paper scale (block_out_channels 128-256-512-512, 2 layers per block, 32 norm groups, 16 latent channels, f8):
83,819,683 parameters = 319.7 MiB fp32 for the probabilistic models (double_z: the encoder emits mean and
log-variance, 32 channels). The deterministic AE / DAE emit 16 channels only, 73,744 parameters fewer:
83,745,939 = 319.5 MiB (the release built them as `AutoencoderKL` too, and ignored the log-variance half).

References (pinned):
- https://github.com/huggingface/diffusers/blob/v0.42.1/src/diffusers/models/autoencoders/vae.py
- https://github.com/huggingface/diffusers/blob/v0.42.1/src/diffusers/models/autoencoders/autoencoder_kl.py
- LDMAE baselines: https://github.com/isno0907/ldmae/blob/e145f9885b931789b462a714269fa0bb4e27b6f5/LDMAE/extract_features.py

Import only; nothing to run.
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import nn

from autoencoders.base import Autoencoder, Posterior
from bench.config import ConvArchCfg

ACT_FN = "silu"  # SD / SD3 VAE


class ConvAutoencoder(Autoencoder):
    """SD3-layout encoder/decoder; subclasses add the objective (`loss`) and set `probabilistic`.

    Args:
        arch: widths, depth, norm groups and latent channels.
    """

    probabilistic: ClassVar[bool] = False  # True: encoder emits mean || logvar (diffusers double_z)

    def __init__(self, arch: ConvArchCfg) -> None:
        # diffusers is imported where it is used: importing it costs seconds, and stages that only touch ViT items
        # (or no autoencoder at all) should not pay that at start-up.
        from diffusers.models.autoencoders.vae import Decoder, Encoder

        super().__init__(latent_channels=arch.latent_channels, downsample=2 ** (len(arch.block_out_channels) - 1))
        n = len(arch.block_out_channels)
        widths = tuple(arch.block_out_channels)
        self.encoder = Encoder(
            in_channels=3,
            out_channels=arch.latent_channels,
            down_block_types=("DownEncoderBlock2D",) * n,
            block_out_channels=widths,
            layers_per_block=arch.layers_per_block,
            norm_num_groups=arch.norm_num_groups,
            act_fn=ACT_FN,
            double_z=self.probabilistic,
        )
        self.decoder = Decoder(
            in_channels=arch.latent_channels,
            out_channels=3,
            up_block_types=("UpDecoderBlock2D",) * n,
            block_out_channels=widths,
            layers_per_block=arch.layers_per_block,
            norm_num_groups=arch.norm_num_groups,
            act_fn=ACT_FN,
        )
        # Initialisation: PyTorch defaults throughout, exactly as diffusers' AutoencoderKL (nothing to override).

    def encode(self, x: torch.Tensor) -> Posterior:
        h = self.encoder(x)  # (B, 3, H, W) -> (B, C or 2C, H/f, W/f)
        return Posterior.from_moments(h) if self.probabilistic else Posterior(h, None)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)  # (B, C, H/f, W/f) -> (B, 3, H, W)

    def encoder_parameters(self) -> list[nn.Parameter]:
        return list(self.encoder.parameters())

    def last_layer(self) -> torch.Tensor:
        """The decoder's output convolution weight (where LDM measures the adaptive GAN weight)."""
        return self.decoder.conv_out.weight
