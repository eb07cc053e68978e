"""Tests of the metric-validation battery (`bench.validate_metrics`): the pass rule, the verdicts, the stage.

The pass rule and the bookkeeping are tested on hand-made numbers; the stage runs once on the tiny preset
(data -> judges -> reference -> validate_metrics, two judges, levels 0 and 1, one seed: ~30 s on two cores), and is
checked for coverage: every configured disturbance and every generator shift of each set's kind, on both sets.

Run: `python -m pytest tests/test_validation_stage.py -q` (the stage test is marked slow).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from bench import data, embedded, layout, reference, train_judges, validate_metrics
from bench.disturbances import DISTURBANCES
from bench.metrics import FID, IS, KID, PRECISION, RECALL, SFID, labelled
from bench.validate_metrics import (
    DIVERSITY,
    EXPECTED,
    FALLS,
    GROWS,
    QUALITY,
    SCORED,
    decide,
    ensemble_key,
    judge_step,
    metric_name,
    summarise,
)
from tests.conftest import tiny_params

ROOT = Path(__file__).resolve().parents[1]
ALL_SHIFTS = [s for kind in sorted(embedded.SHIFTS) for s in embedded.SHIFTS[kind]]


# ---------------------------------------------------------------------------------------------
# The pass rule
# ---------------------------------------------------------------------------------------------


def test_judge_step_passes_a_monotone_curve_that_clears_the_floor():
    out = judge_step([1.0, 2.0, 3.0], [0.1, 0.2, 0.1], floor=1.5, direction=GROWS)
    assert out == {"passes": True, "monotone": True, "clears_floor": True}
    assert judge_step([1.0, 2.0], [0.0, 0.0], floor=1.0, direction=GROWS)["passes"]  # two levels suffice
    falls = judge_step([0.9, 0.5, 0.1], [0.05, 0.05, 0.05], floor=0.8, direction=FALLS)
    assert falls == {"passes": True, "monotone": True, "clears_floor": True}


def test_judge_step_fails_a_first_step_inside_the_floor():
    # Monotone with margins, but level 1's mean does not leave the real-vs-real floor.
    assert judge_step([1.0, 2.0, 3.0], [0.1, 0.1, 0.1], floor=2.5, direction=GROWS) == {
        "passes": False,
        "monotone": True,
        "clears_floor": False,
    }
    assert not judge_step([1.0, 2.0], [0.0, 0.0], floor=2.0, direction=GROWS)["clears_floor"]  # on it: inside
    assert not judge_step([0.9, 0.5, 0.1], [0.05] * 3, floor=0.4, direction=FALLS)["clears_floor"]


def test_judge_step_fails_a_step_smaller_than_the_spread():
    # Step 2 (0.05) is below the spread; steps equal to the spread also fail (strictly more is needed).
    small = judge_step([1.0, 2.0, 2.05], [0.1, 0.1, 0.1], floor=0.0, direction=GROWS)
    assert small == {"passes": False, "monotone": False, "clears_floor": True}
    assert not judge_step([1.0, 2.0], [0.0, 1.0], floor=0.0, direction=GROWS)["monotone"]
    # The spread at either end of a step counts: here the far end's.
    assert not judge_step([1.0, 2.0, 3.0], [0.1, 0.1, 1.5], floor=0.0, direction=GROWS)["monotone"]
    # The wrong direction fails however large the move.
    assert not judge_step([3.0, 2.0, 1.0], [0.0] * 3, floor=0.0, direction=GROWS)["passes"]
    assert not judge_step([1.0, 2.0, 3.0], [0.0] * 3, floor=5.0, direction=FALLS)["passes"]


# ---------------------------------------------------------------------------------------------
# Keys, verdicts and the summary
# ---------------------------------------------------------------------------------------------


def test_ensemble_key_pools_members_and_leaves_other_keys():
    assert ensemble_key("fd[judge-1]") == "fd[judge]"
    assert ensemble_key("kid_std[judge-12]") == "kid_std[judge]"
    for key in ("fd[judge]", "swd[pyramid]", "fid[inception]", "psnr", "fd[judge-x]"):
        assert ensemble_key(key) == key
    assert metric_name("fd[judge-0]") == "fd" and metric_name("swd[pyramid]") == "swd"


@pytest.mark.xfail(
    strict=True,
    reason="ensemble_key pools any label ending in a digit after '-': 'l1[0-1]' -> 'l1[0]' (only 'judge-<k>' should "
    "pool, as bench.metrics.ensemble_means does); latent while the battery scores only SCORED metrics",
)
def test_ensemble_key_leaves_range_labels():
    assert ensemble_key("l1[0-1]") == "l1[0-1]" and ensemble_key("mse[0-1]") == "mse[0-1]"


def test_every_scored_metric_has_an_expectation_over_known_disturbances():
    assert set(EXPECTED) == {*SCORED, "swd"}
    named = {d for _, which in EXPECTED.values() if which for d in which}
    assert named <= set(DISTURBANCES) and set(QUALITY) | set(DIVERSITY) <= set(DISTURBANCES)


def rows_of(dataset: str, metric: str, disturbance: str, per_level: dict[float, dict[int, list[float]]]) -> list:
    """curves.csv-like rows: per level, per member k, one value per seed."""
    row = {"set": dataset, "battery": "disturbance", "disturbance": disturbance}
    return [
        {**row, "metric": f"{metric}[judge-{k}]", "level": level, "seed": seed, "value": v}
        for level, members in per_level.items()
        for k, values in members.items()
        for seed, v in enumerate(values)
    ]


LEVELS = (0.0, 0.5, 1.0)


def test_decide_pools_seeds_and_members_and_applies_the_rule():
    noise = {0.0: {0: [1.0], 1: [1.2]}, 0.5: {0: [5.0, 5.2], 1: [5.1, 5.3]}, 1.0: {0: [10.0, 10.2], 1: [10.1, 10.3]}}
    flat = {0.0: {0: [1.0], 1: [1.2]}, 0.5: {0: [1.1, 1.0], 1: [1.2, 1.3]}, 1.0: {0: [1.2, 1.1], 1: [1.0, 1.3]}}
    precision = {0.0: {0: [0.9], 1: [0.9]}, 0.5: {0: [0.9, 0.9], 1: [0.9, 0.9]}, 1.0: {0: [0.9, 0.9], 1: [0.9, 0.9]}}
    rows = rows_of("shapes", "fd", "gaussian_noise", noise) + rows_of("shapes", "fd", "repeat", flat)
    rows += rows_of("shapes", "precision", "repeat", precision)
    rows += rows_of("faces", "fd", "gaussian_noise", flat)  # another set: ignored
    floor = [
        {"fd[judge-0]": a, "fd[judge-1]": b, "precision[judge-0]": 0.9, "precision[judge-1]": p}
        for a, b, p in ((1.0, 1.4, 0.8), (2.0, 2.2, 0.9), (1.5, 1.5, 0.95), (0.8, 1.0, 0.85))
    ]
    out = decide(rows, floor, "shapes", LEVELS, ci=0.95)
    assert set(out) == {"fd[judge]", "precision[judge]"}
    v = out["fd[judge]"]["gaussian_noise"]
    assert v["means"] == pytest.approx([1.1, 5.15, 10.15])
    sds = [np.std(x, ddof=1) for x in ([1.0, 1.2], [5.0, 5.2, 5.1, 5.3], [10.0, 10.2, 10.1, 10.3])]
    assert v["spreads"] == pytest.approx(sds)  # over seeds x members
    assert v["floor"] == pytest.approx(np.quantile([1.2, 2.1, 1.5, 0.9], 0.95))  # per resample, the ensemble mean
    assert v["expected"] and v["direction"] == GROWS and v["passes"] and v["monotone"] and v["clears_floor"]
    repeat = out["fd[judge]"]["repeat"]
    assert repeat["expected"] and not repeat["passes"] and not repeat["monotone"]
    p = out["precision[judge]"]["repeat"]
    assert not p["expected"] and p["direction"] == FALLS  # precision answers for fidelity, not diversity
    assert p["floor"] == pytest.approx(np.quantile([0.85, 0.9, 0.925, 0.875], 0.05))  # the low quantile: it falls
    faces = decide(rows, floor, "faces", LEVELS, ci=0.95)
    assert set(faces) == {"fd[judge]"} and set(faces["fd[judge]"]) == {"gaussian_noise"}


def test_summarise_counts_only_expected_verdicts():
    def v(expected: bool, passes: bool) -> dict:
        return {"expected": expected, "passes": passes}

    verdicts = {
        "shapes": {
            "fd[judge]": {"gaussian_noise": v(True, True), "repeat": v(True, False)},
            "precision[judge]": {"repeat": v(False, False), "swirl": v(True, True)},
        },
        "faces": {"fd[judge]": {"gaussian_noise": v(True, True)}, "precision[judge]": {"swirl": v(True, True)}},
    }
    assert summarise(verdicts) == {
        "fd[judge]": {"validated": False, "failed": ["shapes:repeat"],
                      "passed": ["shapes:gaussian_noise", "faces:gaussian_noise"]},
        "precision[judge]": {"validated": True, "failed": [], "passed": ["shapes:swirl", "faces:swirl"]},
    }  # fmt: skip
    assert summarise({}) == {}


# ---------------------------------------------------------------------------------------------
# Configuration
# ---------------------------------------------------------------------------------------------


def validate_section() -> dict:
    return yaml.safe_load((ROOT / "params.yaml").read_text())["metrics"]["validate"]


def test_configured_battery_is_known():
    cfg = validate_section()
    assert set(cfg["disturbances"]) == set(QUALITY) | set(DIVERSITY) == set(DISTURBANCES)
    assert set(cfg["shifts"]) <= set(ALL_SHIFTS)


@pytest.mark.xfail(
    strict=True,
    reason="params.yaml metrics.validate.shifts omits shapes' 'no_main_object': add it, or drop this test if the "
    "omission is deliberate",
)
def test_every_generator_shift_is_configured():
    assert set(ALL_SHIFTS) <= set(validate_section()["shifts"])


@pytest.mark.xfail(
    strict=True,
    reason="SCORED / EXPECTED name the judges' 'fd'/'sfd' only, so with Inception weights present score() silently "
    "drops fid[inception] and sfid[inception] from the battery",
)
def test_inception_metrics_are_scored_too():
    for metric in (FID, SFID, IS, KID, PRECISION, RECALL):
        assert metric_name(labelled(metric, "inception")) in SCORED


def test_unknown_disturbance_is_refused_before_any_work(tmp_path):
    params = tiny_params(tmp_path, metrics={"validate": {"disturbances": ["gaussian_noise", "fog"]}})
    with pytest.raises(ValueError, match=r"disturbances \['fog'\] are unknown"):
        validate_metrics.main(params)  # no judges, no data: it must fail on the name first
    assert not Path(layout.run_dir(params.paths, "validate_metrics")).exists()


# ---------------------------------------------------------------------------------------------
# The stage on the tiny preset
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    """(params, curves.csv rows, metrics.json) after data -> judges -> reference -> validate_metrics."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the shared 2-core machine: oversubscribed torch is many times slower
    params = tiny_params(
        tmp_path_factory.mktemp("validate"),
        judges={"members": 2},
        metrics={
            "validate": {"levels": [0.0, 1.0], "seeds": 1, "images": 16, "shifts": ALL_SHIFTS},
            "bootstrap": {"n_resamples": 10},
        },
    )
    data.main(params)
    train_judges.main(params)
    reference.main(params)
    validate_metrics.main(params)
    with layout.metric_validation_curves(params.paths).open() as f:
        rows = list(csv.DictReader(f))
    yield params, rows, json.loads(layout.metric_validation(params.paths).read_text())
    torch.set_num_threads(before)


