"""Tests of bench/compression.py on constructed features with known answers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from sklearn.metrics import adjusted_rand_score

from bench.compression import (
    canonical_labels,
    compression_stats,
    downsample_mask,
    kmeans_maps,
    pca_rgb,
    raw_features,
    rho_image,
    sigma2,
    sigma2_image,
)


def stripes(h: int, w: int, n: int) -> np.ndarray:
    """(h, w) labels: `n` vertical stripes of near-equal width."""
    return np.tile(np.arange(w) * n // w, (h, 1))


def sigma2_loop(feats, labels, min_pixels):
    """Independent reference: explicit loops over segments, positions and channels."""
    h, w, c = feats.shape
    per_segment = []
    for s in sorted({int(v) for v in labels.ravel() if v >= 0}):
        pts = [feats[y, x] for y in range(h) for x in range(w) if labels[y, x] == s]
        if len(pts) < min_pixels:
            continue
        centroid = [sum(p[k] for p in pts) / len(pts) for k in range(c)]
        per_segment.append(sum(sum((p[k] - centroid[k]) ** 2 for k in range(c)) for p in pts) / len(pts))
    return sum(per_segment) / len(per_segment)


def rho_loop(feats, labels, min_pixels, kernel, bandwidth, reduce):
    """Naive reference: every ordered pair i != j, kernel written out per pair."""
    x = feats.reshape(-1, feats.shape[2])
    lab = labels.ravel()
    sizes = {s: int((lab == s).sum()) for s in set(lab.tolist()) if s >= 0}
    idx = [i for i in range(len(lab)) if lab[i] >= 0 and sizes[lab[i]] >= min_pixels]
    scale = x.shape[1] if reduce == "mean" else 1
    pairs = [(i, j) for i in idx for j in idx if i != j]
    if bandwidth == "median":
        bandwidth = float(np.median([np.sqrt(((x[i] - x[j]) ** 2).sum() / scale) for i, j in pairs]))
    intra, inter = [], []
    for i, j in pairs:
        if kernel == "cosine":
            a = (1 + x[i] @ x[j] / (np.linalg.norm(x[i]) * np.linalg.norm(x[j]))) / 2
        else:
            a = np.exp(-((x[i] - x[j]) ** 2).sum() / scale / (2 * bandwidth**2))
        (intra if lab[i] == lab[j] else inter).append(a)
    return np.mean(intra) / np.mean(inter)


def test_sigma2_zero_for_constant_segments():
    rng = np.random.default_rng(0)
    labels = stripes(8, 8, 3)
    feats = rng.normal(size=(3, 5))[labels]  # one constant vector per segment
    assert sigma2_image(feats, labels, 1, "sum") == 0.0
    assert sigma2_image(feats, labels, 1, "mean") == 0.0


def test_sigma2_exact_closed_form():
    # Per segment, centred noise rescaled so (1/n) sum ||e_i||^2 = C s^2 (n-1)/n exactly: the sample value
    # whose expectation is C s^2 (n-1)/n for N(mu, s^2 I). Segment sizes differ, so the answer is their mean.
    rng = np.random.default_rng(1)
    h, w, c, s = 6, 10, 7, 0.3
    labels = stripes(h, w, 3)
    feats = np.empty((h, w, c))
    expected = []
    for seg in range(3):
        m = labels == seg
        n = int(m.sum())
        e = rng.normal(size=(n, c))
        e -= e.mean(axis=0)
        target = c * s**2 * (n - 1) / n
        feats[m] = rng.normal(size=c) * 5 + e * np.sqrt(target / (e**2).sum(axis=1).mean())
        expected.append(target)
    assert sigma2_image(feats, labels, 1, "sum") == pytest.approx(np.mean(expected), rel=1e-12)
    assert sigma2_image(feats, labels, 1, "mean") == pytest.approx(np.mean(expected) / c, rel=1e-12)


def test_sigma2_matches_loop_and_gaussian_expectation():
    rng = np.random.default_rng(2)
    h, w, c, s = 8, 8, 4, 0.5
    samples = []
    for _ in range(40):
        labels = rng.integers(0, 4, size=(h, w))
        means = rng.normal(size=(4, c)) * 3
        samples.append((means[labels] + s * rng.normal(size=(h, w, c)), labels))
    for feats, labels in samples[:3]:
        assert sigma2_image(feats, labels, 1, "sum") == pytest.approx(sigma2_loop(feats, labels, 1), rel=1e-10)
    # E[(1/n) sum ||x_i - xbar||^2] = C s^2 (n-1)/n for each segment; the mean over 160 segments is close.
    expected = np.mean([c * s**2 * (1 - 1 / (lab == k).sum()) for _, lab in samples for k in range(4)])
    assert sigma2(samples, 1, "sum") == pytest.approx(expected, rel=0.05)


def test_small_segments_ignored():
    rng = np.random.default_rng(3)
    labels = stripes(8, 8, 2)
    feats = rng.normal(size=(8, 8, 3)) * 0.1 + 2 * labels[..., None]
    small = labels.copy()
    small[0, :3] = 7  # a 3-position segment whose features are spread far apart
    feats[0, :3] = [[100.0, 0, 0], [-100.0, 0, 0], [0, 100.0, 0]]
    unlabelled = np.where(small == 7, -1, small)  # the same positions marked unlabelled
    for min_pixels, same in [(4, True), (1, False)]:
        s_small = sigma2_image(feats, small, min_pixels, "sum")
        r_small = rho_image(feats, small, min_pixels, "gaussian", "median", "sum")
        s_ref = sigma2_image(feats, unlabelled, min_pixels, "sum")
        r_ref = rho_image(feats, unlabelled, min_pixels, "gaussian", "median", "sum")
        assert (s_small == pytest.approx(s_ref, rel=1e-12)) is same
        assert (r_small == pytest.approx(r_ref, rel=1e-12)) is same
    assert sigma2_image(feats, small, 4, "sum") < 0.1
    assert np.isnan(sigma2_image(feats, labels, 33, "sum"))  # no segment reaches 33 positions


def test_rho_separated_and_independent():
    rng = np.random.default_rng(4)
    labels = stripes(16, 16, 4)
    centres = np.eye(4, 8) * 10
    tight = centres[labels] + 0.01 * rng.normal(size=(16, 16, 8))
    assert rho_image(tight, labels, 1, "gaussian", 1.0, "sum") > 1e6
    assert rho_image(tight, labels, 1, "gaussian", "median", "sum") > 1.5  # ceiling about exp(1/2)
    assert rho_image(tight, labels, 1, "cosine", "median", "sum") > 1.99  # orthogonal centres: ceiling 2
    noise = rng.normal(size=(32, 32, 8)) + 1.0  # offset keeps cosines away from a mean of 0
    random_labels = rng.integers(0, 4, size=(32, 32))
    for kernel, bw in [("gaussian", "median"), ("gaussian", 3.0), ("cosine", "median")]:
        assert rho_image(noise, random_labels, 1, kernel, bw, "sum") == pytest.approx(1.0, abs=0.02)


@pytest.mark.parametrize(
    "kernel,bandwidth,reduce",
    [("gaussian", "median", "sum"), ("gaussian", "median", "mean"), ("gaussian", 1.5, "mean"), ("cosine", 1.0, "sum")],
)
def test_rho_matches_double_loop(kernel, bandwidth, reduce):
    rng = np.random.default_rng(5)
    labels = rng.integers(-1, 3, size=(6, 5))
    labels[0, 0] = 9  # a 1-position segment, dropped by min_pixels=2
    feats = rng.normal(size=(6, 5, 4)) + labels.clip(0)[..., None] * 0.7
    got = rho_image(feats, labels, 2, kernel, bandwidth, reduce)
    assert got == pytest.approx(rho_loop(feats, labels, 2, kernel, bandwidth, reduce), abs=1e-6)


def test_rho_median_is_scale_invariant():
    rng = np.random.default_rng(6)
    labels = stripes(8, 8, 3)
    feats = rng.normal(size=(8, 8, 5)) + labels[..., None]
    a = rho_image(feats, labels, 1, "gaussian", "median", "sum")
    assert rho_image(17.0 * feats, labels, 1, "gaussian", "median", "sum") == pytest.approx(a, rel=1e-10)


def test_single_label_is_nan_and_excluded():
    rng = np.random.default_rng(7)
    one = (rng.normal(size=(8, 8, 3)), np.zeros((8, 8), dtype=int))
    two = (rng.normal(size=(8, 8, 3)) + stripes(8, 8, 2)[..., None], stripes(8, 8, 2))
    assert np.isnan(rho_image(*one, 1, "gaussian", "median", "sum"))
    stats = compression_stats([one, two], 1, "gaussian", "median", "sum", 200, 0.95, 0)
    assert np.isnan(stats["rho_per_image"][0]) and stats["n_rho"] == 1
    assert stats["rho"] == pytest.approx(rho_image(*two, 1, "gaussian", "median", "sum"))
    assert stats["n_sigma2"] == 2  # sigma2 is defined on a one-segment image
    with pytest.raises(ValueError, match="undefined on every image"):
        compression_stats([one, one], 1, "gaussian", "median", "sum", 200, 0.95, 0)


def test_bootstrap_ci_contains_estimate_and_is_seeded():
    rng = np.random.default_rng(8)
    samples = []
    for _ in range(12):
        labels = rng.integers(0, 3, size=(8, 8))
        samples.append((rng.normal(size=(8, 8, 4)) * rng.uniform(0.5, 2) + labels[..., None], labels))
    stats = compression_stats(samples, 2, "gaussian", "median", "sum", 500, 0.95, 3)
    for name in ("sigma2", "rho"):
        lo, hi = stats[f"{name}_ci"]
        assert lo < stats[name] < hi
        assert stats[f"{name}_per_image"].shape == (12,)
        assert stats[name] == pytest.approx(np.nanmean(stats[f"{name}_per_image"]))
    again = compression_stats(samples, 2, "gaussian", "median", "sum", 500, 0.95, 3)
    assert again["rho_ci"] == stats["rho_ci"] and again["sigma2_ci"] == stats["sigma2_ci"]


def test_kmeans_recovers_blobs_with_canonical_ids():
    rng = np.random.default_rng(9)
    h, w = 10, 12
    truth = np.zeros((h, w), dtype=int)
    truth[:, 4:] = 1
    truth[6:, 8:] = 2  # sizes 40, 64, 16: distinct, so the canonical order is by size alone
    centres = rng.normal(size=(3, 6)) * 20
    feats = centres[truth] + 0.1 * rng.normal(size=(h, w, 6))
    maps = kmeans_maps(feats, (1, 3), 4, 0)
    assert maps[3].shape == (h, w) and adjusted_rand_score(truth.ravel(), maps[3].ravel()) == 1.0
    assert (maps[1] == 0).all()
    assert (maps[3] == canonical_labels(truth)).all()  # largest region -> 0, then 1, then 2
    np.testing.assert_array_equal(np.bincount(maps[3].ravel()), [64, 40, 16])
    swapped = centres[[2, 0, 1]][truth] + 0.1 * rng.normal(size=(h, w, 6))  # same partition, other blob order
    np.testing.assert_array_equal(kmeans_maps(swapped, (3,), 4, 0)[3], maps[3])
    perm = rng.permutation(h * w)  # same points, shuffled over the grid
    shuffled = kmeans_maps(feats.reshape(-1, 6)[perm].reshape(h, w, 6), (3,), 4, 0)[3].ravel()
    np.testing.assert_array_equal(shuffled[np.argsort(perm)], maps[3].ravel())


def test_canonical_labels_ties_by_first_appearance():
    np.testing.assert_array_equal(canonical_labels(np.array([[5, 5, 2], [2, 9, 9]])), [[0, 0, 1], [1, 2, 2]])


def test_pca_rgb_range_shape_determinism():
    rng = np.random.default_rng(10)
    feats = rng.normal(size=(7, 9, 16)) * np.linspace(3, 0.1, 16)
    rgb = pca_rgb(feats, 0)
    assert rgb.shape == (7, 9, 3) and rgb.min() == 0.0 and rgb.max() == 1.0
    np.testing.assert_array_equal(rgb, pca_rgb(feats, 0))
    np.testing.assert_allclose(pca_rgb(feats[..., rng.permutation(16)], 0), rgb, atol=1e-10)  # sign fix holds
    with pytest.raises(ValueError):
        pca_rgb(feats[..., :2], 0)


def test_downsample_mask_matches_pil_nearest_and_keeps_ids():
    rng = np.random.default_rng(11)
    sizes = [((256, 256), (32, 32)), ((250, 190), (32, 24)), ((64, 48), (7, 5)), ((97, 300), (13, 41))]
    for big, small in sizes:
        mask = rng.choice(np.array([0, 3, 17, 200], dtype=np.uint8), size=big)
        out = downsample_mask(mask, *small)
        ref = np.asarray(Image.fromarray(mask).resize(small[::-1], Image.NEAREST))
        assert out.shape == small and out.dtype == mask.dtype
        np.testing.assert_array_equal(out, ref)
        assert set(np.unique(out)) <= {0, 3, 17, 200}


def test_raw_features_unshuffle_and_area():
    rng = np.random.default_rng(12)
    image = rng.uniform(-1, 1, size=(3, 16, 24))
    raw = raw_features(image, 4, 6, "unshuffle")
    ref = torch.nn.functional.pixel_unshuffle(torch.from_numpy(image)[None], 4)[0].permute(1, 2, 0).numpy()
    assert raw.shape == (4, 6, 48)
    np.testing.assert_array_equal(raw, ref)
    area = raw_features(image, 4, 6, "area")
    np.testing.assert_allclose(area, raw.reshape(4, 6, 3, 16).mean(axis=3), atol=1e-12)
    with pytest.raises(ValueError):
        raw_features(image, 5, 6, "area")
