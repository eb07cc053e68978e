"""2-D axial rotary position embedding (RoPE) for the DiT's attention.

LightningDiT (Yao et al., "Reconstruction vs. Generation", CVPR 2025), the diffusion model of the LDMAE paper
("Latent Diffusion Models with Masked AutoEncoders", ICCV 2025), rotates queries and keys with EVA-02's
`VisionRotaryEmbeddingFast` on top of the fixed sin-cos absolute embedding. This module re-implements that
convention:

- The head dimension is split in two halves: the first half encodes the token's **row** (y), the second its
  **column** (x). Tokens are in row-major order, `index = row * width + col`, as `bench.layers.patchify` emits.
- Within one half of size `a = head_dim / 2`, frequencies are `f_j = theta ** (-2j / a)`, `j = 0 .. a/2 - 1`
  (`theta = 10000`), each used by one pair of **adjacent** channels `(2j, 2j + 1)`, which are rotated by the
  angle `position * f_j`: `(u, v) -> (u cos - v sin, u sin + v cos)`.
- Positions are integer grid coordinates `0 .. side - 1` (EVA's `pt_seq_len == ft_seq_len`, no interpolation).

Because every pair is a plane rotation by an angle linear in position, `<rope(q, p), rope(k, p')>` depends only on
`p' - p` per axis; `tests/test_dit.py` checks this.

References:
- https://github.com/isno0907/ldmae/blob/e145f9885b931789b462a714269fa0bb4e27b6f5/LDMAE/models/lightningdit.py
  (builds the RoPE with `dim = head_dim // 2`, `pt_seq_len = grid side`; applied to q, k after QK-norm)
- https://github.com/hustvl/LightningDiT/blob/main/models/pos_embed.py (`VisionRotaryEmbeddingFast`, from EVA-02;
  commit not pinned: the file was read through a fork that copies it unchanged)
"""

from __future__ import annotations

import torch
from torch import nn

# EVA / LightningDiT base wavelength; an architectural constant, not an experiment knob.
ROPE_THETA = 10000.0


def rope_angles(rows: torch.Tensor, cols: torch.Tensor, head_dim: int, theta: float = ROPE_THETA) -> torch.Tensor:
    """Rotation angle of every channel of every token.

    Args:
        rows: (T,) float row coordinate of each token.
        cols: (T,) float column coordinate of each token.
        head_dim: per-head channel count; must be divisible by 4 (two axes, pairs of channels).
        theta: base wavelength.

    Returns:
        (T, head_dim) float64 angles in radians; channels `2j` and `2j + 1` share one angle.
    """
    if head_dim % 4:
        raise ValueError(f"2-D RoPE needs head_dim divisible by 4, got {head_dim}; change hidden_size or num_heads")
    axis_dim = head_dim // 2
    freqs = theta ** (-torch.arange(0, axis_dim, 2, dtype=torch.float64) / axis_dim)  # (axis_dim/2,)
    row_angles = rows.double()[:, None] * freqs[None]  # (T, axis_dim/2)
    col_angles = cols.double()[:, None] * freqs[None]  # (T, axis_dim/2)
    # Each frequency drives one adjacent channel pair, hence the interleaved repeat.
    angles = torch.cat([row_angles, col_angles], dim=-1)  # (T, head_dim/2)
    return angles.repeat_interleave(2, dim=-1)  # (T, head_dim)


def rotate_pairs(x: torch.Tensor) -> torch.Tensor:
    """Map each adjacent channel pair `(u, v)` to `(-v, u)` (a 90 degree rotation).

    Args:
        x: (..., D) with even D.

    Returns:
        (..., D) rotated tensor.
    """
    pairs = x.unflatten(-1, (-1, 2))  # (..., D/2, 2)
    u, v = pairs.unbind(-1)  # (..., D/2) each
    return torch.stack([-v, u], dim=-1).flatten(-2)  # (..., D)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate queries or keys.

    Args:
        x: (B, heads, T, head_dim) queries or keys.
        cos: (T, head_dim) cosine of `rope_angles`.
        sin: (T, head_dim) sine of `rope_angles`.

    Returns:
        (B, heads, T, head_dim) rotated tensor, same dtype as `x`.
    """
    # Rotate in the tables' precision (fp32 under bf16 autocast, as LightningDiT's type promotion does), then cast.
    return (x * cos + rotate_pairs(x) * sin).to(x.dtype)


class AxialRoPE2d(nn.Module):
    """Fixed 2-D RoPE for a `side x side` token grid (no learnable parameters).

    Args:
        head_dim: per-head channel count (divisible by 4).
        grid_size: tokens per side of the (square) grid.
    """

    def __init__(self, head_dim: int, grid_size: int) -> None:
        super().__init__()
        coords = torch.arange(grid_size, dtype=torch.float32)
        rows = coords.repeat_interleave(grid_size)  # (T,) 0,0,..,1,1,.. (row-major)
        cols = coords.repeat(grid_size)  # (T,) 0,1,..,0,1,..
        angles = rope_angles(rows, cols, head_dim)  # (T, head_dim)
        # Not persistent: derived from the config, so checkpoints stay free of them.
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Rotate (B, heads, T, head_dim) queries or keys by their grid position."""
        return apply_rope(x, self.cos, self.sin)