@pytest.mark.slow
def test_every_disturbance_and_shift_appears_for_both_sets(stage):
    params, rows, _ = stage
    assert set(rows[0]) == {"set", "metric", "battery", "disturbance", "level", "seed", "value"}
    members = [layout.judge_name(k) for k in range(params.judges.members)]
    metrics = {f"{m}[{e}]" for m in SCORED for e in members} | {"swd[pyramid]"}
    for dataset, ds in params.data.sets.items():
        mine = [r for r in rows if r["set"] == dataset]
        disturbances = {r["disturbance"] for r in mine if r["battery"] == "disturbance"}
        shifts = {r["disturbance"] for r in mine if r["battery"] == "shift"}
        assert disturbances == set(params.metrics.validate.disturbances), dataset
        assert shifts == set(embedded.SHIFTS[ds.kind]), dataset  # every shift of its generator, no other kind's
        for name in disturbances | shifts:
            cells = {(r["metric"], float(r["level"])) for r in mine if r["disturbance"] == name}
            assert cells == {(m, lv) for m in metrics for lv in params.metrics.validate.levels}, (dataset, name)
        assert all(np.isfinite(float(r["value"])) for r in mine)
        # Level 0 is the undisturbed set: one value per metric, whatever the disturbance.
        clean = {(r["metric"], r["value"]) for r in mine if float(r["level"]) == 0.0}
        assert len(clean) == len(metrics)


