"""VMAE: the Variational Masked AutoEncoder of LDMAE, a ViT autoencoder with a masked, variance-regularised latent.

Architecture (as released, `mae_for_ldmae_f8d16_prev`): patch-8 ViT encoder over visible tokens only, fixed 2-D
sin-cos positional tables (buffers: saved, never trained), no CLS token, `to_latent` giving 16 means and 16
log-variances per token (f8d16); the decoder maps a latent token back with `from_latent` + `decoder_embed`,
inserts a learned mask token at masked positions (pre-training only), adds its own positional table, runs timm
blocks, and `decoder_pred` predicts an 8x8x3 patch per token, unpatchifies, and smooths the RGB image with a
3x3 convolution. Parameter and buffer names equal the release checkpoint's (`paper/vmae-release-checkpoint.md`).

Objective, phase "pretrain": w_R L_R + w_M L_M + w_P L_P + w_reg L_reg, with L_R / L_M the per-patch MSE over
visible / masked patches (pooled over the batch), L_P the perceptual distance on the full predicted image, and
L_reg = KL(N(mu, s^2) || N(mu, s0^2)) with the mean free (summed over channels, averaged over visible tokens);
the decoder sees a reparameterised sample. Phases "finetune_decoder" / "finetune_all": no masking, no KL,
MSE + w_P3 L_P on the decoded posterior mean (the release's `reconstruct`). `encode` / `decode` never mask.

Paper: "Latent Diffusion Models with Masked AutoEncoders" (LDMAE, ICCV 2025), sec. 3 and supplement B.1.
References (pinned):
- https://github.com/isno0907/ldmae/blob/e145f9885b931789b462a714269fa0bb4e27b6f5/VMAE/models_mae.py
- https://github.com/facebookresearch/mae/blob/be47fef7a727943547afb0c670cf1b26034c3c89/models_mae.py

Import only; nothing to run.
"""

from __future__ import annotations

from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from autoencoders.base import LOGVAR_MAX, LOGVAR_MIN, Autoencoder, Posterior, require_perceptual
from autoencoders.losses import kl_free_mean, random_masking
from bench.config import VariantCfg, ViTArchCfg, VMAELossCfg
from bench.layers import patchify, resize_pos_embed, sincos_2d, unpatchify

NORM_EPS = 1e-6  # LayerNorm eps of MAE and the release
SMOOTHER_KERNEL = 3


