"""Tests of bench/uncertainty.py: bootstrap coverage and pairing, exact FD against torch-fidelity, the judge-ensemble
combination, ranking agreement and the verdict table. CPU, a few seconds: `python -m pytest tests/test_uncertainty.py`.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats
import torch
from threadpoolctl import threadpool_info, threadpool_limits

from bench.metrics import feature_stats, frechet_distance
from bench.uncertainty import (
    FAILS,
    HOLDS,
    INCONCLUSIVE,
    NEGATIVE,
    NOT_MEASURABLE,
    POSITIVE,
    FrechetAgainst,
    Interval,
    combine,
    mean_interval,
    paired_bootstrap,
    ranking_agreement,
    verdict,
    verdict_for,
)

LEVEL = 0.95


def paired_data(n: int, delta: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """x_i ~ N(0, 1) and y_i = x_i + delta + N(0, 0.3^2): strongly correlated pairs with mean difference delta."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    return x, x + delta + 0.3 * rng.normal(size=n)


# --- image bootstrap ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["BCa", "percentile"])
def test_paired_bootstrap_covers_the_true_difference_at_about_the_nominal_rate(method: str) -> None:
    delta, reps, covered = 0.5, 200, 0
    for rep in range(reps):
        x, y = paired_data(100, delta, seed=1000 + rep)
        iv = paired_bootstrap(
            lambda idx, x=x, y=y: float((y[idx] - x[idx]).mean()),
            100,
            n_resamples=200,
            level=LEVEL,
            seed=rep,
            method=method,
        )
        covered += iv.low <= delta <= iv.high
    assert 0.88 <= covered / reps <= 0.99


@pytest.mark.parametrize("method", ["BCa", "percentile", "basic"])
def test_mean_interval_is_paired_bootstrap_of_the_mean_on_the_same_resamples(method: str) -> None:
    x, y = paired_data(60, 0.2, seed=0)
    rows = np.stack([x, y, y - x])  # (3, n)
    fast = mean_interval(rows, n_resamples=300, level=LEVEL, seed=7, method=method)
    slow = paired_bootstrap(
        lambda idx: rows[:, idx].mean(axis=1), 60, n_resamples=300, level=LEVEL, seed=7, method=method
    )
    assert len(fast) == len(slow) == 3
    for f, s in zip(fast, slow, strict=True):
        np.testing.assert_allclose([f.point, f.low, f.high, f.se], [s.point, s.low, s.high, s.se], rtol=1e-10)
        assert (f.level, f.method, f.n_resamples) == (LEVEL, method, 300)
    single = mean_interval(y - x, n_resamples=300, level=LEVEL, seed=7, method=method)
    assert isinstance(single, Interval)
    # a row of a (k, n) input is bootstrapped as the row alone: one resampling shared by the rows
    assert (single.low, single.high) == pytest.approx((fast[2].low, fast[2].high), rel=1e-12)


def test_paired_interval_of_a_difference_is_narrower_than_independent_resampling() -> None:
    x, y = paired_data(100, 0.5, seed=3)
    a, b, diff = paired_bootstrap(
        lambda idx: np.array([y[idx].mean(), x[idx].mean(), y[idx].mean() - x[idx].mean()]),
        100,
        n_resamples=1000,
        level=LEVEL,
        seed=0,
        method="percentile",
    )
    assert diff.point == pytest.approx(a.point - b.point)
    unpaired = scipy.stats.bootstrap(
        (x, y),
        lambda u, v, axis=-1: v.mean(axis=axis) - u.mean(axis=axis),
        paired=False,  # each item resampled with its own indices: the correlation is lost
        n_resamples=1000,
        confidence_level=LEVEL,
        method="percentile",
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert (diff.high - diff.low) < 0.5 * (unpaired.high - unpaired.low)
    assert diff.low > 0 and unpaired.low < diff.low


def test_bootstrap_rejects_bad_settings_and_values() -> None:
    stat = lambda idx: float(idx.mean())  # noqa: E731
    for kwargs in ({"n_resamples": 0}, {"level": 1.0}, {"method": "bca"}):
        with pytest.raises(ValueError):
            paired_bootstrap(stat, 10, **({"n_resamples": 10, "level": LEVEL, "seed": 0} | kwargs))
    with pytest.raises(ValueError, match="n >= 2"):
        paired_bootstrap(stat, 1, n_resamples=10, level=LEVEL, seed=0)
    with pytest.raises(ValueError, match="inf or nan"):
        mean_interval(np.array([1.0, np.inf, 2.0]), n_resamples=10, level=LEVEL, seed=0)


# --- Frechet distance -----------------------------------------------------------------------------------------


def gaussian_features(n: int, d: int, rng: np.random.Generator, shift: float) -> np.ndarray:
    """(n, d) correlated Gaussian features with mean `shift`."""
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) / np.sqrt(d) + shift


