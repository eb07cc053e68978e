"""Tests of the metric-validation battery (`bench.validate_metrics`): the pass rule, the verdicts, the stage.

The pass rule and the bookkeeping are tested on hand-made numbers; the stage itself runs in
tests/test_validation_run.py.

Run: `python -m pytest tests/test_validation_stage.py -q`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from bench import embedded, layout, validate_metrics
from bench.disturbances import DISTURBANCES
from bench.metrics import FID, IS, KID, PRECISION, RECALL, SFID, labelled
from bench.validate_metrics import (
    BOUNDS,
    DIVERSITY,
    EXPECTED,
    FALLS,
    GROWS,
    QUALITY,
    SATURATED,
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


def moves(*values: float) -> np.ndarray:
    """One level step: the move of each (judge member, seed) pair."""
    return np.array(values)


def test_judge_step_passes_moves_that_agree_and_clear_the_floor():
    # Step 1: mean 1.0, sd 0.1; step 2: mean 0.5, sd 0.1. Level 1 (2.0) is past the floor (1.5).
    out = judge_step([moves(1.0, 1.1, 0.9), moves(0.5, 0.6, 0.4)], [1.0, 2.0, 2.5], floor=1.5, direction=GROWS)
    assert {k: out[k] for k in ("passes", "monotone", "clears_floor")} == {
        "passes": True,
        "monotone": True,
        "clears_floor": True,
    }
    assert out["step_means"] == pytest.approx([1.0, 0.5]) and out["step_spreads"] == pytest.approx([0.1, 0.1])
    # A falling metric: the moves are signed by the direction, so a fall reports a positive step mean.
    falls = judge_step([moves(-0.2, -0.3, -0.25)], [0.9, 0.65], floor=0.8, direction=FALLS)
    assert falls["passes"] and falls["step_means"] == pytest.approx([0.25])
    assert falls["step_spreads"] == pytest.approx([0.05])
    # A single move has no spread (0): any move the right way passes; none at all does not (strictly more).
    single = judge_step([moves(0.01)], [1.0, 1.01], floor=1.0, direction=GROWS)
    assert single["passes"] and single["step_spreads"] == [0.0]
    assert not judge_step([moves(0.0)], [1.0, 1.0], floor=0.0, direction=GROWS)["monotone"]


def test_judge_step_fails_moves_whose_spread_exceeds_their_mean():
    # Mean 1.0 but sd 2.0: one draw moved the wrong way, the average alone is not enough.
    out = judge_step([moves(1.0, -1.0, 3.0)], [1.0, 2.0], floor=0.0, direction=GROWS)
    assert {k: out[k] for k in ("passes", "monotone", "clears_floor")} == {
        "passes": False,
        "monotone": False,
        "clears_floor": True,
    }
    assert out["step_means"] == pytest.approx([1.0]) and out["step_spreads"] == pytest.approx([2.0])
    # Every step must pass: a good first step does not carry a bad second one.
    good, bad = moves(1.0, 1.1, 0.9), moves(1.0, -1.0, 3.0)
    assert not judge_step([good, bad], [1.0, 2.0, 3.0], floor=0.0, direction=GROWS)["monotone"]
    # The wrong direction fails however consistent the moves; the same moves pass a falling metric.
    assert not judge_step([-good], [2.0, 1.0], floor=3.0, direction=GROWS)["monotone"]
    assert judge_step([-good], [2.0, 1.0], floor=3.0, direction=FALLS)["passes"]


def test_judge_step_fails_a_first_level_inside_the_floor():
    good = moves(1.0, 1.1, 0.9)
    out = judge_step([good, good], [1.0, 1.4, 5.0], floor=1.5, direction=GROWS)  # only level 1 is held to it
    assert (out["passes"], out["monotone"], out["clears_floor"]) == (False, True, False)
    assert not judge_step([good], [1.0, 1.5], floor=1.5, direction=GROWS)["clears_floor"]  # on it: inside
    assert not judge_step([-good], [0.9, 0.85], floor=0.8, direction=FALLS)["clears_floor"]
    assert judge_step([-good], [0.9, 0.75], floor=0.8, direction=FALLS)["clears_floor"]


def test_judge_step_excuses_a_bounded_metric_at_its_bound():
    # Precision 0.5 -> 0.01 -> 0.005: the first step is a clear fall; the second is noise around 0 (mean 0.005,
    # sd 0.013) that only passes because both its levels are within SATURATED of the bound.
    fall, noise = moves(-0.49, -0.48, -0.5), moves(-0.005, 0.008, -0.018)
    assert float(np.mean(noise)) * FALLS < float(np.std(noise, ddof=1))
    out = judge_step([fall, noise], [0.5, 0.01, 0.005], floor=0.4, direction=FALLS, bound=0.0)
    assert out["passes"] and out["monotone"] and out["clears_floor"]
    assert out["step_spreads"][1] == pytest.approx(float(np.std(noise, ddof=1)))  # still reported
    assert not judge_step([fall, noise], [0.5, 0.01, 0.005], floor=0.4, direction=FALLS)["monotone"]  # unbounded
    # Both ends must be saturated: 0.5 -> 0.01 with noisy moves is not excused, nor is 0.03 -> 0.01.
    assert not judge_step([noise], [0.5, 0.01], floor=0.6, direction=FALLS, bound=0.0)["monotone"]
    assert not judge_step([noise], [0.03, 0.01], floor=0.04, direction=FALLS, bound=0.0)["monotone"]
    assert judge_step([noise], [SATURATED, 0.01], floor=0.04, direction=FALLS, bound=0.0)["monotone"]  # inclusive
    assert BOUNDS == {"precision": 0.0, "recall": 0.0}


# ---------------------------------------------------------------------------------------------
# Keys, verdicts and the summary
# ---------------------------------------------------------------------------------------------


def test_ensemble_key_pools_members_and_leaves_other_keys():
    assert ensemble_key("fd[judge-1]") == "fd[judge]"
    assert ensemble_key("kid_std[judge-12]") == "kid_std[judge]"
    for key in ("fd[judge]", "swd[pyramid]", "fid[inception]", "psnr", "fd[judge-x]"):
        assert ensemble_key(key) == key
    assert metric_name("fd[judge-0]") == "fd" and metric_name("swd[pyramid]") == "swd"


def test_ensemble_key_leaves_range_labels():
    assert ensemble_key("l1[0-1]") == "l1[0-1]" and ensemble_key("mse[0-1]") == "mse[0-1]"


def test_every_scored_metric_has_an_expectation_over_known_disturbances():
    assert set(EXPECTED) == {*SCORED, "swd"}
    named = {d for _, which in EXPECTED.values() if which for d in which}
    assert named <= set(DISTURBANCES) and set(QUALITY) | set(DIVERSITY) <= set(DISTURBANCES)


def rows_of(
    dataset: str, metric: str, disturbance: str, per_level: dict[float, dict[int, list[float]]], battery="disturbance"
) -> list:
    """curves.csv-like rows: per level, per member k, one value per seed (level 0: seed 0 only)."""
    row = {"set": dataset, "battery": battery, "disturbance": disturbance}
    return [
        {**row, "metric": f"{metric}[judge-{k}]", "level": level, "seed": seed, "value": v}
        for level, members in per_level.items()
        for k, values in members.items()
        for seed, v in enumerate(values)
    ]


LEVELS = (0.0, 0.5, 1.0)


def test_decide_steps_each_member_and_seed_and_centres_the_floor():
    # Seed 1 sits 2 above seed 0 at every disturbed level: the per-level spread (~1.15) exceeds the step between
    # level means (1.0), but each (member, seed) pair moves consistently, which is what the rule asks.
    noise = {0.0: {0: [1.0], 1: [1.2]}, 0.5: {0: [2.0, 4.0], 1: [2.2, 4.2]}, 1.0: {0: [3.0, 5.1], 1: [3.1, 5.2]}}
    # Step 1's moves are [1, -1, 3, 1]: mean 1.0 < sd 1.63, though the level means rise.
    split = {0.0: {0: [1.0], 1: [1.0]}, 0.5: {0: [2.0, 0.0], 1: [4.0, 2.0]}, 1.0: {0: [3.0, 1.0], 1: [5.0, 3.0]}}
    # Consistent moves of 0.5 and 0.7: level 1's mean (1.8) clears the centred floor (1.64), 1.6 does not.
    blur = {0.0: {0: [1.0], 1: [1.2]}, 0.5: {0: [1.7, 1.7], 1: [1.9, 1.9]}, 1.0: {0: [2.7], 1: [2.9]}}
    pepper = {0.0: {0: [1.0], 1: [1.2]}, 0.5: {0: [1.5, 1.5], 1: [1.7, 1.7]}, 1.0: {0: [2.5], 1: [2.7]}}
    # Precision falls to 0.01, then wanders near 0: the last step is excused (saturated).
    swirl = {
        0.0: {0: [0.5], 1: [0.6]},
        0.5: {0: [0.01, 0.02], 1: [0.0, 0.01]},
        1.0: {0: [0.0, 0.02], 1: [0.01, 0.0]},
    }
    rows = rows_of("shapes", "fd", "gaussian_noise", noise) + rows_of("shapes", "fd", "repeat", split)
    rows += rows_of("shapes", "fd", "gaussian_blur", blur) + rows_of("shapes", "fd", "salt_pepper", pepper)
    rows += rows_of("shapes", "fd", "texture_mismatch", noise, battery="shift")
    rows += rows_of("shapes", "precision", "swirl", swirl) + rows_of("shapes", "precision", "repeat", swirl)
    rows += rows_of("faces", "fd", "gaussian_noise", split)  # another set: ignored
    rows += rows_of("shapes", "fd", "floor", {0.0: {0: [99.0, 99.0], 1: [99.0, 99.0]}}, battery="floor")  # ignored
    floor = [
        {"fd[judge-0]": a, "fd[judge-1]": b, "precision[judge-0]": c, "precision[judge-1]": d}
        for a, b, c, d in (
            (1.0, 1.4, 0.5, 0.6),
            (2.0, 2.2, 0.45, 0.55),
            (1.5, 1.5, 0.6, 0.6),
            (0.8, 1.0, 0.5, 0.5),
            (1.6, 2.0, 0.4, 0.5),
        )
    ]
    out = decide(rows, floor, "shapes", LEVELS, ci=0.95)
    assert set(out) == {"fd[judge]", "precision[judge]"}
    assert set(out["fd[judge]"]) == {"gaussian_noise", "repeat", "gaussian_blur", "salt_pepper", "texture_mismatch"}
    v = out["fd[judge]"]["gaussian_noise"]
    assert set(v) == {"expected", "direction", "means", "floor", "passes", "monotone", "clears_floor", "step_means",
                      "step_spreads"}  # fmt: skip
    assert v["means"] == pytest.approx([1.1, 3.1, 4.1])
    assert v["step_means"] == pytest.approx([2.0, 1.0])  # seed 1 steps from level 0's single draw (seed 0)
    assert v["step_spreads"] == pytest.approx([np.std([1, 3, 1, 3], ddof=1), np.std([1, 1.1, 0.9, 1], ddof=1)])
    # The floor: the undisturbed mean plus the bootstrap's 95% quantile relative to its median; per resample the
    # ensemble mean: [1.2, 2.1, 1.5, 0.9, 1.8] -> 1.1 + (2.04 - 1.5).
    boot = [1.2, 2.1, 1.5, 0.9, 1.8]
    assert v["floor"] == pytest.approx(1.1 + np.quantile(boot, 0.95) - np.median(boot)) == pytest.approx(1.64)
    assert v["expected"] and v["direction"] == GROWS and v["passes"] and v["monotone"] and v["clears_floor"]
    assert out["fd[judge]"]["texture_mismatch"] == v  # shifts are decided alike, every one expected of FD
    repeat = out["fd[judge]"]["repeat"]
    assert repeat["expected"] and not repeat["passes"] and not repeat["monotone"] and repeat["clears_floor"]
    assert repeat["step_means"] == pytest.approx([1.0, 1.0]) and repeat["step_spreads"] == pytest.approx(
        [np.std([1, -1, 3, 1], ddof=1), 0.0]
    )
    blurred, peppered = out["fd[judge]"]["gaussian_blur"], out["fd[judge]"]["salt_pepper"]
    assert blurred["passes"] and blurred["clears_floor"]  # 1.8 > 1.64 (the raw quantile, 2.04, would fail it)
    assert peppered["monotone"] and not peppered["clears_floor"] and not peppered["passes"]  # 1.6 < 1.64
    p = out["precision[judge]"]["swirl"]
    assert p["expected"] and p["direction"] == FALLS and p["means"] == pytest.approx([0.55, 0.01, 0.0075])
    assert p["step_means"][1] < p["step_spreads"][1] and p["monotone"] and p["passes"]  # saturated last step
    # A falling metric's floor takes the low quantile: 0.55 + (0.46 - 0.5).
    pboot = [0.55, 0.5, 0.6, 0.5, 0.45]
    assert p["floor"] == pytest.approx(0.55 + np.quantile(pboot, 0.05) - np.median(pboot)) == pytest.approx(0.51)
    assert not out["precision[judge]"]["repeat"]["expected"]  # precision answers for fidelity, not diversity
    faces = decide(rows, floor, "faces", LEVELS, ci=0.95)
    assert set(faces) == {"fd[judge]"} and set(faces["fd[judge]"]) == {"gaussian_noise"}
    assert not faces["fd[judge]"]["gaussian_noise"]["monotone"]


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


def test_every_generator_shift_is_configured():
    assert set(ALL_SHIFTS) <= set(validate_section()["shifts"])


def test_inception_metrics_are_scored_too():
    for metric in (FID, SFID, IS, KID, PRECISION, RECALL):
        assert metric_name(labelled(metric, "inception")) in SCORED


def test_unknown_disturbance_is_refused_before_any_work(tmp_path):
    params = tiny_params(tmp_path, metrics={"validate": {"disturbances": ["gaussian_noise", "fog"]}})
    with pytest.raises(ValueError, match=r"disturbances \['fog'\] are unknown"):
        validate_metrics.main(params)  # no judges, no data: it must fail on the name first
    assert not Path(layout.run_dir(params.paths, "validate_metrics")).exists()


def test_unknown_shift_is_refused_before_any_work(tmp_path):
    params = tiny_params(tmp_path, metrics={"validate": {"shifts": ["no_mouth", "no_nose"]}})
    with pytest.raises(ValueError, match=r"shifts \['no_nose'\] are unknown"):
        validate_metrics.main(params)
    assert not Path(layout.run_dir(params.paths, "validate_metrics")).exists()
