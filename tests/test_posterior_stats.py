"""The posterior summary eval_ae records (autoencoders/posterior_stats.py), on constructed posteriors with a closed
form: per-channel mean std, KL to N(0, 1) in nats per value, active channels; batch-size free; None when
deterministic."""

from __future__ import annotations

import math

import pytest
import torch

from autoencoders.base import Posterior
from autoencoders.posterior_stats import PosteriorMoments, posterior_summary

C, H = 4, 3


def constructed(n: int = 6) -> Posterior:
    """Channel c: mean mu_c and log-variance l_c at every position, except channel 3, whose std alternates
    between 0.5 and 2 across positions (its summary is the mean of the stds, not the root of the mean variance).
    float64, so the closed form holds to rounding."""
    mu = torch.tensor([0.0, 1.0, 0.0, 0.0], dtype=torch.float64).view(1, C, 1, 1).expand(n, C, H, H).clone()
    logvar = (
        torch.tensor([0.0, 0.0, math.log(0.25), 0.0], dtype=torch.float64).view(1, C, 1, 1).expand(n, C, H, H).clone()
    )
    pattern = torch.tensor([math.log(0.25), math.log(4.0)], dtype=torch.float64).repeat(H * H)[: H * H].view(H, H)
    logvar[:, 3] = pattern
    return Posterior(mu, logvar)


def kl(mu: float, var: float) -> float:
    return 0.5 * (mu**2 + var - 1 - math.log(var))


def test_summary_matches_the_closed_form():
    moments = PosteriorMoments()
    moments.add(constructed())
    s = moments.summary(active_kl=0.01)
    n_small = int((torch.arange(H * H) % 2 == 0).sum())  # positions with std 0.5 in channel 3
    std3 = (0.5 * n_small + 2.0 * (H * H - n_small)) / (H * H)
    kl3 = (kl(0.0, 0.25) * n_small + kl(0.0, 4.0) * (H * H - n_small)) / (H * H)
    assert s["std_per_channel"] == pytest.approx([1.0, 1.0, 0.5, std3], rel=1e-12)
    assert s["std_mean"] == pytest.approx((2.5 + std3) / 4, rel=1e-12)
    assert s["kl_per_channel"] == pytest.approx([0.0, 0.5, kl(0.0, 0.25), kl3], abs=1e-12)
    assert s["kl"] == pytest.approx((0.5 + kl(0.0, 0.25) + kl3) / 4, rel=1e-12)
    # channel 0 is the prior itself: the only inactive one
    assert s["active_channels"] == 3 and s["channels"] == C and s["values_per_channel"] == 6 * H * H
    assert moments.summary(active_kl=0.4)["active_channels"] == 2  # channel 2 (kl(0, 1/4) = 0.318) drops below


def test_summary_does_not_depend_on_batches():
    whole, parts = PosteriorMoments(), PosteriorMoments()
    posterior = Posterior(torch.randn(7, C, H, H), torch.randn(7, C, H, H))
    whole.add(posterior)
    for a, b in ((0, 2), (2, 7)):
        parts.add(Posterior(posterior.mean[a:b], posterior.logvar[a:b]))
    one, two = whole.summary(0.01), parts.summary(0.01)
    assert one["std_per_channel"] == pytest.approx(two["std_per_channel"], rel=1e-12)
    assert one["kl_per_channel"] == pytest.approx(two["kl_per_channel"], rel=1e-12)


class _Codec(torch.nn.Module):
    def __init__(self, posterior: Posterior) -> None:
        super().__init__()
        self.posterior = posterior

    def encode(self, x: torch.Tensor) -> Posterior:
        return self.posterior


def test_deterministic_models_have_no_summary_and_empty_splits_fail():
    batches = [{"image": torch.zeros(2, 3, 8, 8)}]
    assert (
        posterior_summary(_Codec(Posterior(torch.zeros(2, C, 1, 1), None)), batches, torch.device("cpu"), 0.01) is None
    )
    s = posterior_summary(_Codec(constructed(2)), batches * 3, torch.device("cpu"), 0.01)
    assert s["values_per_channel"] == 3 * 2 * H * H and s["std_per_channel"][2] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="eval split is empty"):
        PosteriorMoments().summary(0.01)
