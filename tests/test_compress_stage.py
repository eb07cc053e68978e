"""The `compress@NAME` and `compress_raw` stages end to end on the tiny preset (one conv and one ViT item)."""

from __future__ import annotations

import dataclasses
import json
import shutil

import numpy as np
import pytest

from autoencoders import compress
from autoencoders import train as train_ae
from bench import compress_raw, layout
from bench.config import parse_params
from bench.latent_features import RenderedSplit, grid_labels
from bench.layout import run_dir
from bench.outputs import write_json, write_npy
from bench.splits import open_split
from tests.conftest import one_thread, run_upstream, tiny_params, tiny_raw

pytestmark = pytest.mark.slow
ITEMS = ("ae", "vmae")  # one item of each architecture family


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    with one_thread():
        params = run_upstream(tiny_params(tmp_path_factory.mktemp("compress")), judges=False)
        for name in ITEMS:
            train_ae.main(params, name)
            compress.main(params, name)
        compress_raw.main(params)
        yield params


def read(folder):
    metrics = json.loads((folder / "metrics.json").read_text())
    with np.load(folder / "maps.npz") as z:
        maps = {k: z[k] for k in z.files}
    with np.load(folder / "per_image.npz") as z:
        per_image = {k: z[k] for k in z.files}
    return metrics, maps, per_image


def check_outputs(params, folder, records, channels):
    cfg = params.analysis.compress
    side = params.data.resolution // 8
    metrics, maps, per_image = read(folder)
    assert list(metrics) == list(cfg.sets)
    for name, level in cfg.sets.items():
        m = metrics[name]
        assert m["level"] == level and m["n_images"] == cfg.images and m["grid"] == [side, side]
        assert m["channels"] == channels and 1 <= m["n_rho"] <= m["n_images"]
        for key in ("sigma2", "rho"):
            lo, hi = m[f"{key}_ci"]
            assert np.isfinite([m[key], lo, hi]).all() and m[key] > 0
            assert lo <= m[key] <= hi
        assert np.nanmean(per_image[f"{name}/rho"]) == pytest.approx(m["rho"])
        assert per_image[f"{name}/sigma2"].shape == (cfg.images,) and per_image[f"{name}/std"].shape == (channels,)
        assert m["normalise"] == cfg.normalise and m["cell_labels"] == cfg.cell_labels
        assert cfg.purity <= m["purity"] <= 1 and 0 < m["cells_labelled"] <= 1 and m["segments_per_image"] >= 1
        assert m["cell_pixels"] == 64 and 0 <= m["segments_owning_a_cell"] <= 1 and m["segment_pixels_median"] > 0
        k = cfg.kmeans_images
        res = params.data.resolution
        assert maps[f"{name}/images"].shape == (k, res, res, 3) and maps[f"{name}/images"].dtype == np.uint8
        assert maps[f"{name}/masks"].shape == (k, side, side)
        for n_clusters in cfg.kmeans_ks:
            km = maps[f"{name}/kmeans{n_clusters}"]
            assert km.shape == (k, side, side) and km.dtype == np.int64
            assert km.min() == 0 and km.max() < n_clusters
        pca = maps[f"{name}/pca"]
        assert pca.shape == (k, side, side, 3) and pca.min() >= 0.0 and pca.max() <= 1.0
    meta = json.loads((records / "meta.json").read_text())
    assert meta["unlabelled_ids"] == {name: [] for name in cfg.sets}  # embedded sets: every id is a segment


@pytest.mark.parametrize("name", ITEMS)
def test_compress_outputs(tiny, name):
    latent_channels = tiny.autoencoders.arch(name).latent_channels
    records = layout.record_dir(tiny.paths, "compress", name)
    check_outputs(tiny, run_dir(tiny.paths, "compress", name), records, latent_channels)
    assert json.loads((records / "meta.json").read_text())["item"] == name


def test_raw_outputs(tiny):
    channels = {"unshuffle": 3 * 8 * 8, "area": 3, "pca": tiny.autoencoders.conv.latent_channels}
    channels = channels[tiny.analysis.compress.raw_mode]
    check_outputs(tiny, run_dir(tiny.paths, "compress_raw"), layout.record_dir(tiny.paths, "compress_raw"), channels)


def test_compress_is_deterministic(tiny):
    folder = run_dir(tiny.paths, "compress", "ae")
    text = (folder / "metrics.json").read_text()
    _, maps, _ = read(folder)
    compress.main(tiny, "ae")
    assert (folder / "metrics.json").read_text() == text
    _, again, _ = read(folder)
    assert all(np.array_equal(maps[k], again[k]) for k in maps) and maps.keys() == again.keys()


