"""Tests of the paper check (analysis/paper_check.py, analysis/claims.py, analysis/comparisons.py).

The verdict rules on their own (combination of a claim's comparisons, best / second / worst places, the overlap
rule, strict point comparisons), then end to end on the synthetic stage outputs of tests/test_report_tables.py: a
"world" under which every claim holds, with paired intervals d ± 10 % |d|. Each claim is broken by one small edit of
the world and must flip to "fails", so no verdict can be hard-coded; widening an interval over 0 makes it
"inconclusive"; removing an output, or failing a metric's validation, makes the claims that need it "not measurable".

Run: .venv/bin/python -m pytest tests/test_claims.py -q
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from analysis import paper, paper_check
from analysis.comparisons import OVERLAP, Diff, Estimate, Tally, beats, combine, decide, place_verdict, rank
from analysis.readme import build_section
from bench import layout
from bench.uncertainty import FAILS, HOLDS, INCONCLUSIVE, NEGATIVE, NOT_MEASURABLE, POSITIVE
from tests.conftest import tiny_params
from tests.test_report_tables import CLAIMS, HOUR, ITEMS, SETS, world, write_runs, write_uncertainty

H, I, F = HOLDS, INCONCLUSIVE, FAILS


def verdicts(runs: Path) -> dict[str, dict]:
    records = paper_check.check_claims(paper_check.RunEvidence(runs, ITEMS, SETS), CLAIMS)
    return {r["id"]: r for r in records}


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    write_runs(tmp_path / "runs", world())
    return tmp_path / "runs"


def _edit_intervals(runs: Path, edit) -> None:
    path = layout.intervals(runs)
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


# --- the rules ------------------------------------------------------------------------------------------------


def test_a_claim_fails_on_any_fail_else_is_inconclusive_on_any_inconclusive() -> None:
    assert combine([H, H, H]) == H and combine([]) == H
    assert combine([H, I, H]) == I
    assert combine([H, I, F]) == F and combine([F, H]) == F


@pytest.mark.parametrize(
    ("place", "over", "under", "expected"),
    [
        ("best", [H, H, H], [F, F, F], H),
        ("best", [H, I, H], [F, I, F], I),
        ("best", [H, I, F], [F, I, H], F),
        ("worst", [F, F], [H, H], H),
        ("worst", [I, F], [I, H], I),
        ("second", [F, H, H], [H, F, F], H),  # exactly one decisively ahead, the rest decisively behind
        ("second", [F, F, H], [H, H, F], F),  # two decisively ahead
        ("second", [H, H, H], [F, F, F], F),  # none can be ahead: it is best
        ("second", [F, I, H], [H, I, F], I),  # one ahead, one undecided
        ("second", [I, H, H], [I, F, F], I),  # the one possibly ahead is undecided
        ("second", [I, I, F], [I, I, H], I),  # one ahead, two undecided
    ],
)
def test_place_verdicts_with_intervals(place: str, over: list, under: list, expected: str) -> None:
    assert place_verdict(place, over, under) == expected


def test_place_is_strict_on_point_comparisons() -> None:
    # a tie: neither ahead nor behind; undecided with intervals, a failure on point values
    assert place_verdict("second", [F, F, H], [H, F, F]) == I
    assert place_verdict("second", [F, F, H], [H, F, F], strict=True) == F


def test_overlap_rule_and_point_ties() -> None:
    a, b = Estimate(1.0, 0.9, 1.1), Estimate(1.3, 1.2, 1.4)
    d = Diff.overlap(a, b)
    assert d.rule == OVERLAP and d.low == pytest.approx(-0.5) and d.high == pytest.approx(-0.1)
    assert decide(d, NEGATIVE) == H and decide(d, POSITIVE) == F
    assert decide(Diff.overlap(a, Estimate(1.15, 1.05, 1.2)), NEGATIVE) == I  # overlapping intervals
    assert decide(Diff.overlap(a, Estimate(1.2, 1.1, 1.3)), NEGATIVE) == I  # touching: not separated
    assert decide(Diff.point(1.0, 1.0), POSITIVE) == F and decide(Diff.point(1.0, 1.0), NEGATIVE) == F
    assert decide(Diff.point(2.0, 1.0), POSITIVE) == H and decide(Diff(-1, -2, 0.5, "paired"), NEGATIVE) == I


def test_paper_evidence_is_strict_holds_or_fails() -> None:
    ev = paper_check.PaperEvidence(ablation=False)

    def run(check) -> str:
        t = Tally(ev)
        check(t)
        return t.verdict()

    main = paper.MAIN
    assert run(beats(kind="recon", families=("l1",), winners=("ae",), losers=("vmae",), where=("imagenet",))) == H
    assert run(beats(kind="recon", families=("l1",), winners=("vmae",), losers=("ae",), where=("imagenet",))) == F
    # MSE of DAE and SD-VAE tie at 0.0015: a tie is not "better" either way, and never inconclusive
    assert run(beats(kind="recon", families=("mse",), winners=("dae",), losers=("sd-vae",), where=("imagenet",))) == F
    assert run(rank(kind="recon", families=("mse",), item="dae", among=main, where=("imagenet",), place="second")) == F
    assert (
        run(rank(kind="recon", families=("psnr",), item="vmae", among=main, where=("imagenet",), place="second")) == H
    )


def test_t4_baseline_holds_on_the_papers_table4() -> None:
    claim = next(c for c in CLAIMS if c.id == "t4-baseline")
    record = paper_check.evaluate(claim, paper_check.PaperEvidence(ablation=True))
    assert record["verdict"] == H, record
    assert {d["rule"] for d in record["differences"].values()} == {"point"}


# --- end to end on a synthetic run ----------------------------------------------------------------------------


def _set(path: tuple, value):
    def edit(w: dict) -> None:
        node = w
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    return edit


def _both(kind: str, item: str, key: str, value, sets=SETS):
    def edit(w: dict) -> None:
        for s in sets:
            w[kind][item][s][key] = value

    return edit


def _curve(item: str, values: list):
    return lambda w: w["noise"][item].update({s: list(values) for s in SETS})


def _sigma_rho(item: str, value: tuple, sets=SETS):
    return lambda w: w["compress"][item].update({s: value for s in sets})


BREAKS = {  # claim id -> one edit of the world that makes exactly that claim's comparison fail
    "t1-ae-pixel-best": _both("recon", "ae", "psnr", 20.0),
    "t1-det-perceptual-weaker": _both("recon", "dae", "rfd[judge]", 0.5),
    "t1-vae-worst": _both("recon", "vae", "l1[0-1]", 0.001),
    "t1-sdvae-perceptual": _both("recon", "sd-vae", "percep[own]", 0.5),
    "t1-sdvae-pixel-weaker": _both("recon", "sd-vae", "ssim", 0.95),
    "t1-vmae-beats-sdvae": _both("recon", "vmae", "mse[0-1]", 0.01),
    "t1-vmae-best-perceptual": _both("recon", "vmae", "rfd[judge]", 2.5),
    "t1-vmae-second-pixel": _both("recon", "vmae", "psnr", 33.0),
    "t2-smaller": _set(("eff", "vmae", "gflops"), 20000.0),
    "t2-faster": _set(("eff", "vmae", "decode_img_s"), 1.0),
    "t2-size-ratio": _set(("eff", "vmae", "size_mib"), 100.0),
    "t2-gflops-ratio": _set(("eff", "vmae", "gflops"), 2000.0),
    "t2-train-ratio": _set(("eff", "vmae", "train_steady_time_s"), 20 * HOUR),
    "t3-vmae-best": _set(("gen", "vmae", "faces", "fd[judge]"), 10.0),
    "t3-sdvae-second": _set(("gen", "sd-vae", "shapes", "recall[judge]"), 0.3),
    "t3-vae-worst": _set(("gen", "vae", "faces", "sfd[judge]"), 10.0),
    "t3-det-weaker": _set(("gen", "dae", "shapes", "fd[judge]"), 6.0),
    "t3-dae-beats-ae": _set(("gen", "dae", "faces", "fd[judge]"), 30.0),
    "t3-vae-gap": _set(("gen", "vae", "faces", "fd[judge]"), 100.0),
    "t4-baseline": _both("recon", "ae", "ssim", 0.85),
    "t4-lm": _both("recon", "vmae-lm", "psnr", 33.0),
    "t4-reg": _set(("gen", "vmae-lm-reg", "shapes", "fd[judge]"), 9.0),
    "t4-lp": _both("recon", "vmae", "ssim", 0.85),
    "t4-perceptual-monotone": _both("recon", "vmae-lm", "percep[own]", 0.2),
    "t4-gfd-monotone": _set(("gen", "vmae-lm", "shapes", "fd[judge]"), 13.0),
    "f6-prob-robust": _curve("vmae", [0.9, 30, 60]),
    "f6-vae-flattest": _curve("vae", [17, 25, 40]),
    "f6-vae-high": _curve("vae", [1.0, 1.5, 2.0]),
    "f6-sdvae-vmae-best": _curve("sd-vae", [1.9, 25, 50]),
    "f6-vmae-beats-sdvae": _curve("vmae", [0.9, 4, 6]),
    "f7-dae-vae-above-raw": _sigma_rho("dae", (0.9, 1.25), sets=("shapes",)),
    "f7-compressors-below-raw": _sigma_rho("ae", (1.1, 1.3)),
    "f7-sdvae-lowest-sigma": _sigma_rho("sd-vae", (0.5, 1.05)),
    "f7-sdvae-lowest-rho": _sigma_rho("sd-vae", (0.3, 1.7)),
    "f7-vmae-ideal": _sigma_rho("vmae", (0.4, 1.0)),
    "f7-vmae-both": _sigma_rho("vmae", (0.4, 0.9), sets=("faces",)),
}


def test_every_claim_holds_on_the_world_with_numbers(runs: Path) -> None:
    v = verdicts(runs)
    assert [c.id for c in CLAIMS] == list(v) and len(set(v)) == len(v)
    assert {i: r["verdict"] for i, r in v.items() if r["verdict"] != "holds"} == {}
    assert all(r["numbers"] and r["quote"] and r["statement"] for r in v.values())
    assert v["t1-vae-worst"]["numbers"]["rfd[judge] vae @shapes"] == paper.TABLE1["vae"]["rfid"]


def test_every_claim_has_a_break() -> None:
    assert set(BREAKS) == {c.id for c in CLAIMS}


@pytest.mark.parametrize("claim_id", list(BREAKS))
def test_claim_flips_to_fails(tmp_path: Path, claim_id: str) -> None:
    w = world()
    BREAKS[claim_id](w)
    write_runs(tmp_path / "runs", w)
    record = verdicts(tmp_path / "runs")[claim_id]
    assert record["verdict"] == "fails", record
    assert record["detail"]


def test_missing_outputs_make_claims_not_measurable(runs: Path) -> None:
    shutil.rmtree(runs / "eval_gen" / "vae")
    shutil.rmtree(runs / "compress_raw")
    (runs / "eval_ae" / "vmae-lm" / "metrics.json").unlink()
    v = verdicts(runs)
    for claim_id in ("t3-vae-worst", "t3-vae-gap", "f7-dae-vae-above-raw", "f7-vmae-both", "t4-lm", "t4-reg"):
        assert v[claim_id]["verdict"] == "not measurable", claim_id
        assert "dvc repro" in v[claim_id]["detail"]
    for claim_id in ("t3-dae-beats-ae", "f7-sdvae-lowest-rho", "t4-lp", "t1-vae-worst"):
        assert v[claim_id]["verdict"] == "holds", claim_id


def test_claims_on_the_papers_own_numbers(runs: Path) -> None:
    own = {r["id"]: r["paper_verdict"] for r in verdicts(runs).values()}
    figures = {i for i in own if i.startswith("f")}
    assert {own[i] for i in figures} == {"not measurable"}  # figures are plots: nothing tabulated
    assert own["t2-faster"] == "not measurable"  # the paper gives no throughput
    rest = set(own) - figures - {"t2-faster"}  # t4-baseline included: it checks what the paper's Table 4 supports
    assert {i for i in rest if own[i] != "holds"} == set()


def test_an_interval_over_zero_makes_a_claim_inconclusive_and_a_fail_wins(runs: Path) -> None:
    def widen(data: dict) -> None:  # VMAE vs SD-VAE on rFD: the paired interval now contains 0
        data["recon"]["shapes"]["rfd[judge]"]["pairs"]["sd-vae|vmae"] |= {"low": -0.5, "high": 2.0}

    _edit_intervals(runs, widen)
    v = verdicts(runs)
    for claim_id in ("t1-vmae-beats-sdvae", "t1-vmae-best-perceptual"):
        assert v[claim_id]["verdict"] == I, v[claim_id]
        assert "vmae better than sd-vae on rfd" in v[claim_id]["detail"] or "vmae best" in v[claim_id]["detail"]
    assert v["t1-vmae-beats-sdvae"]["differences"]["rfd[judge] vmae - sd-vae @shapes"]["low"] == -2.0  # negated
    assert v["t1-sdvae-perceptual"]["verdict"] == H  # other pairs untouched

    w = world()  # now also a decisive failure in the same claim: VMAE's MSE above SD-VAE's
    for s in SETS:
        w["recon"]["vmae"][s]["mse[0-1]"] = 0.01
    write_runs(runs, w)
    _edit_intervals(runs, widen)
    assert verdicts(runs)["t1-vmae-beats-sdvae"]["verdict"] == F


def test_rank_second_with_intervals(runs: Path) -> None:
    def undecided(data: dict) -> None:  # AE vs VMAE on PSNR (AE ahead) now undecided
        data["recon"]["shapes"]["psnr"]["pairs"]["ae|vmae"] |= {"low": -0.1, "high": 1.0}

    _edit_intervals(runs, undecided)
    record = verdicts(runs)["t1-vmae-second-pixel"]
    assert record["verdict"] == I and "0 decisively ahead, 3 decisively behind" in record["detail"]


def test_a_pair_missing_from_intervals_is_decided_on_item_overlap(runs: Path) -> None:
    def drop(data: dict) -> None:  # no paired bootstrap of sFD: items' own intervals (±10 %) decide
        for per_set in data["gen"].values():
            per_set["sfd[judge]"]["pairs"] = {}

    _edit_intervals(runs, drop)
    v = verdicts(runs)
    rules = {d["rule"] for k, d in v["t3-det-weaker"]["differences"].items() if k.startswith("sfd")}
    assert rules == {OVERLAP}
    assert v["t3-det-weaker"]["verdict"] == H  # 5.6 ± 0.56 vs 12.1 ± 1.2: separated
    # VMAE 5.16 ± 0.52 vs SD-VAE 5.60 ± 0.56 overlap on the ImageNet-1K analogue
    assert v["t3-vmae-best"]["verdict"] == I and "vmae best on sfd" in v["t3-vmae-best"]["detail"]


def test_compression_orderings_are_decided_on_paired_intervals(runs: Path) -> None:
    def widen(data: dict) -> None:  # SD-VAE vs VMAE: the paired sigma^2 and rho differences now contain 0
        for per_set in data["compress"].values():
            per_set["sigma2"]["pairs"]["sd-vae|vmae"] |= {"low": -0.2, "high": 0.05}
            per_set["rho"]["pairs"]["sd-vae|vmae"] |= {"low": -0.6, "high": 0.1}

    _edit_intervals(runs, widen)
    v = verdicts(runs)
    assert v["f7-sdvae-lowest-sigma"]["verdict"] == I and v["f7-sdvae-lowest-rho"]["verdict"] == I
    rules = {d["rule"] for d in v["f7-sdvae-lowest-rho"]["differences"].values()}
    assert rules == {"paired"}
    assert v["f7-sdvae-lowest-sigma"]["differences"]["sigma2 sd-vae - vmae @shapes"]["high"] == 0.05
    assert v["f7-compressors-below-raw"]["verdict"] == H and v["f7-dae-vae-above-raw"]["verdict"] == H
    assert {d["rule"] for d in v["f7-compressors-below-raw"]["differences"].values()} == {"paired"}  # vs "raw" too


def test_paired_draws_decide_the_ideal_corner(runs: Path) -> None:
    intervals = json.loads(layout.intervals(runs).read_text())
    v = verdicts(runs)
    assert {d["rule"] for d in v["f7-vmae-ideal"]["differences"].values()} == {"paired"}
    for draws in (intervals["compress"][s]["draws"] for s in intervals["compress"]):
        rho = np.array(draws["rho"]["vmae"])
        noise = np.random.default_rng(1).normal(0.0, 0.6, rho.shape)  # VMAE's rho alone swings from draw to draw
        draws["rho"]["vmae"] = (rho + noise).tolist()
    layout.intervals(runs).write_text(json.dumps(intervals))
    v = verdicts(runs)
    assert v["f7-vmae-ideal"]["verdict"] == I
    assert v["f7-sdvae-lowest-rho"]["verdict"] == H  # decided on the paired interval of rho, which is unchanged
    assert v["f7-vmae-both"]["verdict"] == H  # rho against a fixed threshold: VMAE's own interval, unchanged


def test_a_metric_that_failed_validation_is_not_measurable(runs: Path) -> None:
    write_uncertainty(runs, world(), failed={"fd[judge]": ["shapes:swirl", "faces:blur"]})
    v = verdicts(runs)
    for claim_id in ("t3-vmae-best", "t3-vae-gap", "t4-gfd-monotone", "t1-vmae-best-perceptual", "f6-vae-high"):
        assert v[claim_id]["verdict"] == NOT_MEASURABLE, claim_id  # gFD, and rFD (the same FD instrument)
    detail = v["t3-vae-gap"]["detail"]
    assert detail.startswith("fd[judge] failed metric validation (results/tables/metric_validation.md): shapes:swirl")
    assert v["t1-vmae-best-perceptual"]["detail"].startswith("rfd[judge] failed metric validation")
    for claim_id in ("t1-ae-pixel-best", "t2-smaller", "t1-vmae-second-pixel"):
        assert v[claim_id]["verdict"] == H, claim_id  # pixel metrics and efficiency are not validated: measurable


def test_missing_intervals_or_validation_name_the_stage_to_run(runs: Path) -> None:
    layout.intervals(runs).unlink()
    v = verdicts(runs)
    assert (
        v["t1-ae-pixel-best"]["verdict"] == NOT_MEASURABLE and "dvc repro intervals" in v["t1-ae-pixel-best"]["detail"]
    )
    assert v["t2-smaller"]["verdict"] == H  # a size needs no interval
    assert v["f7-vmae-ideal"]["verdict"] == NOT_MEASURABLE  # its paired draws live in the intervals' output
    write_runs(runs, world())
    layout.metric_validation(runs).unlink()
    v = verdicts(runs)
    assert v["t3-dae-beats-ae"]["verdict"] == NOT_MEASURABLE and "validate_metrics" in v["t3-dae-beats-ae"]["detail"]
    assert v["t1-ae-pixel-best"]["verdict"] == H  # per-image metrics need no validation


def test_report_and_readme_count_four_verdicts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    records = [{"verdict": v} for v in (H, I, I, F, F, F, NOT_MEASURABLE)]
    assert paper_check.summary(records) == {H: 1, I: 2, F: 3, NOT_MEASURABLE: 1, "total": 7}
    params = tiny_params(tmp_path)
    monkeypatch.chdir(tmp_path)
    layout.paper_check(params.paths, "json").parent.mkdir(parents=True, exist_ok=True)
    layout.paper_check(params.paths, "json").write_text(json.dumps({"summary": paper_check.summary(records)}))
    layout.paper_check(params.paths, "md").write_text("report")
    assert "1 hold, 2 inconclusive, 3 fail, 1 not measurable, of 7" in build_section(params)


def test_a_level_no_latent_cell_can_see_is_skipped_and_said(runs: Path) -> None:
    for item in [*ITEMS, "raw"]:
        path = layout.compress_dir(runs, item) / layout.METRICS_FILE
        data = json.loads(path.read_text())
        data["faces"] |= {"segments_owning_a_cell": 0.2, "segment_pixels_median": 3.0, "cell_pixels": 64}
        data["shapes"] |= {"segments_owning_a_cell": 0.9, "segment_pixels_median": 120.0, "cell_pixels": 64}
        path.write_text(json.dumps(data))
    v = verdicts(runs)
    for claim_id in ("f7-compressors-below-raw", "f7-sdvae-lowest-sigma", "f7-vmae-ideal"):
        assert v[claim_id]["verdict"] == HOLDS, claim_id  # decided on the object level alone
        assert "part level not measured on faces: 20% of its mask's segments" in v[claim_id]["detail"]
        assert not any("(part)" in key for key in v[claim_id]["differences"])
    path = layout.compress_dir(runs, "raw") / layout.METRICS_FILE
    data = json.loads(path.read_text())
    data["shapes"]["segments_owning_a_cell"] = 0.1  # now neither level can be seen
    path.write_text(json.dumps(data))
    v = verdicts(runs)
    assert (
        v["f7-vmae-ideal"]["verdict"] == NOT_MEASURABLE and "object level not measured" in v["f7-vmae-ideal"]["detail"]
    )
