"""Typed loader for `params.yaml`, the one home of every experiment knob.

Each section of `params.yaml` maps to a frozen dataclass below; `load_params()` walks the YAML
against the type hints, so an unknown key, a missing key, a wrong type or an out-of-range value
raises `ValueError` naming the key, the value and what is allowed, before any work starts.
Defaults live only in `params.yaml`: no field here has one.

Run `python -m bench.config [PATH]` to validate a params file and print it back resolved.
"""

from __future__ import annotations

import dataclasses
import sys
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml


def bound(*, ge: float | None = None, gt: float | None = None, le: float | None = None, lt: float | None = None):
    """A dataclass field with a numeric range the loader enforces (no default: defaults live in params.yaml)."""
    return field(metadata={"ge": ge, "gt": gt, "le": le, "lt": lt})


# ---------------------------------------------------------------------------------------------
# Sections
# ---------------------------------------------------------------------------------------------

DatasetKind = Literal["shapes", "faces", "imagenet", "celebahq", "ade20k", "celebamaskhq"]
EMBEDDED_KINDS = ("shapes", "faces")


@dataclass(frozen=True)
class PathsCfg:
    """Repo-relative folders shared by code and `dvc.yaml` (`${paths.*}`)."""

    data: str  # data-stage output: one folder per dataset, with train/ and eval/ splits
    runs: str  # per-stage, per-item outputs (checkpoints, metrics)
    results: str  # tables and figures of the report stage
    weights: str  # optional local pretrained weights (Inception, VGG for LPIPS); may be absent


@dataclass(frozen=True)
class DatasetCfg:
    """One dataset the data stage materialises.

    `root` is a local folder for the real kinds (ImageNet, CelebA-HQ, ADE20K, CelebAMask-HQ) and
    empty for the embedded kinds, which are generated. `num_train`/`num_eval` are the split sizes;
    for real sets 0 means "every image found".
    """

    kind: DatasetKind
    root: str
    num_train: int = bound(ge=0)
    num_eval: int = bound(ge=0)

    def check(self) -> None:
        if self.kind in EMBEDDED_KINDS:
            if self.root:
                raise ValueError(f"root must be empty for the embedded kind '{self.kind}' (it is generated)")
            if self.num_train < 1 or self.num_eval < 1:
                raise ValueError("embedded datasets need num_train >= 1 and num_eval >= 1")
        elif not self.root:
            raise ValueError(f"kind '{self.kind}' reads a local folder: set root to it (e.g. data/real/{self.kind})")


@dataclass(frozen=True)
class ShapesCfg:
    """Generator of the embedded `shapes` set (the ImageNet / ADE20K analogue)."""

    num_classes: int = bound(ge=2, le=12)
    min_objects: int = bound(ge=1)
    max_objects: int = bound(ge=1)
    min_scale: float = bound(gt=0.0, le=1.0)  # object size as a fraction of the image side
    max_scale: float = bound(gt=0.0, le=1.0)

    def check(self) -> None:
        if self.min_objects > self.max_objects:
            raise ValueError(f"min_objects ({self.min_objects}) must be <= max_objects ({self.max_objects})")
        if self.min_scale > self.max_scale:
            raise ValueError(f"min_scale ({self.min_scale}) must be <= max_scale ({self.max_scale})")


@dataclass(frozen=True)
class FacesCfg:
    """Generator of the embedded `faces` set (the CelebA-HQ / CelebAMask-HQ analogue)."""

    max_yaw: float = bound(ge=0.0, le=0.5)  # head turn: the nose moves off-centre by up to this x face width
    max_roll_deg: float = bound(ge=0.0, le=45.0)
    min_size: float = bound(gt=0.0, le=1.0)  # face height (chin to top of forehead) / image side
    max_size: float = bound(gt=0.0, le=1.0)

    def check(self) -> None:
        if self.min_size > self.max_size:
            raise ValueError(f"min_size ({self.min_size}) must be <= max_size ({self.max_size})")


