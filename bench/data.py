"""The `data` stage, and the dataset every later stage reads its images from.

Run: `python -m bench.data` (DVC stage `data`). For each dataset named under `data.sets` it writes
`<paths.data>/<set>/` with `meta.json` (kind, resolution, label and mask names, counts) and one
folder per split:

- embedded sets (`shapes`, `faces`) are generated (deterministic from `seed`) and stored as
  arrays: `images.npy` uint8 (N, H, W, 3), `labels.npy` int64 (N,), `masks.npy` uint8 (N, H, W);
- real sets (ImageNet, CelebA-HQ, ADE20K, CelebAMask-HQ) are too large to copy, so the split is a
  manifest `records.jsonl` of local files, decoded and ADM centre-cropped on read.

`SplitDataset` reads either layout and yields `{"image": (3, H, W) float in [-1, 1], "label": int,
"mask": (H, W) uint8 (where the set has masks), "index": int}`.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset
from tqdm import tqdm

from bench import embedded, folders
from bench.config import EMBEDDED_KINDS, DataCfg, DatasetCfg, Params, load_params
from bench.outputs import StageRecord, atomic_path, write_json, write_npy

MASK_LEVEL = {"imagenet": None, "celebahq": None, "ade20k": "object", "celebamaskhq": "part"}
GEN_CHUNK = 256  # images generated per progress-bar tick; output does not depend on it


def to_tensor_image(image: np.ndarray) -> torch.Tensor:
    """uint8 (H, W, 3) -> float (3, H, W) in [-1, 1]."""
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).float().div(127.5).sub(1.0)


def to_uint8_image(x: torch.Tensor) -> torch.Tensor:
    """float (..., 3, H, W) in [-1, 1] -> uint8 (..., 3, H, W), rounded and clamped (the PNG convention)."""
    return (x * 127.5 + 127.5).round().clamp(0, 255).to(torch.uint8)


class SplitDataset(Dataset):
    """One materialised split (`<data>/<set>/<split>/`), in either storage layout."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        meta_path = self.root.parent / "meta.json"
        if not meta_path.is_file():
            raise FileNotFoundError(f"'{meta_path}' not found: run the data stage first (`dvc repro data`)")
        self.meta = json.loads(meta_path.read_text())
        self.resolution = int(self.meta["resolution"])
        if (self.root / "images.npy").is_file():
            # Memory-mapped so DataLoader workers share pages instead of copying the split.
            self.images = np.load(self.root / "images.npy", mmap_mode="r")
            self.labels = np.load(self.root / "labels.npy")
            masks = self.root / "masks.npy"
            self.masks = np.load(masks, mmap_mode="r") if masks.is_file() else None
            self.records = None
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


def open_split(data_root: str | Path, dataset: str, split: str) -> SplitDataset:
    """The split `<data_root>/<dataset>/<split>` as a Dataset."""
    return SplitDataset(Path(data_root) / dataset / split)


def open_union(data_root: str | Path, datasets: tuple[str, ...], split: str) -> Dataset:
    """Several sets' splits concatenated (e.g. the autoencoders' training union); items keep their own labels."""
    parts = [open_split(data_root, name, split) for name in datasets]
    return parts[0] if len(parts) == 1 else ConcatDataset(parts)


# ---------------------------------------------------------------------------------------------
# The stage
# ---------------------------------------------------------------------------------------------


def _materialise_embedded(name: str, ds: DatasetCfg, cfg: DataCfg, seed: int, out: Path) -> dict:
    knobs = getattr(cfg, ds.kind)
    counts = {}
    for split, n in (("train", ds.num_train), ("eval", ds.num_eval)):
        parts = []
        with tqdm(total=n, desc=f"data {name}/{split}", unit="img") as bar:
            for start in range(0, n, GEN_CHUNK):
                count = min(GEN_CHUNK, n - start)
                parts.append(embedded.generate(ds.kind, count, cfg.resolution, seed, split, knobs, start=start))
                bar.update(count)
        images, labels, masks = (np.concatenate(a) for a in zip(*parts, strict=True))
        write_npy(out / split / "images.npy", images)
        write_npy(out / split / "labels.npy", labels.astype(np.int64))
        write_npy(out / split / "masks.npy", masks)
        counts[split] = n
    gen = embedded.GENERATORS[ds.kind]
    return {
        "label_names": list(embedded.label_names(ds.kind, knobs)),
        "mask_names": list(gen.mask_names),
        "mask_level": gen.mask_level,
        "counts": counts,
        "storage": "arrays",
    }


