"""Rectified-flow objective and Euler ODE sampler for the latent DiT (LDMAE, ICCV 2025, via LightningDiT/SiT).

Conventions (as in LightningDiT's `transport/`, which the LDMAE release uses unchanged):
- time runs from noise to data: `x_t = t * x1 + (1 - t) * x0`, with `x0 ~ N(0, I)` noise and `x1` data;
- the network predicts the velocity `v = dx_t/dt = x1 - x0` and is trained with plain MSE;
- training times are `t ~ logit-normal(mean, std)` (`sigmoid(mean + std * N(0, 1))`; (0, 1) in the release)
  or uniform on (0, 1);
- sampling integrates `dx/dt = v(x, t)` from `t = 0` (noise) to `t = 1` (data) with explicit Euler on the
  shifted grid `t'_k = s * u_k / (1 + (s - 1) * u_k)`, `u_k = k / num_steps`. This is exactly LightningDiT's
  `compute_tm` in `transport/integrators.py`; for `s < 1` (0.3 in the release) the slope at `u = 0` is `s`, so
  the steps are **small near the noise end** and large near the data end. `s = 1` is the uniform grid
  (LightningDiT spells "no shift" as `timestep_shift: 0`). The network sees the shifted time.
- Classifier-free guidance `uncond + w * (cond - uncond)` is applied only when `w > 1` (LightningDiT's
  `using_cfg = cfg_scale > 1.0`; the CelebA release's `cfg_scale: 0` therefore means plain conditional sampling) and
  only at steps whose (shifted) time is `>= cfg_interval_start`.

Step counts: `num_steps` here is the number of Euler steps (model evaluations). LightningDiT's
`num_sampling_steps` counts grid points of `linspace(0, 1, n)`, so its 250 means 249 Euler steps here.

References:
- https://github.com/isno0907/ldmae/blob/e145f9885b931789b462a714269fa0bb4e27b6f5/LDMAE/inference.py
- https://github.com/hustvl/LightningDiT/blob/main/transport/integrators.py (`ode.__init__`; read through the fork
  https://github.com/autooptm/LightningDiT-ao/blob/5f3184ed90fec2d71d9cdddd927b6c0662a2776c/transport/integrators.py)
- https://github.com/willisma/SiT/blob/main/transport/transport.py (linear path, velocity loss)
"""

from __future__ import annotations

from typing import Literal, Protocol

import torch

TimeDist = Literal["logit_normal", "uniform"]
CfgChannels = Literal["all", "first3"]


class VelocityModel(Protocol):
    """What the sampler needs from a model (`diffusion.dit.DiT` satisfies it)."""

    def __call__(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None) -> torch.Tensor: ...

    def forward_with_cfg(
        self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor, cfg_scale: float, cfg_channels: CfgChannels
    ) -> torch.Tensor: ...