@dataclass(frozen=True)
class DataCfg:
    """The data stage: which datasets, at which resolution, with which generator settings."""

    resolution: Literal[32, 64, 128, 256]
    sets: dict[str, DatasetCfg]
    shapes: ShapesCfg
    faces: FacesCfg
    preview_count: int = bound(ge=1, le=64)  # images per set in the dataset-samples figure

    def check(self) -> None:
        if not self.sets:
            raise ValueError("name at least one dataset under data.sets")


@dataclass(frozen=True)
class RuntimeCfg:
    """Where and how processes run; applied by `bench.dist.setup`, never at import."""

    device: Literal["auto", "cpu", "cuda"]  # auto = CUDA when visible, else CPU
    tf32: bool
    cudnn_benchmark: bool
    cpu_threads: int = bound(ge=0)  # 0 keeps torch's default


@dataclass(frozen=True)
class TrainCfg:
    """What `bench.loop.train` needs: optimiser, schedule, budget, precision, checkpointing.

    Shared by every autoencoder (same budget in steps) and by DiT; the learning rate of each
    autoencoder variant is set per variant and substituted into its copy of this section.
    """

    steps: int = bound(ge=1)
    batch_size: int = bound(ge=1)  # global batch, split across DDP ranks
    grad_accum: int = bound(ge=1)
    lr: float = bound(gt=0.0)
    lr_schedule: Literal["constant", "cosine"]
    warmup_steps: int = bound(ge=0)
    weight_decay: float = bound(ge=0.0)
    betas: tuple[float, ...]
    grad_clip: float = bound(ge=0.0)  # 0 disables clipping
    ema_decay: float = bound(ge=0.0, lt=1.0)  # 0 disables EMA
    precision: Literal["fp32", "bf16"]  # bf16 autocast applies on CUDA only; CPU runs fp32
    ckpt_every: int = bound(ge=1)
    log_every: int = bound(ge=1)
    num_workers: int = bound(ge=0)

    def check(self) -> None:
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {list(self.betas)}")
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be <= steps ({self.steps})")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size ({self.batch_size}) must be divisible by grad_accum ({self.grad_accum})")


@dataclass(frozen=True)
class FeatnetsCfg:
    """The offline feature networks (`featnets` stage): a perceptual network (a training loss, used where LPIPS-VGG
    weights are absent) and a judge (evaluation only), classifiers over the union of `sets`' labels."""

    sets: tuple[str, ...]  # data.sets whose train splits (labels offset per set) the networks learn
    perceptual: Literal["percep-vgg-v1"]  # keys of bench.featnets.FEATNETS
    judge: Literal["judge-resnet-v1"]
    train: TrainCfg
    min_judge_accuracy: float = bound(ge=0.0, le=1.0)  # below it the stage warns: the judge's FD is weak evidence


# --- autoencoders section (owned by the autoencoder models) ----------------------------------

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
    """One pipeline item: a registry kind, its learning rate, phases, and exactly the objective block of its kind."""

    kind: AutoencoderKind
    lr: float = bound(gt=0.0)  # replaces autoencoders.train.lr for this item (see AutoencodersCfg.train_cfg)
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


# --- end autoencoders section ----------------------------------------------------------------


# --- diffusion section (owned by the diffusion stages) ---------------------------------------

GenerationMode = Literal["conditional", "unconditional"]
DiTSize = Literal["DiT-B/1", "DiT-S/1", "DiT-T/1", "DiT-XT/1"]  # the keys of diffusion.dit.DIT_MODELS


@dataclass(frozen=True)
class ExtractCfg:
    """extract@NAME: how training images become latents.

    `store: mean` keeps the posterior mean (C channels); `moments` keeps mean and log-variance (2C channels) of
    probabilistic autoencoders and re-samples z = mu + sigma * eps at every fetch, as the release's `data.sample`.
    Per-channel statistics come from `stats_samples` latents drawn with the seeded RNG (the release: 10k).
    """

    store: Literal["mean", "moments"]
    flip: bool  # also encode the horizontal flip of every image; training picks one of the two with p = 0.5
    stats_samples: int = bound(ge=2)
    batch_size: int = bound(ge=1)  # images per encoder call, per process
    num_workers: int = bound(ge=0)


