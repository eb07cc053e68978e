"""Tests of bench.metrics against independent references (scikit-image, scipy, closed forms).

Run: `python -m pytest tests/test_metrics.py -q`.
"""

import numpy as np
import pytest
import scipy.linalg
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from bench import metrics as M
from bench.config import SWDCfg
from bench.featnets import JUDGE_NET, build_featnet
from bench.features import build_extractor, extract_features
from bench.swd import SWD_AVG, swd


def to_hwc01(x: torch.Tensor) -> np.ndarray:
    return ((x.double() + 1) / 2).permute(1, 2, 0).numpy()


def to_hwc_uint8(x: torch.Tensor) -> np.ndarray:
    return (x * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8).permute(1, 2, 0).numpy()


@pytest.fixture
def pair():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(4, 3, 24, 29, generator=g) * 2 - 1
    # smooth structure plus noise, so SSIM is neither ~0 nor ~1
    x = torch.nn.functional.avg_pool2d(x, 3, stride=1, padding=1)
    y = (x + 0.15 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    return x, y


# ---------------------------------------------------------------------------------------------
# Reconstruction
# ---------------------------------------------------------------------------------------------


def test_l1_mse_on_unit_range(pair):
    x, y = pair
    a, b = (x.numpy() + 1) / 2, (y.numpy() + 1) / 2
    np.testing.assert_allclose(M.l1(x, y).numpy(), np.abs(a - b).mean(axis=(1, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(M.mse(x, y).numpy(), ((a - b) ** 2).mean(axis=(1, 2, 3)), rtol=1e-5)


def test_psnr_matches_skimage_on_uint8(pair):
    x, y = pair
    ref = [peak_signal_noise_ratio(to_hwc_uint8(a), to_hwc_uint8(b), data_range=255) for a, b in zip(x, y, strict=True)]
    np.testing.assert_allclose(M.psnr(x, y).numpy(), ref, rtol=1e-10)
    assert torch.isinf(M.psnr(x, x)).all()


@pytest.mark.parametrize("size", [(24, 29), (11, 11), (32, 32)])
def test_ssim_matches_skimage(size):
    g = torch.Generator().manual_seed(1)
    x = torch.nn.functional.avg_pool2d(torch.rand(3, 3, *size, generator=g) * 2 - 1, 3, stride=1, padding=1)
    y = (x + 0.2 * torch.randn(x.shape, generator=g)).clamp(-1, 1)
    ref = [
        structural_similarity(
            to_hwc01(a),
            to_hwc01(b),
            channel_axis=-1,
            data_range=1,
            gaussian_weights=True,
            sigma=1.5,
            use_sample_covariance=False,
        )
        for a, b in zip(x, y, strict=True)
    ]
    np.testing.assert_allclose(M.ssim(x, y).double().numpy(), ref, atol=1e-5)
    np.testing.assert_allclose(M.ssim(x, x).numpy(), 1.0, atol=1e-6)


def test_reconstruction_metrics_keys_and_errors(pair):
    x, y = pair
    out = M.reconstruction_metrics(x, y)
    assert set(out) == {M.L1, M.MSE, M.PSNR, M.SSIM} and all(v.shape == (4,) for v in out.values())
    summary = M.summarise({k: [v[:2], v[2:]] for k, v in out.items()})
    assert summary[M.MSE] == pytest.approx(float(out[M.MSE].double().mean()))
    with pytest.raises(ValueError, match="at least 11"):
        M.ssim(x[..., :8, :8], y[..., :8, :8])
    with pytest.raises(ValueError, match="one shape"):
        M.l1(x, y[:2])


# ---------------------------------------------------------------------------------------------
# Frechet distance
# ---------------------------------------------------------------------------------------------


def scipy_fid(mu1, s1, mu2, s2) -> float:
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_fid_of_diagonal_gaussians_matches_closed_form():
    rng = np.random.default_rng(0)
    mu1, mu2 = rng.normal(size=8), rng.normal(size=8)
    d1, d2 = rng.uniform(0.1, 3, size=8), rng.uniform(0.1, 3, size=8)
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(d1) - np.sqrt(d2)) ** 2).sum()
    got = M.frechet_distance((mu1, np.diag(d1)), (mu2, np.diag(d2)))
    assert got == pytest.approx(expected, rel=1e-4)


def test_fid_of_general_gaussians_matches_scipy_sqrtm():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(12, 12)), rng.normal(size=(12, 12))
    s1, s2 = a @ a.T + 0.1 * np.eye(12), b @ b.T + 0.1 * np.eye(12)
    mu1, mu2 = rng.normal(size=12), rng.normal(size=12)
    assert M.frechet_distance((mu1, s1), (mu2, s2)) == pytest.approx(scipy_fid(mu1, s1, mu2, s2), rel=1e-4)


def test_fid_of_identical_features_is_zero():
    feats = torch.from_numpy(np.random.default_rng(2).normal(size=(300, 16)))
    st = M.feature_stats(feats)
    assert abs(M.frechet_distance(st, st)) < 1e-8 * np.trace(st[1])


def test_fid_pinned_on_fixed_features():
    # Deterministic features (no RNG); 0.5948134912265619 came from the scipy path below, run once.
    i, j = np.arange(64)[:, None], np.arange(6)[None, :]
    fa, fb = np.sin(0.37 * i * (j + 1) + 0.5 * j), np.cos(0.23 * i * (j + 2)) + 0.1 * j
    independent = scipy_fid(fa.mean(0), np.cov(fa, rowvar=False), fb.mean(0), np.cov(fb, rowvar=False))
    assert independent == pytest.approx(0.5948134912265619, rel=1e-9)
    got = M.frechet_distance(M.feature_stats(torch.from_numpy(fa)), M.feature_stats(torch.from_numpy(fb)))
    assert got == pytest.approx(0.5948134912265619, rel=1e-6)


def test_features_and_stats_do_not_depend_on_batch_size():
    judge = build_featnet(JUDGE_NET, num_classes=5, input_size=32)
    ext = build_extractor("judge", judge_network=judge)
    images = (torch.rand(11, 3, 32, 32, generator=torch.Generator().manual_seed(3)) * 255).to(torch.uint8)
    f3, f8 = extract_features(ext, images.split(3)), extract_features(ext, images.split(8))
    for name in f3:
        torch.testing.assert_close(f3[name], f8[name], rtol=1e-5, atol=1e-5)
    (mu3, s3), (mu8, s8) = M.feature_stats(f3[M.POOL]), M.feature_stats(f8[M.POOL])
    np.testing.assert_allclose(mu3, mu8, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(s3, s8, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------
# KID, IS, precision / recall
# ---------------------------------------------------------------------------------------------


def test_kid_matches_unbiased_mmd_with_cubic_kernel():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(40, 5)), rng.normal(0.5, 1.2, size=(40, 5))
    k = lambda a, b: (a @ b.T / a.shape[1] + 1) ** 3  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    expected = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (m * (m - 1)) - 2 * kxy.mean()
    # one subset of all samples: a permutation, to which the unbiased estimate is invariant
    kid, kid_std = M.kernel_distance(torch.from_numpy(x), torch.from_numpy(y), subsets=1, subset_size=m, seed=0)
    assert kid == pytest.approx(expected, rel=1e-6) and kid_std == 0


def test_is_of_confident_balanced_logits_is_the_class_count():
    k = 7
    logits = 50.0 * torch.nn.functional.one_hot(torch.arange(70) % k, k).double()
    assert M.inception_score(logits, splits=1, seed=0)[0] == pytest.approx(k, rel=1e-6)
    same_class = 50.0 * torch.nn.functional.one_hot(torch.zeros(70, dtype=torch.long), k).double()
    assert M.inception_score(same_class, splits=1, seed=0)[0] == pytest.approx(1.0, rel=1e-6)
    with pytest.raises(ValueError, match="splits"):
        M.inception_score(logits[:3], splits=10, seed=0)


def clusters(n: int, centre: float, seed: int) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).normal(centre, 1.0, size=(n, 4)))


