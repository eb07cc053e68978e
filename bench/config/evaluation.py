"""Params sections `metrics` and `analysis`: evaluation backends and the report's measures and tolerances."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from bench.config.core import TrainCfg
from bench.config.fields import bound


@dataclass(frozen=True)
class JudgesCfg:
    """The evaluation networks (`judges` stage): an ensemble of `members` judges, one per seed, trained on the
    `judge` split of `featnets.sets` (disjoint from the autoencoders' train split and from the eval split) on class
    labels plus, with weight `seg_weight`, the generators' segmentation masks. Every distribution metric is computed
    by each member; the spread across members is part of its confidence interval."""

    network: Literal["judge-resnet-v2"]  # keys of bench.featnets.FEATNETS
    members: int = bound(ge=1)  # member k trains with seed + 1 + k
    seg_weight: float = bound(ge=0.0)  # dense supervision: per-pixel mask cross-entropy beside the class loss
    train: TrainCfg
    min_accuracy: float = bound(ge=0.0, le=1.0)  # val-split class accuracy below which the stage warns


@dataclass(frozen=True)
class SWDCfg:
    """Laplacian-pyramid sliced Wasserstein distance (Karras et al. 2018): no trained network involved."""

    levels: int = bound(ge=1)  # pyramid levels (finest first)
    patch: int = bound(ge=1)  # square patch side (7 in the reference)
    per_image: int = bound(ge=1)  # patches drawn per image and level
    directions: int = bound(ge=1)  # random projections per repeat
    repeats: int = bound(ge=1)


@dataclass(frozen=True)
class ValidateCfg:
    """The `validate_metrics` battery: disturbances and generator shifts at `levels`, `seeds` draws each."""

    disturbances: tuple[str, ...]  # names of bench.disturbances.DISTURBANCES
    shifts: tuple[str, ...]  # names of bench.embedded.SHIFTS; each set uses the ones its generator has
    levels: tuple[float, ...]  # 0 first (the undisturbed eval split), then increasing, in (0, 1]
    seeds: int = bound(ge=1)
    images: int = bound(ge=2)  # eval images per set (the first ones); also the size of each shifted draw

    def check(self) -> None:
        lv = self.levels
        if len(lv) < 2 or lv[0] != 0.0 or any(b <= a for a, b in zip(lv, lv[1:], strict=False)) or lv[-1] > 1.0:
            raise ValueError(f"levels must start at 0 and increase within (0, 1], got {list(lv)}")


@dataclass(frozen=True)
class BootstrapCfg:
    """Paired bootstrap over eval images (scipy.stats.bootstrap): every item resampled with the same indices."""

    n_resamples: int = bound(ge=10)
    level: float = bound(gt=0.0, lt=1.0)


@dataclass(frozen=True)
class ProxiesCfg:
    """The `proxies@NAME` stage: cheap predictors of generation quality (see `bench.proxies` for the recipes)."""

    interp_weight: float = bound(ge=0.0, le=1.0)  # iFD decodes (1 - w) z + w z_nn; 0 reproduces rFD
    probe_images: int = bound(ge=2)  # train-split images (the first ones) the linear probes are fitted on
    probe_c: float = bound(gt=0.0)  # inverse L2 strength of the logistic-regression probes (scikit-learn's C)
    probe_max_iter: int = bound(ge=1)  # lbfgs iterations of each probe


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
    # eval_ae: a latent channel is active when its KL to N(0, 1), in nats per value, exceeds this
    # (`autoencoders.posterior_stats`)
    active_kl: float = bound(gt=0.0)
    is_splits: int = bound(ge=1)
    kid_subsets: int = bound(ge=1)
    kid_subset_size: int = bound(ge=2)
    prc_neighborhood: int = bound(ge=1)
    throughput_repeats: int = bound(ge=1)  # timed encode/decode calls for Table 2
    swd: SWDCfg
    validate: ValidateCfg
    bootstrap: BootstrapCfg
    proxies: ProxiesCfg

    def check(self) -> None:
        if not self.noise_eps or any(e < 0 for e in self.noise_eps) or self.noise_eps[0] != 0.0:
            raise ValueError(f"noise_eps must start at 0 (the clean rFID) and be >= 0, got {list(self.noise_eps)}")


@dataclass(frozen=True)
class CompressCfg:
    """Perceptual compression (Figs 4, 7, 8): sigma^2 and rho over per-position latent features; see
    `bench.compression` for the definitions."""

    sets: dict[str, Literal["object", "part"]]  # dataset -> mask level it measures (ADE20K / CelebAMask-HQ analogues)
    images: int = bound(ge=1)  # eval images per set
    upscale: int = bound(ge=1)  # encode the sets rendered at data.resolution x this (embedded, resolution-free
    # generators only): at 32 px a face part spans 1-3 px and never owns a cell of the f8 grid
    min_pixels: int = bound(ge=1)  # latent positions a segment needs to count
    kernel: Literal["gaussian", "cosine"]
    bandwidth: float = bound(ge=0.0)  # Gaussian kernel width on standardised features; 0 = per-image median distance
    reduce: Literal["sum", "mean"]  # over channels: mean makes raw (3*f*f channels) and latents comparable
    raw_mode: Literal["unshuffle", "area", "pca"]  # the pixel reference on the latent grid; pca: unshuffle projected
    # to the latents' channel count, so pixels and latents are compared at one dimension
    cell_labels: Literal["centre", "majority"]  # a latent cell's segment: its centre pixel, or its pixels' majority
    purity: float = bound(gt=0.0, le=1.0)  # majority cells whose label covers less of their pixels are left out
    normalise: Literal["channel", "global"]  # channel: unit variance per channel (amplifies dead ones); global: one
    # scale for all channels (mean per-channel variance 1), so a collapsed channel stays near zero
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