def test_missing_model_names_the_stage(tiny):
    with pytest.raises(FileNotFoundError, match=r"dvc repro train_ae@vae"):
        compress.main(tiny, "vae")


def test_set_without_masks_fails_before_work(tmp_path):
    raw = tiny_raw(tmp_path)
    raw["data"]["sets"]["inet"] = {
        "kind": "imagenet",
        "root": "unused",
        "num_train": 0,
        "num_val": 1,
        "num_judge": 1,
        "num_eval": 0,
    }
    raw["analysis"]["compress"]["sets"] = {"inet": "object"}
    params = parse_params(raw)
    root = tmp_path / raw["paths"]["data"] / "inet"  # an ImageNet-like split: images and labels, no masks
    write_json(root / "meta.json", {"kind": "imagenet", "resolution": 32, "mask_level": None, "mask_names": []})
    write_npy(root / "eval" / "images.npy", np.zeros((2, 32, 32, 3), np.uint8))
    write_npy(root / "eval" / "labels.npy", np.zeros(2, np.int64))
    for stage in (lambda: compress.main(params, "ae"), lambda: compress_raw.main(params)):
        with pytest.raises(ValueError, match=r"'inet'.*no segmentation masks.*choose a set with masks"):
            stage()
    assert not run_dir(params.paths, "compress").exists() and not run_dir(params.paths, "compress_raw").exists()


def test_raw_grid_needs_one_downsampling(tmp_path):
    params = tiny_params(tmp_path, autoencoders={"vit": {"patch_size": 4}})
    with pytest.raises(ValueError, match="patch_size is 4"):
        compress_raw.grid_factor(params.autoencoders, params.data.resolution)
    assert compress_raw.grid_factor(tiny_params(tmp_path).autoencoders, 32) == 8


@pytest.mark.parametrize("rule", ["centre", "majority"])
def test_unlabelled_ids_become_minus_one(rule):
    masks = np.zeros((1, 8, 8), np.uint8)
    masks[0, :, 4:] = 3
    labels, share = grid_labels(masks, 2, (0,), rule, 0.5)
    assert labels.dtype == np.int64 and labels.tolist() == [[[-1, 3], [-1, 3]]] and (share == 1).all()
    assert grid_labels(masks, 2, (), rule, 0.5)[0].tolist() == [[[0, 3], [0, 3]]]


def upscaled(params, runs, factor):
    """`params` with analysis.compress.upscale = `factor`, writing under `runs`."""
    cfg = dataclasses.replace(params.analysis.compress, upscale=factor)
    return dataclasses.replace(
        params,
        paths=dataclasses.replace(params.paths, runs=str(runs)),
        analysis=dataclasses.replace(params.analysis, compress=cfg),
    )


def test_rendered_sets_are_the_eval_scenes_at_any_resolution(tiny):
    n = 6
    for name in tiny.analysis.compress.sets:
        stored = open_split(tiny.paths, name, "eval")
        same = RenderedSplit(stored, tiny, n, tiny.data.resolution)
        for i in range(n):  # at the data stage's resolution: the stored images and masks themselves
            assert np.array_equal(same[i]["image"].numpy(), stored[i]["image"].numpy())
            assert np.array_equal(same[i]["mask"].numpy(), stored[i]["mask"].numpy())
        images, masks = RenderedSplit(stored, tiny, n, 2 * tiny.data.resolution).arrays()
        assert images.shape == (n, 64, 64, 3) and masks.shape == (n, 64, 64)
        small = images.reshape(n, 32, 2, 32, 2, 3).mean(axis=(2, 4))  # 2x2 means: back at 32 px
        ref = np.asarray(stored.images[:n], dtype=np.float64)
        own = np.abs(small - ref).mean(axis=(1, 2, 3))  # the same scene, rendered finer
        other = np.abs(small - np.roll(ref, 1, axis=0)).mean(axis=(1, 2, 3))  # another scene
        assert (own < 0.5 * other).all(), (own, other)


