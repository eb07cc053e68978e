"""bench.resampled against torch-fidelity's own estimators and against brute force on resamples with duplicates."""

from itertools import product
from types import SimpleNamespace

import numpy as np
import pytest
import scipy.stats
import torch
from torch_fidelity.metric_isc import KEY_METRIC_ISC_MEAN, isc_features_to_metric
from torch_fidelity.metric_kid import KEY_METRIC_KID_MEAN, kid_features_to_metric

from bench.intervals import resampled_halfwidths
from bench.metrics import precision_recall
from bench.resampled import ReferenceSide, ResampledStats

N, D, C, K = 60, 8, 5, 3


@pytest.fixture(scope="module")
def world():
    rng = np.random.default_rng(0)
    fake = rng.normal(0.3, 1.0, (N, D)).astype(np.float32)
    real = rng.normal(0.0, 1.0, (N, D)).astype(np.float32)
    logits = rng.normal(0.0, 2.0, (N, C)).astype(np.float32)
    ref = ReferenceSide(real, K)
    return fake, real, logits, ResampledStats(fake, logits, ref)


def test_kid_at_unit_counts_is_torch_fidelitys_whole_set_kid(world):
    fake, real, _, stats = world
    # one subset of every sample on both sides: torch-fidelity's estimator on the whole set
    tf = kid_features_to_metric(torch.from_numpy(fake), torch.from_numpy(real), kid_subsets=1, kid_subset_size=N,
                                rng_seed=0, verbose=False)[KEY_METRIC_KID_MEAN]  # fmt: skip
    assert stats.kid(np.ones(N)) == pytest.approx(tf, rel=1e-5, abs=1e-7)


def test_kid_of_a_resample_skips_only_pairs_of_copies(world):
    fake, real, _, stats = world
    idx = np.random.default_rng(1).integers(0, N, N)
    counts = np.bincount(idx, minlength=N)
    kern = lambda a, b: (a.astype(np.float64) @ b.astype(np.float64) / D + 1) ** 3  # noqa: E731
    within = [kern(fake[i], fake[j]) for i, j in product(idx, idx) if i != j]  # positions whose originals differ
    ref = [kern(real[i], real[j]) for i, j in product(range(N), range(N)) if i != j]
    cross = [kern(fake[i], real[j]) for i, j in product(idx, range(N))]
    expected = np.mean(within) + np.mean(ref) - 2 * np.mean(cross)
    assert stats.kid(counts) == pytest.approx(expected, rel=1e-9)


def test_every_statistic_is_unchanged_when_every_sample_is_drawn_twice(world):
    *_, stats = world
    for f in (stats.kid, stats.inception_score, stats.precision):
        assert f(2 * np.ones(N)) == pytest.approx(f(np.ones(N)), rel=1e-12)


def test_inception_score_at_unit_counts_is_torch_fidelitys_one_split(world):
    _, _, logits, stats = world
    tf = isc_features_to_metric(torch.from_numpy(logits), splits=1, shuffle=False)[KEY_METRIC_ISC_MEAN]
    assert stats.inception_score(np.ones(N)) == pytest.approx(tf, rel=1e-5)


def test_inception_score_of_a_resample_is_that_of_the_drawn_samples(world):
    _, _, logits, stats = world
    idx = np.random.default_rng(2).integers(0, N, N)
    tf = isc_features_to_metric(torch.from_numpy(logits[idx]), splits=1, shuffle=False)[KEY_METRIC_ISC_MEAN]
    assert stats.inception_score(np.bincount(idx, minlength=N)) == pytest.approx(tf, rel=1e-5)


def test_precision_at_unit_counts_is_the_suites_torch_fidelity_precision(world):
    fake, real, _, stats = world
    precision, _ = precision_recall(torch.from_numpy(fake), torch.from_numpy(real), K)
    assert 0 < precision < 1  # the constructed sets overlap partly, so the check is not trivial
    assert stats.precision(np.ones(N)) == pytest.approx(precision, abs=1e-6)  # theirs is a float32 mean


def test_precision_of_a_resample_counts_each_drawn_sample(world):
    *_, stats = world
    idx = np.random.default_rng(3).integers(0, N, N)
    assert stats.precision(np.bincount(idx, minlength=N)) == pytest.approx(stats.inside[idx].mean(), abs=1e-12)


def test_a_resample_of_one_repeated_sample_has_no_kid_and_bad_counts_are_named(world):
    *_, stats = world
    one = np.zeros(N)
    one[0] = N
    with pytest.raises(ValueError, match="two different samples"):
        stats.kid(one)
    with pytest.raises(ValueError, match=r"\(60,\) non-negative"):
        stats.precision(np.ones(N - 1))


def test_mismatched_inputs_are_named():
    ref = ReferenceSide(np.zeros((10, 4)) + np.arange(10)[:, None], 3)
    with pytest.raises(ValueError, match="share D"):
        ResampledStats(np.zeros((5, 3)), np.zeros((5, 2)), ref)
    with pytest.raises(ValueError, match="same samples"):
        ResampledStats(np.zeros((5, 4)), np.zeros((4, 2)), ref)


def test_intervals_half_widths_are_paired_and_match_a_proportions_closed_form(world):
    fake, real, logits, a = world
    ref = ReferenceSide(real, K)
    shifted = ResampledStats(fake + 0.5, logits[::-1].copy(), ref)
    stats = [[a, a], [a, shifted]]  # items "x", "y" under two members; under member 0 they are the same samples
    cfg = SimpleNamespace(n_resamples=400, level=0.95)
    h = resampled_halfwidths(stats, ["x", "y"], cfg, seed=0)
    assert set(h) == {"is", "kid", "precision"} and all(v.shape == (2, 3) for v in h.values())  # (M, K + P)
    for column in h.values():
        assert column[0, 2] == 0  # member 0: x - y is zero on every resample
        assert (column[:, :2] > 0).all() and column[1, 2] > 0
    p = a.inside.mean()
    closed = scipy.stats.norm.ppf(0.975) * np.sqrt(p * (1 - p) / N)  # bootstrap se of a proportion
    assert h["precision"][0, 0] == pytest.approx(closed, rel=0.15)
