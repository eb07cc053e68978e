"""The embedded `shapes` dataset: the ImageNet (class labels) / ADE20K (object masks) analogue.

A scene is background "stuff" (sky, wall, grass, ground or rock, cut from real photographs, one
region or two split by a wavy horizon) with 1..max_objects textured "things" on top. The image's
class label is the shape category of its main (largest, front-most) object; every category also
has its own texture and colour tendency, as ImageNet classes do, so a small classifier separates
them easily at 32-64 px while the autoencoders still face real photographic detail.

Shapes are signed distance fields (SDFs) rendered directly at the output resolution: a pixel's
coverage is clip(0.5 - sdf / pixel, 0, 1), which anti-aliases the edge, and the mask is coverage > 0.5
(sdf < 0), so masks align with the pixels exactly. Every random draw is resolution-free, so one
seed gives the same scene at 32 and at 256 px. This file also holds the drawing primitives that
`faces.py` reuses (grid windows, SDFs, painting, per-image generators).

Shifts (`SHIFTS`, for validating metrics): `render(..., shift=name)` draws exactly the random numbers
of the unshifted scene, so a shifted image differs from its twin in one property only:
- "texture_mismatch": every object wears the texture and tint of the next class (class + 1), never its own;
- "count_shift": max_objects + 2 distractors, more than any normal scene holds (extras from a side stream);
- "no_main_object": the main object is left out (the label is kept): stuff and distractors only.

Use it through the registry (the data stage does): `generate("shapes", n, resolution, seed, split, cfg)`
from `bench.embedded`, with `cfg = load_params().data.shapes`.
"""

from __future__ import annotations

import math

import numpy as np

from bench.config import ShapesCfg
from bench.embedded.textures import TEXTURE_NAMES, crop, resize

# Codes are part of each image's seed: never renumber (train/eval images would change), only append.
SPLIT_CODES = {"train": 0, "eval": 1, "val": 2, "judge": 3}
KIND_CODE = 1  # separates the shapes stream from the faces stream under the same seed

CLASS_NAMES = (
    "circle", "square", "triangle", "star", "heart", "cross",
    "ring", "hexagon", "crescent", "arrow", "diamond", "semicircle",
)  # fmt: skip
STUFF_NAMES = ("sky", "wall", "grass", "ground", "rock")
# Mask ids: stuff first (0..4), then one "thing" id per shape class (5 + class index).
MASK_NAMES = STUFF_NAMES + CLASS_NAMES
THING_OFFSET = len(STUFF_NAMES)

# Each class's favourite texture and tint: the colour/texture tendency a classifier can use.
CLASS_STYLE = {
    "circle": ("coffee", (1.0, 0.7, 0.4)),
    "square": ("brick", (1.0, 0.45, 0.4)),
    "triangle": ("chelsea", (1.0, 1.0, 0.5)),
    "star": ("rocket", (0.5, 0.7, 1.0)),
    "heart": ("retina", (1.0, 0.5, 0.75)),
    "cross": ("astronaut", (1.0, 1.0, 1.0)),
    "ring": ("coins", (1.0, 0.85, 0.4)),
    "hexagon": ("ihc", (0.5, 0.9, 1.0)),
    "crescent": ("moon", (0.8, 0.7, 1.0)),
    "arrow": ("motorcycle", (0.55, 1.0, 0.55)),
    "diamond": ("hubble", (0.85, 0.5, 1.0)),
    "semicircle": ("gravel", (0.4, 1.0, 0.8)),
}
FAVOURITE_P = 0.9  # share of objects filled with their class's own texture
MAX_TILT = np.pi / 7  # shapes are only tilted, so "diamond" stays apart from "square"
SHIFTS = ("texture_mismatch", "count_shift", "no_main_object")
COUNT_SHIFT_EXTRA = 2  # count_shift: max_objects + 2 distractors, so max_objects + 3 objects in all


# ---------------------------------------------------------------------------------------------
# Drawing primitives (shared with faces.py)
# ---------------------------------------------------------------------------------------------