class SmoothedPatchHead(nn.Module):
    """`decoder_pred`: per-token Linear to a p x p x C patch, unpatchify, then a 3x3 conv over the full image."""

    def __init__(self, width: int, patch_size: int, channels: int = 3) -> None:
        super().__init__()
        self.patch_size, self.channels = patch_size, channels
        self.linear_pred = nn.Linear(width, patch_size * patch_size * channels)
        self.conv_smoother = nn.Conv2d(channels, channels, SMOOTHER_KERNEL, padding=SMOOTHER_KERNEL // 2)

    def forward(self, tokens: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        patches = self.linear_pred(tokens)  # (B, L, D) -> (B, L, p*p*C)
        image = unpatchify(patches, self.patch_size, grid, self.channels)  # (B, C, H, W)
        return self.conv_smoother(image)  # (B, C, H, W)


class VMAE(Autoencoder):
    """Variational masked autoencoder.

    Args:
        arch: ViT sizes and latent channels.
        objective: mask ratio, loss weights, variance target.
        perceptual: forward(x, y) -> (B,) distance; required when a perceptual weight is > 0.
        image_size: side of the square images the positional tables are built for.
    """

    def __init__(self, arch: ViTArchCfg, objective: VMAELossCfg, perceptual: nn.Module | None, image_size: int) -> None:
        # timm is imported where it is used, so stages that only build convolutional items skip its import cost.
        from timm.layers import PatchEmbed
        from timm.models.vision_transformer import Block

        super().__init__(latent_channels=arch.latent_channels, downsample=arch.patch_size)
        self.arch, self.objective = arch, objective
        if objective.perceptual_weight > 0 or objective.finetune_perceptual_weight > 0:
            perceptual = require_perceptual(perceptual, "vmae with a perceptual weight > 0")
        self.attach_perceptual(perceptual)
        self.grid = self._grid_for(image_size)
        norm = partial(nn.LayerNorm, eps=NORM_EPS)
        w, dw, c = arch.width, arch.decoder_width, arch.latent_channels

        # encoder: visible tokens -> (mean || logvar) per token
        self.patch_embed = PatchEmbed(img_size=None, patch_size=arch.patch_size, in_chans=3, embed_dim=w)
        self.register_buffer("pos_embed", sincos_2d(w, self.grid).unsqueeze(0))  # (1, L, D), fixed
        self.blocks = nn.ModuleList(
            [Block(w, arch.heads, arch.mlp_ratio, qkv_bias=True, norm_layer=norm) for _ in range(arch.depth)]
        )
        self.norm = norm(w)
        self.to_latent = nn.Linear(w, 2 * c)

        # decoder: latent tokens (+ mask tokens) -> image
        self.from_latent = nn.Linear(c, w)
        self.decoder_embed = nn.Linear(w, dw)
        self.mask_token = nn.Parameter(torch.zeros(1, 1, dw))
        self.register_buffer("decoder_pos_embed", sincos_2d(dw, self.grid).unsqueeze(0))  # (1, L, Dd), fixed
        self.decoder_blocks = nn.ModuleList(
            [
                Block(dw, arch.decoder_heads, arch.mlp_ratio, qkv_bias=True, norm_layer=norm)
                for _ in range(arch.decoder_depth)
            ]
        )
        self.decoder_norm = norm(dw)
        self.decoder_pred = SmoothedPatchHead(dw, arch.patch_size)
        self.initialize_weights()

    @classmethod
    def from_config(cls, variant: VariantCfg, arch: ViTArchCfg, perceptual: nn.Module | None, image_size: int) -> VMAE:
        return cls(arch, variant.vmae, perceptual, image_size)

    def initialize_weights(self) -> None:
        # Positional tables are fixed sin-cos buffers, set in __init__ / set_image_size.
        w = self.patch_embed.proj.weight.data
        nn.init.xavier_uniform_(w.view(w.shape[0], -1))  # MAE: patch embedding initialised like a Linear
        nn.init.normal_(self.mask_token, std=0.02)  # MAE: mask token N(0, 0.02)
        self.apply(_init_linear)  # MAE / JAX ViT: xavier_uniform Linear weights, zero biases
        # LayerNorms (1, 0), the patch-embed bias and decoder_pred.conv_smoother keep PyTorch defaults, as released.

    # --- geometry -------------------------------------------------------------------------------

    def _grid_for(self, image_size: int) -> int:
        if image_size % self.arch.patch_size:
            raise ValueError(f"image size {image_size} is not divisible by the patch size {self.arch.patch_size}")
        return image_size // self.arch.patch_size

    @property
    def image_size(self) -> int:
        return self.grid * self.arch.patch_size

    def set_image_size(self, image_size: int) -> None:
        """Phase 2: bilinearly resize both positional tables (align_corners=False) to a new image size, as the
        release does when its 128-px model moves to 256 px. The resized tables are kept, not re-derived."""
        self.grid = self._grid_for(image_size)
        self.pos_embed = resize_pos_embed(self.pos_embed, self.grid)  # (1, L', D)
        self.decoder_pos_embed = resize_pos_embed(self.decoder_pos_embed, self.grid)  # (1, L', Dd)

    # --- phases ---------------------------------------------------------------------------------

    def encoder_parameters(self) -> list[nn.Parameter]:
        modules = [self.patch_embed, self.blocks, self.norm, self.to_latent]
        return [p for m in modules for p in m.parameters()]

    def frozen_parameters(self) -> list[nn.Parameter]:
        # The mask token is unused without masking; freezing it keeps it out of optimisers (and of DDP's
        # unused-parameter check).
        unused = self.phase != "pretrain" or self.objective.mask_ratio == 0
        return super().frozen_parameters() + ([self.mask_token] if unused else [])

    # --- forward --------------------------------------------------------------------------------

    def forward_encoder(
        self, x: torch.Tensor, mask_ratio: float
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Returns mean, logvar (B, L_keep, C), mask (B, L; 1 = removed) and ids_restore (None if unmasked)."""
        if x.shape[-2:] != (self.image_size, self.image_size):
            raise ValueError(f"VMAE built for {self.image_size} px got {tuple(x.shape[-2:])}: call set_image_size")
        h = self.patch_embed(x) + self.pos_embed  # (B, L, D)
        mask = torch.zeros(h.shape[:2], device=h.device, dtype=h.dtype)  # (B, L)
        ids_restore = None
        if mask_ratio > 0:
            h, mask, ids_restore = random_masking(h, mask_ratio)  # (B, L_keep, D), (B, L), (B, L)
        for block in self.blocks:
            h = block(h)  # (B, L_keep, D)
        h = self.norm(h)  # (B, L_keep, D)
        mean, logvar = self.to_latent(h).chunk(2, dim=-1)  # (B, L_keep, C) each
        return mean, logvar.clamp(LOGVAR_MIN, LOGVAR_MAX), mask, ids_restore

    def forward_decoder(self, z: torch.Tensor, ids_restore: torch.Tensor | None) -> torch.Tensor:
        """Latent tokens (B, L_keep, C) -> image (B, 3, H, W); mask tokens fill the removed positions."""
        y = self.decoder_embed(self.from_latent(z))  # (B, L_keep, Dd)
        if ids_restore is not None:
            fill = self.mask_token.expand(y.shape[0], ids_restore.shape[1] - y.shape[1], -1)  # (B, L - L_keep, Dd)
            y = torch.cat([y, fill], dim=1)  # (B, L, Dd), shuffled order
            y = torch.gather(y, 1, ids_restore.unsqueeze(-1).expand(-1, -1, y.shape[2]))  # (B, L, Dd), unshuffled
        y = y + self.decoder_pos_embed  # (B, L, Dd)
        for block in self.decoder_blocks:
            y = block(y)  # (B, L, Dd)
        y = self.decoder_norm(y)  # (B, L, Dd)
        return self.decoder_pred(y, (self.grid, self.grid))  # (B, 3, H, W)

    def encode(self, x: torch.Tensor) -> Posterior:
        mean, logvar, _, _ = self.forward_encoder(x, mask_ratio=0.0)  # (B, L, C) each, all tokens
        return Posterior(self._to_map(mean), self._to_map(logvar))  # (B, C, h, w) each

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        if z.shape[-2:] != (self.grid, self.grid):
            raise ValueError(f"VMAE built for a {self.grid}x{self.grid} latent got {tuple(z.shape[-2:])}")
        return self.forward_decoder(z.flatten(2).transpose(1, 2), None)  # (B, C, h, w) -> (B, 3, H, W)

    def _to_map(self, tokens: torch.Tensor) -> torch.Tensor:
        return tokens.transpose(1, 2).reshape(tokens.shape[0], -1, self.grid, self.grid)  # (B, L, C) -> (B, C, h, w)

    # --- objective ------------------------------------------------------------------------------

    def loss(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        x = batch["image"]  # (B, 3, H, W)
        return self.pretrain_loss(x) if self.phase == "pretrain" else self.finetune_loss(x)

    def pretrain_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        cfg = self.objective
        mean, logvar, mask, ids_restore = self.forward_encoder(x, cfg.mask_ratio)  # (B, L_keep, C), (B, L)
        z = mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)  # reparameterised sample
        pred = self.forward_decoder(z, ids_restore)  # (B, 3, H, W)
        err = (patchify(pred, self.arch.patch_size) - patchify(x, self.arch.patch_size)).pow(2).mean(-1)  # (B, L)
        visible = 1.0 - mask  # (B, L)
        l_r = (err * visible).sum() / visible.sum()
        l_m = (err * mask).sum() / mask.sum().clamp_min(1.0)  # 0 when nothing is masked
        l_reg = kl_free_mean(logvar, cfg.reg_std).sum() / (mean.shape[0] * mean.shape[1])  # per visible token
        l_p = self._perceptual(x, pred) if cfg.perceptual_weight > 0 else torch.zeros((), device=x.device)
        loss = cfg.visible_weight * l_r + cfg.masked_weight * l_m + cfg.perceptual_weight * l_p + cfg.reg_weight * l_reg
        return {"loss": loss, "l_r": l_r.detach(), "l_m": l_m.detach(), "l_p": l_p.detach(), "l_reg": l_reg.detach()}

    def finetune_loss(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        w_p = self.objective.finetune_perceptual_weight
        mean, _, _, _ = self.forward_encoder(x, mask_ratio=0.0)  # (B, L, C)
        pred = self.forward_decoder(mean, None)  # (B, 3, H, W)
        mse = F.mse_loss(pred, x)
        l_p = self._perceptual(x, pred) if w_p > 0 else torch.zeros((), device=x.device)
        return {"loss": mse + w_p * l_p, "mse": mse.detach(), "l_p": l_p.detach()}

    def _perceptual(self, x: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        return self.perceptual(x, pred).mean()  # full image, masked regions included


def _init_linear(m: nn.Module) -> None:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