def sample_t(
    n: int,
    *,
    dist: TimeDist,
    mean: float,
    std: float,
    device: torch.device | str = "cpu",
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Draw training times.

    Args:
        n: batch size.
        dist: "logit_normal" (`sigmoid(mean + std * z)`) or "uniform" (mean and std ignored).
        mean: logit-normal location.
        std: logit-normal scale.
        device: where the times live (the generator must be on the same device).
        generator: optional RNG; the global RNG when None.

    Returns:
        (n,) float32 times in (0, 1).
    """
    if dist == "logit_normal":
        z = torch.randn(n, device=device, generator=generator)
        return torch.sigmoid(mean + std * z)
    if dist == "uniform":
        return torch.rand(n, device=device, generator=generator)
    raise ValueError(f"t distribution must be 'logit_normal' or 'uniform', got {dist!r}")


def interpolate(x0: torch.Tensor, x1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Linear interpolant `x_t = t * x1 + (1 - t) * x0`.

    Args:
        x0: (B, ...) noise.
        x1: (B, ...) data.
        t: (B,) times in [0, 1].

    Returns:
        (B, ...) points on the straight paths.
    """
    t = t.view(-1, *([1] * (x1.dim() - 1)))  # (B, 1, ..., 1) broadcasts over the sample dims
    return t * x1 + (1 - t) * x0


def flow_loss(
    model: VelocityModel,
    x1: torch.Tensor,
    y: torch.Tensor | None,
    *,
    t_dist: TimeDist,
    t_mean: float,
    t_std: float,
    generator: torch.Generator | None = None,
) -> dict[str, torch.Tensor]:
    """Rectified-flow training loss (velocity MSE), as `LightningDiT`'s `training_losses` with a linear path.

    Args:
        model: velocity network called as `model(x_t, t, y)`; label dropout happens inside it in train mode.
        x1: (B, C, H, W) normalised data latents.
        y: (B,) int64 class labels, or None for an unconditional model.
        t_dist: "logit_normal" or "uniform".
        t_mean: logit-normal location.
        t_std: logit-normal scale.
        generator: optional RNG for noise and times (same device as x1); the global RNG when None.

    Returns:
        {"loss": scalar mean squared error over all elements}.
    """
    t = sample_t(x1.shape[0], dist=t_dist, mean=t_mean, std=t_std, device=x1.device, generator=generator)  # (B,)
    x0 = torch.randn(x1.shape, device=x1.device, dtype=x1.dtype, generator=generator)  # (B, C, H, W)
    xt = interpolate(x0, x1, t.to(x1.dtype))  # (B, C, H, W)
    v = model(xt, t, y)  # (B, C, H, W)
    loss = torch.mean((v.float() - (x1 - x0).float()) ** 2)
    return {"loss": loss}


def shifted_grid(num_steps: int, shift: float) -> torch.Tensor:
    """Integration grid `t' = s * u / (1 + (s - 1) * u)` on `u = linspace(0, 1, num_steps + 1)`.

    Args:
        num_steps: number of Euler steps (>= 1).
        shift: s > 0; s < 1 puts small steps near the noise end (t = 0), s = 1 is uniform.

    Returns:
        (num_steps + 1,) float64 increasing times from exactly 0 to exactly 1.
    """
    if num_steps < 1:
        raise ValueError(f"num_steps must be >= 1, got {num_steps}")
    if shift <= 0:
        raise ValueError(f"shift must be > 0 (1 = no shift), got {shift}")
    u = torch.linspace(0.0, 1.0, num_steps + 1, dtype=torch.float64)
    grid = shift * u / (1 + (shift - 1) * u)
    grid[-1] = 1.0  # exact end point (s / s can round below 1), so samples land on t = 1
    return grid


@torch.no_grad()
def euler_sample(
    model: VelocityModel,
    noise: torch.Tensor,
    y: torch.Tensor | None,
    *,
    num_steps: int,
    shift: float,
    cfg_scale: float,
    cfg_interval_start: float,
    cfg_channels: CfgChannels,
) -> torch.Tensor:
    """Integrate the learned ODE from noise (t = 0) to data (t = 1) with explicit Euler.

    Each step evaluates the velocity at the left end of the interval: `x += (t_{k+1} - t_k) * v(x, t_k)`, the same
    update as torchdiffeq's fixed-grid "euler" method that LightningDiT calls.

    Args:
        model: velocity model (eval mode) with `forward_with_cfg` when guidance is used.
        noise: (B, C, H, W) initial N(0, I) sample at t = 0.
        y: (B,) int64 labels, or None for an unconditional model.
        num_steps: Euler steps (model evaluations per sample, doubled where guided).
        shift: time-grid shift s (see `shifted_grid`).
        cfg_scale: guidance scale w; guidance only when w > 1.
        cfg_interval_start: guidance only at steps with t_k >= this (shifted) time.
        cfg_channels: "all" guides every latent channel; "first3" reproduces the DiT/LightningDiT legacy.

    Returns:
        (B, C, H, W) samples at t = 1, in the normalised latent space the model was trained on.
    """
    grid = shifted_grid(num_steps, shift).tolist()
    guided = cfg_scale > 1.0
    if guided and y is None:
        raise ValueError("classifier-free guidance needs class labels; set cfg_scale <= 1 for an unconditional model")
    x = noise
    for t_cur, t_next in zip(grid[:-1], grid[1:], strict=True):
        t = torch.full((x.shape[0],), t_cur, device=x.device, dtype=torch.float32)  # (B,)
        if guided and t_cur >= cfg_interval_start:
            v = model.forward_with_cfg(x, t, y, cfg_scale, cfg_channels)  # (B, C, H, W)
        else:
            v = model(x, t, y)  # (B, C, H, W)
        x = x + (t_next - t_cur) * v.to(x.dtype)
    return x
