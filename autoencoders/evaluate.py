"""The `eval_ae@NAME` stage: reconstruction quality (Table 1), latent-noise robustness (Fig. 6) and efficiency
(Table 2) of one autoencoder item, trained (train_ae) or pretrained (import_ae; loaded by
`autoencoders.sources.load_autoencoder`, at its own native conventions).

Run: `python -m autoencoders.evaluate NAME` (DVC fans it out over `autoencoders.names`; one process, on
`runtime.device`). It evaluates on the eval split of *every* set in `data.sets`, not only the training sets: the
paper scores ImageNet val, and the embedded default trains on all its sets, so every set is in-distribution there;
a set left out of `autoencoders.train_sets` is then scored as a transfer set. Per set, the first
`metrics.recon_images` eval images (0 = all) are encoded to the posterior mean and:

- Table 1: L1, MSE, PSNR, SSIM, the perceptual distance (`lpips[vgg]` where local VGG16 weights exist, else the
  suite's own `percep[own]`) and rFD per evaluation extractor (`rfd[judge]`, `rfid[inception]` where Inception is
  local) against the eval split's reference statistics (`bench.reference`; they cover the whole split, so with
  `recon_images` below the split size the rFD compares a subset with the full split);
- Fig. 6: the same metrics after z' = mu + eps * n * std_c for each eps in `metrics.noise_eps` (see
  `autoencoders.robustness`; the eps = 0 row is the Table 1 row, computed once);
- the posterior, for every probabilistic autoencoder (`autoencoders.posterior_stats`): the mean posterior std
  per latent channel and its mean over channels, the KL to N(0, I) in nats per latent value, per channel and
  overall, and the number of active channels (KL above `metrics.active_kl`); null for deterministic ones;
- Table 2: parameters and fp32 MiB of what encode + decode read, GFLOPs per image (encode + decode, counted on the
  meta device) at 256 px and at the native resolution, and encode / decode throughput on this device (the training
  wall time comes from train_ae's record in the report, so this stage does not depend on a volatile file; a
  pretrained item's is "not measured here", and its `metrics.json` carries a `source` block from import_ae). The
  256-px GFLOPs are those of this item's architecture (a meta-device copy resized to 256 px); the paper-scale
  numbers (SD3 layout, 12 + 12 ViT) come from the paper-imagenet preset or `benchmarks/ae_bench.py`.

Every distribution metric is computed by each judge-ensemble member (`rfd[judge-k]`) and averaged (`rfd[judge]`);
`metrics.json` keeps the members' values. Beside them, Table 1 gets `swd[pyramid]`, the Laplacian-pyramid sliced
Wasserstein distance of the clean reconstructions to the eval images (no trained network; not computed per eps,
which would hold every perturbed reconstruction in memory).

Writes `<runs>/eval_ae/NAME/`: `metrics.json`, `features.npz` (per set and eps index k: f"{SET}/{k}/{metric}"
(N,) per-image values and f"{SET}/{k}/{extractor}" (N, D) pool features, for the intervals stage's paired
bootstrap; f"{SET}/0/swd[pyramid]": the SWD's per-image pseudo-values, `bench.metrics.pyramid_swd_per_image`),
`examples.npz` (per set f"{SET}/images" and f"{SET}/recons", the
first 8 eval images and clean reconstructions, uint8 (K, H, W, 3)), `noise_curve/<SET>.csv` (the Fig. 6 rows, for
`dvc plots`), `params.json`; `meta.json` goes to `<runs>/records/eval_ae/NAME/`.
"""

from __future__ import annotations

import copy
import csv
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Subset

from autoencoders.posterior_stats import posterior_summary
from autoencoders.robustness import latent_std, noise_sweep
from autoencoders.sources import Item, load_autoencoder, read_item
from bench import layout
from bench.config import Params, load_params
from bench.dist import setup
from bench.efficiency import autoencoder_size, encode_decode_gflops, host_note, throughput
from bench.featnets import load_perceptual
from bench.features import suite_extractors
from bench.items import check_autoencoder_item
from bench.log import get_logger, setup_logging
from bench.metrics import SWD_KEY, ensemble_means, load_reference, pyramid_swd_per_image
from bench.outputs import StageRecord, atomic_path, write_json
from bench.splits import open_split, uint8_array

log = get_logger(__name__)
PAPER_SIZE = 256  # Table 2 reports GFLOPs at the paper's 256 px, whatever the pipeline's resolution
EXAMPLES_PER_SET = 8  # images per set in examples.npz (the report's reconstruction figure)
GFLOP_KEYS = ("encode", "decode", "total")
TRAINING_NOT_MEASURED = "not measured here (pretrained: trained elsewhere)"


