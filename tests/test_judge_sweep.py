"""The judges' budget sweep picks by val accuracy alone, and a point changes only the budget and the folders."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench import layout
from bench.judge_sweep import choose, run_point
from bench.scratch import scratch_params
from tests.conftest import tiny_raw


def members(steps: int, accuracies: list[float], passes: int) -> list[dict]:
    return [
        {"steps": steps, "member": f"judge-{k}", "val_accuracy": a, "validation_passes": passes}
        for k, a in enumerate(accuracies)
    ]


def test_the_smallest_budget_whose_every_member_meets_the_bar_wins_whatever_the_validation_says():
    rows = members(500, [0.93, 0.88, 0.95], passes=90) + members(1500, [0.91, 0.92, 0.90], passes=10)
    assert choose(rows, 0.9) == 1500  # one member short at 500; eval-split validation passes play no part
    rows = members(500, [0.93, 0.91, 0.95], passes=10) + members(1500, [0.97, 0.98, 0.99], passes=90)
    assert choose(rows, 0.9) == 500  # all meet the bar at 500: longer training is not bought
    rows = members(500, [0.80, 0.82, 0.81], passes=0) + members(1500, [0.85, 0.89, 0.88], passes=0)
    assert choose(rows, 0.9) == 1500  # none meets it: the largest tried


def test_a_point_changes_the_budget_and_moves_the_folders_only(tmp_path):
    raw = tiny_raw(tmp_path)
    out = scratch_params(raw, tmp_path / "point", {"judges.train.steps": 1500})
    assert out["judges"]["train"]["steps"] == 1500 and raw["judges"]["train"]["steps"] != 1500
    assert out["paths"]["runs"] == str(tmp_path / "point" / "runs")
    assert out["paths"]["data"] == str(Path(raw["paths"]["data"]).resolve())
    rest = {k: v for k, v in out.items() if k not in ("paths", "judges")}
    assert rest == {k: v for k, v in raw.items() if k not in ("paths", "judges")}
    assert {k: v for k, v in out["judges"].items() if k != "train"} == {
        k: v for k, v in raw["judges"].items() if k != "train"
    }


def test_a_finished_point_is_read_back_only_when_its_params_are_the_same(tmp_path):
    raw, project = tiny_raw(tmp_path), tmp_path / "point"
    verdicts = layout.metric_validation(project / "runs")
    verdicts.parent.mkdir(parents=True)
    verdicts.write_text("{}")
    (project / "params.yaml").write_text(yaml.safe_dump(scratch_params(raw, project, {"judges.train.steps": 7})))
    run_point(raw, project, 7)  # finished, same params: nothing runs (the stages would fail on this fake point)
    with pytest.raises(ValueError, match="other params"):
        run_point(raw, project, 8)