def test_precision_recall_on_constructed_sets():
    real = torch.cat([clusters(50, 0.0, 5), clusters(50, 100.0, 6)])
    assert M.precision_recall(real, real, neighborhood=3) == (1.0, 1.0)
    assert M.precision_recall(real + 1e4, real, neighborhood=3) == (0.0, 0.0)
    # fake = the real points of one of the two clusters: all realistic, half the real modes covered
    precision, recall = M.precision_recall(real[:50], real, neighborhood=3)
    assert precision == 1.0 and recall == pytest.approx(0.5)


@pytest.mark.parametrize("n_fake, n_real", [(300, 1000), (40, 60), (200, 200)])
def test_precision_recall_equal_torch_fidelity_with_and_without_cached_radii(n_fake, n_real):
    """The reference's k-NN radii can be cached (validate_metrics calls it hundreds of times against one
    reference); the values must stay torch-fidelity's own, exactly."""
    from torch_fidelity.metric_prc import prc_features_to_metric

    g = torch.Generator().manual_seed(n_fake)
    fake = torch.randn(n_fake, 32, generator=g)
    real = torch.randn(n_real, 32, generator=g) * 1.2 + 0.1
    ref = prc_features_to_metric(fake, real, prc_neighborhood=3, prc_batch_size=10000, verbose=False)
    expected = (ref["precision"], ref["recall"])
    assert M.precision_recall(fake, real, 3) == expected
    assert M.precision_recall(fake, real, 3, M.knn_radii(real, 3)) == expected


# ---------------------------------------------------------------------------------------------
# Keys, reference files, the generation set
# ---------------------------------------------------------------------------------------------


