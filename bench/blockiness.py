"""Blockiness: how strongly a patch grid shows in images (a ViT autoencoder's seams), from finite differences.

Used by the autoencoder sweeps (`autoencoders.sweep`, the `block_excess` reading). Written here: a few lines of
finite differences, and the libraries this suite uses (scikit-image, torch-fidelity, lpips) have no blockiness
measure.
"""

from __future__ import annotations

import torch


def block_edge_steps(x: torch.Tensor, block: int) -> tuple[torch.Tensor, torch.Tensor]:
    """How strongly a `block`-px grid shows in images: the mean absolute step between neighbouring pixels across
    the grid's lines, and the mean step everywhere else. Their ratio is about 1 for an image without a grid; a ViT
    autoencoder's patch seams raise it.

    Args:
        x: (B, C, H, W) images, H and W multiples of `block` and at least 2 blocks.
        block: the grid's period in pixels, >= 2 (a ViT autoencoder's patch size).

    Returns:
        (across, inside), each (B,): mean |step| across grid lines and elsewhere, in x's units.
    """
    if block < 2 or x.dim() != 4 or x.shape[2] % block or x.shape[3] % block or min(x.shape[2:]) < 2 * block:
        raise ValueError(
            f"expected (B, C, H, W) with H, W multiples of block >= 2 and at least 2 blocks, got {tuple(x.shape)} "
            f"and block {block}"
        )
    dx = (x[..., :, 1:] - x[..., :, :-1]).abs()  # (B, C, H, W-1): step between columns j and j+1
    dy = (x[..., 1:, :] - x[..., :-1, :]).abs()  # (B, C, H-1, W)
    on_x = (torch.arange(1, x.shape[3], device=x.device) % block) == 0  # (W-1,): j+1 starts a block
    on_y = (torch.arange(1, x.shape[2], device=x.device) % block) == 0  # (H-1,)
    across = torch.cat([dx[..., on_x].flatten(1), dy[..., on_y, :].flatten(1)], 1).mean(1)  # (B,)
    inside = torch.cat([dx[..., ~on_x].flatten(1), dy[..., ~on_y, :].flatten(1)], 1).mean(1)  # (B,)
    return across, inside


def block_edge_ratio(x: torch.Tensor, block: int) -> torch.Tensor:
    """Per image, `block_edge_steps`' across / inside. Args: x (B, C, H, W), block. Returns: (B,); inf or nan
    for an image flat within its blocks (pool the steps over a set, as the sweeps do, to avoid that)."""
    across, inside = block_edge_steps(x, block)
    return across / inside
