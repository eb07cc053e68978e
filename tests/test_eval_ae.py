"""Tests of the eval_ae stage (`autoencoders/evaluate.py`, `autoencoders/robustness.py`) on the tiny preset.

A module fixture runs data -> featnets -> judges -> reference -> train_ae@vmae -> eval_ae@vmae in-process (about
15 s).
The direction of the noise curve is tested on an identity codec, where the truth is known: a 4-step tiny model
is not guaranteed to get worse under latent noise (measured: tiny `ae` on faces, PSNR 13.03 dB at eps 0 and
13.06 dB at eps 0.3), so on the trained model the tests only check that the noise reaches the decoder.

Run: .venv/bin/python -m pytest tests/test_eval_ae.py -q
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from autoencoders import evaluate, load_trained
from autoencoders import train as train_ae
from autoencoders.base import Posterior
from autoencoders.robustness import latent_std, noise_sweep
from bench import layout
from bench.featnets import load_perceptual
from bench.features import extract_features, suite_extractors
from bench.images import to_uint8_image
from bench.layout import run_dir
from bench.metrics import (
    SWD_KEY,
    compute_reconstruction_fd,
    ensemble_means,
    load_reference,
    mse,
    pyramid_swd,
    reconstruction_metrics,
    summarise,
)
from bench.sharding import sample_noise
from bench.splits import open_split, uint8_array
from tests.conftest import one_thread, run_upstream, tiny_params

pytestmark = pytest.mark.slow
ITEM = "vmae"
TOP_KEYS = {"item", "kind", "perceptual", "extractors", "versions", "reconstruction", "noise_curve", "members",
            "latent_std", "posterior", "efficiency"}  # fmt: skip
MEMBERS = ("judge-0", "judge-1", "judge-2")  # the tiny preset's ensemble (judges.members: 3)
# Every row: per-image means, each member's rFD and the ensemble mean; the clean row (Table 1) also the pyramid SWD.
ROW_KEYS = {"l1[0-1]", "mse[0-1]", "psnr", "ssim", "percep[own]", "rfd[judge]"} | {f"rfd[{m}]" for m in MEMBERS}
RECON_KEYS = ROW_KEYS | {SWD_KEY}
EFFICIENCY_KEYS = {"params_m", "size_mib", "gflops_256", "gflops_native", "encode_img_s", "decode_img_s", "device"}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(params, metrics.json) after the upstream stages and one eval_ae run at the tiny preset's batch size."""
    with one_thread():
        params = run_upstream(tiny_params(tmp_path_factory.mktemp("eval_ae")))
        train_ae.main(params, ITEM)
        evaluate.main(params, ITEM)
        yield params, json.loads((run_dir(params.paths, "eval_ae", ITEM) / "metrics.json").read_text())


def numbers(tree) -> list[float]:
    """Every number inside nested dicts / lists."""
    if isinstance(tree, dict):
        return [v for x in tree.values() for v in numbers(x)]
    if isinstance(tree, list):
        return [v for x in tree for v in numbers(x)]
    return [tree] if isinstance(tree, (int, float)) else []


