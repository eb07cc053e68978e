"""Embedded datasets: generated from a seed, offline, standing in for the paper's real datasets.

- `shapes`: textured objects on photographic "stuff" backgrounds, with class labels and
  object-level masks (the ImageNet / ADE20K analogue); see `shapes.py`.
- `faces`: synthetic portraits with hair-colour labels and part-level masks (the CelebA-HQ /
  CelebAMask-HQ analogue); see `faces.py`.

Both fill their regions with crops of the photographs scikit-image ships (`textures.py`).
Image i of a split is a pure function of (seed, split, i): the same at any n and any chunking
(`start=` generates a split in pieces).

    from bench.embedded import generate
    images, labels, masks = generate("shapes", n=16, resolution=64, seed=0, split="train", cfg=params.data.shapes)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from bench.config import FacesCfg, ShapesCfg
from bench.embedded import faces, shapes


@dataclass(frozen=True)
class Generator:
    """One embedded dataset.

    Attributes:
        render: (rng, resolution, cfg) -> (image uint8 (H, W, 3), label int, mask uint8 (H, W)): one image.
        kind_code: separates this dataset's random streams from the others' under the same seed.
        cfg_type: the config dataclass `generate` takes.
        label_names: name of each label id.
        mask_names: name of each mask id.
        mask_level: "object" (stuff and thing regions) or "part" (face parts).
    """

    render: Callable[..., tuple[np.ndarray, int, np.ndarray]]
    kind_code: int
    cfg_type: type
    label_names: tuple[str, ...]
    mask_names: tuple[str, ...]
    mask_level: Literal["object", "part"]


GENERATORS: dict[str, Generator] = {
    "shapes": Generator(shapes.render, shapes.KIND_CODE, ShapesCfg, shapes.CLASS_NAMES, shapes.MASK_NAMES, "object"),
    "faces": Generator(faces.render, faces.KIND_CODE, FacesCfg, faces.LABEL_NAMES, faces.PART_NAMES, "part"),
}


def label_names(kind: str, cfg: ShapesCfg | FacesCfg) -> tuple[str, ...]:
    """The label names a dataset actually uses (shapes uses the first `cfg.num_classes` classes)."""
    names = _get(kind).label_names
    return names[: cfg.num_classes] if isinstance(cfg, ShapesCfg) else names


def generate(
    kind: str, n: int, resolution: int, seed: int, split: str, cfg: ShapesCfg | FacesCfg, *, start: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate `n` images of an embedded dataset.

    Args:
        kind: a key of `GENERATORS` ("shapes" or "faces").
        n: number of images (>= 0).
        resolution: image side in pixels (>= 16; the presets use 32, 64, 128, 256).
        seed: base seed (>= 0).
        split: "train" or "eval".
        cfg: the kind's generator config (`ShapesCfg` or `FacesCfg`).
        start: index of the first image; chunks [start, start + n) concatenate to one split.

    Returns:
        images uint8 (n, H, W, 3) in [0, 255], labels int64 (n,), masks uint8 (n, H, W);
        ids index the kind's `label_names` and `mask_names`.
    """
    gen = _get(kind)
    if not isinstance(cfg, gen.cfg_type):
        raise ValueError(f"'{kind}' needs a {gen.cfg_type.__name__}, got {type(cfg).__name__}: pass params.data.{kind}")
    if min(n, seed, start) < 0:
        raise ValueError(f"n, seed and start must be >= 0, got n={n}, seed={seed}, start={start}")
    images = np.empty((n, resolution, resolution, 3), np.uint8)
    labels = np.empty(n, np.int64)
    masks = np.empty((n, resolution, resolution), np.uint8)
    for i in range(n):  # image i is a pure function of (seed, kind, split, start + i): chunking never matters
        rng = shapes.image_rng(seed, gen.kind_code, split, start + i)
        images[i], labels[i], masks[i] = gen.render(rng, resolution, cfg)
    return images, labels, masks


def _get(kind: str) -> Generator:
    if kind not in GENERATORS:
        raise ValueError(f"unknown embedded dataset '{kind}': choose one of {sorted(GENERATORS)}")
    return GENERATORS[kind]