@pytest.mark.parametrize(("d", "n", "n_ref"), [(16, 300, 1000), (64, 300, 1000), (64, 40, 1000), (64, 300, 40)])
def test_frechet_against_matches_torch_fidelity(d: int, n: int, n_ref: int) -> None:
    """Both branches (N >= D eigensolve, N < D SVD) and a rank-deficient reference (n_ref < D)."""
    rng = np.random.default_rng(d + n + n_ref)
    ref, feats = gaussian_features(n_ref, d, rng, 0.0), gaussian_features(n, d, rng, 0.3)
    mu_r, sigma_r = feature_stats(torch.from_numpy(ref))
    expected = frechet_distance((mu_r, sigma_r), feature_stats(torch.from_numpy(feats)))
    assert FrechetAgainst(mu_r, sigma_r)(feats) == pytest.approx(expected, rel=1e-6)


def test_frechet_against_of_the_reference_itself_is_zero_and_bad_input_raises() -> None:
    ref = gaussian_features(500, 32, np.random.default_rng(0), 1.0)
    fd = FrechetAgainst(ref.mean(axis=0), np.cov(ref, rowvar=False))
    assert abs(fd(ref)) < 1e-8 * fd.trace_r
    with pytest.raises(ValueError, match="positive semi-definite"):
        FrechetAgainst(np.zeros(2), np.diag([1.0, -1.0]))
    with pytest.raises(ValueError, match="N >= 2"):
        fd(ref[:1])
    with pytest.raises(ValueError):
        fd(ref[:, :16])


