"""Natural-texture bank cut from the photographs scikit-image ships inside its wheel.

The embedded datasets fill their regions (backgrounds, objects, hair, clothes) with crops of real
photographs so that the autoencoders have genuine fine detail to compress, not flat clip-art. Only
files physically present in `skimage/data/` are read (with Pillow, by path): the `skimage.data`
functions that fetch through pooch are never called, so nothing is downloaded.

Greyscale photographs are tinted at load time; each photograph is cached in memory as a float64
mip-map pyramid (one per process), so a crop at any output resolution is a cheap, alias-free
bilinear lookup at the right pyramid level.

Use: `crop("grass", 64, 64, np.random.default_rng(0), px=0.5 / 64)` is a 64 px crop that spans half
the photograph's short side; `TEXTURE_NAMES` lists the bank.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib.resources import files

import numpy as np
from PIL import Image


@dataclass(frozen=True)
class Texture:
    """One photograph of the bank.

    Attributes:
        file: file name inside `skimage/data/`.
        tint: RGB multiplier applied to a greyscale photograph (None for colour photographs).
        box: (top, bottom, left, right) fractions of the photograph to keep (drops borders/black).
        contrast: gain around the mean grey, for photographs too flat to read as texture.
        turn: quarter turns applied at load, so that "up" is natural (horizontal brick courses).
    """

    file: str
    tint: tuple[float, float, float] | None = None
    box: tuple[float, float, float, float] = (0.0, 1.0, 0.0, 1.0)
    contrast: float = 1.0
    turn: int = 0


TEXTURES: dict[str, Texture] = {
    "grass": Texture("grass.png", tint=(0.50, 0.78, 0.32)),
    "gravel": Texture("gravel.png", tint=(0.82, 0.74, 0.62)),
    "brick": Texture("brick.png", tint=(0.92, 0.52, 0.40), turn=1),
    "moon": Texture("moon.png", tint=(0.86, 0.84, 0.80), box=(0.1, 0.9, 0.1, 0.9), contrast=2.5),
    "coins": Texture("coins.png", tint=(0.95, 0.78, 0.45), box=(0.05, 0.95, 0.0, 1.0)),
    "coffee": Texture("coffee.png"),
    "chelsea": Texture("chelsea.png"),
    "astronaut": Texture("astronaut.png"),
    "rocket": Texture("rocket.jpg", box=(0.25, 1.0, 0.0, 1.0)),
    "hubble": Texture("hubble_deep_field.jpg"),
    "retina": Texture("retina.jpg", box=(0.22, 0.78, 0.22, 0.78)),
    "ihc": Texture("ihc.png"),
    "motorcycle": Texture("motorcycle_left.png"),
}
TEXTURE_NAMES = tuple(TEXTURES)

# Photos larger than this (short side, pixels) are halved at load: finer detail than this is
# never reached at 256 px output, and it keeps the cached pyramid of the bank near 40 MB.
_MAX_SIDE = 640
_MIN_LEVEL_SIDE = 8


def _path(file: str):
    path = files("skimage") / "data" / file
    if not path.is_file():
        raise FileNotFoundError(f"'{file}' is missing from skimage/data: reinstall scikit-image (it ships the file)")
    return path


def _halve(img: np.ndarray) -> np.ndarray:
    """2x2 box filter: float64 (H, W, 3) -> (H//2, W//2, 3)."""
    h, w = img.shape[0] // 2 * 2, img.shape[1] // 2 * 2
    return img[:h:2, :w:2] * 0.25 + img[1:h:2, :w:2] * 0.25 + img[:h:2, 1:w:2] * 0.25 + img[1:h:2, 1:w:2] * 0.25


@cache
def pyramid(name: str) -> tuple[np.ndarray, ...]:
    """The cached mip-map of one texture.

    Args:
        name: a key of `TEXTURES`.

    Returns:
        Levels float64 (H_l, W_l, 3) in [0, 1], each half the size of the previous; level 0 is the
        (border-trimmed, tinted) photograph.
    """
    if name not in TEXTURES:
        raise ValueError(f"unknown texture '{name}': choose one of {TEXTURE_NAMES}")
    tex = TEXTURES[name]
    with Image.open(_path(tex.file)) as im:
        img = np.asarray(im.convert("L" if tex.tint else "RGB"), dtype=np.float64) / 255.0
    if tex.contrast != 1.0:
        img = np.clip(img.mean() + (img - img.mean()) * tex.contrast, 0.0, 1.0)
    if tex.tint:
        img = img[..., None] * np.asarray(tex.tint, dtype=np.float64)
    img = np.rot90(img, tex.turn)
    t, b, l, r = tex.box
    h, w = img.shape[:2]
    img = img[int(t * h) : int(b * h), int(l * w) : int(r * w)]
    while min(img.shape[:2]) > _MAX_SIDE:
        img = _halve(img)
    levels = [np.ascontiguousarray(img)]
    while min(levels[-1].shape[:2]) >= 2 * _MIN_LEVEL_SIDE:
        levels.append(_halve(levels[-1]))
    return tuple(levels)


def _lerp_axis(img: np.ndarray, coords: np.ndarray, axis: int) -> np.ndarray:
    """Linear interpolation of `img` along `axis` at fractional pixel `coords` (clamped to the edge)."""
    n = img.shape[axis]
    c = np.clip(coords, 0.0, n - 1.0)
    i0 = np.minimum(c.astype(np.int64), n - 2) if n > 1 else np.zeros(c.shape, np.int64)
    f = c - i0
    shape = [1, 1, 1]
    shape[axis] = -1
    f = f.reshape(shape)
    a = np.take(img, i0, axis=axis)
    b = np.take(img, np.minimum(i0 + 1, n - 1), axis=axis)
    return a + (b - a) * f


def resize(img: np.ndarray, h: int, w: int) -> np.ndarray:
    """Bilinear resize of a float64 (H, W, C) image to (h, w, C); pixel centres aligned."""
    ys = (np.arange(h) + 0.5) * (img.shape[0] / h) - 0.5
    xs = (np.arange(w) + 0.5) * (img.shape[1] / w) - 0.5
    return _lerp_axis(_lerp_axis(img, ys, 0), xs, 1)


def crop(
    name: str,
    h: int,
    w: int,
    rng: np.random.Generator,
    px: float | tuple[float, float],
    *,
    orient: bool = True,
    jitter: float = 0.1,
) -> np.ndarray:
    """Cut a random crop of a texture, resampled so that one output pixel spans `px` of the photo.

    The crop position, the 90-degree rotation, the flip and the colour jitter are drawn from `rng`
    as resolution-free fractions (always the same number of draws), so the same generator state
    gives the same crop of the photograph at 32 or 256 px, only sampled more finely.

    Args:
        name: a key of `TEXTURES`.
        h, w: output size in pixels.
        rng: the image's generator.
        px: size of one output pixel as a fraction of the photograph's short side, either one
            number or (along rows, along columns); a crop wider than the photo is zoomed out to fit.
        orient: rotate by a random multiple of 90 degrees (False keeps "up" up, e.g. grass); both flip.
        jitter: strength of the random brightness / contrast / saturation / tint change.

    Returns:
        float64 (h, w, 3) in [0, 1].
    """
    py, px_ = (px, px) if np.isscalar(px) else px
    u = rng.random(2)
    k = int(rng.integers(4)) * orient
    flip = bool(rng.random() < 0.5)
    jit = rng.uniform(-1.0, 1.0, size=6) * jitter
    if h == 0 or w == 0:  # an empty window (a layer wholly outside the image); draws already consumed
        return np.zeros((h, w, 3), np.float64)
    # A 90-degree turn is done on the output, so sample the transposed extent.
    oh, ow, sy, sx = (w, h, px_, py) if k % 2 else (h, w, py, px_)
    levels = pyramid(name)
    side = min(levels[0].shape[:2])
    # Source pixels (level 0) per output pixel; shrink if the crop would overrun the photograph.
    sy, sx = sy * side, sx * side
    fit = min(1.0, (levels[0].shape[0] - 1) / (oh * sy), (levels[0].shape[1] - 1) / (ow * sx))
    sy, sx = sy * fit, sx * fit
    # Level with at most ~1.5 source pixels per output pixel along the coarser axis (no aliasing).
    lvl = int(np.clip(np.floor(np.log2(max(sy, sx, 1e-6) / 1.5)) + 1, 0, len(levels) - 1))
    src = levels[lvl]
    scale = 2.0**lvl
    y0 = u[0] * (levels[0].shape[0] - oh * sy)
    x0 = u[1] * (levels[0].shape[1] - ow * sx)
    ys = (y0 + (np.arange(oh) + 0.5) * sy) / scale - 0.5
    xs = (x0 + (np.arange(ow) + 0.5) * sx) / scale - 0.5
    # Gather only the rows/columns the crop touches before interpolating (the photo is large).
    r0, r1 = max(int(ys[0]) - 1, 0), min(int(ys[-1]) + 3, src.shape[0])
    c0, c1 = max(int(xs[0]) - 1, 0), min(int(xs[-1]) + 3, src.shape[1])
    out = _lerp_axis(_lerp_axis(src[r0:r1, c0:c1], ys - r0, 0), xs - c0, 1)
    if k:
        out = np.rot90(out, k)
    if flip:
        out = out[:, ::-1]
    return jitter_colour(out, jit)


def jitter_colour(img: np.ndarray, jit: np.ndarray) -> np.ndarray:
    """Mild photometric change: brightness, contrast, saturation and a per-channel tint.

    Args:
        img: float64 (h, w, 3) in [0, 1].
        jit: six numbers in about [-0.2, 0.2]: brightness, contrast, saturation, tint r, g, b.

    Returns:
        float64 (h, w, 3) in [0, 1].
    """
    grey = img.mean(axis=2, keepdims=True)
    mean = float(grey.mean())
    out = grey + (img - grey) * (1.0 + 2.0 * jit[2])
    out = mean + (out - mean) * (1.0 + jit[1])
    out = out * ((1.0 + jit[0]) * (1.0 + 0.5 * jit[3:6]))
    return np.clip(out, 0.0, 1.0, out=out)
