"""The embedded `faces` dataset: the CelebA-HQ (images, attribute labels) / CelebAMask-HQ (part masks) analogue.

Synthetic frontal portraits: a head with skin shaded as a lit ellipsoid, ears, neck, clothes,
hair (short, bob or long; bare forehead, side parting or fringe) with strands cut from a real
photograph, brows, almond eyes with a coloured iris, nose, lips and sometimes an open mouth, in
front of a blurred photographic backdrop. Skin tone, hair and iris colour, proportions, size,
position, yaw (features slide round an ellipsoid, with foreshortening) and roll all vary.

Every part is a signed distance field in the head's own frame (u right, v down, unit = half the
face height, origin = face centre), drawn at the output resolution with anti-aliased coverage;
a pixel's part id is the top-most layer with coverage > 0.5, so masks align with the pixels
exactly (see `shapes.py` for the primitives). The label is the hair-colour class (`LABEL_NAMES`),
like CelebA's Black/Brown/Blond/Gray_Hair attributes, so a judge classifier can be trained.

Shifts (`SHIFTS`, for validating metrics): `render(..., shift=name)` draws exactly the random numbers
of the unshifted portrait, so a shifted image differs from its twin in one property only:
- "no_mouth": mouth and lips are not painted (the skin below shows; the mask keeps it);
- "eyes_displaced": eyes, brows and eye sockets sit 0.12 face heights lower;
- "skin_shift": skin tone with red and green swapped (lips, made from it, follow): a green no palette tone has;
- "hair_shift": saturated blue hair (and brows), none of the five hair colours; the label is kept.

Use it through the registry (the data stage does): `generate("faces", n, resolution, seed, split, cfg)`
from `bench.embedded`, with `cfg = load_params().data.faces`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from bench.config import FacesCfg
from bench.embedded.shapes import check_shift, coverage, paint, sdf_box, sdf_ellipse, window
from bench.embedded.textures import TEXTURE_NAMES, crop, resize

KIND_CODE = 2  # separates the faces stream from the shapes stream under the same seed

# Part ids (CelebAMask-HQ style). Left/right are as seen in the image (l_eye is image-left).
PART_NAMES = (
    "background", "skin", "neck", "cloth", "hair", "l_brow", "r_brow", "l_eye",
    "r_eye", "nose", "mouth", "u_lip", "l_lip", "l_ear", "r_ear",
)  # fmt: skip
PART = {name: i for i, name in enumerate(PART_NAMES)}
LABEL_NAMES = ("black_hair", "brown_hair", "blond_hair", "red_hair", "gray_hair")

# Base colours (linear RGB in [0, 1]); each face jitters around them.
HAIR_RGB = np.float64(
    [[0.07, 0.06, 0.06], [0.34, 0.2, 0.11], [0.85, 0.68, 0.4], [0.62, 0.22, 0.08], [0.74, 0.73, 0.72]]
)
SKIN_RGB = np.float64([[0.98, 0.86, 0.76], [0.93, 0.74, 0.6], [0.8, 0.57, 0.42], [0.6, 0.4, 0.27], [0.38, 0.24, 0.16]])
IRIS_RGB = np.float64([[0.3, 0.17, 0.08], [0.25, 0.45, 0.7], [0.3, 0.5, 0.3], [0.45, 0.48, 0.5], [0.5, 0.36, 0.15]])
_SPHERE = 0.85  # radius of the sphere the features slide on when the head turns (yaw)

SHIFTS = ("no_mouth", "eyes_displaced", "skin_shift", "hair_shift")
EYE_DROP = 0.24  # eyes_displaced, in half face heights (0.12 face heights): eyes land level with the lower nose
SHIFT_HAIR_RGB = np.float64([0.1, 0.3, 0.9])  # hair_shift: saturated blue, far from every HAIR_RGB row


@dataclass(frozen=True)
class _Head:
    """The head's frame: image placement, roll and yaw (psi, radians)."""

    cx: float
    cy: float
    b: float  # half the face height, image units
    cos: float
    sin: float
    psi: float
    res: int

    def grid(self, u: float, v: float, r: float, turn: bool = False):
        """Window around local point (u, v) of local radius r; returns (win, U, V) local coords (h, w).

        With turn=True, U is the coordinate on the turned face (features slide round the sphere).
        """
        if turn:
            u = _SPHERE * np.sin(np.arcsin(np.clip(u / _SPHERE, -1, 1)) + self.psi)
        x = self.cx + self.b * (self.cos * u - self.sin * v)
        y = self.cy + self.b * (self.sin * u + self.cos * v)
        rows, cols, ys, xs = window(y, x, r * self.b, self.res)
        dx, dy = (xs - self.cx) / self.b, (ys - self.cy) / self.b
        U, V = self.cos * dx + self.sin * dy, -self.sin * dx + self.cos * dy
        if turn:
            U = _SPHERE * np.sin(np.arcsin(np.clip(U / _SPHERE, -1, 1)) - self.psi)
        return (rows, cols), U, V

    def cov(self, sdf: np.ndarray) -> np.ndarray:
        """Coverage of a local-frame SDF."""
        return coverage(sdf * self.b, self.res)


