"""The `proxies@NAME` stage (`autoencoders/proxies.py`) on the tiny preset, one conv and one ViT item.

A module fixture runs data -> featnets -> judges -> reference -> train_ae -> proxies in-process (about 30 s on one
thread). Run: .venv/bin/python -m pytest tests/test_proxies_stage.py -q
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from autoencoders import load_trained, proxies
from autoencoders import train as train_ae
from autoencoders.robustness import latent_std, noise_sweep
from bench import layout
from bench.featnets import load_perceptual
from bench.features import suite_extractors
from bench.metrics import load_reference
from tests.conftest import one_thread, run_upstream, tiny_params

pytestmark = pytest.mark.slow
ITEMS = ("ae", "vmae")  # a convolutional decoder and one with positional tables (the half-grid decode differs)
KEYS = {"ifd[judge]", "probe_class", "probe_seg", "high_freq[latent]", "high_freq[image]", "high_freq_gap",
        "equiv_mse[0-1]", "equiv_psnr"}  # fmt: skip


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    with one_thread():
        params = run_upstream(tiny_params(tmp_path_factory.mktemp("proxies")))
        for name in ITEMS:
            train_ae.main(params, name)
            proxies.main(params, name)
        yield params


@pytest.mark.parametrize("name", ITEMS)
def test_outputs_hold_every_proxy_with_intervals(tiny, name):
    m = json.loads(layout.proxies_metrics(tiny.paths, name).read_text())
    members = [layout.judge_name(k) for k in range(tiny.judges.members)]
    assert m["item"] == name and set(m) >= {"item", "kind", "extractors", *tiny.autoencoders.train_sets}
    with np.load(layout.proxies_per_image(tiny.paths, name)) as z:
        per_image = {k: z[k] for k in z.files}
    for s in tiny.autoencoders.train_sets:
        v, n = m[s], m[s]["n_images"]
        assert KEYS <= set(v) and {f"ifd[{j}]" for j in members} <= set(v)
        assert v["ifd[judge]"] == pytest.approx(np.mean([v[f"ifd[{j}]"] for j in members]))
        assert 0 <= v["probe_class"] <= 1 and 0 <= v["probe_seg"] <= 1 and 0 <= v["high_freq[image]"] <= 1
        lo, hi = v["ci"]["ifd[judge]"]
        assert lo < hi and v["se"]["ifd[judge]"] > 0
        for key in KEYS - {"ifd[judge]"}:
            assert per_image[f"{s}/{key}"].shape == (n,)
            assert np.nanmean(per_image[f"{s}/{key}"]) == pytest.approx(v[key])
            if v["ci"][key] is not None:
                assert v["ci"][key][0] <= v[key] + 1e-12 and v[key] <= v["ci"][key][1] + 1e-12
        assert per_image[f"{s}/features/judge-0"].shape[0] == n
        assert (per_image[f"{s}/neighbour"] != np.arange(n)).all()
    with np.load(layout.proxies_spectra(tiny.paths, name)) as z:
        side = tiny.data.resolution // 8
        assert z[f"{tiny.autoencoders.train_sets[0]}/latent_freq"].shape == (side,)
        assert z[f"{tiny.autoencoders.train_sets[0]}/image_share"].sum() == pytest.approx(1.0)


def test_interpolation_weight_zero_reproduces_eval_aes_rfd(tiny):
    """At w = 0 the iFD pass decodes z itself: its FD equals eval_ae's clean rFD (noise_sweep at eps = 0)."""
    params, name, s = tiny, "vmae", tiny.autoencoders.train_sets[0]
    device = torch.device("cpu")
    model = load_trained(layout.autoencoder_dir(params.paths, name), image_size=32)
    extractors = suite_extractors(params.metrics, params.paths, device, params.judges.members)
    refs = {e: load_reference(layout.reference(params.paths, s, "eval", e), x.identity) for e, x in extractors.items()}
    images = proxies.read_split(params, s, "eval", params.metrics.recon_images)
    z = proxies.encode_all(model, images["image"], params.metrics.batch_size, device)
    ifd, _, _ = proxies.interpolated_fd(model, z, 0.0, extractors, refs, params.metrics.batch_size, device)
    batches = [{"image": images["image"][i : i + 16], "index": torch.arange(i, min(i + 16, len(z)))}
               for i in range(0, len(z), 16)]  # fmt: skip
    perceptual = load_perceptual(params.paths.weights, layout.featnet(params.paths, "perceptual"))
    sweep = noise_sweep(
        model,
        batches,
        std_c=latent_std(model, batches, device),
        eps=(0.0,),
        noise_seed=0,
        perceptual=perceptual,
        extractors=extractors,
        references=refs,
        device=device,
        keep=0,
    )
    for e in extractors:
        assert ifd[f"ifd[{e}]"] == pytest.approx(sweep.rows[0][f"rfd[{e}]"], rel=1e-5)
    half, _, _ = proxies.interpolated_fd(model, z, 0.5, extractors, refs, params.metrics.batch_size, device)
    assert half["ifd[judge-0]"] != ifd["ifd[judge-0]"]


def test_missing_model_names_the_stage(tiny):
    with pytest.raises(FileNotFoundError, match=r"dvc repro train_ae@vae"):
        proxies.main(tiny, "vae")