def image_rng(seed: int, kind: int, split: str, index: int) -> np.random.Generator:
    """The generator of one image: a pure function of (seed, dataset kind, split, index)."""
    if split not in SPLIT_CODES:
        raise ValueError(f"split must be one of {tuple(SPLIT_CODES)}, got {split!r}")
    return np.random.default_rng([seed, kind, SPLIT_CODES[split], index])


def check_shift(kind: str, shift: str | None, supported: tuple[str, ...]) -> None:
    """Raise a ValueError naming the valid shifts unless `shift` is None or one of `supported`."""
    if shift is not None and shift not in supported:
        raise ValueError(f"unknown shift {shift!r} for '{kind}': choose one of {supported}, or None")


def window(cy: float, cx: float, radius: float, res: int) -> tuple[slice, slice, np.ndarray, np.ndarray]:
    """Pixel window covering a disc, with its pixel-centre coordinates.

    Args:
        cy, cx: disc centre, in image units (the image side is 1).
        radius: disc radius, in image units.
        res: image side in pixels.

    Returns:
        (rows, cols) slices into the image and float64 Y (h, 1), X (1, w) pixel centres in image units.
    """
    y0, y1 = max(int(np.floor((cy - radius) * res)), 0), min(int(np.ceil((cy + radius) * res)), res)
    x0, x1 = max(int(np.floor((cx - radius) * res)), 0), min(int(np.ceil((cx + radius) * res)), res)
    y1, x1 = max(y1, y0), max(x1, x0)
    ys = ((np.arange(y0, y1, dtype=np.float64) + 0.5) / res)[:, None]
    xs = ((np.arange(x0, x1, dtype=np.float64) + 0.5) / res)[None, :]
    return slice(y0, y1), slice(x0, x1), ys, xs


def coverage(sdf: np.ndarray, res: int) -> np.ndarray:
    """Anti-aliased coverage in [0, 1] of a shape from its SDF in image units; > 0.5 exactly where sdf < 0."""
    return np.clip(0.5 - sdf * res, 0.0, 1.0)


def paint(img: np.ndarray, mask: np.ndarray, win: tuple, cov: np.ndarray, colour, mask_id: int | None) -> None:
    """Composite one layer over a window in place, and give its covered pixels `mask_id`.

    Args:
        img: float64 (H, W, 3) canvas in [0, 1].
        mask: uint8 (H, W) id map.
        win: (rows, cols) slices, as returned by `window`.
        cov: float64 (h, w) coverage in [0, 1].
        colour: float64 (h, w, 3) or (3,) layer colour.
        mask_id: id written where cov > 0.5; None leaves the mask alone (a shading-only layer).
    """
    sub = img[win[0], win[1]]
    sub += (colour - sub) * cov[..., None]
    if mask_id is not None:
        mask[win[0], win[1]][cov > 0.5] = mask_id


def sdf_box(x: np.ndarray, y: np.ndarray, hx: float, hy: float, r: float = 0.0) -> np.ndarray:
    """Rounded rectangle of half-sizes (hx, hy) and corner radius r, centred at 0."""
    dx, dy = np.abs(x) - hx + r, np.abs(y) - hy + r
    return np.hypot(np.maximum(dx, 0), np.maximum(dy, 0)) + np.minimum(np.maximum(dx, dy), 0) - r


def sdf_ellipse(x: np.ndarray, y: np.ndarray, ax: float, ay: float) -> np.ndarray:
    """Ellipse of semi-axes (ax, ay), centred at 0; the first-order distance (exact on the edge)."""
    k0 = np.hypot(x / ax, y / ay)
    k1 = np.hypot(x / ax**2, y / ay**2)
    return k0 * (k0 - 1.0) / np.maximum(k1, 1e-6)


