"""Dataset records, and decoding one into cropped arrays (image, label, label map).

A `Record` is what the scanners in `bench.folders.scanners` list; `load_record` decodes it. A corrupt image or
mask raises `ValueError` naming the file (the package docstring of `bench.folders` explains why nothing is
skipped).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from bench.folders.crop import center_crop_arr, center_crop_mask


@dataclass(frozen=True)
class PartMasks:
    """Binary per-part masks that together make one label map (CelebAMask-HQ).

    `files` holds (part id, path) pairs in ascending id order; ids follow `bench.folders.CELEBAMASK_PARTS`
    (id = index + 1).
    Parts without a file are absent from the image.
    """

    files: tuple[tuple[int, str], ...]


@dataclass(frozen=True)
class Record:
    """One dataset item: an image path, its class label, and its label map (or None when unannotated).

    `mask` is a path to a ready uint8 label map (ADE20K), `PartMasks` to combine at load time (CelebAMask-HQ),
    or None (ImageNet, CelebA-HQ).
    """

    image: str
    label: int
    mask: str | PartMasks | None

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Record:
        """Inverse of `dataclasses.asdict(record)`, also after a JSON round trip (which turns tuples into lists)."""
        mask = d["mask"]
        if isinstance(mask, dict):
            mask = PartMasks(tuple((int(part_id), str(path)) for part_id, path in mask["files"]))
        return cls(image=str(d["image"]), label=int(d["label"]), mask=mask)


def _open(path: str, mode: str | None) -> Image.Image:
    """Open and fully decode an image (converted to `mode` unless None); a decoding failure is a ValueError."""
    try:
        with Image.open(path) as im:
            im.load()  # decode now: PIL is lazy and a truncated file would otherwise fail far from here
            return im.convert(mode) if mode else im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:  # PIL reports bad files with all three
        raise ValueError(f"cannot read image '{path}' ({e}): delete or re-download this file") from e


def _read_mask(mask: str | PartMasks) -> Image.Image:
    if isinstance(mask, str):
        label_map = _open(mask, None)
        if label_map.mode not in ("L", "P"):
            raise ValueError(f"label map '{mask}' has mode {label_map.mode}, not uint8 ids (L or P): re-download it")
        return label_map
    # Parts are painted in id order, later ids over earlier ones, as the release's own g_mask.py does:
    # https://github.com/switchablenorms/CelebAMask-HQ/blob/17e609391f135add2ba8e4009d4a2e718b77fcc0/face_parsing/Data_preprocessing/g_mask.py
    layers = [(part_id, np.asarray(_open(path, "L")) != 0) for part_id, path in mask.files]
    label_map = np.zeros(layers[0][1].shape, dtype=np.uint8)
    for (part_id, on), (_, path) in zip(layers, mask.files, strict=True):
        if on.shape != label_map.shape:
            raise ValueError(f"part mask '{path}' is {on.shape[::-1]}, unlike its siblings: re-download it")
        label_map[on] = part_id
    return Image.fromarray(label_map)  # uint8 2-D -> mode "L"


def load_record(record: Record, resolution: int) -> tuple[np.ndarray, int, np.ndarray | None]:
    """Decode a record and ADM-centre-crop its image and label map with the same box.

    Args:
        record: from `scan`.
        resolution: side S of the square outputs, in pixels.

    Returns:
        image uint8 (S, S, 3) in [0, 255]; the class label; label map uint8 (S, S) of ids, or None.

    Raises:
        ValueError: the image or a mask is corrupt, or the mask's aspect ratio differs from the image's.
    """
    image = _open(record.image, "RGB")
    if record.mask is None:
        return center_crop_arr(image, resolution), record.label, None
    mask = _read_mask(record.mask)
    if mask.size != image.size:
        # CelebAMask-HQ masks are 512 px for 1024 px images: bring them to the image grid (an exact NEAREST
        # upscale), so both go through the same crop geometry.
        if mask.width * image.height != mask.height * image.width:
            raise ValueError(
                f"mask of '{record.image}' is {mask.size}, image is {image.size}: the annotation does not match"
            )
        mask = mask.resize(image.size, resample=Image.Resampling.NEAREST)
    return center_crop_arr(image, resolution), record.label, center_crop_mask(mask, resolution)
