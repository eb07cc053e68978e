"""Image conversions shared by every stage: uint8 HWC arrays <-> float CHW tensors in [-1, 1].

One convention for the whole suite: models see float (3, H, W) in [-1, 1]; files, feature extractors and PSNR see
uint8, rounded and clamped (the PNG convention).
"""

from __future__ import annotations

import numpy as np
import torch


def to_tensor_image(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def to_uint8_image(x: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., 3, H, W), rounded and clamped (the PNG convention)."""
    return (x * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)


def to_hwc_uint8(x: torch.Tensor) -> np.ndarray:
    """float (B, 3, H, W) in [-1, 1] -> uint8 (B, H, W, 3) numpy, the layout of every stored image array."""
    return to_uint8_image(x).permute(0, 2, 3, 1).cpu().numpy()
