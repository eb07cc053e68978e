"""Latent files of the extract stage, their per-channel statistics, normalisation, and the DiT's training dataset.

Layout of `<runs>/extract/NAME/<dataset>/` (written by `diffusion.extract`, read by `diffusion.train` and
`diffusion.sample`):

    latents.npy        float32 (N, C, h, w) posterior means, or (N, 2C, h, w) mean || logvar ("moments")
    latents_flip.npy   the same for the horizontally flipped images (when `diffusion.extract.flip`)
    labels.npy         int64 (N,) class labels of the images
    stats.json         {"mean": [C], "std": [C], "layout", "count", "seed"}: per-channel statistics

Normalisation mismatches between training and sampling silently ruin generation, so there is exactly one pair
`normalise` / `denormalise`, and one reader `load_stats` that also returns the file's SHA-256: training records it
with the model and sampling refuses a model trained on other statistics.

Arrays too large for one process's memory are written through `create_array` / `publish_arrays`: rank 0 makes a
memory-mapped `.NAME.partial` file, every rank fills its own rows, and rank 0 renames it into place at the end, so a
crash never leaves a file that looks complete.

Import only; nothing to run.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch.utils.data import Dataset

from bench.dist import DistInfo, barrier
from bench.layout import FLIP_FILE, LABELS_FILE, LATENTS_FILE
from bench.outputs import write_json
from bench.posterior import Posterior

Layout = Literal["mean", "moments"]
STATS_CHUNK = 256  # latents read per step while computing statistics (fixed: the moments draw depends on it)


@dataclass(frozen=True)
class LatentStats:
    """Per-channel statistics of one latent set, as read from its `stats.json`.

    Attributes:
        mean: (C,) float32 per-channel mean.
        std: (C,) float32 per-channel standard deviation.
        layout: "mean" (C stored channels) or "moments" (2C: mean || logvar, re-sampled at every fetch).
        sha256: hex digest of the stats file's bytes, recorded by training and checked by sampling.
    """

    mean: torch.Tensor
    std: torch.Tensor
    layout: Layout
    sha256: str

    @property
    def channels(self) -> int:
        return int(self.mean.numel())


def normalise(z: torch.Tensor, stats: LatentStats) -> torch.Tensor:
    """Autoencoder latents -> the DiT's space: `(z - mean_c) / std_c`.

    Args:
        z: (..., C, h, w) unnormalised latents.
        stats: the statistics of the latent set.

    Returns:
        (..., C, h, w) normalised latents, same dtype and device as `z`.
    """
    mean = stats.mean.to(z.device, z.dtype)[:, None, None]  # (C, 1, 1)
    std = stats.std.to(z.device, z.dtype)[:, None, None]  # (C, 1, 1)
    return (z - mean) / std


def denormalise(x: torch.Tensor, stats: LatentStats) -> torch.Tensor:
    """The inverse of `normalise`: `x * std_c + mean_c`, (..., C, h, w) -> (..., C, h, w)."""
    mean = stats.mean.to(x.device, x.dtype)[:, None, None]  # (C, 1, 1)
    std = stats.std.to(x.device, x.dtype)[:, None, None]  # (C, 1, 1)
    return x * std + mean


def draw(stored: torch.Tensor, layout: Layout, generator: torch.Generator | None = None) -> torch.Tensor:
    """Stored rows -> latents: the rows themselves, or a fresh z = mu + sigma * eps for "moments".

    Args:
        stored: (B, C, h, w) means, or (B, 2C, h, w) mean || logvar.
        layout: which of the two `stored` holds.
        generator: RNG for eps; the global RNG when None.

    Returns:
        (B, C, h, w) latents.
    """
    return Posterior.from_moments(stored).sample(generator) if layout == "moments" else stored


def compute_stats(latents: np.ndarray, layout: Layout, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and (unbiased) std over `count` latents chosen with a seeded RNG (the release's recipe).

    Args:
        latents: (N, C or 2C, h, w) stored latents (typically memory-mapped).
        layout: "moments" draws z = mu + sigma * eps (seeded) before measuring, as the release does.
        count: how many latents to use (all of them when N is smaller).
        seed: seeds both the subset and the eps draws.

    Returns:
        (mean, std), each (C,) float64, reduced over images and positions.
    """
    n = len(latents)
    count = min(count, n)
    subset = np.sort(np.random.default_rng(seed).choice(n, size=count, replace=False))
    gen = torch.Generator().manual_seed(seed)
    total = sq = None
    for start in range(0, count, STATS_CHUNK):
        rows = torch.from_numpy(np.asarray(latents[subset[start : start + STATS_CHUNK]], dtype=np.float32))
        z = draw(rows, layout, gen).double()  # (b, C, h, w)
        s, q = z.sum(dim=(0, 2, 3)), z.square().sum(dim=(0, 2, 3))  # (C,) each
        total, sq = (s, q) if total is None else (total + s, sq + q)
    m = count * latents.shape[2] * latents.shape[3]  # values per channel
    mean = total / m
    var = (sq - m * mean.square()) / (m - 1)
    return mean.numpy(), var.clamp_min(0).sqrt().numpy()


