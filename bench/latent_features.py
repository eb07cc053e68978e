"""What the `compress@NAME` and `compress_raw` stages share: per-position features -> σ², ρ, k-means and PCA maps.

Not a stage itself. `autoencoders.compress` (an autoencoder's posterior means) and `bench.compress_raw` (the raw
pixels on the same grid) differ only in the function that turns a batch of images into features; everything
else (which images, which masks, standardisation, the measures and the files written) lives here once, so the
two stages are measured identically. The measures are defined in `bench.compression`.

Choices where the paper is silent:
- Images: the first `analysis.compress.images` images of each set's eval split, the same for every item.
- Standardisation: every feature channel is centred and divided by its mean and std over all grid positions
  of the images evaluated in that set (N·h·w values per channel). Each autoencoder is thus measured in its own
  units, and the stage depends on nothing but the trained model and the data (extract's `stats.json` covers
  only the train split of the generation sets). A channel that is constant everywhere (std 0) is only centred.
- Unlabelled ids: mask ids in `UNLABELLED_IDS[kind]` become -1 on the grid and are left out of every measure.
  Only ADE20K has one (id 0 "other"); CelebAMask-HQ's id 0 "background" is a real region, and every id of the
  embedded sets (`shapes` stuff and things, `faces` parts and background) is a real segment.

Outputs (per set SET, written by `write_outputs`):
- `metrics.json`: {SET: {"level", "sigma2", "sigma2_ci": [lo, hi], "rho", "rho_ci", "n_images", "n_rho",
  "n_sigma2", "grid": [h, w], "channels"}};
- `per_image.npz`: f"{SET}/index" eval indices, f"{SET}/sigma2", f"{SET}/rho" (N,) float64 (NaN where undefined),
  f"{SET}/mean", f"{SET}/std" (C,) the standardisation statistics;
- `maps.npz`: f"{SET}/images" uint8 (K, H, W, 3), f"{SET}/masks" int64 (K, h, w) (-1 = unlabelled),
  f"{SET}/kmeans{k}" int64 (K, h, w), f"{SET}/pca" float32 (K, h, w, 3) in [0, 1]; K = `kmeans_images`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench import layout
from bench.compression import compression_stats, downsample_mask, kmeans_maps, pca_rgb
from bench.config import CompressCfg
from bench.images import to_hwc_uint8
from bench.outputs import atomic_path, write_json
from bench.splits import SplitDataset, open_split

UNLABELLED_IDS: dict[str, tuple[int, ...]] = {"ade20k": (0,)}  # dataset kind -> mask ids that mean "no label"
BATCH = 32  # images per featurise call; only memory depends on it
STANDARDISATION = "per channel, mean and std over all grid positions of the images evaluated in each set"

Featurise = Callable[[torch.Tensor], np.ndarray]  # (B, 3, H, W) in [-1, 1] -> (B, h, w, C)


def open_masked_sets(data: layout.Root, cfg: CompressCfg) -> dict[str, SplitDataset]:
    """Each set of `cfg.sets` as its eval split, failing before any work if one has no (or other-level) masks.

    Raises:
        ValueError: a set without segmentation masks (e.g. ImageNet), or whose masks are of another level.
    """
    splits = {}
    for name, level in cfg.sets.items():
        split = open_split(data, name, "eval")
        have = split.meta.get("mask_level")
        if have is None or not split.meta.get("mask_names"):
            raise ValueError(
                f"analysis.compress.sets names '{name}' ({split.meta.get('kind')}), which has no segmentation masks: "
                "σ² and ρ need ground-truth segments, so choose a set with masks (e.g. ade20k, celebamaskhq, shapes, "
                "faces)"
            )
        if have != level:
            raise ValueError(f"analysis.compress.sets.{name} is '{level}', but '{name}' has {have}-level masks")
        splits[name] = split
    return splits


def record_extras(splits: dict[str, SplitDataset]) -> dict:
    """What both stages' meta.json say about the features' treatment: standardisation and dropped mask ids."""
    dropped = {name: list(UNLABELLED_IDS.get(split.meta["kind"], ())) for name, split in splits.items()}
    return {"standardisation": STANDARDISATION, "unlabelled_ids": dropped}


def check_grid(side: int, cfg: CompressCfg) -> None:
    """Fail before any work if a k-means k exceeds the positions of the h = w = `side` latent grid."""
    too_big = [k for k in cfg.kmeans_ks if k > side * side]
    if too_big:
        raise ValueError(f"analysis.compress.kmeans_ks {too_big} exceed the {side}x{side} = {side * side} positions")


def grid_labels(masks: np.ndarray, side: int, unlabelled: tuple[int, ...]) -> np.ndarray:
    """(N, H, W) mask ids -> (N, side, side) int64 segment labels on the latent grid, -1 where unlabelled."""
    labels = np.stack([downsample_mask(m, side, side) for m in masks]).astype(np.int64)
    labels[np.isin(labels, unlabelled)] = -1
    return labels


def standardise(feats: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel standardisation over every position of every image.

    Args:
        feats: (N, h, w, C) features.

    Returns:
        standardised (N, h, w, C) float64, mean (C,), std (C,) (0 for a constant channel, which is only centred).
    """
    flat = feats.reshape(-1, feats.shape[-1]).astype(np.float64)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    return (feats - mean) / np.where(std > 0, std, 1.0), mean, std


