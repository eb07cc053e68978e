"""Confidence intervals in the report: Tables 1, 3, 4 print "value ± half-width", their .csv keep the bounds, and
Fig. 6 shades each rFD curve's band, all read from the intervals stage's `intervals.json` (analysis/results.py).

Runs on SYNTHETIC stage outputs in tmp_path: every interval is value ± 10 %, and some columns have none (to check
that a value without an interval prints alone).

Run: .venv/bin/python -m pytest tests/test_table_intervals.py -q
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import matplotlib
import pandas as pd
import pytest

from analysis import fig_noise, paper, results, table_ablation, table_format, table_generation, table_recon
from tests.conftest import tiny_params

matplotlib.use("Agg")

ITEMS = list(dict.fromkeys([*paper.MAIN, *paper.ABLATION, *paper.ABLATION_EXTRA]))
SETS = {"shapes": "shapes", "faces": "faces"}  # name -> kind, as the tiny preset's data.sets
EPS = [0.0, 0.1, 0.3]
RECON = {"l1[0-1]": 0.02, "mse[0-1]": 0.001, "psnr": 30.0, "ssim": 0.9, "percep[own]": 0.1, "rfd[judge]": 2.0,
         "swd[pyramid]": 5.0}  # fmt: skip
GEN = {"fd[judge]": 10.0, "sfd[judge]": 8.0, "is[judge]": 50.0, "precision[judge]": 0.6, "recall[judge]": 0.5,
       "swd[pyramid]": 6.0}  # fmt: skip
NO_INTERVAL = {("faces", "percep[own]"), ("shapes", "recall[judge]")}  # (set, column) the stage left out
NO_INTERVAL |= {(s, "swd[pyramid]") for s in ("shapes", "faces")}  # the stage bootstraps no SWD
TAU = {"tau_mean": 0.94, "tau_min": 0.89, "n_pairs": 3, "note": ""}
NAN_TAU = {"tau_mean": math.nan, "tau_min": math.nan, "n_pairs": 3, "note": "members tie"}


def _value(base: float, item: str) -> float:
    return base * (1 + 0.1 * ITEMS.index(item))


def _entry(v):
    if isinstance(v, list):
        return {"value": v, "low": [0.9 * x for x in v], "high": [1.1 * x for x in v]}
    return {"value": v, "low": 0.9 * v, "high": 1.1 * v, "members_sd": 0.0, "h_boot": 0.1 * v, "h_members": 0.0}


def _curve(item: str) -> list[float]:
    return [_value(2.0, item) * (1 + 5 * e) for e in EPS]


def intervals_json() -> dict:
    """intervals.json in the intervals stage's format (pairs left empty: the report prints none)."""

    def part(bases: dict) -> dict:
        return {s: {c: {"values": {i: _entry(_value(b, i)) for i in ITEMS}, "pairs": {}}
                    for c, b in bases.items() if (s, c) not in NO_INTERVAL} for s in SETS}  # fmt: skip

    noise = {s: {"eps": EPS, "rfd[judge]": {"values": {i: _entry(_curve(i)) for i in ITEMS}, "pairs": {},
                                            "growth": {"values": {}, "pairs": {}}}} for s in SETS}  # fmt: skip
    agreement = {"recon": {"shapes": {"rfd[judge]": TAU}}, "gen": {"shapes": {"fd[judge]": NAN_TAU}}}
    return {"level": 0.95, "n_resamples": 10, "members": 3, "recon": part(RECON), "noise": noise, "gen": part(GEN),
            "agreement": agreement}  # fmt: skip


def write_runs(runs: Path) -> None:
    """eval_ae's and eval_gen's metrics.json (the fields the report reads) and intervals/intervals.json."""
    for item in ITEMS:
        recon = {s: {c: _value(b, item) for c, b in RECON.items()} for s in SETS}
        points = [
            {"eps": e, "rfd[judge]": r, "psnr": 30.0, "percep[own]": 0.1}
            for e, r in zip(EPS, _curve(item), strict=True)
        ]
        curve = {s: points for s in SETS}
        gen = {s: {c: _value(b, item) for c, b in GEN.items()} for s in SETS}
        for path, obj in (
            (runs / "eval_ae" / item / "metrics.json", {"reconstruction": recon, "noise_curve": curve}),
            (runs / "eval_gen" / item / "metrics.json", {"extractors": {"judge": "judge-v1"}, **gen}),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(obj))
    path = runs / "intervals" / "intervals.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(intervals_json()))


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    write_runs(tmp_path / "runs")
    return tmp_path / "runs"


