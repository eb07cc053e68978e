"""Uncertainty of every benchmark number: paired image bootstrap, judge-ensemble spread, and the three-way verdict.

Setting: several autoencoders (items) are evaluated on the same N eval images, so image i's reconstruction by every
item is paired; an ensemble of M evaluation networks (judges, same recipe, different seeds) each turn images into
features, and distribution metrics (Frechet distance against fixed reference statistics) are computed per judge.
Conventions (stated once, here):
- Image uncertainty: bootstrap over image *indices*, `scipy.stats.bootstrap` on one sample `np.arange(n)`. Every
  quantity a statistic computes from one resampled index array is paired, so a difference between items is tested
  on the same resampled images (its interval is much narrower than two independent intervals suggest).
- Judge uncertainty: the metric is defined as the expectation over judge seeds; the M judges are a random sample
  of it, so their spread gives a t interval for the ensemble mean. `combine` adds it to the image interval.
- Intervals are two-sided at `level` (e.g. 0.95); seeds are explicit, so every interval is reproducible.
- Verdict of a claim "a beats b" on a deciding difference d = a - b with a claimed sign: `HOLDS` when the whole
  interval has that sign, `FAILS` when the whole interval has the opposite sign, `INCONCLUSIVE` when it contains 0
  (a bound exactly at 0 counts as containing it), `NOT_MEASURABLE` when the metric failed validation.

Run the tests: `python -m pytest tests/test_uncertainty.py -q`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Protocol

import numpy as np
import scipy.linalg
import scipy.stats
from threadpoolctl import threadpool_limits

HOLDS, INCONCLUSIVE, FAILS, NOT_MEASURABLE = "holds", "inconclusive", "fails", "not measurable"  # claim verdicts
VERDICTS = (HOLDS, INCONCLUSIVE, FAILS, NOT_MEASURABLE)  # in the order tallies print them
POSITIVE, NEGATIVE = "positive", "negative"  # claimed sign of a deciding difference
METHODS = ("percentile", "basic", "BCa")  # scipy.stats.bootstrap's interval methods
FD_METHOD = "percentile"  # default for Frechet statistics: BCa's jackknife would cost n more FD evaluations
# Resamples are drawn and evaluated in batches of at most this many array elements (float64: 128 MiB), so n = 50k
# images times 1000 resamples never materialises at once. Batching is deterministic for given inputs.
_BATCH_ELEMENTS = 2**24


def one_blas_thread() -> threadpool_limits:
    """Context manager: numpy's and scipy's BLAS/LAPACK (OpenBLAS) on one thread inside the `with` block.

    A bootstrap evaluates its statistic thousands of times on small matrices (D ~ 100 eigensolves, 500 x 500
    Gram products), where OpenBLAS's second thread costs more in hand-offs than it computes: one `FrechetAgainst`
    call at D = 96, N = 500 took 0.83 ms on one thread and 14 ms on two (17x), on the idle 2-core machine; the
    intervals stage's reconstruction part 15.9 s against 254.5 s at 30 resamples (`benchmarks/blas_threads.py`).
    torch's own threads (`runtime.cpu_threads`) are a separate pool and stay as they are.
    """
    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------------------------
# Image bootstrap
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Interval:
    """A point estimate with its bootstrap confidence interval."""

    point: float  # the statistic on all images
    low: float  # may be nan when BCa meets a degenerate bootstrap distribution (scipy warns)
    high: float
    level: float  # two-sided confidence level in (0, 1)
    method: str  # one of METHODS
    n_resamples: int
    se: float | None = None  # bootstrap standard error (sd of the bootstrap distribution)

    @property
    def halfwidth(self) -> float:
        return (self.high - self.low) / 2


def _check_settings(n: int, n_resamples: int, level: float, method: str) -> None:
    if n < 2:
        raise ValueError(f"the bootstrap needs n >= 2 images, got {n}")
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), e.g. 0.95, got {level}")
    if method not in METHODS:
        raise ValueError(f"unknown bootstrap method {method!r}: use one of {METHODS}")


def _intervals(point: np.ndarray, res, level: float, method: str, n_resamples: int) -> Interval | tuple[Interval, ...]:
    """Split a (possibly vector) `scipy.stats.bootstrap` result into one Interval per component of `point`."""
    ci = res.confidence_interval
    parts = (np.atleast_1d(point), np.atleast_1d(ci.low), np.atleast_1d(ci.high), np.atleast_1d(res.standard_error))
    out = tuple(
        Interval(float(p), float(lo), float(hi), level, method, n_resamples, float(se))
        for p, lo, hi, se in zip(*parts, strict=True)
    )
    return out[0] if np.ndim(point) == 0 else out


def paired_bootstrap(
    statistic: Callable[[np.ndarray], float | np.ndarray],
    n: int,
    *,
    n_resamples: int,
    level: float,
    seed: int,
    method: str = "BCa",
) -> Interval | tuple[Interval, ...]:
    """Bootstrap interval of any statistic of the eval images, resampling image indices once for all quantities.

    The statistic receives resampled indices and computes everything it reports from them, so the components of a
    vector statistic are paired, e.g. with `fd = FrechetAgainst(mu_r, sigma_r)`:
    `lambda idx: np.array([fd(fa[idx]), fd(fb[idx]), fd(fa[idx]) - fd(fb[idx])])` gives item a, item b and their
    difference on the same resampled images. Method trade-off:
    - "BCa" (default): second-order accurate, corrects the bootstrap's median bias and skew; costs n extra
      evaluations of the statistic (the jackknife for the acceleration). Fine for cheap statistics.
    - "percentile" (`FD_METHOD`): n_resamples evaluations only; with FD the jackknife would cost about n ms more.
    One item's FD is biased upward under resampling (duplicated images add noise to the covariance and the sqrt
    term is concave): at D = 64, n = 500 its percentile interval lay wholly above the point estimate (3.4 vs
    [5.4, 6.2]) and BCa was undefined (nan: every resample exceeds the point). Report one item's FD with its `se`,
    not its interval; the shift cancels in a paired difference of items (there percentile and BCa agree closely),
    which is what verdicts use.

    Args:
        statistic: indices (n,) int64 (a resample of 0..n-1) -> float or (k,) array; deterministic.
        n: number of eval images (>= 2).
        n_resamples: bootstrap resamples (e.g. 1000; more for tails of BCa).
        level: two-sided confidence level in (0, 1).
        seed: seed of the resampling (numpy Generator).
        method: "BCa", "percentile" or "basic".

    Returns:
        One Interval for a scalar statistic, a k-tuple of Intervals (same order) for a (k,) statistic.
    """
    _check_settings(n, n_resamples, level, method)
    idx = np.arange(n)
    with one_blas_thread():
        res = scipy.stats.bootstrap(
            (idx,),
            statistic,
            n_resamples=n_resamples,
            batch=max(1, _BATCH_ELEMENTS // n),
            vectorized=False,  # arbitrary statistics (FD) take one index array at a time
            confidence_level=level,
            method=method,
            rng=np.random.default_rng(seed),
        )
        point = np.asarray(statistic(idx), dtype=np.float64)
    return _intervals(point, res, level, method, n_resamples)


def mean_interval(
    values: np.ndarray, *, n_resamples: int, level: float, seed: int, method: str = "BCa"
) -> Interval | tuple[Interval, ...]:
    """Vectorised fast path of `paired_bootstrap` for means of per-image values (PSNR, SSIM, LPIPS, ...).

    For a paired difference between items pass the per-image differences. Rows of a (k, n) input share the
    resampled images (paired), and with the same seed the resamples equal those of `paired_bootstrap`.

    Args:
        values: (n,) or (k, n) per-image values, finite (cap or drop PSNR's +inf for identical images first).
        n_resamples, level, seed, method: as `paired_bootstrap`.

    Returns:
        One Interval for (n,) input, a k-tuple of Intervals for (k, n).
    """
    values = np.asarray(values, dtype=np.float64)
    if values.ndim not in (1, 2):
        raise ValueError(f"values must be (n,) or (k, n), got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("values contain inf or nan: drop or cap non-finite per-image values before bootstrapping")
    _check_settings(values.shape[-1], n_resamples, level, method)
    res = scipy.stats.bootstrap(
        (values,),
        np.mean,
        n_resamples=n_resamples,
        batch=max(1, _BATCH_ELEMENTS // values.size),
        vectorized=True,
        axis=-1,
        confidence_level=level,
        method=method,
        rng=np.random.default_rng(seed),
    )
    return _intervals(values.mean(axis=-1), res, level, method, n_resamples)


# ---------------------------------------------------------------------------------------------
# Exact Frechet distance against fixed reference statistics, fast enough for bootstrap loops
# ---------------------------------------------------------------------------------------------


class FrechetAgainst:
    """FD of feature sets against one fixed reference (mu_r, sigma_r), with R = sqrt(sigma_r) computed once.

    FD = |mu - mu_r|^2 + tr(S) + tr(S_r) - 2 tr((R S R)^1/2). The trace term equals torch-fidelity's sum of
    sqrt(eigvals(S S_r)) (similar matrices), but R S R is symmetric PSD, so a symmetric eigensolve (or, with fewer
    samples than dimensions, the singular values of the centred features times R) is exact, real and 2-3x cheaper
    than the general eigensolve; single-threaded BLAS: 0.4 ms at D = 64, N = 500.
    """

    def __init__(self, mu_r: np.ndarray, sigma_r: np.ndarray) -> None:
        """Args: mu_r (D,), sigma_r (D, D) symmetric PSD (e.g. `bench.metrics.feature_stats` of the reference)."""
        mu_r, sigma_r = np.asarray(mu_r, dtype=np.float64), np.asarray(sigma_r, dtype=np.float64)
        d = mu_r.shape[0] if mu_r.ndim == 1 else -1
        if d < 1 or sigma_r.shape != (d, d):
            raise ValueError(f"need mu_r (D,) and sigma_r (D, D), got {mu_r.shape} and {sigma_r.shape}")
        sigma_r = (sigma_r + sigma_r.T) / 2  # remove float asymmetry so eigh sees the matrix it assumes
        w, v = scipy.linalg.eigh(sigma_r)  # (D,), (D, D)
        if w.min() < -1e-8 * max(abs(w).max(), 1e-300):
            raise ValueError(f"sigma_r is not positive semi-definite (eigenvalue {w.min():.3g}): pass a covariance")
        self.mu_r = mu_r
        self.root_r = (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T  # (D, D) sqrt(S_r); clipping rounding negatives
        self.trace_r = float(np.trace(sigma_r))

    def from_stats(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        """FD of statistics (mu (D,), sigma (D, D)) against the reference. Returns: float >= 0 up to rounding."""
        m = self.root_r @ sigma @ self.root_r  # (D, D) similar to S S_r
        eig = scipy.linalg.eigvalsh((m + m.T) / 2, check_finite=False)  # (D,) >= 0 up to rounding
        diff = mu - self.mu_r
        return float(diff @ diff + np.trace(sigma) + self.trace_r - 2 * np.sqrt(np.clip(eig, 0.0, None)).sum())

    def __call__(self, feats: np.ndarray) -> float:
        """FD of a feature set. Args: feats (N, D), N >= 2. Covariance unbiased (ddof 1), as TTUR/torch-fidelity."""
        feats = np.asarray(feats, dtype=np.float64)
        n, d = feats.shape if feats.ndim == 2 else (0, -1)
        if d != self.mu_r.shape[0] or n < 2:
            raise ValueError(f"need features (N >= 2, {self.mu_r.shape[0]}), got {feats.shape}")
        mu = feats.mean(axis=0)  # (D,)
        if n >= d:
            return self.from_stats(mu, np.cov(feats, rowvar=False))
        # N < D: R S R = Y^T Y with Y = (X - mu) R / sqrt(N - 1), (N, D); its eigenvalues are Y's squared singular
        # values, so an (N, D) SVD replaces the (D, D) eigensolve (e.g. Inception's D = 2048 with N = 500).
        centred = feats - mu  # (N, D)
        y = centred @ self.root_r / np.sqrt(n - 1)  # (N, D)
        sv = scipy.linalg.svdvals(y, check_finite=False)  # (N,)
        diff = mu - self.mu_r
        return float(diff @ diff + np.square(centred).sum() / (n - 1) + self.trace_r - 2 * sv.sum())


# ---------------------------------------------------------------------------------------------
# Judge ensemble: spread of the members combined with the image interval
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Combined:
    """An ensemble-mean metric with an interval covering both image sampling and judge training randomness."""

    value: float  # mean over members
    low: float
    high: float
    level: float
    member_sd: float  # sd of the members' points (ddof 1); nan for one member
    h_boot: float  # image-bootstrap half-width
    h_members: float  # t half-width of the ensemble mean over judge seeds; 0 for one member
    n_members: int
    single_member: bool  # True: judge randomness unmeasured, the interval covers image sampling only


def combine(
    per_member_points: Sequence[float] | np.ndarray,
    per_member_intervals: Sequence[Interval] | np.ndarray | None,
    level: float,
    *,
    ensemble: Interval | None = None,
) -> Combined:
    """Ensemble-mean value with half-width sqrt(h_boot^2 + h_members^2).

    Reasoning: the reported metric is E over judge seeds of metric(judge), estimated by the mean of M judges that
    are a random sample of seeds. Its error has two independent sources: which images were drawn (h_boot: the
    bootstrap half-width, taken from the bootstrap of the member-mean statistic when `ensemble` is given, else the
    mean of the members' half-widths, which is conservative as averaging judges can only shrink image noise) and
    which seeds were drawn (h_members = t_{(1+level)/2, M-1} sd / sqrt(M)). All judges see the same images, so the
    members' spread is judge randomness alone and is not double-counted with h_boot. Adding half-widths in
    quadrature is adding variances. The interval is centred where the bootstrap intervals are centred relative to
    their points (keeping e.g. BCa's bias correction), so with identical members it is the bootstrap interval; for
    the same reason combine paired differences or means, not one item's FD (whose shift `paired_bootstrap` notes).

    Args:
        per_member_points: (M,) each judge's point value, M >= 1.
        per_member_intervals: M Intervals at `level`, or (M,) half-widths (centred intervals); None with `ensemble`.
        level: two-sided confidence level in (0, 1).
        ensemble: Interval of the member-mean statistic (bootstrapped on the same resamples); exclusive with the above.

    Returns:
        Combined; `single_member` flags M == 1, where h_members = 0 and member_sd = nan.
    """
    points = np.asarray(per_member_points, dtype=np.float64)
    if points.ndim != 1 or points.size < 1:
        raise ValueError(f"per_member_points must be (M,) with M >= 1, got shape {points.shape}")
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level}")
    if (per_member_intervals is None) == (ensemble is None):
        raise ValueError("pass exactly one of per_member_intervals and ensemble")
    m, value = points.size, float(points.mean())
    if ensemble is not None:
        if ensemble.level != level or not np.isclose(ensemble.point, value, rtol=1e-9, atol=1e-12):
            raise ValueError(f"ensemble interval must be at level {level} with point = member mean {value:.6g}")
        h_boot, offset = ensemble.halfwidth, (ensemble.low + ensemble.high) / 2 - ensemble.point
    elif len(per_member_intervals) != m:
        raise ValueError(f"{len(per_member_intervals)} intervals for {m} member points")
    elif all(isinstance(iv, Interval) for iv in per_member_intervals):
        if any(iv.level != level for iv in per_member_intervals):
            raise ValueError(f"every member interval must be at level {level}")
        h_boot = float(np.mean([iv.halfwidth for iv in per_member_intervals]))
        offset = float(np.mean([(iv.low + iv.high) / 2 - iv.point for iv in per_member_intervals]))
    else:
        halfwidths = np.asarray(per_member_intervals, dtype=np.float64)
        if (halfwidths < 0).any():
            raise ValueError("half-widths must be >= 0")
        h_boot, offset = float(halfwidths.mean()), 0.0
    if m == 1:
        sd, h_members = float("nan"), 0.0
    else:
        sd = float(points.std(ddof=1))
        h_members = float(scipy.stats.t.ppf((1 + level) / 2, m - 1) * sd / np.sqrt(m))
    half = float(np.hypot(h_boot, h_members))
    centre = value + offset
    return Combined(value, centre - half, centre + half, level, sd, h_boot, h_members, m, m == 1)


def ranking_agreement(scores: np.ndarray) -> dict[str, float | int | str]:
    """How consistently the judges rank the items: pairwise Kendall tau-b between members (scipy).

    Args:
        scores: (M, K) each member's metric for K items (direction irrelevant: all members share it).

    Returns:
        {"tau_mean", "tau_min": float in [-1, 1] or nan, "n_pairs": M (M - 1) / 2, "note": "" or why nan}
        (nan with a note for M < 2, K < 2, or a member scoring every item equally).
    """
    scores = np.asarray(scores, dtype=np.float64)
    if scores.ndim != 2:
        raise ValueError(f"scores must be (M members, K items), got shape {scores.shape}")
    m, k = scores.shape
    nan = float("nan")
    if m < 2 or k < 2:
        note = f"{m} member(s) and {k} item(s): agreement needs >= 2 of each"
        return {"tau_mean": nan, "tau_min": nan, "n_pairs": m * (m - 1) // 2, "note": note}
    taus = np.array([scipy.stats.kendalltau(scores[i], scores[j]).statistic for i, j in combinations(range(m), 2)])
    note = "" if np.isfinite(taus).all() else "a member gives every item the same score: its tau is undefined"
    return {"tau_mean": float(taus.mean()), "tau_min": float(taus.min()), "n_pairs": taus.size, "note": note}


# ---------------------------------------------------------------------------------------------
# Verdicts
# ---------------------------------------------------------------------------------------------


class Bounds(Protocol):
    low: float
    high: float


def verdict(low: float, high: float, *, direction: str) -> str:
    """Three-way verdict of a deciding difference d = a - b claimed to be `direction` ("positive" / "negative").

    Args:
        low, high: interval of d, low <= high, not nan (infinite bounds allowed).
        direction: the claimed sign of d.

    Returns:
        HOLDS (whole interval strictly of the claimed sign), FAILS (strictly of the opposite sign) or INCONCLUSIVE
        (contains 0, including a bound at exactly 0).
    """
    if direction not in (POSITIVE, NEGATIVE):
        raise ValueError(f"direction must be {POSITIVE!r} or {NEGATIVE!r}, got {direction!r}")
    if np.isnan(low) or np.isnan(high) or low > high:
        raise ValueError(f"need an interval low <= high without nan, got [{low}, {high}]: recompute it")
    sign = 1 if low > 0 else -1 if high < 0 else 0
    if sign == 0:
        return INCONCLUSIVE
    return HOLDS if (sign > 0) == (direction == POSITIVE) else FAILS


def verdict_for(interval: Bounds, direction: str, measurable: bool) -> str:
    """`verdict` of an Interval or Combined, or NOT_MEASURABLE when the metric failed validation.

    Args: interval with .low, .high; direction as `verdict`; measurable: False when the metric failed validation.
    """
    if direction not in (POSITIVE, NEGATIVE):
        raise ValueError(f"direction must be {POSITIVE!r} or {NEGATIVE!r}, got {direction!r}")
    if not measurable:
        return NOT_MEASURABLE
    return verdict(interval.low, interval.high, direction=direction)


def verdict_counts(records: Sequence[Mapping]) -> dict[str, int]:
    """How many of `records` (each with a "verdict", one of VERDICTS) got each verdict, and "total"."""
    return {v: sum(r["verdict"] == v for r in records) for v in VERDICTS} | {"total": len(records)}