def featurise_split(split: SplitDataset, count: int, featurise: Featurise, desc: str):
    """The first `count` eval images through `featurise`.

    Returns:
        images uint8 (N, H, W, 3), masks (N, H, W), features (N, h, w, C) float64.
    """
    images, masks, feats = [], [], []
    with tqdm(total=count, desc=desc, unit="img") as bar:
        for start in range(0, count, BATCH):
            items = [split[i] for i in range(start, min(start + BATCH, count))]
            x = torch.stack([it["image"] for it in items])  # (B, 3, H, W)
            feats.append(np.asarray(featurise(x), dtype=np.float64))
            images.append(to_hwc_uint8(x))
            masks.append(np.stack([it["mask"].numpy() for it in items]))
            bar.update(len(items))
    return np.concatenate(images), np.concatenate(masks), np.concatenate(feats)


def measure_set(
    split: SplitDataset, level: str, cfg: CompressCfg, featurise: Featurise, side: int, seed: int, desc: str
) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """σ², ρ and maps of one set.

    Args:
        split: the set's eval split (with masks).
        level: "object" or "part" (reported as is).
        cfg: `analysis.compress`.
        featurise: (B, 3, H, W) images in [-1, 1] -> (B, side, side, C) features.
        side: latent grid side h = w.
        seed: seed of the bootstrap, k-means and PCA.
        desc: progress-bar label.

    Returns:
        metrics (one entry of metrics.json), per-image arrays, maps (keys without the set prefix).
    """
    count = min(cfg.images, len(split))
    images, masks, raw = featurise_split(split, count, featurise, desc)
    if raw.shape[1:3] != (side, side):
        raise ValueError(f"features are on a {raw.shape[1]}x{raw.shape[2]} grid, expected {side}x{side}")
    feats, mean, std = standardise(raw)
    labels = grid_labels(masks, side, UNLABELLED_IDS.get(split.meta["kind"], ()))
    bandwidth = "median" if cfg.bandwidth == 0 else cfg.bandwidth
    stats = compression_stats(
        list(zip(feats, labels, strict=True)),
        cfg.min_pixels,
        cfg.kernel,
        bandwidth,
        cfg.reduce,
        cfg.n_boot,
        cfg.ci_level,
        seed=seed,
    )
    metrics = {
        "level": level,
        "sigma2": stats["sigma2"],
        "sigma2_ci": list(stats["sigma2_ci"]),
        "rho": stats["rho"],
        "rho_ci": list(stats["rho_ci"]),
        "n_images": count,
        "n_rho": stats["n_rho"],
        "n_sigma2": stats["n_sigma2"],
        "grid": [side, side],
        "channels": int(feats.shape[-1]),
    }
    per_image = {
        "index": np.arange(count, dtype=np.int64),
        "sigma2": stats["sigma2_per_image"],
        "rho": stats["rho_per_image"],
        "mean": mean,
        "std": std,
    }
    k_img = min(cfg.kmeans_images, count)
    maps = {"images": images[:k_img], "masks": labels[:k_img]}
    clusters = [kmeans_maps(f, cfg.kmeans_ks, cfg.kmeans_n_init, seed) for f in feats[:k_img]]
    for k in cfg.kmeans_ks:
        maps[f"kmeans{k}"] = np.stack([c[k] for c in clusters]).astype(np.int64)
    maps["pca"] = np.stack([pca_rgb(f, seed) for f in feats[:k_img]]).astype(np.float32)
    return metrics, per_image, maps


def measure_sets(
    splits: dict[str, SplitDataset], cfg: CompressCfg, featurise: Featurise, side: int, seed: int, tag: str
) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`measure_set` over every set; returns metrics {SET: ...} and per-image / map arrays keyed f"{SET}/{what}"."""
    metrics, per_image, maps = {}, {}, {}
    for name, split in splits.items():
        m, p, mp = measure_set(split, cfg.sets[name], cfg, featurise, side, seed, f"{tag} {name}")
        metrics[name] = m
        per_image.update({f"{name}/{k}": v for k, v in p.items()})
        maps.update({f"{name}/{k}": v for k, v in mp.items()})
    return metrics, per_image, maps


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Compressed .npz, atomically (an open handle, so numpy does not append a second suffix to the temp name)."""
    with atomic_path(path) as tmp, tmp.open("wb") as f:
        np.savez_compressed(f, **arrays)


def write_outputs(out: Path, metrics: dict, per_image: dict[str, np.ndarray], maps: dict[str, np.ndarray]) -> None:
    """metrics.json, per_image.npz and maps.npz under `out`."""
    write_npz(out / "per_image.npz", per_image)
    write_npz(out / "maps.npz", maps)
    write_json(out / layout.METRICS_FILE, metrics)
