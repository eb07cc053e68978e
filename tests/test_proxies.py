"""The proxy recipes of `bench.proxies` on constructed cases where the answer is known (no trained models).

Run: .venv/bin/python -m pytest tests/test_proxies.py -q
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from bench import proxies


def images(n: int = 6, side: int = 16, seed: int = 0) -> np.ndarray:
    """(n, 3, side, side) smooth-plus-noise images in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.linspace(0, np.pi, side)
    smooth = np.sin(t)[:, None] * np.cos(t)[None, :]
    return np.clip(smooth + 0.3 * rng.standard_normal((n, 3, side, side)), -1, 1)


def test_identity_codec_has_zero_equivariance_error_and_the_images_spectrum():
    x = images()
    z = x.copy()  # identity codec: encode(x) = x, decode(z) = z
    decoded_half = proxies.down2(z)  # decode(down2(encode(x)))
    assert np.abs(decoded_half - proxies.down2(x)).max() == 0.0
    np.testing.assert_array_equal(proxies.high_fraction(z), proxies.high_fraction(x))
    for a, b in zip(proxies.band_spectrum(z), proxies.band_spectrum(x), strict=True):
        np.testing.assert_array_equal(a, b)


def test_down2_is_the_2x2_average():
    x = np.arange(16.0).reshape(1, 1, 4, 4)
    np.testing.assert_array_equal(proxies.down2(x)[0, 0], [[2.5, 4.5], [10.5, 12.5]])
    with pytest.raises(ValueError, match="even sides"):
        proxies.down2(np.zeros((1, 1, 3, 4)))


def test_spectrum_separates_smooth_from_checkerboard():
    side = 8
    checker = np.indices((side, side)).sum(axis=0) % 2 * 2.0 - 1  # highest frequency in both axes
    ramp = np.broadcast_to(np.linspace(-1, 1, side), (side, side))  # mostly the lowest frequency
    x = np.stack([checker, ramp])[:, None]  # (2, 1, 8, 8)
    high = proxies.high_fraction(x)
    assert high[0] > 0.99 and high[1] < 0.05  # the DCT-II spreads a checkerboard a little
    freq, share = proxies.band_spectrum(x)
    assert freq.tolist() == [k / side for k in range(side)] and share.sum() == pytest.approx(1.0)
    assert np.isnan(proxies.high_fraction(np.ones((1, 3, 4, 4))))[0]  # no AC energy: undefined, not 0


def test_label_in_one_channel_gives_probe_accuracy_one():
    rng = np.random.default_rng(1)
    n_train, n_eval, classes = 120, 60, 4

    def latents(n):
        y = rng.integers(0, classes, n)
        z = rng.standard_normal((n, 4, 2, 2))
        z[:, 2] = 3.0 * np.eye(classes)[y].reshape(n, 2, 2)  # channel 2 holds the label, one-hot over its 4 cells
        return z.reshape(n, -1), y

    (zt, yt), (ze, ye) = latents(n_train), latents(n_eval)
    right = proxies.linear_probe(zt, yt, ze, ye, c=1.0, max_iter=1000, seed=0)
    assert right.shape == (n_eval,) and right.all()
    noise = proxies.linear_probe(zt[:, :4], yt, ze[:, :4], ye, c=1.0, max_iter=1000, seed=0)  # channel 0 only
    assert noise.mean() < 0.6


def test_cell_labels_take_the_majority_of_each_block():
    mask = np.zeros((1, 4, 4), np.int64)
    mask[0, :2, :2] = [[3, 3], [3, 1]]  # majority 3
    mask[0, :2, 2:] = [[1, 2], [2, 1]]  # tie 1 / 2 -> smallest
    mask[0, 2:, :] = 5
    np.testing.assert_array_equal(proxies.cell_labels(mask, 2, 2)[0], [[3, 1], [5, 5]])


def test_nearest_other_never_picks_itself_and_finds_the_neighbour():
    flat = np.array([[0.0, 0], [0.1, 0], [5, 5], [5, 5.2], [5, 5.2]])  # rows 3 and 4 are exact duplicates
    nn = proxies.nearest_other(flat)
    assert nn.tolist()[:3] == [1, 0, 3] and set(nn[3:].tolist()) == {3, 4} and (nn != np.arange(5)).all()