def sdf_polygon(x: np.ndarray, y: np.ndarray, verts: np.ndarray) -> np.ndarray:
    """Any simple polygon, vertices (K, 2) as (x, y); exact distance, negative inside.

    After https://iquilezles.org/articles/distfunctions2d/ (sdPolygon).
    """
    d = (x - verts[0, 0]) ** 2 + (y - verts[0, 1]) ** 2
    inside = np.zeros(np.broadcast_shapes(x.shape, y.shape), dtype=bool)
    for i in range(len(verts)):
        (vx, vy), (ux, uy) = verts[i], verts[i - 1]
        ex, ey, wx, wy = ux - vx, uy - vy, x - vx, y - vy
        t = np.clip((wx * ex + wy * ey) / (ex * ex + ey * ey), 0.0, 1.0)
        d = np.minimum(d, (wx - ex * t) ** 2 + (wy - ey * t) ** 2)
        # Crossing-number parity: the edge straddles this pixel's row on the correct side.
        c1, c2, c3 = y >= vy, y < uy, ex * wy > ey * wx
        inside ^= (c1 & c2 & c3) | ~(c1 | c2 | c3)
    return np.where(inside, -1.0, 1.0) * np.sqrt(d)


def _regular(n: int, r: float, phase: float = -np.pi / 2, r_inner: float | None = None) -> np.ndarray:
    """Vertices of a regular polygon (or a star when r_inner is given), pointing up (y down)."""
    k = 2 * n if r_inner else n
    ang = phase + np.arange(k) * 2 * np.pi / k
    rad = np.where(np.arange(k) % 2, r_inner, r) if r_inner else np.full(k, r)
    return np.stack([rad * np.cos(ang), rad * np.sin(ang)], axis=1)


_TRIANGLE = _regular(3, 1.1) + np.float64([0.0, 0.2])
_STAR = _regular(5, 1.05, r_inner=0.45) + np.float64([0.0, 0.08])
_HEXAGON = _regular(6, 0.95, phase=0.0)
_DIAMOND = np.float64([[0, -1.0], [0.62, 0], [0, 1.0], [-0.62, 0]])
_ARROW = np.float64([[-0.95, -0.22], [0.1, -0.22], [0.1, -0.6], [0.95, 0], [0.1, 0.6], [0.1, 0.22], [-0.95, 0.22]])


