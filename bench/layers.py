"""Layers shared by the autoencoders and the DiT: fixed 2-D sin-cos positional embeddings, patchify /
unpatchify, and bilinear resizing of a positional table.

Written once here (STYLE R15) instead of the per-repo copies in MAE, DiT and LightningDiT. Conventions
follow MAE so that tables and patch layouts match the released checkpoints:
- a grid of `h x w` tokens is flattened row-major (token index = row * w + col);
- the first half of a 2-D sin-cos embedding encodes the column, the second half the row
  (MAE's `get_2d_sincos_pos_embed`, which meshgrids `(grid_w, grid_h)`);
- a patch is flattened in (p, q, c) order (MAE's `patchify`).

References:
- https://github.com/facebookresearch/mae/blob/be47fef7a727943547afb0c670cf1b26034c3c89/util/pos_embed.py
- https://github.com/facebookresearch/mae/blob/be47fef7a727943547afb0c670cf1b26034c3c89/models_mae.py

Import only; nothing to run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

SINCOS_BASE = 10000.0  # the Transformer frequency base used by MAE, DiT and the LDMAE release


def sincos_1d(embed_dim: int, positions: torch.Tensor) -> torch.Tensor:
    """1-D sin-cos embedding.

    Args:
        embed_dim: output width, even.
        positions: (N,) positions (any real values).

    Returns:
        (N, embed_dim) float64 table, `[sin(pos * w_k) | cos(pos * w_k)]`.
    """
    if embed_dim % 2:
        raise ValueError(f"sin-cos embedding width must be even, got {embed_dim}")
    omega = torch.arange(embed_dim // 2, dtype=torch.float64) / (embed_dim / 2.0)
    omega = 1.0 / SINCOS_BASE**omega  # (D/2,)
    angles = positions.to(torch.float64).reshape(-1, 1) * omega.reshape(1, -1)  # (N, D/2)
    return torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)  # (N, D)


def sincos_2d(embed_dim: int, grid_size: int | tuple[int, int]) -> torch.Tensor:
    """Fixed 2-D sin-cos positional table, MAE layout (no CLS row).

    Args:
        embed_dim: token width, divisible by 4.
        grid_size: `g` for a square grid, or `(h, w)`.

    Returns:
        (h * w, embed_dim) float32 table, row-major over the grid.
    """
    if embed_dim % 4:
        raise ValueError(f"2-D sin-cos embedding width must be divisible by 4, got {embed_dim}")
    h, w = (grid_size, grid_size) if isinstance(grid_size, int) else grid_size
    rows, cols = torch.meshgrid(torch.arange(h), torch.arange(w), indexing="ij")  # (h, w) each
    emb_col = sincos_1d(embed_dim // 2, cols.flatten())  # (h*w, D/2): MAE's "emb_h" is the column
    emb_row = sincos_1d(embed_dim // 2, rows.flatten())  # (h*w, D/2)
    return torch.cat([emb_col, emb_row], dim=1).float()  # (h*w, D)


def resize_pos_embed(table: torch.Tensor, new_grid: int | tuple[int, int]) -> torch.Tensor:
    """Bilinearly resize a positional table to a new token grid (align_corners=False, as the LDMAE release).

    Args:
        table: (1, L, D) or (L, D) table over a square grid of L = g * g tokens.
        new_grid: `g'` or `(h', w')`.

    Returns:
        The resized table, (1, h'*w', D) or (h'*w', D) following the input, same dtype.
    """
    squeeze = table.dim() == 2
    t = table.unsqueeze(0) if squeeze else table  # (1, L, D)
    g = int(round(t.shape[1] ** 0.5))
    if g * g != t.shape[1]:
        raise ValueError(f"positional table has {t.shape[1]} rows, not a square grid")
    size = (new_grid, new_grid) if isinstance(new_grid, int) else new_grid
    grid = t.reshape(1, g, g, -1).permute(0, 3, 1, 2)  # (1, D, g, g)
    grid = F.interpolate(grid.float(), size=size, mode="bilinear", align_corners=False)  # (1, D, h', w')
    out = grid.permute(0, 2, 3, 1).reshape(1, size[0] * size[1], -1).to(table.dtype)  # (1, h'*w', D)
    return out[0] if squeeze else out


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut images into non-overlapping patches (MAE order).

    Args:
        images: (B, C, H, W), H and W divisible by `patch_size`.
        patch_size: p.

    Returns:
        (B, H/p * W/p, p * p * C) patches, row-major over the grid, each flattened in (p, q, c) order.
    """
    b, c, hh, ww = images.shape
    p = patch_size
    if hh % p or ww % p:
        raise ValueError(f"image size {hh}x{ww} is not divisible by the patch size {p}")
    h, w = hh // p, ww // p
    x = images.reshape(b, c, h, p, w, p)  # (B, C, h, p, w, q)
    x = torch.einsum("nchpwq->nhwpqc", x)  # (B, h, w, p, q, C)
    return x.reshape(b, h * w, p * p * c)  # (B, L, p*p*C)


