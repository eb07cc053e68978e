"""Report figures (Figs 1/9, 2, 4, 5, 6, 7, 8) and their notebooks, drawn from SYNTHETIC stage outputs.

`write_synthetic_runs` writes every stage output the figures read, in the agreed formats, for the tiny preset's
9 items and 2 datasets (no model is trained), so these tests check the figure code alone in seconds.
"""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import nbformat
import numpy as np
import pytest
import yaml
from matplotlib.figure import Figure

from analysis import (
    fig_compression,
    fig_kmeans,
    fig_latents,
    fig_noise,
    fig_radar,
    fig_recon,
    fig_samples,
    paper,
    style,
)
from bench.config import Params, parse_params
from tests.conftest import ROOT, tiny_raw

matplotlib.use("Agg")

NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
QUALITY = {"ae": 0.7, "dae": 0.6, "vae": 0.2, "sd-vae": 0.8, "vmae": 1.0}  # synthetic "goodness" in [0, 1]
RESOLUTION, DOWNSAMPLE, EXAMPLES = 64, 8, 3


def _scene(rng: np.random.Generator, res: int) -> tuple[np.ndarray, np.ndarray]:
    """A textured image (res, res, 3) uint8 with 1-3 discs and their label mask (res, res) int."""
    yy, xx = np.mgrid[0:res, 0:res] / res
    base = np.stack([0.3 + 0.3 * xx, 0.4 + 0.2 * yy, 0.5 - 0.2 * xx * yy], -1)
    mask = np.zeros((res, res), np.int64)
    for label in range(1, int(rng.integers(2, 4)) + 1):
        cy, cx, r = rng.uniform(0.25, 0.75), rng.uniform(0.25, 0.75), rng.uniform(0.12, 0.25)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 < r**2
        stripes = 0.5 + 0.5 * np.sin(40 * (xx + label * yy))[..., None]
        base[disc] = (rng.uniform(0.2, 1.0, 3) * (0.6 + 0.4 * stripes))[disc]
        mask[disc] = label
    return (np.clip(base, 0, 1) * 255).astype(np.uint8), mask


def _recon(image: np.ndarray, quality: float, rng: np.random.Generator) -> np.ndarray:
    blur = image.astype(float)
    for _ in range(int(round(4 * (1 - quality)))):  # worse autoencoders blur more
        blur = (blur + np.roll(blur, 1, 0) + np.roll(blur, 1, 1) + np.roll(blur, -1, 0) + np.roll(blur, -1, 1)) / 5
    return np.clip(blur + rng.normal(0, 4, blur.shape), 0, 255).astype(np.uint8)


