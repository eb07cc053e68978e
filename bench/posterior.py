"""The posterior an autoencoder's `encode` returns: a diagonal Gaussian q(z|x), or a point mass.

It sits below the autoencoders because the diffusion side needs it without the models: the train_dit stage
re-samples stored moments (`diffusion.latents.draw`) and must not import (or depend on) any autoencoder.
`autoencoders.base` re-exports it as part of the autoencoder interface.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

LOGVAR_MIN, LOGVAR_MAX = -30.0, 20.0  # clamp of the diffusers / LDMAE DiagonalGaussianDistribution


@dataclass(frozen=True)
class Posterior:
    """A diagonal Gaussian q(z|x), or a point mass where `logvar` is None (deterministic models).

    Attributes:
        mean: (B, C, h, w) posterior mean.
        logvar: (B, C, h, w) log-variance, clamped to [-30, 20], or None.
    """

    mean: torch.Tensor
    logvar: torch.Tensor | None

    @classmethod
    def from_moments(cls, moments: torch.Tensor) -> Posterior:
        """Split (B, 2C, h, w) moments into mean (first C channels) and clamped logvar (last C)."""
        mean, logvar = torch.chunk(moments, 2, dim=1)
        return cls(mean, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX))

    @property
    def std(self) -> torch.Tensor | None:
        return None if self.logvar is None else torch.exp(0.5 * self.logvar)

    def mode(self) -> torch.Tensor:
        """The posterior mean, (B, C, h, w)."""
        return self.mean

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A reparameterised draw mean + std * eps, (B, C, h, w); the mean itself for a point mass."""
        if self.logvar is None:
            return self.mean
        eps = torch.randn(self.mean.shape, generator=generator, device=self.mean.device, dtype=self.mean.dtype)
        return self.mean + self.std * eps
