"""Params section `diffusion`: which autoencoders get a DiT on which datasets, and how it trains and samples."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from bench.config.core import TrainCfg
from bench.config.fields import bound

if TYPE_CHECKING:
    from bench.config import Params

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
