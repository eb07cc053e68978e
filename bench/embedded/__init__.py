"""Embedded datasets: generated from a seed, offline, standing in for the paper's real datasets.

- `shapes`: textured objects on photographic "stuff" backgrounds, with class labels and
  object-level masks (the ImageNet / ADE20K analogue); see `shapes.py`.
- `faces`: synthetic portraits with hair-colour labels and part-level masks (the CelebA-HQ /
  CelebAMask-HQ analogue); see `faces.py`.

Both fill their regions with crops of the photographs scikit-image ships (`textures.py`).
Image i of a split is a pure function of (seed, split, i): the same at any n and any chunking
(`start=` generates a split in pieces).

The generators compute in float64 and round to uint8 once, at the end. In float32 the bytes depended on the
CPU: numpy evaluates sin, arcsin, exp, ... through SIMD code chosen at run time (AVX-512 or AVX2 or scalar),
and these agree only to the last bit or two, enough to move a float32 value across a rounding step now and then
(2 of the 9.2 million faces/train pixels, by one grey level, between this machine's AVX-512 path and its AVX2
path, so the data stage's hash differed between hosts). A last-bit difference in float64 is about 2^-29 of
one in float32, so such a crossing becomes about 5e8 times rarer: from 2 pixels per default run to about 4e-9.

Generator shifts (`SHIFTS`: kind -> names) draw from a deliberately shifted version of the true
distribution, for validating metrics: `shift=name` renders image i from exactly the same random
draws as its unshifted twin, changing one semantic property only (see each kind's module).

    from bench.embedded import generate
    images, labels, masks = generate("shapes", n=16, resolution=64, seed=0, split="train", cfg=params.data.shapes)
    shifted = generate("faces", 16, 64, 0, "eval", params.data.faces, shift="no_mouth")
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
        render: (rng, resolution, cfg, shift=None) -> (image uint8 (H, W, 3), label int, mask uint8 (H, W)): one image.
        kind_code: separates this dataset's random streams from the others' under the same seed.
        cfg_type: the config dataclass `generate` takes.
        label_names: name of each label id.
        mask_names: name of each mask id.
        mask_level: "object" (stuff and thing regions) or "part" (face parts).
        shifts: the names `render` takes as `shift`.
    """

    render: Callable[..., tuple[np.ndarray, int, np.ndarray]]
    kind_code: int
    cfg_type: type
    label_names: tuple[str, ...]
    mask_names: tuple[str, ...]
    mask_level: Literal["object", "part"]
    shifts: tuple[str, ...]


GENERATORS: dict[str, Generator] = {
    "shapes": Generator(
        render=shapes.render, kind_code=shapes.KIND_CODE, cfg_type=ShapesCfg, label_names=shapes.CLASS_NAMES,
        mask_names=shapes.MASK_NAMES, mask_level="object", shifts=shapes.SHIFTS,
    ),
    "faces": Generator(
        render=faces.render, kind_code=faces.KIND_CODE, cfg_type=FacesCfg, label_names=faces.LABEL_NAMES,
        mask_names=faces.PART_NAMES, mask_level="part", shifts=faces.SHIFTS,
    ),
}  # fmt: skip
SHIFTS: dict[str, tuple[str, ...]] = {kind: gen.shifts for kind, gen in GENERATORS.items()}


def label_names(kind: str, cfg: ShapesCfg | FacesCfg) -> tuple[str, ...]:
    """The label names a dataset actually uses (shapes uses the first `cfg.num_classes` classes)."""
    names = _get(kind).label_names
    return names[: cfg.num_classes] if isinstance(cfg, ShapesCfg) else names


def generate(
    kind: str,
    n: int,
    resolution: int,
    seed: int,
    split: str,
    cfg: ShapesCfg | FacesCfg,
    *,
    start: int = 0,
    shift: str | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Generate `n` images of an embedded dataset, optionally from a shifted distribution.

    Args:
        kind: a key of `GENERATORS` ("shapes" or "faces").
        n: number of images (>= 0).
        resolution: image side in pixels (>= 16; the presets use 32, 64, 128, 256).
        seed: base seed (>= 0).
        split: "train", "val", "judge" or "eval" (`bench.layout.SPLITS`); each its own random stream.
        cfg: the kind's generator config (`ShapesCfg` or `FacesCfg`).
        start: index of the first image; chunks [start, start + n) concatenate to one split.
        shift: None (the true distribution), or one of `SHIFTS[kind]`: image i is then image i of the
            unshifted split with one property changed (same draws; labels unchanged).

    Returns:
        images uint8 (n, H, W, 3) in [0, 255], labels int64 (n,), masks uint8 (n, H, W);
        ids index the kind's `label_names` and `mask_names`.
    """
    gen = _get(kind)
    if not isinstance(cfg, gen.cfg_type):
        raise ValueError(f"'{kind}' needs a {gen.cfg_type.__name__}, got {type(cfg).__name__}: pass params.data.{kind}")
    if min(n, seed, start) < 0:
        raise ValueError(f"n, seed and start must be >= 0, got n={n}, seed={seed}, start={start}")
    shapes.check_shift(kind, shift, gen.shifts)
    images = np.empty((n, resolution, resolution, 3), np.uint8)
    labels = np.empty(n, np.int64)
    masks = np.empty((n, resolution, resolution), np.uint8)
    for i in range(n):  # image i is a pure function of (seed, kind, split, start + i): chunking never matters
        rng = shapes.image_rng(seed, gen.kind_code, split, start + i)
        images[i], labels[i], masks[i] = gen.render(rng, resolution, cfg, shift=shift)
    return images, labels, masks


def _get(kind: str) -> Generator:
    if kind not in GENERATORS:
        raise ValueError(f"unknown embedded dataset '{kind}': choose one of {sorted(GENERATORS)}")
    return GENERATORS[kind]