def _heart(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Heart, point down (iq's sdHeart, which has y up and spans [0, 1]; scaled by 1.6)."""
    px, py = np.abs(x) / 1.6, (0.55 - y) / 1.6
    top = np.hypot(px - 0.25, py - 0.75) - math.sqrt(2) / 4
    m = 0.5 * np.maximum(px + py, 0)
    low = np.sqrt(np.minimum(px**2 + (py - 1) ** 2, (px - m) ** 2 + (py - m) ** 2)) * np.sign(px - py)
    return np.where(px + py > 1, top, low) * 1.6


# Unit-frame SDFs (y down), each fitting a disc of radius ~1.
SHAPE_SDFS = {
    "circle": lambda x, y: np.hypot(x, y) - 0.92,
    "square": lambda x, y: sdf_box(x, y, 0.78, 0.78, 0.08),
    "triangle": lambda x, y: sdf_polygon(x, y, _TRIANGLE),
    "star": lambda x, y: sdf_polygon(x, y, _STAR),
    "heart": _heart,
    "cross": lambda x, y: np.minimum(sdf_box(x, y, 0.9, 0.28), sdf_box(x, y, 0.28, 0.9)),
    "ring": lambda x, y: np.abs(np.hypot(x, y) - 0.68) - 0.26,
    "hexagon": lambda x, y: sdf_polygon(x, y, _HEXAGON),
    "crescent": lambda x, y: np.maximum(np.hypot(x, y) - 0.95, 0.72 - np.hypot(x - 0.5, y + 0.25)),
    "arrow": lambda x, y: sdf_polygon(x, y, _ARROW),
    "diamond": lambda x, y: sdf_polygon(x, y, _DIAMOND),
    "semicircle": lambda x, y: np.maximum(np.hypot(x, y + 0.52) - 1.05, -0.52 - y),
}
assert tuple(SHAPE_SDFS) == CLASS_NAMES


# ---------------------------------------------------------------------------------------------
# Scene
# ---------------------------------------------------------------------------------------------


def _stuff_layer(stuff: int, h: int, w: int, rng: np.random.Generator, res: int) -> np.ndarray:
    """Full-frame float64 (h, w, 3) fill of one stuff class (rows/cols are image pixels)."""
    name = STUFF_NAMES[stuff]
    if name == "sky":
        top = np.float64([0.25, 0.45, 0.8]) + rng.uniform(-0.1, 0.1, 3)
        low = np.float64([0.75, 0.85, 0.95]) + rng.uniform(-0.08, 0.05, 3)
        t = ((np.arange(h, dtype=np.float64) + 0.5) / res)[:, None, None]
        # Clouds: a heavily magnified photo crop (smooth blobs), thresholded soft.
        cloud = resize(crop("gravel", 6, 6, rng, 0.05), h, w).mean(axis=2, keepdims=True)
        cloud = np.clip((cloud - cloud.mean()) / (cloud.std() + 1e-3), 0.0, 1.0) * rng.uniform(0.2, 0.7)
        sky = top + (low - top) * np.clip(t * 1.4, 0, 1)
        return sky + (1.0 - sky) * cloud
    texture = {"wall": "brick", "grass": "grass", "ground": "gravel", "rock": "moon"}[name]
    # Fraction of the photograph seen across the image; the moon's craters need a wide view.
    span = rng.uniform(0.3, 0.7) * (1.6 if name == "rock" else 1.0)
    return crop(texture, h, w, rng, span / res, orient=name != "grass" and name != "wall", jitter=0.12)


def _draw_background(img: np.ndarray, mask: np.ndarray, rng: np.random.Generator, res: int) -> None:
    if rng.random() < 0.6:
        upper, lower = int(rng.choice([0, 1], p=[0.7, 0.3])), int(rng.integers(2, 5))
    else:
        upper = lower = int(rng.integers(1, 5))
    horizon = rng.uniform(0.3, 0.6)
    tilt, amp, freq, phase = rng.uniform(-0.15, 0.15), rng.uniform(0, 0.05), rng.uniform(1, 4), rng.uniform(0, 6.3)
    img[:] = _stuff_layer(lower, res, res, rng, res)
    mask[:] = lower
    if upper == lower:
        return
    rows, cols, ys, xs = window(0.5, 0.5, 0.5, res)
    edge = horizon + tilt * (xs - 0.5) + amp * np.sin(2 * np.pi * freq * xs + phase)
    cov = coverage(ys - edge, res)
    paint(img, mask, (rows, cols), cov, _stuff_layer(upper, res, res, rng, res), upper)


def _draw_object(img, mask, rng, cls: int, cy: float, cx: float, size: float, res: int, style: int) -> None:
    """One textured, shaded, outlined object with a soft drop shadow; size = diameter (image units).

    `style` is the class whose texture and tint fill it: `cls` itself, except under texture_mismatch.
    """
    r = size / 2
    ang = rng.uniform(-MAX_TILT, MAX_TILT)
    texture, tint = CLASS_STYLE[CLASS_NAMES[style]]
    if rng.random() > FAVOURITE_P:
        other = TEXTURE_NAMES[int(rng.integers(len(TEXTURE_NAMES)))]
        if style == cls:  # a mismatched object keeps the other class's texture, the draw is still consumed
            texture = other
    tint = np.float64(tint) * rng.uniform(0.85, 1.1, 3)
    light = rng.uniform(-1, 1, 2)
    light /= np.linalg.norm(light) + 1e-6
    shadow_dx, shadow_dy = (float(v) * size * 2 for v in rng.uniform(0.02, 0.05, 2))
    span = rng.uniform(0.15, 0.45)  # fraction of the photograph seen across the object
    sdf = SHAPE_SDFS[CLASS_NAMES[cls]]
    c, s = float(np.cos(ang)), float(np.sin(ang))

    rows, cols, ys, xs = window(cy + shadow_dy / 2, cx + shadow_dx / 2, r * 1.2 + max(shadow_dx, shadow_dy), res)
    dx, dy = (xs - cx) / r, (ys - cy) / r

    def local(ox: float = 0.0, oy: float = 0.0) -> np.ndarray:
        x, y = dx - ox / r, dy - oy / r
        return sdf(c * x + s * y, -s * x + c * y)

    shadow = 0.45 * np.clip(0.5 - local(shadow_dx, shadow_dy) * r / (0.25 * size), 0, 1)
    img[rows, cols] *= 1.0 - shadow[..., None]
    d = local()  # (h, w), unit frame
    h, w = d.shape
    fill = crop(texture, h, w, rng, span / (size * res)) * (0.3 + 0.7 * tint)
    # Shading: a bevel darkening towards the rim, a linear light across the body, a dark outline.
    inner = np.clip(-d, 0, None)
    shade = (1.0 - 0.45 * np.exp(-inner / 0.12)) * (1.0 + 0.22 * (light[0] * dx + light[1] * dy))
    fill = fill * shade[..., None]
    rim = np.clip(1.0 - inner * r / 0.012, 0, 1)[..., None]
    fill = fill * (1.0 - 0.6 * rim)
    paint(img, mask, (rows, cols), coverage(d * r, res), fill, THING_OFFSET + cls)


def _style(cls: int, num_classes: int, mismatch: bool) -> int:
    """The class whose texture and tint fill an object of class `cls`: the next class under texture_mismatch."""
    return (cls + 1) % num_classes if mismatch else cls


def _draw_distractor(img, mask, rng, main: float, cfg: ShapesCfg, res: int, mismatch: bool) -> None:
    """One distractor: smaller than the main object (size main x [0.3, 0.55]), of a random class."""
    size = main * rng.uniform(0.3, 0.55)
    cls = int(rng.integers(cfg.num_classes))
    cy, cx = rng.uniform(0.5 * size, 1 - 0.5 * size, 2)
    _draw_object(img, mask, rng, cls, cy, cx, size, res, _style(cls, cfg.num_classes, mismatch))


def render(
    rng: np.random.Generator, res: int, cfg: ShapesCfg, shift: str | None = None
) -> tuple[np.ndarray, int, np.ndarray]:
    """Render one scene.

    Args:
        rng: the image's own generator (see `image_rng`).
        res: image side in pixels (32, 64, 128, 256, ...; at least 16).
        cfg: generator knobs (number of classes and objects, object size range).
        shift: None, or one of `SHIFTS` (see the module docstring); the same draws either way.

    Returns:
        image uint8 (res, res, 3), label (class index of the main object, in [0, cfg.num_classes)),
        mask uint8 (res, res) of `MASK_NAMES` ids.
    """
    if res < 16:
        raise ValueError(f"resolution must be >= 16 px, got {res}")
    check_shift("shapes", shift, SHIFTS)
    mismatch = shift == "texture_mismatch"
    img = np.empty((res, res, 3), np.float64)
    mask = np.empty((res, res), np.uint8)
    _draw_background(img, mask, rng, res)
    n_obj = int(rng.integers(cfg.min_objects, cfg.max_objects + 1))
    label = int(rng.integers(cfg.num_classes))
    main = rng.uniform(cfg.min_scale, cfg.max_scale)
    main_y, main_x = rng.uniform(0.5 * main, 1 - 0.5 * main, 2)
    # Distractors are smaller and drawn first (behind), so the main object is the largest and whole.
    for _ in range(n_obj - 1):
        _draw_distractor(img, mask, rng, main, cfg, res, mismatch)
    if shift == "count_shift":
        # A spawned child stream: a fixed function of the image's seed that leaves `rng` itself untouched.
        side = rng.spawn(1)[0]
        for _ in range(cfg.max_objects + COUNT_SHIFT_EXTRA - (n_obj - 1)):
            _draw_distractor(img, mask, side, main, cfg, res, mismatch)
    if shift != "no_main_object":  # the last draws of the scene: skipping them changes no other draw
        _draw_object(img, mask, rng, label, main_y, main_x, main, res, _style(label, cfg.num_classes, mismatch))
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), label, mask
