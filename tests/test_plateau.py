"""The plateau verdict (bench/plateau.py) on constructed loss curves (its record across a resume: test_loop.py)."""

from __future__ import annotations

import numpy as np
import pytest

from bench.config import PlateauCfg
from bench.plateau import plateau, smooth

CFG = PlateauCfg(smoothing=0.9, tail=0.2, threshold=0.01)


def test_smooth_is_a_bias_corrected_ema():
    assert np.allclose(smooth([2.0] * 5, 0.9), 2.0)  # no pull towards the zero start
    x = [1.0, 3.0, 2.0]
    m1 = 0.5 * 1.0
    m2 = 0.5 * m1 + 0.5 * 3.0
    m3 = 0.5 * m2 + 0.5 * 2.0
    assert np.allclose(smooth(x, 0.5), [m1 / 0.5, m2 / 0.75, m3 / 0.875])
    assert np.array_equal(smooth(x, 0.0), x)


def test_flat_curve_plateaus_and_falling_curve_does_not():
    rng = np.random.default_rng(0)
    steps = np.arange(500)
    flat = 0.5 + 0.01 * rng.standard_normal(500)  # 2 % per-step noise around a constant
    falling = 1.0 - 0.0015 * steps  # 1.0 -> 0.25: 0.15 lost over the last fifth of 0.40
    decaying = 0.2 + np.exp(-steps / 30)  # fell long ago: 5e-6 left to lose in the last fifth
    assert plateau(flat, CFG)["plateaued"] is True
    r = plateau(falling, CFG)
    assert r["plateaued"] is False and r["tail_steps"] == 100
    # The EMA lags equally at both ends: under a linear trend r is exactly the tail's fall over its start value.
    lag = 0.0015 * 0.9 / 0.1
    assert r["relative_improvement"] == pytest.approx(0.15 / (falling[399] + lag), rel=1e-9)
    assert plateau(decaying, CFG)["plateaued"] is True


def test_rising_loss_counts_as_plateaued_and_tiny_runs_are_unjudged():
    r = plateau(np.linspace(0.5, 0.6, 100), CFG)
    assert r["plateaued"] is True and r["relative_improvement"] < 0
    assert plateau([0.3], CFG)["plateaued"] is None
    two = plateau([1.0, 0.5], CFG)  # the tail is at least one step and leaves one before it
    assert two["tail_steps"] == 1 and two["plateaued"] is False


def test_threshold_decides():
    curve = 1.0 - 0.0001 * np.arange(1000)  # about 2.2 % over the last fifth
    assert plateau(curve, CFG)["plateaued"] is False
    assert plateau(curve, PlateauCfg(smoothing=0.9, tail=0.2, threshold=0.05))["plateaued"] is True
