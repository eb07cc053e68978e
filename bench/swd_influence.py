"""Per-image influence values of the pyramid SWD, so that `swd[pyramid]` gets a paired bootstrap interval.

Why not resample: a bootstrap draw of the SWD re-projects and re-sorts every patch of every level (about 0.5 s per
draw and item for 500 images on this 2-core machine), so the default run's 300 draws x 24 item-sets would add about
an hour. Instead, the first-order (von Mises) expansion of the distance in the images' weights,

    SWD(resample) ~= SWD + (1 / N) sum_i (c_i - 1) psi_i,      c_i: how often image i is drawn,

turns the bootstrap of the SWD into the bootstrap of the mean of the pseudo-values SWD + psi_i (the infinitesimal
jackknife): `bench.intervals` then treats them like a per-image metric, paired over image indices across items. One
pass costs about two SWD evaluations. No library computes influence values of a sliced Wasserstein distance (POT's
`ot.sliced_wasserstein_distance` returns the distance only), hence this module.

The influence of one point, in 1-D: W1(F_A, F_B) = integral |F_A(t) - F_B(t)| dt. With s(t) = sign(F_A - F_B) and
G(x) = integral_x^inf s(t) dt, moving F_A towards a point mass at x changes W1 at the rate G(x) - E_A[G(X)]; a point y
of B changes it at -(G(y) - E_B[G(Y)]). Both have mean zero over their set. An image's influence psi_i is the mean
over its patches (they are drawn together), then over the directions and repeats, x 1e3, then over the levels (for
`swd_avg`). Where A and B are paired by index (reconstructions and their originals: resampling image i draws both),
psi_i adds the two sides; otherwise B is the fixed reference, as for every Frechet distance of this suite.

Held fixed, as `bench.swd` says a bootstrap over its descriptors does: each set's per-channel normalisation, the
patch positions and the directions. The expansion ignores the kink of |.| where the two CDFs cross, so it is a
first-order interval; tests/test_swd_influence.py checks the influence values against finite differences of
`scipy.stats.wasserstein_distance` with weights and the standard error against the SWD's spread over fresh image
sets (measured: within 10 %, where a brute-force bootstrap over one set's images gave 1.2x the spread).
"""

from __future__ import annotations

import numpy as np

from bench.swd import SCALE, SWD_AVG, SWD_LEVEL, level_seed, pyramid_descriptors, unit_directions

_ROWS = 32  # directions per chunk: about ten (32, Na + Nb) float64 arrays live at once (~80 MB at 500 x 32 patches)