def _subsample(records: list, n: int, rng: np.random.Generator) -> list:
    """`n` records chosen by a seeded draw, kept in scan order (0 = all)."""
    if n == 0 or n >= len(records):
        return records
    keep = np.sort(rng.choice(len(records), size=n, replace=False))
    return [records[i] for i in keep]


def _materialise_real(name: str, ds: DatasetCfg, seed: int, out: Path) -> dict:
    rng = np.random.default_rng([seed, 7])
    official = folders.official_splits(ds.kind)  # ("train", "val"), or () for a single pool of images
    if not official:
        # CelebA-HQ has no official split: permute once, eval first (fixed size), train from the rest,
        # so the two are disjoint by construction.
        every = folders.scan(ds.kind, ds.root, None)
        order = rng.permutation(len(every))
        n_eval = ds.num_eval or max(1, len(every) // 10)
        splits = {
            "eval": [every[i] for i in np.sort(order[:n_eval])],
            "train": _subsample([every[i] for i in np.sort(order[n_eval:])], ds.num_train, rng),
        }
    else:
        splits = {
            "train": _subsample(folders.scan(ds.kind, ds.root, official[0]), ds.num_train, rng),
            "eval": _subsample(folders.scan(ds.kind, ds.root, official[1]), ds.num_eval, rng),
        }
    for split, records in splits.items():
        if not records:
            raise ValueError(f"dataset '{name}' ({ds.kind} at '{ds.root}') has no images for split '{split}'")
        lines = "".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in records)
        with atomic_path(out / split / "records.jsonl") as tmp:
            tmp.write_text(lines)
    labels = sorted({r.label for r in splits["train"]})
    return {
        "label_names": [str(i) for i in range(max(labels) + 1)] if labels else [],
        "mask_names": list(folders.MASK_NAMES.get(ds.kind, ())),
        "mask_level": MASK_LEVEL[ds.kind],
        "counts": {s: len(r) for s, r in splits.items()},
        "storage": "records",
    }


def materialise(name: str, ds: DatasetCfg, cfg: DataCfg, seed: int, data_root: Path) -> dict:
    """Write one dataset's splits and `meta.json` under `data_root/name`; returns the meta."""
    out = data_root / name
    if ds.kind in EMBEDDED_KINDS:
        info = _materialise_embedded(name, ds, cfg, seed, out)
    else:
        info = _materialise_real(name, ds, seed, out)
    meta = {"name": name, "kind": ds.kind, "resolution": cfg.resolution, "seed": seed, **info}
    meta["num_classes"] = len(meta["label_names"])
    write_json(out / "meta.json", meta)
    return meta


def check_sources(cfg: DataCfg) -> None:
    """Fail before any work if a real dataset's folder is missing."""
    for name, ds in cfg.sets.items():
        if ds.kind not in EMBEDDED_KINDS and not Path(ds.root).is_dir():
            raise FileNotFoundError(
                f"data.sets.{name}.root = '{ds.root}' is not a folder: symlink your {ds.kind} copy there "
                f"(e.g. `ln -s /datasets/{ds.kind} {ds.root}`) or drop '{name}' from data.sets"
            )


def main(params: Params) -> None:
    check_sources(params.data)
    record = StageRecord()
    root = Path(params.paths.data)
    summary = {name: materialise(name, ds, params.data, params.seed, root) for name, ds in params.data.sets.items()}
    counts = {name: m["counts"] for name, m in summary.items()}
    record.write(root / "_stage", {"seed": params.seed, "data": params.data}, counts=counts)


if __name__ == "__main__":
    main(load_params())
