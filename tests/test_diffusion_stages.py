"""The diffusion stages end to end on a tiny fixture: extract -> train_dit -> sample, plus their invariants.

One module-scoped pipeline run in `tmp_path` (the tiny preset, shrunk further): the data stage, untrained
autoencoders saved where train_ae would leave them (`ae`: deterministic, `vae`: stored as moments), then the three
diffusion mains. The tests check output shapes and dtypes, the normalisation round trip, that training and sampling
read the same statistics, world-size independence of sampling, and that a finished run is resumed, not repeated.
"""

from __future__ import annotations

import hashlib
import io
import json
import typing
from pathlib import Path

import numpy as np
import pytest
import torch

from autoencoders import build_autoencoder, load_trained
from bench import data as data_stage
from bench import layout, preset
from bench.config import DiTSize, Params, parse_params
from bench.layout import FLIP_FILE, LABELS_FILE, LATENTS_FILE, STATS_FILE, run_dir
from bench.outputs import write_json
from bench.sharding import shard_indices
from bench.splits import open_split
from diffusion import extract, sample
from diffusion import train as train_dit
from diffusion.dit import DIT_MODELS
from diffusion.latents import (
    LatentDataset,
    LatentStats,
    compute_stats,
    denormalise,
    load_stats,
    normalise,
    write_stats,
)
from diffusion.trained import load_dit

ROOT = Path(__file__).resolve().parents[1]
N_TRAIN, RES, LATENT_C, LATENT_SIDE = 16, 32, 16, 4
ITEMS = {"ae": ["shapes", "faces"], "vae": ["shapes"]}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the shared 2-core machine: oversubscribed torch is 10-70x slower
    yield
    torch.set_num_threads(before)


def tiny_raw(root: Path) -> dict:
    raw = preset.merged("tiny", ROOT / "params.yaml", ROOT / "presets")
    raw["paths"] = {k: str(root / k) for k in raw["paths"]}
    sizes = {"num_train": N_TRAIN, "num_val": 4, "num_judge": N_TRAIN, "num_eval": 4}
    raw["data"]["sets"] = {s: {"kind": s, "root": "", **sizes} for s in ("shapes", "faces")}
    raw["autoencoders"]["names"] = list(ITEMS)
    raw["autoencoders"]["variants"] = {k: v for k, v in raw["autoencoders"]["variants"].items() if k in ITEMS}
    raw["diffusion"]["items"] = {k: list(v) for k, v in ITEMS.items()}
    raw["diffusion"]["extract"].update(store="moments", batch_size=5)  # 5: a last, partial batch
    raw["diffusion"]["sample"].update(num_images=6, batch_size=4, cfg_scale=2.0, cfg_interval_start=0.0)
    return raw


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Params:
    root = tmp_path_factory.mktemp("pipeline")
    params = parse_params(tiny_raw(root))
    data_stage.main(params)
    for name in ITEMS:  # untrained weights where train_ae would leave them: no dependence on training quality
        ae = build_autoencoder(name, params.autoencoders, None, image_size=RES)
        path = layout.autoencoder_weights(params.paths, name)
        path.parent.mkdir(parents=True)
        torch.save(ae.state_dict(), path)
        write_json(path.parent / layout.PARAMS_FILE, {"autoencoders": params.autoencoders.item_params(name)})
    for name in ITEMS:
        extract.main(params, name)
        train_dit.main(params, name)
        sample.main(params, name)
    return params


def folder(params: Params, stage: str, name: str, dataset: str) -> Path:
    return run_dir(params.paths, stage, name) / dataset


def meta(params: Params, stage: str, name: str, dataset: str) -> dict:
    """The stage's volatile record, kept outside its outputs (`bench.layout.record_dir`)."""
    return json.loads((layout.record_dir(params.paths, stage, name, dataset) / "meta.json").read_text())