def test_bootstrap_statistics_run_on_one_blas_thread_and_the_limit_is_lifted_after() -> None:
    """The statistic (thousands of small eigensolves) sees one OpenBLAS thread, whatever the process default; the
    caller's setting is back afterwards. The speed this buys is printed by `benchmarks/blas_threads.py`."""
    seen = []

    def statistic(idx: np.ndarray) -> float:
        seen.append({i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"})
        return float(idx.mean())

    with threadpool_limits(limits=2, user_api="blas"):
        before = {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
        paired_bootstrap(statistic, 50, n_resamples=5, level=0.9, seed=0, method="percentile")
        after = {i["filepath"]: i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}
    assert seen and before, "no BLAS library found: the check would prove nothing"
    assert all(set(s.values()) == {1} for s in seen)
    assert after == before and max(before.values()) == 2


# --- judge ensemble -------------------------------------------------------------------------------------------


def interval(point: float, low: float, high: float, level: float = LEVEL) -> Interval:
    return Interval(point, low, high, level, "percentile", 1000)


def test_combine_with_identical_members_is_the_bootstrap_interval() -> None:
    iv = interval(2.0, 1.5, 2.7)  # asymmetric on purpose
    c = combine([2.0, 2.0, 2.0], [iv, iv, iv], LEVEL)
    assert (c.value, c.member_sd, c.h_members) == (2.0, 0.0, 0.0)
    assert (c.low, c.high) == pytest.approx((iv.low, iv.high))
    assert not c.single_member and c.n_members == 3
    h = combine([2.0, 2.0, 2.0], np.array([0.4, 0.4, 0.4]), LEVEL)
    assert (h.low, h.high) == pytest.approx((1.6, 2.4))


def test_combine_with_spread_members_adds_the_t_interval_in_quadrature() -> None:
    points = np.array([1.0, 2.0, 3.0, 2.5])
    c = combine(points, np.array([0.2, 0.3, 0.4, 0.3]), LEVEL)
    h_members = scipy.stats.t.ppf(0.975, 3) * points.std(ddof=1) / 2
    assert c.value == pytest.approx(2.125)
    assert (c.h_boot, c.h_members, c.member_sd) == pytest.approx((0.3, h_members, points.std(ddof=1)))
    assert c.high - c.value == pytest.approx(np.hypot(0.3, h_members))
    assert c.high - c.low > 2 * c.h_boot
    ensemble = interval(points.mean(), points.mean() - 0.25, points.mean() + 0.25)
    e = combine(points, None, LEVEL, ensemble=ensemble)
    assert (e.h_boot, e.high - e.value) == pytest.approx((0.25, np.hypot(0.25, h_members)))


def test_combine_with_one_member_flags_it_and_checks_its_inputs() -> None:
    c = combine([4.0], [interval(4.0, 3.0, 5.0)], LEVEL)
    assert c.single_member and c.h_members == 0.0 and np.isnan(c.member_sd)
    assert (c.low, c.high) == (3.0, 5.0)
    with pytest.raises(ValueError, match="level"):
        combine([4.0], [interval(4.0, 3.0, 5.0, level=0.9)], LEVEL)
    with pytest.raises(ValueError, match="exactly one"):
        combine([4.0], None, LEVEL)
    with pytest.raises(ValueError, match="member mean"):
        combine([4.0, 5.0], None, LEVEL, ensemble=interval(4.0, 3.0, 5.0))
    with pytest.raises(ValueError, match="intervals for"):
        combine([4.0, 5.0], np.array([0.1]), LEVEL)


def test_ranking_agreement() -> None:
    base = np.array([0.3, 0.1, 0.9, 0.5, 0.7])
    same = ranking_agreement(np.stack([base, 2 * base + 1, base**2]))  # monotone maps keep the ranking
    assert (same["tau_mean"], same["tau_min"], same["n_pairs"]) == pytest.approx((1.0, 1.0, 3)) and not same["note"]
    assert ranking_agreement(np.stack([base, -base]))["tau_mean"] == pytest.approx(-1.0)
    scores = np.random.default_rng(0).normal(size=(4, 6))
    taus = [scipy.stats.kendalltau(scores[i], scores[j]).statistic for i in range(4) for j in range(i + 1, 4)]
    got = ranking_agreement(scores)
    assert (got["tau_mean"], got["tau_min"], got["n_pairs"]) == pytest.approx((np.mean(taus), np.min(taus), 6))
    for few in (np.ones((3, 1)), np.ones((1, 4))):
        out = ranking_agreement(few)
        assert np.isnan(out["tau_mean"]) and np.isnan(out["tau_min"]) and "needs >= 2" in out["note"]
    tied = ranking_agreement(np.stack([base, np.ones(5)]))
    assert np.isnan(tied["tau_mean"]) and "same score" in tied["note"]


# --- verdicts -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("low", "high", "direction", "expected"),
    [
        (0.1, 0.5, POSITIVE, HOLDS),
        (0.1, 0.5, NEGATIVE, FAILS),
        (-0.5, -0.1, POSITIVE, FAILS),
        (-0.5, -0.1, NEGATIVE, HOLDS),
        (-0.1, 0.5, POSITIVE, INCONCLUSIVE),
        (-0.1, 0.5, NEGATIVE, INCONCLUSIVE),
        (0.0, 0.5, POSITIVE, INCONCLUSIVE),  # a bound at 0 contains 0
        (-0.5, 0.0, NEGATIVE, INCONCLUSIVE),
        (0.0, 0.0, POSITIVE, INCONCLUSIVE),
        (0.2, 0.2, POSITIVE, HOLDS),  # a zero-width interval off 0 decides
        (-np.inf, np.inf, POSITIVE, INCONCLUSIVE),
        (1e-12, np.inf, POSITIVE, HOLDS),
    ],
)
def test_verdict_table(low: float, high: float, direction: str, expected: str) -> None:
    assert verdict(low, high, direction=direction) == expected
    assert verdict_for(interval(0.0, low, high), direction, measurable=True) == expected
    assert verdict_for(interval(0.0, low, high), direction, measurable=False) == NOT_MEASURABLE


def test_verdict_rejects_bad_direction_and_bad_intervals() -> None:
    for bad in ("up", "Positive", ""):
        with pytest.raises(ValueError, match="direction"):
            verdict(0.1, 0.2, direction=bad)
        with pytest.raises(ValueError, match="direction"):
            verdict_for(interval(0.0, 0.1, 0.2), bad, measurable=False)
    for low, high in ((np.nan, 1.0), (0.0, np.nan), (1.0, 0.5)):
        with pytest.raises(ValueError, match="interval"):
            verdict(low, high, direction=POSITIVE)
    assert verdict_for(combine([1.0, 1.2, 1.1], np.array([0.05] * 3), LEVEL), POSITIVE, measurable=True) == HOLDS