@dataclass(frozen=True)
class DiTModelCfg:
    """The DiT: a registered size plus the LightningDiT extras (input size, channels and classes come from the data).

    Release: DiT-B/1, QK-norm on for ImageNet and off for CelebA-HQ, RoPE, SwiGLU, RMSNorm, label dropout 0.1.
    """

    size: DiTSize
    qk_norm: bool
    use_rope: bool
    use_swiglu: bool
    use_rmsnorm: bool
    class_dropout_prob: float = bound(ge=0.0, lt=1.0)  # label -> null class during training (conditional sets)


@dataclass(frozen=True)
class ObjectiveCfg:
    """Rectified-flow training times: `t = sigmoid(t_mean + t_std * N(0, 1))` (release: 0, 1) or uniform."""

    t_dist: Literal["logit_normal", "uniform"]
    t_mean: float
    t_std: float = bound(gt=0.0)


@dataclass(frozen=True)
class SampleCfg:
    """sample@NAME: Euler sampling with the EMA DiT (release ImageNet: 249 steps, shift 0.3, CFG 10 from t = 0.1).

    Guidance applies to class-conditional datasets only; unconditional ones are sampled without it. Image i is made
    from noise and a label seeded by (seed + seed_offset, i), so samples do not depend on the number of processes.
    """

    num_images: int = bound(ge=1)
    batch_size: int = bound(ge=1)  # images per model call, per process
    num_steps: int = bound(ge=1)  # Euler steps (LightningDiT's 250 grid points = 249 steps)
    shift: float = bound(gt=0.0)  # time-grid shift s; < 1 takes small steps near the noise end, 1 is uniform
    cfg_scale: float = bound(ge=0.0)  # guidance only when > 1
    cfg_interval_start: float = bound(ge=0.0, le=1.0)  # guidance only at times t >= this
    cfg_channels: Literal["all", "first3"]  # "first3": the DiT/LightningDiT legacy (guides latent channels 0-2)
    seed_offset: int = bound(ge=0)  # sampling seed = seed + seed_offset


@dataclass(frozen=True)
class DiffusionCfg:
    """The diffusion section: which autoencoder items get a DiT on which generation datasets, and how."""

    items: dict[str, tuple[str, ...]]  # autoencoder item -> generation datasets (keys of `datasets`)
    datasets: dict[str, GenerationMode]  # generation dataset -> class-conditional or not
    extract: ExtractCfg
    model: DiTModelCfg
    objective: ObjectiveCfg
    train: TrainCfg
    sample: SampleCfg

    def check(self) -> None:
        if not self.items:
            raise ValueError("name at least one autoencoder item under diffusion.items")
        for name, sets in self.items.items():
            unknown = [s for s in sets if s not in self.datasets]
            if unknown:
                raise ValueError(f"items.{name} names {unknown}, which have no mode under diffusion.datasets")
            if len(set(sets)) != len(sets):
                raise ValueError(f"items.{name} lists a dataset twice: {list(sets)}")


def check_diffusion_refs(params: Params) -> None:
    """Cross-section checks: diffusion items are trained autoencoders, their datasets are materialised."""
    names, sets = params.autoencoders.names, params.data.sets
    unknown = sorted(n for n in params.diffusion.items if n not in names)
    if unknown:
        raise ValueError(f"diffusion.items {unknown} are not in autoencoders.names {list(names)}: add or drop them")
    used = sorted({s for v in params.diffusion.items.values() for s in v})
    missing = [s for s in used if s not in sets]
    if missing:
        raise ValueError(f"diffusion.items use datasets {missing} that are not in data.sets {sorted(sets)}")


# --- end diffusion section -------------------------------------------------------------------


# --- metrics section --------------------------------------------------------------------------


