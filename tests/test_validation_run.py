"""The metric-validation stage (`bench.validate_metrics`) run once on the tiny preset: coverage, verdicts, values.

data -> judges -> reference -> validate_metrics, two judges, levels 0 and 1, one seed (~30 s on two cores); checked
for coverage (every configured disturbance and every generator shift of each set's kind, on both sets), for
verdicts that follow the pass rule recomputed from curves.csv, and for SWD values equal to the plain SWD. The rule
itself is tested on hand-made numbers in tests/test_validation_stage.py.

Run: `python -m pytest tests/test_validation_run.py -q` (marked slow).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
import torch

from bench import data, embedded, layout, reference, train_judges, validate_metrics
from bench.disturbances import disturb
from bench.metrics import labelled, pyramid_swd
from bench.splits import open_split, uint8_array
from bench.validate_metrics import (
    BOUNDS,
    EXPECTED,
    FLOOR_RESAMPLES,
    GROWS,
    REFERENCE_SPLIT,
    SCORED,
    ensemble_key,
    judge_step,
    metric_name,
    summarise,
)
from tests.conftest import tiny_params
from tests.test_validation_stage import ALL_SHIFTS


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    """(params, curves.csv rows, metrics.json) after data -> judges -> reference -> validate_metrics."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the shared 2-core machine: oversubscribed torch is many times slower
    params = tiny_params(
        tmp_path_factory.mktemp("validate"),
        seed=7,  # not 0, the first floor resample's seed: the SWD's kept reference side must be rebuilt for it
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
    # the judges' names of SCORED ("fid" and "fd" are both "fd[judge-k]"); no Inception weights in the tiny preset
    metrics = {labelled(m, e) for m in SCORED for e in members} | {"swd[pyramid]"}
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
        clean = {(r["metric"], r["value"]) for r in mine if float(r["level"]) == 0.0 and r["battery"] != "floor"}
        assert len(clean) == len(metrics)
        # The real-vs-real floor: every metric on each bootstrap resample of the undisturbed set.
        floor = {(r["metric"], int(r["seed"])) for r in mine if r["battery"] == "floor"}
        assert floor == {(m, b) for m in metrics for b in range(FLOOR_RESAMPLES)}, dataset
        assert {r["disturbance"] for r in mine if r["battery"] == "floor"} == {"floor"}


@pytest.mark.slow
def test_swd_values_are_the_plain_swd_against_the_reference(stage):
    """The stage keeps the reference's SWD side across its battery; each value is still `pyramid_swd` of the set
    (scored with `seed`, 7, after the floor's resamples were scored with seeds 0..19)."""
    params, rows, _ = stage
    cfg = params.metrics.swd

    def value(dataset: str, disturbance: str, level: float) -> float:
        cell = (dataset, "swd[pyramid]", disturbance, level, "0")
        return next(float(r["value"]) for r in rows if (r["set"], r["metric"], r["disturbance"], float(r["level"]),
                                                        r["seed"]) == cell)  # fmt: skip

    for dataset in params.data.sets:
        images = uint8_array(open_split(params.paths, dataset, "eval"), params.metrics.validate.images)
        reference_images = uint8_array(open_split(params.paths, dataset, REFERENCE_SPLIT), len(images))
        noisy = disturb("gaussian_noise", images, 1.0, 0)
        assert value(dataset, "gaussian_noise", 0.0) == pyramid_swd(images, reference_images, cfg, params.seed)
        assert value(dataset, "gaussian_noise", 1.0) == pyramid_swd(noisy, reference_images, cfg, params.seed)


def recompute(rows: list[dict], dataset: str, levels: list[float], ci: float) -> dict:
    """Per (ensemble metric, disturbance): (means, step moves, floor) from curves.csv rows, independently of decide."""
    values: dict[tuple[str, str], dict[float, dict[tuple[str, int], float]]] = {}
    boot: dict[str, dict[int, list[float]]] = {}
    for r in rows:
        if r["set"] != dataset:
            continue
        if r["battery"] == "floor":
            boot.setdefault(ensemble_key(r["metric"]), {}).setdefault(int(r["seed"]), []).append(float(r["value"]))
        else:
            cell = values.setdefault((ensemble_key(r["metric"]), r["disturbance"]), {})
            cell.setdefault(float(r["level"]), {})[(r["metric"], int(r["seed"]))] = float(r["value"])
    out = {}
    for (metric, dist), by_level in values.items():
        means = [float(np.mean(list(by_level[lv].values()))) for lv in levels]
        # every (member, seed) pair moves from the previous level's same seed; level 0 has seed 0 only
        steps = [
            np.array([v - (lo[m, s] if (m, s) in lo else lo[m, 0]) for (m, s), v in hi.items()])
            for lo, hi in zip((by_level[lv] for lv in levels), (by_level[lv] for lv in levels[1:]), strict=False)
        ]
        pooled = np.array([np.mean(v) for v in boot[metric].values()])
        q = ci if EXPECTED[metric_name(metric)][0] == GROWS else 1 - ci
        out[metric, dist] = means, steps, means[0] + float(np.quantile(pooled, q) - np.median(pooled))
    return out


@pytest.mark.slow
def test_verdicts_follow_the_rule_and_summary(stage):
    params, rows, out = stage
    levels = params.metrics.validate.levels
    assert set(out) == {"sets", "metrics"} and set(out["sets"]) == set(params.data.sets)
    ensemble = {labelled(m, layout.JUDGE) for m in SCORED} | {"swd[pyramid]"}
    for dataset, per_metric in out["sets"].items():
        assert set(per_metric) == ensemble
        battery = {r["disturbance"] for r in rows if r["set"] == dataset and r["battery"] != "floor"}
        curves = recompute(rows, dataset, levels, params.metrics.bootstrap.level)
        for metric, per_dist in per_metric.items():
            assert set(per_dist) == battery
            for dist, v in per_dist.items():
                assert len(v["means"]) == len(levels)
                assert len(v["step_means"]) == len(v["step_spreads"]) == len(levels) - 1
                means, steps, floor = curves[metric, dist]
                members = 1 if metric == "swd[pyramid]" else params.judges.members
                assert all(len(d) == members * params.metrics.validate.seeds for d in steps)  # one move per pair
                assert v["means"] == pytest.approx(means) and v["floor"] == pytest.approx(floor)
                assert v["direction"] == EXPECTED[metric_name(metric)][0]
                again = judge_step(steps, v["means"], v["floor"], v["direction"], BOUNDS.get(metric_name(metric)))
                verdict = ("passes", "monotone", "clears_floor")
                assert [v[k] for k in verdict] == [again[k] for k in verdict], (dataset, metric, dist)
                assert v["step_means"] == pytest.approx(again["step_means"])
                assert v["step_spreads"] == pytest.approx(again["step_spreads"])
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
