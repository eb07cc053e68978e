"""Cheap predictors of generation quality ("proxies") measured on an autoencoder's latents: the maths, no models.

The `proxies@NAME` stage (`autoencoders.proxies`) encodes and decodes; these functions turn its arrays into numbers,
and `spearman_interval` ranks proxies against generation FD for the `table_proxies` report. Recipes (stated once):

- Interpolated FD (iFD; the tokenizer leaderboard's "iFID", arXiv 2603.05630): standardise the latents z (N, C, h, w)
  per channel over all N eval images and positions (`standardise`), flatten each to a vector, find each image's
  nearest *other* image by Euclidean distance there (`nearest_other`), and decode z_w = (1 - w) z + w z_nn
  (`interpolate`). Standardising is affine per channel, so interpolating standardised or raw latents decodes the
  same point; it only matters for the neighbour search (a channel of large scale would dominate the distance).
  FD of the decoded images against the eval split's reference, exactly as rFD: at w = 0 it *is* rFD.
- Linear probes: multinomial logistic regression (scikit-learn, lbfgs, L2 with inverse strength C) on features
  standardised with the training features' mean and std (`linear_probe`). The class probe sees one flattened latent
  per image; the dense probe sees each latent cell (C,) labelled by the majority of its f x f mask pixels
  (`cell_labels`). Per-image values: 0/1 correctness (class), the fraction of correct cells (dense).
- Spectrum (the "diffusability" measure of Skorokhodov et al., ICML 2025): per image and channel, subtract the
  channel mean, take the orthonormal 2-D DCT-II (`scipy.fft.dctn`) and square it. `high_fraction` is the share of
  that (AC) energy at frequencies with max(u / h, v / w) >= 1/2, i.e. outside the low quadrant a 2x downsampling
  keeps; `band_spectrum` is the share per Chebyshev band k = max(u, v), at normalised frequency k / side, averaged
  over images (for the figure; latents and images share the frequency axis [0, 1)).
- Scale equivariance (EQ-VAE, ICML 2025): `down2` is a 2 x 2 average (box filter, stride 2), applied alike to the
  latent and to the image; the stage decodes down2(z) and compares it with down2(x) (MSE, PSNR).

Try: `python -m pytest tests/test_proxies.py -q`.
"""

from __future__ import annotations

import numpy as np
import scipy.fft
import scipy.stats

from bench.uncertainty import Interval

STD_FLOOR = 1e-12  # a constant channel standardises to 0 instead of dividing by zero


# ---------------------------------------------------------------------------------------------
# Interpolated FD: the latents to decode
# ---------------------------------------------------------------------------------------------


