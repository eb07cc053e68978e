"""Params section `autoencoders`: items, shared budget, one architecture per family, per-variant objectives."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Literal

from bench.config.core import OptimGroupCfg, TrainCfg
from bench.config.fields import bound

AutoencoderKind = Literal["ae", "dae", "vae", "sd-vae", "vmae"]  # the keys of autoencoders.REGISTRY
CONV_KINDS = ("ae", "dae", "vae", "sd-vae")  # share `autoencoders.conv`; "vmae" uses `autoencoders.vit`
OBJECTIVE_BLOCK = {"ae": None, "dae": "dae", "vae": "vae", "sd-vae": "sdvae", "vmae": "vmae"}  # kind -> field
PRETRAINED = "pretrained"  # the kind of an item read from local weights (an entry of autoencoders.pretrained)
PretrainedFormat = Literal["diffusers", "vmae-release", "module"]
ENTRY = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*$")  # package.module:factory


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
class PretrainedCfg:
    """A pipeline item read from local files instead of trained: it skips train_ae, and `import_ae@NAME` checks it
    and records it for every later stage (see `autoencoders.sources`). Nothing is ever downloaded.

    Formats:
    - `diffusers`: a diffusers `AutoencoderKL` folder (`config.json` + `diffusion_pytorch_model.safetensors` or
      `.bin`, as `save_pretrained` writes it), with quant convs (SD 1.x / SDXL) or without (SD3 / FLUX);
    - `vmae-release`: the authors' VMAE checkpoint file (`vmaef8d16.pth`, `paper/vmae-release-checkpoint.md`);
    - `module`: the user's own code: `entry` "package.module:factory" is imported with `path` (a folder) first on
      the import path and must live inside it; `factory(image_size=...)` returns an object implementing
      `autoencoders.base.LatentAutoencoder`.
    """

    format: PretrainedFormat
    path: str  # file or folder, repo-relative by convention (weights/...); a DVC dependency of import_ae@NAME
    entry: str | None  # "package.module:factory" for `module`; null for the other formats

    def check(self) -> None:
        if not self.path:
            raise ValueError("path is empty: name the weights file or folder (e.g. weights/sd3-vae)")
        if self.format == "module" and (self.entry is None or not ENTRY.match(self.entry)):
            raise ValueError(f"format 'module' needs entry: package.module:factory (got {self.entry!r})")
        if self.format != "module" and self.entry is not None:
            raise ValueError(f"entry is only read for format 'module': set it to null for format '{self.format}'")


@dataclass(frozen=True)
class AutoencodersCfg:
    """The autoencoders section: which items the pipeline trains, on what, with which shared budget.

    One architecture per family (`conv` for every convolutional kind, `vit` for VMAE) keeps the comparison
    controlled: variants differ in objective and schedule only.
    """

    names: tuple[str, ...]  # every pipeline item, trained or pretrained, in report order (eval_ae, compress fan out)
    train_sets: tuple[str, ...]  # data.sets whose train splits are unioned for autoencoder training
    train: TrainCfg  # the shared budget; `lr` is set per variant
    conv: ConvArchCfg
    vit: ViTArchCfg
    variants: dict[str, VariantCfg]  # items trained here (train_ae fans out over these keys)
    pretrained: dict[str, PretrainedCfg]  # items read from local weights (import_ae fans out over these keys)
    # Multiplies every perceptual loss term when the suite's own network stands in for LPIPS-VGG (unused with it).
    percep_own_scale: float = bound(gt=0.0, le=1.0)

    def check(self) -> None:
        if not self.names:
            raise ValueError("name at least one item under autoencoders.names")
        if len(set(self.names)) != len(self.names):
            raise ValueError(f"autoencoders.names has duplicates: {list(self.names)}")
        both = sorted(set(self.variants) & set(self.pretrained))
        if both:
            raise ValueError(f"items {both} are under both variants (trained) and pretrained: keep one entry each")
        missing = [n for n in self.names if n not in self.variants and n not in self.pretrained]
        if missing:
            raise ValueError(f"names {missing} have no entry under autoencoders.variants or autoencoders.pretrained")
        # dvc.yaml fans train_ae out over the variants and import_ae over the pretrained entries (a DVC foreach
        # cannot filter), so an entry left out of `names` would still be trained or imported.
        unlisted = [n for n in [*self.variants, *self.pretrained] if n not in self.names]
        if unlisted:
            raise ValueError(
                f"entries {unlisted} are not in autoencoders.names: add them there or delete their entries "
                "(every variant is trained and every pretrained entry imported)"
            )
        if not self.train_sets:
            raise ValueError("name at least one dataset under autoencoders.train_sets")

    def is_pretrained(self, name: str) -> bool:
        """Whether item `name` is read from local weights (skips train_ae) rather than trained."""
        return name in self.pretrained

    def item_params(self, name: str) -> dict:
        """The params that define item `name`'s autoencoder, as a stage records them in `params.json`."""
        if self.is_pretrained(name):
            return {"pretrained": self.pretrained[name]}
        return {"arch": self.arch(name), "variant": self.variants[name]}

    def arch(self, name: str) -> ConvArchCfg | ViTArchCfg:
        """The architecture block of trained item `name`."""
        return self.conv if self.variants[name].kind in CONV_KINDS else self.vit

    def train_cfg(self, name: str) -> TrainCfg:
        """The shared `train` section with trained item `name`'s learning rate."""
        return dataclasses.replace(self.train, lr=self.variants[name].lr)
