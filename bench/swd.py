"""Laplacian-pyramid sliced Wasserstein distance (SWD) between two image sets; no trained network involved.

Karras et al. 2018, "Progressive Growing of GANs", Sec. 5 and App. D (https://arxiv.org/abs/1710.10196). Reference
code: https://github.com/tkarras/progressive_growing_of_gans/blob/1c5876cb93cd76f711090b0b3c4cc82250fbe7b8/metrics/sliced_wasserstein.py
(CC BY-NC 4.0). This is an independent implementation of that method, not a copy. No well-kept pip package provides
it (torch-fidelity, torchmetrics, clean-fid and piq have no SWD), hence this module.

Shaped like `bench.metrics` (features -> statistics -> metric), split so that a caller can bootstrap over images:

    laplacian_pyramid   (N, 3, H, W) float32         -> per level (N, 3, H / 2^l, W / 2^l)
    pyramid_descriptors (N, H, W, 3) uint8 images    -> per level (N, per_image, 3 * patch^2) float32, normalised
    sliced_wasserstein  (Na, D), (Nb, D) descriptors -> float
    swd                 two image sets               -> {"swd_l0", ..., "swd_avg"} (x 1e3)
    SwdAgainst(ref)     many image sets, one ref     -> as swd, the reference's side computed once per seed

Bootstrap over images: compute `da, db = pyramid_descriptors(...)` once, then per draw
`idx = rng.integers(0, len(da[l]), len(da[l]))` and `sliced_wasserstein(da[l][idx].reshape(-1, D), ...)`.

Conventions (stated once, here):
- pyramid: Burt-Adelson, as the reference (cv2.pyrDown / pyrUp): 5x5 binomial filter [1 4 6 4 1]^2 / 256, mirror
  borders (reflect without repeating the edge pixel: scipy "mirror" = numpy "reflect"), down = filter then keep
  even pixels, up = zero-insert then filter x 4. Level l < levels - 1 is the band G_l - up(G_{l+1}); the last level is
  the Gaussian G_{levels-1} itself, so the levels collapse back to the image exactly (`collapse_pyramid`). Level 0 is
  the finest. scikit-image's `pyramid_laplacian` does not fit: its bands are G_l - smooth(G_l) at each scale (no
  Gaussian residual, so they do not collapse back to the image) and it smooths and resizes differently.
- level rule: H and W must divide by 2^(levels - 1) and the coarsest level must hold a patch (side >= patch, and >= 2
  for the mirror border). Karras stop at 16 px; at 32 px with 3 levels and 7x7 patches the coarsest level is 8x8, so
  its patches come from only 2x2 positions: allowed, but that level then compares little more than colour layouts.
- patches: top-left corners uniform in [0, side - patch] per level, drawn image by image from numpy's
  `default_rng` seeded by (seed, level): with the same seed and image size, image i gets the same positions in every
  call whatever the set size, so two sets are sampled alike and a set against itself gives exactly 0 (the reference
  draws fresh positions for each set). Descriptors are flattened channel-major (3, patch, patch) as in the reference.
- normalisation, as the reference: per level, each set's descriptors are centred and scaled by the mean and std
  (population, ddof 0) of each colour channel over all its patches and patch pixels, computed from THAT set alone.
  So SWD is blind to a per-channel affine change of a whole set (brightness, contrast), and a bootstrap that resamples
  images of the returned descriptors keeps the full set's statistics (stable: tens of thousands of patches). A channel
  that is constant over a set (std 0) is only centred.
- distance: random directions ~ N(0, I) normalised to unit length, drawn per repeat from `default_rng(seed)`;
  per direction the exact 1-D Wasserstein-1 distance of the projected sets (sorted projections subtracted when
  Na == Nb, as the reference; otherwise the integral of |Q_a - Q_b| over the merged quantile breakpoints, the value
  of `scipy.stats.wasserstein_distance`, so sets of different size need no resampling); averaged over directions
  and repeats.
- scaling: `swd` reports the distance x 1e3, as Karras print it ("SWDx1e3"); `sliced_wasserstein` returns the raw value.

Run the tests: `python -m pytest tests/test_swd.py -q`.
"""

from __future__ import annotations

import numpy as np

SWD_LEVEL, SWD_AVG = "swd_l{}", "swd_avg"  # keys of `swd`: swd_l0 (finest) ... and their mean, all x 1e3
SCALE = 1e3  # Karras report SWD x 10^3
BINOMIAL = np.float32([1, 4, 6, 4, 1]) / 16  # separable: its outer product is the reference's 5x5 filter / 256
_POSITIONS, _LEVEL_SEEDS = 0, 1  # distinct seed streams, so positions and directions never share random numbers