def standardise(z: np.ndarray) -> np.ndarray:
    """Per-channel standardisation over images and positions. Args: z (N, C, h, w). Returns: (N, C, h, w) float64."""
    z = np.asarray(z, dtype=np.float64)
    mean = z.mean(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    std = z.std(axis=(0, 2, 3), keepdims=True)  # (1, C, 1, 1)
    return (z - mean) / np.maximum(std, STD_FLOOR)


def nearest_other(flat: np.ndarray) -> np.ndarray:
    """Each row's nearest other row (Euclidean, scikit-learn's exact search).

    Args:
        flat: (N, D) vectors, N >= 2 (standardised, flattened latents).

    Returns:
        (N,) int64 index j != i of row i's nearest neighbour (an exact duplicate counts as nearest).
    """
    flat = np.asarray(flat, dtype=np.float64)
    if flat.ndim != 2 or len(flat) < 2:
        raise ValueError(f"need (N >= 2, D) vectors, got shape {flat.shape}")
    from sklearn.neighbors import NearestNeighbors  # here: the report imports this module for Spearman alone

    _, idx = NearestNeighbors(n_neighbors=2).fit(flat).kneighbors(flat)  # (N, 2): usually [self, neighbour]
    rows = np.arange(len(flat))
    # With an exact duplicate the search may list the twin before the row itself; take whichever is not the row.
    return np.where(idx[:, 0] != rows, idx[:, 0], idx[:, 1]).astype(np.int64)


def interpolate(z: np.ndarray, neighbour: np.ndarray, weight: float) -> np.ndarray:
    """(1 - w) z_i + w z_nn(i). Args: z (N, ...), neighbour (N,) indices, weight in [0, 1]. Returns: like z."""
    if not 0.0 <= weight <= 1.0:
        raise ValueError(f"interpolation weight must be in [0, 1], got {weight}")
    return (1.0 - weight) * z + weight * z[neighbour]


# ---------------------------------------------------------------------------------------------
# Linear probes
# ---------------------------------------------------------------------------------------------


def linear_probe(
    train_x: np.ndarray,
    train_y: np.ndarray,
    eval_x: np.ndarray,
    eval_y: np.ndarray,
    *,
    c: float,
    max_iter: int,
    seed: int,
) -> np.ndarray:
    """Fit a standardised logistic-regression probe on train features, say which eval features it classifies right.

    Args:
        train_x: (M, D) features; train_y: (M,) integer labels (at least two classes).
        eval_x: (N, D) features; eval_y: (N,) labels (a class never seen in training is always wrong).
        c: inverse L2 strength; max_iter: lbfgs iterations; seed: the solver's random_state.

    Returns:
        (N,) bool, True where the prediction equals eval_y.
    """
    from sklearn.linear_model import LogisticRegression  # here, like NearestNeighbors: report stages skip sklearn
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler
    from threadpoolctl import threadpool_limits

    if len(np.unique(train_y)) < 2:
        raise ValueError("a linear probe needs at least two classes in its training labels")
    probe = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=max_iter, random_state=seed))
    # One BLAS thread: the matrices are small, and threads only add synchronisation; on the busy 2-core machine the
    # per-image phase of a 100-image pass (probes + half-grid decode) took 112 s with default threads, 2.3 s with one.
    with threadpool_limits(limits=1):
        probe.fit(np.asarray(train_x, dtype=np.float64), np.asarray(train_y))
        return probe.predict(np.asarray(eval_x, dtype=np.float64)) == np.asarray(eval_y)


def cell_labels(masks: np.ndarray, h: int, w: int) -> np.ndarray:
    """Label each latent cell by the majority of the mask pixels it covers.

    Args:
        masks: (N, H, W) integer label maps, H and W multiples of h and w.
        h, w: latent grid.

    Returns:
        (N, h, w) int64; ties go to the smallest label (`scipy.stats.mode`).
    """
    masks = np.asarray(masks)
    n, height, width = masks.shape
    if height % h or width % w:
        raise ValueError(f"a {height}x{width} mask does not tile into a {h}x{w} grid")
    fy, fx = height // h, width // w
    blocks = masks.reshape(n, h, fy, w, fx).transpose(0, 1, 3, 2, 4).reshape(n, h, w, fy * fx)  # (N, h, w, f*f)
    return scipy.stats.mode(blocks, axis=-1, keepdims=False).mode.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Spectra and scale equivariance
# ---------------------------------------------------------------------------------------------


def dct_energy(x: np.ndarray) -> np.ndarray:
    """Squared orthonormal 2-D DCT-II of each channel minus its mean. Args: x (N, C, H, W). Returns: same shape."""
    x = np.asarray(x, dtype=np.float64)
    centred = x - x.mean(axis=(2, 3), keepdims=True)  # the DC term would swamp every image's spectrum
    return np.square(scipy.fft.dctn(centred, type=2, axes=(2, 3), norm="ortho"))


def _band(h: int, w: int) -> np.ndarray:
    """(h, w) normalised Chebyshev frequency max(u / h, v / w) of each DCT coefficient, in [0, 1)."""
    return np.maximum.outer(np.arange(h) / h, np.arange(w) / w)


