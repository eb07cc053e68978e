"""KID, IS and precision of a resampled set of generated samples, for the intervals stage's image bootstrap.

eval_gen computes these once per set with torch-fidelity (KID over random subsets, IS over splits, precision
against the reference's k-NN manifold). The bootstrap needs them again on every resample of the sample indices,
where some samples appear several times and others not at all. A resample is passed as counts c (n,) (how often
each sample was drawn, sum n), which keeps every statistic a few matrix products on quantities computed once.
Written here because no library evaluates these estimators from resample counts; each reduces to torch-fidelity's
own function at c = 1 (tests/test_resampled.py checks it):

- KID: the unbiased MMD^2 U-statistic on the whole set, with torch-fidelity's cubic kernel
  k(x, y) = (x.y / D + 1)^3; torch-fidelity's subset estimator estimates the same quantity without bias. In a
  resample the within-sample term averages k over pairs of *different* original samples,
  sum_{a != b} c_a c_b K_ab / (n^2 - sum_a c_a^2): a copy paired with another copy of itself would add k(x, x)
  and bias the estimate upward, as duplicated images do to FD (`bench.uncertainty.paired_bootstrap`).
- IS: exp(mean_x KL(p(y|x) || p(y))) on the whole set (one split), p(y) the resample's mean prediction.
- precision: the fraction of samples inside the reference's k-NN manifold, a mean of per-sample indicators.

Recall has no such form: it needs the k-NN radii of the samples themselves, which duplicates collapse to zero, so
its intervals keep the judge members' spread only.
"""

from __future__ import annotations

import numpy as np
import torch

from bench.metrics import knn_radii


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """torch-fidelity's default KID kernel: degree 3, gamma 1/D, coef0 1. x (N1, D), y (N2, D) -> (N1, N2)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


class ReferenceSide:
    """What every item's statistics need of one judge's reference, computed once per (set, judge).

    Args:
        ref_pool: (N_ref, D) the reference's pool features (`Reference.pool`).
        neighborhood: k of the k-NN manifold (params `metrics.prc_neighborhood`).
    """

    def __init__(self, ref_pool: np.ndarray, neighborhood: int) -> None:
        self.pool = np.asarray(ref_pool, np.float64)
        if self.pool.ndim != 2 or len(self.pool) < 2:
            raise ValueError(f"reference pool features must be (N_ref >= 2, D), got {self.pool.shape}")
        k_yy, m = _poly_kernel(self.pool, self.pool), len(self.pool)
        self.kernel_term = float((k_yy.sum() - np.trace(k_yy)) / (m * (m - 1)))  # within-reference U-statistic
        self.radii = knn_radii(torch.as_tensor(self.pool, dtype=torch.float32), neighborhood).numpy()  # (N_ref,)


class ResampledStats:
    """One judge's features of one item's samples against that judge's reference, ready for many resamples.

    Args:
        pool: (N, D) the samples' pool features.
        logits: (N, C) the judge's class logits of the samples (`bench.metrics.LOGITS`).
        ref: the same judge's `ReferenceSide`.
    """

    def __init__(self, pool: np.ndarray, logits: np.ndarray, ref: ReferenceSide) -> None:
        x = np.asarray(pool, np.float64)
        if x.ndim != 2 or x.shape[1] != ref.pool.shape[1]:
            raise ValueError(f"pool features (N, D) and reference (N_ref, D) must share D, got {x.shape}, "
                             f"{ref.pool.shape}")  # fmt: skip
        if len(logits) != len(x):
            raise ValueError(f"{len(logits)} logits for {len(x)} pool features: both must come from the same samples")
        self.n, self.ref_term = len(x), ref.kernel_term
        self.k_xx = _poly_kernel(x, x)  # (N, N)
        self.k_diag = np.diagonal(self.k_xx).copy()
        self.k_x_ref = _poly_kernel(x, ref.pool).mean(1)  # (N,) mean kernel of each sample against the reference
        self.log_p = torch.log_softmax(torch.as_tensor(logits, dtype=torch.float64), dim=1).numpy()  # (N, C)
        dist = torch.cdist(torch.as_tensor(ref.pool, dtype=torch.float32), torch.as_tensor(x, dtype=torch.float32))
        self.inside = (dist.numpy() <= ref.radii[:, None]).any(0).astype(np.float64)  # (N,) inside some ref ball

    def _check(self, counts: np.ndarray) -> np.ndarray:
        c = np.asarray(counts, np.float64)
        if c.shape != (self.n,) or (c < 0).any():
            raise ValueError(f"counts must be ({self.n},) non-negative resample counts, got shape {c.shape}")
        return c

    def kid(self, counts: np.ndarray) -> float:
        """Unbiased MMD^2 of the resample against the reference (pairs of copies of one sample skipped)."""
        c = self._check(counts)
        n, distinct_pairs = c.sum(), c.sum() ** 2 - (c**2).sum()
        if distinct_pairs <= 0:
            raise ValueError("KID needs at least two different samples in the resample")
        within = (c @ self.k_xx @ c - (c**2) @ self.k_diag) / distinct_pairs
        return float(within + self.ref_term - 2.0 * (c @ self.k_x_ref) / n)

    def inception_score(self, counts: np.ndarray) -> float:
        """exp(E_x KL(p(y|x) || p(y))) over the resample, one split."""
        c = self._check(counts)
        w = c / c.sum()
        p = np.exp(self.log_p)
        log_mean = np.log(w @ p)  # (C,) the resample's marginal prediction
        kl = (p * (self.log_p - log_mean)).sum(1)  # (N,)
        return float(np.exp(w @ kl))

    def precision(self, counts: np.ndarray) -> float:
        """Fraction of the resample inside the reference's k-NN manifold."""
        c = self._check(counts)
        return float(c @ self.inside / c.sum())
