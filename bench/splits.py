"""The dataset every stage reads its images from: one materialised split of the data stage, in either layout.

`<data>/<set>/<split>/` holds either arrays (embedded sets: `images.npy` uint8 (N, H, W, 3), `labels.npy` int64
(N,), `masks.npy` uint8 (N, H, W)) or a manifest `records.jsonl` of local files (real sets, decoded and ADM
centre-cropped on read). `SplitDataset` yields `{"image": (3, H, W) float in [-1, 1], "label": int, "mask": (H, W)
uint8 (where the set has masks), "index": int}`.

    from bench.splits import open_split
    split = open_split(params.paths, "shapes", "eval")
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from bench import folders, layout
from bench.images import to_hwc_uint8, to_tensor_image

REPAIR = "re-create it with `dvc repro -f data` (or delete the data folder and run `dvc repro data`)"


def _load_array(path: Path, mmap: bool) -> np.ndarray:
    """np.load with an error that names the file and the fix (a truncated .npy only says 'mmap length ...')."""
    try:
        return np.load(path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise ValueError(f"'{path}' is truncated or corrupt ({e}): {REPAIR}") from None


class SplitDataset(Dataset):
    """One materialised split (`<data>/<set>/<split>/`), in either storage layout."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root.parent / layout.META_FILE
        if not meta_path.is_file():
            raise FileNotFoundError(f"'{meta_path}' not found: run the data stage first (`dvc repro data`)")
        self.meta = json.loads(meta_path.read_text())
        self.resolution = int(self.meta["resolution"])
        if (self.root / "images.npy").is_file():
            # Memory-mapped so DataLoader workers share pages instead of copying the split.
            self.images = _load_array(self.root / "images.npy", mmap=True)
            self.labels = _load_array(self.root / "labels.npy", mmap=False)
            masks = self.root / "masks.npy"
            self.masks = _load_array(masks, mmap=True) if masks.is_file() else None
            self.records = None
            for name, array in (("images", self.images), ("masks", self.masks)):
                if array is not None and len(array) != len(self.labels):
                    raise ValueError(f"'{self.root}' holds {len(array)} {name} but {len(self.labels)} labels: {REPAIR}")
        elif (self.root / "records.jsonl").is_file():
            lines = (self.root / "records.jsonl").read_text().splitlines()
            self.records = [folders.Record.from_dict(json.loads(line)) for line in lines if line]
            self.images = self.labels = self.masks = None
        else:
            raise FileNotFoundError(
                f"'{self.root}' holds no split (images.npy or records.jsonl): re-run `dvc repro data`"
            )

    def __len__(self) -> int:
        return len(self.records) if self.records is not None else len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        if self.records is not None:
            image, label, mask = folders.load_record(self.records[i], self.resolution)
        else:
            image, label = self.images[i], int(self.labels[i])
            mask = self.masks[i] if self.masks is not None else None
        item = {"image": to_tensor_image(image), "label": torch.tensor(label, dtype=torch.long), "index": i}
        if mask is not None:
            item["mask"] = torch.from_numpy(np.array(mask, dtype=np.uint8))
        return item


def open_split(data: layout.Root, dataset: str, split: str) -> SplitDataset:
    """The split `<data>/<dataset>/<split>` as a Dataset (`data`: the paths section or the data folder)."""
    return SplitDataset(layout.split_dir(data, dataset, split))


def open_union(data: layout.Root, datasets: tuple[str, ...], split: str) -> Dataset:
    """Several sets' splits concatenated (e.g. the autoencoders' training union); items keep their own labels."""
    parts = [open_split(data, name, split) for name in datasets]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


def uint8_array(split: SplitDataset, n: int | None = None) -> np.ndarray:
    """The first `n` images of a split (all when None) as uint8 (n, H, W, 3), read from either layout."""
    n = len(split) if n is None else min(n, len(split))
    if split.images is not None:
        return np.asarray(split.images[:n])
    return np.stack([to_hwc_uint8(split[i]["image"][None])[0] for i in range(n)])


def fingerprint(data: layout.Root, datasets: tuple[str, ...], split: str) -> str:
    """sha256 (first 16 hex digits) of the files that hold one split of each dataset, in order.

    Training stages put it in their checkpoint signature (`bench.loop.train`), so a checkpoint left in `runs/work`
    by a run on other data (other sizes, seed or generator settings with the same training config) is never resumed.
    Hashes the arrays (embedded sets: images and labels, about 10 MB at the default) or the manifest (real sets).
    """
    h = hashlib.sha256()
    for name in datasets:
        root = layout.split_dir(data, name, split)
        files = [root / f for f in ("images.npy", "labels.npy", "records.jsonl") if (root / f).is_file()]
        if not files:
            raise FileNotFoundError(f"no split at {root}: run the data stage (`dvc repro data`)")
        for path in files:
            h.update(f"{name}/{split}/{path.name}".encode())
            with open(path, "rb") as f:
                while chunk := f.read(1 << 20):
                    h.update(chunk)
    return h.hexdigest()[:16]