def test_extract_outputs(run):
    for name, sets in ITEMS.items():
        stored = LATENT_C * (2 if name == "vae" else 1)  # moments only for the probabilistic autoencoder
        for dataset in sets:
            out = folder(run, "extract", name, dataset)
            for f in (LATENTS_FILE, FLIP_FILE):
                z = np.load(out / f)
                assert z.dtype == np.float32 and z.shape == (N_TRAIN, stored, LATENT_SIDE, LATENT_SIDE)
            labels = np.load(out / LABELS_FILE)
            assert labels.dtype == np.int64 and labels.shape == (N_TRAIN,)
            assert (labels == np.load(Path(run.paths.data) / dataset / "train" / "labels.npy")).all()
            stats = json.loads((out / STATS_FILE).read_text())
            assert len(stats["mean"]) == len(stats["std"]) == LATENT_C
            assert stats["layout"] == ("moments" if name == "vae" else "mean")
            assert "params.json" in {p.name for p in out.iterdir()} and "meta.json" not in {
                p.name for p in out.iterdir()
            }
            assert meta(run, "extract", name, dataset)["count"] == N_TRAIN
            assert not list(out.glob(".*partial"))


def test_extracted_latents_are_the_encoder_outputs(run):
    ae = load_trained(layout.autoencoder_dir(run.paths, "ae"), image_size=RES)
    split = open_split(run.paths, "shapes", "train")
    x = torch.stack([split[i]["image"] for i in range(3)])
    out = folder(run, "extract", "ae", "shapes")
    with torch.no_grad():
        mean, mean_flip = ae.encode(x).mean, ae.encode(x.flip(-1)).mean
    torch.testing.assert_close(torch.from_numpy(np.load(out / LATENTS_FILE)[:3]), mean, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.from_numpy(np.load(out / FLIP_FILE)[:3]), mean_flip, atol=1e-5, rtol=1e-5)


def test_normalise_denormalise_round_trip_and_unit_statistics(run):
    out = folder(run, "extract", "ae", "shapes")
    stats = load_stats(out / STATS_FILE)
    z = torch.from_numpy(np.load(out / LATENTS_FILE))  # (N, C, h, w)
    x = normalise(z, stats)
    torch.testing.assert_close(denormalise(x, stats), z, atol=1e-5, rtol=1e-5)
    # stats_samples >= N here, so the statistics cover every latent: normalised, each channel is ~N(0, 1)-scaled.
    torch.testing.assert_close(x.mean(dim=(0, 2, 3)), torch.zeros(LATENT_C), atol=1e-4, rtol=0)
    torch.testing.assert_close(x.std(dim=(0, 2, 3)), torch.ones(LATENT_C), atol=1e-4, rtol=0)


def test_training_and_sampling_read_the_same_statistics(run):
    for name, sets in ITEMS.items():
        for dataset in sets:
            digest = hashlib.sha256((folder(run, "extract", name, dataset) / STATS_FILE).read_bytes()).hexdigest()
            trained = meta(run, "train_dit", name, dataset)
            dit = json.loads((folder(run, "train_dit", name, dataset) / layout.DIT_INFO_FILE).read_text())
            sampled = meta(run, "sample", name, dataset)
            assert trained["stats_sha256"] == dit["stats_sha256"] == sampled["stats_sha256"] == digest


def test_sampling_refuses_a_dit_trained_on_other_statistics(run, tmp_path):
    stats = load_stats(folder(run, "extract", "ae", "shapes") / STATS_FILE)
    other = tmp_path / STATS_FILE
    write_stats(other, stats.mean.double().numpy() + 1.0, stats.std.double().numpy(), "mean", 1, 0)
    with pytest.raises(ValueError, match="other latent statistics"):
        load_dit(folder(run, "train_dit", "ae", "shapes"), load_stats(other))


def test_train_dit_outputs(run):
    for dataset, conditional in (("shapes", True), ("faces", False)):
        out = folder(run, "train_dit", "ae", dataset)
        dit = json.loads((out / layout.DIT_INFO_FILE).read_text())
        assert dit["weights"] == "ema" and (dit["config"]["num_classes"] > 1) == conditional
        work = layout.work_dir(run.paths, "train_dit", "ae", dataset)
        assert (out / layout.DIT_WEIGHTS_FILE).is_file() and list((work / "ckpt").glob("ckpt_*.pt"))
        record = meta(run, "train_dit", "ae", dataset)
        assert record["steps"] == run.diffusion.train.steps and np.isfinite(record["last_metrics"]["loss"])
        assert record["plateau"]["dit"]["steps"] == run.diffusion.train.steps
        assert record["plateau"]["dit"]["threshold"] == run.diffusion.train.plateau.threshold


