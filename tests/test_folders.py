"""Tests for `bench.folders`: the ADM crop against independent references, each scanner on a tiny fixture of its
release layout, and the error policy (missing annotation at scan time, corrupt image at load time).

Run: `python -m pytest tests/test_folders.py -q`.
"""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torchvision.transforms.functional as tvf
from PIL import Image

from bench.folders import (
    ADE20K_NUM_CLASSES,
    CELEBAMASK_PARTS,
    MASK_NAMES,
    PartMasks,
    Record,
    center_crop_arr,
    center_crop_mask,
    load_record,
    official_splits,
    scan,
    scan_ade20k,
    scan_celebahq,
    scan_celebamaskhq,
    scan_imagenet,
)

PALETTE = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0], [0, 0, 255], [255, 255, 0]], dtype=np.uint8)


def _save_rgb(path: Path, width: int, height: int, seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _save_ids(path: Path, ids: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(ids.astype(np.uint8)).save(path)
    return path


def _stripes(width: int, height: int, period: int) -> np.ndarray:
    """Label map (H, W) of vertical stripes cycling through ids 1..4."""
    return np.broadcast_to(1 + (np.arange(width) // period) % 4, (height, width)).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# ADM centre crop
# ---------------------------------------------------------------------------------------------


def test_crop_is_identity_at_target_size():
    pixels = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    np.testing.assert_array_equal(center_crop_arr(Image.fromarray(pixels), 32), pixels)


def test_crop_of_double_size_quadrants_halves_them_exactly():
    quadrants = np.zeros((64, 64, 3), dtype=np.uint8)
    quadrants[:32, :32], quadrants[:32, 32:], quadrants[32:, :32], quadrants[32:, 32:] = PALETTE[1:]
    out = center_crop_arr(Image.fromarray(quadrants), 32)
    assert out.shape == (32, 32, 3) and out.dtype == np.uint8
    # One BOX halving averages 2x2 blocks that never straddle a quadrant edge, so colours stay exact.
    for rows, cols, colour in [(slice(0, 16), slice(0, 16), 1), (slice(0, 16), slice(16, 32), 2)]:
        np.testing.assert_array_equal(out[rows, cols], np.broadcast_to(PALETTE[colour], (16, 16, 3)))
    for rows, cols, colour in [(slice(16, 32), slice(0, 16), 3), (slice(16, 32), slice(16, 32), 4)]:
        np.testing.assert_array_equal(out[rows, cols], np.broadcast_to(PALETTE[colour], (16, 16, 3)))


def _save_rgb_to_memory(width: int, height: int) -> io.BytesIO:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(width * height).integers(0, 256, (height, width, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    buffer.seek(0)
    return buffer


@pytest.mark.parametrize("size_wh", [(300, 200), (90, 120), (257, 64), (700, 1100), (90, 123)])
def test_crop_matches_torchvision_reference(size_wh):
    image = Image.open(_save_rgb_to_memory(*size_wh))
    reference = image.convert("RGB")
    while min(reference.size) >= 128:
        reference = reference.resize((reference.width // 2, reference.height // 2), Image.Resampling.BOX)
    scale = 64 / min(reference.size)
    h, w = round(reference.height * scale), round(reference.width * scale)
    resized = tvf.resize(reference, [h, w], tvf.InterpolationMode.BICUBIC)
    expected = np.asarray(tvf.crop(resized, (h - 64) // 2, (w - 64) // 2, 64, 64))
    np.testing.assert_array_equal(center_crop_arr(image, 64), expected)
    # ADM floors the offset; torchvision rounds half to even, so they differ when the margin is 3 mod 4 (here 90x123)
    if (h - 64) % 4 != 3 and (w - 64) % 4 != 3:
        np.testing.assert_array_equal(expected, np.asarray(tvf.center_crop(resized, [64, 64])))


def test_mask_crop_is_nearest_and_takes_the_image_box():
    # An odd-sized image whose colour is a function of its label: after cropping both, the image colour at
    # every pixel away from stripe edges must be the colour of the mask id there (same box, no id drift).
    ids = _stripes(301, 203, period=37)
    image, mask = center_crop_arr(Image.fromarray(PALETTE[ids]), 64), center_crop_mask(Image.fromarray(ids), 64)
    assert mask.shape == (64, 64) and mask.dtype == np.uint8
    assert set(np.unique(mask)) <= set(np.unique(ids))  # NEAREST: no blended ids
    interior = np.all([np.roll(mask, s, axis=1) == mask for s in (-3, -2, -1, 1, 2, 3)], axis=0)
    interior[:, :3] = interior[:, -3:] = False  # np.roll wraps around the borders
    assert interior.sum() > 64 * 24
    np.testing.assert_allclose(image[interior], PALETTE[mask[interior]], atol=2)


@pytest.mark.parametrize("size_wh", [(301, 203), (1023, 519)])
def test_mask_crop_samples_the_image_crop_geometry(size_wh):
    # Reference worked out independently of PIL: halvings floor the size (dropping an odd last row/column each
    # time), the resize rounds, the crop floors; output pixel j then samples the original at the centre
    # x = (j + left + 0.5) * kept_width / resized_width, and NEAREST takes the pixel containing it.
    width, height = size_wh
    y, x = np.mgrid[:height, :width]
    ids = (1 + (x // 3 + 2 * (y // 3)) % 4).astype(np.uint8)  # ids change every 3 px: a 1.5 px shift shows
    k, w, h = 0, width, height
    while min(w, h) >= 128:
        k, w, h = k + 1, w // 2, h // 2
    rw, rh = round(w * 64 / min(w, h)), round(h * 64 / min(w, h))
    cx = (np.arange(64) + (rw - 64) // 2 + 0.5) * (w << k) / rw
    cy = (np.arange(64) + (rh - 64) // 2 + 0.5) * (h << k) / rh
    mask = center_crop_mask(Image.fromarray(ids), 64)
    at = lambda yy, xx: ids[np.floor(yy).astype(int)[:, None], np.floor(xx).astype(int)[None, :]]  # noqa: E731
    clear = (at(cy - 0.6, cx - 0.6) == at(cy + 0.6, cx + 0.6)) & (at(cy - 0.6, cx + 0.6) == at(cy + 0.6, cx - 0.6))
    assert clear.mean() > 0.3
    np.testing.assert_array_equal(mask[clear], at(cy, cx)[clear])


def test_mask_crop_rejects_rgb():
    with pytest.raises(ValueError, match="single-channel"):
        center_crop_mask(Image.new("RGB", (8, 8)), 4)


# ---------------------------------------------------------------------------------------------
# Scanners
# ---------------------------------------------------------------------------------------------


@pytest.fixture
def imagenet(tmp_path: Path) -> Path:
    for split, wnid, name in [
        ("train", "n02", "b.JPEG"),
        ("train", "n01", "z.JPEG"),
        ("train", "n01", "a.JPEG"),
        ("train", "n03", "c.JPEG"),
        ("val", "n03", "v1.JPEG"),
        ("val", "n01", "v0.JPEG"),
    ]:
        _save_rgb(tmp_path / split / wnid / name, 300, 200)
    (tmp_path / "train" / "n01" / "notes.txt").write_text("not an image")
    return tmp_path


def test_scan_imagenet_labels_and_order(imagenet: Path):
    train = scan_imagenet(imagenet, "train")
    assert [(Path(r.image).relative_to(imagenet).as_posix(), r.label) for r in train] == [
        ("train/n01/a.JPEG", 0),
        ("train/n01/z.JPEG", 0),
        ("train/n02/b.JPEG", 1),
        ("train/n03/c.JPEG", 2),
    ]
    # val lacks n02, yet n03 keeps its train id 2.
    assert [r.label for r in scan("imagenet", imagenet, "val")] == [0, 2]
    image, label, mask = load_record(train[0], 32)
    assert image.shape == (32, 32, 3) and label == 0 and mask is None


def test_scan_imagenet_flat_val_asks_to_sort_it(tmp_path: Path):
    _save_rgb(tmp_path / "train" / "n01" / "a.JPEG", 8, 8)
    _save_rgb(tmp_path / "val" / "ILSVRC2012_val_00000001.JPEG", 8, 8)
    with pytest.raises(ValueError, match="sort them into class folders"):
        scan_imagenet(tmp_path, "val")


def test_scan_imagenet_rejects_val_class_unknown_to_train(imagenet: Path):
    _save_rgb(imagenet / "val" / "n99" / "x.JPEG", 8, 8)
    with pytest.raises(ValueError, match="n99"):
        scan_imagenet(imagenet, "val")


def test_scan_celebahq_flat_folder(tmp_path: Path):
    for name in ["b.png", "a.jpg"]:
        _save_rgb(tmp_path / name, 90, 120)
    (tmp_path / "._a.jpg").write_bytes(b"macOS metadata")
    assert [(Path(r.image).name, r.label, r.mask) for r in scan_celebahq(tmp_path)] == [
        ("a.jpg", 0, None),
        ("b.png", 0, None),
    ]
    image, _, _ = load_record(scan("celebahq", tmp_path)[1], 64)
    assert image.shape == (64, 64, 3)


def test_scan_celebahq_empty_folder_names_it(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match="no .jpg/.png images"):
        scan_celebahq(tmp_path)


@pytest.fixture
def ade20k(tmp_path: Path) -> Path:
    for i in (2, 1):
        _save_rgb(tmp_path / "images" / "training" / f"ADE_train_{i:08d}.jpg", 300, 200, seed=i)
        ids = np.zeros((200, 300), dtype=np.uint8)
        ids[:, 150:], ids[:100, :] = 7, 150  # known ids 0, 7, 150
        _save_ids(tmp_path / "annotations" / "training" / f"ADE_train_{i:08d}.png", ids)
    return tmp_path


def test_scan_ade20k_pairs_images_and_annotations(ade20k: Path):
    records = scan("ade20k", ade20k, "train")
    assert [Path(r.image).name for r in records] == ["ADE_train_00000001.jpg", "ADE_train_00000002.jpg"]
    assert all(Path(r.mask).parent.parts[-2:] == ("annotations", "training") for r in records)
    assert all(Path(r.mask).stem == Path(r.image).stem for r in records)
    image, label, mask = load_record(records[0], 64)
    assert image.shape == (64, 64, 3) and label == 0
    assert mask.shape == (64, 64) and set(np.unique(mask)) == {0, 7, 150}


def test_scan_ade20k_missing_annotation_names_image_and_path(ade20k: Path):
    _save_rgb(ade20k / "images" / "training" / "ADE_train_00000003.jpg", 30, 20)
    with pytest.raises(
        FileNotFoundError, match=r"ADE_train_00000003\.jpg.*annotations.training.ADE_train_00000003\.png"
    ):
        scan_ade20k(ade20k, "train")


def test_scan_ade20k_val_split_reads_validation_folder(ade20k: Path):
    with pytest.raises(FileNotFoundError, match="validation"):
        scan_ade20k(ade20k, "val")


@pytest.fixture
def celebamaskhq(tmp_path: Path) -> Path:
    # Images at twice the mask resolution, as in the release (1024 px images, 512 px masks).
    for idx in (10, 0, 2001, 2):
        _save_rgb(tmp_path / "CelebA-HQ-img" / f"{idx}.jpg", 80, 80, seed=idx)
    annos = tmp_path / "CelebAMask-HQ-mask-anno"
    skin, nose, hair = (np.zeros((40, 40), dtype=np.uint8) for _ in range(3))
    skin[10:30, 10:30], nose[15:25, 15:25], hair[:5, :] = 255, 255, 255  # nose lies on skin
    for idx, parts in [(0, {"skin": skin, "nose": nose, "hair": hair}), (2, {"skin": skin}), (10, {"hair": hair})]:
        for part, on in parts.items():
            _save_ids(annos / "0" / f"{idx:05d}_{part}.png", on)
    _save_ids(annos / "1" / "02001_neck.png", skin)
    return tmp_path


def test_scan_celebamaskhq_orders_by_index_and_lists_parts(celebamaskhq: Path):
    records = scan("celebamaskhq", celebamaskhq)
    assert [Path(r.image).name for r in records] == ["0.jpg", "2.jpg", "10.jpg", "2001.jpg"]
    part_id = {name: i for i, name in enumerate(CELEBAMASK_PARTS, start=1)}
    assert [part for part, _ in records[0].mask.files] == [part_id["skin"], part_id["nose"], part_id["hair"]]
    assert records[3].mask.files == ((part_id["neck"], str(celebamaskhq / "CelebAMask-HQ-mask-anno/1/02001_neck.png")),)
    assert all(r.label == 0 and isinstance(r.mask, PartMasks) for r in records)


def test_celebamaskhq_parts_combine_in_id_order(celebamaskhq: Path):
    _, _, mask = load_record(scan_celebamaskhq(celebamaskhq)[0], 40)
    skin, nose, hair = (CELEBAMASK_PARTS.index(p) + 1 for p in ("skin", "nose", "hair"))
    assert set(np.unique(mask)) == {0, skin, nose, hair}
    # 80 px image -> 40 px crop is one halving, so mask pixels land back on their 40 px grid.
    assert mask[20, 20] == nose and mask[12, 12] == skin and mask[2, 20] == hair and mask[35, 35] == 0


def test_records_round_trip_through_json(celebamaskhq: Path, ade20k: Path):
    records = (
        scan_celebamaskhq(celebamaskhq) + scan_ade20k(ade20k, "train") + scan_celebahq(ade20k / "images" / "training")
    )
    lines = [json.dumps(dataclasses.asdict(r)) for r in records]
    assert [Record.from_dict(json.loads(line)) for line in lines] == records


def test_mask_names_index_by_id():
    assert MASK_NAMES["celebamaskhq"][CELEBAMASK_PARTS.index("cloth") + 1] == "cloth"
    assert len(MASK_NAMES["ade20k"]) == ADE20K_NUM_CLASSES + 1 == 151 and MASK_NAMES["ade20k"][:2] == ("other", "wall")


def test_scan_celebamaskhq_image_without_any_part_fails(celebamaskhq: Path):
    _save_rgb(celebamaskhq / "CelebA-HQ-img" / "4.jpg", 8, 8)
    with pytest.raises(FileNotFoundError, match=r"4\.jpg.*00004_skin\.png"):
        scan_celebamaskhq(celebamaskhq)


# ---------------------------------------------------------------------------------------------
# Corrupt files, dispatch
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("content", [b"\x00garbage, not a JPEG" * 10, "truncated"])
def test_corrupt_image_raises_naming_the_file(tmp_path: Path, content):
    good = _save_rgb(tmp_path / "good.jpg", 64, 64)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(good.read_bytes()[:300] if content == "truncated" else content)
    records = scan_celebahq(tmp_path)  # scanning lists files only; decoding is where corruption shows
    assert [Path(r.image).name for r in records] == ["bad.jpg", "good.jpg"]
    with pytest.raises(ValueError, match=r"bad\.jpg.*delete or re-download"):
        load_record(records[0], 32)


def test_corrupt_mask_raises_naming_the_file(tmp_path: Path):
    image = _save_rgb(tmp_path / "a.jpg", 16, 16)
    (tmp_path / "a.png").write_bytes(b"not a png")
    with pytest.raises(ValueError, match=r"a\.png"):
        load_record(Record(str(image), 0, str(tmp_path / "a.png")), 8)


def test_scan_unknown_kind_lists_kinds(tmp_path: Path):
    with pytest.raises(ValueError, match="unknown dataset kind 'imagenet21k'.*celebamaskhq"):
        scan("imagenet21k", tmp_path, "train")


def test_scan_missing_root_says_how_to_symlink(tmp_path: Path):
    with pytest.raises(FileNotFoundError, match=r"data root '.*imagenet' not found: symlink your ImageNet.*ln -s"):
        scan("imagenet", tmp_path / "imagenet", "train")


def test_scan_checks_split_against_kind(imagenet: Path):
    assert official_splits("imagenet") == ("train", "val") and official_splits("celebahq") == ()
    with pytest.raises(ValueError, match="no official splits"):
        scan("celebahq", imagenet, "train")
    with pytest.raises(ValueError, match="split to be one of"):
        scan("imagenet", imagenet, None)
