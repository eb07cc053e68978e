"""Loaders for the real datasets, read from local folders only (nothing is ever downloaded).

Users symlink each dataset under `data/real/` (e.g. `ln -s /datasets/imagenet data/real/imagenet`) and name
that folder as `root` in `params.yaml`. `scan(kind, root, split)` lists a folder as sorted `Record`s, cheaply
(directory listings only, no image decoding); `load_record(record, resolution)` decodes one record and applies
the ADM centre crop to the image and, with the same box, to its label map.

Expected layouts (the datasets' own release layouts):

    imagenet      root/{train,val}/<wnid>/*.JPEG        ImageFolder; val sorted into class folders too
    celebahq      root/*.{jpg,png}                       one flat folder, label 0, no official split
    ade20k        root/images/{training,validation}/*.jpg + root/annotations/{training,validation}/*.png
                  (ADEChallengeData2016; uint8 ids 0..150, 0 = "other"; splits "train" / "val")
    celebamaskhq  root/CelebA-HQ-img/<idx>.jpg + root/CelebAMask-HQ-mask-anno/<idx // 2000>/<idx:05d>_<part>.png
                  (binary per-part masks, combined into one uint8 part map at load time; no official split)

Error policy, one for all kinds:
- Missing annotations fail at scan time, before any expensive work: an ADE20K image without its annotation, or
  a CelebAMask-HQ image without a single part file, raises `FileNotFoundError` naming the image and the expected
  mask path. (A missing *individual* CelebAMask-HQ part is normal: that part is absent from the face.)
- A corrupt or unreadable image or mask raises `ValueError` naming the file and suggesting to delete or
  re-download it. Nothing is skipped silently: a skipped image would change split sizes, and with them which
  images the evaluation sets and FID statistics cover.

Records are plain frozen dataclasses: `dataclasses.asdict(record)` serialises one (e.g. to JSON lines) and
`Record.from_dict` reads it back. `MASK_NAMES[kind][id]` names the ids of a kind's label maps.

The data stage calls these; to check a symlinked folder by hand:
    python -c "from bench.folders import scan; print(len(scan('imagenet', 'data/real/imagenet', 'val')))"
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.folders.classes import ADE20K_CLASSES, ADE20K_NUM_CLASSES, CELEBAMASK_PARTS, MASK_NAMES
from bench.folders.crop import center_crop_arr, center_crop_mask
from bench.folders.records import PartMasks, Record, load_record
from bench.folders.scanners import (
    IMAGE_EXTENSIONS,
    SPLITS,
    scan_ade20k,
    scan_celebahq,
    scan_celebamaskhq,
    scan_imagenet,
)

__all__ = [
    "ADE20K_CLASSES",
    "ADE20K_NUM_CLASSES",
    "CELEBAMASK_PARTS",
    "IMAGE_EXTENSIONS",
    "MASK_NAMES",
    "SPLITS",
    "PartMasks",
    "Record",
    "center_crop_arr",
    "center_crop_mask",
    "load_record",
    "official_splits",
    "scan",
    "scan_ade20k",
    "scan_celebahq",
    "scan_celebamaskhq",
    "scan_imagenet",
]


@dataclass(frozen=True)
class _Source:
    scanner: Callable[..., list[Record]]
    splits: tuple[str, ...]  # empty: one pool of images, which the data stage divides itself


_SOURCES: dict[str, _Source] = {
    "imagenet": _Source(scan_imagenet, SPLITS),
    "celebahq": _Source(scan_celebahq, ()),
    "ade20k": _Source(scan_ade20k, SPLITS),
    "celebamaskhq": _Source(scan_celebamaskhq, ()),
}


def _source(kind: str) -> _Source:
    if kind not in _SOURCES:
        raise ValueError(f"unknown dataset kind '{kind}': use one of {sorted(_SOURCES)}")
    return _SOURCES[kind]


def official_splits(kind: str) -> tuple[str, ...]:
    """The splits a kind ships with ("train", "val"), or () when it is one pool the data stage divides itself."""
    return _source(kind).splits


def scan(kind: str, root: str | Path, split: str | None = None) -> list[Record]:
    """List a real dataset folder as sorted records, checking its layout and annotations.

    Args:
        kind: "imagenet", "celebahq", "ade20k" or "celebamaskhq".
        root: the dataset folder (usually a symlink under data/real/).
        split: one of `official_splits(kind)`, or None for kinds without official splits.

    Returns:
        Records in a deterministic order (sorted paths; CelebAMask-HQ by image index).
    """
    source = _source(kind)
    if not source.splits:
        if split is not None:
            raise ValueError(f"'{kind}' has no official splits (got split '{split}'): pass split=None")
        return source.scanner(root)
    if split not in source.splits:
        raise ValueError(f"'{kind}' needs split to be one of {source.splits}, got {split!r}")
    return source.scanner(root, split)
