"""The `eval_gen@NAME` stage: generation metrics (gFD/sFD/IS/KID/precision/recall) of autoencoder item NAME's DiTs.

Run: `python -m diffusion.evaluate NAME` (DVC fans it out over `diffusion.items`). For each dataset of
`diffusion.items.NAME`, the images of `<runs>/sample/NAME/<dataset>/samples.npy` go through every evaluation
extractor in use (`bench.features.suite_extractors`: the judge always, Inception-v3 when `metrics.inception` allows
it and its weights are local) and are compared with the dataset's TRAIN-split reference statistics
(`<runs>/reference/<dataset>/train.<extractor>.npz`; ADM's reference batches are training images too). A reference
made by another network or other weights is refused (`bench.metrics.load_reference`).

Writes `<runs>/eval_gen/NAME/`:
- `metrics.json`: {"extractors": {name: identity}, <dataset>: {"fd[judge]", "sfd[judge]", "is[judge]",
  "is_std[judge]", "kid[judge]", "kid_std[judge]", "precision[judge]", "recall[judge]", ["fid[inception]", ...],
  "n_samples", "reference": "train"}}; only {"extractors": ...} for an item without generation datasets;
- `features.npz`: f"{dataset}/{extractor}/{feature}" (N, D) features of the samples and f"{dataset}/swd[pyramid]"
  (N,) the SWD's per-sample pseudo-values (`bench.metrics.pyramid_swd_per_image`), for the intervals stage;
- `params.json`; `<runs>/records/eval_gen/NAME/meta.json` (torch-fidelity version, extractor identities, the KID
  subset size used per dataset).

Estimators (`metrics` params, seeded with `seed`): IS over `is_splits` splits; KID over `kid_subsets` random
subsets of min(kid_subset_size, n_samples, reference size) features per side (a smaller subset keeps the MMD^2
estimate unbiased, only its variance grows: torch-fidelity refuses subsets larger than either set); improved
precision/recall with k = `prc_neighborhood`.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from bench import layout
from bench.config import MetricsCfg, Params, PathsCfg, load_params
from bench.dist import pick_device
from bench.features import extract_features, suite_extractors
from bench.items import check_diffusion_item
from bench.log import get_logger, setup_logging
from bench.metrics import (
    SWD_KEY,
    Reference,
    compute_generation_metrics,
    ensemble_means,
    load_reference,
    pyramid_swd_per_image,
)
from bench.outputs import StageRecord, atomic_path, write_json
from bench.splits import open_split, uint8_array

log = get_logger(__name__)
REFERENCE_SPLIT = "train"  # generation is judged against training images (ADM's reference batches)


def open_samples(path: Path, name: str) -> np.ndarray:
    """Memory-map the generated images.

    Returns:
        uint8 (N, H, W, 3), read lazily (paper-scale sets are tens of GB).

    Raises:
        FileNotFoundError: the sample stage has not run for this item.
        ValueError: the file is not a uint8 (N, H, W, 3) image array.
    """
    if not path.is_file():
        raise FileNotFoundError(f"no generated images at {path}: run `dvc repro sample@{name}` first")
    images = np.load(path, mmap_mode="r")
    if images.dtype != np.uint8 or images.ndim != 4 or images.shape[3] != 3:
        raise ValueError(
            f"{path} holds {images.dtype} {images.shape}, not uint8 (N, H, W, 3) images: "
            f"re-run `dvc repro sample@{name}`"
        )
    return images


def open_references(paths: PathsCfg, dataset: str, extractors: dict) -> dict[str, Reference]:
    """The dataset's train-split reference per extractor, each checked against the extractor's identity.

    Raises:
        FileNotFoundError: the reference stage has not written a file for this dataset and extractor.
        ValueError: the file was made by another network or other weights (`load_reference`).
    """
    refs = {}
    for ext_name, extractor in extractors.items():
        path = layout.reference(paths, dataset, REFERENCE_SPLIT, ext_name)
        if not path.is_file():
            raise FileNotFoundError(
                f"no {ext_name} reference statistics for {dataset} at {path}: run `dvc repro reference` first"
            )
        refs[ext_name] = load_reference(path, extractor.identity)
    return refs


def check_counts(n_samples: int, n_reference: int, cfg: MetricsCfg, dataset: str) -> None:
    """Fail before any feature extraction when the sets are too small for the estimator settings.

    IS needs one sample per split at least; the k-NN manifolds of precision/recall need more than k points on each
    side (which also gives FD and KID the >= 2 points they need, since k >= 1).
    """
    if n_samples < cfg.is_splits:
        raise ValueError(
            f"{dataset}: {n_samples} samples cannot fill metrics.is_splits = {cfg.is_splits} IS splits: lower "
            "metrics.is_splits or raise diffusion.sample.num_images"
        )
    if n_samples <= cfg.prc_neighborhood:
        raise ValueError(
            f"{dataset}: precision/recall with metrics.prc_neighborhood = {cfg.prc_neighborhood} need more than "
            f"{cfg.prc_neighborhood} samples, got {n_samples}: lower metrics.prc_neighborhood or raise "
            "diffusion.sample.num_images"
        )
    if n_reference <= cfg.prc_neighborhood:
        raise ValueError(
            f"{dataset}: precision/recall with metrics.prc_neighborhood = {cfg.prc_neighborhood} need more than "
            f"{cfg.prc_neighborhood} reference images, the train split has {n_reference}: lower "
            f"metrics.prc_neighborhood or raise data.sets.{dataset}.num_train"
        )


def sample_batches(images: np.ndarray, batch_size: int, desc: str) -> Iterator[torch.Tensor]:
    """uint8 (B, 3, H, W) batches of (N, H, W, 3) images, in order, with a progress bar."""
    for start in tqdm(range(0, len(images), batch_size), desc=desc, unit="batch"):
        batch = np.array(images[start : start + batch_size])  # a writable copy of this slice of the memory map
        yield torch.from_numpy(batch).permute(0, 3, 1, 2)


def evaluate_samples(
    images: np.ndarray, refs: dict[str, Reference], extractors: dict, cfg: MetricsCfg, seed: int, desc: str
) -> tuple[dict[str, float], int, dict[str, np.ndarray]]:
    """All generation metrics of one sample set under every extractor.

    Args:
        images: uint8 (N, H, W, 3) generated images.
        refs: extractor name -> its reference statistics (`open_references`).
        extractors: extractor name -> extractor (`suite_extractors`).
        cfg: the metrics settings (estimators, batch size).
        seed: seeds KID subsets and the IS shuffle.
        desc: progress bar label.

    Returns:
        (labelled metrics of every extractor, e.g. {"fd[judge-0]": ..., "fid[inception]": ...}, KID subset size used,
        the features: f"{extractor}/{feature}" -> (N, D) float32, for the intervals stage's bootstrap).
    """
    n_ref = min(len(ref.pool) for ref in refs.values())
    kid_size = min(cfg.kid_subset_size, len(images), n_ref)
    values: dict[str, float] = {}
    features: dict[str, np.ndarray] = {}
    for ext_name, extractor in extractors.items():
        fake = extract_features(extractor, sample_batches(images, cfg.batch_size, f"{desc} {ext_name}"))
        features |= {f"{ext_name}/{f}": v.numpy() for f, v in fake.items()}
        values |= compute_generation_metrics(
            refs[ext_name],
            fake,
            is_splits=cfg.is_splits,
            kid_subsets=cfg.kid_subsets,
            kid_subset_size=kid_size,
            prc_neighborhood=cfg.prc_neighborhood,
            seed=seed,
        )
    return values, kid_size, features


def main(params: Params, name: str) -> None:
    check_diffusion_item(params, name)
    setup_logging(0)
    device = pick_device(params.runtime)  # the reference stage's rule: samples and references see the same numerics
    record = StageRecord()
    cfg, datasets = params.metrics, params.diffusion.items[name]
    extractors = suite_extractors(cfg, params.paths, device, params.judges.members)

    # Every input is checked before the first feature is extracted: a missing file fails in seconds, not hours.
    inputs = {}
    for dataset in datasets:
        images = open_samples(layout.samples_dir(params.paths, name, dataset) / layout.SAMPLES_FILE, name)
        refs = open_references(params.paths, dataset, extractors)
        check_counts(len(images), min(len(r.pool) for r in refs.values()), cfg, dataset)
        inputs[dataset] = images, refs

    identities = {ext_name: extractor.identity for ext_name, extractor in extractors.items()}
    metrics: dict = {"extractors": identities}
    used, features = {}, {}
    for dataset, (images, refs) in inputs.items():
        values, kid_size, feats = evaluate_samples(
            images, refs, extractors, cfg, params.seed, f"eval_gen {name}/{dataset}"
        )
        # equal-size sets, as Karras et al. compare them: the first n_samples reference images
        reference_images = uint8_array(open_split(params.paths, dataset, REFERENCE_SPLIT), len(images))
        values[SWD_KEY], features[f"{dataset}/{SWD_KEY}"] = pyramid_swd_per_image(
            np.asarray(images), reference_images, cfg.swd, params.seed, paired=False
        )  # pseudo-values per sample for its interval; the reference images are fixed, like the judges' statistics
        values, members = ensemble_means(values)
        metrics[dataset] = {**values, "members": members, "n_samples": len(images), "reference": REFERENCE_SPLIT}
        features |= {f"{dataset}/{k}": v for k, v in feats.items()}
        n_ref = min(len(r.pool) for r in refs.values())
        used[dataset] = {"n_samples": len(images), "n_reference": n_ref, "kid_subset_size": kid_size}
        log.info("%s/%s: %s", name, dataset, ", ".join(f"{k} {v:.4g}" for k, v in values.items()))

    out = layout.run_dir(params.paths, "eval_gen", name)
    write_json(layout.eval_gen_metrics(params.paths, name), metrics)
    with atomic_path(layout.eval_gen_features(params.paths, name)) as tmp, tmp.open("wb") as f:
        np.savez(f, **features)
    estimators = ("inception", "batch_size", "is_splits", "kid_subsets", "kid_subset_size", "prc_neighborhood", "swd")
    record.write(
        out,
        layout.record_dir(params.paths, "eval_gen", name),
        {
            "seed": params.seed,
            "runtime": {"device": params.runtime.device},
            "metrics": {k: getattr(cfg, k) for k in estimators},
            "diffusion": {"items": {name: list(datasets)}},
            "judges": {"members": params.judges.members},
        },
        item=name,
        device=str(device),
        torch_fidelity=version("torch-fidelity"),
        extractors=identities,
        datasets=used,
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m diffusion.evaluate NAME   (an item of diffusion.items)")
    main(load_params(), sys.argv[1])
