"""The `reference` stage: feature statistics of every dataset split, computed once, for rFID and gFID.

Run: `python -m bench.reference` (DVC stage `reference`). For each set in `data.sets` and each split, the images
go through every evaluation extractor in use (`suite_extractors`): the suite's judge network always, and
Inception-v3 when `metrics.inception` asks for it and its weights are local. Writes
`<runs>/reference/<set>/<split>.<extractor>.npz` (mu, sigma, spatial mu/sigma, raw pool features, and the
extractor identity, which later stages check) plus `params.json` / `meta.json`.

Reconstruction metrics compare against the eval split (the same centre-cropped images the autoencoders
reconstruct); generation metrics against the train split (ADM's reference batches are training images).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bench.config import MetricsCfg, Params, PathsCfg, load_params
from bench.data import open_split, to_uint8_image
from bench.featnets import load_featnet
from bench.features import INCEPTION, JUDGE, build_extractor, extract_features, find_inception_weights
from bench.log import get_logger, setup_logging
from bench.metrics import reference_from_features, save_reference
from bench.outputs import StageRecord, atomic_path
from bench.paths import SPLITS, run_dir

log = get_logger(__name__)


def suite_extractors(metrics: MetricsCfg, paths: PathsCfg, device: torch.device) -> dict:
    """The evaluation extractors in use, by name ("judge" always; "inception" per `metrics.inception`).

    Raises:
        FileNotFoundError: the judge has not been trained, or `inception: required` and its weights are absent.
    """
    judge = load_featnet(run_dir(paths, "featnets") / "judge.pt")
    out = {JUDGE: build_extractor(JUDGE, judge_network=judge).to(device)}
    if metrics.inception != "off":
        try:
            weights = find_inception_weights(paths.weights)
        except FileNotFoundError:
            if metrics.inception == "required":
                raise
            log.info("no local Inception-v3 weights: metrics use the judge only (labelled [judge])")
        else:
            out[INCEPTION] = build_extractor(INCEPTION, feature_extractor_weights_path=weights).to(device)
    return out


def reference_path(paths: PathsCfg, dataset: str, split: str, extractor: str) -> Path:
    return run_dir(paths, "reference") / dataset / f"{split}.{extractor}.npz"


def uint8_batches(images: Dataset, batch_size: int, desc: str) -> Iterator[torch.Tensor]:
    """uint8 (B, 3, H, W) batches of a split's images, in order, with a progress bar."""
    loader = DataLoader(images, batch_size=batch_size, shuffle=False)
    for batch in tqdm(loader, desc=desc, unit="batch"):
        yield to_uint8_image(batch["image"])


def main(params: Params) -> None:
    setup_logging(0)
    device = torch.device("cuda" if torch.cuda.is_available() and params.runtime.device != "cpu" else "cpu")
    record = StageRecord()
    extractors = suite_extractors(params.metrics, params.paths, device)

    identities = {}
    for dataset in params.data.sets:
        for split in SPLITS:
            images = open_split(params.paths.data, dataset, split)
            for name, extractor in extractors.items():
                feats = extract_features(
                    extractor, uint8_batches(images, params.metrics.batch_size, f"reference {dataset}/{split} {name}")
                )
                ref = reference_from_features(feats, name, extractor.identity)
                with atomic_path(reference_path(params.paths, dataset, split, name)) as tmp:
                    save_reference(tmp, ref)
                identities[name] = extractor.identity
    record.write(
        run_dir(params.paths, "reference"),
        {"data": {"sets": sorted(params.data.sets)}, "metrics": {"inception": params.metrics.inception}},
        extractors=identities,
    )


if __name__ == "__main__":
    main(load_params())
