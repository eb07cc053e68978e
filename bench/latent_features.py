"""What the `compress@NAME` and `compress_raw` stages share: per-position features -> σ², ρ, k-means and PCA maps.

Not a stage itself. `autoencoders.compress` (an autoencoder's posterior means) and `bench.compress_raw` (the raw
pixels on the same grid) differ only in the function that turns a batch of images into features; everything
else (which images, which masks, standardisation, the measures and the files written) lives here once, so the
two stages are measured identically. The measures are defined in `bench.compression`.

Choices where the paper is silent:
- Images: the first `analysis.compress.images` images of each set's eval split, the same for every item. With
  `analysis.compress.upscale` above 1 they are rendered at data.resolution x upscale (`RenderedSplit`; embedded sets
  only) and encoded so by the models trained at data.resolution (the paper encodes at 256 px what it trained at
  128 and 256): at 32 px a face part spans a few pixels and no part owns a cell of the f8 grid. Each stage records
  how well its model reconstructs at that resolution, which says whether its latents still mean something there.
- Normalisation (`analysis.compress.normalise`, `normalise`): every feature channel is centred over all grid
  positions of the images evaluated in that set (N·h·w values per channel), then "channel" divides each by its own
  std, "global" (the default) all by one scale, the root of the channels' mean variance. Per-channel
  standardisation turns a collapsed channel (a VAE channel at its prior) into unit-variance noise that dominates
  sigma^2 and rho; one scale keeps the channels' relative variances. Either way each autoencoder is measured in
  its own units, and the stage depends on nothing but the trained model and the data.
- Cell labels (`cell_labels`, `purity`): "majority" gives a latent cell the id most of its f x f pixels carry, and
  leaves it out when that id covers less than `purity` of them; "centre" takes the pixel at the cell centre
  (the release's PIL NEAREST resize). Each set's metrics record the mean purity of the labelled cells, the share
  of cells labelled, the segments kept per image, and the median pixel area of the mask's segments against the
  f^2 pixels of one cell: a part smaller than a cell cannot own one, and the part level is then not measured.
- The raw reference (`compress_raw`, `raw_mode: pca`): each cell's f x f x 3 pixels projected to the latents'
  channel count by PCA over the set, so pixels and latents are compared at one dimension (`project`).
- Unlabelled ids: mask ids in `UNLABELLED_IDS[kind]` become -1 on the grid and are left out of every measure.
  Only ADE20K has one (id 0 "other"); CelebAMask-HQ's id 0 "background" is a real region, and every id of the
  embedded sets (`shapes` stuff and things, `faces` parts and background) is a real segment.

Outputs (per set SET, written by `write_outputs`):
- `metrics.json`: {SET: {"level", "sigma2", "sigma2_ci": [lo, hi], "rho", "rho_ci", "n_images", "n_rho",
  "n_sigma2", "grid": [h, w], "channels", "normalise", "cell_labels", "purity", "segment_pixels_median",
  "cell_pixels", "segments_owning_a_cell", "segments_per_image", "cells_labelled"}};
- `per_image.npz`: f"{SET}/index" eval indices, f"{SET}/sigma2", f"{SET}/rho" (N,) float64 (NaN where undefined),
  f"{SET}/mean", f"{SET}/std" (C,) the normalisation's centre and divisor per channel;
- `maps.npz`: f"{SET}/images" uint8 (K, H, W, 3), f"{SET}/masks" int64 (K, h, w) (-1 = unlabelled),
  f"{SET}/kmeans{k}" int64 (K, h, w), f"{SET}/pca" float32 (K, h, w, 3) in [0, 1]; K = `kmeans_images`.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from sklearn.decomposition import PCA
from torch.utils.data import Dataset
from tqdm import tqdm

from bench import embedded, layout
from bench.compression import cell_labels, compression_stats, kmeans_maps, pca_rgb
from bench.config import EMBEDDED_KINDS, CompressCfg, Params
from bench.images import to_hwc_uint8, to_tensor_image
from bench.outputs import atomic_path, write_json
from bench.splits import SplitDataset, open_split

UNLABELLED_IDS: dict[str, tuple[int, ...]] = {"ade20k": (0,)}  # dataset kind -> mask ids that mean "no label"
BATCH = 32  # images per featurise call; only memory depends on it
MAX_RENDERED = 256  # px: the paper's resolution; above it a conv model's activations outgrow a CPU's memory
NORMALISATION = {  # what meta.json says, per `analysis.compress.normalise`
    "channel": "per channel: centred, divided by its std over all grid positions of the images evaluated in each set",
    "global": "centred per channel, all channels divided by one scale, the root of their mean variance over all grid "
    "positions of the images evaluated in each set",
}

Featurise = Callable[[torch.Tensor], np.ndarray]  # (B, 3, H, W) in [-1, 1] -> (B, h, w, C)


class RenderedSplit(Dataset):
    """The first `n` eval images of an embedded set, rendered at `resolution` with their masks.

    The embedded generators are resolution-free (one seed is one image at any resolution), so at the data stage's
    resolution these are the stored eval split's first `n` images, and at a multiple of it the same scenes with
    `upscale`^2 times the pixels. Items as `SplitDataset`'s: {"image": (3, H, W) in [-1, 1], "mask": (H, W) uint8}.
    """

    def __init__(self, stored: SplitDataset, params: Params, n: int, resolution: int) -> None:
        self.meta = {**stored.meta, "resolution": resolution}
        self.n, self.seed, self.knobs = n, params.seed, getattr(params.data, stored.meta["kind"])
        self._arrays: tuple[np.ndarray, np.ndarray] | None = None  # rendered on first use, after the stages' checks

    @staticmethod
    def check_renders(stored: SplitDataset, params: Params) -> None:
        """Fail before any work unless `params` render `stored`'s first image, bytes for bytes, at its resolution.

        The stored split was made by the data stage from its own seed and generator knobs; rendering finer with
        other ones would measure other scenes than the masks and models were judged on. One image at the stored
        resolution costs milliseconds.

        Raises:
            ValueError: the split's seed or pixels differ from what `params` render.
        """
        kind, name = stored.meta["kind"], stored.meta.get("name", stored.meta["kind"])
        if stored.meta.get("seed") != params.seed:
            raise ValueError(
                f"the stored eval split of '{name}' was made with seed {stored.meta.get('seed')}, params say "
                f"{params.seed}: re-run the data stage (dvc repro data) before rendering it at a higher resolution"
            )
        image, _, _ = embedded.generate(kind, 1, stored.resolution, params.seed, "eval", getattr(params.data, kind))
        if not np.array_equal(image[0], np.asarray(stored.images[0])):  # embedded splits are stored as arrays
            raise ValueError(
                f"the stored eval split of '{name}' is not what data.{kind} renders now (its first image differs): "
                "re-run the data stage (dvc repro data) before rendering it at a higher resolution"
            )

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """images uint8 (n, H, W, 3) and masks uint8 (n, H, W)."""
        if self._arrays is None:
            kind, res = self.meta["kind"], self.meta["resolution"]
            images, _, masks = embedded.generate(kind, self.n, res, self.seed, "eval", self.knobs)
            self._arrays = images, masks
        return self._arrays

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        images, masks = self.arrays()
        return {"image": to_tensor_image(images[i]), "mask": torch.from_numpy(masks[i])}


def open_masked_sets(params: Params) -> dict[str, SplitDataset | RenderedSplit]:
    """Each set of `analysis.compress.sets` as its eval split, rendered at data.resolution x `upscale` when that is
    above 1, failing before any work if a set has no (or other-level) masks or cannot be rendered.

    Raises:
        ValueError: a set without segmentation masks (e.g. ImageNet), whose masks are of another level, or a set of
            files (not an embedded generator) with `upscale` above 1.
    """
    cfg = params.analysis.compress
    res = params.data.resolution * cfg.upscale
    if cfg.upscale > 1 and res > MAX_RENDERED:
        raise ValueError(
            f"analysis.compress.upscale {cfg.upscale} x data.resolution {params.data.resolution} renders the sets at "
            f"{res} px, above the paper's {MAX_RENDERED}: lower analysis.compress.upscale to "
            f"{max(1, MAX_RENDERED // params.data.resolution)}"
        )
    stored = {}
    for name, level in cfg.sets.items():
        split = open_split(params.paths, name, "eval")
        have = split.meta.get("mask_level")
        if have is None or not split.meta.get("mask_names"):
            raise ValueError(
                f"analysis.compress.sets names '{name}' ({split.meta.get('kind')}), which has no segmentation masks: "
                "σ² and ρ need ground-truth segments, so choose a set with masks (e.g. ade20k, celebamaskhq, shapes, "
                "faces)"
            )
        if have != level:
            raise ValueError(f"analysis.compress.sets.{name} is '{level}', but '{name}' has {have}-level masks")
        if cfg.upscale > 1 and split.meta["kind"] not in EMBEDDED_KINDS:
            raise ValueError(
                f"analysis.compress.upscale is {cfg.upscale}, but '{name}' ({split.meta['kind']}) is a set of files "
                "at data.resolution, which cannot be rendered larger: set analysis.compress.upscale to 1"
            )
        stored[name] = split
    if cfg.upscale == 1:
        return stored
    for split in stored.values():
        RenderedSplit.check_renders(split, params)
    return {name: RenderedSplit(split, params, min(cfg.images, len(split)), res) for name, split in stored.items()}


def record_extras(splits: dict[str, SplitDataset | RenderedSplit]) -> dict:
    """What both stages' meta.json say about the features' treatment: dropped mask ids (normalisation: see
    `NORMALISATION`, recorded by the stages with their config)."""
    dropped = {name: list(UNLABELLED_IDS.get(split.meta["kind"], ())) for name, split in splits.items()}
    return {"unlabelled_ids": dropped}


def check_grid(side: int, cfg: CompressCfg) -> None:
    """Fail before any work if a k-means k exceeds the positions of the h = w = `side` latent grid."""
    too_big = [k for k in cfg.kmeans_ks if k > side * side]
    if too_big:
        raise ValueError(f"analysis.compress.kmeans_ks {too_big} exceed the {side}x{side} = {side * side} positions")


def grid_labels(
    masks: np.ndarray, side: int, unlabelled: tuple[int, ...], rule: str, purity: float
) -> tuple[np.ndarray, np.ndarray]:
    """(N, H, W) mask ids -> (N, side, side) int64 segment labels on the latent grid (-1 where unlabelled or, under
    "majority", mixed), and (N, side, side) the share of each cell's pixels carrying its label (`cell_labels`)."""
    pairs = [cell_labels(m, side, side, rule, purity) for m in masks]
    labels = np.stack([lab for lab, _ in pairs])
    labels[np.isin(labels, unlabelled)] = -1
    return labels, np.stack([share for _, share in pairs])