def test_upscaled_sets_are_encoded_at_the_higher_resolution(tiny, tmp_path):
    params = upscaled(tiny, tmp_path, 2)
    for name in ITEMS:  # a conv net, and VMAE, whose positional tables are resized
        shutil.copytree(layout.autoencoder_dir(tiny.paths, name), tmp_path / "autoencoders" / name)
        compress.main(params, name)
    compress_raw.main(params)
    at_32 = read(run_dir(tiny.paths, "compress", "ae"))[0]
    folders = [run_dir(params.paths, "compress", name) for name in ITEMS] + [run_dir(params.paths, "compress_raw")]
    for folder in folders:
        metrics, maps, _ = read(folder)
        for name in params.analysis.compress.sets:
            m = metrics[name]
            assert m["resolution"] == 64 and m["grid"] == [8, 8] and maps[f"{name}/masks"].shape[1:] == (8, 8)
            assert maps[f"{name}/images"].shape[1:] == (64, 64, 3)
            assert m["segment_pixels_median"] > at_32[name]["segment_pixels_median"]  # 4x the pixels per segment
    for item in ITEMS:
        m = read(run_dir(params.paths, "compress", item))[0]
        for name in params.analysis.compress.sets:  # reconstruction at the rendered resolution is recorded (dB)
            assert 5 < m[name]["psnr"] < 60


def test_renders_above_256_px_are_refused_before_work(tiny, tmp_path):
    params = upscaled(tiny, tmp_path, 16)  # 512 px
    for stage in (lambda: compress.main(params, "ae"), lambda: compress_raw.main(params)):
        with pytest.raises(
            ValueError, match=r"renders the sets at 512 px, above the paper's 256: lower .*upscale to 8"
        ):
            stage()
    assert not run_dir(params.paths, "compress").exists() and not run_dir(params.paths, "compress_raw").exists()


@pytest.mark.parametrize("change", ["seed", "knobs"])
def test_rendering_with_other_data_params_is_refused_before_work(tiny, tmp_path, change):
    """Finer renders must be the stored scenes: another seed, or generator knobs the data stage did not use, would
    measure other images than those the masks and models were judged on."""
    params = upscaled(tiny, tmp_path, 2)
    if change == "seed":
        params, match = dataclasses.replace(params, seed=params.seed + 1), r"made with seed 0, params say 1"
    else:
        faces = dataclasses.replace(params.data.faces, max_yaw=0.0, max_roll_deg=0.0)  # a frontal, upright face
        params = dataclasses.replace(params, data=dataclasses.replace(params.data, faces=faces))
        match = r"'faces' is not what data.faces renders now"
    for stage in (lambda: compress.main(params, "ae"), lambda: compress_raw.main(params)):
        with pytest.raises(ValueError, match=match + r".*dvc repro data"):
            stage()
    assert not run_dir(params.paths, "compress").exists() and not run_dir(params.paths, "compress_raw").exists()


def test_upscaling_a_set_of_files_fails_before_work(tmp_path):
    raw = tiny_raw(tmp_path)
    raw["data"]["sets"]["ade"] = {
        "kind": "ade20k",
        "root": "unused",
        "num_train": 0,
        "num_val": 1,
        "num_judge": 1,
        "num_eval": 0,
    }
    raw["analysis"]["compress"] |= {"sets": {"ade": "object"}, "upscale": 2}
    params = parse_params(raw)
    root = tmp_path / raw["paths"]["data"] / "ade"  # a split of files: masks, but no generator to render it larger
    write_json(root / "meta.json", {"kind": "ade20k", "resolution": 32, "mask_level": "object", "mask_names": ["a"]})
    write_npy(root / "eval" / "images.npy", np.zeros((2, 32, 32, 3), np.uint8))
    write_npy(root / "eval" / "labels.npy", np.zeros(2, np.int64))
    for stage in (lambda: compress.main(params, "ae"), lambda: compress_raw.main(params)):
        with pytest.raises(ValueError, match=r"upscale is 2, but 'ade' \(ade20k\).*set analysis.compress.upscale to 1"):
            stage()
    assert not run_dir(params.paths, "compress").exists() and not run_dir(params.paths, "compress_raw").exists()


def test_upscaling_a_model_without_set_image_size_is_refused_before_work(tiny, tmp_path, monkeypatch):
    """A user's model need not have set_image_size; at upscale > 1 the stage says what to do, and writes nothing."""
    params = upscaled(tiny, tmp_path, 2)
    shutil.copytree(layout.autoencoder_dir(tiny.paths, "ae"), tmp_path / "autoencoders" / "ae")
    real = compress.load_autoencoder

    class Fixed:  # the trained model behind an interface with no set_image_size, as a user's model may be
        def __init__(self, ae):
            self.encode, self.decode, self.downsample, self.to = ae.encode, ae.decode, ae.downsample, ae.to

    monkeypatch.setattr(compress, "load_autoencoder", lambda *a, **k: Fixed(real(*a, **k)))
    with pytest.raises(ValueError, match=r"'ae' has no set_image_size.*upscale to 1, or give the model a set_image"):
        compress.main(params, "ae")
    assert not run_dir(params.paths, "compress").exists()
