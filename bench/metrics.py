"""Metric maths, kept apart from feature extraction (torch-fidelity's features -> statistics -> metric).

Reconstruction metrics take image batches (B, 3, H, W) in [-1, 1] and return one value per image (B,); the
stage averages them over images. Conventions (stated once, here):
- `l1[0-1]`, `mse[0-1]`: mean absolute / squared error on images mapped to [0, 1] (x / 2 + 1 / 2);
- `psnr`: per image on uint8 images (round(127.5 x + 127.5), clamped to [0, 255], the PNG convention of
  `bench.images.to_uint8_image`), peak 255, in dB; identical images give +inf, as in scikit-image;
- `ssim`: per image on [0, 1] images, data_range 1, Gaussian window sigma 1.5 truncated to 11 taps, K1 = 0.01,
  K2 = 0.03, population covariances, mean over the valid (unpadded) window positions, averaged over channels.
  This is `skimage.metrics.structural_similarity(..., channel_axis=-1, data_range=1, gaussian_weights=True,
  sigma=1.5, use_sample_covariance=False)`. (The authors' release runs torchmetrics on [-1, 1] images, which
  changes the luminance term, so its values are not these.)
- perceptual: `lpips[vgg]` from real LPIPS-VGG, `percep[own]` from the suite's own network (`bench.featnets`).

Generation metrics take features from an extractor of `bench.features` (roles POOL, LOGITS, SPATIAL), turn them
into statistics, and compare with reference statistics. Every key names its extractor: `fid[inception]` but
`fd[judge]` (no Inception involved), `sfid[inception]` / `sfd[judge]`, `is[judge]`, `kid[judge]`,
`precision[judge]`, `recall[judge]`. FID, KID, IS and precision/recall are torch-fidelity's own functions.

Run the tests: `python -m pytest tests/test_metrics.py -q`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch_fidelity.metric_fid import KEY_METRIC_FID, fid_features_to_statistics, fid_statistics_to_metric
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, KEY_METRIC_ISC_STD, isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, KEY_METRIC_KID_STD, kid_features_to_metric

from bench.images import to_uint8_image
from bench.swd import SWD_AVG, SwdAgainst, swd
from bench.swd_influence import swd_influence

# Reconstruction metric names (keys of metrics.json).
L1, MSE, PSNR, SSIM = "l1[0-1]", "mse[0-1]", "psnr", "ssim"
LPIPS_VGG, PERCEP_OWN = "lpips[vgg]", "percep[own]"
PERCEPTUAL_KEYS = {"lpips-vgg": LPIPS_VGG, "percep-own": PERCEP_OWN}  # distance module `name` -> key
# Distribution metric names; `labelled()` attaches the extractor.
FID, SFID, RFID, IS, IS_STD, KID, KID_STD = "fid", "sfid", "rfid", "is", "is_std", "kid", "kid_std"
PRECISION, RECALL = "precision", "recall"
NOT_INCEPTION = {FID: "fd", SFID: "sfd", RFID: "rfd"}  # "Inception" is in the name: say "FD" for other networks
# Feature roles every extractor provides (torch-fidelity feature names of `bench.features`).
POOL, LOGITS, SPATIAL = "pool", "logits_unbiased", "spatial"
INCEPTION = "inception"
REFERENCE_FORMAT = 1  # bump when the .npz layout changes

SSIM_SIGMA, SSIM_TAPS, SSIM_K1, SSIM_K2 = 1.5, 11, 0.01, 0.03  # Wang et al. 2004 / scikit-image gaussian


def labelled(metric: str, extractor: str) -> str:
    """Metric key naming its extractor: `labelled("fid", "judge") == "fd[judge]"`, `"fid[inception]"`."""
    name = metric if extractor == INCEPTION else NOT_INCEPTION.get(metric, metric)
    return f"{name}[{extractor}]"


# ---------------------------------------------------------------------------------------------
# Reconstruction: per-image values (B,)
# ---------------------------------------------------------------------------------------------


def _check_pair(x: torch.Tensor, y: torch.Tensor) -> None:
    if x.shape != y.shape or x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(
            f"expected two image batches (B, 3, H, W) of one shape, got {tuple(x.shape)}, {tuple(y.shape)}"
        )


def l1(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean absolute error on [0, 1] images. Args: x, y (B, 3, H, W) in [-1, 1]. Returns: (B,) in [0, 1]."""
    _check_pair(x, y)
    return (x - y).abs().mean(dim=(1, 2, 3)) / 2