def unpatchify(patches: torch.Tensor, patch_size: int, grid: tuple[int, int], channels: int = 3) -> torch.Tensor:
    """Inverse of `patchify`.

    Args:
        patches: (B, h * w, p * p * C).
        patch_size: p.
        grid: (h, w) token grid.
        channels: C.

    Returns:
        (B, C, h * p, w * p) images.
    """
    b = patches.shape[0]
    (h, w), p = grid, patch_size
    x = patches.reshape(b, h, w, p, p, channels)  # (B, h, w, p, q, C)
    x = torch.einsum("nhwpqc->nchpwq", x)  # (B, C, h, p, w, q)
    return x.reshape(b, channels, h * p, w * p)  # (B, C, H, W)


# ---------------------------------------------------------------------------------------------------------
# Timestep embedder (DiT). Appended by the diffusion engineer; `torch.nn` is spelled out to leave the imports
# above untouched.
# https://github.com/facebookresearch/DiT/blob/4961bcb01370bc5a552909b2f4c1b0f096e3f79e/models.py (TimestepEmbedder)
# ---------------------------------------------------------------------------------------------------------


def timestep_frequencies(t: torch.Tensor, dim: int, max_period: float = SINCOS_BASE) -> torch.Tensor:
    """Sinusoidal features of scalar times (DiT / GLIDE `timestep_embedding`).

    Args:
        t: (N,) times, any real values (the rectified-flow DiT passes t in [0, 1] unscaled, as LightningDiT).
        dim: feature width.
        max_period: longest wavelength; sets the lowest frequency.

    Returns:
        (N, dim) float32 features `[cos(t * f_k) | sin(t * f_k)]`, `f_k = max_period ** (-k / (dim // 2))`,
        zero-padded by one column when `dim` is odd.
    """
    half = dim // 2
    freqs = max_period ** (-torch.arange(half, dtype=torch.float32, device=t.device) / half)  # (dim/2,)
    args = t.float()[:, None] * freqs[None]  # (N, dim/2)
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=-1)  # (N, 2 * (dim/2))
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1)  # (N, dim)
    return emb


class TimestepEmbedder(torch.nn.Module):
    """Scalar time -> conditioning vector: sinusoidal features, then Linear-SiLU-Linear (DiT).

    Args:
        hidden_size: output width D.
        frequency_size: width of the sinusoidal features (256 in DiT and LightningDiT).
        max_period: longest wavelength of the features.
    """

    def __init__(self, hidden_size: int, frequency_size: int = 256, max_period: float = SINCOS_BASE) -> None:
        super().__init__()
        self.frequency_size = frequency_size
        self.max_period = max_period
        self.mlp = torch.nn.Sequential(
            torch.nn.Linear(frequency_size, hidden_size),
            torch.nn.SiLU(),
            torch.nn.Linear(hidden_size, hidden_size),
        )

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        """(N,) times -> (N, D) embeddings."""
        freq = timestep_frequencies(t, self.frequency_size, self.max_period)  # (N, F)
        return self.mlp(freq.to(self.mlp[0].weight.dtype))  # (N, D)