def test_metrics_json_has_the_agreed_keys(tiny):
    params, m = tiny
    assert set(m) == TOP_KEYS and m["item"] == ITEM and m["kind"] == "vmae" and m["perceptual"] == "percep-own"
    assert params.judges.members == len(MEMBERS)
    assert set(m["extractors"]) == set(MEMBERS) and all(v.startswith("judge:") for v in m["extractors"].values())
    assert len(set(m["extractors"].values())) == len(MEMBERS)  # three trained networks, three identities
    assert m["versions"]["torch-fidelity"]
    sets = set(params.data.sets)
    assert set(m["reconstruction"]) == set(m["noise_curve"]) == set(m["members"]) == set(m["latent_std"]) == sets
    for s in sets:
        assert set(m["reconstruction"][s]) == RECON_KEYS | {"n_images"}
        assert m["reconstruction"][s]["n_images"] == params.data.sets[s].num_eval
        rows = m["noise_curve"][s]
        assert [row["eps"] for row in rows] == list(params.metrics.noise_eps)
        assert set(rows[0]) == RECON_KEYS | {"eps"} and all(set(row) == ROW_KEYS | {"eps"} for row in rows[1:])
        # "members": per eps, each ensemble metric's member values in member order; the mean is the row's value.
        assert len(m["members"][s]) == len(rows)
        for row, spread in zip(rows, m["members"][s], strict=True):
            assert spread == {"rfd[judge]": [row[f"rfd[{e}]"] for e in MEMBERS]}
            assert row["rfd[judge]"] == pytest.approx(sum(spread["rfd[judge]"]) / len(MEMBERS), rel=1e-12)
        assert len(m["latent_std"][s]) == params.autoencoders.vit.latent_channels and min(m["latent_std"][s]) > 0
    values = numbers({k: m[k] for k in ("reconstruction", "noise_curve", "members", "latent_std", "efficiency")})
    assert all(math.isfinite(v) for v in values)
    # Never a bare "fid": without Inception the extractor is named and the metric is an FD.
    keys = {k for s in sets for k in m["reconstruction"][s]}
    assert not any(k.startswith(("fid", "rfid")) for k in keys)

    eff = m["efficiency"]
    assert set(eff) == EFFICIENCY_KEYS
    for key in ("gflops_256", "gflops_native"):
        assert set(eff[key]) == {"encode", "decode", "total"}
        assert eff[key]["total"] == pytest.approx(eff[key]["encode"] + eff[key]["decode"])
    assert eff["gflops_256"]["total"] > eff["gflops_native"]["total"] > 0  # 256 px vs the tiny preset's 32 px
    assert eff["params_m"] > 0 and eff["size_mib"] > 0 and eff["encode_img_s"] > 0 and eff["decode_img_s"] > 0
    assert "train_wall_time_s" not in eff  # the report reads it from train_ae's record, a volatile file
    meta = json.loads((layout.record_dir(params.paths, "eval_ae", ITEM) / "meta.json").read_text())
    assert meta["extractors"] == m["extractors"] and meta["versions"] == m["versions"]


def test_eps0_row_is_the_clean_reconstruction(tiny):
    params, m = tiny
    model = load_trained(layout.autoencoder_dir(params.paths, ITEM), image_size=params.data.resolution)
    perceptual = load_perceptual(params.paths.weights, layout.featnet(params.paths, "perceptual"))
    judges = suite_extractors(params.metrics, params.paths, torch.device("cpu"), params.judges.members)
    for s in params.data.sets:
        clean = {k: v for k, v in m["reconstruction"][s].items() if k != "n_images"}
        assert m["noise_curve"][s][0] == {"eps": 0.0, **clean}  # exactly: one code path
        # Independently: decode(encode(x).mode()), clamped, scored in one batch.
        split = open_split(params.paths.data, s, "eval")
        x = torch.stack([item["image"] for item in split])
        with torch.no_grad():
            y = model.decode(model.encode(x).mode()).clamp(-1, 1)
        expected = summarise({k: [v] for k, v in reconstruction_metrics(x, y, perceptual).items()})
        for name, judge in judges.items():
            ref = load_reference(layout.reference(params.paths, s, "eval", name), judge.identity)
            expected |= compute_reconstruction_fd(ref, extract_features(judge, [to_uint8_image(y)]))
        expected, _ = ensemble_means(expected)
        recon_u8 = to_uint8_image(y).permute(0, 2, 3, 1).numpy()
        expected[SWD_KEY] = pyramid_swd(recon_u8, uint8_array(split), params.metrics.swd, params.seed)
        assert clean == pytest.approx(expected, rel=1e-5, abs=1e-6)


