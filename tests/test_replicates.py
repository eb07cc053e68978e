"""Tests of the claims check over training-seed replicates (`analysis.replicates`).

Run: `python -m pytest tests/test_replicates.py -q` (CPU, seconds; no pipeline run: constructed paper_check files).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from analysis import replicates
from analysis.replicates import DISAGREE, combine, combined_verdict, seed_spread, summary
from bench import layout
from bench.config import parse_params
from bench.uncertainty import FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURABLE, verdict_counts
from tests.conftest import tiny_raw

DIFF = {"diff": -0.1, "low": -0.2, "high": -0.05, "rule": "paired"}


def check(verdicts: dict[str, str]) -> dict:
    """A paper_check.json with one claim per entry of `verdicts` (claim id -> verdict)."""
    claims = [{"id": cid, "source": "Table 1", "statement": f"{cid} checked", "verdict": v,
               "differences": {f"{cid} a - b": DIFF}} for cid, v in verdicts.items()]  # fmt: skip
    return {"summary": verdict_counts(claims), "claims": claims}


@pytest.mark.parametrize(
    ("verdicts", "expected"),
    [
        ([HOLDS, HOLDS, HOLDS], HOLDS),
        ([FAILS, FAILS], FAILS),
        ([INCONCLUSIVE, INCONCLUSIVE], INCONCLUSIVE),
        ([HOLDS, INCONCLUSIVE], INCONCLUSIVE),
        ([HOLDS, FAILS], INCONCLUSIVE),
        ([FAILS, INCONCLUSIVE, FAILS], INCONCLUSIVE),
        ([HOLDS, NOT_MEASURABLE], NOT_MEASURABLE),
        ([NOT_MEASURABLE, NOT_MEASURABLE], NOT_MEASURABLE),
        ([HOLDS], HOLDS),
    ],
)
def test_a_claim_holds_or_fails_over_replicates_only_when_every_seed_agrees(verdicts, expected) -> None:
    assert combined_verdict(verdicts) == expected


def test_bad_verdict_lists_raise() -> None:
    for bad in ([], ["maybe"], [HOLDS, "holds!"]):
        with pytest.raises(ValueError, match="one verdict per replicate"):
            combined_verdict(bad)


def test_combine_records_each_seed_and_the_differences_where_they_disagree() -> None:
    a = check({"c1": HOLDS, "c2": HOLDS, "c3": FAILS, "c4": NOT_MEASURABLE, "c5": INCONCLUSIVE})
    b = check({"c1": HOLDS, "c2": FAILS, "c3": FAILS, "c4": NOT_MEASURABLE, "c5": HOLDS})
    records = combine([(0, a), (1, b)])
    by_id = {r["id"]: r for r in records}
    assert [r["id"] for r in records] == ["c1", "c2", "c3", "c4", "c5"]
    assert {k: r["verdict"] for k, r in by_id.items()} == {
        "c1": HOLDS, "c2": INCONCLUSIVE, "c3": FAILS, "c4": NOT_MEASURABLE, "c5": INCONCLUSIVE,
    }  # fmt: skip
    assert by_id["c2"]["verdicts"] == {"0": HOLDS, "1": FAILS} and by_id["c2"]["detail"] == DISAGREE
    assert by_id["c5"]["detail"] == ""  # inconclusive in one replicate is not a disagreement
    assert set(by_id["c2"]["differences"]) == {"0", "1"} and "differences" not in by_id["c1"]
    assert summary(records) == {HOLDS: 1, INCONCLUSIVE: 2, FAILS: 1, NOT_MEASURABLE: 1, "total": 5, "disagree": 1}


def test_combine_refuses_repeated_seeds_and_different_claim_lists() -> None:
    with pytest.raises(ValueError, match="distinct seeds"):
        combine([(0, check({"c1": HOLDS})), (0, check({"c1": HOLDS}))])
    with pytest.raises(ValueError, match="different claims"):
        combine([(0, check({"c1": HOLDS})), (1, check({"c2": HOLDS}))])


def intervals(diffs: dict[str, tuple[float, float]], level: float = 0.95) -> dict:
    """An intervals.json with Table 1's psnr on `shapes`: pair key -> (diff, CI half-width)."""
    pairs = {k: {"diff": d, "low": d - h, "high": d + h} for k, (d, h) in diffs.items()}
    return {"level": level, "recon": {"shapes": {"psnr": {"values": {}, "pairs": pairs}}}, "gen": {}}