def counting_twin(model: nn.Module, resolution: int, image_size: int) -> nn.Module | None:
    """A copy of `model` on the meta device for `image_size`-px images (counting needs shapes only, no values), or
    None where a model built for `resolution` cannot be resized (a pretrained one without `set_image_size`)."""
    if image_size != resolution and not hasattr(model, "set_image_size"):
        return None
    twin = copy.deepcopy(model).to("meta")
    if image_size != resolution:
        twin.set_image_size(image_size)  # VMAE: positional tables for the new grid; convolutions: nothing
    return twin


def pretrained_source(item: Item) -> dict:
    """What Table 2 and a reader need about a pretrained item: where it came from, its recorded latent factors, and
    that its training is not measured here."""
    keep = ("format", "path", "entry", "sha256", "input_range", "latent_factors")
    return {k: item.source[k] for k in keep} | {"training": TRAINING_NOT_MEASURED}


def reference_paths(params: Params, extractors: dict) -> dict[str, dict[str, Path]]:
    """The eval-split reference statistics of every set and extractor, checked to exist (set -> name -> path)."""
    paths = {s: {e: layout.reference(params.paths, s, "eval", e) for e in extractors} for s in params.data.sets}
    missing = [str(p) for per_set in paths.values() for p in per_set.values() if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"no reference statistics at {missing}: compute them with `dvc repro reference`")
    return paths


def eval_loader(params: Params, dataset: str) -> DataLoader:
    """The first `metrics.recon_images` eval images of `dataset` (0 = all), in order, `metrics.batch_size` a batch."""
    split = open_split(params.paths, dataset, "eval")
    n = len(split) if params.metrics.recon_images == 0 else min(params.metrics.recon_images, len(split))
    return DataLoader(Subset(split, range(n)), batch_size=params.metrics.batch_size, shuffle=False)


def efficiency(params: Params, model: nn.Module, x: torch.Tensor, device: torch.device) -> dict:
    """Table 2 of one item.

    Args:
        params: all params (resolution, throughput repeats).
        model: the item's autoencoder, eval mode, on `device`.
        x: (B, 3, H, W) images in [-1, 1] on `device`, the throughput batch.
        device: where throughput is timed.

    Returns:
        {"params_m", "size_mib", "gflops_256": {"encode", "decode", "total"}, "gflops_native": {...},
        "encode_img_s", "decode_img_s", "device"}; GFLOPs are counted on a meta-device copy (`counting_twin`), None
        where a pretrained model cannot be resized to that size. The training wall time is train_ae's record, read
        by the report (a pretrained item's is not measured here).
    """
    res = params.data.resolution
    size = autoencoder_size(model, res)
    gflops = {}
    for key, px in (("gflops_256", PAPER_SIZE), ("gflops_native", res)):
        twin = counting_twin(model, res, px)
        counts = None if twin is None else encode_decode_gflops(twin, px)
        gflops[key] = None if counts is None else {k: counts[k] for k in GFLOP_KEYS}

    @torch.no_grad()
    def encode() -> torch.Tensor:
        return model.encode(x).mode()

    z = encode()

    @torch.no_grad()
    def decode() -> torch.Tensor:
        return model.decode(z)

    repeats = params.metrics.throughput_repeats
    return {
        "params_m": size["params"] / 1e6,
        "size_mib": size["mib"],
        **gflops,
        "encode_img_s": throughput(encode, len(x), repeats=repeats, device=device),
        "decode_img_s": throughput(decode, len(x), repeats=repeats, device=device),
        "device": host_note(device),
    }