def _small() -> tuple[pd.DataFrame, table_format.CI]:
    """Two rows, three run columns: psnr with an interval on AE only, ssim on both, rfd on none."""
    columns, rows = {"psnr": "psnr", "ssim": "ssim", "rfd": "rfd[judge]"}, ["ae", "vmae"]
    run = pd.DataFrame({"psnr": [31.234, 29.0], "ssim": [0.8, 0.7], "rfd[judge]": [1.5, 2.5]}, index=rows)
    low = pd.DataFrame({"psnr": [30.0, math.nan], "ssim": [0.7801, 0.69]}, index=rows)
    high = pd.DataFrame({"psnr": [32.5, math.nan], "ssim": [0.8199, 0.71]}, index=rows)
    frame = table_format.metric_block(run, columns, rows, {"ae": {"psnr": 32.0}})
    return frame, table_format.CI(*(table_format.metric_block(b, columns, rows, {}) for b in (low, high)))


# --- reader ----------------------------------------------------------------------------------------------------------


def test_interval_frame_long_forms() -> None:
    iv = intervals_json()
    recon = results.interval_frame(iv, "recon")
    assert list(recon.columns) == ["item", "dataset", "column", "value", "low", "high"]
    row = recon.set_index(["item", "dataset", "column"]).loc[("vmae", "shapes", "psnr")]
    assert (row["value"], row["low"], row["high"]) == pytest.approx((_value(30.0, "vmae"), 27.0 * 1.4, 33.0 * 1.4))
    assert ("faces", "percep[own]") not in set(zip(recon["dataset"], recon["column"], strict=True))
    noise = results.interval_frame(iv, "noise")
    assert list(noise.columns) == ["item", "dataset", "column", "value", "low", "high", "eps"]
    assert len(noise) == len(ITEMS) * len(SETS) * len(EPS) and set(noise["column"]) == {"rfd[judge]"}  # no growth
    point = noise[(noise["item"] == "ae") & (noise["dataset"] == "faces") & (noise["eps"] == 0.3)].iloc[0]
    assert point["high"] == pytest.approx(1.1 * _curve("ae")[2])
    gen = results.interval_frame(iv, "gen")
    covered = set(GEN) - {"swd[pyramid]"}
    assert set(gen["column"]) == covered and len(gen) == len(ITEMS) * (2 * len(covered) - 1)
    empty = results.interval_frame({"level": 0.95}, "gen")
    assert empty.empty and list(empty.columns) == list(recon.columns)
    with pytest.raises(ValueError, match="part must be"):
        results.interval_frame(iv, "pairs")


def test_missing_intervals_file_names_the_stage(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=r"dvc repro intervals"):
        results.intervals(tmp_path / "runs")


# --- formatting ------------------------------------------------------------------------------------------------------


def test_markdown_and_latex_print_half_width_at_printed_precision() -> None:
    frame, ci = _small()
    md = table_format.to_markdown(frame, "t", [], ci=ci)
    ae = next(line for line in md.splitlines() if line.startswith("| ae |"))
    vmae = next(line for line in md.splitlines() if line.startswith("| vmae |"))
    assert "| **31.23** ± 1.25 |" in ae  # (32.5 - 30.0) / 2 at PSNR's 2 decimals, after the value's mark
    assert "| **0.800** ± 0.020 |" in ae  # (0.8199 - 0.7801) / 2 = 0.0199 at SSIM's 3 decimals
    assert "| **1.50** |" in ae and "| 32.00 |" in ae  # no interval: the value alone (run and paper columns)
    assert "| <u>29.00</u> |" in vmae and "| <u>0.700</u> ± 0.010 |" in vmae and "| – |" in vmae and "± –" not in md
    tex = table_format.to_latex(frame, "t", ci=ci)
    assert r"\textbf{31.23} $\pm$ 1.25" in tex and "±" not in tex
    assert "±" not in table_format.to_markdown(frame, "t", [])  # no CI: values alone, as before


def test_csv_has_low_and_high_beside_value(tmp_path: Path) -> None:
    frame, ci = _small()
    table_format.write_table(frame, tmp_path, "t", "caption", ci=ci)
    tidy = pd.read_csv(tmp_path / "t.csv")
    assert list(tidy.columns) == ["model", "source", "metric", "value", "low", "high", "higher_better", "mark"]
    cells = tidy.set_index(["model", "source", "metric"])
    assert tuple(cells.loc[("ae", "this run", "psnr ↑"), ["value", "low", "high"]]) == (31.234, 30.0, 32.5)
    assert cells.loc[("ae", "this run", "rfd[judge] ↓"), ["low", "high"]].isna().all()
    assert cells.loc[("ae", "paper", "PSNR ↑"), ["low", "high"]].isna().all()
    plain = table_format.to_tidy(frame)
    assert {"low", "high"} <= set(plain.columns) and plain[["low", "high"]].isna().all().all()


def test_misaligned_ci_is_rejected() -> None:
    frame, ci = _small()
    with pytest.raises(ValueError, match="share the table's index and columns"):
        table_format.to_markdown(frame, "t", [], ci=table_format.CI(ci.low.iloc[:1], ci.high))