def test_posterior_summary_of_the_eval_split(tiny):
    """VMAE is probabilistic: per set, the mean posterior std per channel and the KL per value, recomputed here in one
    batch from the trained model's posteriors (eval_ae encodes in batches of metrics.batch_size)."""
    params, m = tiny
    model = load_trained(layout.autoencoder_dir(params.paths, ITEM), image_size=params.data.resolution)
    assert set(m["posterior"]) == set(params.data.sets)
    for s in params.data.sets:
        x = torch.stack([item["image"] for item in open_split(params.paths.data, s, "eval")])
        with torch.no_grad():
            q = model.encode(x)  # (N, C, h, w) mean and logvar
        kl = 0.5 * (q.mean.double() ** 2 + q.logvar.double().exp() - 1 - q.logvar.double())
        summary = m["posterior"][s]
        assert summary["std_per_channel"] == pytest.approx(q.std.double().mean(dim=(0, 2, 3)).tolist(), rel=1e-5)
        assert summary["kl_per_channel"] == pytest.approx(kl.mean(dim=(0, 2, 3)).tolist(), rel=1e-5, abs=1e-8)
        assert summary["std_mean"] == pytest.approx(float(np.mean(summary["std_per_channel"])), rel=1e-12)
        active = sum(v > params.metrics.active_kl for v in summary["kl_per_channel"])
        assert summary["active_channels"] == active and summary["channels"] == params.autoencoders.vit.latent_channels


def test_features_file_holds_what_the_rows_average(tiny):
    """features.npz: per set and eps index, the per-image values the row means and each member's pool features;
    at eps 0 also the SWD's pseudo-values, whose mean is the row's swd[pyramid]."""
    params, m = tiny
    with np.load(layout.eval_ae_features(params.paths, ITEM)) as z:
        files = set(z.files)
        expected = set()
        for s in params.data.sets:
            n = m["reconstruction"][s]["n_images"]
            for k, row in enumerate(m["noise_curve"][s]):
                per_image = {key for key in row if key in {"l1[0-1]", "mse[0-1]", "psnr", "ssim", "percep[own]"}}
                per_image |= {SWD_KEY} if k == 0 else set()  # Table 1's SWD: its pseudo-values at eps 0 only
                expected |= {f"{s}/{k}/{key}" for key in per_image} | {f"{s}/{k}/{e}" for e in MEMBERS}
                for key in per_image:
                    assert z[f"{s}/{k}/{key}"].shape == (n,)
                    assert float(z[f"{s}/{k}/{key}"].mean()) == pytest.approx(row[key], rel=1e-12)
                for e in MEMBERS:
                    feats = z[f"{s}/{k}/{e}"]
                    assert feats.shape == (n, 96) and feats.dtype == np.float32
                    ref = load_reference(layout.reference(params.paths, s, "eval", e), m["extractors"][e])
                    fd = compute_reconstruction_fd(ref, {"pool": torch.from_numpy(feats)})[f"rfd[{e}]"]
                    assert fd == pytest.approx(row[f"rfd[{e}]"], rel=1e-5)
    assert files == expected


def test_noise_reaches_the_decoder(tiny):
    params, m = tiny
    for s in params.data.sets:
        rows = m["noise_curve"][s]
        assert rows[-1]["mse[0-1]"] != rows[0]["mse[0-1]"]
        assert all(rows[-1][f"rfd[{e}]"] != rows[0][f"rfd[{e}]"] for e in (*MEMBERS, "judge"))


class IdentityCodec(nn.Module):
    """encode(x) = x (a point-mass posterior), decode(z) = z: the decoded image is exactly the perturbed latent."""

    def encode(self, x: torch.Tensor) -> Posterior:
        return Posterior(x, None)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return z