def test_metric_keys_name_their_extractor():
    assert M.labelled(M.FID, "inception") == "fid[inception]" and M.labelled(M.FID, "judge") == "fd[judge]"
    assert M.labelled(M.SFID, "judge") == "sfd[judge]" and M.labelled(M.RFID, "judge") == "rfd[judge]"
    assert M.labelled(M.IS, "judge") == "is[judge]" and M.labelled(M.KID, "inception") == "kid[inception]"


def fake_features(n: int, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {
        M.POOL: torch.randn(n, 8, generator=g),
        M.LOGITS: torch.randn(n, 5, generator=g),
        M.SPATIAL: torch.randn(n, 6, generator=g),
    }


def test_reference_round_trip_and_refusal(tmp_path):
    ref = M.reference_from_features(fake_features(30, 0), "judge", "judge:judge-resnet-v1@aaaa")
    path = M.save_reference(tmp_path / "ref" / "stats.npz", ref)
    back = M.load_reference(path, "judge:judge-resnet-v1@aaaa")
    assert back.extractor == "judge"
    for k in ("mu", "sigma", "mu_s", "sigma_s", "pool"):
        np.testing.assert_array_equal(getattr(back, k), getattr(ref, k))
    with pytest.raises(ValueError, match="made by extractor"):
        M.load_reference(path, "judge:judge-resnet-v1@bbbb")
    with pytest.raises(FileNotFoundError, match="no reference statistics"):
        M.load_reference(tmp_path / "missing.npz", "x")


def test_generation_metrics_are_labelled_and_finite():
    ref = M.reference_from_features(fake_features(40, 0), "judge", "id")
    out = M.compute_generation_metrics(
        ref, fake_features(40, 1), is_splits=2, kid_subsets=5, kid_subset_size=20, prc_neighborhood=3, seed=0
    )
    assert set(out) == {f"{k}[judge]" for k in ("fd", "sfd", "is", "is_std", "kid", "kid_std", "precision", "recall")}
    assert all(np.isfinite(v) for v in out.values())
    same = M.compute_generation_metrics(
        ref, fake_features(40, 0), is_splits=2, kid_subsets=5, kid_subset_size=20, prc_neighborhood=3, seed=0
    )
    assert abs(same["fd[judge]"]) < 1e-8 and same["precision[judge]"] == same["recall[judge]"] == 1.0
    assert M.compute_reconstruction_fd(ref, fake_features(40, 0))["rfd[judge]"] == pytest.approx(0, abs=1e-8)


# ---------------------------------------------------------------------------------------------
# The judge ensemble and the network-free SWD
# ---------------------------------------------------------------------------------------------


def test_ensemble_means_average_members_in_member_order():
    values = {
        "fd[judge-10]": 10.0,  # numeric, not lexicographic, member order: 0, 1, 2, 10
        "fd[judge-2]": 2.0,
        "fd[judge-0]": 0.0,
        "fd[judge-1]": 4.0,
        "is_std[judge-1]": 0.5,
        "is_std[judge-0]": 1.5,
        "fid[inception]": 7.0,  # other extractors, unlabelled and non-member keys pass through
        "swd[pyramid]": 3.0,
        "psnr": 20.0,
        "fd[judge-x]": 99.0,
        "fd[judgement-0]": 99.0,
    }
    before = dict(values)
    out, spread = M.ensemble_means(values)
    assert values == before  # the input is not modified
    assert spread == {"fd[judge]": [0.0, 4.0, 2.0, 10.0], "is_std[judge]": [1.5, 0.5]}
    assert out == {**values, "fd[judge]": pytest.approx(4.0), "is_std[judge]": pytest.approx(1.0)}
    assert isinstance(out["fd[judge]"], float)
    other, spread = M.ensemble_means({"fd[net-1]": 1.0, "fd[net-0]": 3.0, "fd[judge-0]": 5.0}, label="net")
    assert spread == {"fd[net]": [3.0, 1.0]} and other["fd[net]"] == 2.0 and "fd[judge]" not in other
    assert M.ensemble_means({}) == ({}, {})


def test_ensemble_of_one_member_is_that_member():
    out, spread = M.ensemble_means({"kid[judge-0]": 0.25})
    assert out["kid[judge]"] == 0.25 and spread == {"kid[judge]": [0.25]}


def test_pyramid_swd_is_the_swd_average_with_the_params_settings():
    cfg = SWDCfg(levels=2, patch=3, per_image=4, directions=8, repeats=2)
    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 256, (6, 16, 16, 3), dtype=np.uint8), rng.integers(0, 256, (5, 16, 16, 3), dtype=np.uint8)
    got = M.pyramid_swd(a, b, cfg, seed=3)
    direct = swd(a, b, levels=2, patch=3, per_image=4, directions=8, repeats=2, seed=3)[SWD_AVG]
    assert got == direct and got > 0
    assert M.pyramid_swd(a, a, cfg, seed=3) == 0.0
    assert M.SWD_KEY == "swd[pyramid]"