def test_agreement_note() -> None:
    agreement = {"recon": {"shapes": {"rfd[judge]": TAU}}, "gen": {"shapes": {"fd[judge]": NAN_TAU}}}
    shown = [("recon", "shapes", "rfd[judge]"), ("recon", "faces", "rfd[judge]"), ("gen", "shapes", "fd[judge]")]
    note = table_format.agreement_note(agreement, 3, shown)
    assert note.startswith("Judge ensemble (3 members) ranking agreement")
    assert note.endswith(": shapes rfd[judge] 0.94/0.89; shapes fd[judge] n/a (members tie).")
    assert table_format.agreement_note(agreement, 3, [("recon", "faces", "psnr")]) is None


# --- tables and figure -----------------------------------------------------------------------------------------------


def _run_cells(table: pd.DataFrame) -> pd.DataFrame:
    return table.loc[:, [c for c in table.columns if c[-2] == table_format.RUN]]


@pytest.mark.parametrize(
    "make_table, make_ci",
    [
        (table_recon.make_table_recon, table_recon.make_ci_recon),
        (table_generation.make_table_generation, table_generation.make_ci_generation),
        (table_ablation.make_table_ablation, table_ablation.make_ci_ablation),
    ],
    ids=["table1", "table3", "table4"],
)
def test_table_cis_line_up_with_values(runs: Path, make_table, make_ci) -> None:
    table = make_table(runs, ITEMS, SETS)
    ci = make_ci(runs, ITEMS, SETS, results.intervals(runs))
    ci.check(table)
    paper_cols = [c for c in table.columns if c[-2] == table_format.PAPER]
    assert ci.low[paper_cols].isna().all().all() and ci.high[paper_cols].isna().all().all()
    values, low, high = (_run_cells(f) for f in (table, ci.low, ci.high))
    covered = low.notna()
    assert covered.to_numpy().sum() > 0.6 * values.size  # only the cells left out (NO_INTERVAL, SWD) have none
    assert (low[covered] - 0.9 * values[covered]).abs().max().max() < 1e-9
    assert (high[covered] - 1.1 * values[covered]).abs().max().max() < 1e-9


def test_table_cis_leave_uncovered_columns_empty(runs: Path) -> None:
    ci = table_recon.make_ci_recon(runs, ITEMS, SETS, results.intervals(runs))
    assert ci.low.xs("faces")[("this run", "percep[own] ↓")].isna().all()
    assert ci.low.xs("shapes")[("this run", "percep[own] ↓")].notna().all()
    ci3 = table_generation.make_ci_generation(runs, ITEMS, SETS, results.intervals(runs))
    assert ci3.low[("shapes (≈ ImageNet-1K)", "this run", "recall[judge] ↑")].isna().all()
    assert (
        ci.low[("this run", "swd[pyramid] ↓")].isna().all()
        and ci3.low.xs("swd[pyramid] ↓", axis=1, level=2).isna().all().all()
    )


def test_table_mains_print_intervals_and_agreement(tmp_path: Path) -> None:
    params = tiny_params(tmp_path)
    write_runs(Path(params.paths.runs))
    for module in (table_recon, table_generation, table_ablation):
        module.main(params)
    tables = Path(params.paths.results) / "tables"
    t1, t3, t4 = ((tables / f"{n}.md").read_text() for n in ("table1_recon", "table3_generation", "table4_ablation"))
    assert "± is the 95% CI half-width" in t1 and "marks compare point values only" in t1.lower()
    assert (
        "| shapes | AE | **0.0218** | **0.0200** ± 0.0020 | **0.0013** | **0.0010** ± 0.0001 | **32.18** | 30.00 ±"
        in t1
    )
    assert "Kendall tau mean/min: shapes rfd[judge] 0.94/0.89." in t1
    assert "shapes fd[judge] n/a (members tie)" in t3 and "shapes rfd[judge] 0.94/0.89" in t4
    tidy = pd.read_csv(tables / "table4_ablation.csv")
    assert tidy[tidy["source"] == "this run"][["low", "high"]].notna().all().all()


def test_fig_noise_shades_interval_bands(runs: Path) -> None:
    items = list(paper.MAIN)
    fig = fig_noise.make_fig_noise(runs, items, SETS, results.intervals(runs))
    rfd, psnr = fig.axes[0], fig.axes[1]
    assert len(rfd.collections) == len(items) and not psnr.collections  # bands only where intervals exist
    ys = rfd.collections[-1].get_paths()[0].vertices[:, 1]  # the last item's band (VMAE)
    assert (ys.min(), ys.max()) == pytest.approx((0.9 * _curve("vmae")[0], 1.1 * _curve("vmae")[-1]))
    assert "95% CIs" in fig.get_suptitle()
    plain = fig_noise.make_fig_noise(runs, items, SETS)
    assert not plain.axes[0].collections and "CI" not in plain.get_suptitle()
