"""Params sections of the shared harness: runtime, paths, data (and its generators), training, featnets."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.config.fields import bound

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
    """One dataset the data stage materialises, as four disjoint splits (`bench.layout.SPLITS`).

    `root` is a local folder for the real kinds (ImageNet, CelebA-HQ, ADE20K, CelebAMask-HQ) and
    empty for the embedded kinds, which are generated. `num_*` are the split sizes: `train` fits the
    autoencoders, `val` tunes choices, `judge` fits the suite's evaluation networks, `eval` reports.
    Real sets carve val and judge from the training pool (exact sizes); there `num_train`/`num_eval`
    0 means "every image left".
    """

    kind: DatasetKind
    root: str
    num_train: int = bound(ge=0)
    num_val: int = bound(ge=0)
    num_judge: int = bound(ge=0)
    num_eval: int = bound(ge=0)

    def check(self) -> None:
        # Every later stage expects all four splits, and an empty judge split leaves the evaluation
        # networks nothing to learn from: no "0 = none" here, for any kind.
        if self.num_val < 1 or self.num_judge < 1:
            raise ValueError(
                f"num_val ({self.num_val}) and num_judge ({self.num_judge}) must be >= 1: set both "
                "(real sets carve them from the training pool)"
            )
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
    # CPU kernels' instruction set: "avx2" pins ATen, oneDNN and MKL to their AVX2 code (`bench.dist.pin_cpu_kernels`),
    # so any x86-64 host with AVX2 computes the same numbers; "native" lets each library take the best the CPU has
    # (on AVX-512 hosts the weights then differ from AVX2 hosts'; here no faster: params.yaml has the figures).
    cpu_isa: Literal["avx2", "native"]
    # torch.compile the DiT's forward in train_dit. DiT-B/1, 32x32x16 latents, bf16, batch 64 on one H100
    # (benchmarks/dit_bench.py): 469 vs 222 img/s eager and 28 vs 42 GiB, so 128 per GPU (the release's CelebA-HQ
    # batch of 1024 on 8 GPUs) fits in 80 GB only compiled. The first steps pay the compilation: off at the CPU
    # default.
    compile_dit: bool


@dataclass(frozen=True)
class PlateauCfg:
    """When a training run counts as trained to a plateau (`bench.plateau`): the EMA-smoothed loss improved by less
    than `threshold` (relative) over the last `tail` fraction of the steps. Recorded, never acted on."""

    smoothing: float = bound(ge=0.0, lt=1.0)  # EMA decay over the per-step loss (0.99: a ~100-step memory)
    tail: float = bound(gt=0.0, lt=1.0)  # the final fraction of the steps compared (0.2: the last fifth)
    threshold: float = bound(ge=0.0)  # relative improvement below which the run has plateaued


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
    precision: Literal["fp32", "bf16"]  # bf16: autocast on CUDA and CPU (weights and optimiser fp32)
    ckpt_every: int = bound(ge=1)
    log_every: int = bound(ge=1)
    num_workers: int = bound(ge=0)
    plateau: PlateauCfg  # how meta.json judges whether the loss plateaued (no effect on training)

    def check(self) -> None:
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {list(self.betas)}")
        if self.warmup_steps > self.steps:
            raise ValueError(f"warmup_steps ({self.warmup_steps}) must be <= steps ({self.steps})")
        if self.batch_size % self.grad_accum:
            raise ValueError(f"batch_size ({self.batch_size}) must be divisible by grad_accum ({self.grad_accum})")


@dataclass(frozen=True)
class OptimGroupCfg:
    """Optimiser settings of one parameter group (a loss key of `optim_groups`) where they differ from `TrainCfg`.

    Any model whose `optim_groups()` names the key gets these settings from `bench.loop.train` (e.g. SD-VAE's
    "disc_loss": latent diffusion optimises its discriminator with Adam, betas (0.5, 0.9), no weight decay; AdamW
    with weight_decay 0 is that optimiser). The group follows the run's schedule (warmup, cosine) like the others.
    """

    lr_scale: float = bound(gt=0.0)  # times the run's base lr (1.0 in latent diffusion: both optimisers share it)
    betas: tuple[float, ...]
    weight_decay: float = bound(ge=0.0)

    def check(self) -> None:
        if len(self.betas) != 2 or not all(0.0 <= b < 1.0 for b in self.betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {list(self.betas)}")


@dataclass(frozen=True)
class FeatnetsCfg:
    """The offline perceptual network (`featnets` stage): an autoencoder training loss, used where LPIPS-VGG
    weights are absent; a classifier over the union of `sets`' labels, trained on their train splits. The
    evaluation networks are another stage (`judges`, params section `judges`)."""

    sets: tuple[str, ...]  # data.sets whose splits (labels offset per set) the perceptual network and judges learn
    perceptual: Literal["percep-vgg-v1"]  # keys of bench.featnets.FEATNETS
    train: TrainCfg