def segment_sizes(masks: np.ndarray, labels: np.ndarray, unlabelled: tuple[int, ...], cell: int, min_cells: int):
    """What a latent cell can see of the segments: Fig. 7 at part level is measurable only where parts own cells.

    Args: masks (N, H, W) ids; labels (N, side, side) from `grid_labels`; cell: pixels per latent cell (f^2);
    min_cells: `min_pixels`, the cells a segment needs to count.
    Returns: {"segment_pixels_median": median pixel area of the labelled segments of the masks, "cell_pixels",
    "segments_owning_a_cell": the share of those segments at least one cell large, "segments_per_image": mean
    number of segments kept on the grid (>= min_cells cells), "cells_labelled": share of cells with a label}.
    """
    areas = []
    for m in masks:
        ids, counts = np.unique(m, return_counts=True)
        areas.extend(counts[~np.isin(ids, unlabelled)].tolist())
    kept = []
    for lab in labels:
        ids, counts = np.unique(lab[lab >= 0], return_counts=True)
        kept.append(int((counts >= min_cells).sum()))
    areas = np.asarray(areas, dtype=np.float64)
    return {"segment_pixels_median": float(np.median(areas)), "cell_pixels": int(cell),
            "segments_owning_a_cell": float((areas >= cell).mean()), "segments_per_image": float(np.mean(kept)),
            "cells_labelled": float((labels >= 0).mean())}  # fmt: skip


