"""The `proxies@NAME` stage: the field's cheap predictors of generation quality, measured on one autoencoder item.

Run: `python -m autoencoders.proxies NAME` (DVC fans it out over `autoencoders.names`; one process). For every set
of `autoencoders.train_sets`, on the first `metrics.recon_images` eval images (0 = all: the images eval_ae's rFD
uses) encoded to the posterior mean z (N, C, h, w), it measures (recipes in `bench.proxies`):

- `ifd[judge-k]`, `ifd[judge]` (the members' mean; `ifd[inception]` where Inception is local): FD against the eval
  split's reference statistics of decode((1 - w) z + w z_nn), z_nn the nearest other eval image in the per-channel
  standardised latent space, w = `metrics.proxies.interp_weight`; decoded images clamped to [-1, 1] and quantised
  to uint8 before the extractors, as eval_ae's rFD (at w = 0 the same number);
- `probe_class`: accuracy of a logistic-regression probe on flattened latents, fitted on the first
  `metrics.proxies.probe_images` train images; `probe_seg` (sets with masks): the dense probe of latent cells,
  per-image accuracy over cells labelled by their majority mask label;
- `high_freq[latent]`, `high_freq[image]`: share of AC DCT energy outside the low quadrant; `high_freq_gap` their
  per-image difference (latent - image);
- `equiv_mse[0-1]`, `equiv_psnr`: decode(down2(z)) against down2(x), down2 the 2 x 2 average. A decoder with
  positional tables (VMAE) decodes the half grid from a copy whose tables are resized (`set_image_size`, the
  release's own way to change resolution); convolutional decoders take any grid.

Each value has a percentile bootstrap interval over the eval images (`bench.uncertainty`, `metrics.bootstrap`,
seeded by `seed`): `ci` holds [low, high], `se` the bootstrap standard error (report one item's FD with its se:
resampling biases FD upward, see `paired_bootstrap`). Writes `<runs>/proxies/NAME/`: `metrics.json`,
`per_image.npz` (f"{SET}/{key}" (N,) per-image values, f"{SET}/neighbour" (N,), f"{SET}/features/{extractor}"
(N, D) iFD pool features: pair items on them), `spectra.npz` (f"{SET}/{latent|image}_{freq|share}" (S,)),
`params.json`; `meta.json` goes to `<runs>/records/proxies/NAME/`.
"""

from __future__ import annotations

import copy
import sys

import numpy as np
import torch
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from autoencoders.base import Autoencoder
from autoencoders.sources import load_autoencoder, read_item
from bench import layout, proxies
from bench.config import Params, ProxiesCfg, load_params
from bench.dist import setup
from bench.features import extract_features, suite_extractors
from bench.images import to_uint8_image
from bench.items import check_autoencoder_item
from bench.log import get_logger, setup_logging
from bench.metrics import INCEPTION, POOL, compute_reconstruction_fd, ensemble_means, load_reference, mse, psnr
from bench.outputs import StageRecord, atomic_path, write_json
from bench.splits import open_split
from bench.uncertainty import FD_METHOD, FrechetAgainst, mean_interval, paired_bootstrap

log = get_logger(__name__)
IFD = "ifd"


def read_split(params: Params, dataset: str, split: str, n: int) -> dict[str, torch.Tensor]:
    """The first `n` images of a split (0 = all): {"image": (N, 3, H, W) in [-1, 1], "label": (N,)[, "mask"]}."""
    data = open_split(params.paths, dataset, split)
    n = len(data) if n == 0 else min(n, len(data))
    loader = DataLoader(Subset(data, range(n)), batch_size=params.metrics.batch_size, shuffle=False)
    batches = list(loader)
    return {k: torch.cat([b[k] for b in batches]) for k in batches[0] if k in ("image", "label", "mask")}


@torch.no_grad()
def encode_all(model: Autoencoder, images: torch.Tensor, batch: int, device: torch.device) -> np.ndarray:
    """Posterior means. Args: images (N, 3, H, W) in [-1, 1]. Returns: (N, C, h, w) float32."""
    parts = [model.encode(images[i : i + batch].to(device)).mode().float().cpu() for i in range(0, len(images), batch)]
    return torch.cat(parts).numpy()


@torch.no_grad()
def decode_all(model: Autoencoder, z: np.ndarray, batch: int, device: torch.device) -> torch.Tensor:
    """Decoded images. Args: z (N, C, h, w). Returns: (N, 3, H', W') float32 on the CPU, clamped to [-1, 1]."""
    z = torch.from_numpy(np.ascontiguousarray(z, dtype=np.float32))
    return torch.cat([model.decode(z[i : i + batch].to(device)).clamp(-1, 1).cpu() for i in range(0, len(z), batch)])