@dataclass(frozen=True)
class MetricsCfg:
    """Evaluation settings shared by `reference`, `eval_ae` and `eval_gen` (one backend: torch-fidelity).

    `inception`: "auto" adds Inception-v3 metrics (fid[inception], ...) when its weights are in `paths.weights` or
    the torch hub cache, "required" fails when they are absent, "off" never uses them. The judge network
    (`fd[judge]`, ...) is always used.
    """

    inception: Literal["auto", "required", "off"]
    batch_size: int = bound(ge=1)
    recon_images: int = bound(ge=0)  # eval images per set for reconstruction metrics; 0 = the whole eval split
    noise_eps: tuple[float, ...]  # Fig. 6 perturbation ratios: z' = mu + eps * n * std_c
    noise_seed: int = bound(ge=0)
    is_splits: int = bound(ge=1)
    kid_subsets: int = bound(ge=1)
    kid_subset_size: int = bound(ge=2)
    prc_neighborhood: int = bound(ge=1)
    throughput_repeats: int = bound(ge=1)  # timed encode/decode calls for Table 2

    def check(self) -> None:
        if not self.noise_eps or any(e < 0 for e in self.noise_eps) or self.noise_eps[0] != 0.0:
            raise ValueError(f"noise_eps must start at 0 (the clean rFID) and be >= 0, got {list(self.noise_eps)}")


@dataclass(frozen=True)
class CompressCfg:
    """Perceptual compression (Figs 4, 7, 8): sigma^2 and rho over per-position latent features; see
    `analysis.compression` for the definitions."""

    sets: dict[str, Literal["object", "part"]]  # dataset -> mask level it measures (ADE20K / CelebAMask-HQ analogues)
    images: int = bound(ge=1)  # eval images per set
    min_pixels: int = bound(ge=1)  # latent positions a segment needs to count
    kernel: Literal["gaussian", "cosine"]
    bandwidth: float = bound(ge=0.0)  # Gaussian kernel width on standardised features; 0 = per-image median distance
    reduce: Literal["sum", "mean"]  # over channels: mean makes raw (3*f*f channels) and latents comparable
    raw_mode: Literal["unshuffle", "area"]  # the pixel reference on the latent grid
    n_boot: int = bound(ge=1)
    ci_level: float = bound(gt=0.0, lt=1.0)
    kmeans_ks: tuple[int, ...]
    kmeans_images: int = bound(ge=1)  # images per set drawn as k-means and PCA maps (Figs 4, 8)
    kmeans_n_init: int = bound(ge=1)


@dataclass(frozen=True)
class PaperCheckCfg:
    """Tolerances of `results/paper_check.md`: when a measured ratio counts as the paper's."""

    ratio_tolerance: float = bound(gt=0.0, lt=1.0)  # relative: |ours / paper - 1| <= this holds (Table 2 ratios)


@dataclass(frozen=True)
class AnalysisCfg:
    compress: CompressCfg
    paper_check: PaperCheckCfg


# --- end metrics section ---------------------------------------------------------------------


@dataclass(frozen=True)
class Params:
    """All of `params.yaml`."""

    seed: int = bound(ge=0)
    runtime: RuntimeCfg
    paths: PathsCfg
    data: DataCfg
    featnets: FeatnetsCfg
    autoencoders: AutoencodersCfg
    diffusion: DiffusionCfg
    metrics: MetricsCfg
    analysis: AnalysisCfg

    def check(self) -> None:
        unknown = [s for s in self.featnets.sets if s not in self.data.sets]
        if unknown:
            raise ValueError(f"featnets.sets {unknown} are not in data.sets {sorted(self.data.sets)}")
        missing = [s for s in self.autoencoders.train_sets if s not in self.data.sets]
        if missing:
            raise ValueError(
                f"autoencoders.train_sets {missing} are not in data.sets {sorted(self.data.sets)}: add or drop them"
            )
        check_diffusion_refs(self)
        unknown = [s for s in self.analysis.compress.sets if s not in self.data.sets]
        if unknown:
            raise ValueError(f"analysis.compress.sets {unknown} are not in data.sets {sorted(self.data.sets)}")


