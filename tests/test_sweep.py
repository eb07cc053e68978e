"""The regularisation sweeps' rules pick what they say, and a point changes exactly one weight."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from autoencoders.sweep import SWEEPS, TRAIN_PARAMS, choose, train_point, train_seconds, trains
from bench import layout
from bench.scratch import scratch_params
from tests.conftest import tiny_params, tiny_raw


def rows_vae(gaps: dict[float, float], active: dict[float, int]) -> list[dict]:
    rows = [{"item": "ae", "value": "", "set": s, "psnr": 30.0} for s in ("shapes", "faces")]
    for w, gap in gaps.items():
        rows += [
            {"item": "vae", "value": w, "set": s, "psnr": 30.0 - gap, "active": active[w]} for s in ("shapes", "faces")
        ]
    return rows


def test_vae_rule_takes_the_gap_nearest_the_papers_among_weights_with_an_active_channel(tmp_path):
    params = tiny_params(tmp_path)
    gaps = {1e-3: 0.1, 1e-2: 1.0, 1e-1: 2.6, 1.0: 2.9}
    assert choose("vae-kl", SWEEPS["vae-kl"], rows_vae(gaps, dict.fromkeys(gaps, 4)), params) == 1.0
    # the nearest gap is out when its latent has collapsed (no channel above ACTIVE_NATS)
    assert choose("vae-kl", SWEEPS["vae-kl"], rows_vae(gaps, {1e-3: 4, 1e-2: 4, 1e-1: 3, 1.0: 0}), params) == 1e-1


def test_vmae_rule_takes_the_smallest_weight_within_ten_percent_of_the_target_on_every_set(tmp_path):
    params = tiny_params(tmp_path)
    std = {1e-4: (0.2, 0.3), 1e-3: (0.95, 0.85), 1e-2: (0.97, 0.93), 1e-1: (1.0, 1.0)}
    rows = [
        {"item": "vmae", "value": w, "set": s, "post_std": v}
        for w, pair in std.items()
        for s, v in zip(("shapes", "faces"), pair, strict=True)
    ]
    assert choose("vmae-reg", SWEEPS["vmae-reg"], rows, params) == 1e-2  # 1e-3 misses on faces (0.85)
    far = [dict(r, post_std=0.1) for r in rows]
    assert choose("vmae-reg", SWEEPS["vmae-reg"], far, params) == 1e-1  # none near: the largest tried


def test_a_point_changes_one_weight_and_moves_only_the_runs(tmp_path):
    raw = tiny_raw(tmp_path)
    out = scratch_params(raw, tmp_path / "point", {"autoencoders.variants.vae.vae.weight": 0.03})
    assert out["autoencoders"]["variants"]["vae"]["vae"]["weight"] == 0.03
    assert raw["autoencoders"]["variants"]["vae"]["vae"]["weight"] != 0.03  # the repository's params untouched
    assert out["paths"]["runs"] == str(tmp_path / "point" / "runs")
    assert out["paths"]["data"] == str(Path(raw["paths"]["data"]).resolve())
    rest = {k: v for k, v in out.items() if k not in ("paths", "autoencoders")}
    assert rest == {k: v for k, v in raw.items() if k not in ("paths", "autoencoders")}


def rows_precision(psnr: dict[tuple[str, str, int], float]) -> list[dict]:
    """One row per (precision, set, seed) of the `ae` item, its val PSNR given."""
    return [{"item": "ae", "value": v, "seed": seed, "set": s, "psnr": p} for (v, s, seed), p in psnr.items()]


def test_precision_rule_takes_bf16_only_when_its_shift_is_inside_the_seed_to_seed_gap_on_every_set(tmp_path):
    params = tiny_params(tmp_path)
    inside = {
        ("fp32", "shapes", 0): 24.0, ("fp32", "shapes", 1): 24.4,
        ("bf16", "shapes", 0): 24.1, ("bf16", "shapes", 1): 24.2,
        ("fp32", "faces", 0): 22.0, ("fp32", "faces", 1): 22.2,
        ("bf16", "faces", 0): 22.1, ("bf16", "faces", 1): 22.0,
    }  # fmt: skip
    assert choose("precision", SWEEPS["precision"], rows_precision(inside), params) == "bf16"  # shifts -0.05, -0.05
    # faces: bf16 loses 0.3 dB against a 0.2 dB seed-to-seed gap
    outside = inside | {("bf16", "faces", 0): 21.7, ("bf16", "faces", 1): 21.9}
    assert choose("precision", SWEEPS["precision"], rows_precision(outside), params) == "fp32"
    one_seed = {k: v for k, v in inside.items() if k[2] == 0}
    with pytest.raises(ValueError, match="two seeds"):
        choose("precision", SWEEPS["precision"], rows_precision(one_seed), params)


def test_a_point_changes_dotted_keys_and_refuses_a_key_params_does_not_have(tmp_path):
    raw = tiny_raw(tmp_path)
    out = scratch_params(raw, tmp_path / "point", {"autoencoders.train.precision": "bf16", "seed": 1})
    assert out["autoencoders"]["train"]["precision"] == "bf16" and out["seed"] == 1
    for typo in ("autoencoders.train.precison", "autoencoders.trian.precision"):
        with pytest.raises(ValueError, match=typo):
            scratch_params(raw, tmp_path / "point", {typo: "bf16"})


def test_budget_rule_takes_the_smallest_budget_without_a_visible_patch_grid_on_every_set(tmp_path):
    params = tiny_params(tmp_path)
    excess = {300: (1.4, 1.05), 600: (1.08, 1.09), 900: (1.02, 1.01)}
    rows = [
        {"item": "vmae", "value": n, "set": s, "block_excess": e}
        for n, pair in excess.items()
        for s, e in zip(("shapes", "faces"), pair, strict=True)
    ]
    assert choose("ae-steps", SWEEPS["ae-steps"], rows, params) == 600  # 300 shows the grid on shapes
    gridded = [dict(r, block_excess=1.5) for r in rows]
    assert choose("ae-steps", SWEEPS["ae-steps"], gridded, params) == 900  # none clean: the largest tried


def test_percep_scale_rule_takes_the_lowest_percep_among_scales_within_the_psnr_slack(tmp_path):
    params = tiny_params(tmp_path)
    # (psnr, percep) per scale, the same on both sets and items but sd-vae's PSNR 2 dB lower throughout
    readings = {0.02: (23.0, 0.50), 0.05: (22.9, 0.40), 0.1: (22.6, 0.35), 0.3: (22.0, 0.30)}
    rows = [
        {"item": item, "value": v, "set": s, "psnr": p - (2.0 if item == "sd-vae" else 0.0), "percep": q}
        for v, (p, q) in readings.items()
        for item in ("vmae", "sd-vae")
        for s in ("shapes", "faces")
    ]
    assert choose("percep-scale", SWEEPS["percep-scale"], rows, params) == 0.1  # 0.3 costs 1.0 dB
    # one item and set losing more than the slack at 0.1 rules 0.1 out
    worse = [
        dict(r, psnr=r["psnr"] - 0.5) if (r["value"], r["item"], r["set"]) == (0.1, "sd-vae", "faces") else r
        for r in rows
    ]
    assert choose("percep-scale", SWEEPS["percep-scale"], worse, params) == 0.05


def test_percep_scale_rule_falls_back_to_the_smallest_worst_psnr_loss_and_refuses_nan(tmp_path):
    params = tiny_params(tmp_path)
    # vmae is best at 0.02, sd-vae at 0.3, 1 dB apart: no scale is within 0.5 dB of both bests
    psnr = {("vmae", 0.02): 23.0, ("vmae", 0.3): 22.0, ("sd-vae", 0.02): 21.0, ("sd-vae", 0.3): 22.0}
    rows = [
        {"item": i, "value": v, "set": "shapes", "psnr": p, "percep": 0.5 - v} for (i, v), p in psnr.items()
    ] + [{"item": "vmae", "value": 0.1, "set": "shapes", "psnr": 22.4, "percep": 0.4},
         {"item": "sd-vae", "value": 0.1, "set": "shapes", "psnr": 21.4, "percep": 0.4}]  # fmt: skip
    assert (
        choose("percep-scale", SWEEPS["percep-scale"], rows, params) == 0.1
    )  # none within 0.5 dB; worst losses 0.6 vs 1.0, 1.0
    rows[0]["percep"] = float("nan")
    with pytest.raises(ValueError, match="non-finite"):
        choose("percep-scale", SWEEPS["percep-scale"], rows, params)


def test_a_points_cost_is_its_steady_training_time_not_its_wall_time(tmp_path):
    meta = layout.autoencoder_record_dir(tmp_path / "runs", "sd-vae") / layout.META_FILE
    meta.parent.mkdir(parents=True)
    times = {"train_wall_time_s": {"phase1_s": 900.0, "phase3_s": 400.0},  # a sweep next door doubled the wall
             "train_steady_time_s": {"phase1_s": 400.0, "phase3_s": 250.0}}  # fmt: skip
    meta.write_text(json.dumps(times))
    assert train_seconds(tmp_path, "sd-vae") == 650.0


def test_a_finished_point_trained_under_other_params_is_an_error_not_a_reading(tmp_path):
    params = tiny_params(tmp_path)
    raw = tiny_raw(tmp_path)
    project = tmp_path / "point"
    weights = layout.autoencoder_weights(project / "runs", "vmae")
    weights.parent.mkdir(parents=True)
    weights.write_bytes(b"finished")
    changes = {"autoencoders.percep_own_scale": 0.1}
    (project / "params.yaml").write_text(yaml.safe_dump(scratch_params(raw, project, changes)))
    assert train_point(params, raw, project, "vmae", changes) == weights  # same params: read back
    raw["autoencoders"]["train"]["lr"] = 123.0
    with pytest.raises(ValueError, match=r"other params \(autoencoders.train.lr\)"):
        train_point(params, raw, project, "vmae", changes)


def test_the_point_check_reads_the_params_train_ae_reads_as_dvc_yaml_lists_them():
    stage = yaml.safe_load((Path(__file__).resolve().parents[1] / "dvc.yaml").read_text())["stages"]["train_ae"]["do"]
    listed = [p.replace("${key}", "vmae") for p in stage["params"]]
    assert sorted(listed) == sorted((*TRAIN_PARAMS, "autoencoders.variants.vmae"))
    assert trains("autoencoders.variants.vmae.vmae.reg_weight", "vmae")
    assert not trains("autoencoders.variants.vmae-lm-reg.vmae.reg_weight", "vmae")
    assert not trains("diffusion.train.steps", "vmae") and not trains("paths.runs", "vmae")
