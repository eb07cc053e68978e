"""The `reference` stage: feature statistics of every dataset split, computed once, for rFID and gFID.

Run: `python -m bench.reference` (DVC stage `reference`). For each set in `data.sets` and each split, the images
go through every evaluation extractor in use (`bench.features.suite_extractors`): the suite's judge network always, and
Inception-v3 when `metrics.inception` asks for it and its weights are local. Writes
`<runs>/reference/<set>/<split>.<extractor>.npz` (mu, sigma, spatial mu/sigma, raw pool features, and the
extractor identity, which later stages check) plus `params.json`; `meta.json` goes to `<runs>/records/reference/`.

Reconstruction metrics compare against the eval split (the same centre-cropped images the autoencoders
reconstruct); generation metrics against the train split (ADM's reference batches are training images). No judge
has seen either: they learn the `judge` split. Each judge-ensemble member has its own files (`judge-<k>`).
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bench import layout
from bench.config import Params, load_params
from bench.dist import pick_device
from bench.features import extract_features, suite_extractors
from bench.images import to_uint8_image
from bench.log import get_logger, setup_logging
from bench.metrics import reference_from_features, save_reference
from bench.outputs import StageRecord, atomic_path
from bench.splits import open_split

log = get_logger(__name__)
REFERENCE_SPLITS = ("train", "eval")  # gFD's and rFD's references; the judge and val splits are never references


def uint8_batches(images: Dataset, batch_size: int, desc: str) -> Iterator[torch.Tensor]:
    """uint8 (B, 3, H, W) batches of a split's images, in order, with a progress bar."""
    loader = DataLoader(images, batch_size=batch_size, shuffle=False)
    for batch in tqdm(loader, desc=desc, unit="batch"):
        yield to_uint8_image(batch["image"])


def main(params: Params) -> None:
    setup_logging(0)
    device = pick_device(params.runtime)
    record = StageRecord()
    extractors = suite_extractors(params.metrics, params.paths, device, params.judges.members)

    identities = {}
    for dataset in params.data.sets:
        for split in REFERENCE_SPLITS:
            images = open_split(params.paths, dataset, split)
            for name, extractor in extractors.items():
                feats = extract_features(
                    extractor, uint8_batches(images, params.metrics.batch_size, f"reference {dataset}/{split} {name}")
                )
                ref = reference_from_features(feats, name, extractor.identity)
                with atomic_path(layout.reference(params.paths, dataset, split, name)) as tmp:
                    save_reference(tmp, ref)
                identities[name] = extractor.identity
    record.write(
        layout.run_dir(params.paths, "reference"),
        layout.record_dir(params.paths, "reference"),
        {
            "data": {"sets": sorted(params.data.sets)},
            "metrics": {"inception": params.metrics.inception},
            "judges": {"members": params.judges.members},
        },
        extractors=identities,
    )


if __name__ == "__main__":
    main(load_params())
