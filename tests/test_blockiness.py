"""Blockiness (`bench/blockiness.py`) against a pair-by-pair count and against the seams disturbance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from bench.blockiness import block_edge_ratio
from bench.disturbances import disturb


def naive_block_edge_ratio(image: np.ndarray, block: int) -> float:
    """Reference: every horizontal and vertical neighbour pair visited one by one. image (C, H, W)."""
    across, inside = [], []
    c, h, w = image.shape
    for ch in range(c):
        for i in range(h):
            for j in range(w):
                for di, dj in ((0, 1), (1, 0)):
                    if i + di < h and j + dj < w:
                        step = abs(float(image[ch, i + di, j + dj]) - float(image[ch, i, j]))
                        crosses = (j + dj) % block == 0 if dj else (i + di) % block == 0
                        (across if crosses else inside).append(step)
    return float(np.mean(across) / np.mean(inside))


def test_block_edge_ratio_matches_a_pair_by_pair_count_and_sees_seams():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    x = torch.from_numpy(images).permute(0, 3, 1, 2).double()  # (B, 3, H, W)
    got = block_edge_ratio(x, block=8)
    for b in range(3):
        assert got[b].item() == pytest.approx(naive_block_edge_ratio(images[b].transpose(2, 0, 1), 8), rel=1e-12)
    ramp = torch.arange(16.0).expand(1, 3, 16, 16)  # one grey step per column everywhere, zero per row
    assert block_edge_ratio(ramp, 8).item() == pytest.approx(1.0)
    # a smooth image gets 8x8 colour offsets: the grid shows, more at the stronger level
    yy, xx = np.mgrid[0:32, 0:32]
    smooth = np.stack([(4 * xx + 2 * yy + 30 * k) % 256 for k in range(3)], -1).astype(np.uint8)[None].repeat(4, 0)
    ratios = [
        block_edge_ratio(torch.from_numpy(disturb("block_seams", smooth, lv, seed=1)).permute(0, 3, 1, 2).float(), 8)
        .mean()
        .item()
        for lv in (0.0, 0.3, 1.0)
    ]
    assert ratios[0] == pytest.approx(1.0, abs=0.05) and ratios[0] < ratios[1] < ratios[2]
    for shape, block in (((1, 3, 12, 16), 8), ((1, 3, 8, 8), 8), ((1, 3, 16, 16), 1)):
        with pytest.raises(ValueError, match="multiples of block"):
            block_edge_ratio(torch.zeros(shape), block)