def write_stats(path: str | Path, mean: np.ndarray, std: np.ndarray, layout: Layout, count: int, seed: int) -> None:
    """Write `stats.json` (floats as JSON numbers: exact round trip)."""
    if (std <= 0).any():
        raise ValueError(f"latent channels {np.flatnonzero(std <= 0).tolist()} are constant: the autoencoder collapsed")
    payload = {"mean": mean.tolist(), "std": std.tolist(), "layout": layout, "count": count, "seed": seed}
    write_json(path, payload)


def load_stats(path: str | Path) -> LatentStats:
    """Read a `stats.json` written by the extract stage (the one reader used by training and sampling).

    Raises:
        FileNotFoundError: no stats file (run the extract stage first).
    """
    path = Path(path)
    if not path.is_file():
        item = path.parent.parent.name  # <runs>/extract/<item>/<dataset>/stats.json
        raise FileNotFoundError(f"latent statistics '{path}' not found: run `dvc repro extract@{item}` first")
    raw = path.read_bytes()
    data = json.loads(raw)
    return LatentStats(
        mean=torch.tensor(data["mean"], dtype=torch.float32),
        std=torch.tensor(data["std"], dtype=torch.float32),
        layout=data["layout"],
        sha256=hashlib.sha256(raw).hexdigest(),
    )


class LatentDataset(Dataset):
    """Normalised latents of one extract folder, for DiT training.

    Each fetch picks the flipped or unflipped latent with p = 0.5 and, for "moments", draws z = mu + sigma * eps;
    both use the global torch RNG, which `bench.loop.train` seeds and restores on resume.

    Items: `{"latent": (C, h, w) float32 normalised, "label": () int64}`.
    """

    def __init__(self, folder: str | Path, stats: LatentStats, use_flip: bool) -> None:
        folder = Path(folder)
        # Memory-mapped: the latents of a large dataset never need to fit in memory, and workers share pages.
        self.latents = np.load(folder / LATENTS_FILE, mmap_mode="r")
        self.flipped = np.load(folder / FLIP_FILE, mmap_mode="r") if use_flip else None
        self.labels = np.load(folder / LABELS_FILE)
        self.stats = stats
        stored = stats.channels * (2 if stats.layout == "moments" else 1)
        if self.latents.shape[1] != stored:
            raise ValueError(f"'{folder}' holds {self.latents.shape[1]} channels; stats.json expects {stored}")

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> dict[str, Any]:
        source = self.flipped if self.flipped is not None and float(torch.rand(())) < 0.5 else self.latents
        stored = torch.from_numpy(np.array(source[i], dtype=np.float32))  # (C or 2C, h, w), copied out of the map
        z = draw(stored[None], self.stats.layout)[0]  # (C, h, w)
        return {"latent": normalise(z, self.stats), "label": torch.tensor(int(self.labels[i]), dtype=torch.long)}


def _partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.partial")


def create_array(path: str | Path, shape: tuple[int, ...], dtype: np.dtype, dist: DistInfo) -> np.memmap:
    """A writable memory-mapped `.npy` that every rank fills in part; call `publish_arrays` when done.

    Args:
        path: the final file; the data goes to a hidden `.partial` sibling until published.
        shape: full array shape.
        dtype: numpy dtype.
        dist: all ranks must call this together (it holds a barrier).
    """
    path = Path(path)
    if dist.is_main:
        path.parent.mkdir(parents=True, exist_ok=True)
        array = np.lib.format.open_memmap(_partial(path), mode="w+", dtype=dtype, shape=shape)
        array.flush()
    barrier(dist)
    if not dist.is_main:
        array = np.load(_partial(path), mmap_mode="r+")
    return array


def publish_arrays(arrays: dict[Path, np.memmap], dist: DistInfo) -> None:
    """Flush every rank's rows, then rank 0 renames each `.partial` file onto its final name (all ranks call it)."""
    for array in arrays.values():
        array.flush()
    barrier(dist)
    if dist.is_main:
        for path in arrays:
            os.chmod(_partial(path), 0o644)
            os.replace(_partial(path), path)
    barrier(dist)
