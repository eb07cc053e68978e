"""The `data` stage, and the dataset every later stage reads its images from.

Run: `python -m bench.data` (DVC stage `data`). For each dataset named under `data.sets` it writes
`<paths.data>/<set>/` with `meta.json` (kind, resolution, label and mask names, counts) and one
folder per split of `bench.layout.SPLITS` (train, val, judge, eval; pairwise disjoint):

- embedded sets (`shapes`, `faces`) are generated (deterministic from `seed`) and stored as
  arrays: `images.npy` uint8 (N, H, W, 3), `labels.npy` int64 (N,), `masks.npy` uint8 (N, H, W);
- real sets (ImageNet, CelebA-HQ, ADE20K, CelebAMask-HQ) are too large to copy, so the split is a
  manifest `records.jsonl` of local files, decoded and ADM centre-cropped on read. val and judge
  are carved from the training pool (see `_materialise_real`).

`bench.splits.SplitDataset` reads either layout. The stage's own record (wall time, git SHA) goes to
`<runs>/records/data/meta.json`, outside the data folder that every later stage depends on, so re-running the stage
on unchanged params leaves the folder's hash, and everything downstream, as it was.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
from tqdm import tqdm

from bench import embedded, folders, layout
from bench.config import EMBEDDED_KINDS, DataCfg, DatasetCfg, Params, load_params
from bench.outputs import StageRecord, atomic_path, write_json, write_npy

MASK_LEVEL = {"imagenet": None, "celebahq": None, "ade20k": "object", "celebamaskhq": "part"}
GEN_CHUNK = 256  # images generated per progress-bar tick; output does not depend on it


def _materialise_embedded(name: str, ds: DatasetCfg, cfg: DataCfg, seed: int, out: Path) -> dict:
    knobs = getattr(cfg, ds.kind)
    sizes = {"train": ds.num_train, "val": ds.num_val, "judge": ds.num_judge, "eval": ds.num_eval}
    counts = {}
    for split in layout.SPLITS:  # each split has its own random stream, so the four never share an image
        n = sizes[split]
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


def _carve(name: str, pool: list, ds: DatasetCfg, rng: np.random.Generator) -> dict[str, list]:
    """Split a training pool into val, judge and train by one seeded permutation.

    val takes the first `num_val` places of the permutation, judge the next `num_judge`, train the
    rest (subsampled to `num_train`), so the three are disjoint by construction; each keeps scan order.
    """
    n_val, n_judge = ds.num_val, ds.num_judge
    if n_val + n_judge >= len(pool):
        raise ValueError(
            f"dataset '{name}' has {len(pool)} training images, too few to carve num_val={n_val} and "
            f"num_judge={n_judge} and keep a train split: lower data.sets.{name}.num_val / num_judge"
        )
    order = rng.permutation(len(pool))

    def pick(idx: np.ndarray) -> list:
        return [pool[i] for i in np.sort(idx)]

    return {
        "val": pick(order[:n_val]),
        "judge": pick(order[n_val : n_val + n_judge]),
        "train": _subsample(pick(order[n_val + n_judge :]), ds.num_train, rng),
    }


def _materialise_real(name: str, ds: DatasetCfg, seed: int, out: Path) -> dict:
    rng = np.random.default_rng([seed, 7])
    official = folders.official_splits(ds.kind)  # ("train", "val"), or () for a single pool of images
    if not official:
        # CelebA-HQ has no official split: permute once, eval first (fixed size), and carve val, judge and
        # train from the rest, so all four are disjoint by construction.
        every = folders.scan(ds.kind, ds.root, None)
        order = rng.permutation(len(every))
        n_eval = ds.num_eval or max(1, len(every) // 10)
        rest = [every[i] for i in np.sort(order[n_eval:])]
        splits = {"eval": [every[i] for i in np.sort(order[:n_eval])], **_carve(name, rest, ds, rng)}
    else:
        # The official validation set is the eval split; val and judge come out of the official train set.
        splits = _carve(name, folders.scan(ds.kind, ds.root, official[0]), ds, rng)
        splits["eval"] = _subsample(folders.scan(ds.kind, ds.root, official[1]), ds.num_eval, rng)
    splits = {split: splits[split] for split in layout.SPLITS}
    for split, records in splits.items():
        if not records:
            raise ValueError(f"dataset '{name}' ({ds.kind} at '{ds.root}') has no images for split '{split}'")
        lines = "".join(json.dumps(dataclasses.asdict(r)) + "\n" for r in records)
        with atomic_path(out / split / "records.jsonl") as tmp:
            tmp.write_text(lines)
    labels = sorted({r.label for records in splits.values() for r in records})  # a class may miss a small split
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
    write_json(layout.dataset_meta(data_root, name), meta)
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
    records = layout.record_dir(params.paths, "data")  # params.json too: the data folder holds data alone
    record.write(records, records, {"seed": params.seed, "data": params.data}, counts=counts)


if __name__ == "__main__":
    main(load_params())
