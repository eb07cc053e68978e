"""Tests of the image disturbance battery (`bench/disturbances.py`).

Every disturbance: identity at level 0, deterministic, seed-dependent where random, never touches its input;
strength grows with level where that is a property; blur against scipy as the independent reference; the
set-level ones (contamination, repeat, fewer_classes) checked by tracing each output image to its source.

Run: `.venv/bin/python -m pytest -q tests/test_disturbances.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter

from bench.disturbances import BLOCK, DISTURBANCES, disturb, kept_classes, names

N, SIDE = 16, 32
LEVELS = (0.25, 0.5, 0.75, 1.0)
DETERMINISTIC = {"gaussian_blur"}  # no randomness at all
GROWING = ("gaussian_noise", "gaussian_blur", "black_rectangles", "salt_pepper", "block_seams", "swirl")


def random_images(n: int = N, side: int = SIDE, seed: int = 0) -> np.ndarray:
    """(n, side, side, 3) uint8 noise: every image and every 8x8 block distinct."""
    return np.random.default_rng(seed).integers(0, 256, size=(n, side, side, 3), dtype=np.uint8)


def smooth_images(n: int = 2, side: int = SIDE) -> np.ndarray:
    """(n, side, side, 3) uint8 smooth gradients and a sinusoid, away from 0 and 255."""
    y, x = np.mgrid[0:side, 0:side] / side
    channels = [40 + 170 * x, 40 + 170 * y, 128 + 80 * np.sin(2 * np.pi * (x + 2 * y))]
    image = np.rint(np.stack(channels, axis=-1)).astype(np.uint8)
    return np.stack([image, image[::-1]][:n] * (n // 2 + 1))[:n]


LABELS = np.arange(N) % 4  # 4 classes, 4 images each
OTHER = random_images(n=N + 4, seed=99)


def run(name: str, images: np.ndarray, level: float, seed: int = 0) -> np.ndarray:
    """`disturb` with whichever extra input `name` needs."""
    other = OTHER if images.shape[1] == SIDE else random_images(n=N + 4, side=images.shape[1], seed=99)
    extra = {"labels": LABELS[: len(images)], "other": other}
    return disturb(name, images, level, seed, **{k: extra[k] for k in DISTURBANCES[name].needs})


def source_index(out: np.ndarray, pool: np.ndarray) -> np.ndarray:
    """(N,) index into `pool` of the image each output image equals; -1 where it equals none."""
    lookup = {image.tobytes(): i for i, image in enumerate(pool)}
    return np.array([lookup.get(image.tobytes(), -1) for image in out])


def test_registry_is_complete_and_described() -> None:
    assert names() == sorted(DISTURBANCES) and len(names()) == 10
    for name, spec in DISTURBANCES.items():
        assert spec.description, name
        assert set(spec.needs) <= {"labels", "other"}, name
    assert DISTURBANCES["contamination"].needs == ("other",)
    assert DISTURBANCES["fewer_classes"].needs == ("labels",)


@pytest.mark.parametrize("name", names())
def test_level_zero_is_an_exact_copy(name: str) -> None:
    images = random_images()
    out = run(name, images, 0.0)
    assert np.array_equal(out, images) and not np.shares_memory(out, images)


@pytest.mark.parametrize("side", [SIDE, 64])
@pytest.mark.parametrize("name", names())
def test_deterministic_and_input_untouched(name: str, side: int) -> None:
    images = random_images(side=side)
    before = images.copy()
    out = run(name, images, 0.7, seed=3)
    assert out.shape == images.shape and out.dtype == np.uint8
    assert np.array_equal(images, before), "the input was modified"
    assert not np.shares_memory(out, images)
    assert np.array_equal(out, run(name, images, 0.7, seed=3))
    assert not np.array_equal(out, images), "level 0.7 changed nothing"


@pytest.mark.parametrize("name", sorted(set(names()) - DETERMINISTIC))
def test_seed_changes_the_result(name: str) -> None:
    images = random_images()
    assert not np.array_equal(run(name, images, 0.7, seed=0), run(name, images, 0.7, seed=1))


@pytest.mark.parametrize("name", GROWING)
def test_change_grows_with_level(name: str) -> None:
    images = random_images()
    change = [np.abs(run(name, images, lv).astype(float) - images).mean() for lv in LEVELS]
    assert all(a < b for a, b in zip(change, change[1:], strict=False)), change


def test_blur_matches_scipy_per_channel() -> None:
    images = smooth_images()
    out = run("gaussian_blur", images, 0.6)
    for i in range(len(images)):
        for c in range(3):
            reference = gaussian_filter(images[i, :, :, c].astype(np.float64), sigma=0.6 * 2.0)
            assert np.array_equal(out[i, :, :, c], np.clip(np.rint(reference), 0, 255).astype(np.uint8))


def test_noise_std_follows_the_mapping() -> None:
    grey = np.full((N, SIDE, SIDE, 3), 128, dtype=np.uint8)
    delta = run("gaussian_noise", grey, 0.2).astype(float) - 128  # s = 12.75: no clipping at 128 +- 10 s
    assert delta.mean() == pytest.approx(0, abs=0.2)
    assert delta.std() == pytest.approx(0.2 * 0.25 * 255, rel=0.02)


def test_seams_are_constant_per_block_and_channel() -> None:
    grey = np.full((N, SIDE, SIDE, 3), 128, dtype=np.uint8)
    delta = run("block_seams", grey, 0.25).astype(float) - 128  # s = 10: no clipping
    g = SIDE // BLOCK
    blocks = delta.reshape(N, g, BLOCK, g, BLOCK, 3)
    assert np.all(blocks.max(axis=(2, 4)) == blocks.min(axis=(2, 4)))
    assert blocks[:, :, 0, :, 0].std() == pytest.approx(0.25 * 40, rel=0.1)


def test_rectangles_only_blacken() -> None:
    images = np.maximum(random_images(), 1)  # no pre-existing zeros
    out = run("black_rectangles", images, 1.0)
    changed = np.any(out != images, axis=-1)
    assert np.all(out[changed] == 0) and np.all(changed.any(axis=(1, 2)))
    side = SIDE // 4
    assert np.all(changed.sum(axis=(1, 2)) >= side * side)  # at least one whole square per image
    assert np.all(changed.sum(axis=(1, 2)) <= 5 * side * side)


def test_salt_pepper_hits_the_mapped_fraction_with_black_or_white() -> None:
    images = np.clip(random_images(), 1, 254)
    out = run("salt_pepper", images, 1.0)
    hit = np.any(out != images, axis=-1)
    assert set(np.unique(out[hit])) <= {0, 255}
    assert np.all(out[hit].min(axis=-1) == out[hit].max(axis=-1)), "all channels of a hit pixel alike"
    assert hit.mean() == pytest.approx(0.2, abs=0.02)


def test_swirl_moves_the_centre_more_than_the_corners() -> None:
    images = smooth_images()
    out = run("swirl", images, 1.0)
    change = np.abs(out.astype(float) - images).mean(axis=(0, 3))  # (H, W)
    # skimage's rotation decays as exp(-5 rho / (H ln 2)): 1.6 rad 4 px from the centre, ~0.02 rad at a corner
    corners = change[[0, 0, 1, 1, -1, -1, -2, -2], [0, -1, 1, -2, 0, -1, 1, -2]]
    assert change[12:20, 12:20].mean() > 2 * corners.mean()


@pytest.mark.parametrize("level", [0.3, 0.5, 1.0])
def test_block_shuffle_cycles_whole_blocks(level: float) -> None:
    images = random_images()
    out = run("block_shuffle", images, level)
    g = SIDE // BLOCK
    before = images.reshape(N, g, BLOCK, g, BLOCK, 3).transpose(0, 1, 3, 2, 4, 5).reshape(N, g * g, -1)
    after = out.reshape(N, g, BLOCK, g, BLOCK, 3).transpose(0, 1, 3, 2, 4, 5).reshape(N, g * g, -1)
    moved = np.any(before != after, axis=-1).sum(axis=1)
    assert np.all(moved == max(2, round(level * g * g)))
    for i in range(N):  # a permutation: the same blocks, rearranged
        assert sorted(map(bytes, before[i])) == sorted(map(bytes, after[i]))


def test_contamination_replaces_the_mapped_share_by_distinct_other_images() -> None:
    images = random_images()
    full = run("contamination", images, 1.0)
    sources = source_index(full, OTHER)
    assert np.all(sources >= 0) and len(set(sources)) == N
    half = run("contamination", images, 0.5)
    from_other, kept = source_index(half, OTHER) >= 0, source_index(half, images)
    assert from_other.sum() == N // 2 and np.all(kept[~from_other] == np.flatnonzero(~from_other))


def test_repeat_loses_distinct_images_with_level() -> None:
    images = random_images()
    distinct = []
    for level in (0.0, *LEVELS):
        sources = source_index(run("repeat", images, level), images)
        assert np.all(sources >= 0), "every output image is a copy of an input image"
        distinct.append(len(set(sources)))
    assert distinct == [N - min(N - 1, round(lv * N)) for lv in (0.0, *LEVELS)]


def test_fewer_classes_drops_the_last_classes_first_and_more_at_every_level() -> None:
    images = random_images()
    outside_first, previous = int((LABELS != 0).sum()), -1  # 12 images outside class 0
    for level in (0.0, *LEVELS):
        sources = source_index(run("fewer_classes", images, level), images)
        assert np.all(sources >= 0)
        kept = set(sources.tolist())  # images still present (possibly repeated)
        dropped = sorted(set(range(N)) - kept)
        assert len(dropped) >= round(level * outside_first) > previous or level == 0.0
        previous = round(level * outside_first)
        # whole classes go last-first: a dropped image's class is >= every partly kept non-first class
        if dropped:
            assert min(LABELS[dropped]) >= max(LABELS[[i for i in kept if LABELS[i] != 0]], default=0)
        assert set(LABELS[sources]) == set(kept_classes(LABELS, level))
    assert set(LABELS[source_index(run("fewer_classes", images, 1.0), images)]) == {0}


def test_bad_input_is_rejected() -> None:
    images = random_images()
    with pytest.raises(ValueError, match="unknown disturbance"):
        disturb("jpeg", images, 0.5, 0)
    for level in (-0.1, 1.1, float("nan")):
        with pytest.raises(ValueError, match="level"):
            disturb("gaussian_noise", images, level, 0)
    for bad in (images.astype(np.float32), images[..., 0], images[:, :, :24], images[:, :28, :28], images[:0]):
        with pytest.raises(ValueError, match="images"):
            disturb("gaussian_noise", bad, 0.5, 0)
    with pytest.raises(ValueError, match="needs labels"):
        disturb("fewer_classes", images, 0.5, 0)
    with pytest.raises(ValueError, match="labels must be"):
        disturb("fewer_classes", images, 0.5, 0, labels=LABELS[:-1])
    with pytest.raises(ValueError, match="needs other"):
        disturb("contamination", images, 0.5, 0)
    with pytest.raises(ValueError, match="other"):
        disturb("contamination", images, 0.5, 0, other=random_images(side=64))
    with pytest.raises(ValueError, match="has only"):
        disturb("contamination", images, 1.0, 0, other=OTHER[:4])


def test_swirl_only_moves_pixels_and_never_blends_them() -> None:
    # Resampling between pixels would blur, a second disturbance inside the swirl; every output colour must be
    # one of its own input image's colours.
    images = random_images(n=4)
    for level in LEVELS:
        out = run("swirl", images, level)
        for src, dst in zip(images, out, strict=True):
            palette = {bytes(p) for p in src.reshape(-1, 3)}
            assert all(bytes(p) in palette for p in dst.reshape(-1, 3))
        assert np.any(out != images)