# ---------------------------------------------------------------------------------------------
# Pyramid (channel-first float images, the reference's layout: the filter runs along the last two axes)
# ---------------------------------------------------------------------------------------------


def _blur(x: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """5x5 binomial filter with mirror borders, per channel. x (N, C, h, w) float32, h, w >= 3 -> same shape."""
    h, w = x.shape[-2:]
    k = BINOMIAL * np.float32(gain**0.5)  # gain split over the two passes (up-sampling needs x 4 in total)
    xp = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)), mode="reflect")  # (N, C, h+4, w+4); numpy reflect = mirror
    # separable taps as shifted slices: ~8x faster on 2 cores than torch's conv2d on (N*C, 1, h, w)
    rows = sum(k[i] * xp[..., i : i + h, :] for i in range(5))  # (N, C, h, w+4)
    return sum(k[i] * rows[..., i : i + w] for i in range(5))  # (N, C, h, w)


def pyr_down(x: np.ndarray) -> np.ndarray:
    """Blur, then keep even pixels (cv2.pyrDown). x (N, C, h, w), even h, w >= 4 -> (N, C, h / 2, w / 2)."""
    return _blur(x)[..., ::2, ::2]


def pyr_up(x: np.ndarray) -> np.ndarray:
    """Zero-insert, then blur x 4 (cv2.pyrUp). x (N, C, h, w), h, w >= 2 -> (N, C, 2h, 2w)."""
    n, c, h, w = x.shape
    up = np.zeros((n, c, 2 * h, 2 * w), np.float32)
    up[..., ::2, ::2] = x  # the x 4 gain restores the mean lost to the three zeros of each 2x2 block
    return _blur(up, gain=4.0)


def laplacian_pyramid(x: np.ndarray, levels: int) -> list[np.ndarray]:
    """Laplacian pyramid, finest first: `levels - 1` bands, then the coarsest Gaussian level.

    Args:
        x: images (N, C, H, W) float32 (any range); H, W divisible by 2^(levels - 1), coarsest side >= 2.
        levels: number of levels >= 1 (1 returns [x]).

    Returns:
        [(N, C, H / 2^l, W / 2^l) float32 for l in 0..levels-1]; `collapse_pyramid` inverts it.
    """
    gauss = [np.asarray(x, np.float32)]
    for _ in range(levels - 1):
        gauss.append(pyr_down(gauss[-1]))  # (N, C, H / 2^l, W / 2^l)
    return [g - pyr_up(g_next) for g, g_next in zip(gauss[:-1], gauss[1:], strict=True)] + [gauss[-1]]


def collapse_pyramid(pyramid: list[np.ndarray]) -> np.ndarray:
    """Inverse of `laplacian_pyramid`: up-sample the coarsest level and add the bands. Returns (N, C, H, W)."""
    x = pyramid[-1]
    for band in reversed(pyramid[:-1]):
        x = pyr_up(x) + band
    return x


# ---------------------------------------------------------------------------------------------
# Descriptors: images -> per-level normalised patches
# ---------------------------------------------------------------------------------------------


def _check_seed(seed: int) -> None:
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")


def _check_images(images: np.ndarray, levels: int, patch: int, per_image: int) -> None:
    if not isinstance(images, np.ndarray) or images.dtype != np.uint8 or images.ndim != 4 or images.shape[-1] != 3:
        got = f"{type(images).__name__} {getattr(images, 'dtype', '')} {getattr(images, 'shape', '')}"
        raise ValueError(f"expected uint8 numpy images (N, H, W, 3), got {got}: convert with bench.images first")
    if len(images) == 0:
        raise ValueError("expected at least one image, got an empty set")
    if levels < 1 or patch < 1 or per_image < 1:
        raise ValueError(f"levels, patch and per_image must be >= 1, got {levels}, {patch}, {per_image}")
    _, h, w, _ = images.shape
    step = 2 ** (levels - 1)
    if h % step or w % step:
        raise ValueError(f"{levels} levels need H and W divisible by {step}, got {h}x{w}: crop or use fewer levels")
    if min(h, w) // step < max(patch, 2):
        raise ValueError(
            f"{h}x{w} images have a {h // step}x{w // step} coarsest level with {levels} levels, too small for "
            f"{patch}x{patch} patches (side >= max(patch, 2) needed): use fewer levels or smaller patches"
        )