def w1_influence(pa: np.ndarray, pb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Exact 1-D W1 per row and the influence of every point on it (module docstring).

    Args:
        pa: (K, Na) projections of set A (any order); pb: (K, Nb) of set B.

    Returns:
        w1 (K,) float64: each row's 1-D Wasserstein-1 distance (the value of `scipy.stats.wasserstein_distance`);
        infl_a (K, Na), infl_b (K, Nb) float64: each point's influence, in the inputs' order, mean zero per row.
    """
    na = pa.shape[1]
    merged = np.concatenate([pa, pb], axis=1)  # (K, M)
    order = np.argsort(merged, axis=1)  # ties need no care: they sit on gaps of length 0
    values = np.take_along_axis(merged, order, axis=1).astype(np.float64)  # (K, M) sorted
    nb = pb.shape[1]
    # F_A - F_B right of each sorted point but the last, in integer units of 1 / (Na Nb): exactly 0 where the CDFs
    # meet (a float cumsum leaves +-1e-17 there, whose sign would flip that gap's influence)
    steps = np.where(order < na, nb, -na)  # (K, M) int64: each sorted point's jump
    cdf_gap = np.cumsum(steps, axis=1)[:, :-1] / (na * nb)
    gaps = np.diff(values, axis=1)  # (K, M - 1): F_A - F_B is constant on each
    w1 = (np.abs(cdf_gap) * gaps).sum(axis=1)
    tail = np.zeros_like(values)  # G at each sorted point: the signed gaps from it to the end
    tail[:, :-1] = np.cumsum((np.sign(cdf_gap) * gaps)[:, ::-1], axis=1)[:, ::-1]
    g = np.empty_like(tail)
    np.put_along_axis(g, order, tail, axis=1)  # back to the inputs' order
    ga, gb = g[:, :na], g[:, na:]
    return w1, ga - ga.mean(axis=1, keepdims=True), gb.mean(axis=1, keepdims=True) - gb


def sliced_influence(a: np.ndarray, b: np.ndarray, dirs: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """Sliced W1 over the directions `dirs` (R, K, D) and each descriptor's influence on it.

    Args: a (Na, D), b (Nb, D) float32 descriptors. Returns: the mean 1-D W1 over the R * K directions (the value of
    `bench.swd.sliced_wasserstein` with these directions), and (Na,), (Nb,) float64 influences on that mean.
    """
    flat = dirs.reshape(-1, dirs.shape[-1])  # (R * K, D)
    total, infl_a, infl_b = 0.0, np.zeros(len(a)), np.zeros(len(b))
    for start in range(0, len(flat), _ROWS):
        rows = flat[start : start + _ROWS]  # (k, D)
        w1, ia, ib = w1_influence(rows @ a.T, rows @ b.T)  # float32 projections, as bench.swd makes them
        total += float(w1.sum())
        infl_a += ia.sum(axis=0)
        infl_b += ib.sum(axis=0)
    return total / len(flat), infl_a / len(flat), infl_b / len(flat)


def swd_influence(
    a_images: np.ndarray,
    b_images: np.ndarray,
    *,
    levels: int,
    patch: int,
    per_image: int,
    directions: int,
    repeats: int,
    seed: int,
    paired: bool,
) -> tuple[dict[str, float], np.ndarray]:
    """Pyramid SWD of A against B (as `bench.swd.swd`, up to float rounding) and each image of A's influence on it.

    Args:
        a_images, b_images: (Na, H, W, 3), (Nb, H, W, 3) uint8 (conditions of `bench.swd.pyramid_descriptors`).
        levels, patch, per_image, directions, repeats, seed: as `bench.swd.swd`.
        paired: image i of A and of B are one draw (Na == Nb), e.g. a reconstruction and its original; else B is a
            fixed reference and only A's images carry influence.

    Returns:
        ({"swd_l0", ..., "swd_avg"} x 1e3, psi (Na,) float64): psi_i is image i's influence on swd_avg (x 1e3, mean
        zero), so swd_avg + psi are pseudo-values whose mean is swd_avg and whose bootstrap is the SWD's, linearised.
    """
    if paired and len(a_images) != len(b_images):
        raise ValueError(f"paired sets need one image per index, got {len(a_images)} and {len(b_images)}")
    settings = {"levels": levels, "patch": patch, "per_image": per_image, "seed": seed}
    da, db = pyramid_descriptors(a_images, **settings), pyramid_descriptors(b_images, **settings)
    out, psi = {}, np.zeros(len(a_images))
    for level, (la, lb) in enumerate(zip(da, db, strict=True)):
        dim = la.shape[-1]
        dirs = unit_directions(dim, directions=directions, repeats=repeats, seed=level_seed(seed, level))
        value, ia, ib = sliced_influence(la.reshape(-1, dim), lb.reshape(-1, dim), dirs)
        out[SWD_LEVEL.format(level)] = SCALE * value
        per_image_a = ia.reshape(len(a_images), per_image).mean(axis=1)  # (Na,): an image's patches move together
        if paired:
            per_image_a = per_image_a + ib.reshape(len(b_images), per_image).mean(axis=1)
        psi += SCALE * per_image_a / levels
    out[SWD_AVG] = float(np.mean(list(out.values())))
    return out, psi