def test_sample_outputs(run):
    n = run.diffusion.sample.num_images
    for name, sets in ITEMS.items():
        for dataset in sets:
            out = folder(run, "sample", name, dataset)
            images, labels = np.load(out / layout.SAMPLES_FILE), np.load(out / LABELS_FILE)
            assert images.dtype == np.uint8 and images.shape == (n, RES, RES, 3)
            assert labels.dtype == np.int64 and labels.shape == (n,)
            if run.diffusion.datasets[dataset] == "conditional":
                assert ((labels >= 0) & (labels < 10)).all()
            else:
                assert (labels == sample.NO_LABEL).all()
            assert (out / "grid.png").stat().st_size > 0 and meta(run, "sample", name, dataset)["num_images"] == n


def test_sampling_does_not_depend_on_the_number_of_processes(run):
    """Two emulated ranks (strided shards, other batch sizes) give the stage's single-process images, to rounding.

    Each image's noise and label are seeded by its global index, so a shard draws the same ones; the arithmetic is
    not batch-invariant, though: CPU kernels block and reduce differently for another batch size, and an 8-bit value
    that sits on a rounding edge can move by one grey level (1 of 18432 in one CI run). A broken per-index seeding
    moves nearly every value by far more."""
    name, dataset, n = "ae", "shapes", run.diffusion.sample.num_images
    seed = run.seed + run.diffusion.sample.seed_offset
    stats = load_stats(folder(run, "extract", name, dataset) / STATS_FILE)
    model = load_dit(folder(run, "train_dit", name, dataset), stats)
    ae = load_trained(layout.autoencoder_dir(run.paths, name), image_size=RES)
    merged = np.zeros((n, RES, RES, 3), np.uint8)
    merged_labels = np.zeros(n, np.int64)
    for rank in range(2):
        idx = shard_indices(n, rank, 2)
        merged[idx], merged_labels[idx] = sample.generate(model, ae, stats, idx, run.diffusion.sample, seed)
    out = folder(run, "sample", name, dataset)
    diff = np.abs(merged.astype(np.int16) - np.load(out / layout.SAMPLES_FILE).astype(np.int16))
    assert diff.max() <= 1 and (diff > 0).mean() < 1e-3, (diff.max(), (diff > 0).mean())
    np.testing.assert_array_equal(merged_labels, np.load(out / LABELS_FILE))


def test_second_run_resumes_the_finished_checkpoint(run):
    out = folder(run, "train_dit", "ae", "faces")
    work = layout.work_dir(run.paths, "train_dit", "ae", "faces")
    ckpts = {p.name: p.read_bytes() for p in (work / "ckpt").glob("ckpt_*.pt")}
    model = (out / layout.DIT_WEIGHTS_FILE).read_bytes()
    train_dit.main(run, "ae")
    assert {p.name: p.read_bytes() for p in (work / "ckpt").glob("ckpt_*.pt")} == ckpts  # nothing retrained
    before = torch.load(out / layout.DIT_WEIGHTS_FILE, weights_only=True)
    after = torch.load(io.BytesIO(model), weights_only=True)
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert meta(run, "train_dit", "ae", "faces")["steps"] == run.diffusion.train.steps


def _latent_folder(path: Path, stored: np.ndarray, layout: str) -> LatentStats:
    np.save(path / LATENTS_FILE, stored)
    np.save(path / FLIP_FILE, stored[..., ::-1].copy())
    np.save(path / LABELS_FILE, np.arange(len(stored), dtype=np.int64))
    c = stored.shape[1] // (2 if layout == "moments" else 1)
    write_stats(path / STATS_FILE, np.full(c, 0.5), np.full(c, 2.0), layout, len(stored), 0)
    return load_stats(path / STATS_FILE)