def test_seed_spread_measures_the_seeds_against_the_intervals() -> None:
    z = 1.959963984540054  # 95 %
    a = intervals({"ae|dae": (1.0, z), "ae|vae": (0.5, 0.2), "dae|vae": (2.0, 0.0)})
    b = intervals({"ae|dae": (3.0, z), "ae|vae": (-0.5, 0.2), "dae|vae": (2.0, 0.0)})
    (row,) = seed_spread([a, b])
    # ae|dae: sd(1, 3) = sqrt(2) over se 1; ae|vae: sd(0.5, -0.5) = sqrt(0.5) over se 0.2/z; dae|vae: se 0, skipped
    ratios = [2**0.5, 0.5**0.5 / (0.2 / z)]
    assert row == {"section": "recon", "set": "shapes", "metric": "psnr", "pairs": 2,
                   "ratio": pytest.approx(sum(ratios) / 2), "flips": 1}  # fmt: skip
    assert seed_spread([a, a])[0]["ratio"] == 0.0


def make_run(root: Path, seed: int, verdicts: dict[str, str] | None, relative: bool = False, **overrides) -> Path:
    """A finished-run checkout: params.yaml (tiny preset, `seed`; its paths relative to the checkout, as the real
    params.yaml has them, with `relative`) and, unless None, its paper_check.json and intervals.json."""
    root.mkdir(parents=True)
    raw = tiny_raw(root, seed=seed, **overrides)
    if relative:
        raw["paths"] = {k: str(Path(v).relative_to(root)) for k, v in raw["paths"].items()}
    (root / "params.yaml").write_text(yaml.safe_dump(raw))
    if verdicts is not None:
        paths = parse_params(raw).paths
        for path, content in ((layout.paper_check(paths, "json"), check(verdicts)),
                              (layout.intervals(paths), intervals({"ae|dae": (float(seed), 0.1)}))):  # fmt: skip
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(json.dumps(content))
    return root


def test_command_writes_the_report_beside_the_first_runs_paper_check(tmp_path) -> None:
    runs = [make_run(tmp_path / f"s{s}", s, {"c1": HOLDS, "c2": [HOLDS, FAILS, HOLDS][s]}) for s in range(3)]
    replicates.main([str(r) for r in runs])
    results = layout.paper_check(parse_params(tiny_raw(runs[0])).paths, "md").parent
    out = json.loads((results / "replicates.json").read_text())
    assert out["summary"] == {HOLDS: 1, INCONCLUSIVE: 1, FAILS: 0, NOT_MEASURABLE: 0, "total": 2, "disagree": 1}
    md = (results / "replicates.md").read_text()
    assert "| c2 | Table 1 | c2 checked | holds | fails | holds | inconclusive (replicates disagree) |" in md
    assert "## c2: seed 0 holds, seed 1 fails, seed 2 holds" in md
    assert out["seed_spread"] == [{"section": "recon", "set": "shapes", "metric": "psnr", "pairs": 1,
                                   "ratio": pytest.approx(1.0 / (0.1 / 1.959963984540054)), "flips": 0}]  # fmt: skip
    assert "| Table 1 | shapes | psnr | 1 | 19.60 | 0 |" in md


def test_command_refuses_runs_that_are_not_replicates(tmp_path) -> None:
    a = make_run(tmp_path / "a", 0, {"c1": HOLDS})
    other = make_run(tmp_path / "b", 1, {"c1": HOLDS}, diffusion={"train": {"steps": 7}})
    with pytest.raises(ValueError, match=r"params \['diffusion'\], not only in seed"):
        replicates.main([str(a), str(other)])
    unfinished = make_run(tmp_path / "c", 2, None)
    with pytest.raises(FileNotFoundError, match="finish the run first"):
        replicates.main([str(a), str(unfinished)])
    with pytest.raises(ValueError, match="at least two runs"):
        replicates.main([str(a)])


def test_runs_are_read_where_they_are_whatever_the_working_directory(tmp_path, monkeypatch) -> None:
    """Real params.yaml files name `results/` and `runs/` relative to their checkout."""
    runs = [make_run(tmp_path / f"s{s}", s, {"c1": [HOLDS, FAILS][s]}, relative=True) for s in range(2)]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    replicates.main([str(r) for r in runs])
    out = json.loads((runs[0] / "results" / "replicates.json").read_text())
    assert out["claims"][0]["verdicts"] == {"0": HOLDS, "1": FAILS}
    assert not list(elsewhere.iterdir())