@pytest.mark.slow
def test_verdicts_follow_the_rule_and_summary(stage):
    params, rows, out = stage
    assert set(out) == {"sets", "metrics"} and set(out["sets"]) == set(params.data.sets)
    ensemble = {f"{m}[judge]" for m in SCORED} | {"swd[pyramid]"}
    for dataset, per_metric in out["sets"].items():
        assert set(per_metric) == ensemble
        battery = {r["disturbance"] for r in rows if r["set"] == dataset}
        for per_dist in per_metric.values():
            assert set(per_dist) == battery
            for v in per_dist.values():
                assert len(v["means"]) == len(v["spreads"]) == len(params.metrics.validate.levels)
                assert {k: v[k] for k in ("passes", "monotone", "clears_floor")} == judge_step(
                    v["means"], v["spreads"], v["floor"], v["direction"]
                )
    assert out["metrics"] == summarise(out["sets"])
    # Full-strength noise raises the network-free SWD and the (barely trained) judges' FD on both sets. Whether
    # they clear the floor is not asserted: 16 images at 32 px are too few for that to be stable.
    for dataset in params.data.sets:
        for metric in ("swd[pyramid]", "fd[judge]"):
            means = out["sets"][dataset][metric]["gaussian_noise"]["means"]
            assert means[-1] > means[0], (dataset, metric, means)
    meta = json.loads((layout.record_dir(params.paths, "validate_metrics") / "meta.json").read_text())
    assert list(meta["extractors"]) == ["judge-0", "judge-1"]
    assert json.loads((layout.run_dir(params.paths, "validate_metrics") / "params.json").read_text())["judges"] == {
        "members": 2
    }
