"""Tests for `diffusion.objective` (rectified flow, Euler sampler, guidance) and `bench.sharding`.

The sampler is checked against a flow whose exact velocity is known in closed form. With noise x0 ~ N(0, I), data
x1 ~ N(m, diag(s^2)) independent and x_t = t x1 + (1 - t) x0, each coordinate of (x1 - x0, x_t) is jointly
Gaussian, so the optimal (MSE) velocity is the linear regression

    v(x, t) = E[x1 - x0 | x_t = x] = m + (t s^2 - (1 - t)) / (t^2 s^2 + (1 - t)^2) * (x - t m),

using E[x1 - x0] = m, E[x_t] = t m, Cov(x1 - x0, x_t) = t s^2 - (1 - t), Var(x_t) = t^2 s^2 + (1 - t)^2.
Its ODE maps x(0) = z to x(1) = m + s z exactly, so Euler samples can be compared with that map point by point.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from bench.sharding import sample_labels, sample_noise, shard_indices
from diffusion.dit import build_dit
from diffusion.objective import euler_sample, flow_loss, interpolate, sample_t, shifted_grid

M = torch.tensor([2.0, -1.0], dtype=torch.float64)
S = torch.tensor([0.5, 1.5], dtype=torch.float64)
NO_CFG = dict(cfg_scale=1.0, cfg_interval_start=0.0, cfg_channels="all")


class GaussianVelocity(nn.Module):
    """Exact velocity of the linear interpolant between N(0, I) and N(M, diag(S^2)) (module docstring)."""

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        t = t.double()[:, None]  # (B, 1)
        var = t**2 * S**2 + (1 - t) ** 2  # (B, 2)
        return M + (t * S**2 - (1 - t)) / var * (x - t * M)  # (B, 2)


def test_interpolant_endpoints_and_target():
    x0, x1 = torch.randn(4, 3, 2, 2), torch.randn(4, 3, 2, 2)
    torch.testing.assert_close(interpolate(x0, x1, torch.zeros(4)), x0)
    torch.testing.assert_close(interpolate(x0, x1, torch.ones(4)), x1)
    t = torch.rand(4)
    dt = 1e-3  # the path is linear, so a finite difference gives the velocity x1 - x0 exactly (up to rounding)
    fd = (interpolate(x0, x1, t + dt) - interpolate(x0, x1, t)) / dt
    torch.testing.assert_close(fd, x1 - x0, rtol=1e-2, atol=1e-2)


def test_time_distributions():
    g = torch.Generator().manual_seed(0)
    t = sample_t(20000, dist="logit_normal", mean=0.5, std=0.8, generator=g)
    assert ((t > 0) & (t < 1)).all()
    logit = torch.log(t / (1 - t))
    assert abs(logit.mean().item() - 0.5) < 0.03 and abs(logit.std().item() - 0.8) < 0.03
    u = sample_t(20000, dist="uniform", mean=0.0, std=1.0, generator=g)
    assert abs(u.mean().item() - 0.5) < 0.01 and ((u >= 0) & (u < 1)).all()
    with pytest.raises(ValueError):
        sample_t(4, dist="beta", mean=0.0, std=1.0)


def test_flow_loss_matches_manual_computation():
    model = nn.Module()
    model.forward = lambda x, t, y: 0.5 * x  # any fixed map will do
    x1 = torch.randn(8, 4, 3, 3)
    out = flow_loss(
        model, x1, None, t_dist="logit_normal", t_mean=0.0, t_std=1.0, generator=torch.Generator().manual_seed(3)
    )
    g = torch.Generator().manual_seed(3)  # replay the same draws: times first, then noise
    t = torch.sigmoid(torch.randn(8, generator=g))
    x0 = torch.randn(x1.shape, generator=g)
    xt = interpolate(x0, x1, t)
    torch.testing.assert_close(out["loss"], ((0.5 * xt - (x1 - x0)) ** 2).mean())


def test_shifted_grid_convention():
    torch.testing.assert_close(shifted_grid(4, 1.0), torch.linspace(0, 1, 5, dtype=torch.float64))
    grid = shifted_grid(10, 0.3)
    assert grid[0] == 0 and grid[-1] == 1 and (grid.diff() > 0).all()
    assert grid.diff()[0] < grid.diff()[-1]  # s < 1: small steps near the noise end (t = 0)
    u = 0.4  # LightningDiT's compute_tm: s * u / (1 + (s - 1) * u)
    assert math.isclose(shifted_grid(5, 0.3)[2].item(), 0.3 * u / (1 + (0.3 - 1) * u))
    with pytest.raises(ValueError):
        shifted_grid(10, 0.0)


@pytest.mark.parametrize("shift", [1.0, 0.3])
def test_euler_carries_noise_to_the_gaussian_target(shift, single_thread):
    z = torch.randn(20000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    exact = M + S * z  # the exact flow map at t = 1
    errors = {}
    for n in (100, 200):
        x = euler_sample(GaussianVelocity(), z, None, num_steps=n, shift=shift, **NO_CFG)
        errors[n] = (x - exact).abs().max().item()
    # Euler is first order: the worst-case error halves when the steps double (measured 0.086 -> 0.043 at s = 1,
    # 0.099 -> 0.050 at s = 0.3).
    assert errors[200] < 0.06 and 1.8 < errors[100] / errors[200] < 2.2
    # Sample statistics at 200 steps: within 0.05 of (m, s). Sampling error of 20k draws is <= 0.011 for the mean
    # and <= 0.008 for the std; the Euler bias on the std is <= 0.007.
    torch.testing.assert_close(x.mean(0), M, rtol=0, atol=0.05)
    torch.testing.assert_close(x.std(0), S, rtol=0, atol=0.05)


def test_trained_mlp_moves_samples_toward_target(single_thread):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 32), nn.SiLU(), nn.Linear(32, 32), nn.SiLU(), nn.Linear(32, 2))

    class Velocity(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, x, t, y=None):
            return self.net(torch.cat([x, t[:, None].to(x.dtype)], dim=1))

    model, g = Velocity(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    m, s = M.float(), S.float()
    for _ in range(500):  # ~0.5 s on one core
        x1 = m + s * torch.randn(256, 2, generator=g)
        loss = flow_loss(model, x1, None, t_dist="logit_normal", t_mean=0.0, t_std=1.0, generator=g)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    x = euler_sample(model.eval(), torch.randn(4000, 2, generator=g), None, num_steps=50, shift=1.0, **NO_CFG)
    # Loose: a small, briefly trained net (measured mean (1.99, -0.98), std (0.41, 1.46)); the noise starts at
    # mean (0, 0), std (1, 1).
    assert (x.mean(0) - m).abs().max() < 0.25
    assert (x.std(0) - s).abs().max() < 0.3


class _Recorder(nn.Module):
    """Velocity 0 everywhere; records at which times guidance was requested."""

    def __init__(self) -> None:
        super().__init__()
        self.guided_at: list[float] = []
        self.plain_at: list[float] = []

    def forward(self, x, t, y):
        self.plain_at.append(t[0].item())
        return torch.zeros_like(x)

    def forward_with_cfg(self, x, t, y, cfg_scale, cfg_channels):
        self.guided_at.append(t[0].item())
        return torch.zeros_like(x)


def test_cfg_interval_and_scale_gate_guidance():
    x, y = torch.randn(2, 4, 2, 2), torch.tensor([0, 1])
    rec = _Recorder()
    euler_sample(rec, x, y, num_steps=10, shift=1.0, cfg_scale=4.0, cfg_interval_start=0.5, cfg_channels="all")
    assert rec.guided_at and min(rec.guided_at) >= 0.5 and max(rec.plain_at) < 0.5
    assert len(rec.guided_at) + len(rec.plain_at) == 10
    rec = _Recorder()  # scale <= 1 means no guidance at all (LightningDiT's `using_cfg = cfg_scale > 1`)
    euler_sample(rec, x, y, num_steps=10, shift=0.3, cfg_scale=1.0, cfg_interval_start=0.0, cfg_channels="all")
    assert not rec.guided_at and len(rec.plain_at) == 10
    with pytest.raises(ValueError):
        euler_sample(rec, x, None, num_steps=2, shift=1.0, cfg_scale=2.0, cfg_interval_start=0.0, cfg_channels="all")


def test_sampler_runs_the_dit_with_guidance():
    model = build_dit(
        "DiT-XT/1", input_size=4, in_channels=16, num_classes=10, class_dropout_prob=0.1,
        qk_norm=True, use_rope=True, use_swiglu=True, use_rmsnorm=True,
    ).eval()  # fmt: skip
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.02 * torch.randn_like(p))
    z = torch.randn(3, 16, 4, 4)
    kw = dict(num_steps=4, shift=0.3, cfg_interval_start=0.1)
    full = euler_sample(model, z, torch.tensor([1, 2, 3]), cfg_scale=4.0, cfg_channels="all", **kw)
    legacy = euler_sample(model, z, torch.tensor([1, 2, 3]), cfg_scale=4.0, cfg_channels="first3", **kw)
    assert full.shape == z.shape and torch.isfinite(full).all()
    assert not torch.allclose(full, legacy)


@pytest.mark.parametrize("world_size", [1, 2, 3, 4])
@pytest.mark.parametrize("num_samples", [1, 7, 16, 50])
def test_shards_partition_all_indices(world_size, num_samples):
    shards = [shard_indices(num_samples, r, world_size) for r in range(world_size)]
    flat = [i for shard in shards for i in shard]
    assert sorted(flat) == list(range(num_samples))  # every index exactly once
    assert max(len(s) for s in shards) - min(len(s) for s in shards) <= 1  # balanced


def test_bad_shard_arguments_raise():
    with pytest.raises(ValueError):
        shard_indices(10, 2, 2)
    with pytest.raises(ValueError):
        shard_indices(10, 0, 0)


def test_noise_and_labels_do_not_depend_on_sharding_or_batching():
    n, shape, seed = 16, (4, 3, 3), 7
    one = sample_noise(shard_indices(n, 0, 1), shape, seed)  # (16, 4, 3, 3)
    labels_one = sample_labels(range(n), 10, seed)
    for world in (3,):
        for rank in range(world):
            idx = shard_indices(n, rank, world)
            batches = [idx[i : i + 2] for i in range(0, len(idx), 2)]  # batch size 2 on this rank
            noise = torch.cat([sample_noise(b, shape, seed) for b in batches])
            assert torch.equal(noise, one[idx])
            assert torch.equal(sample_labels(idx, 10, seed), labels_one[idx])
    assert one.shape == (n, *shape) and abs(one.mean().item()) < 0.2
    assert not torch.equal(sample_noise([0], shape, seed), sample_noise([0], shape, seed + 1))
    assert not torch.equal(one[0], one[1])
    assert ((labels_one >= 0) & (labels_one < 10)).all() and len(set(labels_one.tolist())) > 1