def patch_positions(n: int, h: int, w: int, *, patch: int, per_image: int, seed: int, level: int) -> np.ndarray:
    """Seeded top-left patch corners of one (h, w) level. Returns (n, per_image, 2) int64 (row, col)."""
    rng = np.random.default_rng([seed, _POSITIONS, level])
    # drawn image by image, (row, col) per patch: image i gets the same corners whatever n is
    return rng.integers(0, [h - patch + 1, w - patch + 1], size=(n, per_image, 2))


def normalise_descriptors(desc: np.ndarray) -> np.ndarray:
    """Per-channel centring and scaling over this whole set (module docstring).

    Args: desc (N, P, 3, p, p) float32 patches. Returns: same shape, float32, each channel with mean 0 and std 1.
    """
    n, per_image, c, p, _ = desc.shape
    flat = desc.reshape(n * per_image, c, p * p)  # (M, 3, p^2)
    mean = flat.sum(axis=(0, 2), dtype=np.float64) / (flat.size // c)  # (3,), float64 sums: M is in the millions
    centred = flat - mean.astype(np.float32)[:, None]
    var = np.square(centred).sum(axis=(0, 2), dtype=np.float64) / (flat.size // c)  # population, as np.std
    std = np.where(var > 0, np.sqrt(var), 1.0)  # a channel constant over the set carries no shape to compare
    return (centred / std.astype(np.float32)[:, None]).reshape(desc.shape)


def pyramid_descriptors(images: np.ndarray, *, levels: int, patch: int, per_image: int, seed: int) -> list[np.ndarray]:
    """Normalised patch descriptors of each Laplacian-pyramid level (conventions in the module docstring).

    Args:
        images: (N, H, W, 3) uint8; H, W divisible by 2^(levels - 1), coarsest side >= max(patch, 2).
        levels: pyramid levels (Karras: down to 16 px; 3 at 32 px here).
        patch: patch side p in pixels (Karras: 7).
        per_image: patches per image and level (Karras: 128).
        seed: >= 0; fixes the patch positions (same seed and image size -> same positions for image i).

    Returns:
        One array per level, finest first: (N, per_image, 3 * patch * patch) float32, channel-major (3, p, p),
        each channel with mean 0 and std 1 over this set. Flatten to (N * per_image, D) for `sliced_wasserstein`.
    """
    _check_images(images, levels, patch, per_image)
    _check_seed(seed)
    offs = np.arange(patch)
    chans = np.arange(images.shape[-1])[:, None, None]  # (3, 1, 1)
    x = images.transpose(0, 3, 1, 2).astype(np.float32)  # (N, 3, H, W) in [0, 255]
    out = []
    for level, band in enumerate(laplacian_pyramid(x, levels)):
        n, c, h, w = band.shape
        pos = patch_positions(n, h, w, patch=patch, per_image=per_image, seed=seed, level=level)  # (N, P, 2)
        rows = pos[..., 0, None, None, None] + offs[:, None]  # (N, P, 1, p, 1)
        cols = pos[..., 1, None, None, None] + offs[None, :]  # (N, P, 1, 1, p)
        desc = band[np.arange(n)[:, None, None, None, None], chans, rows, cols]  # (N, P, 3, p, p): channel-major
        out.append(normalise_descriptors(desc).reshape(n, per_image, c * patch * patch))  # (N, P, 3 p^2)
    return out


# ---------------------------------------------------------------------------------------------
# Distance
# ---------------------------------------------------------------------------------------------


def unit_directions(dim: int, *, directions: int, repeats: int, seed: int) -> np.ndarray:
    """Random unit projection directions. Returns (repeats, directions, dim) float32, each row of length 1."""
    dirs = np.random.default_rng(seed).standard_normal((repeats, directions, dim))
    return (dirs / np.linalg.norm(dirs, axis=-1, keepdims=True)).astype(np.float32)


def _quantile_distance_sum(pa: np.ndarray, pb: np.ndarray) -> float:
    """Sum over rows of the exact 1-D W1 of two sorted sample sets of any sizes. pa (K, Na), pb (K, Nb) sorted.

    W1 = integral over t in (0, 1) of |Q_a(t) - Q_b(t)| for the empirical quantile functions, which are constant
    between the breakpoints i / Na and j / Nb; those depend only on the sizes, so one gather serves every row.
    """
    na, nb = pa.shape[1], pb.shape[1]
    t = np.union1d(np.arange(na + 1) / na, np.arange(nb + 1) / nb)  # (M+1,) breakpoints, 0 ... 1
    mid = (t[:-1] + t[1:]) / 2  # (M,) one point inside each interval
    ia = np.minimum((mid * na).astype(np.int64), na - 1)  # Q_a(mid) = pa[:, floor(mid * Na)]
    ib = np.minimum((mid * nb).astype(np.int64), nb - 1)
    return float((np.abs(pa[:, ia] - pb[:, ib]) * np.diff(t)).sum(dtype=np.float64))  # (K, M) summed


def _sorted_projections(x: np.ndarray, dirs: np.ndarray) -> np.ndarray:
    """Projections of descriptors x (N, D) float32 on dirs (K, D), each row sorted. Returns (K, N) float32."""
    # (K, N) layout: the sort runs along contiguous rows, ~2.5x faster than sorting the columns of (N, K)
    proj = dirs @ x.T  # (K, N)
    proj.sort(axis=1)  # in place: np.sort's fresh copy made this step ~1.5x slower on 2 cores
    return proj


def _w1_sum(pa: np.ndarray, pb: np.ndarray) -> float:
    """Sum over rows of the exact 1-D W1 of sorted projections pa (K, Na), pb (K, Nb); overwrites pa, not pb."""
    if pa.shape[1] == pb.shape[1]:  # the i-th order statistics pair up: the reference's formula
        return float(np.abs(np.subtract(pa, pb, out=pa), out=pa).sum(dtype=np.float64)) / pa.shape[1]
    return _quantile_distance_sum(pa, pb)


def _check_counts(directions: int, repeats: int) -> None:
    if directions < 1 or repeats < 1:
        raise ValueError(f"directions and repeats must be >= 1, got {directions} and {repeats}")


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, *, directions: int, repeats: int, seed: int) -> float:
    """Sliced Wasserstein-1 distance: mean over random unit directions of the 1-D W1 of the projections.

    Args:
        a: descriptors (Na, D), e.g. `pyramid_descriptors(...)[l].reshape(-1, D)`.
        b: descriptors (Nb, D); Nb may differ from Na (exact 1-D W1 through the quantile functions, no resampling).
        directions: directions per repeat (Karras: 128); one (directions, D) x (D, N) matmul per set and repeat.
        repeats: independent draws of directions (Karras: 4).
        seed: >= 0; fixes the directions (`unit_directions`).

    Returns:
        Raw distance >= 0 (not x 1e3). With one direction u = unit_directions(D, ...)[0, 0] it equals
        `scipy.stats.wasserstein_distance(a @ u, b @ u)` (up to float32 projections).
    """
    a = np.asarray(a, np.float32)
    b = np.asarray(b, np.float32)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(len(a), len(b)) == 0:
        raise ValueError(f"expected descriptors (Na, D) and (Nb, D), N >= 1, got {a.shape} and {b.shape}")
    _check_counts(directions, repeats)
    _check_seed(seed)
    dirs = unit_directions(a.shape[1], directions=directions, repeats=repeats, seed=seed)  # (R, K, D)
    total = sum(_w1_sum(_sorted_projections(a, d), _sorted_projections(b, d)) for d in dirs)
    return total / (directions * repeats)


def level_seed(seed: int, level: int) -> int:
    """The directions' seed of pyramid level `level`: independent streams per level via numpy's SeedSequence."""
    return int(np.random.SeedSequence([seed, _LEVEL_SEEDS, level]).generate_state(1)[0])


class SwdAgainst:
    """Karras' pyramid SWD of many image sets against one fixed reference set: `SwdAgainst(ref, ...)(images, seed)`
    equals `swd(images, ref, ..., seed=seed)`, bit for bit.

    The reference side of the distance does not depend on the compared set: its pyramid, its normalised descriptors
    and, per level and repeat, its sorted projections (the sort is most of the work). They are built on the first
    call with a given seed and kept for the next calls with that seed, which then do only the compared set's half
    (`validate_metrics` scores a few hundred sets per dataset this way). One seed is kept at a time: a caller that
    alternates seeds pays `swd`'s price, no more. Memory: levels x repeats x directions x Nb x per_image float32
    (98 MB for 500 images with the default `metrics.swd`; 9.8 GB for 50k), so one comparison goes through `swd`,
    which streams level by level and repeat by repeat instead.

    Args:
        reference: (Nb, H, W, 3) uint8 (conditions of `pyramid_descriptors`); copied, so later changes to the
            caller's array cannot leave the kept side out of date.
        levels, patch, per_image, directions, repeats: as `swd`.
    """

    def __init__(self, reference: np.ndarray, *, levels: int, patch: int, per_image: int, directions: int,
                 repeats: int) -> None:  # fmt: skip
        _check_images(reference, levels, patch, per_image)
        _check_counts(directions, repeats)
        self.reference = reference.copy()
        self.reference.setflags(write=False)
        self.levels, self.patch, self.per_image = levels, patch, per_image
        self.directions, self.repeats = directions, repeats
        self._seed: int | None = None
        self._sides: list[tuple[np.ndarray, list[np.ndarray]]] = []  # per level: (dirs (R, K, D), R x (K, Nb))

    def _reference_side(self, seed: int) -> list[tuple[np.ndarray, list[np.ndarray]]]:
        if seed != self._seed:
            self._sides = []  # drop the previous seed's side before building the next: one in memory at a time
            desc = pyramid_descriptors(self.reference, levels=self.levels, patch=self.patch,
                                       per_image=self.per_image, seed=seed)  # fmt: skip
            for level, d in enumerate(desc):
                flat = d.reshape(-1, d.shape[-1])  # (Nb * per_image, D)
                dirs = unit_directions(flat.shape[1], directions=self.directions, repeats=self.repeats,
                                       seed=level_seed(seed, level))  # fmt: skip
                self._sides.append((dirs, [_sorted_projections(flat, k) for k in dirs]))
            self._seed = seed
        return self._sides

    def __call__(self, images: np.ndarray, seed: int) -> dict[str, float]:
        """SWD of one set against the reference.

        Args:
            images: (Na, H, W, 3) uint8 of the reference's image size H x W (Na may differ from Nb).
            seed: >= 0, as `swd`'s.

        Returns:
            As `swd`: {"swd_l0", ..., "swd_avg"}, x 1e3.
        """
        _check_images(images, self.levels, self.patch, self.per_image)
        _check_seed(seed)
        if images.shape[1:] != self.reference.shape[1:]:
            raise ValueError(
                f"both sets need one image size, got {images.shape[1:]} and {self.reference.shape[1:]}: resize"
            )
        desc = pyramid_descriptors(images, levels=self.levels, patch=self.patch, per_image=self.per_image, seed=seed)
        out = {}
        for level, (d, (dirs, ref_sorted)) in enumerate(zip(desc, self._reference_side(seed), strict=True)):
            flat = d.reshape(-1, d.shape[-1])  # (Na * per_image, D)
            total = sum(_w1_sum(_sorted_projections(flat, k), pb) for k, pb in zip(dirs, ref_sorted, strict=True))
            out[SWD_LEVEL.format(level)] = SCALE * (total / (self.directions * self.repeats))  # as swd rounds it
        out[SWD_AVG] = float(np.mean(list(out.values())))
        return out


def swd(
    a_images: np.ndarray,
    b_images: np.ndarray,
    *,
    levels: int,
    patch: int,
    per_image: int,
    directions: int,
    repeats: int,
    seed: int,
) -> dict[str, float]:
    """Laplacian-pyramid SWD of Karras et al. between two image sets, per level and averaged, x 1e3.

    Args:
        a_images, b_images: (Na, H, W, 3), (Nb, H, W, 3) uint8 of one size (conditions of `pyramid_descriptors`).
        levels, patch, per_image: see `pyramid_descriptors` (one `seed`: both sets use the same positions).
        directions, repeats: see `sliced_wasserstein`; level l draws its directions from a seed derived from
            (seed, l) by numpy's SeedSequence, so the levels get independent directions.
        seed: >= 0.

    Returns:
        {"swd_l0": finest band, ..., "swd_l{levels-1}": coarsest Gaussian level, "swd_avg": their mean}: each the
        raw sliced Wasserstein distance of the normalised descriptors multiplied by 1e3 (Karras' "SWDx1e3");
        >= 0, exactly 0 for a set against itself; lower is closer. Many sets against one reference: `SwdAgainst`.
    """
    for images in (a_images, b_images):
        _check_images(images, levels, patch, per_image)
    if a_images.shape[1:] != b_images.shape[1:]:
        raise ValueError(f"both sets need one image size, got {a_images.shape[1:]} and {b_images.shape[1:]}: resize")
    da = pyramid_descriptors(a_images, levels=levels, patch=patch, per_image=per_image, seed=seed)
    db = pyramid_descriptors(b_images, levels=levels, patch=patch, per_image=per_image, seed=seed)
    out = {}
    for level, (la, lb) in enumerate(zip(da, db, strict=True)):
        dist = sliced_wasserstein(la.reshape(-1, la.shape[-1]), lb.reshape(-1, lb.shape[-1]), directions=directions,
                                  repeats=repeats, seed=level_seed(seed, level))  # fmt: skip
        out[SWD_LEVEL.format(level)] = SCALE * dist
    out[SWD_AVG] = float(np.mean(list(out.values())))
    return out