def test_interpolation_at_zero_is_the_latent_and_standardising_does_not_move_the_midpoint():
    rng = np.random.default_rng(2)
    z = rng.standard_normal((5, 3, 2, 2)) * np.array([1, 10, 100]).reshape(1, 3, 1, 1) + 7
    nn = proxies.nearest_other(proxies.standardise(z).reshape(5, -1))
    np.testing.assert_array_equal(proxies.interpolate(z, nn, 0.0), z)
    s = proxies.standardise(z)
    assert s.mean(axis=(0, 2, 3)) == pytest.approx(0, abs=1e-12) and s.std(axis=(0, 2, 3)) == pytest.approx(1)
    # standardisation is affine per channel: the midpoint of standardised latents is the standardised midpoint
    mean, std = z.mean(axis=(0, 2, 3), keepdims=True), z.std(axis=(0, 2, 3), keepdims=True)
    np.testing.assert_allclose(proxies.interpolate(s, nn, 0.5), (proxies.interpolate(z, nn, 0.5) - mean) / std)


def test_spearman_interval_matches_scipy():
    rng = np.random.default_rng(3)
    x = rng.standard_normal(200)
    y = x + rng.standard_normal(200)
    iv = proxies.spearman_interval(x, y, n_resamples=1000, level=0.95, seed=0)
    assert iv.point == pytest.approx(scipy.stats.spearmanr(x, y).statistic, abs=1e-15)
    ref = scipy.stats.bootstrap(
        (x, y),
        lambda a, b: scipy.stats.spearmanr(a, b).statistic,
        paired=True,
        vectorized=False,
        n_resamples=1000,
        method="percentile",
        rng=np.random.default_rng(1),
    ).confidence_interval
    assert iv.low == pytest.approx(ref.low, abs=0.02) and iv.high == pytest.approx(ref.high, abs=0.02)
    monotone = proxies.spearman_interval(x[:8], np.exp(x[:8]), n_resamples=200, level=0.95, seed=0)
    assert [monotone.point, monotone.low, monotone.high] == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="K >= 3"):
        proxies.spearman_interval(x[:2], y[:2], n_resamples=10, level=0.95, seed=0)


FD, RECALL = "fd[judge]", "recall[judge]"


def proxy_rows(seed: int = 4) -> pd.DataFrame:
    """A `proxy_frame`-like frame, 7 items x 2 datasets: the FD and recall targets and four proxies."""
    from analysis.proxy_data import TARGETS, Target

    rng = np.random.default_rng(seed)
    rows = []
    for dataset in ("shapes", "faces"):
        fd = rng.uniform(10, 100, 7)
        rows += [
            {"item": f"i{k}", "dataset": dataset, FD: fd[k], RECALL: 1 / fd[k],
             "ifd": fd[k] + rng.normal(0, 5), "probe_class": -fd[k], "psnr": rng.normal(),
             "rho": np.nan if dataset == "faces" else rng.normal()}
            for k in range(7)
        ]  # fmt: skip
    frame = pd.DataFrame(rows)
    frame.attrs[TARGETS] = [Target(FD, False), Target(RECALL, True)]
    return frame


def test_correlations_per_dataset_and_metric_match_scipy_and_skip_unmeasured_proxies():
    from analysis.proxy_data import PROXIES, correlations

    frame = proxy_rows()
    table = correlations(frame, n_resamples=200, level=0.9, seed=0)
    assert set(table["proxy"]) <= set(PROXIES) and not ((table["dataset"] == "faces") & (table["proxy"] == "rho")).any()
    assert list(dict.fromkeys(table["target"])) == [FD, RECALL]
    for r in table.itertuples():
        part = frame[frame["dataset"] == r.dataset]
        assert r.spearman == pytest.approx(scipy.stats.spearmanr(part[r.proxy], part[r.target]).statistic)
        assert r.low <= r.spearman + 1e-12 <= r.high + 2e-12 and r.n_items == 7
    probe = table[table["proxy"] == "probe_class"].set_index(["dataset", "target"])
    # Probe accuracy -fd: rank -1 with the FD (better probe, lower FD) and +1 with recall ~ 1/fd (better probe, more
    # recall); the leaderboard's -0.82 with gFID is +0.82 in recall's direction, and both agree with it.
    assert probe.loc[("shapes", FD)].spearman == -1.0 and probe.loc[("shapes", FD)].leaderboard == -0.82
    assert probe.loc[("shapes", RECALL)].spearman == 1.0
    assert probe.loc[("shapes", RECALL)].leaderboard == 0.82
    assert set(probe["agrees"]) == {"same sign"}