def _palette(table: np.ndarray, t: float) -> np.ndarray:
    """Piecewise-linear colour from a (K, 3) table at t in [0, 1]."""
    x = t * (len(table) - 1)
    i = min(int(x), len(table) - 2)
    return table[i] + (table[i + 1] - table[i]) * (x - i)


def _strands(rng: np.random.Generator, res: int) -> np.ndarray:
    """A 1-D hair-strand signal float64 (N,) around the mean 1, cut from a row of a photograph.

    N grows with the resolution, and the pyramid low-passes the row, so strands never alias.
    """
    n = int(np.clip(6 * res, 128, 1024))
    row = crop("grass", 1, n, rng, (2.0 / n, 1.0 / n), orient=False, jitter=0.0).mean(axis=(0, 2))
    return 1.0 + (row - row.mean()) / (row.std() + 1e-3) * 0.2


def _hair_colour(U, V, base, strands, wave, sheen) -> np.ndarray:
    """Hair texture (h, w, 3): strands fan out from above the head, with a sheen band and darker ends.

    The fan's centre sits above the top of the head (out of view), so strands read as combed down.
    """
    r = np.hypot(U, V + 1.8)
    theta = np.arctan2(U, V + 1.8) + wave * np.sin(6.0 * r)
    idx = ((theta / np.pi + 1.0) * (len(strands) - 1)).astype(np.int64) % len(strands)
    # Two strand scales (fine strands in coarser locks) so the hair does not look combed by a machine.
    lock = 1.0 + (strands[(idx // 7 * 13) % len(strands)] - 1.0) * 0.5
    light = strands[idx] * lock * (0.72 + sheen * np.exp(-(((r - 1.05) / 0.12) ** 2)) - 0.2 * np.clip(r - 2.2, 0, 1))
    return base * light[..., None] + 0.05 * sheen * light[..., None]


def render(
    rng: np.random.Generator, res: int, cfg: FacesCfg, shift: str | None = None
) -> tuple[np.ndarray, int, np.ndarray]:
    """Render one portrait.

    Args:
        rng: the image's own generator (see `shapes.image_rng`).
        res: image side in pixels (32, 64, 128, 256, ...; at least 16).
        cfg: generator knobs (yaw, roll and face-size ranges).
        shift: None, or one of `SHIFTS` (see the module docstring); the same draws either way.

    Returns:
        image uint8 (res, res, 3), label (hair-colour class in [0, len(LABEL_NAMES))),
        mask uint8 (res, res) of `PART_NAMES` ids.
    """
    if res < 16:
        raise ValueError(f"resolution must be >= 16 px, got {res}")
    check_shift("faces", shift, SHIFTS)
    # ---- identity: every draw is resolution-free, so one seed is one face at any resolution.
    label = int(rng.integers(len(LABEL_NAMES)))
    hair = np.clip(HAIR_RGB[label] * rng.uniform(0.8, 1.2) + rng.uniform(-0.03, 0.03, 3), 0, 1)
    skin = np.clip(_palette(SKIN_RGB, rng.random()) + rng.uniform(-0.03, 0.03, 3), 0, 1)
    # The shifts transform drawn values in place of drawing others, so every later draw is as unshifted.
    if shift == "hair_shift":  # keeps this face's jitter around its base colour
        hair = np.clip(SHIFT_HAIR_RGB + (hair - HAIR_RGB[label]), 0, 1)
    if shift == "skin_shift":
        skin = skin[[1, 0, 2]]
    iris = _palette(IRIS_RGB, rng.random())
    style, fringe = int(rng.integers(3)), int(rng.integers(3))  # short/bob/long; bare/side part/fringe
    a, taper = rng.uniform(0.7, 0.8), rng.uniform(0.12, 0.25)  # face half-width, chin narrowing
    size = rng.uniform(cfg.min_size, cfg.max_size)
    yaw, roll = rng.uniform(-cfg.max_yaw, cfg.max_yaw), np.deg2rad(rng.uniform(-cfg.max_roll_deg, cfg.max_roll_deg))
    psi = float(np.arcsin(np.clip(2 * yaw * a / _SPHERE, -0.9, 0.9)))
    head = _Head(
        cx=0.5 + rng.uniform(-0.06, 0.06), cy=0.46 + rng.uniform(-0.04, 0.04), b=size / 2,
        cos=float(np.cos(roll)), sin=float(np.sin(roll)), psi=psi, res=res,
    )  # fmt: skip
    light = rng.uniform([-0.6, -0.6, 0.7], [0.6, 0.1, 1.0])
    light /= np.linalg.norm(light)
    strands, wave, sheen = _strands(rng, res), rng.uniform(0, 0.05), rng.uniform(0.1, 0.35)
    img = np.empty((res, res, 3), np.float64)
    mask = np.zeros((res, res), np.uint8)

    # ---- backdrop: a soft two-colour gradient blended with a strongly blurred photograph.
    c0, c1 = rng.uniform(0.15, 0.85, (2, 3))
    blur = resize(crop(TEXTURE_NAMES[int(rng.integers(len(TEXTURE_NAMES)))], 10, 10, rng, 0.06), res, res)
    t = ((np.arange(res, dtype=np.float64) + 0.5) / res)[:, None, None]
    img[:] = (c0 + (c1 - c0) * t) * 0.55 + blur * 0.45

    # ---- hair behind the head (bob / long), neck, clothes, ears.
    hair_top = rng.uniform(1.05, 1.25)
    if style:
        length = 0.75 if style == 1 else rng.uniform(1.4, 2.2)
        win, U, V = head.grid(0, length / 2 - 0.4, length / 2 + 1.2)
        back = np.maximum(sdf_ellipse(U, V + 0.1, a + 0.25, hair_top + 0.05), np.minimum(-V - 0.3, V - length))
        back = np.minimum(back, sdf_box(U, V - length / 2, a + 0.22 - 0.05 * V, length / 2, 0.2))
        back = np.maximum(back, V - length)
        paint(img, mask, win, head.cov(back), _hair_colour(U, V, hair * 0.8, strands, wave, sheen), PART["hair"])
    neck_w = rng.uniform(0.4, 0.5)
    win, U, V = head.grid(0, 1.3, 1.2)
    neck = sdf_box(U, V - 1.3, neck_w, 0.9, 0.05)
    shade = 0.62 + 0.3 * np.clip((V - 0.85) / 0.8, 0, 1)  # shadow under the chin
    paint(img, mask, win, head.cov(neck), skin * shade[..., None], PART["neck"])
    cloth_rgb = rng.uniform(0.1, 0.9, 3)
    neckline = rng.uniform(0.2, 0.45)
    win, U, V = head.grid(0, 2.6, 2.4)
    body = np.maximum(sdf_ellipse(U, V - 2.4, 2.1, 1.05), -sdf_ellipse(U, V - 1.4, neck_w + 0.05, neckline))
    weave = crop(TEXTURE_NAMES[int(rng.integers(len(TEXTURE_NAMES)))], *U.shape, rng, 0.4 / (4 * head.b * res))
    cloth = (
        cloth_rgb
        * (0.75 + 0.35 * weave.mean(axis=2, keepdims=True))
        * (1 - 0.25 * np.clip(np.abs(U) - 1, 0, 1))[..., None]
    )
    paint(img, mask, win, head.cov(body), cloth, PART["cloth"])
    for side, part in ((-1, "l_ear"), (1, "r_ear")):
        grow = 1.0 - side * math.sin(psi) * 1.2  # the ear the face turns away from shows more
        win, U, V = head.grid(side * a * 0.97, 0.05, 0.35)
        ear = sdf_ellipse(U - side * (a * 0.97 - 0.04 * side * math.sin(psi)), V - 0.05, 0.13 * grow, 0.22)
        paint(img, mask, win, head.cov(ear), skin * (0.78 - 0.1 * np.abs(V - 0.05) / 0.22)[..., None], PART[part])

    # ---- face: an egg-shaped oval, lit as an ellipsoid, with eye sockets, cheeks and a skin grain.
    win, U, V = head.grid(0, 0, 1.1)
    narrow = 1.0 - taper * np.clip(V, 0, 1) ** 2
    face = sdf_ellipse(U / narrow, V, a, 1.0) * narrow
    nx = np.clip(U / a - math.sin(psi) * 0.6, -1, 1)
    ny = np.clip(V * 0.85, -1, 1)
    nz = np.sqrt(np.clip(1 - nx**2 - ny**2, 0.05, 1))
    lit = 0.55 + 0.5 * np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    grain = crop("gravel", *U.shape, rng, 0.05 / (head.b * res)).mean(axis=2)
    lit = lit * (1 + 0.12 * (grain - grain.mean()))
    es, ev = rng.uniform(0.29, 0.35), rng.uniform(-0.16, -0.08)  # eye spacing and height
    if shift == "eyes_displaced":  # sockets, eyes and brows all follow ev
        ev += EYE_DROP
    Uf = _SPHERE * np.sin(np.arcsin(np.clip(U / _SPHERE, -1, 1)) - psi)
    socket = np.exp(-(((np.abs(Uf) - es) / 0.17) ** 2 + ((V - ev) / 0.12) ** 2))
    cheek = np.exp(-(((np.abs(Uf) - 0.38) / 0.16) ** 2 + ((V - 0.25) / 0.14) ** 2))
    colour = skin * (lit * (1 - 0.12 * socket))[..., None] + np.float64([0.045, -0.015, -0.015]) * cheek[..., None]
    paint(img, mask, win, head.cov(face), colour, PART["skin"])

    # ---- nose: a region of the skin, shaded on the side away from the light, with nostrils and a tip highlight.
    nl, nw = rng.uniform(0.22, 0.3), rng.uniform(0.09, 0.13)
    win, U, V = head.grid(0, 0.12, 0.4, turn=True)
    nose = sdf_ellipse(U, V - 0.34 + nl, nw, nl)
    side = np.clip(-U * np.sign(light[0] + 1e-3) / nw, 0, 1) * np.clip((V + 0.05) / 0.3, 0, 1)
    nostril = np.exp(-(((np.abs(U) - 0.05) / 0.03) ** 2 + ((V - 0.32) / 0.018) ** 2))
    tip = np.exp(-((U / 0.05) ** 2 + ((V - 0.24) / 0.05) ** 2))
    base = img[win[0], win[1]]
    colour = base * (1 - 0.25 * side - 0.6 * nostril)[..., None] + 0.12 * tip[..., None]
    paint(img, mask, win, head.cov(nose), colour, PART["nose"])

    # ---- mouth and lips: a smile bends the line; sometimes open (dark mouth, upper teeth).
    mv, mw = rng.uniform(0.52, 0.6), rng.uniform(0.17, 0.24)
    smile, gap = rng.uniform(-0.02, 0.07), (rng.uniform(0.02, 0.07) if rng.random() < 0.35 else 0.0)
    tu, tl = rng.uniform(0.06, 0.09), rng.uniform(0.08, 0.12)
    lips = skin * np.float64([0.82, 0.52, 0.52]) + np.float64([0.12, 0.02, 0.03])
    if rng.random() < 0.25:
        lips = np.float64([0.62, 0.08, 0.14]) * rng.uniform(0.8, 1.1)
    win, U, V = head.grid(0, mv, mw + 0.15, turn=True)
    W = V - mv + smile * (U / mw) ** 2
    no_mouth = shift == "no_mouth"  # everything is computed as usual, only never painted
    if gap and not no_mouth:
        inner = sdf_ellipse(U, W, mw * 0.85, gap / 2 + 0.015)
        teeth = np.clip((-W - gap / 6) / 0.01, 0, 1)[..., None]
        paint(
            img, mask, win, head.cov(inner), np.float64([0.28, 0.08, 0.08]) * (1 - teeth) + 0.85 * teeth, PART["mouth"]
        )
    upper = np.maximum(sdf_ellipse(U, W + gap / 2, mw, tu), W + gap / 2)
    lower = np.maximum(sdf_ellipse(U, W - gap / 2, mw * 0.9, tl), gap / 2 - W)
    seam = 1 - 0.45 * np.exp(-((W / 0.012) ** 2))
    shine = 1 + 0.3 * np.exp(-((U / (mw * 0.5)) ** 2 + ((W - gap / 2 - tl * 0.5) / (tl * 0.4)) ** 2))
    if not no_mouth:
        paint(img, mask, win, head.cov(upper), lips * (0.8 * seam)[..., None], PART["u_lip"])
        paint(img, mask, win, head.cov(lower), lips * (seam * shine)[..., None], PART["l_lip"])

    # ---- eyes (almond lens: sclera, iris, pupil, catch-light, lid shadow) and brows.
    ew, eh, tilt = rng.uniform(0.11, 0.14), rng.uniform(0.055, 0.075), rng.uniform(-0.1, 0.25)
    gaze = rng.uniform(-0.35, 0.35, 2) * [ew, eh]
    bw, bt, arch, bv = (
        rng.uniform(0.14, 0.19),
        rng.uniform(0.035, 0.055),
        rng.uniform(0.01, 0.05),
        rng.uniform(0.11, 0.16),
    )
    brow_rgb = hair * 0.7 if label != 2 else hair * 0.55
    for side, eye_part, brow_part in ((-1, "l_eye", "l_brow"), (1, "r_eye", "r_brow")):
        win, U, V = head.grid(side * es, ev, ew + 0.08, turn=True)
        du, dv = U - side * es, V - ev + side * tilt * (U - side * es)
        rc = (ew**2 + eh**2) / (2 * eh)
        eye = np.maximum(np.hypot(du, dv - (rc - eh)) - rc, np.hypot(du, dv + (rc - eh)) - rc)
        lid = np.clip(eye / 0.02 + 1.5, 0, 1) * (dv < 0)  # the lash line darkens the lid edge
        paint(img, mask, win, head.cov(eye + 0.02), img[win[0], win[1]] * 0.6, None)
        ri = np.hypot(du - gaze[0], dv - gaze[1])
        sclera = np.float64([0.93, 0.9, 0.86]) * (1 - 0.25 * np.clip(np.abs(du) / ew, 0, 1) ** 2)[..., None]
        iris_c = iris * (0.75 + 0.45 * np.clip(ri / (eh * 1.3), 0, 1))[..., None]
        colour = sclera + (iris_c - sclera) * coverage((ri - eh * 1.25) * head.b, res)[..., None]
        colour = colour * (1 - 0.9 * coverage((ri - eh * 0.5) * head.b, res))[..., None]
        colour += 0.8 * np.exp(-((du - gaze[0] + 0.02) ** 2 + (dv - gaze[1] + 0.02) ** 2) / 0.015**2)[..., None]
        colour = colour * (1 - 0.45 * lid)[..., None]
        paint(img, mask, win, head.cov(eye), colour, PART[eye_part])
        win, U, V = head.grid(side * (es + 0.02), ev - bv, bw + 0.08, turn=True)
        du = (U - side * (es + 0.02)) / bw
        thick = bt * (1.1 - 0.4 * (side * du + 1) / 2)  # thicker at the inner end
        brow = np.maximum(np.abs(V - (ev - bv) + arch * (1 - du**2)) - thick, (np.abs(du) - 1) * bw)
        colour = _hair_colour(U, V, brow_rgb, strands, wave, 0.0)
        paint(img, mask, win, head.cov(brow), colour, PART[brow_part])

    # ---- hair in front: the cap above the hairline (parting / fringe), side locks for bob and long.
    win, U, V = head.grid(0, 0, 1.6)
    Uf = _SPHERE * np.sin(np.arcsin(np.clip(U / _SPHERE, -1, 1)) - psi)
    part = rng.uniform(0.15, 0.35) * (1 if rng.random() < 0.5 else -1)
    line = [-0.55 + 0.35 * Uf**2, -0.5 + 0.25 * (Uf - part) ** 2 - 0.05, -0.4 + 0.02 * np.sin(Uf * 40)][fringe]
    line = line + rng.uniform(-0.07, 0.05)
    cap = np.maximum(sdf_ellipse(U, V + 0.18, a + 0.1, hair_top), V - line)
    if style:
        end = 0.7 if style == 1 else 1.6
        # Inner edge on the turned face (the far-side lock slides out of view), outer edge on the head.
        lock = np.maximum(np.maximum(a - 0.1 - np.abs(Uf), np.abs(U) - (a + 0.2)), np.maximum(V - end, -V - 0.6))
        cap = np.minimum(cap, lock)
    paint(img, mask, win, head.cov(cap), _hair_colour(U, V, hair, strands, wave, sheen), PART["hair"])
    return (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8), label, mask