def pool_features(images: torch.Tensor, extractors: dict, batch: int) -> dict[str, np.ndarray]:
    """Each extractor's pool features of uint8-quantised images.

    Args: images (N, 3, H, W) in [-1, 1]; extractors by name; batch size. Returns: name -> (N, D) float32.
    """
    chunks = [to_uint8_image(images[i : i + batch]) for i in range(0, len(images), batch)]
    return {name: extract_features(ext, chunks)[POOL].numpy() for name, ext in extractors.items()}


def interpolated_fd(
    model: Autoencoder, z: np.ndarray, weight: float, extractors: dict, references: dict, batch: int, device
) -> tuple[dict[str, float], dict[str, np.ndarray], np.ndarray]:
    """iFD of latents z (N, C, h, w) at interpolation weight w, by every extractor, with eval_ae's rFD code path.

    Returns:
        ({"ifd[<extractor>]": FD} per extractor, {extractor: (N, D) pool features}, (N,) neighbour indices).
    """
    neighbour = proxies.nearest_other(proxies.standardise(z).reshape(len(z), -1))
    decoded = decode_all(model, proxies.interpolate(z, neighbour, weight), batch, device)  # (N, 3, H, W)
    feats = pool_features(decoded, extractors, batch)
    values = {}
    for name, f in feats.items():
        (fd,) = compute_reconstruction_fd(references[name], {POOL: torch.from_numpy(f)}).values()  # eval_ae's rFD
        values[f"{'ifid' if name == INCEPTION else IFD}[{name}]"] = fd
    return values, feats, neighbour


