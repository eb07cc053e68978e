"""SD-VAE: the SD3-layout convolutional VAE trained with the latent-diffusion `LPIPSWithDiscriminator` recipe
(supplement eq. 6): L1 + LPIPS + KL + a hinge PatchGAN whose weight adapts to the decoder's last-layer gradients.

Normalisation follows LDM exactly: the per-pixel term |x - x^| + perceptual_weight * LPIPS(x, x^) is summed per
image and averaged over the batch (nll); the KL is summed per image and averaged (kl_weight 1e-6 in LDM);
the generator term -E[D(x^)] is scaled by the adaptive weight and by `disc_factor`, which is 0 before
`disc_start`. The discriminator's own hinge loss is returned as "disc_loss" on *detached* images, and
`optim_groups` gives it the discriminator's parameters only. LDM's learnable output log-variance is left out:
its optimiser never received that parameter, so it stays at its initial 0.

Paper: "Latent Diffusion Models with Masked AutoEncoders" (LDMAE, ICCV 2025), supplement A; Rombach et al.,
"High-Resolution Image Synthesis with Latent Diffusion Models" (CVPR 2022); Esser et al., "Taming Transformers"
(CVPR 2021). Reference (pinned):
https://github.com/CompVis/latent-diffusion/blob/a506df5756472e2ebaf9078affdde2c4f1502cd4/ldm/modules/losses/contperceptual.py

Import only; nothing to run.
"""

from __future__ import annotations

import torch
from torch import nn

from autoencoders.base import require_perceptual
from autoencoders.conv import ConvAutoencoder
from autoencoders.discriminator import NLayerDiscriminator
from autoencoders.losses import adaptive_gan_weight, gan_gate, hinge_d_loss, kl_standard_normal
from bench.config import ConvArchCfg, SDVAELossCfg, VariantCfg


class SDVAE(ConvAutoencoder):
    """Probabilistic convolutional autoencoder with perceptual and adversarial training.

    Args:
        arch: the shared convolutional layout.
        objective: loss weights, discriminator size and start step.
        perceptual: forward(x, y) -> (B,) perceptual distance (LPIPS-like), required.
    """

    probabilistic = True

    def __init__(self, arch: ConvArchCfg, objective: SDVAELossCfg, perceptual: nn.Module | None) -> None:
        super().__init__(arch)
        self.objective = objective
        self.attach_perceptual(require_perceptual(perceptual, "sd-vae"))
        self.discriminator = NLayerDiscriminator(3, objective.disc_channels, objective.disc_layers)

    @classmethod
    def from_config(
        cls, variant: VariantCfg, arch: ConvArchCfg, perceptual: nn.Module | None, image_size: int
    ) -> SDVAE:
        return cls(arch, variant.sdvae, perceptual)

    def optim_groups(self) -> dict[str, list[nn.Parameter]]:
        disc = list(self.discriminator.parameters())
        disc_ids = {id(p) for p in disc}
        gen = [p for p in self.parameters() if p.requires_grad and id(p) not in disc_ids]
        return {"loss": gen, "disc_loss": disc}

    def _judge_frozen(self, x: torch.Tensor) -> torch.Tensor:
        """Discriminator logits with its parameters detached: the generator's adversarial term must train the
        generator only. The shared loop backpropagates all losses at once, so "loss" may not reach the
        discriminator (LDM gets the same effect by alternating optimisers)."""
        state = {k: v.detach() for k, v in self.discriminator.named_parameters()}
        state.update(self.discriminator.named_buffers())
        return torch.func.functional_call(self.discriminator, state, (x,))  # (B, 1, h', w')

    def loss(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        cfg = self.objective
        x = batch["image"]  # (B, 3, H, W)
        b = x.shape[0]
        posterior = self.encode(x)  # mean, logvar: (B, C, h, w)
        x_rec = self.decode(posterior.sample())  # (B, 3, H, W)

        l1 = (x - x_rec).abs()  # (B, 3, H, W)
        p = self.perceptual(x, x_rec)  # (B,)
        # LDM adds the per-image LPIPS to every pixel's L1 and sums over pixels: LPIPS counts 3HW times.
        nll = (l1.sum(dim=(1, 2, 3)) + cfg.perceptual_weight * p * l1[0].numel()).mean()
        kl = kl_standard_normal(posterior.mean, posterior.logvar).sum() / b

        factor = gan_gate(cfg.disc_factor, step, cfg.disc_start)
        g_loss = -self._judge_frozen(x_rec).mean()  # generator hinge term
        d_weight = adaptive_gan_weight(nll, g_loss, self.last_layer(), cfg.disc_weight) if factor > 0 else 0.0
        loss = nll + cfg.kl_weight * kl + d_weight * factor * g_loss

        logits_real = self.discriminator(x.detach())  # (B, 1, h', w')
        logits_fake = self.discriminator(x_rec.detach())  # (B, 1, h', w'): no path back to the generator
        disc_loss = factor * hinge_d_loss(logits_real, logits_fake)
        return {
            "loss": loss,
            "disc_loss": disc_loss,
            "nll": nll.detach(),
            "l1": l1.mean().detach(),
            "perceptual": p.mean().detach(),
            "kl": kl.detach(),
            "g_loss": g_loss.detach(),
            "d_weight": torch.as_tensor(d_weight).detach(),
        }