def normalise(feats: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Centre every channel over every position of every image, then scale.

    Args:
        feats: (N, h, w, C) features.
        mode: "channel": each channel to unit variance (a channel that barely varies, e.g. one a VAE collapsed to
            its prior, is blown up to the weight of an informative one); "global": one scale for all channels, the
            root of their mean variance, so relative channel variances are kept and a dead channel stays near 0.

    Returns:
        normalised (N, h, w, C) float64, mean (C,), scale (C,) the divisor of each channel (0 for a constant
        channel, which is only centred).
    """
    flat = feats.reshape(-1, feats.shape[-1]).astype(np.float64)
    mean, std = flat.mean(axis=0), flat.std(axis=0)
    if mode == "global":
        std = np.full_like(std, np.sqrt(np.mean(std**2)))
    elif mode != "channel":
        raise ValueError(f"normalise must be 'channel' or 'global', got {mode!r}")
    return (feats - mean) / np.where(std > 0, std, 1.0), mean, std


def project(feats: np.ndarray, dims: int, seed: int) -> np.ndarray:
    """(N, h, w, D) -> (N, h, w, dims): the top principal components over every position (scikit-learn PCA), so a
    D-dimensional reference is compared with latents at their own dimension."""
    n, h, w, d = feats.shape
    if not 1 <= dims <= min(d, n * h * w):
        raise ValueError(f"cannot project {d}-dimensional features of {n * h * w} positions to {dims} dimensions")
    pca = PCA(n_components=dims, random_state=seed)
    return pca.fit_transform(feats.reshape(-1, d)).reshape(n, h, w, dims)


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
    split: SplitDataset,
    level: str,
    cfg: CompressCfg,
    featurise: Featurise,
    side: int,
    seed: int,
    desc: str,
    dims: int | None = None,
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
        dims: project the features to this many principal components first (`project`; the raw reference), or None.

    Returns:
        metrics (one entry of metrics.json), per-image arrays, maps (keys without the set prefix).
    """
    count = min(cfg.images, len(split))
    images, masks, raw = featurise_split(split, count, featurise, desc)
    if raw.shape[1:3] != (side, side):
        raise ValueError(f"features are on a {raw.shape[1]}x{raw.shape[2]} grid, expected {side}x{side}")
    if dims is not None:
        raw = project(raw, dims, seed)
    feats, mean, std = normalise(raw, cfg.normalise)
    unlabelled = UNLABELLED_IDS.get(split.meta["kind"], ())
    labels, share = grid_labels(masks, side, unlabelled, cfg.cell_labels, cfg.purity)
    cell = (masks.shape[1] // side) ** 2
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
        "normalise": cfg.normalise,
        "cell_labels": cfg.cell_labels,
        "purity": float(share[labels >= 0].mean()) if (labels >= 0).any() else float("nan"),
        **segment_sizes(masks, labels, unlabelled, cell, cfg.min_pixels),
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
    splits: dict[str, SplitDataset],
    cfg: CompressCfg,
    featurise: Featurise,
    side: int,
    seed: int,
    tag: str,
    dims: int | None = None,
) -> tuple[dict, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """`measure_set` over every set; returns metrics {SET: ...} and per-image / map arrays keyed f"{SET}/{what}"."""
    metrics, per_image, maps = {}, {}, {}
    for name, split in splits.items():
        m, p, mp = measure_set(split, cfg.sets[name], cfg, featurise, side, seed, f"{tag} {name}", dims)
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