def write_curve(path: Path, rows: list[dict[str, float]]) -> None:
    """One noise-curve CSV (columns eps, then the metric keys) for `dvc plots`."""
    with atomic_path(path) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def main(params: Params, name: str) -> None:
    check_autoencoder_item(params, name)
    item = read_item(name, params.autoencoders, params.paths)  # before any work: trained or imported yet?
    dist = setup(params.runtime, params.seed)
    if dist.world_size > 1:
        raise ValueError("eval_ae runs in one process: start it with `python -m autoencoders.evaluate NAME`")
    setup_logging(dist.rank)
    record, device, cfg = StageRecord(), dist.device, params.metrics
    extractors = suite_extractors(cfg, params.paths, device, params.judges.members)
    identities = {e: extractor.identity for e, extractor in extractors.items()}
    ref_paths = reference_paths(params, extractors)
    model = load_autoencoder(item, image_size=params.data.resolution).to(device)
    perceptual = load_perceptual(params.paths.weights, layout.featnet(params.paths, "perceptual"))
    perceptual.to(device)
    out = layout.run_dir(params.paths, "eval_ae", name)

    reconstruction, curves, stds, posteriors, examples, members, features = {}, {}, {}, {}, {}, {}, {}
    for dataset in params.data.sets:
        refs = {e: load_reference(p, identities[e]) for e, p in ref_paths[dataset].items()}
        std_c = latent_std(model, eval_loader(params, dataset), device)  # first pass: the noise scale
        posteriors[dataset] = posterior_summary(model, eval_loader(params, dataset), device, cfg.active_kl)
        result = noise_sweep(
            model,
            eval_loader(params, dataset),
            std_c=std_c,
            eps=cfg.noise_eps,
            noise_seed=cfg.noise_seed,
            perceptual=perceptual,
            extractors=extractors,
            references=refs,
            device=device,
            keep=EXAMPLES_PER_SET,
            desc=f"eval_ae {name} {dataset}",
        )
        originals = uint8_array(open_split(params.paths, dataset, "eval"), result.n_images)
        rows, spread = [], []
        for row in result.rows:
            row, member_values = ensemble_means(row)
            rows.append(row)
            spread.append(member_values)
        # Table 1 only (see module doc); the pseudo-values give its paired interval (a reconstruction and its original
        # are one draw of the eval images)
        rows[0][SWD_KEY], pseudo = pyramid_swd_per_image(result.clean, originals, cfg.swd, params.seed, paired=True)
        clean = {k: v for k, v in rows[0].items() if k != "eps"}  # eps = 0: the clean reconstruction
        reconstruction[dataset] = {**clean, "n_images": result.n_images}
        curves[dataset], stds[dataset], members[dataset] = rows, std_c.tolist(), spread
        for k in range(len(rows)):
            features |= {f"{dataset}/{k}/{key}": v for key, v in result.per_image[k].items()}
            features |= {f"{dataset}/{k}/{ext}": v for ext, v in result.features[k].items()}
        features[f"{dataset}/0/{SWD_KEY}"] = pseudo
        examples[f"{dataset}/images"], examples[f"{dataset}/recons"] = result.images, result.recons
        log.info("%s on %s: %s", name, dataset, ", ".join(f"{k} {v:.4g}" for k, v in reconstruction[dataset].items()))

    first = next(iter(eval_loader(params, next(iter(params.data.sets)))))["image"].to(device)
    versions = {"torch": torch.__version__, "torch-fidelity": version("torch-fidelity")}
    metrics = {
        "item": name,
        "kind": item.kind,
        **({"source": pretrained_source(item)} if item.source is not None else {}),
        "perceptual": perceptual.name,
        "extractors": identities,
        "versions": versions,
        "reconstruction": reconstruction,
        "noise_curve": curves,
        "members": members,  # per set, per eps: metric -> the judge-ensemble members' values
        "latent_std": stds,
        "posterior": posteriors,  # per set: the posterior summary, or None for a deterministic model
        "efficiency": efficiency(params, model, first, device),
    }
    with atomic_path(layout.eval_ae_examples(params.paths, name)) as tmp, tmp.open("wb") as f:
        np.savez(f, **examples)
    with atomic_path(layout.eval_ae_features(params.paths, name)) as tmp, tmp.open("wb") as f:
        np.savez(f, **features)
    for dataset, rows in curves.items():
        write_curve(layout.noise_curve(params.paths, name, dataset), rows)
    write_json(layout.eval_ae_metrics(params.paths, name), metrics)
    record.write(
        out,
        layout.record_dir(params.paths, "eval_ae", name),
        {
            "runtime": params.runtime,
            "data": {"resolution": params.data.resolution, "sets": sorted(params.data.sets)},
            "autoencoders": item.params,
            "metrics": {
                k: getattr(cfg, k)
                for k in (
                    "inception",
                    "batch_size",
                    "recon_images",
                    "noise_eps",
                    "noise_seed",
                    "active_kl",
                    "throughput_repeats",
                    "swd",
                )
            },
            "judges": {"members": params.judges.members},
            "seed": params.seed,
        },
        item=name,
        device=str(device),
        timing_host=metrics["efficiency"]["device"],
        extractors=identities,
        perceptual=perceptual.name,
        versions=versions,
        n_images={s: r["n_images"] for s, r in reconstruction.items()},
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m autoencoders.evaluate NAME   (an item of autoencoders.names)")
    main(load_params(), sys.argv[1])