def half_decoder(model: Autoencoder, image_size: int) -> Autoencoder:
    """A decoder for the 2x-downsampled latent grid: a resized copy where positional tables fix the grid."""
    if hasattr(model, "set_image_size"):  # VMAE: its tables are resized as the release does between resolutions
        twin = copy.deepcopy(model)
        twin.set_image_size(image_size // 2)
        return twin
    return model  # convolutional decoders take any grid


def per_image_values(model, z, x, train, eval_set, cfg: ProxiesCfg, seed: int, batch: int, device) -> dict:
    """Every proxy but iFD, per eval image.

    Args:
        model: the autoencoder, eval mode, on `device`.
        z: (N, C, h, w) eval latents; x: (N, 3, H, W) eval images in [-1, 1] (CPU).
        train, eval_set: {"label": (M,) / (N,)[, "mask": (M, H, W) / (N, H, W)]}, train also {"z": (M, C, h, w)}.
        cfg: `metrics.proxies`; seed: the probes' solver seed; batch: decode batch size.

    Returns:
        key -> (N,) float64 (nan where undefined); "probe_class" needs two classes, "probe_seg" masks.
    """
    half = decode_all(half_decoder(model, x.shape[-1]), proxies.down2(z), batch, device)  # (N, 3, H/2, W/2)
    target = torch.from_numpy(proxies.down2(x.numpy()))  # (N, 3, H/2, W/2)
    out = {
        "equiv_mse[0-1]": mse(target, half).double().numpy(),
        "equiv_psnr": psnr(target, half).double().numpy(),
        "high_freq[latent]": proxies.high_fraction(z),
        "high_freq[image]": proxies.high_fraction(x.numpy()),
    }
    out["high_freq_gap"] = out["high_freq[latent]"] - out["high_freq[image]"]
    probe = {"c": cfg.probe_c, "max_iter": cfg.probe_max_iter, "seed": seed}
    zt = train["z"]
    if len(np.unique(train["label"])) >= 2:
        flat_t, flat_e = zt.reshape(len(zt), -1), z.reshape(len(z), -1)
        right = proxies.linear_probe(flat_t, train["label"], flat_e, eval_set["label"], **probe)  # (N,)
        out["probe_class"] = right.astype(np.float64)
    if "mask" in train and "mask" in eval_set:
        h, w = z.shape[-2:]
        cells_t = proxies.cell_labels(train["mask"], h, w).reshape(-1)  # (M * h * w,)
        cells_e = proxies.cell_labels(eval_set["mask"], h, w).reshape(-1)  # (N * h * w,)
        feats_t = zt.transpose(0, 2, 3, 1).reshape(-1, zt.shape[1])  # (M * h * w, C)
        feats_e = z.transpose(0, 2, 3, 1).reshape(-1, z.shape[1])  # (N * h * w, C)
        if len(np.unique(cells_t)) >= 2:
            right = proxies.linear_probe(feats_t, cells_t, feats_e, cells_e, **probe)  # (N * h * w,)
            out["probe_seg"] = right.reshape(len(z), h * w).mean(axis=1)
    return out


def intervals(values: dict[str, np.ndarray], feats: dict, references: dict, members: list[str], boot, seed) -> tuple:
    """Percentile bootstrap over eval images of each per-image mean and of the judge-mean iFD.

    Returns: ({key: [low, high] or None}, {key: se or None}); None where a value is not finite on every image.
    """
    ci, se = {}, {}
    settings = {"n_resamples": boot.n_resamples, "level": boot.level, "seed": seed, "method": "percentile"}
    for key, v in values.items():
        if np.isfinite(v).all():
            iv = mean_interval(v, **settings)
            ci[key], se[key] = [iv.low, iv.high], iv.se
        else:  # e.g. an exact reconstruction's PSNR (+inf) or a constant image's spectrum share
            ci[key], se[key] = None, None
    fds = [FrechetAgainst(references[m].mu, references[m].sigma) for m in members]
    iv = paired_bootstrap(
        lambda idx: float(np.mean([fd(feats[m][idx]) for fd, m in zip(fds, members, strict=True)])),
        len(next(iter(feats.values()))),
        **{**settings, "method": FD_METHOD},
    )
    key = f"{IFD}[{layout.JUDGE}]"
    ci[key], se[key] = [iv.low, iv.high], iv.se
    return ci, se


def main(params: Params, name: str) -> None:
    check_autoencoder_item(params, name)
    item = read_item(name, params.autoencoders, params.paths)  # before any work: trained or imported yet?
    dist = setup(params.runtime, params.seed)
    if dist.world_size > 1:
        raise ValueError("proxies runs in one process: start it with `python -m autoencoders.proxies NAME`")
    setup_logging(dist.rank)
    record, device, cfg, batch = StageRecord(), dist.device, params.metrics.proxies, params.metrics.batch_size
    extractors = suite_extractors(params.metrics, params.paths, device, params.judges.members)
    identities = {e: x.identity for e, x in extractors.items()}
    members = [layout.judge_name(k) for k in range(params.judges.members)]
    model = load_autoencoder(item, image_size=params.data.resolution).to(device)

    metrics: dict = {"item": name, "kind": item.kind, "extractors": identities}
    per_image, spectra = {}, {}
    for dataset in tqdm(params.autoencoders.train_sets, desc=f"proxies {name}", unit="set"):
        refs = {e: load_reference(layout.reference(params.paths, dataset, "eval", e), i) for e, i in identities.items()}
        eval_set = read_split(params, dataset, "eval", params.metrics.recon_images)
        train = read_split(params, dataset, "train", cfg.probe_images)
        x = eval_set["image"]
        z = encode_all(model, x, batch, device)  # (N, C, h, w)
        train_np = {k: v.numpy() for k, v in train.items() if k != "image"}
        train_np["z"] = encode_all(model, train["image"], batch, device)  # (M, C, h, w)
        eval_np = {k: v.numpy() for k, v in eval_set.items() if k != "image"}

        fd, feats, neighbour = interpolated_fd(model, z, cfg.interp_weight, extractors, refs, batch, device)
        fd, spread = ensemble_means(fd)
        values = per_image_values(model, z, x, train_np, eval_np, cfg, params.seed, batch, device)
        ci, se = intervals(values, feats, refs, members, params.metrics.bootstrap, params.seed)
        means = {k: float(np.nanmean(v)) for k, v in values.items()}
        counts = {"n_images": len(z), "n_probe_train": len(train_np["z"])}
        metrics[dataset] = {**fd, **means, "members": spread, "ci": ci, "se": se, **counts}
        per_image |= {f"{dataset}/{k}": v for k, v in values.items()} | {f"{dataset}/neighbour": neighbour}
        per_image |= {f"{dataset}/features/{e}": f for e, f in feats.items()}
        for kind, array in (("latent", z), ("image", x.numpy())):
            spectra[f"{dataset}/{kind}_freq"], spectra[f"{dataset}/{kind}_share"] = proxies.band_spectrum(array)
        log.info("%s on %s: %s", name, dataset, ", ".join(f"{k} {v:.4g}" for k, v in {**fd, **means}.items()))

    outputs = {
        layout.proxies_per_image(params.paths, name): per_image,
        layout.proxies_spectra(params.paths, name): spectra,
    }
    for path, arrays in outputs.items():
        with atomic_path(path) as tmp, tmp.open("wb") as f:
            np.savez(f, **arrays)
    write_json(layout.proxies_metrics(params.paths, name), metrics)
    record.write(
        layout.proxies_dir(params.paths, name),
        layout.record_dir(params.paths, "proxies", name),
        {
            "seed": params.seed,
            "data": {"resolution": params.data.resolution},
            # trained: arch + variant; pretrained: its entry (it has no variant to read)
            "autoencoders": {**item.params, "train_sets": list(params.autoencoders.train_sets)},
            "metrics": {
                "inception": params.metrics.inception,
                "batch_size": batch,
                "recon_images": params.metrics.recon_images,
                "bootstrap": params.metrics.bootstrap,
                "proxies": cfg,
            },
            "judges": {"members": params.judges.members},
        },
        item=name,
        device=str(device),
        extractors=identities,
    )


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -m autoencoders.proxies NAME   (an item of autoencoders.names)")
    main(load_params(), sys.argv[1])
