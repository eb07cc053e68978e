"""Params section `autoencoders`: items, shared budget, one architecture per family, per-variant objectives."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from bench.config.core import OptimGroupCfg, TrainCfg
from bench.config.fields import bound

AutoencoderKind = Literal["ae", "dae", "vae", "sd-vae", "vmae"]  # the keys of autoencoders.REGISTRY
CONV_KINDS = ("ae", "dae", "vae", "sd-vae")  # share `autoencoders.conv`; "vmae" uses `autoencoders.vit`
OBJECTIVE_BLOCK = {"ae": None, "dae": "dae", "vae": "vae", "sd-vae": "sdvae", "vmae": "vmae"}  # kind -> field


@dataclass(frozen=True)
class ConvArchCfg:
    """SD3-VAE layout shared by the four convolutional baselines (diffusers Encoder/Decoder, no quant convs).

    Paper scale: block_out_channels (128, 256, 512, 512), layers_per_block 2, norm_num_groups 32, 16 latent
    channels: f8, 83.8 M parameters. Downsampling is 2 ** (len(block_out_channels) - 1).
    """

    block_out_channels: tuple[int, ...]
    layers_per_block: int = bound(ge=1)
    norm_num_groups: int = bound(ge=1)
    latent_channels: int = bound(ge=1)

    def check(self) -> None:
        if not self.block_out_channels:
            raise ValueError("block_out_channels needs at least one width")
        bad = [c for c in self.block_out_channels if c < 1 or c % self.norm_num_groups]
        if bad:
            raise ValueError(f"widths {bad} are not positive multiples of norm_num_groups ({self.norm_num_groups})")


@dataclass(frozen=True)
class ViTArchCfg:
    """VMAE ViT encoder/decoder (timm blocks, fixed 2-D sin-cos PE, no CLS token). Downsampling = patch_size.

    Release / paper scale (`mae_for_ldmae_f8d16_prev`): patch 8, width 192, depth 12 + 12, 12 heads, MLP ratio 4,
    16 latent channels: 10.80 M trainable parameters at 256 px.
    """

    patch_size: int = bound(ge=1)
    width: int = bound(ge=4)
    depth: int = bound(ge=1)
    heads: int = bound(ge=1)
    decoder_width: int = bound(ge=4)
    decoder_depth: int = bound(ge=1)
    decoder_heads: int = bound(ge=1)
    mlp_ratio: float = bound(gt=0.0)
    latent_channels: int = bound(ge=1)

    def check(self) -> None:
        for width, heads, what in ((self.width, self.heads, ""), (self.decoder_width, self.decoder_heads, "decoder_")):
            if width % heads:
                raise ValueError(f"{what}width ({width}) must be divisible by {what}heads ({heads})")
            if width % 4:
                raise ValueError(f"{what}width ({width}) must be divisible by 4 (2-D sin-cos positional embedding)")


@dataclass(frozen=True)
class PhasesCfg:
    """Training phases (LDMAE release recipe): 1 pre-train at reduced size, 2 positional-table resize, 3 fine-tune.

    Phase 3 takes the last `finetune_fraction` of `train.steps` at full resolution with `finetune_lr`;
    `finetune: decoder` freezes the encoder (the paper), `all` trains everything (what the release really did).
    """

    pretrain_downscale: int = bound(ge=1)  # phase-1 image side = data.resolution // this (release: 2)
    finetune_fraction: float = bound(ge=0.0, lt=1.0)  # 0 disables phase 3
    finetune: Literal["decoder", "all"]
    finetune_lr: float = bound(gt=0.0)


@dataclass(frozen=True)
class DAELossCfg:
    """DAE corruption: `gaussian` adds N(0, level^2) noise; `saltpepper` / `mask` set a `level` fraction of pixels
    to +-1 / 0 (mid-grey in [-1, 1])."""

    noise: Literal["gaussian", "saltpepper", "mask"]
    level: float = bound(ge=0.0)

    def check(self) -> None:
        if self.noise != "gaussian" and self.level > 1.0:
            raise ValueError(f"level is a pixel fraction for noise '{self.noise}': expected <= 1, got {self.level}")


@dataclass(frozen=True)
class KLCfg:
    """VAE: MSE + weight * KL(q(z|x) || N(0, I)); the KL is summed per image and divided by the number of image
    values, so weights compare with the per-image sums of the LDM recipe."""

    weight: float = bound(ge=0.0)


@dataclass(frozen=True)
class SDVAELossCfg:
    """SD-VAE: the latent-diffusion `LPIPSWithDiscriminator` recipe (L1 + LPIPS + KL + adaptive hinge PatchGAN)."""

    perceptual_weight: float = bound(ge=0.0)
    kl_weight: float = bound(ge=0.0)
    disc_weight: float = bound(ge=0.0)  # times the adaptive grad-norm ratio
    disc_factor: float = bound(ge=0.0)  # 0 before disc_start
    disc_start: int = bound(ge=0)  # step at which the adversarial terms switch on
    disc_layers: int = bound(ge=1)  # NLayerDiscriminator depth (3 in LDM)
    disc_channels: int = bound(ge=1)  # width of its first layer (64 in LDM)


@dataclass(frozen=True)
class VMAELossCfg:
    """VMAE: vis_w*L_R + masked_w*L_M + perc_w*L_P + reg_w*L_reg in pre-training; MSE + finetune_perc_w*L_P in phase 3.

    L_R / L_M are per-patch MSE means over visible / masked patches; L_reg = KL(N(mu, s^2) || N(mu, reg_std^2)) with
    a free mean, summed over channels and averaged over visible tokens. Paper form: visible_weight 1; the release
    is 0.75 / 0.25 / 0.5 / 1e-6 with reg_std 1e-3.
    """

    mask_ratio: float = bound(ge=0.0, lt=1.0)
    visible_weight: float = bound(ge=0.0)
    masked_weight: float = bound(ge=0.0)
    perceptual_weight: float = bound(ge=0.0)
    reg_weight: float = bound(ge=0.0)
    reg_std: float = bound(gt=0.0)  # sigma_0: 1.0 = unit variance (paper), 1e-3 in the release
    finetune_perceptual_weight: float = bound(ge=0.0)  # phase 3 (release: 10.0)

    def check(self) -> None:
        if self.masked_weight > 0 and self.mask_ratio == 0:
            raise ValueError("masked_weight > 0 needs mask_ratio > 0 (there are no masked patches to score)")


@dataclass(frozen=True)
class VariantCfg:
    """One pipeline item: a registry kind, its learning rate, per-group optimiser settings, phases, and exactly the
    objective block of its kind."""

    kind: AutoencoderKind
    lr: float = bound(gt=0.0)  # replaces autoencoders.train.lr for this item (see AutoencodersCfg.train_cfg)
    # loss key of the model's `optim_groups()` -> its own optimiser settings (e.g. SD-VAE's "disc_loss"); {} = none
    optim: dict[str, OptimGroupCfg]
    phases: PhasesCfg
    dae: DAELossCfg | None
    vae: KLCfg | None
    sdvae: SDVAELossCfg | None
    vmae: VMAELossCfg | None

    def check(self) -> None:
        wanted = OBJECTIVE_BLOCK[self.kind]
        for block in OBJECTIVE_BLOCK.values():
            if block is None:
                continue
            is_set = getattr(self, block) is not None
            if is_set and block != wanted:
                raise ValueError(f"kind '{self.kind}' takes no '{block}' block: set it to null")
            if not is_set and block == wanted:
                raise ValueError(f"kind '{self.kind}' needs its '{block}' block")


@dataclass(frozen=True)
class AutoencodersCfg:
    """The autoencoders section: which items the pipeline trains, on what, with which shared budget.

    One architecture per family (`conv` for every convolutional kind, `vit` for VMAE) keeps the comparison
    controlled: variants differ in objective and schedule only.
    """

    names: tuple[str, ...]  # pipeline items (keys of `variants`), fanned out by dvc.yaml
    train_sets: tuple[str, ...]  # data.sets whose train splits are unioned for autoencoder training
    train: TrainCfg  # the shared budget; `lr` is replaced per variant
    conv: ConvArchCfg
    vit: ViTArchCfg
    variants: dict[str, VariantCfg]
    # Multiplies every perceptual loss term when the suite's own network stands in for LPIPS-VGG (unused with it).
    percep_own_scale: float = bound(gt=0.0, le=1.0)

    def check(self) -> None:
        if not self.names:
            raise ValueError("name at least one item under autoencoders.names")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"autoencoders.names has duplicates: {list(self.names)}")
        missing = [n for n in self.names if n not in self.variants]
        if missing:
            raise ValueError(f"names {missing} have no entry under autoencoders.variants")
        if not self.train_sets:
            raise ValueError("name at least one dataset under autoencoders.train_sets")

    def arch(self, name: str) -> ConvArchCfg | ViTArchCfg:
        """The architecture block of item `name`."""
        return self.conv if self.variants[name].kind in CONV_KINDS else self.vit

    def train_cfg(self, name: str) -> TrainCfg:
        """The shared `train` section with item `name`'s learning rate."""
        return dataclasses.replace(self.train, lr=self.variants[name].lr)
