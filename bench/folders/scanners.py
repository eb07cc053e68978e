"""Scanners: list one real dataset folder as sorted `Record`s, checking its layout and annotations.

Directory listings only (no image is decoded, one listing per folder), so scanning stays cheap. The layouts
are described in the `bench.folders` package docstring; every scanner raises `FileNotFoundError` for a missing
folder or annotation and `ValueError` for a layout it cannot read, each naming the path and the fix.
"""

from __future__ import annotations

import os
from pathlib import Path

from bench.folders.classes import CELEBAMASK_PARTS
from bench.folders.records import PartMasks, Record

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png")  # compared lower-case, so ImageNet's ".JPEG" matches
CELEBAMASK_IMAGES_PER_FOLDER = 2000  # the release stores part masks in folders idx // 2000
SPLITS = ("train", "val")
_ADE20K_FOLDERS = {"train": "training", "val": "validation"}  # the release's folder name for each split


def _require_root(root: str | Path, dataset: str, example: str) -> Path:
    path = Path(root)
    if not path.is_dir():
        raise FileNotFoundError(
            f"data root '{root}' not found: symlink your {dataset} folder there, e.g. ln -s {example} {root}"
        )
    return path


def _require_dir(path: Path, fix: str) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"folder '{path}' not found: {fix}")
    return path


def _image_names(folder: Path) -> list[str]:
    """Sorted image file names directly in `folder` (hidden files, e.g. macOS '._x.jpg', are not images)."""
    with os.scandir(folder) as entries:
        return sorted(
            e.name
            for e in entries
            if e.is_file() and not e.name.startswith(".") and e.name.lower().endswith(IMAGE_EXTENSIONS)
        )


def _subdirs(folder: Path) -> list[str]:
    with os.scandir(folder) as entries:
        return sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown split '{split}': use one of {SPLITS}")


def scan_imagenet(root: str | Path, split: str) -> list[Record]:
    """List `root/<split>/<wnid>/*.JPEG`; labels are the sorted wnids of `root/train` (or of the split) -> 0..K-1.

    Classes come from `train/` when it is present, so a val folder missing some classes keeps the train ids.

    Raises:
        FileNotFoundError: the root, the split folder or any image is missing.
        ValueError: the split folder holds images directly (an unsorted val), or has wnids unknown to `train/`.
    """
    _check_split(split)
    base = _require_root(root, "ImageNet", "/datasets/imagenet")
    folder = _require_dir(base / split, f"ImageNet needs {split}/<wnid>/*.JPEG under '{base}'")
    if loose := _image_names(folder):
        raise ValueError(
            f"'{folder}' holds {len(loose)} images directly (e.g. {loose[0]}): sort them into class folders "
            f"{split}/<wnid>/*.JPEG, e.g. with https://github.com/soumith/imagenetloader.torch/blob/master/valprep.sh"
        )
    wnids = _subdirs(folder)
    classes = _subdirs(base / "train") if (base / "train").is_dir() else wnids
    index = {wnid: i for i, wnid in enumerate(classes)}
    if unknown := [w for w in wnids if w not in index]:
        raise ValueError(f"class folders {unknown[:3]} in '{folder}' are not in '{base / 'train'}': use the same wnids")
    records = [Record(str(folder / w / name), index[w], None) for w in wnids for name in _image_names(folder / w)]
    if not records:
        raise FileNotFoundError(f"no images in '{folder}/<wnid>/': expected {split}/<wnid>/*.JPEG")
    return records


def scan_celebahq(root: str | Path) -> list[Record]:
    """List a flat folder of CelebA-HQ images (.jpg/.png), sorted by file name, all with label 0."""
    base = _require_root(root, "CelebA-HQ", "/datasets/CelebAMask-HQ/CelebA-HQ-img")
    names = _image_names(base)
    if not names:
        raise FileNotFoundError(f"no .jpg/.png images directly in '{base}': point root at the folder holding them")
    return [Record(str(base / name), 0, None) for name in names]


def scan_ade20k(root: str | Path, split: str) -> list[Record]:
    """List ADEChallengeData2016 images of a split ("train" -> training, "val" -> validation) with their annotations.

    Raises:
        FileNotFoundError: an image has no `annotations/<split>/<stem>.png`.
    """
    _check_split(split)
    base = _require_root(root, "ADE20K (ADEChallengeData2016)", "/datasets/ADEChallengeData2016")
    sub = _ADE20K_FOLDERS[split]
    images = _require_dir(
        base / "images" / sub, "expected the ADEChallengeData2016 layout images/{training,validation}"
    )
    annos = _require_dir(base / "annotations" / sub, "expected annotations/{training,validation} beside images/")
    names, have = _image_names(images), set(_image_names(annos))
    if missing := [n for n in names if Path(n).stem + ".png" not in have]:
        raise FileNotFoundError(
            f"{len(missing)} of {len(names)} ADE20K images have no annotation, e.g. '{images / missing[0]}' needs "
            f"'{annos / (Path(missing[0]).stem + '.png')}': restore the annotations or delete those images"
        )
    if not names:
        raise FileNotFoundError(f"no images in '{images}'")
    return [Record(str(images / n), 0, str(annos / (Path(n).stem + ".png"))) for n in names]


def scan_celebamaskhq(root: str | Path) -> list[Record]:
    """List CelebAMask-HQ images (sorted by index) with their part-mask files, all with label 0.

    Raises:
        ValueError: an image name is not `<idx>.jpg`.
        FileNotFoundError: an image has no part file at all (a single missing part is normal and allowed).
    """
    base = _require_root(root, "CelebAMask-HQ", "/datasets/CelebAMask-HQ")
    images = _require_dir(base / "CelebA-HQ-img", "expected the CelebAMask-HQ layout CelebA-HQ-img/<idx>.jpg")
    annos = _require_dir(base / "CelebAMask-HQ-mask-anno", "expected CelebAMask-HQ-mask-anno/<k>/ beside the images")
    names = _image_names(images)
    if bad := [n for n in names if not Path(n).stem.isdigit()]:
        raise ValueError(f"'{images / bad[0]}' is not named <idx>.jpg: move non-dataset images out of '{images}'")
    indexed = sorted((int(Path(n).stem), n) for n in names)
    listings: dict[int, set[str]] = {}  # one listing per annotation folder instead of 18 stat calls per image
    records = []
    for idx, name in indexed:
        k = idx // CELEBAMASK_IMAGES_PER_FOLDER
        if k not in listings:
            listings[k] = set(_image_names(annos / str(k))) if (annos / str(k)).is_dir() else set()
        files = tuple(
            (part_id, str(annos / str(k) / f"{idx:05d}_{part}.png"))
            for part_id, part in enumerate(CELEBAMASK_PARTS, start=1)
            if f"{idx:05d}_{part}.png" in listings[k]
        )
        if not files:
            raise FileNotFoundError(
                f"no part mask for '{images / name}': expected files like '{annos / str(k) / f'{idx:05d}_skin.png'}'"
            )
        records.append(Record(str(images / name), 0, PartMasks(files)))
    if not records:
        raise FileNotFoundError(f"no images in '{images}'")
    return records
