"""The ADM centre crop, for images and (with the same box, NEAREST only) for label maps.

Every real dataset goes through it (see `bench.folders.load_record`); it is the crop ADM, DiT and LDMAE use for
ImageNet, written once here.
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def _adm_plan(width: int, height: int, size: int) -> tuple[int, tuple[int, int], tuple[int, int]]:
    """Geometry of the ADM crop: (number of 2x BOX halvings, size after them, size after the resize)."""
    if size < 1:
        raise ValueError(f"crop size must be a positive number of pixels, got {size}")
    halvings, w, h = 0, width, height
    while min(w, h) >= 2 * size:
        halvings, w, h = halvings + 1, w // 2, h // 2
    scale = size / min(w, h)
    return halvings, (w, h), (round(w * scale), round(h * scale))


def _crop_box(width: int, height: int, size: int) -> tuple[int, int, int, int]:
    left, top = (width - size) // 2, (height - size) // 2
    return left, top, left + size, top + size


def center_crop_arr(pil_image: Image.Image, image_size: int) -> np.ndarray:
    """ADM centre crop: BOX-halve while the short side is >= 2x the target, BICUBIC-resize it to the target, crop.

    Halving first with BOX filtering avoids the aliasing a single large bicubic downscale would cause.

    Args:
        pil_image: image of any size and mode (converted to RGB).
        image_size: side S of the square output, in pixels.

    Returns:
        uint8 array (S, S, 3), values in [0, 255].
    """
    # Same steps and rounding as ADM's center_crop_arr, so crops match the published pipelines pixel for pixel:
    # https://github.com/openai/guided-diffusion/blob/22e0df8183507e13a7813f8d38d51b072ca1e67c/guided_diffusion/image_datasets.py#L126
    image = pil_image.convert("RGB")
    halvings, _, resized = _adm_plan(*image.size, image_size)
    for _ in range(halvings):
        image = image.resize((image.width // 2, image.height // 2), resample=Image.Resampling.BOX)
    image = image.resize(resized, resample=Image.Resampling.BICUBIC)
    return np.asarray(image.crop(_crop_box(*resized, image_size)), dtype=np.uint8)


def center_crop_mask(pil_mask: Image.Image, size: int) -> np.ndarray:
    """Crop a label map with the box `center_crop_arr` takes from an image of the same size, NEAREST only.

    Labels are ids, so they are never interpolated: one NEAREST resize maps the region the image's halvings keep
    (they drop an odd last row/column) straight to the image's final size, then the same centre box is cut.

    Args:
        pil_mask: label map, mode "L" or "P" (the pixel values are the ids).
        size: side S of the square output, in pixels.

    Returns:
        uint8 array (S, S) holding only ids present in the input.
    """
    if pil_mask.mode not in ("L", "P"):
        raise ValueError(f"a label map must be a single-channel uint8 image (mode L or P), got mode {pil_mask.mode}")
    halvings, (w, h), resized = _adm_plan(*pil_mask.size, size)
    kept = (0, 0, w << halvings, h << halvings)
    mask = pil_mask.resize(resized, resample=Image.Resampling.NEAREST, box=kept)
    return np.asarray(mask.crop(_crop_box(*resized, size)), dtype=np.uint8)