def test_identity_codec_follows_the_noise_formula_and_rfd_grows(tiny):
    params, _ = tiny
    device, s, seed = torch.device("cpu"), "shapes", params.metrics.noise_seed
    codec = IdentityCodec()
    perceptual = load_perceptual(params.paths.weights, layout.featnet(params.paths, "perceptual"))
    extractors = suite_extractors(params.metrics, params.paths, device, params.judges.members)
    refs = {e: load_reference(layout.reference(params.paths, s, "eval", e), x.identity) for e, x in extractors.items()}
    loader = evaluate.eval_loader(params, s)
    x = torch.stack([item["image"] for item in open_split(params.paths.data, s, "eval")])  # (N, 3, H, W)

    std_c = latent_std(codec, loader, device)
    assert std_c == pytest.approx(x.double().transpose(0, 1).reshape(3, -1).std(dim=1), rel=1e-10)
    eps = (0.0, 0.05, 0.3)
    result = noise_sweep(codec, loader, std_c=std_c, eps=eps, noise_seed=seed, perceptual=perceptual,
                         extractors=extractors, references=refs, device=device, keep=2)  # fmt: skip
    noise = sample_noise(range(len(x)), x.shape[1:], seed)  # (N, 3, H, W): seeded by image index only
    for e, row in zip(eps, result.rows, strict=True):
        y = (x + e * noise * std_c.float().view(1, 3, 1, 1)).clamp(-1, 1)
        assert row["mse[0-1]"] == pytest.approx(float(mse(x, y).double().mean()), rel=1e-5)
    for e in extractors:  # every member sees it
        rfd = [row[f"rfd[{e}]"] for row in result.rows]
        assert abs(rfd[0]) < 1e-3 * rfd[-1]  # the originals themselves: FD to their own statistics ~ 0
        assert rfd[0] < rfd[1] < rfd[2]
    assert len(result.per_image) == len(result.features) == len(eps) and result.clean.shape == (len(x), 32, 32, 3)
    np.testing.assert_array_equal(result.clean, to_uint8_image(x).permute(0, 2, 3, 1).numpy())
    assert result.rows[0]["psnr"] == math.inf and result.rows[1]["psnr"] > result.rows[2]["psnr"]
    with pytest.raises(ValueError, match="must start at 0"):
        noise_sweep(codec, loader, std_c=std_c, eps=(0.1,), noise_seed=seed, perceptual=perceptual,
                    extractors=extractors, references=refs, device=device, keep=0)  # fmt: skip


def test_results_do_not_depend_on_batch_size(tiny, tmp_path):
    params, m16 = tiny
    assert params.metrics.batch_size == 16
    small = tiny_params(tmp_path, paths={k: getattr(params.paths, k) for k in ("data", "runs", "weights")},
                        metrics={"batch_size": 4})  # fmt: skip
    evaluate.main(small, ITEM)
    m4 = json.loads((run_dir(params.paths, "eval_ae", ITEM) / "metrics.json").read_text())
    for key in ("reconstruction", "noise_curve", "members", "latent_std"):
        assert numbers(m4[key]) == pytest.approx(numbers(m16[key]), rel=1e-5, abs=1e-5)


def test_examples_are_the_first_eval_images(tiny):
    params, _ = tiny
    res = params.data.resolution
    with np.load(run_dir(params.paths, "eval_ae", ITEM) / "examples.npz") as z:
        assert set(z.files) == {f"{s}/{k}" for s in params.data.sets for k in ("images", "recons")}
        for s in params.data.sets:
            for k in ("images", "recons"):
                assert z[f"{s}/{k}"].shape == (evaluate.EXAMPLES_PER_SET, res, res, 3)
                assert z[f"{s}/{k}"].dtype == np.uint8
            split = open_split(params.paths.data, s, "eval")
            first = torch.stack([split[i]["image"] for i in range(evaluate.EXAMPLES_PER_SET)])
            assert np.array_equal(z[f"{s}/images"], to_uint8_image(first).permute(0, 2, 3, 1).numpy())


def test_missing_inputs_fail_early_with_the_fix(tiny, tmp_path):
    params, _ = tiny
    with pytest.raises(ValueError, match="unknown autoencoder item 'vqgan'"):
        evaluate.main(params, "vqgan")

    runs = tmp_path / "runs"
    no_model = tiny_params(tmp_path, paths={"data": params.paths.data, "runs": str(runs)})
    with pytest.raises(FileNotFoundError, match=f"dvc repro train_ae@{ITEM}"):
        evaluate.main(no_model, ITEM)

    # Trained model and perceptual network present, judges absent.
    for stage in ("featnets", "autoencoders"):
        (runs / stage).parent.mkdir(parents=True, exist_ok=True)
        (runs / stage).symlink_to(Path(run_dir(params.paths, stage)).resolve())
    with pytest.raises(FileNotFoundError, match=r"judges/judge-0\.pt"):
        evaluate.main(no_model, ITEM)

    # ... judges present, reference statistics absent.
    for stage in ("judges",):
        (runs / stage).parent.mkdir(parents=True, exist_ok=True)
        (runs / stage).symlink_to(Path(run_dir(params.paths, stage)).resolve())
    with pytest.raises(FileNotFoundError, match="dvc repro reference"):
        evaluate.main(no_model, ITEM)
    assert not (runs / "eval_ae").exists()
