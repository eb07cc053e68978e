"""Image-level disturbances for validating distribution metrics (FD and the like).

A metric that is fit for ranking generators must grow as a set of images is disturbed more strongly.
Heusel et al. 2017 (the FID paper, Fig. 1 and App. A.1, https://arxiv.org/abs/1706.08500v6) showed this
for Gaussian noise, Gaussian blur, implanted black rectangles, swirl, salt-and-pepper noise and
contamination by another dataset. This module holds those, plus the artefacts this suite's
autoencoders produce (8-px patch seams and shuffled patches of a ViT autoencoder) and two losses of
diversity (repeated images, dropped classes) that per-image quality measures cannot see.

Use: `disturb(name, images, level, seed, labels=..., other=...)`; `names()` lists the battery and
`DISTURBANCES[name]` tells what each does and which extra inputs it needs. Pure functions, no I/O.

Conventions:
- Images are uint8 (N, H, W, 3) in [0, 255], square, H divisible by `BLOCK` (8).
- `level` in [0, 1]: 0 returns an exact copy, 1 is the strongest; each mapping is in `DISTURBANCES`
  and in the constants below. At level 1 the images stay recognisable, except for `contamination`
  (other images by design) and `block_shuffle` (all blocks move, the layout is gone); `repeat` and
  `fewer_classes` keep every image intact and act on the set.
- Deterministic given (name, images, level, seed, labels, other); the input is never modified.
- Common random numbers: for a given seed the same draws are scaled by the level (noise, seams) or
  thresholded by it (rectangles, salt-and-pepper, contamination), so a stronger level disturbs a
  superset of what a weaker one does and curves of a metric over level are smooth, not jagged.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter
from skimage.transform import swirl

BLOCK = 8  # patch size of the suite's ViT autoencoder (vmae); seams and shuffles act on this grid
NOISE_MAX_STD = 0.25 * 255  # grey levels; Heusel's strongest noise leaves the image recognisable
BLUR_MAX_SIGMA = 2.0  # px
RECT_MAX_COUNT = 5  # rectangles per image at level 1
RECT_SIDE_FRACTION = 0.25  # rectangle side / image side
SWIRL_MAX_STRENGTH = 4.0  # rad of rotation at the swirl centre
SWIRL_CENTRE_JITTER = 0.125  # centre drawn within +-jitter * H of the image centre
SALT_PEPPER_MAX_FRACTION = 0.2  # share of pixels hit at level 1
SEAM_MAX_STD = 40.0  # grey levels, per block and channel


@dataclass(frozen=True)
class Disturbance:
    """One entry of the battery.

    Attributes:
        apply: `(images, level, rng, **needed) -> images`, called only with 0 < level <= 1 on validated input.
        description: one line: what it does and how level maps to strength.
        needs: extra keyword inputs of `disturb` it requires, among ("labels", "other").
    """

    apply: Callable[..., np.ndarray]
    description: str
    needs: tuple[str, ...] = ()


def _to_uint8(x: np.ndarray) -> np.ndarray:
    """Round half to even and clip a float image array back to uint8."""
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def _gaussian_noise(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    noise = rng.standard_normal(images.shape, dtype=np.float32)  # (N, H, W, 3)
    return _to_uint8(images + noise * np.float32(level * NOISE_MAX_STD))


def _gaussian_blur(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    sigma = level * BLUR_MAX_SIGMA
    # Per image in float64: exactly scipy's 2-D filter per channel (sigma 0 on the channel axis skips it),
    # without a float64 copy of a whole 256-px set in memory.
    out = np.empty_like(images)
    for i, image in enumerate(images):
        out[i] = _to_uint8(gaussian_filter(image.astype(np.float64), sigma=(sigma, sigma, 0.0)))
    return out


def _black_rectangles(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    n, h, w, _ = images.shape
    side = max(1, round(RECT_SIDE_FRACTION * h))
    # Draw all RECT_MAX_COUNT positions whatever the level and use the first `count`: nested across levels.
    top = rng.integers(0, h - side + 1, size=(n, RECT_MAX_COUNT))  # (N, K)
    left = rng.integers(0, w - side + 1, size=(n, RECT_MAX_COUNT))  # (N, K)
    count = math.ceil(level * RECT_MAX_COUNT)  # ceil: every level > 0 implants at least one
    rows, cols = np.arange(h), np.arange(w)
    mask = np.zeros((n, h, w), dtype=bool)
    for k in range(count):
        in_rows = (rows >= top[:, k, None]) & (rows < top[:, k, None] + side)  # (N, H)
        in_cols = (cols >= left[:, k, None]) & (cols < left[:, k, None] + side)  # (N, W)
        mask |= in_rows[:, :, None] & in_cols[:, None, :]  # (N, H, W)
    out = images.copy()
    out[mask] = 0
    return out


def _swirl(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    n, h, w, _ = images.shape
    centres = np.array([w, h]) / 2 + rng.uniform(-1, 1, size=(n, 2)) * SWIRL_CENTRE_JITTER * h  # (N, 2) (col, row)
    out = np.empty_like(images)
    for i, image in enumerate(images):
        # radius = H: skimage decays the rotation as exp(-rho / (radius * ln2 / 5)), so the swirl is local.
        # order 0 (nearest): every output pixel is an input pixel, moved. Bilinear resampling also blurs wherever
        # the warp lands between pixels, by an amount that rises and falls with the strength: at 32 px that blur
        # dominated the judges' response (a 0.5-px bilinear shift alone gave shapes fd[judge] 3.0; the strongest
        # bilinear swirl 0.8, *below* its weakest, 1.4; nearest swirl grows 0.46 -> 0.96), so the swirl tested
        # sub-pixel blur, already tested by gaussian_blur, rather than geometry.
        strength = level * SWIRL_MAX_STRENGTH
        swirled = swirl(image, center=centres[i], strength=strength, radius=h, order=0, preserve_range=True)
        out[i] = _to_uint8(swirled)  # swirl returns float64 in the input's range
    return out


def _salt_pepper(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    n, h, w, _ = images.shape
    hit = rng.random((n, h, w)) < level * SALT_PEPPER_MAX_FRACTION  # (N, H, W), nested across levels
    salt = rng.random((n, h, w)) < 0.5  # (N, H, W): white, else black
    out = images.copy()
    out[hit] = np.where(salt[hit], 255, 0).astype(np.uint8)[:, None]  # whole pixel, all channels
    return out


def _contamination(images: np.ndarray, level: float, rng: np.random.Generator, *, other: np.ndarray) -> np.ndarray:
    count = round(level * len(images))
    if count > len(other):
        raise ValueError(f"contamination at level {level} replaces {count} images but `other` has only {len(other)}")
    targets = rng.permutation(len(images))[:count]  # prefixes of one permutation: nested across levels
    sources = rng.permutation(len(other))[:count]  # without replacement
    out = images.copy()
    out[targets] = other[sources]
    return out


def _blocks(images: np.ndarray) -> np.ndarray:
    """(N, H, W, 3) -> (N, H/B, W/B, B, B, 3) view of the BLOCK x BLOCK patches."""
    n, h, w, c = images.shape
    return images.reshape(n, h // BLOCK, BLOCK, w // BLOCK, BLOCK, c).transpose(0, 1, 3, 2, 4, 5)


def _unblocks(blocks: np.ndarray) -> np.ndarray:
    """Inverse of `_blocks`: (N, h, w, B, B, 3) -> (N, H, W, 3)."""
    n, gh, gw, b, _, c = blocks.shape
    return blocks.transpose(0, 1, 3, 2, 4, 5).reshape(n, gh * b, gw * b, c)


def _block_seams(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    n, h, w, c = images.shape
    offsets = rng.standard_normal((n, h // BLOCK, w // BLOCK, 1, 1, c), dtype=np.float32)  # (N, h, w, 1, 1, 3)
    shifted = _blocks(images) + offsets * np.float32(level * SEAM_MAX_STD)  # (N, h, w, B, B, 3)
    return _to_uint8(_unblocks(shifted))


def _block_shuffle(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    n, h, w, c = images.shape
    blocks = _blocks(images).reshape(n, -1, BLOCK, BLOCK, c)  # (N, P, B, B, 3), P = h * w blocks
    p = blocks.shape[1]
    # Moving one block alone is impossible, so any level > 0 moves at least two.
    count = min(p, max(2, round(level * p)))
    order = np.argsort(rng.random((n, p)), axis=1)  # (N, P): a random order of each image's blocks
    chosen = order[:, :count]  # (N, k)
    # Cycle the chosen blocks one step along the random order: a derangement, so every chosen block moves.
    source = np.tile(np.arange(p), (n, 1))  # (N, P)
    source[np.arange(n)[:, None], chosen] = np.roll(chosen, -1, axis=1)
    shuffled = np.take_along_axis(blocks, source[:, :, None, None, None], axis=1)  # (N, P, B, B, 3)
    return _unblocks(shuffled.reshape(n, h // BLOCK, w // BLOCK, BLOCK, BLOCK, c))


def _repeat(images: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    n = len(images)
    count = min(n - 1, round(level * n))  # keep at least one image to copy from
    order = rng.permutation(n)
    replaced, kept = order[:count], order[count:]
    out = images.copy()
    out[replaced] = images[kept[rng.integers(0, len(kept), size=count)]]
    return out


def dropped_images(labels: np.ndarray, level: float, rng: np.random.Generator) -> np.ndarray:
    """Indices `fewer_classes` drops: the last classes first, whole classes then part of the next.

    With K sorted classes, the images outside the first class are ordered by class, last class first (in a seeded
    order within each class), and the first round(level * M) of them are dropped, M their number. Level 1 leaves
    the first class alone; every level step drops more. (Dropping ceil(level * K) whole classes gives only K distinct
    sets, fewer than the battery's levels for faces' K = 5 hair colours: two levels were the same set.)

    Returns:
        (m,) int64 indices into labels.
    """
    classes = np.unique(labels)
    rank = np.searchsorted(classes, labels)  # (N,) 0 = first class
    others = np.flatnonzero(rank > 0)
    order = others[np.lexsort((rng.permutation(len(others)), -rank[others]))]  # last class first, seeded within
    return order[: round(level * len(others))]


def kept_classes(labels: np.ndarray, level: float, seed: int = 0) -> np.ndarray:
    """The classes left with at least one image after `fewer_classes` at `level` (sorted ids)."""
    drop = dropped_images(labels, level, np.random.default_rng(seed))
    keep = np.ones(len(labels), bool)
    keep[drop] = False
    return np.unique(labels[keep])


def _fewer_classes(images: np.ndarray, level: float, rng: np.random.Generator, *, labels: np.ndarray) -> np.ndarray:
    dropped = dropped_images(labels, level, rng)
    kept = np.setdiff1d(np.arange(len(images)), dropped)
    out = images.copy()
    # Kept images stay where they are; the dropped slots are refilled from them, with replacement.
    out[dropped] = images[rng.choice(kept, size=len(dropped), replace=True)]
    return out


DISTURBANCES: dict[str, Disturbance] = {
    "gaussian_noise": Disturbance(_gaussian_noise, "add N(0, s^2) per value, s = level * 0.25 * 255, round, clip"),
    "gaussian_blur": Disturbance(_gaussian_blur, "Gaussian blur per channel, sigma = level * 2 px (scipy, reflect)"),
    "black_rectangles": Disturbance(
        _black_rectangles, "ceil(level * 5) black squares of side H/4 per image at seeded positions"
    ),
    "swirl": Disturbance(
        _swirl,
        "skimage swirl (nearest pixel, no resampling blur), strength = level * 4, radius H, centre seeded "
        "within H/8 of the centre",
    ),
    "salt_pepper": Disturbance(
        _salt_pepper, "each pixel with probability level * 0.2 set to black or white (seeded, 50/50)"
    ),
    "contamination": Disturbance(
        _contamination, "round(level * N) seeded images replaced by distinct seeded images of `other`", ("other",)
    ),
    "block_seams": Disturbance(
        _block_seams, "per 8x8 block and channel add an offset ~ N(0, (level * 40)^2): ViT patch seams"
    ),
    "block_shuffle": Disturbance(
        _block_shuffle, "max(2, round(level * P)) of each image's P 8x8 blocks cycled among themselves"
    ),
    "repeat": Disturbance(_repeat, "min(N - 1, round(level * N)) images replaced by seeded copies of the kept ones"),
    "fewer_classes": Disturbance(
        _fewer_classes,
        "drop round(level * M) images outside the first class, last classes first; refill from the rest",
        ("labels",),
    ),
}


def names() -> list[str]:
    """The disturbance names, sorted."""
    return sorted(DISTURBANCES)


def _check_images(images: np.ndarray, what: str) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8:
        dtype = getattr(images, "dtype", None)
        raise ValueError(
            f"{what} must be a uint8 numpy array in [0, 255], got {type(images).__name__} of dtype {dtype}; "
            "convert with np.clip(np.rint(x), 0, 255).astype(np.uint8)"
        )
    if images.ndim != 4 or images.shape[-1] != 3 or len(images) == 0:
        raise ValueError(f"{what} must have shape (N, H, W, 3) with N >= 1, got {images.shape}")
    h, w = images.shape[1:3]
    if h != w or h % BLOCK:
        raise ValueError(f"{what} must be square with a side divisible by {BLOCK}, got {h}x{w}")


def _check_inputs(
    name: str, images: np.ndarray, labels: np.ndarray | None, other: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Validate the extra inputs `name` needs and return them as keyword arguments for its `apply`."""
    given = {"labels": labels, "other": other}
    needed = DISTURBANCES[name].needs
    missing = [k for k in needed if given[k] is None]
    if missing:
        raise ValueError(f"disturbance {name!r} needs {', '.join(missing)}: pass it as a keyword argument")
    if "labels" in needed:
        labels = np.asarray(labels)
        if labels.shape != (len(images),) or not np.issubdtype(labels.dtype, np.integer):
            raise ValueError(f"labels must be integers of shape ({len(images)},), got {labels.dtype} {labels.shape}")
        given["labels"] = labels
    if "other" in needed:
        _check_images(other, "other")
        if other.shape[1:] != images.shape[1:]:
            raise ValueError(f"other images must be {images.shape[1:]} like the images, got {other.shape[1:]}")
    return {k: given[k] for k in needed}