# ---------------------------------------------------------------------------------------------
# Loader
# ---------------------------------------------------------------------------------------------

DEFAULT_PATH = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PATH) -> Params:
    """Read and validate a params file.

    Args:
        path: YAML file; `params.yaml` in the working directory by default.

    Returns:
        The frozen, validated `Params`.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown, missing, mistyped or out-of-range keys, named with their dotted path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file '{path}' not found: run from the repository root or pass its path")
    with path.open() as f:
        raw = yaml.safe_load(f)
    return parse_params(raw, source=str(path))


def parse_params(raw: Any, source: str = "params") -> Params:
    """Validate an already-parsed params mapping (see `load_params`)."""
    return _build(Params, raw, source, "")


def as_dict(cfg: Any) -> Any:
    """A dataclass config back to plain YAML/JSON types (tuples become lists)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: as_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, dict):
        return {k: as_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [as_dict(v) for v in cfg]
    return cfg


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of name -> {_describe(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {[f.name for f in dataclasses.fields(tp)]}"
    return getattr(tp, "__name__", str(tp))


def _fail(source: str, key: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{source}: key '{key or '<root>'}' = {value!r} is invalid: expected {allowed}")


def _build(tp: Any, value: Any, source: str, key: str) -> Any:
    """Convert `value` to type `tp`, raising a keyed ValueError on any mismatch."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(source, key, value, _describe(tp))
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            where = f"'{key}'" if key else "the top level"
            raise ValueError(f"{source}: unknown key(s) {unknown} under {where}; allowed keys: {sorted(fields)}")
        missing = sorted(set(fields) - set(value))
        if missing:
            full = [f"{key}.{m}" if key else m for m in missing]
            raise ValueError(f"{source}: missing key(s) {full}; add them to params.yaml (no code defaults)")
        kwargs = {}
        for name, f in fields.items():
            sub = f"{key}.{name}" if key else name
            kwargs[name] = _build(hints[name], value[name], source, sub)
            _check_range(f, kwargs[name], source, sub)
        obj = tp(**kwargs)
        check = getattr(obj, "check", None)
        if check is not None:
            try:
                check()
            except ValueError as e:
                raise ValueError(f"{source}: key '{key or '<root>'}' is invalid: {e}") from None
        return obj
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
            raise _fail(source, key, value, _describe(tp))
        return value
    if origin in (types.UnionType, typing.Union):
        for arm in typing.get_args(tp):
            if arm is type(None) and value is None:
                return None
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            raise _fail(source, key, value, _describe(arms[0]))
        return _build(arms[0], value, source, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(source, key, value, _describe(tp))
        (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return tuple(_build(item, v, source, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source, key, value, _describe(tp))
        _, item = typing.get_args(tp)
        return {str(k): _build(item, v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(source, key, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, key, value, "an integer")
        return value
    if tp is float:
        # YAML reads `1e-4` (no dot) as a string; accept it, since that is how people write rates.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _fail(source, key, value, "a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(source, key, value, "a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(source, key, value, "a string")
        return value
    raise TypeError(f"config type {tp!r} at '{key}' is not supported by the loader")


def _check_range(f: dataclasses.Field, value: Any, source: str, key: str) -> None:
    meta = f.metadata
    if not meta or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    tests = {
        "ge": (lambda v, b: v >= b, ">="),
        "gt": (lambda v, b: v > b, ">"),
        "le": (lambda v, b: v <= b, "<="),
        "lt": (lambda v, b: v < b, "<"),
    }
    for name, (ok, sym) in tests.items():
        b = meta.get(name)
        if b is not None and not ok(value, b):
            raise _fail(source, key, value, f"a value {sym} {b}")


def main() -> None:
    path = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_PATH
    print(yaml.safe_dump(as_dict(load_params(path)), sort_keys=False))


if __name__ == "__main__":
    main()