def mse(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Mean squared error on [0, 1] images. Args: x, y (B, 3, H, W) in [-1, 1]. Returns: (B,) in [0, 1]."""
    _check_pair(x, y)
    return (x - y).square().mean(dim=(1, 2, 3)) / 4


def psnr(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """PSNR of uint8-quantised images, peak 255. Args: x, y (B, 3, H, W) in [-1, 1]. Returns: (B,) dB, inf if equal."""
    _check_pair(x, y)
    err = (to_uint8_image(x).double() - to_uint8_image(y).double()).square().mean(dim=(1, 2, 3))  # (B,)
    return 10 * torch.log10(255.0**2 / err)  # err == 0 -> inf, as scikit-image


def gaussian_window(sigma: float = SSIM_SIGMA, taps: int = SSIM_TAPS) -> torch.Tensor:
    """Normalised 1-D Gaussian, (taps,) float64 (scipy's gaussian_filter kernel for truncate = (taps // 2) / sigma)."""
    t = torch.arange(taps, dtype=torch.float64) - taps // 2
    w = torch.exp(-0.5 * (t / sigma) ** 2)
    return w / w.sum()


def ssim(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """SSIM per image (module docstring convention). Args: x, y (B, 3, H, W) in [-1, 1], H, W >= 11. Returns: (B,)."""
    _check_pair(x, y)
    B, C, H, W = x.shape
    if min(H, W) < SSIM_TAPS:
        raise ValueError(f"SSIM needs images of at least {SSIM_TAPS}x{SSIM_TAPS} pixels, got {H}x{W}")
    # float64: E[x^2] - E[x]^2 in float32 loses ~1e-7, which C2 = 9e-4 turns into ~1e-4 SSIM error on flat regions
    a = (x.double() + 1) / 2
    b = (y.double() + 1) / 2
    maps = torch.stack([a, b, a * a, b * b, a * b], dim=2).reshape(B * C * 5, 1, H, W)
    w = gaussian_window().to(x.device)
    maps = F.conv2d(F.conv2d(maps, w.view(1, 1, -1, 1)), w.view(1, 1, 1, -1))  # valid: (B*C*5, 1, H-10, W-10)
    mu_a, mu_b, aa, bb, ab = maps.reshape(B, C, 5, H - SSIM_TAPS + 1, W - SSIM_TAPS + 1).unbind(2)
    var_a, var_b, cov = aa - mu_a**2, bb - mu_b**2, ab - mu_a * mu_b
    c1, c2 = SSIM_K1**2, SSIM_K2**2  # data_range 1
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return s.mean(dim=(2, 3)).mean(dim=1).to(x.dtype)  # (B,)


def reconstruction_metrics(
    x: torch.Tensor, y: torch.Tensor, perceptual: torch.nn.Module | None = None
) -> dict[str, torch.Tensor]:
    """All reconstruction metrics of one batch, per image.

    Args:
        x: originals (B, 3, H, W) in [-1, 1].
        y: reconstructions, same shape, in [-1, 1] (clamp decoder output first).
        perceptual: a distance module from `bench.featnets.load_perceptual` (or None to skip).

    Returns:
        {L1, MSE, PSNR, SSIM[, LPIPS_VGG or PERCEP_OWN]: (B,) float on CPU}; average over images with `summarise`.
    """
    with torch.no_grad():
        out = {L1: l1(x, y), MSE: mse(x, y), PSNR: psnr(x, y), SSIM: ssim(x, y)}
        if perceptual is not None:
            if perceptual.name not in PERCEPTUAL_KEYS:
                raise ValueError(f"unknown perceptual network {perceptual.name!r}; use bench.featnets.load_perceptual")
            out[PERCEPTUAL_KEYS[perceptual.name]] = perceptual(x, y)
    return {k: v.detach().float().cpu() for k, v in out.items()}


def summarise(per_image: dict[str, list[torch.Tensor]]) -> dict[str, float]:
    """Mean over all images of each metric. Args: key -> list of (B_i,) tensors. Returns: key -> float."""
    return {k: float(torch.cat(v).double().mean()) for k, v in per_image.items()}


# ---------------------------------------------------------------------------------------------
# Distributions: features -> statistics -> metric
# ---------------------------------------------------------------------------------------------

Stats = tuple[np.ndarray, np.ndarray]  # (mu (D,), sigma (D, D)), float64


def feature_stats(feats: torch.Tensor) -> Stats:
    """Mean and covariance (unbiased, as TTUR/ADM). Args: feats (N, D), N >= 2. Returns: mu (D,), sigma (D, D)."""
    if feats.dim() != 2 or len(feats) < 2:
        raise ValueError(f"feature statistics need (N >= 2, D) features, got {tuple(feats.shape)}")
    st = fid_features_to_statistics(feats.detach().cpu().double())
    return st["mu"], st["sigma"]


def frechet_distance(a: Stats, b: Stats) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)), via torch-fidelity's `fid_statistics_to_metric`."""
    sa, sb = ({"mu": np.asarray(m, np.float64), "sigma": np.asarray(s, np.float64)} for m, s in (a, b))
    return fid_statistics_to_metric(sa, sb, verbose=False)[KEY_METRIC_FID]


def kernel_distance(
    fake: torch.Tensor, real: torch.Tensor, subsets: int, subset_size: int, seed: int
) -> tuple[float, float]:
    """KID (unbiased MMD^2, cubic polynomial kernel) over random subsets, by torch-fidelity.

    Args: fake (N1, D), real (N2, D); subset_size is clamped to min(N1, N2) (the estimate stays unbiased; only its
    variance grows). Returns: (mean, std) over subsets.
    """
    size = min(subset_size, len(fake), len(real))
    out = kid_features_to_metric(
        fake.cpu(), real.cpu(), kid_subsets=subsets, kid_subset_size=size, rng_seed=seed, verbose=False
    )
    return out[KEY_METRIC_KID_MEAN], out[KEY_METRIC_KID_STD]


def inception_score(logits: torch.Tensor, splits: int, seed: int) -> tuple[float, float]:
    """IS = exp(E KL(p(y|x) || p(y))) per split, by torch-fidelity. Args: logits (N, K), N >= splits.

    Returns: (mean, std) over splits; in [1, K].
    """
    if len(logits) < splits:
        raise ValueError(f"IS with {splits} splits needs >= {splits} samples, got {len(logits)}: lower the split count")
    out = isc_features_to_metric(logits.cpu(), splits=splits, shuffle=True, rng_seed=seed)
    return out[KEY_METRIC_ISC_MEAN], out[KEY_METRIC_ISC_STD]


def knn_radii(feats: torch.Tensor, neighborhood: int) -> torch.Tensor:
    """(N,) each point's distance to its k-th nearest neighbour in the set (itself excluded): torch-fidelity's
    `cdist(x, x).kthvalue(k + 1)`, the radius of its ball in the k-NN manifold estimate."""
    return torch.cdist(feats, feats).kthvalue(neighborhood + 1, dim=1).values


def precision_recall(
    fake: torch.Tensor, real: torch.Tensor, neighborhood: int, real_radii: torch.Tensor | None = None
) -> tuple[float, float]:
    """Improved precision/recall (Kynkaanniemi et al. 2019; ADM's k = 3), as torch-fidelity computes them.

    torch-fidelity's `prc_features_to_metric` recomputes the reference's k-NN radii (an N2 x N2 distance matrix)
    on every call; here they can be passed in (`Reference.radii` caches them), which the validate_metrics stage
    needs for its hundreds of calls against one reference. The formulas are torch-fidelity's, line for line
    (tests/test_metrics.py checks the values equal its function's).

    Args: fake (N1, D) generated, real (N2, D) reference; N1, N2 > neighborhood; real_radii (N2,) from
    `knn_radii(real, neighborhood)` or None.
    Returns: precision (fraction of fake inside the real k-NN manifold), recall (real inside the fake one), in [0, 1].
    """
    if min(len(fake), len(real)) <= neighborhood:
        raise ValueError(f"precision/recall with k = {neighborhood} needs more than {neighborhood} samples per set")
    fake, real = fake.cpu().float(), real.cpu().float()
    radii_real = knn_radii(real, neighborhood) if real_radii is None else real_radii
    radii_fake = knn_radii(fake, neighborhood)
    dist_real_fake = torch.cdist(real, fake)  # (N2, N1)
    recall = (dist_real_fake <= radii_fake).any(dim=1).float().mean().item()
    precision = (dist_real_fake.T <= radii_real).any(dim=1).float().mean().item()
    return precision, recall


# ---------------------------------------------------------------------------------------------
# Reference statistics (.npz) and the generation metric set
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Reference:
    """Statistics of the reference images under one extractor (ADM's npz keys mu, sigma, mu_s, sigma_s)."""

    extractor: str  # kind, for metric keys: "inception" | "judge"
    identity: str  # network and weight fingerprint (`extractor.identity` of bench.features)
    mu: np.ndarray  # (D,) pool features
    sigma: np.ndarray  # (D, D)
    mu_s: np.ndarray  # (S,) spatial features
    sigma_s: np.ndarray  # (S, S)
    pool: np.ndarray  # (N, D) raw pool features, for KID and precision/recall
    _radii: dict = field(default_factory=dict, compare=False, repr=False)  # k -> (N,) k-NN radii of `pool`, cached

    def radii(self, neighborhood: int) -> torch.Tensor:
        """The pool features' k-NN radii (`knn_radii`), computed once per k."""
        if neighborhood not in self._radii:
            self._radii[neighborhood] = knn_radii(torch.from_numpy(self.pool).float(), neighborhood)
        return self._radii[neighborhood]


def reference_from_features(feats: dict[str, torch.Tensor], extractor: str, identity: str) -> Reference:
    """Args: feats {POOL: (N, D), SPATIAL: (N, S)} from `bench.features.extract_features`. Returns: a Reference."""
    (mu, sigma), (mu_s, sigma_s) = feature_stats(feats[POOL]), feature_stats(feats[SPATIAL])
    return Reference(extractor, identity, mu, sigma, mu_s, sigma_s, feats[POOL].cpu().float().numpy())


def save_reference(path: str | Path, ref: Reference) -> Path:
    """Write `ref` as .npz, with the extractor identity and the format version inside."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as f:  # a file object: np.savez would append ".npz" to other suffixes
        arrays = {k: getattr(ref, k) for k in ("mu", "sigma", "mu_s", "sigma_s", "pool")}
        np.savez(f, **arrays, extractor=ref.extractor, identity=ref.identity, format=REFERENCE_FORMAT)
    return path


def load_reference(path: str | Path, identity: str) -> Reference:
    """Read reference statistics, refusing any made by another extractor (network or weights) or format.

    Args:
        path: .npz written by `save_reference`.
        identity: `extractor.identity` of the extractor that will produce the generated features.
    """
    if not Path(path).is_file():
        raise FileNotFoundError(f"no reference statistics at {path}: run the stage that writes them (dvc repro)")
    with np.load(path, allow_pickle=False) as z:
        if "format" not in z or int(z["format"]) != REFERENCE_FORMAT:
            raise ValueError(f"{path} is not a format-{REFERENCE_FORMAT} reference file: recompute it")
        if str(z["identity"]) != identity:
            raise ValueError(
                f"{path} was made by extractor {str(z['identity'])!r}, but features now come from {identity!r}: "
                "recompute the reference statistics with the current extractor"
            )
        fields = {k: z[k] for k in ("mu", "sigma", "mu_s", "sigma_s", "pool")}
        return Reference(str(z["extractor"]), identity, **fields)


def compute_generation_metrics(
    ref: Reference,
    fake: dict[str, torch.Tensor],
    *,
    is_splits: int,
    kid_subsets: int,
    kid_subset_size: int,
    prc_neighborhood: int,
    seed: int,
) -> dict[str, float]:
    """gFID/sFID/IS/KID/precision/recall of generated images against a reference, keys labelled by extractor.

    Args:
        ref: reference statistics (same extractor as `fake`).
        fake: {POOL: (N, D), LOGITS: (N, K), SPATIAL: (N, S)} features of the generated images.
        is_splits, kid_subsets, kid_subset_size, prc_neighborhood, seed: estimator settings (params `metrics`).

    Returns:
        e.g. {"fd[judge]", "sfd[judge]", "is[judge]", "is_std[judge]", "kid[judge]", "kid_std[judge]",
        "precision[judge]", "recall[judge]"} -> float.
    """
    missing = {POOL, LOGITS, SPATIAL} - set(fake)
    if missing:
        raise ValueError(f"generated features lack {sorted(missing)}: extract with features {POOL, LOGITS, SPATIAL}")
    pool_ref = torch.from_numpy(ref.pool)
    kid, kid_std = kernel_distance(fake[POOL], pool_ref, kid_subsets, kid_subset_size, seed)
    score, score_std = inception_score(fake[LOGITS], is_splits, seed)
    precision, recall = precision_recall(fake[POOL], pool_ref, prc_neighborhood, ref.radii(prc_neighborhood))
    values = {
        FID: frechet_distance((ref.mu, ref.sigma), feature_stats(fake[POOL])),
        SFID: frechet_distance((ref.mu_s, ref.sigma_s), feature_stats(fake[SPATIAL])),
        IS: score,
        IS_STD: score_std,
        KID: kid,
        KID_STD: kid_std,
        PRECISION: precision,
        RECALL: recall,
    }
    return {labelled(k, ref.extractor): float(v) for k, v in values.items()}


def ensemble_means(values: dict[str, float], label: str = "judge") -> tuple[dict[str, float], dict[str, list[float]]]:
    """Average each metric over the judge ensemble.

    Args:
        values: labelled metrics, members' keys like "fd[judge-0]", "fd[judge-1]", ... (others pass through).
        label: the ensemble's label ("judge"): member keys are f"{metric}[{label}-{k}]".

    Returns:
        (values plus f"{metric}[{label}]" = mean over members, {f"{metric}[{label}]": member values in order}).
    """
    groups: dict[str, list[tuple[int, float]]] = {}
    for key, v in values.items():
        name, _, ext = key.partition("[")
        member = ext.rstrip("]")
        if member.startswith(f"{label}-") and member[len(label) + 1 :].isdigit():
            groups.setdefault(f"{name}[{label}]", []).append((int(member[len(label) + 1 :]), v))
    spread = {k: [v for _, v in sorted(g)] for k, g in groups.items()}
    return {**values, **{k: float(np.mean(v)) for k, v in spread.items()}}, spread


SWD_KEY = "swd[pyramid]"  # Laplacian-pyramid SWD x 1e3 (no trained network: the label names the method, not a net)


def _swd_settings(cfg) -> dict[str, int]:
    """`params.metrics.swd` as `bench.swd`'s keyword arguments."""
    return {"levels": cfg.levels, "patch": cfg.patch, "per_image": cfg.per_image, "directions": cfg.directions,
            "repeats": cfg.repeats}  # fmt: skip


def pyramid_swd(a: np.ndarray, b: np.ndarray, cfg, seed: int) -> float:
    """`swd[pyramid]`: the mean over pyramid levels of Karras et al.'s sliced Wasserstein distance, x 1e3.

    Args: a (Na, H, W, 3), b (Nb, H, W, 3) uint8 image sets; cfg: `params.metrics.swd` (levels, patch, per_image,
    directions, repeats); seed: patch positions and projections. Returns: >= 0, 0 for a set against itself.
    """
    return swd(a, b, seed=seed, **_swd_settings(cfg))[SWD_AVG]


def pyramid_swd_per_image(a: np.ndarray, b: np.ndarray, cfg, seed: int, paired: bool) -> tuple[float, np.ndarray]:
    """`pyramid_swd(a, b, cfg, seed)` and one pseudo-value per image of `a`, for its interval.

    Returns: (the value, bit for bit `pyramid_swd`'s; (Na,) float64 value + image i's influence on it, whose mean is
    the value): the bootstrap of their mean is the SWD's, linearised (`bench.swd_influence`, which says why).
    paired: image i of a and b are drawn together (a reconstruction and its original); else b is a fixed reference.
    """
    value = pyramid_swd(a, b, cfg, seed)
    _, psi = swd_influence(a, b, seed=seed, paired=paired, **_swd_settings(cfg))
    return value, value + psi


def pyramid_swd_against(reference: np.ndarray, cfg) -> Callable[[np.ndarray, int], float]:
    """`swd[pyramid]` of many image sets against one reference: `score(images, seed)`, the reference's side kept.

    Args: reference (Nb, H, W, 3) uint8; cfg: `params.metrics.swd`. Returns: images (Na, H, W, 3) uint8, seed ->
    the same value as `pyramid_swd(images, reference, cfg, seed)` (`bench.swd.SwdAgainst`; mind its memory).
    """
    against = SwdAgainst(reference, **_swd_settings(cfg))
    return lambda images, seed: against(images, seed)[SWD_AVG]


def compute_reconstruction_fd(ref: Reference, recon: dict[str, torch.Tensor]) -> dict[str, float]:
    """rFID (`rfid[inception]`) or rFD (`rfd[judge]`): FD between reconstructions' and originals' pool features."""
    return {labelled(RFID, ref.extractor): frechet_distance((ref.mu, ref.sigma), feature_stats(recon[POOL]))}