def test_the_targets_are_the_fd_and_every_other_metric_that_passed_validation():
    from analysis.proxy_data import Target, targets

    gen = pd.DataFrame({"item": ["a"], "dataset": ["shapes"], FD: [1.0], RECALL: [0.5], "precision[judge]": [0.4],
                        "kid[judge]": [0.1]})  # fmt: skip
    ok, bad = {"validated": True, "failed": [], "passed": ["shapes/repeat"]}, {"validated": False, "failed": ["x"]}
    validation = {"metrics": {FD: bad, RECALL: ok, "precision[judge]": bad, "kid[judge]": ok}}
    assert targets(gen, validation) == [Target(FD, False), Target(RECALL, True)]  # kid has no METRICS family
    assert targets(gen, None) == [Target(FD, False)]  # the FD stays, validated or not (its note says which)
    inception = gen.assign(**{"fid[inception]": [2.0]})
    assert targets(inception, {"metrics": {"fid[inception]": ok}})[0] == Target("fid[inception]", False)


def test_the_proxies_table_says_whether_each_generation_metric_is_validated():
    from analysis.proxy_data import Target, target_label, target_note
    from analysis.table_proxies import markdown

    failed = {"metrics": {FD: {"validated": False, "failed": ["shapes/swirl"], "passed": []}}}
    passed = {"metrics": {"fid[inception]": {"validated": True, "failed": [], "passed": ["shapes/swirl"]}}}
    bad = target_note(FD, failed)
    assert "`fd[judge]`" in bad and "FAILED" in bad and "shapes/swirl" in bad and "not a prediction" in bad
    assert "iFD" in bad  # the proxies that share the judge's network are named
    good = target_note("fid[inception]", passed)
    assert "passed" in good and "shapes/swirl" in good and "FAILED" not in good  # names what it was tested on
    assert "has not run" in target_note(FD, None)
    assert "no entry" in target_note(RECALL, failed)
    assert target_label(Target(FD, False), failed) == "generation fd[judge], lower better (not validated)"
    assert target_label(Target("fid[inception]", False), passed) == "generation fid[inception], lower better"
    assert target_label(Target(RECALL, True), None).startswith("generation recall[judge], higher better")
    row = {"dataset": "shapes", "target": FD, "label": "PSNR (Table 1)", "source": "paper's property", "n_items": 5,
           "spearman": 0.1, "low": -0.5, "high": 0.6, "leaderboard": 0.54, "agrees": "same sign"}  # fmt: skip
    text = markdown(pd.DataFrame([row]), 0.95, 5, [bad, good])
    assert bad in text and good in text and "| fd[judge] " in text


def test_the_proxy_figure_has_one_panel_per_metric_and_dataset_blank_where_uncorrelated():
    from analysis.fig_proxies import make_fig_proxy
    from analysis.proxy_data import correlations

    frame = proxy_rows()
    table = correlations(frame, n_resamples=50, level=0.9, seed=0)
    full = make_fig_proxy(frame, table, "psnr")
    assert len(full.axes) == 4 and all(ax.axison for ax in full.axes)
    ylabels = [ax.get_ylabel() for ax in full.axes[::2]]  # rows: FD, then recall; no validation given
    assert ylabels == [
        f"generation {FD}, lower better (not validated)",
        f"generation {RECALL}, higher better (not validated)",
    ]
    partial = make_fig_proxy(frame, table, "rho")  # measured on shapes only
    assert len(partial.axes) == 2 and all(ax.axison for ax in partial.axes)
    assert len(partial.axes[0].collections[0].get_offsets()) == 1  # one dot per item
