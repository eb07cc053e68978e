"""Small loss parts shared by the autoencoders: KL terms, MAE random masking, DAE corruption, and the GAN pieces
of the latent-diffusion `LPIPSWithDiscriminator` recipe (hinge loss, start gate, adaptive weight).

References (pinned):
- LDM recipe: https://github.com/CompVis/latent-diffusion/blob/a506df5756472e2ebaf9078affdde2c4f1502cd4/ldm/modules/losses/contperceptual.py
- hinge / adopt_weight: https://github.com/CompVis/taming-transformers/blob/9944179ae6f928fbc39d66c493a122993da62053/taming/modules/losses/vqperceptual.py
- MAE masking: https://github.com/facebookresearch/mae/blob/be47fef7a727943547afb0c670cf1b26034c3c89/models_mae.py
- free-mean KL: isno0907/ldmae `VMAE/util/misc.py` (DiagonalGaussianDistribution.kl with fixed_std),
  https://github.com/isno0907/ldmae/blob/e145f9885b931789b462a714269fa0bb4e27b6f5/VMAE/util/misc.py

Import only; nothing to run.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

ADAPTIVE_EPS = 1e-4  # LDM: keeps the grad-norm ratio finite when the adversarial gradient vanishes
ADAPTIVE_MAX = 1e4  # LDM: clamp of the adaptive weight


def kl_standard_normal(mean: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise KL(N(mean, exp(logvar)) || N(0, 1)) = 0.5 (mean^2 + var - 1 - logvar); same shape as mean."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1.0 - logvar)


def kl_free_mean(logvar: torch.Tensor, target_std: float) -> torch.Tensor:
    """Elementwise KL(N(mu, s^2) || N(mu, s0^2)) = 0.5 (s^2 / s0^2 - 1 - log s^2 + log s0^2), the mean left free.

    This is the VMAE latent regulariser: only the variance is pulled to s0^2 (paper: s0 = 1; release: 1e-3).

    Args:
        logvar: log s^2, any shape.
        target_std: s0 > 0.

    Returns:
        Per-element KL, same shape as `logvar`.
    """
    target_logvar = 2.0 * math.log(target_std)
    return 0.5 * (torch.exp(logvar - target_logvar) - 1.0 - logvar + target_logvar)


def random_masking(
    tokens: torch.Tensor, mask_ratio: float, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """MAE per-sample random masking by shuffling: keep the first int(L * (1 - ratio)) of a random permutation.

    Args:
        tokens: (B, L, D).
        mask_ratio: fraction of tokens removed, in [0, 1).
        generator: optional RNG for the permutation.

    Returns:
        visible (B, L_keep, D) tokens in shuffled order; mask (B, L) with 1 = removed, in original order;
        ids_restore (B, L), the permutation that puts [visible, removed] back in original order.
    """
    b, length, d = tokens.shape
    keep = int(length * (1 - mask_ratio))
    noise = torch.rand(b, length, generator=generator, device=tokens.device)  # (B, L)
    ids_shuffle = torch.argsort(noise, dim=1)  # (B, L): smallest noise kept
    ids_restore = torch.argsort(ids_shuffle, dim=1)  # (B, L)
    ids_keep = ids_shuffle[:, :keep]  # (B, L_keep)
    visible = torch.gather(tokens, 1, ids_keep.unsqueeze(-1).expand(-1, -1, d))  # (B, L_keep, D)
    mask = torch.ones(b, length, device=tokens.device, dtype=tokens.dtype)  # (B, L)
    mask[:, :keep] = 0
    mask = torch.gather(mask, 1, ids_restore)  # (B, L) in original token order
    return visible, mask, ids_restore


def corrupt(images: torch.Tensor, noise: str, level: float, generator: torch.Generator | None = None) -> torch.Tensor:
    """DAE input corruption p_c(x~|x), images in [-1, 1].

    Args:
        images: (B, C, H, W).
        noise: "gaussian" (x + level * eps), "saltpepper" (a `level` fraction of pixels set to -1 or +1, all
            channels together) or "mask" (a `level` fraction of pixels set to 0, mid-grey).
        level: noise std, or pixel fraction.
        generator: optional RNG.

    Returns:
        Corrupted images, (B, C, H, W).
    """
    b, _, h, w = images.shape
    dev, dt = images.device, images.dtype
    if noise == "gaussian":
        return images + level * torch.randn(images.shape, generator=generator, device=dev, dtype=dt)
    hit = torch.rand(b, 1, h, w, generator=generator, device=dev) < level  # (B, 1, H, W)
    if noise == "mask":
        return images.masked_fill(hit, 0.0)
    if noise == "saltpepper":
        salt = torch.rand(b, 1, h, w, generator=generator, device=dev) < 0.5  # (B, 1, H, W)
        value = salt.to(dt) * 2.0 - 1.0  # +1 salt, -1 pepper
        return torch.where(hit, value.expand_as(images), images)
    raise ValueError(f"unknown DAE noise '{noise}': expected gaussian, saltpepper or mask")


def hinge_d_loss(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """Discriminator hinge loss 0.5 (E[relu(1 - D(x))] + E[relu(1 + D(x^))])."""
    return 0.5 * (F.relu(1.0 - logits_real).mean() + F.relu(1.0 + logits_fake).mean())


def gan_gate(factor: float, step: int, start: int) -> float:
    """`factor` from step `start` on, 0 before (taming's `adopt_weight`): the generator gets a head start."""
    return factor if step >= start else 0.0


def adaptive_gan_weight(
    nll: torch.Tensor, g_loss: torch.Tensor, last_layer: torch.Tensor, disc_weight: float
) -> torch.Tensor:
    """LDM's adaptive weight: ||grad nll|| / (||grad g_loss|| + eps) at the decoder's last layer, clamped, times
    `disc_weight`, detached. Returns 0 where no graph exists (evaluation under no_grad).

    Args:
        nll: scalar reconstruction (+ perceptual) loss.
        g_loss: scalar generator adversarial loss.
        last_layer: the decoder's output-layer weight.
        disc_weight: the configured multiplier.

    Returns:
        A detached scalar tensor.
    """
    if not (torch.is_grad_enabled() and nll.requires_grad and g_loss.requires_grad):
        return torch.zeros((), device=nll.device)
    nll_grad = torch.autograd.grad(nll, last_layer, retain_graph=True)[0]
    g_grad = torch.autograd.grad(g_loss, last_layer, retain_graph=True)[0]
    weight = torch.norm(nll_grad) / (torch.norm(g_grad) + ADAPTIVE_EPS)
    return (weight.clamp(0.0, ADAPTIVE_MAX) * disc_weight).detach()
