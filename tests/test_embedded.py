"""Tests of the embedded datasets (bench/embedded): determinism, shapes, labels, mask alignment.

Run: `python -m pytest tests/test_embedded.py -q` (a few seconds on one CPU core).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.config import FacesCfg, ShapesCfg
from bench.embedded import GENERATORS, generate, label_names
from bench.embedded.faces import PART
from bench.embedded.shapes import THING_OFFSET, coverage, sdf_polygon
from bench.embedded.textures import TEXTURE_NAMES, crop

CFGS = {
    "shapes": ShapesCfg(num_classes=10, min_objects=1, max_objects=3, min_scale=0.3, max_scale=0.7),
    "faces": FacesCfg(max_yaw=0.25, max_roll_deg=15.0, min_size=0.4, max_size=0.6),
}
KINDS = sorted(GENERATORS)
N_BIG = 300  # enough images for every label to appear


@pytest.fixture(scope="module")
def shapes_batch():
    """(images, labels, masks): N_BIG eval shapes at 64 px, shared by the tests below."""
    return generate("shapes", N_BIG, 64, 7, "eval", CFGS["shapes"])


@pytest.fixture(scope="module")
def faces_batch():
    """(images, labels, masks): N_BIG eval faces at 64 px, shared by the tests below."""
    return generate("faces", N_BIG, 64, 7, "eval", CFGS["faces"])


@pytest.fixture(params=KINDS)
def batch(request):
    """(kind, images, labels, masks) for each kind."""
    return (request.param, *request.getfixturevalue(f"{request.param}_batch"))


def test_registry_is_consistent():
    assert set(GENERATORS) == {"shapes", "faces"}
    for gen in GENERATORS.values():
        assert gen.mask_level in ("object", "part")
        assert len(set(gen.label_names)) == len(gen.label_names) >= 5
        assert len(set(gen.mask_names)) == len(gen.mask_names) >= 8
    assert len(GENERATORS["shapes"].label_names) >= 10
    assert label_names("shapes", CFGS["shapes"]) == GENERATORS["shapes"].label_names[:10]


@pytest.mark.parametrize("kind", KINDS)
def test_same_seed_gives_identical_bytes(kind):
    a = generate(kind, 4, 32, 3, "train", CFGS[kind])
    b = generate(kind, 4, 32, 3, "train", CFGS[kind])
    for x, y in zip(a, b, strict=True):
        assert x.tobytes() == y.tobytes()


@pytest.mark.parametrize("kind", KINDS)
def test_seed_and_split_change_images(kind):
    base = generate(kind, 4, 32, 3, "train", CFGS[kind])[0]
    for other in (generate(kind, 4, 32, 4, "train", CFGS[kind])[0], generate(kind, 4, 32, 3, "eval", CFGS[kind])[0]):
        # Every image differs, not only some: the generators of the two streams are unrelated.
        assert all(np.abs(base[i].astype(int) - other[i]).mean() > 5 for i in range(4))


@pytest.mark.parametrize("kind", KINDS)
def test_image_i_independent_of_n_and_chunking(kind):
    five = generate(kind, 5, 32, 0, "train", CFGS[kind])
    three = generate(kind, 3, 32, 0, "train", CFGS[kind])
    rest = generate(kind, 2, 32, 0, "train", CFGS[kind], start=3)
    for f, t, r in zip(five, three, rest, strict=True):
        np.testing.assert_array_equal(f[:3], t)
        np.testing.assert_array_equal(f[3:], r)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("res", [32, 64])
def test_shapes_dtypes_and_ranges(kind, res):
    images, labels, masks = generate(kind, 6, res, 1, "train", CFGS[kind])
    assert images.shape == (6, res, res, 3) and images.dtype == np.uint8
    assert labels.shape == (6,) and labels.dtype == np.int64
    assert masks.shape == (6, res, res) and masks.dtype == np.uint8
    assert labels.min() >= 0 and labels.max() < len(label_names(kind, CFGS[kind]))
    assert masks.max() < len(GENERATORS[kind].mask_names)
    assert images.std() > 20  # not blank


def test_same_scene_at_every_resolution():
    """Draws are resolution-free: a 128 px render box-filtered to 32 px matches the 32 px render."""
    for kind in KINDS:
        small = generate(kind, 3, 32, 5, "train", CFGS[kind])[0].astype(np.float32)
        big = generate(kind, 3, 128, 5, "train", CFGS[kind])[0].astype(np.float32)
        down = big.reshape(3, 32, 4, 32, 4, 3).mean(axis=(2, 4))
        same = np.abs(down - small).mean()
        other = np.abs(down - np.roll(small, 1, axis=0)).mean()
        assert same < 12 and same < other / 3, (kind, same, other)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="unknown embedded dataset"):
        generate("mnist", 1, 32, 0, "train", CFGS["shapes"])
    with pytest.raises(ValueError, match="split"):
        generate("shapes", 1, 32, 0, "test", CFGS["shapes"])
    with pytest.raises(ValueError, match="ShapesCfg"):
        generate("shapes", 1, 32, 0, "train", CFGS["faces"])
    with pytest.raises(ValueError, match="resolution"):
        generate("faces", 1, 8, 0, "train", CFGS["faces"])


def test_labels_cover_every_class(batch):
    kind, _, labels, _ = batch
    counts = np.bincount(labels, minlength=len(label_names(kind, CFGS[kind])))
    assert (counts > 0).all(), counts


def test_mask_edges_coincide_with_image_edges(batch):
    """Image gradients peak exactly on the mask boundaries: shifting the mask by 1-3 px loses the peak."""
    _, images, _, masks = batch
    x = images.astype(np.float32)
    for axis in (1, 2):
        grad = np.abs(np.diff(x, axis=axis)).sum(-1)
        edge = np.diff(masks.astype(np.int16), axis=axis) != 0
        at = {s: grad[np.roll(edge, s, axis=axis)].mean() for s in (-3, -2, -1, 0, 1, 2, 3)}
        assert at[0] > 1.5 * max(v for s, v in at.items() if s) and at[0] > 3 * grad.mean(), at


def test_shapes_scene_content(shapes_batch):
    images, labels, masks = shapes_batch
    gaps, largest = [], []
    for img, label, mask in zip(images.astype(np.float32), labels, masks, strict=True):
        ids = np.bincount(mask.ravel(), minlength=len(GENERATORS["shapes"].mask_names))
        assert ids[:THING_OFFSET].sum() > 0, "no background stuff"
        # The label is the class of the main object, drawn whole and on top: at least min_scale wide.
        assert ids[THING_OFFSET + label] > 0.01 * mask.size
        # Masks are per class, so two small objects of one class can outweigh the main one: rarely.
        largest.append(ids[THING_OFFSET:].argmax() == label)
        obj = mask >= THING_OFFSET
        gaps.append(np.abs(img[obj].mean(0) - img[~obj].mean(0)).sum())
    assert np.mean(largest) > 0.97
    assert np.mean(gaps) > 40  # objects stand out from the stuff behind them


def test_faces_parts_and_skin(faces_batch):
    images, _, masks = faces_batch
    x = images.astype(np.float32)
    gaps = []
    for img, mask in zip(x, masks, strict=True):
        present = set(np.unique(mask).tolist())
        for part in ("background", "skin", "neck", "hair", "l_eye", "r_eye", "nose"):
            assert PART[part] in present, part
        assert present & {PART["u_lip"], PART["l_lip"]}, "no lips"
        skin = img[mask == PART["skin"]].mean(0)
        assert skin[0] > skin[1] > skin[2], skin  # skin tones are warm at every shade
        gaps.append(np.abs(skin - img[mask == PART["background"]].mean(0)).sum())
        # The eyes sit above the nose (roll is at most 15 degrees).
        rows = {p: np.nonzero(mask == PART[p])[0].mean() for p in ("l_eye", "nose")}
        assert rows["l_eye"] < rows["nose"]
    assert np.mean(gaps) > 60
    brows = np.mean([PART["l_brow"] in m and PART["r_brow"] in m for m in masks])
    assert brows > 0.95


def test_textures_load_offline_and_crop():
    rng = np.random.default_rng(0)
    for name in TEXTURE_NAMES:
        tile = crop(name, 24, 16, rng, 0.01)
        assert tile.shape == (24, 16, 3) and tile.dtype == np.float32
        assert 0.0 <= tile.min() and tile.max() <= 1.0 and tile.std() > 0.01, name


def test_polygon_sdf_sign_and_coverage():
    square = np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]])
    x = np.float32([0.0, 0.5, 2.0, 0.0])
    y = np.float32([0.0, 0.0, 0.0, 3.0])
    np.testing.assert_allclose(sdf_polygon(x, y, square), [-1.0, -0.5, 1.0, 2.0], atol=1e-6)
    sdf = np.linspace(-0.1, 0.1, 41, dtype=np.float32)
    np.testing.assert_array_equal(coverage(sdf, 64) > 0.5, sdf < 0)