def disturb(
    name: str,
    images: np.ndarray,
    level: float,
    seed: int,
    *,
    labels: np.ndarray | None = None,
    other: np.ndarray | None = None,
) -> np.ndarray:
    """Disturb a set of images at a given strength.

    Args:
        name: one of `names()`.
        images: (N, H, W, 3) uint8 in [0, 255]; square, H divisible by 8.
        level: strength in [0, 1]; 0 returns an exact copy, 1 the strongest (see `DISTURBANCES`).
        seed: seeds a fresh `np.random.default_rng`, so the result depends on nothing else.
        labels: (N,) integer class labels; needed by "fewer_classes".
        other: (M, H, W, 3) uint8 images of another dataset, M >= round(level * N); needed by "contamination".

    Returns:
        (N, H, W, 3) uint8, a new array; `images` is left unchanged.

    Raises:
        ValueError: unknown name, level outside [0, 1], malformed images, or a needed input missing or malformed.
    """
    if name not in DISTURBANCES:
        raise ValueError(f"unknown disturbance {name!r}; choose one of {names()}")
    if not 0.0 <= level <= 1.0:  # also rejects NaN
        raise ValueError(f"level must be in [0, 1], got {level}")
    _check_images(images, "images")
    needed = _check_inputs(name, images, labels, other)
    if level == 0:
        return images.copy()
    out = DISTURBANCES[name].apply(images, float(level), np.random.default_rng(seed), **needed)
    assert out.shape == images.shape and out.dtype == np.uint8, (name, out.shape, out.dtype)
    return out
