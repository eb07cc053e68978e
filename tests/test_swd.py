"""Tests of the Laplacian-pyramid sliced Wasserstein distance (`bench.swd`): references, invariants, sensitivity.

Run: `python -m pytest tests/test_swd.py -q` (CPU, a few seconds).
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.ndimage
import scipy.stats

import bench.swd
from bench.swd import (
    BINOMIAL,
    SWD_AVG,
    SwdAgainst,
    collapse_pyramid,
    laplacian_pyramid,
    patch_positions,
    pyr_down,
    pyr_up,
    pyramid_descriptors,
    sliced_wasserstein,
    swd,
    unit_directions,
)

LEVELS, PATCH = 3, 7
FAST = dict(levels=LEVELS, patch=PATCH, per_image=32, directions=64, repeats=2)  # enough to rank, quick on 2 cores


def draw_images(n: int, seed: int, size: int = 32) -> np.ndarray:
    """A synthetic image distribution with structure at every scale: colour gradient, soft blobs, a fine grating.

    Returns: (n, size, size, 3) uint8.
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, size)
    yy, xx = np.meshgrid(t, t, indexing="ij")  # (S, S)
    img = rng.uniform(60, 190, (n, 1, 1, 3)) + rng.uniform(-40, 40, (n, 1, 1, 3)) * xx[..., None]
    for _ in range(3):  # blobs: the coarse levels
        cy, cx, r = rng.uniform(0, 1, (3, n, 1, 1))
        bump = np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * (0.05 + 0.15 * r) ** 2))  # (n, S, S)
        img += bump[..., None] * rng.uniform(-60, 60, (n, 1, 1, 3))
    freq, angle, phase = rng.uniform(4, 8, (n, 1, 1)), rng.uniform(0, np.pi, (n, 1, 1)), rng.uniform(0, 6, (n, 1, 1))
    grating = np.sin(2 * np.pi * freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)  # the finest level
    img += 15 * grating[..., None]
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def add_noise(images: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noisy = images + np.random.default_rng(seed).normal(0, sigma, images.shape)
    return np.clip(np.rint(noisy), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def sets() -> tuple[np.ndarray, np.ndarray]:
    return draw_images(200, seed=1), draw_images(200, seed=2)


# ---------------------------------------------------------------------------------------------
# Pyramid
# ---------------------------------------------------------------------------------------------


def test_pyramid_ops_match_the_reference_scipy_filters() -> None:
    """The reference's pyr_down / pyr_up: scipy.ndimage.convolve with the 5x5 binomial, mode "mirror"."""
    x = np.random.default_rng(0).uniform(0, 255, (2, 3, 16, 12)).astype(np.float32)
    k2 = np.outer(BINOMIAL, BINOMIAL)[None, None]  # (1, 1, 5, 5), sums to 1
    down = scipy.ndimage.convolve(x, k2, mode="mirror")[..., ::2, ::2]
    np.testing.assert_allclose(pyr_down(x), down, rtol=0, atol=1e-3)
    zeros = np.zeros((2, 3, 32, 24), np.float32)
    zeros[..., ::2, ::2] = x
    np.testing.assert_allclose(pyr_up(x), scipy.ndimage.convolve(zeros, 4 * k2, mode="mirror"), rtol=0, atol=1e-3)


def test_laplacian_bands_and_coarsest_level_reconstruct_the_image() -> None:
    x = draw_images(4, seed=0, size=64).transpose(0, 3, 1, 2).astype(np.float32)  # (4, 3, 64, 64)
    pyramid = laplacian_pyramid(x, 4)
    assert [p.shape for p in pyramid] == [(4, 3, 64 // 2**l, 64 // 2**l) for l in range(4)]
    np.testing.assert_allclose(collapse_pyramid(pyramid), x, rtol=0, atol=1e-3)
    assert abs(pyramid[0].mean()) < 5 and abs(pyramid[-1].mean() - x.mean()) < 1  # bands ~0-mean, residual keeps it


# ---------------------------------------------------------------------------------------------
# Descriptors
# ---------------------------------------------------------------------------------------------


def test_descriptors_shapes_normalisation_and_determinism(sets) -> None:
    x = sets[0][:50]
    kw = dict(levels=LEVELS, patch=PATCH, per_image=16)
    first, again, other = (pyramid_descriptors(x, seed=s, **kw) for s in (3, 3, 4))
    assert [d.shape for d in first] == [(50, 16, 3 * PATCH * PATCH)] * LEVELS
    for d, d2, d3 in zip(first, again, other, strict=True):
        assert d.dtype == np.float32
        np.testing.assert_array_equal(d, d2)
        assert not np.array_equal(d, d3)
        per_channel = d.reshape(-1, 3, PATCH * PATCH)  # channel-major descriptors
        np.testing.assert_allclose(per_channel.mean(axis=(0, 2)), 0, atol=1e-5)
        np.testing.assert_allclose(per_channel.std(axis=(0, 2)), 1, atol=1e-4)


def test_patch_positions_fit_and_do_not_depend_on_the_set_size() -> None:
    big = patch_positions(300, 8, 12, patch=7, per_image=64, seed=5, level=2)
    small = patch_positions(17, 8, 12, patch=7, per_image=64, seed=5, level=2)
    np.testing.assert_array_equal(big[:17], small)  # image i is sampled alike in sets of any size
    assert big.min() == 0 and big[..., 0].max() == 8 - 7 and big[..., 1].max() == 12 - 7


# ---------------------------------------------------------------------------------------------
# Distance
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("nb", [300, 170])  # equal sizes (sorted pairs) and unequal (CDF formula)
def test_one_direction_equals_scipy_wasserstein(nb: int) -> None:
    rng = np.random.default_rng(0)
    a = rng.normal(0, 1, (300, 6)).astype(np.float32)
    b = rng.standard_t(3, (nb, 6)).astype(np.float32) + 0.3
    u = unit_directions(6, directions=1, repeats=1, seed=11)[0, 0]  # (6,)
    ours = sliced_wasserstein(a, b, directions=1, repeats=1, seed=11)
    assert ours == pytest.approx(scipy.stats.wasserstein_distance(a @ u, b @ u), rel=1e-5)


def test_many_directions_average_scipy_over_directions_and_repeats() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (200, 4)), rng.normal(0.5, 2, (200, 4))
    dirs = unit_directions(4, directions=3, repeats=2, seed=9).reshape(-1, 4)  # (6, 4)
    assert np.allclose(np.linalg.norm(dirs, axis=1), 1)
    expected = np.mean([scipy.stats.wasserstein_distance(a @ u, b @ u) for u in dirs])
    assert sliced_wasserstein(a, b, directions=3, repeats=2, seed=9) == pytest.approx(expected, rel=1e-5)


# ---------------------------------------------------------------------------------------------
# SWD on image sets
# ---------------------------------------------------------------------------------------------


def test_a_set_against_itself_is_zero(sets) -> None:
    out = swd(sets[0], sets[0], seed=0, **FAST)
    assert list(out) == [f"swd_l{l}" for l in range(LEVELS)] + [SWD_AVG]
    assert all(v == 0.0 for v in out.values())


def test_independent_draw_is_closer_than_noisy_or_blurred_sets(sets) -> None:
    """Noise and blur act on the fine bands; the coarsest 8x8 level (colour layout) barely moves, so it is left out."""
    x, y = sets
    same = swd(x, y, seed=0, **FAST)
    noisy = swd(x, add_noise(y, 30, seed=0), seed=0, **FAST)
    blurred_y = pyr_up(pyr_down(y.transpose(0, 3, 1, 2).astype(np.float32))).transpose(0, 2, 3, 1)
    blurred = swd(x, np.clip(np.rint(blurred_y), 0, 255).astype(np.uint8), seed=0, **FAST)
    assert same[SWD_AVG] > 0
    assert noisy["swd_l0"] > 3 * same["swd_l0"] and noisy["swd_l1"] > 1.2 * same["swd_l1"]
    assert blurred["swd_l0"] > 2 * same["swd_l0"] and blurred["swd_l1"] > 2 * same["swd_l1"]
    assert min(noisy[SWD_AVG], blurred[SWD_AVG]) > 1.5 * same[SWD_AVG]
    assert same[SWD_AVG] == pytest.approx(np.mean([same[f"swd_l{l}"] for l in range(LEVELS)]))


def test_grows_monotonically_with_noise_strength(sets) -> None:
    x, y = sets
    sigmas = [0, 5, 10, 20, 40]
    avg = [swd(x, add_noise(y, s, seed=1), seed=0, **FAST)[SWD_AVG] for s in sigmas]
    assert all(lo < hi for lo, hi in zip(avg[:-1], avg[1:], strict=True)), dict(zip(sigmas, avg, strict=True))


def test_each_set_is_normalised_by_its_own_channel_statistics(sets) -> None:
    """Karras' convention: a per-channel affine change of a whole set (here 2x + 10) is invisible."""
    x = sets[0] // 3  # <= 85, so 2x + 10 stays inside uint8 without clipping
    out = swd(x, 2 * x + 10, seed=0, **FAST)
    assert max(out.values()) < 1e-2  # float rounding only; an independent draw gives ~ 10


def test_unequal_sizes_and_large_images() -> None:
    a, b = draw_images(6, seed=3, size=256), draw_images(4, seed=4, size=256)
    out = swd(a, b, levels=5, patch=7, per_image=8, directions=16, repeats=1, seed=0)
    assert len(out) == 6 and all(np.isfinite(v) and v > 0 for v in out.values())


def swd_from_parts(a: np.ndarray, b: np.ndarray, seed: int) -> dict[str, float]:
    """The documented recipe, from the public pieces: per level, descriptors of both sets, then sliced W1."""
    da, db = (
        pyramid_descriptors(x, levels=LEVELS, patch=PATCH, per_image=FAST["per_image"], seed=seed) for x in (a, b)
    )
    out = {}
    for level, (la, lb) in enumerate(zip(da, db, strict=True)):
        level_seed = int(np.random.SeedSequence([seed, 1, level]).generate_state(1)[0])  # module docstring: (seed, l)
        dist = sliced_wasserstein(la.reshape(-1, la.shape[-1]), lb.reshape(-1, lb.shape[-1]),
                                  directions=FAST["directions"], repeats=FAST["repeats"], seed=level_seed)  # fmt: skip
        out[f"swd_l{level}"] = 1e3 * dist
    return out | {SWD_AVG: float(np.mean(list(out.values())))}


def test_many_sets_against_one_reference_give_the_recipe(sets) -> None:
    """`SwdAgainst` (and `swd`, built on it) equal the recipe for every set and seed, also when seeds alternate."""
    x, y = sets
    against = SwdAgainst(y, **FAST)
    for images, seed in [(x, 0), (add_noise(y, 20, seed=0), 0), (x[:150], 0), (x, 3), (x, 0), (y, 3)]:
        assert against(images, seed) == swd_from_parts(images, y, seed)
        assert swd(images, y, seed=seed, **FAST) == swd_from_parts(images, y, seed)
    assert against(y, 3)[SWD_AVG] == 0.0
    odd = {**FAST, "directions": 3, "repeats": 3}  # 9 directions: x 1e3 / 9 rounds differently from / 9 x 1e3
    assert SwdAgainst(y, **odd)(x, 0) == swd(x, y, seed=0, **odd)


def test_the_reference_side_is_computed_once_per_seed(sets, monkeypatch) -> None:
    """The point of `SwdAgainst`: the reference's descriptors are built when the seed changes, not on every call."""
    x, y = sets
    built = []
    real = bench.swd.pyramid_descriptors
    against = SwdAgainst(y, **FAST)
    assert against.reference is not y and not against.reference.flags.writeable  # a frozen copy of the caller's
    monkeypatch.setattr(
        bench.swd, "pyramid_descriptors", lambda im, **kw: built.append(im is against.reference) or real(im, **kw)
    )
    for seed in [0, 0, 0, 3, 3, 0]:
        against(x, seed)
    assert built == [False, True, False, False, False, True, False, False, True]  # set, then reference on a new seed


# ---------------------------------------------------------------------------------------------
# Bad input
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("images", "levels", "match"),
    [
        (np.zeros((4, 32, 32, 3), np.float32), 3, "uint8"),
        (np.zeros((4, 3, 32, 32), np.uint8), 3, r"\(N, H, W, 3\)"),
        ([[0]], 3, "uint8"),
        (np.zeros((0, 32, 32, 3), np.uint8), 3, "empty"),
        (np.zeros((4, 32, 32, 3), np.uint8), 4, "too small"),  # coarsest level 4x4 < 7x7 patches
        (np.zeros((4, 36, 36, 3), np.uint8), 4, "divisible by 8"),
    ],
)
def test_bad_images_raise(images, levels: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        pyramid_descriptors(images, levels=levels, patch=PATCH, per_image=4, seed=0)


def test_bad_arguments_raise() -> None:
    x = np.zeros((4, 32, 32, 3), np.uint8)
    with pytest.raises(ValueError, match="seed"):
        pyramid_descriptors(x, levels=3, patch=7, per_image=4, seed=-1)
    with pytest.raises(ValueError, match=">= 1"):
        pyramid_descriptors(x, levels=3, patch=7, per_image=0, seed=0)
    with pytest.raises(ValueError, match="one image size"):
        swd(x, np.zeros((4, 64, 64, 3), np.uint8), seed=0, **FAST)
    with pytest.raises(ValueError, match="one image size"):
        SwdAgainst(np.zeros((4, 64, 64, 3), np.uint8), **FAST)(x, 0)
    with pytest.raises(ValueError, match="directions"):
        SwdAgainst(x, **{**FAST, "repeats": 0})
    with pytest.raises(ValueError, match=r"\(Na, D\)"):
        sliced_wasserstein(np.zeros((5, 3)), np.zeros((5, 4)), directions=2, repeats=1, seed=0)
    with pytest.raises(ValueError, match="directions"):
        sliced_wasserstein(np.zeros((5, 3)), np.zeros((5, 3)), directions=0, repeats=1, seed=0)
