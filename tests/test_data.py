"""The data stage: deterministic bytes, aligned masks, four disjoint splits, fail-fast sources, the samples figure."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from analysis import fig_datasets
from bench import data, layout
from bench.config import parse_params
from bench.splits import open_split
from tests.conftest import tiny_params, tiny_raw

SIZES = {"num_train": 12, "num_val": 4, "num_judge": 5, "num_eval": 6}
SMALL = {"data": {"sets": {"shapes": dict(SIZES), "faces": dict(SIZES)}}}


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.rglob("*.npy"))
    }


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("data")
    params = tiny_params(tmp, **SMALL)
    data.main(params)
    return params


def test_layout_and_meta(built):
    for name in ("shapes", "faces"):
        meta = json.loads((Path(built.paths.data) / name / "meta.json").read_text())
        assert meta["counts"] == {"train": 12, "val": 4, "judge": 5, "eval": 6} and meta["resolution"] == 32
        assert meta["mask_level"] == {"shapes": "object", "faces": "part"}[name]
        split = open_split(built.paths.data, name, "train")
        item = split[3]
        assert item["image"].shape == (3, 32, 32) and item["mask"].shape == (32, 32)
        assert -1.0 <= item["image"].min() and item["image"].max() <= 1.0
        assert 0 <= int(item["label"]) < meta["num_classes"]
        assert int(item["mask"].max()) < len(meta["mask_names"])
    # the stage's volatile record (wall time, git SHA) lives outside the data folder later stages depend on
    assert (layout.record_dir(built.paths, "data") / "meta.json").is_file()
    assert not list(Path(built.paths.data).glob("_*")) and not list(Path(built.paths.data).rglob("params.json"))


def test_rerun_gives_identical_folder_bytes(built, tmp_path):
    """Re-running the stage on the same params rewrites every file of `data/` byte for byte (DVC hash unchanged)."""

    def every_file(folder: Path) -> dict[str, bytes]:
        return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    before = every_file(Path(built.paths.data))
    data.main(built)
    assert every_file(Path(built.paths.data)) == before


def test_truncated_split_names_the_file_and_the_fix(built, tmp_path):
    params = tiny_params(tmp_path, **SMALL)
    data.main(params)
    images = layout.split_dir(params.paths, "shapes", "train") / "images.npy"
    images.write_bytes(images.read_bytes()[: images.stat().st_size // 2])
    with pytest.raises(ValueError, match=r"images\.npy' is truncated or corrupt.*dvc repro -f data"):
        open_split(params.paths, "shapes", "train")


def test_same_seed_same_bytes_other_seed_other_bytes(built, tmp_path):
    again = tiny_params(tmp_path / "a", **SMALL)
    data.main(again)
    assert _digest(Path(built.paths.data)) == _digest(Path(again.paths.data))
    other = tiny_params(tmp_path / "b", seed=1, **SMALL)
    data.main(other)
    a, b = _digest(Path(built.paths.data)), _digest(Path(other.paths.data))
    assert all(a[k] != b[k] for k in a if k.endswith("images.npy"))


def test_four_splits_are_pairwise_disjoint(built):
    for name in ("shapes", "faces"):
        seen: dict[bytes, str] = {}
        for split in layout.SPLITS:
            for img in np.load(Path(built.paths.data) / name / split / "images.npy"):
                assert seen.setdefault(img.tobytes(), split) == split, (name, split, seen[img.tobytes()])


def test_masks_sit_on_the_pixels_they_label(built):
    """Colour statistics inside a labelled region differ from outside it, and mask edges meet image edges."""
    for name in ("shapes", "faces"):
        images = np.load(Path(built.paths.data) / name / "train" / "images.npy").astype(float)
        masks = np.load(Path(built.paths.data) / name / "train" / "masks.npy")
        grad_img = np.abs(np.diff(images.mean(-1), axis=2))  # horizontal intensity steps (N, H, W-1)
        boundary = masks[:, :, 1:] != masks[:, :, :-1]
        # Image intensity jumps more across mask boundaries than elsewhere: masks are aligned, not shifted.
        assert grad_img[boundary].mean() > 1.5 * grad_img[~boundary].mean(), name
        shifted = np.roll(masks, 3, axis=2)
        b2 = shifted[:, :, 1:] != shifted[:, :, :-1]
        assert grad_img[boundary].mean() > grad_img[b2 & ~boundary].mean(), name


def only_set(raw: dict, name: str, entry: dict) -> dict:
    """`raw` with data.sets = {name: entry}, and the sections that name datasets pointed at it."""
    raw["data"]["sets"] = {name: entry}
    raw["autoencoders"]["train_sets"] = [name]
    raw["featnets"]["sets"] = [name]
    raw["analysis"]["compress"]["sets"] = {}
    raw["diffusion"]["items"] = {k: [] for k in raw["diffusion"]["items"]}
    return raw


def test_real_set_with_missing_folder_fails_before_work(tmp_path):
    raw = only_set(
        tiny_raw(tmp_path),
        "imagenet",
        _real("imagenet", tmp_path / "nope", train=0, val=1, judge=1, ev=0),
    )
    with pytest.raises(FileNotFoundError, match=r"data.sets.imagenet.root = .*nope.* symlink"):
        data.main(parse_params(raw))
    assert not (tmp_path / "data").exists()


def _records(params, name: str) -> dict[str, list[str]]:
    """split -> the image paths of its manifest."""
    root = Path(params.paths.data) / name
    return {
        split: [json.loads(line)["image"] for line in (root / split / "records.jsonl").read_text().splitlines()]
        for split in layout.SPLITS
    }


def _fake_imagenet(root: Path, per_class: int) -> None:
    """An ImageNet-like folder: train/ and val/, two classes (n01 red, n02 blue) of `per_class` images each."""
    from PIL import Image

    for split in ("train", "val"):
        for wnid, colour in (("n01", (200, 10, 10)), ("n02", (10, 10, 200))):
            d = root / split / wnid
            d.mkdir(parents=True)
            for i in range(per_class):
                Image.new("RGB", (48, 40), colour).save(d / f"{i}.JPEG")


def _real(kind: str, root: Path, train: int, val: int, judge: int, ev: int) -> dict:
    return {"kind": kind, "root": str(root), "num_train": train, "num_val": val, "num_judge": judge, "num_eval": ev}


def test_real_imagenet_manifest_round_trip(tmp_path):
    _fake_imagenet(tmp_path / "inet", per_class=3)
    entry = _real("imagenet", tmp_path / "inet", train=4, val=1, judge=1, ev=0)
    raw = only_set(tiny_raw(tmp_path), "inet", entry)
    params = parse_params(raw)
    data.main(params)
    train = open_split(params.paths.data, "inet", "train")
    ev = open_split(params.paths.data, "inet", "eval")
    assert len(train) == 4 and len(ev) == 6
    item = ev[0]
    assert item["image"].shape == (3, 32, 32) and "mask" not in item
    assert int(item["label"]) == 0 and item["image"][0].mean() > 0.5  # red class n01 first


def test_real_val_and_judge_are_carved_from_the_training_pool(tmp_path):
    """Official train set -> val, judge, train (disjoint, together all of it); official val -> eval."""
    _fake_imagenet(tmp_path / "inet", per_class=5)
    entry = _real("imagenet", tmp_path / "inet", train=0, val=2, judge=3, ev=0)
    params = parse_params(only_set(tiny_raw(tmp_path), "inet", entry))
    data.main(params)
    paths = _records(params, "inet")
    assert {s: len(p) for s, p in paths.items()} == {"train": 5, "val": 2, "judge": 3, "eval": 10}
    pool = set(paths["train"]) | set(paths["val"]) | set(paths["judge"])
    assert len(pool) == 10 and all("/train/" in p for p in pool)
    assert all("/val/" in p for p in paths["eval"])
    data.main(params)  # same seed, same carving; another seed, another one
    assert _records(params, "inet") == paths
    other = parse_params(only_set(tiny_raw(tmp_path / "b", seed=1), "inet", entry))
    data.main(other)
    assert _records(other, "inet")["judge"] != paths["judge"]


def test_real_set_without_official_split_is_carved_disjointly(tmp_path):
    """CelebA-HQ (one pool): eval first, then val, judge and train from the rest, all disjoint."""
    from PIL import Image

    (tmp_path / "chq").mkdir()
    for i in range(12):
        Image.new("RGB", (40, 40), (20 * i, 100, 100)).save(tmp_path / "chq" / f"{i:02d}.png")
    entry = _real("celebahq", tmp_path / "chq", train=0, val=2, judge=3, ev=3)
    params = parse_params(only_set(tiny_raw(tmp_path), "chq", entry))
    data.main(params)
    paths = _records(params, "chq")
    assert {s: len(p) for s, p in paths.items()} == {"train": 4, "val": 2, "judge": 3, "eval": 3}
    assert len(set().union(*paths.values())) == 12


def test_real_pool_too_small_to_carve_names_the_keys(tmp_path):
    _fake_imagenet(tmp_path / "inet", per_class=2)
    entry = _real("imagenet", tmp_path / "inet", train=0, val=2, judge=2, ev=0)
    with pytest.raises(ValueError, match=r"4 training images.*data.sets.inet.num_val / num_judge"):
        data.main(parse_params(only_set(tiny_raw(tmp_path), "inet", entry)))


def test_samples_figure(built, tmp_path):
    fig = fig_datasets.make_fig_datasets(built.paths.data, ["shapes", "faces"], 4)
    assert len(fig.axes) == 16
    fig_datasets.main(built)
    assert (Path(built.paths.results) / "figures" / "dataset_samples.png").stat().st_size > 10_000
