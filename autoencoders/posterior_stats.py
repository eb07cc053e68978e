"""What an autoencoder's posterior q(z|x) looks like on an eval split: the numbers behind "unit variance" and "a VAE
in the paper's sense", recorded by eval_ae for every probabilistic autoencoder.

Over all N images and h x w latent positions of a split, per latent channel c:

    std_c = mean over (n, i, j) of sigma_{n,c,i,j}                                 (posterior std, not variance)
    kl_c  = mean over (n, i, j) of 0.5 (mu^2 + sigma^2 - 1 - log sigma^2)          KL(q || N(0, 1)) in nats per value

and `kl` = the mean of kl_c over channels (nats per latent value). A channel is *active* when kl_c > `active_kl`
(`metrics.active_kl`, 0.01 nats by default): a channel whose posterior sits on the prior at every position carries no
information about the image (Burda et al. 2016 count active units by the variance of the posterior mean instead;
the KL is used here because it is what the VAE objective trades against reconstruction). VMAE's regulariser leaves
the mean free, so its kl_c (to N(0, 1), the VAE prior) mostly measures the magnitude of its means: read its std_c.

Import only: `autoencoders.evaluate` (the eval_ae stage) calls `posterior_summary`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from autoencoders.base import Autoencoder, Posterior
from autoencoders.losses import kl_standard_normal


class PosteriorMoments:
    """Running float64 sums of sigma and of the KL per channel, over any number of posteriors (batch-size free)."""

    def __init__(self) -> None:
        self.std_sum: torch.Tensor | None = None  # (C,)
        self.kl_sum: torch.Tensor | None = None  # (C,)
        self.count = 0  # values per channel so far (images x positions)

    def add(self, posterior: Posterior) -> None:
        """Accumulate one batch; `posterior.logvar` must be set (a probabilistic model).

        Args:
            posterior: mean and logvar (B, C, h, w).
        """
        if posterior.logvar is None:
            raise ValueError("a deterministic posterior (no logvar) has no std or KL: check the model is probabilistic")
        mean, logvar = posterior.mean.double(), posterior.logvar.double()
        std = torch.exp(0.5 * logvar).sum(dim=(0, 2, 3))  # (C,)
        kl = kl_standard_normal(mean, logvar).sum(dim=(0, 2, 3))  # (C,)
        self.std_sum = std if self.std_sum is None else self.std_sum + std
        self.kl_sum = kl if self.kl_sum is None else self.kl_sum + kl
        self.count += mean.numel() // mean.shape[1]

    def summary(self, active_kl: float) -> dict[str, Any]:
        """The statistics of the module docstring.

        Args:
            active_kl: nats per value above which a channel counts as active.

        Returns:
            {"std_per_channel": [C], "std_mean", "kl_per_channel": [C] (nats per value), "kl" (nats per value),
            "active_channels" (int), "active_kl" (the threshold), "channels" C, "values_per_channel"}.
        """
        if self.std_sum is None or self.kl_sum is None:
            raise ValueError("no posterior was added: the eval split is empty")
        std = (self.std_sum / self.count).cpu()
        kl = (self.kl_sum / self.count).cpu()
        return {
            "std_per_channel": std.tolist(),
            "std_mean": float(std.mean()),
            "kl_per_channel": kl.tolist(),
            "kl": float(kl.mean()),
            "active_channels": int((kl > active_kl).sum()),
            "active_kl": active_kl,
            "channels": len(std),
            "values_per_channel": self.count,
        }


@torch.no_grad()
def posterior_summary(
    model: Autoencoder, batches: Iterable[dict], device: torch.device, active_kl: float
) -> dict[str, Any] | None:
    """Encode every image and summarise the posteriors (`PosteriorMoments.summary`); None for a deterministic model.

    Args:
        model: autoencoder in eval mode on `device`.
        batches: dicts with "image" (B, 3, H, W) in [-1, 1].
        device: where the model runs.
        active_kl: see `PosteriorMoments.summary`.
    """
    moments = PosteriorMoments()
    for batch in batches:
        posterior = model.encode(batch["image"].to(device))  # mean, logvar: (B, C, h, w)
        if posterior.logvar is None:
            return None
        moments.add(posterior)
    return moments.summary(active_kl)