def high_fraction(x: np.ndarray) -> np.ndarray:
    """Share of each image's AC energy at max(u / H, v / W) >= 1/2. Args: x (N, C, H, W), H, W >= 2.

    Returns: (N,) in [0, 1]; nan for an image that is constant in every channel (no AC energy).
    """
    energy = dct_energy(x).sum(axis=1)  # (N, H, W), summed over channels
    high = _band(*energy.shape[1:]) >= 0.5  # (H, W)
    total = energy.sum(axis=(1, 2))  # (N,)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, energy[:, high].sum(axis=1) / total, np.nan)


def band_spectrum(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean share of AC energy per Chebyshev band k = max(u, v) of a square grid.

    Args: x (N, C, S, S).

    Returns:
        (freq (S,) = k / S in [0, 1), share (S,) summing to 1 over bands, averaged over images with AC energy).
    """
    side = x.shape[-1]
    if x.shape[-2] != side:
        raise ValueError(f"band spectra need square grids, got {x.shape[-2:]}")
    energy = dct_energy(x).sum(axis=1)  # (N, S, S)
    k = np.maximum.outer(np.arange(side), np.arange(side))  # (S, S) band index
    per_band = np.stack([energy[:, k == b].sum(axis=1) for b in range(side)], axis=1)  # (N, S)
    total = per_band.sum(axis=1, keepdims=True)  # (N, 1)
    share = per_band[total[:, 0] > 0] / total[total[:, 0] > 0]
    return np.arange(side) / side, share.mean(axis=0)


def down2(x: np.ndarray) -> np.ndarray:
    """2 x 2 average (box filter, stride 2). Args: x (N, C, H, W), H and W even. Returns: (N, C, H/2, W/2)."""
    n, c, height, width = x.shape
    if height % 2 or width % 2:
        raise ValueError(f"2x downsampling needs even sides, got {height}x{width}")
    return x.reshape(n, c, height // 2, 2, width // 2, 2).mean(axis=(3, 5))


# ---------------------------------------------------------------------------------------------
# Ranking proxies against generation quality
# ---------------------------------------------------------------------------------------------


def spearman_interval(x: np.ndarray, y: np.ndarray, *, n_resamples: int, level: float, seed: int) -> Interval:
    """Spearman's rho of paired values with a percentile bootstrap interval over the pairs (items).

    Resamples that make either side constant have no rank correlation and are dropped (with a handful of items a
    few are). With 6-9 items the interval is wide: read its sign, not its width, and only when it excludes 0.

    Args:
        x, y: (K,) paired values (one per autoencoder item), K >= 3, finite.
        n_resamples: bootstrap resamples; level: two-sided level in (0, 1); seed: resampling seed.

    Returns:
        Interval(point = scipy.stats.spearmanr(x, y).statistic, percentile bounds, se of the kept resamples).
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1 or len(x) < 3 or not (np.isfinite(x).all() and np.isfinite(y).all()):
        raise ValueError(f"need two finite (K >= 3,) arrays of one shape, got {x.shape} and {y.shape}")
    point = float(scipy.stats.spearmanr(x, y).statistic)
    idx = np.random.default_rng(seed).integers(0, len(x), size=(n_resamples, len(x)))  # (B, K)
    keep = (np.ptp(x[idx], axis=1) > 0) & (np.ptp(y[idx], axis=1) > 0)
    # Spearman's rho is Pearson's r of the average ranks (scipy's definition), so all resamples go at once.
    rx, ry = (scipy.stats.rankdata(v[idx[keep]], axis=1) for v in (x, y))  # (B', K) each
    rx, ry = rx - rx.mean(axis=1, keepdims=True), ry - ry.mean(axis=1, keepdims=True)
    stats = (rx * ry).sum(axis=1) / np.sqrt(np.square(rx).sum(axis=1) * np.square(ry).sum(axis=1))  # (B',)
    if len(stats) < 2:
        return Interval(point, float("nan"), float("nan"), level, "percentile", n_resamples, float("nan"))
    alpha = (1 - level) / 2
    low, high = np.quantile(stats, [alpha, 1 - alpha])
    return Interval(point, float(low), float(high), level, "percentile", n_resamples, float(stats.std(ddof=1)))
