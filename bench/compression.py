"""Perceptual-compression measures of an autoencoder's latents: σ², ρ, k-means maps and PCA-RGB maps.

Pure functions, no I/O. The `compress@NAME` stage feeds them per-image latent features and ground-truth
masks; the report and notebooks draw Fig. 4, 7 and 8 from what they return. The authors released no
code for any of this (official-code-notes §5.4), so the paper's words are the specification.

Paper definitions (LDMAE, ICCV 2025):
- §4.2: perceptual compression discards fine perceptual detail and keeps macroscopic semantics, on a
  spectrum from pixel level ("no compression") through patterns and parts to objects (most compressed).
- §5.1 "Perceptual Compression", σ² (compression degree): "the average feature variance within each
  semantic cluster ... based on the ground truth segmentation map"; lower = stronger compression, and a
  good autoencoder has a smaller σ² than the raw image.
- §5.1, ρ (semantic disentanglement): "construct an affinity graph of latent features from each image
  and compute the mean intra-cluster edges (u_intra) and mean inter-cluster edges (u_inter) based on the
  ground truth", ρ = u_intra / u_inter; ρ > 1 is desired.
- Fig. 4: unsupervised clustering (k-means) of one image's local features for increasing k.
- Fig. 8: latents drawn as images "along with relative compression degrees (σ²)".

Choices where the paper is silent (every knob is an argument; values live in params.yaml):
- Features are per-position posterior means, normalised by the caller with the autoencoder's own dataset
  statistics (`bench.latent_features.normalise`), so autoencoders of different latent scale are comparable.
- Masks: `cell_labels` gives each latent cell the majority id of its pixels (with a purity threshold) or, as the
  release, its centre pixel's: `downsample_mask` samples the source pixel containing each latent cell's centre,
  floor((i + 0.5) · H / h), accumulated in float64 exactly as PIL `NEAREST` (the release's
  `CelebAMaskDataset` resizes to 32×32 with it) does, so ties on pixel borders match it bit for bit.
  Labels < 0 mean "unlabelled" and are dropped everywhere (the caller maps e.g. ADE20K's 0 to -1).
- Raw reference: `raw_features(mode="unshuffle")` gives each latent cell the f×f×3 pixels it covers
  (pixel-unshuffle, channel order c, dy, dx as torch's `pixel_unshuffle`): the pixel-level end of §4.2's
  spectrum with nothing discarded. `mode="area"` (3-channel block mean) is the alternative; it already
  averages away within-patch detail, i.e. it is itself a compression. Standardise it per channel like a latent.
- `reduce` sets the channel reduction of squared distances for both measures: "sum" (σ² is the trace of
  the within-segment covariance, the mean squared distance to the centroid) or "mean" (divided by C).
  Use "mean" to compare features of different widths (raw 3·f·f channels vs a 16-channel latent).
- σ²: per image, the segments (labels ≥ 0 with ≥ `min_pixels` positions) each give the mean squared
  distance of their features to their centroid (population variance, divisor n); these are averaged
  over segments, then over images. An image with no such segment is NaN and left out.
- ρ: the graph holds the positions of those same segments (smaller segments are dropped, as for σ²),
  over all pairs i ≠ j. Gaussian kernel A_ij = exp(-d²_ij / (2·bw²)) with bw fixed or "median" (the
  median pairwise distance d_ij over the image's pairs; the mean if the median is 0; ρ is then invariant
  to feature scale). Cosine kernel A_ij = (1 + cos_ij) / 2 keeps edges in [0, 1] so the ratio is of
  non-negative means; a zero vector has cos 0. Note that with "median" and near-equal inter-segment
  distances ρ saturates near exp(1/2); a fixed bw on standardised features has no such ceiling.
- ρ is computed per image (the paper builds one graph per image) and averaged over images, not a ratio
  of pooled means, so each image counts once and per-image values can be bootstrapped. An image with
  fewer than two segments has no inter edges: its ρ is NaN and left out of the mean.
- CIs: percentile bootstrap over images (resampling the defined per-image values), seeded Generator.
- k-means: scikit-learn `KMeans(n_init, random_state=seed)`; cluster ids renumbered by size (largest
  = 0), ties by first appearance in raster order, so colours line up across autoencoders.
- PCA-RGB: scikit-learn PCA to 3 components fitted per image; each component's sign is fixed so its
  largest-|loading| entry is positive, then each channel is min-max scaled to [0, 1] (constant → 0).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.spatial.distance import pdist
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA

KERNELS = ("gaussian", "cosine")
REDUCTIONS = ("sum", "mean")
RAW_MODES = ("unshuffle", "area")
CELL_RULES = ("centre", "majority")


def downsample_mask(mask: np.ndarray, h: int, w: int) -> np.ndarray:
    """Nearest-neighbour resize of a label mask to the latent grid (matches PIL `NEAREST`).

    Args:
        mask: (H, W) integer label map.
        h, w: latent grid size.

    Returns:
        (h, w) array of the same dtype; holds only ids present in `mask`.
    """
    mask = np.asarray(mask)
    if mask.ndim != 2 or not (0 < h <= mask.shape[0] and 0 < w <= mask.shape[1]):
        raise ValueError(f"need a 2-D mask at least {h}x{w}, got shape {mask.shape}")
    return mask[np.ix_(_nearest_index(mask.shape[0], h), _nearest_index(mask.shape[1], w))]


def cell_labels(mask: np.ndarray, h: int, w: int, rule: str, purity: float) -> tuple[np.ndarray, np.ndarray]:
    """Each latent cell's label from the f x f pixels it covers, and the share of those pixels that carry it.

    Args:
        mask: (H, W) integer label map, H = f·h and W = f·w.
        h, w: latent grid size.
        rule: "centre" (the pixel holding the cell centre, `downsample_mask`) or "majority" (the most frequent id
            among the cell's pixels, ties to the smaller id).
        purity: a "majority" cell whose label covers less than this share of its pixels gets -1 (mixed).

    Returns:
        labels (h, w) int64 (-1 = mixed), share (h, w) float64 in (0, 1]: the fraction of the cell's pixels
        carrying the id the rule picked (before the purity cut), so the purity of any rule can be reported.
    """
    mask = np.asarray(mask)
    f = mask.shape[0] // h if h else 0
    if mask.ndim != 2 or f < 1 or mask.shape != (f * h, f * w):
        raise ValueError(f"mask {np.shape(mask)} is not an integer multiple f of the {h}x{w} grid in both sides")
    if rule not in CELL_RULES:
        raise ValueError(f"rule must be one of {CELL_RULES}, got {rule!r}")
    blocks = mask.reshape(h, f, w, f).transpose(0, 2, 1, 3).reshape(h * w, f * f)  # each cell's pixels
    ids, inverse = np.unique(blocks, return_inverse=True)
    counts = np.zeros((h * w, ids.size), dtype=np.int64)
    np.add.at(counts, (np.repeat(np.arange(h * w), f * f), inverse.reshape(-1)), 1)
    if rule == "centre":
        picked = np.searchsorted(ids, downsample_mask(mask, h, w).reshape(-1))
    else:
        picked = counts.argmax(axis=1)  # ids are sorted: a tie goes to the smaller id
    share = counts[np.arange(h * w), picked] / (f * f)
    labels = ids[picked].astype(np.int64)
    if rule == "majority":
        labels[share < purity] = -1
    return labels.reshape(h, w), share.reshape(h, w)


def _nearest_index(size: int, n: int) -> np.ndarray:
    """Source index of each of `n` output cells: the pixel holding the cell centre, (i + 0.5)·size/n.

    Accumulated as PIL's affine NEAREST does (start at scale/2, add scale per cell, in float64), so that
    centres falling exactly on a pixel border resolve the same way as in the release.
    """
    scale = size / n
    centres = np.cumsum(np.r_[0.5 * scale, np.full(n - 1, scale)])  # sequential sums, like PIL's loop
    return np.minimum(np.floor(centres).astype(np.int64), size - 1)


def raw_features(image: np.ndarray, h: int, w: int, mode: str) -> np.ndarray:
    """The raw-image reference on the latent grid.

    Args:
        image: (3, H, W) float in [-1, 1]; H = f·h and W = f·w for one integer factor f.
        h, w: latent grid size.
        mode: "unshuffle" (each cell's f×f pixels, channels ordered c, dy, dx) or "area" (block mean).

    Returns:
        (h, w, 3·f·f) for "unshuffle", (h, w, 3) for "area"; float64.
    """
    image = np.asarray(image, dtype=np.float64)
    c, big_h, big_w = image.shape
    f = big_h // h
    if big_h != f * h or big_w != f * w:
        raise ValueError(f"image {big_h}x{big_w} is not an integer multiple of the {h}x{w} grid with equal factors")
    if mode not in RAW_MODES:
        raise ValueError(f"mode must be one of {RAW_MODES}, got {mode!r}")
    blocks = image.reshape(c, h, f, w, f).transpose(1, 3, 0, 2, 4)  # (h, w, c, dy, dx)
    if mode == "area":
        return blocks.mean(axis=(3, 4))
    return blocks.reshape(h, w, c * f * f)


def _segments(labels: np.ndarray, min_pixels: int) -> tuple[np.ndarray, np.ndarray]:
    """Flat indices and labels of positions whose segment (label ≥ 0) has at least `min_pixels` positions."""
    flat = np.asarray(labels).reshape(-1)
    ids, counts = np.unique(flat[flat >= 0], return_counts=True)
    keep = np.flatnonzero(np.isin(flat, ids[counts >= min_pixels]))
    return keep, flat[keep]


def _check(feats: np.ndarray, labels: np.ndarray, reduce: str) -> np.ndarray:
    feats = np.asarray(feats, dtype=np.float64)
    if feats.ndim != 3 or feats.shape[:2] != np.shape(labels):
        raise ValueError(f"feats must be (h, w, C) on the grid of labels {np.shape(labels)}, got {feats.shape}")
    if reduce not in REDUCTIONS:
        raise ValueError(f"reduce must be one of {REDUCTIONS}, got {reduce!r}")
    return feats.reshape(-1, feats.shape[2])


def sigma2_image(feats: np.ndarray, labels: np.ndarray, min_pixels: int, reduce: str) -> float:
    """Compression degree σ² of one image: mean over segments of the mean squared distance to the centroid.

    Args:
        feats: (h, w, C) standardised latent features.
        labels: (h, w) int segment ids on the same grid; < 0 = unlabelled.
        min_pixels: segments with fewer positions are ignored.
        reduce: "sum" or "mean" over channels (see module docstring).

    Returns:
        σ² ≥ 0, or NaN when no segment qualifies.
    """
    x = _check(feats, labels, reduce)
    keep, lab = _segments(labels, min_pixels)
    per_segment = []
    for s in np.unique(lab):
        xs = x[keep[lab == s]]  # (n_s, C)
        xs = xs - xs[0]  # shift first: a constant segment then gives exactly 0, and large offsets lose no precision
        per_segment.append(((xs - xs.mean(axis=0)) ** 2).sum(axis=1).mean())
    if not per_segment:
        return float("nan")
    scale = 1.0 / x.shape[1] if reduce == "mean" else 1.0
    return float(np.mean(per_segment) * scale)


def rho_image(
    feats: np.ndarray, labels: np.ndarray, min_pixels: int, kernel: str, bandwidth: float | str, reduce: str
) -> float:
    """Semantic disentanglement ρ = u_intra / u_inter of one image's affinity graph.

    Args:
        feats: (h, w, C) standardised latent features.
        labels: (h, w) int segment ids; < 0 = unlabelled.
        min_pixels: positions of segments smaller than this are dropped from the graph.
        kernel: "gaussian" or "cosine".
        bandwidth: Gaussian bandwidth > 0, or "median" (median pairwise distance of this image).
            Unused by the cosine kernel.
        reduce: "sum" or "mean" over channels of the squared distance (Gaussian kernel only).

    Returns:
        ρ > 0, or NaN when fewer than two segments qualify.
    """
    x = _check(feats, labels, reduce)
    if kernel not in KERNELS:
        raise ValueError(f"kernel must be one of {KERNELS}, got {kernel!r}")
    keep, lab = _segments(labels, min_pixels)
    if np.unique(lab).size < 2:
        return float("nan")
    x = x[keep]
    n = x.shape[0]
    i, j = np.triu_indices(n, k=1)  # unordered pairs i < j; means equal those over ordered pairs i != j
    same = lab[i] == lab[j]
    if kernel == "cosine":
        norm = np.linalg.norm(x, axis=1, keepdims=True)
        u = np.divide(x, norm, out=np.zeros_like(x), where=norm > 0)
        affinity = (1.0 + (u @ u.T)[i, j]) / 2.0  # Gram matrix: n² memory, independent of C
    else:
        d2 = pdist(x, "sqeuclidean")  # condensed, same (i, j) order as triu_indices
        if reduce == "mean":
            d2 = d2 / x.shape[1]
        if bandwidth == "median":
            d = np.sqrt(d2)
            bw = float(np.median(d)) or float(d.mean()) or 1.0  # all features equal -> every edge is 1
        elif isinstance(bandwidth, int | float) and bandwidth > 0:
            bw = float(bandwidth)
        else:
            raise ValueError(f"bandwidth must be a positive number or 'median', got {bandwidth!r}")
        affinity = np.exp(-d2 / (2.0 * bw**2))
    return float(affinity[same].mean() / affinity[~same].mean())


def sigma2(samples: Sequence[tuple[np.ndarray, np.ndarray]], min_pixels: int, reduce: str) -> float:
    """Dataset σ²: mean of `sigma2_image` over images where it is defined. Args as `sigma2_image`."""
    return float(np.nanmean([sigma2_image(f, lab, min_pixels, reduce) for f, lab in samples]))


def _bootstrap_ci(values: np.ndarray, n_boot: int, level: float, rng: np.random.Generator) -> tuple[float, float]:
    """Percentile bootstrap CI of the mean of `values` (1-D, finite)."""
    means = values[rng.integers(0, values.size, size=(n_boot, values.size))].mean(axis=1)
    lo, hi = np.quantile(means, [(1.0 - level) / 2.0, (1.0 + level) / 2.0])
    return float(lo), float(hi)


def compression_stats(
    samples: Sequence[tuple[np.ndarray, np.ndarray]],
    min_pixels: int,
    kernel: str,
    bandwidth: float | str,
    reduce: str,
    n_boot: int,
    ci_level: float,
    seed: int,
) -> dict:
    """σ² and ρ over a set of images, with per-image values and bootstrap confidence intervals.

    Args:
        samples: (feats (h, w, C), labels (h, w)) per image.
        min_pixels, kernel, bandwidth, reduce: as in `sigma2_image` / `rho_image`.
        n_boot: bootstrap resamples of the images.
        ci_level: CI coverage in (0, 1), e.g. 0.95.
        seed: seed of the bootstrap's numpy Generator.

    Returns:
        dict with "sigma2", "rho" (floats: means over images where defined), "sigma2_ci", "rho_ci"
        ((lo, hi)), "sigma2_per_image", "rho_per_image" ((N,) arrays aligned with `samples`, NaN where
        undefined), "n_sigma2", "n_rho" (images counted).
    """
    if not 0.0 < ci_level < 1.0 or n_boot < 1:
        raise ValueError(f"need 0 < ci_level < 1 and n_boot >= 1, got {ci_level}, {n_boot}")
    rng = np.random.default_rng(seed)
    per_image = {
        "sigma2": np.array([sigma2_image(f, lab, min_pixels, reduce) for f, lab in samples]),
        "rho": np.array([rho_image(f, lab, min_pixels, kernel, bandwidth, reduce) for f, lab in samples]),
    }
    out: dict = {}
    for name, values in per_image.items():
        valid = values[np.isfinite(values)]
        if valid.size == 0:
            raise ValueError(f"{name} is undefined on every image: lower min_pixels or check the masks' labels")
        out[name] = float(valid.mean())
        out[f"{name}_ci"] = _bootstrap_ci(valid, n_boot, ci_level, rng)
        out[f"{name}_per_image"] = values
        out[f"n_{name}"] = int(valid.size)
    return out


def canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Renumber ids by segment size (largest = 0), ties by first appearance in raster order. Same shape."""
    flat = np.asarray(labels).reshape(-1)
    ids, first, counts = np.unique(flat, return_index=True, return_counts=True)
    order = np.lexsort((first, -counts))  # primary key: size descending; secondary: first appearance
    rank = np.empty(ids.size, dtype=np.int64)
    rank[order] = np.arange(ids.size)
    return rank[np.searchsorted(ids, flat)].reshape(np.shape(labels))


def kmeans_maps(feats: np.ndarray, ks: Sequence[int], n_init: int, seed: int) -> dict[int, np.ndarray]:
    """k-means cluster maps of one image's latent positions (Fig. 4).

    Args:
        feats: (h, w, C) latent features.
        ks: numbers of clusters, each in [1, h·w].
        n_init: k-means restarts.
        seed: `random_state` of KMeans.

    Returns:
        {k: (h, w) int64 map with ids 0..k-1 in canonical order (see `canonical_labels`)}.
    """
    h, w, c = np.shape(feats)
    x = np.asarray(feats, dtype=np.float64).reshape(h * w, c)
    maps = {}
    for k in ks:
        if not 1 <= k <= h * w:
            raise ValueError(f"k must be in [1, {h * w}], got {k}")
        assign = KMeans(n_clusters=k, n_init=n_init, random_state=seed).fit_predict(x)
        maps[k] = canonical_labels(assign.reshape(h, w))
    return maps


def pca_rgb(feats: np.ndarray, seed: int) -> np.ndarray:
    """Latent map as an RGB image via its first three principal components (Fig. 8).

    Args:
        feats: (h, w, C) latent features, C ≥ 3.
        seed: `random_state` of PCA (only used by randomised solvers; kept for determinism).

    Returns:
        (h, w, 3) float64 in [0, 1]; each channel min-max scaled over the image.
    """
    h, w, c = np.shape(feats)
    if c < 3:
        raise ValueError(f"pca_rgb needs at least 3 channels, got {c}")
    x = np.asarray(feats, dtype=np.float64).reshape(h * w, c)
    pca = PCA(n_components=3, random_state=seed).fit(x)
    comps = pca.components_  # (3, C)
    signs = np.sign(comps[np.arange(3), np.abs(comps).argmax(axis=1)])  # largest-|loading| entry positive
    proj = (x - pca.mean_) @ (comps * signs[:, None]).T  # (h·w, 3)
    lo, span = proj.min(axis=0), np.ptp(proj, axis=0)
    rgb = np.divide(proj - lo, span, out=np.zeros_like(proj), where=span > 0)
    return rgb.reshape(h, w, 3)