def test_latent_dataset_flips_with_half_probability_and_normalises(tmp_path):
    stored = np.random.default_rng(0).normal(size=(2, 3, 2, 2)).astype(np.float32)
    ds = LatentDataset(tmp_path, _latent_folder(tmp_path, stored, "mean"), use_flip=True)
    torch.manual_seed(0)
    plain, flipped = (
        (torch.from_numpy(stored[0]) - 0.5) / 2.0,
        (torch.from_numpy(stored[0, ..., ::-1].copy()) - 0.5) / 2.0,
    )
    picks = [ds[0]["latent"] for _ in range(200)]
    n_flipped = sum(torch.equal(z, flipped) for z in picks)
    assert all(torch.equal(z, plain) or torch.equal(z, flipped) for z in picks) and 70 < n_flipped < 130
    no_flip = LatentDataset(tmp_path, ds.stats, use_flip=False)
    assert all(torch.equal(no_flip[0]["latent"], plain) for _ in range(10)) and int(no_flip[1]["label"]) == 1


def test_latent_dataset_resamples_moments(tmp_path):
    mu, logvar = np.full((1, 2, 4, 4), 3.0, np.float32), np.full((1, 2, 4, 4), np.log(0.25), np.float32)
    ds = LatentDataset(tmp_path, _latent_folder(tmp_path, np.concatenate([mu, logvar], 1), "moments"), use_flip=False)
    torch.manual_seed(0)
    z = torch.stack([ds[0]["latent"] for _ in range(400)]) * 2.0 + 0.5  # undo the (0.5, 2.0) normalisation
    assert z.shape == (400, 2, 4, 4)
    assert abs(float(z.mean()) - 3.0) < 0.02 and abs(float(z.std()) - 0.5) < 0.02


def test_compute_stats_matches_torch_and_is_seeded():
    latents = np.random.default_rng(1).normal(2.0, 3.0, size=(50, 4, 3, 3)).astype(np.float32)
    mean, std = compute_stats(latents, "mean", 100, seed=0)  # count > N: every latent
    t = torch.from_numpy(latents).double()
    np.testing.assert_allclose(mean, t.mean(dim=(0, 2, 3)).numpy(), rtol=1e-10)
    np.testing.assert_allclose(std, t.std(dim=(0, 2, 3)).numpy(), rtol=1e-8)
    a, b, c = (compute_stats(latents, "mean", 10, seed=s)[0] for s in (0, 0, 1))
    assert np.array_equal(a, b) and not np.array_equal(a, c)


def test_dit_size_names_match_the_registry():
    assert set(typing.get_args(DiTSize)) == set(DIT_MODELS)


BAD = [  # (diffusion sub-keys to update, regex of the error)
    ({"items": {"nope": ["shapes"]}}, r"diffusion.items \['nope'\] are not in autoencoders.names"),
    ({"items": {"ae": ["mnist"]}}, r"items.ae names \['mnist'\].*no mode under diffusion.datasets"),
    ({"items": {"ae": ["mnist"]}, "datasets": {"mnist": "conditional"}}, r"\['mnist'\] that are not in data.sets"),
    ({"sample": {"cfg_channels": "first4"}}, r"diffusion.sample.cfg_channels"),
    ({"model": {"size": "DiT-XL/2"}}, r"diffusion.model.size"),
    ({"extract": {"store": "sample"}}, r"diffusion.extract.store"),
]


@pytest.mark.parametrize(("edit", "message"), BAD)
def test_bad_diffusion_params_fail_early(tmp_path, edit, message):
    raw = tiny_raw(tmp_path)
    for section, values in edit.items():
        raw["diffusion"][section].update(values)
    with pytest.raises(ValueError, match=message):
        parse_params(raw)


def test_unknown_item_is_refused(tmp_path):
    with pytest.raises(ValueError, match="not under diffusion.items"):
        extract.main(parse_params(tiny_raw(tmp_path)), "sd-vae")


def test_item_without_datasets_leaves_empty_output_folders(tmp_path):
    """The CelebA-HQ preset gives the ImageNet-only ablation items no datasets: their stages run and do nothing."""
    raw = tiny_raw(tmp_path)
    raw["diffusion"]["items"]["vae"] = []
    params = parse_params(raw)
    for stage, module in (("extract", extract), ("train_dit", train_dit), ("sample", sample)):
        module.main(params, "vae")  # no autoencoder weights, no latents: nothing is read
        assert run_dir(params.paths, stage, "vae").is_dir()
        assert not any(run_dir(params.paths, stage, "vae").iterdir())
        assert layout.record_dir(params.paths, stage, "vae").is_dir()  # every declared output exists for DVC
    assert layout.work_dir(params.paths, "train_dit", "vae").is_dir()