def _write(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(obj, dict) and all(isinstance(v, np.ndarray) for v in obj.values()):
        np.savez(path, **obj)
    else:
        path.write_text(json.dumps(obj))


def write_synthetic_runs(params: Params) -> None:
    """Every stage output the figures read, for all `autoencoders.names` and `data.sets`, under `paths.runs`."""
    runs, rng = Path(params.paths.runs), np.random.default_rng(0)
    sets, eps = list(params.data.sets), params.metrics.noise_eps
    levels, ks = params.analysis.compress.sets, params.analysis.compress.kmeans_ks
    scenes = {s: [_scene(rng, RESOLUTION) for _ in range(EXAMPLES)] for s in sets}
    noise = {s: {"eps": list(eps), "rfd[judge]": {"values": {}, "pairs": {}}} for s in sets}  # intervals.json, Fig. 6
    for i, item in enumerate(params.autoencoders.names):
        q = QUALITY.get(item, 0.5 + 0.05 * i)
        slope = 40.0 if item in ("ae", "dae") else 5.0 * (1.2 - q)
        rec = {s: {"l1[0-1]": 0.05 - 0.03 * q, "mse[0-1]": 0.01 - 0.008 * q, "psnr": 22 + 8 * q, "ssim": 0.6 + 0.3 * q,
                   "percep[own]": 0.4 - 0.3 * q, "rfd[judge]": 30 - 25 * q, "n_images": 32} for s in sets}  # fmt: skip
        curve = {s: [{"eps": e, "rfd[judge]": (30 - 25 * q) * (1 + slope * e), "psnr": 22 + 8 * q - 20 * e,
                      "percep[own]": 0.4 - 0.3 * q + 0.5 * e} for e in eps] for s in sets}  # fmt: skip
        metrics = {"item": item, "kind": params.autoencoders.variants[item].kind, "perceptual": "percep-own",
                   "extractors": {"judge": "judge-resnet-v1"}, "reconstruction": rec, "noise_curve": curve,
                   "latent_std": {s: [1.0] * 16 for s in sets}, "efficiency": {"params_m": 1.0}}  # fmt: skip
        _write(runs / "eval_ae" / item / "metrics.json", metrics)
        for s in sets:
            v = [p["rfd[judge]"] for p in curve[s]]
            band = {"value": v, "low": [0.9 * x for x in v], "high": [1.1 * x for x in v]}
            noise[s]["rfd[judge]"]["values"][item] = band
        examples = {}
        for s in sets:
            examples[f"{s}/images"] = np.stack([img for img, _ in scenes[s]])
            examples[f"{s}/recons"] = np.stack([_recon(img, q, rng) for img, _ in scenes[s]])
        _write(runs / "eval_ae" / item / "examples.npz", examples)
        comp, maps = {}, {}
        for s, level in levels.items():
            sigma2, rho = 1.5 - q, 1.0 + q * 0.8
            comp[s] = {"level": level, "sigma2": sigma2, "sigma2_ci": [sigma2 - 0.05, sigma2 + 0.05], "rho": rho,
                       "rho_ci": [rho - 0.1, rho + 0.1], "n_images": 8, "n_rho": 8, "resolution": RESOLUTION,
                       "psnr": 22 + 8 * q}  # fmt: skip
            masks = np.stack([m[DOWNSAMPLE // 2 :: DOWNSAMPLE, DOWNSAMPLE // 2 :: DOWNSAMPLE] for _, m in scenes[s]])
            maps[f"{s}/images"] = examples[f"{s}/images"]
            maps[f"{s}/masks"] = masks
            for k in ks:
                maps[f"{s}/kmeans{k}"] = (masks + rng.integers(0, k, masks.shape) * (rng.random(masks.shape) > q)) % k
            maps[f"{s}/pca"] = np.clip(masks[..., None] / 3 + rng.uniform(0, 1 - q, (*masks.shape, 3)), 0, 1)
        _write(runs / "compress" / item / "metrics.json", comp)
        _write(runs / "compress" / item / "maps.npz", maps)
        proxies, spectra = {"item": item}, {}  # the proxies stage (issue 15), per training set
        for s in params.autoencoders.train_sets:
            values = {"ifd[judge]": 40 - 20 * q, "probe_class": 0.5 + 0.4 * q, "probe_seg": 0.6 + 0.3 * q,
                      "high_freq[latent]": 0.5 - 0.3 * q, "high_freq_gap": 0.2 - 0.2 * q,
                      "equiv_mse[0-1]": 0.02 - 0.01 * q}  # fmt: skip
            proxies[s] = values | {"ci": {k: [0.9 * v, 1.1 * v] for k, v in values.items()}}
            for kind, side in (("latent", RESOLUTION // DOWNSAMPLE), ("image", RESOLUTION)):
                share = rng.dirichlet(np.ones(side))
                spectra[f"{s}/{kind}_freq"], spectra[f"{s}/{kind}_share"] = np.arange(side) / side, share
        _write(runs / "proxies" / item / "metrics.json", proxies)
        _write(runs / "proxies" / item / "spectra.npz", spectra)
        gen_sets = params.diffusion.items.get(item, ())
        gen = {s: {"fd[judge]": 40 - 30 * q, "sfd[judge]": 20 - 10 * q, "n_samples": 8, "reference": "train"}
               for s in gen_sets}  # fmt: skip
        _write(runs / "eval_gen" / item / "metrics.json", {"extractors": {"judge": "judge-resnet-v1"}, **gen})
        for s in gen_sets:
            folder = runs / "sample" / item / s
            folder.mkdir(parents=True, exist_ok=True)
            samples = np.stack([_recon(_scene(rng, RESOLUTION)[0], q, rng) for _ in range(8)])
            np.save(folder / "samples.npy", samples)
            np.save(folder / "labels.npy", np.zeros(8, np.int64))
    raw = {s: {"level": lv, "sigma2": 1.0, "sigma2_ci": [0.95, 1.05], "rho": 1.1, "rho_ci": [1.0, 1.2], "n_images": 8,
               "n_rho": 8, "resolution": RESOLUTION} for s, lv in levels.items()}  # fmt: skip
    _write(runs / "compress_raw" / "metrics.json", raw)
    _write(runs / "intervals" / "intervals.json", {"level": 0.95, "members": 3, "noise": noise, "agreement": {}})
    _write(runs / "compress_raw" / "maps.npz", {k: v for k, v in maps.items() if not k.split("/")[1].startswith("km")})


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> tuple[Params, Path]:
    """Tiny-preset params with paths in a temp folder holding synthetic stage outputs, and that params file."""
    tmp = tmp_path_factory.mktemp("report_figures")
    raw = tiny_raw(tmp)
    params = parse_params(raw, source="synthetic")
    write_synthetic_runs(params)
    path = tmp / "params.yaml"
    path.write_text(yaml.safe_dump(raw))
    return params, path


def _text(fig: Figure) -> str:
    """Every axis label, title, tick label and text of a figure, joined (what a reader can see)."""
    parts = []
    for ax in fig.axes:
        parts += [ax.get_xlabel(), ax.get_ylabel(), ax.get_title(), ax.get_title("left")]
        parts += [t.get_text() for t in (*ax.get_xticklabels(), *ax.texts)]
    return "\n".join(parts)


def _items(params: Params) -> list[str]:
    return style.figure_items(params.autoencoders)


def test_fig_noise(synthetic):
    params, _ = synthetic
    fig = fig_noise.make_fig_noise(params.paths.runs, _items(params), style.dataset_kinds(params.data.sets))
    assert len(fig.axes) == len(params.data.sets) * 3
    labels = [ax.get_ylabel() for ax in fig.axes]
    assert labels[:3] == ["rFD [judge]", "PSNR (dB)", "percep [own]"]
    assert all(ax.get_xlabel() == "perturbation ratio ε" for ax in fig.axes)
    # The paper's eps (up to 0.3) and the suite's larger ones (up to 2) share a symlog axis; beyond 0.3 is greyed.
    assert max(params.metrics.noise_eps) > max(paper.FIG6_EPS) and "beyond the paper's largest" in fig.get_suptitle()
    assert all(ax.get_xscale() == "symlog" for ax in fig.axes)
    lines = {line.get_label(): line for line in fig.axes[0].lines}
    assert list(lines["AE"].get_xdata()) == list(params.metrics.noise_eps)
    styles = {line.get_label(): line.get_linestyle() for line in fig.axes[0].lines}
    assert styles["AE"] == styles["DAE"] == "--" and styles["VMAE"] == styles["VAE"] == "-"
    assert "rFID" not in _text(fig)


def test_fig_compression(synthetic):
    params, _ = synthetic
    levels = params.analysis.compress.sets
    fig = fig_compression.make_fig_compression(params.paths.runs, _items(params), levels)
    assert len(fig.axes) == len(levels)
    for ax in fig.axes:
        assert "σ²" in ax.get_xlabel() and "ρ" in ax.get_ylabel()
        assert any("ideal" in t.get_text() for t in ax.texts)
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend == ["AE", "DAE", "VAE", "SD-VAE", "VMAE", "raw pixels"]
    assert not any("not measured" in ax.get_title() for ax in fig.axes)
    for ax in fig.axes:  # the reconstruction price of the encoding resolution, each item's, on every panel
        notes = [t.get_text().replace("\n", " ") for t in ax.texts if "PSNR" in t.get_text()]
        assert len(notes) == 1 and f"PSNR at {RESOLUTION} px" in notes[0], notes
        assert f"VMAE {22 + 8 * QUALITY['vmae']:.1f}" in notes[0] and f"VAE {22 + 8 * QUALITY['vae']:.1f}" in notes[0]
        assert f"at {RESOLUTION} px" in ax.get_title()
    raw = Path(params.paths.runs) / "compress_raw" / "metrics.json"
    text = raw.read_text()
    data = json.loads(text)
    part = next(d for d, level in levels.items() if level == "part")
    data[part] |= {"segments_owning_a_cell": 0.2, "segment_pixels_median": 3.0, "cell_pixels": 64}
    raw.write_text(json.dumps(data))
    try:
        fig = fig_compression.make_fig_compression(params.paths.runs, _items(params), levels)
    finally:
        raw.write_text(text)  # the fixture is shared by the module
    titles = {ax.get_title() for ax in fig.axes}
    assert any("not measured: 20% of segments own a latent cell (3 px median vs 64 px)" in t for t in titles)


def test_fig_radar(synthetic):
    params, _ = synthetic
    fig = fig_radar.make_fig_radar(params.paths.runs, _items(params), style.dataset_kinds(params.data.sets))
    assert len(fig.axes) == len(params.diffusion.datasets)
    text = _text(fig)
    for label in ("rFD [judge]", "gFD [judge]", "percep [own]", "PSNR (dB)"):
        assert label in text
    assert "rFID" not in text and "gFID" not in text
    scores, axes = fig_radar.radar_scores(params.paths.runs, _items(params))
    best = {a.column: scores.loc["shapes"][a.column].idxmax() if a.higher_is_better
            else scores.loc["shapes"][a.column].idxmin() for a in axes}  # fmt: skip
    assert set(best.values()) == {"vmae"}  # the synthetic VMAE is best on every axis


def test_radar_rescale_best_is_outer():
    psnr = np.array([30.0, 20.0, 25.0])
    np.testing.assert_allclose(fig_radar.rescale(psnr, higher_is_better=True, inner=0.2), [1.0, 0.2, 0.6])
    fd = np.array([5.0, 45.0, 25.0])  # lower is better: the smallest FD is the outer ring
    np.testing.assert_allclose(fig_radar.rescale(fd, higher_is_better=False, inner=0.2), [1.0, 0.2, 0.6])
    np.testing.assert_allclose(fig_radar.rescale(fd, higher_is_better=False, inner=0.0), [1.0, 0.0, 0.5])
    np.testing.assert_allclose(fig_radar.rescale(np.array([3.0, 3.0]), higher_is_better=False), [1.0, 1.0])
    with pytest.raises(ValueError, match="finite"):
        fig_radar.rescale(np.array([1.0, np.nan]), higher_is_better=True)


def test_fig_recon(synthetic):
    params, _ = synthetic
    items = _items(params)
    fig = fig_recon.make_fig_recon(params.paths.runs, items, style.dataset_kinds(params.data.sets))
    assert len(fig.axes) == len(params.data.sets) * 2 * (1 + len(items))
    assert "rFD [judge]" in _text(fig) and "rFID" not in _text(fig)


def test_detail_box_finds_the_texture():
    image = np.full((40, 40, 3), 128, np.uint8)
    image[20:32, 4:16] = (np.indices((12, 12)).sum(0) % 2 * 255)[..., None]  # a checkerboard patch
    top, left, detail = fig_recon.detail_box(image, 12)
    assert (top, left) == (20, 4) and detail > 0
    flat = np.full((3, 40, 40, 3), 9, np.uint8)
    assert fig_recon.pick_example(np.concatenate([flat, image[None]]), 12) == (3, 20, 4)


def test_fig_kmeans(synthetic):
    params, _ = synthetic
    cfg, items = params.analysis.compress, _items(params)
    fig = fig_kmeans.make_fig_kmeans(params.paths.runs, items, cfg.sets, cfg.kmeans_ks)
    assert len(fig.axes) == len(cfg.sets) * len(items) * (1 + len(cfg.kmeans_ks))
    titles = [ax.get_title() for ax in fig.axes]
    assert all(f"k = {k}" in titles for k in cfg.kmeans_ks)


def test_fig_latents(synthetic):
    params, _ = synthetic
    cfg, items = params.analysis.compress, _items(params)
    fig = fig_latents.make_fig_latents(params.paths.runs, items, cfg.sets)
    assert len(fig.axes) == len(cfg.sets) * (3 + len(items))
    assert "VMAE\nσ² = 0.50 × raw" in [ax.get_title() for ax in fig.axes]  # synthetic sigma2 0.5, raw 1.0


def test_fig_samples(synthetic):
    params, _ = synthetic
    for dataset in params.diffusion.datasets:
        items = fig_samples.sampled_items(params, dataset)
        kind = params.data.sets[dataset].kind
        fig = fig_samples.make_fig_samples(params.paths.runs, items, dataset, params.data.preview_count, kind)
        assert [ax.get_ylabel() for ax in fig.axes] == [style.label(i) for i in items]
        width = fig.axes[0].get_images()[0].get_array().shape[1]
        assert fig.get_suptitle().startswith({"shapes": "Fig. 1", "faces": "Fig. 9"}[dataset])
        assert width == params.data.preview_count * (RESOLUTION + fig_samples.GAP) - fig_samples.GAP


def test_mains_write_png_and_pdf(synthetic):
    params, _ = synthetic
    for module in (fig_noise, fig_compression, fig_radar, fig_recon, fig_kmeans, fig_latents):
        module.main(params)
    for dataset in params.diffusion.datasets:
        fig_samples.main(params, dataset)
    names = [m.NAME for m in (fig_noise, fig_compression, fig_radar, fig_recon, fig_kmeans, fig_latents)]
    names += [f"samples_{d}" for d in params.diffusion.datasets]
    out = Path(params.paths.results) / "figures"
    for name in names:
        assert (out / f"{name}.png").read_bytes()[:4] == b"\x89PNG"
        assert (out / f"{name}.pdf").read_bytes()[:4] == b"%PDF"


def test_missing_stage_output_names_the_stage(tmp_path):
    params = parse_params(tiny_raw(tmp_path), source="empty")
    with pytest.raises(FileNotFoundError, match="dvc repro compress@ae"):
        fig_compression.main(params)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)
    assert any("make_fig_" in c.source for c in code)


def test_notebooks_execute(synthetic, monkeypatch):
    """Every notebook runs top to bottom against the synthetic outputs and draws; one kernel serves them all (a
    kernel start and the torch import cost seconds each on a small CPU)."""
    from jupyter_client.manager import KernelManager
    from nbclient import NotebookClient

    _, params_path = synthetic
    assert {p.stem for p in NOTEBOOKS} >= {"samples", "properties", "compression_maps", "reconstruction"}
    monkeypatch.setenv("LDMAE_PARAMS", str(params_path))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    km = KernelManager(kernel_name="python3")
    km.start_kernel(cwd=str(ROOT / "notebooks"))  # where Jupyter starts a notebook's kernel
    try:
        for path in NOTEBOOKS:
            nb = nbformat.read(path, as_version=4)
            NotebookClient(nb, km=km, timeout=120).execute()
            outputs = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]
            assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} drew no figure"
    finally:
        km.shutdown_kernel(now=True)
