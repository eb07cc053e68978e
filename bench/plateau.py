"""Did a training run's loss stop improving? The plateau test that every training stage records in its meta.json.

`bench.loop.train` keeps the per-step training loss (the "loss" key, on rank 0: no extra all-reduce per step) and
hands it to `plateau`. The series is smoothed with a bias-corrected exponential moving average (decay `smoothing`:
the raw per-step loss varies by more than the changes we look for, from batch to batch), and the relative
improvement over the last `tail` fraction of the T steps

    r = (s[T-1-t] - s[T-1]) / |s[T-1-t]|,   t = max(1, round(tail * T)),   s = smoothed loss

decides: plateaued when r < threshold. A loss that rose over the tail (r < 0) counts as plateaued too: more steps of
the same schedule would not lower it. A run of fewer than 2 steps cannot be judged (plateaued None). The moving
average lags the raw loss by about 1 / (1 - smoothing) steps at both ends alike, so under a steady trend r still
measures the change over the tail.

Import only; nothing to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from bench.config import PlateauCfg

LOSS_KEY = "loss"  # the loss the test reads: every loss function returns it (the loop's default group)


def smooth(values: Sequence[float], decay: float) -> np.ndarray:
    """Bias-corrected exponential moving average, as Adam corrects its moments.

    Args:
        values: (T,) per-step values.
        decay: in [0, 1); 0 returns the values unchanged.

    Returns:
        (T,) float64: s_k = m_k / (1 - decay^(k+1)), m_k = decay * m_{k-1} + (1 - decay) * x_k, m_-1 = 0.
    """
    x = np.asarray(values, dtype=np.float64)
    out = np.empty_like(x)
    m = 0.0
    for k, v in enumerate(x):
        m = decay * m + (1.0 - decay) * v
        out[k] = m / (1.0 - decay ** (k + 1))
    return out


def plateau(losses: Sequence[float], cfg: PlateauCfg) -> dict[str, Any]:
    """The plateau verdict of one training run.

    Args:
        losses: (T,) the per-step training loss, in step order.
        cfg: smoothing decay, tail fraction and threshold (`TrainCfg.plateau`).

    Returns:
        {"plateaued": bool | None, "relative_improvement": r (None if unjudged), "tail_steps": t, "steps": T,
        "smoothed_start": s[T-1-t], "smoothed_end": s[T-1], "threshold", "smoothing", "key": the loss key}.
    """
    n = len(losses)
    record: dict[str, Any] = {"key": LOSS_KEY, "steps": n, "threshold": cfg.threshold, "smoothing": cfg.smoothing}
    if n < 2:
        return record | {"plateaued": None, "relative_improvement": None, "tail_steps": 0}
    tail = min(max(1, round(cfg.tail * n)), n - 1)
    s = smooth(losses, cfg.smoothing)
    start, end = float(s[n - 1 - tail]), float(s[n - 1])
    # A loss of exactly 0 at the tail's start cannot improve: call that plateaued (r = 0).
    r = (start - end) / abs(start) if start != 0.0 else 0.0
    return record | {
        "plateaued": bool(r < cfg.threshold),
        "relative_improvement": r,
        "tail_steps": tail,
        "smoothed_start": start,
        "smoothed_end": end,
    }
