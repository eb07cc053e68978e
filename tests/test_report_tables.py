"""Tests of the report's tables (analysis/table_*.py, table_format.py), and the synthetic stage outputs that they and
the paper check's tests (tests/test_claims.py) read.

Everything runs on SYNTHETIC stage outputs written in the agreed formats into tmp_path: a "world" of chosen numbers
(the paper's Tables 1-4 where they exist, made-up noise curves, sigma^2 / rho and throughputs), with confidence
intervals (intervals stage) and metric validation (validate_metrics) under which every paper claim holds.

Run: .venv/bin/python -m pytest tests/test_report_tables.py -q
"""

from __future__ import annotations

import copy
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import claims, paper, paper_check, table_ablation, table_format, table_generation, table_recon
from analysis.table_ablation import make_table_ablation
from analysis.table_efficiency import RATIO_ROW, make_table_efficiency
from analysis.table_generation import make_table_generation
from analysis.table_posterior import make_table_posterior, to_markdown
from analysis.table_recon import make_table_recon
from bench import layout
from bench.config import load_params
from bench.metrics import SWD_KEY as SWD
from tests.conftest import ROOT, tiny_params

ITEMS = [*paper.MAIN, "vmae-mse", "vmae-lm", "vmae-lm-reg", "vmae-release"]
SHOWN = paper.report_items(ITEMS, ())  # what Tables 1-3 show of them: the paper's five (no pretrained item here)
SETS = {"shapes": "shapes", "faces": "faces"}  # name -> kind, as the tiny preset's data.sets
LEVELS = {"shapes": "object", "faces": "part"}
EPS = (0.0, 0.1, 0.3)
HOUR = 3600.0
CLAIMS = claims.claim_list(load_params(ROOT / "params.yaml").analysis.paper_check.ratio_tolerance)


def _recon(l1, mse, psnr, ssim, percep, rfd) -> dict:
    return {"l1[0-1]": l1, "mse[0-1]": mse, "psnr": psnr, "ssim": ssim, "percep[own]": percep, "rfd[judge]": rfd}


def world() -> dict:
    """Numbers under which every claim holds: the paper's tables, and Fig. 6/7 and throughput values made up to fit."""
    t1, t3, t4 = paper.TABLE1, paper.TABLE3, paper.TABLE4
    recon = {i: _recon(*(t1[i][k] for k in ("l1", "mse", "psnr", "ssim", "lpips", "rfid"))) for i in paper.MAIN}
    for i, l1 in zip(("vmae-lm", "vmae-lm-reg"), (0.021, 0.022), strict=True):
        recon[i] = _recon(l1, 0.0015, *(t4[i][k] for k in ("psnr", "ssim", "lpips", "rfid")))
    recon["vmae-mse"] = _recon(0.02, 0.0014, 31.9, 0.90, 0.17, 6.0)  # Table 4's extra row: not in the paper
    recon["vmae-release"] = dict(recon["vmae"])
    names = {"gfid": "fd[judge]", "sfid": "sfd[judge]", "is": "is[judge]"}
    names |= {"precision": "precision[judge]", "recall": "recall[judge]"}
    gen = {i: {"shapes": {names[k]: v for k, v in t3["imagenet"][i].items()},
               "faces": {names[k]: v for k, v in t3["celebahq"][i].items()}} for i in paper.MAIN}  # fmt: skip
    for i in ("vmae-lm", "vmae-lm-reg"):
        gen[i] = {"shapes": {"fd[judge]": t4[i]["gfid"], "sfd[judge]": 9.0, "is[judge]": 100.0}}
    gen["vmae-mse"] = {"shapes": {"fd[judge]": 12.5, "sfd[judge]": 9.0, "is[judge]": 100.0}}
    gen["vmae-release"] = copy.deepcopy(gen["vmae"])
    conv = {
        "size_mib": 319.7,
        "gflops": 17331.3,
        "train_steady_time_s": 24 * HOUR,
        "encode_img_s": 10.0,
        "decode_img_s": 12.0,
    }
    vit = {"size_mib": 42.7, "gflops": 703.9, "train_steady_time_s": 9 * HOUR, "encode_img_s": 50.0}
    vit["decode_img_s"] = 60.0
    eff = {i: dict(conv if i in ("ae", "dae", "vae", "sd-vae") else vit) for i in ITEMS}
    noise = {"ae": [6, 20, 40], "dae": [4, 18, 35], "vae": [17, 18, 19], "sd-vae": [1.9, 3, 5], "vmae": [0.9, 2, 3.5]}
    noise |= {i: [1.0, 2.0, 3.0] for i in ITEMS if i not in noise}
    sigma_rho = {"ae": (0.8, 1.3), "dae": (1.2, 1.25), "vae": (1.5, 1.1), "sd-vae": (0.3, 1.05), "vmae": (0.4, 1.6)}
    sigma_rho |= {i: (0.5, 1.2) for i in ITEMS if i not in sigma_rho} | {"raw": (1.0, 1.2)}
    compress = {i: {s: v for s in SETS} for i, v in sigma_rho.items()}
    # eval_ae's posterior per channel (std, KL nats/value); AE and DAE are deterministic
    posterior = {i: None if i in ("ae", "dae") else ([0.5, 1.0, 1.5, 1.0], [0.0, 0.2, 0.005, 1.0]) for i in ITEMS}
    return {"recon": {i: {s: dict(v) for s in SETS} for i, v in recon.items()}, "gen": gen, "eff": eff,
            "noise": {i: {s: list(v) for s in SETS} for i, v in noise.items()}, "compress": compress,
            "posterior": posterior}  # fmt: skip


def _dump(path: Path, obj) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj))


def write_runs(runs: Path, w: dict) -> None:
    """Stage outputs in the agreed formats (runs/eval_ae, eval_gen, compress, compress_raw, intervals,
    validate_metrics; train_ae's record)."""
    for item in ITEMS:
        e = w["eff"][item]
        point = {"psnr": 20.0, "percep[own]": 0.1}
        curves = {s: [point | {"eps": e, "rfd[judge]": v} for e, v in zip(EPS, c, strict=True)]
                  for s, c in w["noise"][item].items()}  # fmt: skip
        swd = {SWD: 10.0 + ITEMS.index(item)}  # the pyramid SWD both eval stages write
        recon = {s: v | {"n_images": 16} | swd for s, v in w["recon"][item].items()}
        efficiency = {"params_m": 1.0, "size_mib": e["size_mib"], "device": "cpu", "encode_img_s": e["encode_img_s"],
                      "decode_img_s": e["decode_img_s"], "gflops_256": {"encode": 0.0, "decode": 0.0,
                      "total": e["gflops"]}, "gflops_native": {"encode": 0.0, "decode": 0.0, "total": 0.0}}  # fmt: skip
        q = w["posterior"][item]
        posterior = {s: None if q is None else {"std_per_channel": q[0], "kl_per_channel": q[1], "active_kl": 0.01}
                     for s in SETS}  # fmt: skip
        _dump(runs / "eval_ae" / item / "metrics.json", {
            "item": item, "kind": item, "perceptual": "percep-own", "extractors": {"judge": "judge-resnet-v1"},
            "reconstruction": recon, "noise_curve": curves, "latent_std": {}, "posterior": posterior,
            "efficiency": efficiency})  # fmt: skip
        gen = {s: v | {"n_samples": 8, "reference": "train"} | swd for s, v in w["gen"][item].items()}
        _dump(runs / "eval_gen" / item / "metrics.json", {"extractors": {"judge": "judge-resnet-v1"}, **gen})
        steady = {"phase1_s": e["train_steady_time_s"] * 0.75, "phase3_s": e["train_steady_time_s"] * 0.25}
        wall = {k: 3 * v for k, v in steady.items()}  # a suspended run's: the tables must not read it
        _dump(runs / "records" / "autoencoders" / item / "meta.json",
              {"train_wall_time_s": wall, "train_steady_time_s": steady})  # fmt: skip
    for item, per_set in w["compress"].items():
        path = runs / ("compress_raw" if item == "raw" else f"compress/{item}") / "metrics.json"
        _dump(path, {s: {"level": LEVELS[s], "sigma2": s2, "sigma2_ci": [s2, s2], "rho": rho, "rho_ci": [rho, rho],
                         "n_images": 8, "n_rho": 8} for s, (s2, rho) in per_set.items()})  # fmt: skip
    write_uncertainty(runs, w)


VALIDATED = ("fd[judge]", "sfd[judge]", "kid[judge]", "precision[judge]", "recall[judge]", "is[judge]", "swd[pyramid]")


def _intervals(values: dict, half: float) -> dict:
    """{"values", "pairs"} of one column: items ±half·|value|, and every ordered pair (ITEMS order) d ± half·|d|, so a
    difference's interval excludes 0 exactly when d != 0 (scalars or per-eps lists)."""

    def around(v, h):
        scalar = not isinstance(v, list)
        v = [v] if scalar else v
        out = {"low": [x - h * abs(x) for x in v], "high": [x + h * abs(x) for x in v]}
        return {k: x[0] for k, x in out.items()} if scalar else out

    items = [i for i in (*ITEMS, "raw") if i in values]  # the intervals stage's order: items, then Fig. 7's "raw"
    pairs = {}
    for k, a in enumerate(items):
        for b in items[k + 1 :]:
            va, vb = values[a], values[b]
            d = [x - y for x, y in zip(va, vb, strict=True)] if isinstance(va, list) else va - vb
            pairs[f"{a}|{b}"] = {"diff": d, **around(d, half)}
    return {"values": {i: {"value": v, **around(v, half)} for i, v in values.items()}, "pairs": pairs}


def world_intervals(w: dict, half: float = 0.1) -> dict:
    """intervals.json for a world, in the intervals stage's format."""
    out = {"level": 0.95, "n_resamples": 300, "members": 3, "recon": {}, "noise": {}, "gen": {}, "agreement": {}}
    for kind in ("recon", "gen"):
        for item, per_set in w[kind].items():
            for s, values in per_set.items():
                for column, v in values.items():
                    out[kind].setdefault(s, {}).setdefault(column, {})[item] = v
        out[kind] = {s: {c: _intervals(v, half) for c, v in cols.items()} for s, cols in out[kind].items()}
    for s in SETS:
        curves = {i: w["noise"][i][s] for i in ITEMS}
        entry = _intervals(curves, half) | {"growth": _intervals({i: c[-1] - c[0] for i, c in curves.items()}, half)}
        out["noise"][s] = {"eps": list(EPS), "rfd[judge]": entry}
    out["compress"] = {
        s: {m: _intervals({i: v[s][k] for i, v in w["compress"].items() if s in v}, half) for k, m in
            enumerate(("sigma2", "rho"))} | {"n_images": 8}
        for s in SETS
    }  # fmt: skip
    u = np.random.default_rng(0).normal(size=200)  # one resample's shift, shared by every item: paired draws
    for s in SETS:
        present = {i: v[s] for i, v in w["compress"].items() if s in v}
        out["compress"][s]["draws"] = {
            m: {i: (v[k] * (1 + half / 4 * u)).tolist() for i, v in present.items()}
            for k, m in enumerate(("sigma2", "rho"))
        }
    return out


def write_uncertainty(runs: Path, w: dict, failed: dict[str, list[str]] | None = None) -> None:
    """intervals.json and validate_metrics' metrics.json (every metric validated except those in `failed`)."""
    _dump(layout.intervals(runs), world_intervals(w))
    failed = failed or {}
    metrics = {m: {"validated": m not in failed, "failed": failed.get(m, []), "passed": []} for m in VALIDATED}
    _dump(layout.metric_validation(runs), {"sets": {}, "metrics": metrics})


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    write_runs(tmp_path / "runs", world())
    return tmp_path / "runs"


# --- tables --------------------------------------------------------------------------------------------------


def test_recon_table_layout_paper_beside_and_labels(runs: Path) -> None:
    table = make_table_recon(runs, SHOWN, SETS)
    assert list(table.index) == [(s, paper.LABELS[i]) for s in SETS for i in paper.MAIN]
    assert list(table.columns.get_level_values("source")) == ["paper", "this run"] * 6 + ["this run"]
    metrics = list(table.columns.get_level_values("metric"))
    assert metrics[-3:] == ["rFID[inception] ↓", "rfd[judge] ↓", "swd[pyramid] ↓"] and "percep[own] ↓" in metrics
    assert "PSNR ↑" in metrics and not any(m.startswith("rfid[") or m.startswith("fid[") for m in metrics[1::2])
    assert table.loc[("faces", "VMAE"), ("this run", "swd[pyramid] ↓")] == 10.0 + ITEMS.index("vmae")
    assert table.loc[("shapes", "VAE"), ("paper", "rFID[inception] ↓")] == paper.TABLE1["vae"]["rfid"]
    assert table.loc[("shapes", "VAE"), ("this run", "rfd[judge] ↓")] == paper.TABLE1["vae"]["rfid"]
    assert table.xs("faces")[("paper", "L1 ↓")].isna().all()  # faces stands in for no Table-1 dataset


def test_recon_table_carries_inception_and_lpips_when_present(runs: Path) -> None:
    for item in paper.MAIN:
        path = runs / "eval_ae" / item / "metrics.json"
        m = json.loads(path.read_text())
        for values in m["reconstruction"].values():
            values["rfid[inception]"], values["lpips[vgg]"] = values["rfd[judge]"] + 1, values["percep[own]"]
        path.write_text(json.dumps(m))
    metrics = list(make_table_recon(runs, SHOWN, SETS).columns.get_level_values("metric"))
    assert "rfid[inception] ↓" in metrics and "lpips[vgg] ↓" in metrics and "rfd[judge] ↓" not in metrics


def test_marks_best_second_ties_and_direction() -> None:
    cols = pd.MultiIndex.from_tuples([("this run", "psnr ↑"), ("this run", "rfd[judge] ↓"), ("x", "n")])
    frame = pd.DataFrame([[30.0, 1.001, 1], [32.0, 0.999, 2], [32.0, 2.0, 3], [31.0, math.nan, 4]], columns=cols)
    m = table_format.marks(frame)
    assert list(m.iloc[:, 0]) == ["", "best", "best", "second"]  # higher is better; a tie shares "best"
    assert list(m.iloc[:, 1]) == ["best", "best", "second", ""]  # 1.001 and 0.999 print as 1.00: a tie; NaN unmarked
    assert list(m.iloc[:, 2]) == ["", "", "", ""]  # an unregistered column is never marked


def test_recon_marks_are_per_dataset(runs: Path) -> None:
    table = make_table_recon(runs, SHOWN, SETS)
    table.loc[("faces", "AE"), ("this run", "rfd[judge] ↓")] = 0.1
    m = table_format.marks(table)[("this run", "rfd[judge] ↓")]
    assert m[("shapes", "VMAE")] == "best" and m[("shapes", "SD-VAE")] == "second"
    assert m[("faces", "AE")] == "best" and m[("faces", "VMAE")] == "second"
    assert table_format.marks(table)[("this run", "psnr ↑")][("shapes", "AE")] == "best"


def test_generation_table(runs: Path) -> None:
    table = make_table_generation(runs, SHOWN, SETS)
    assert list(table.index) == [paper.LABELS[i] for i in paper.MAIN]
    groups = list(dict.fromkeys(table.columns.get_level_values("dataset")))
    assert groups == ["shapes (≈ ImageNet-1K)", "faces (≈ CelebA-HQ)"]
    assert table["shapes (≈ ImageNet-1K)"].shape[1] == 11 and table["faces (≈ CelebA-HQ)"].shape[1] == 5  # + SWD
    assert ("faces (≈ CelebA-HQ)", "paper", "gFID[inception] ↓") in table.columns
    assert (
        table.loc["VMAE", ("faces (≈ CelebA-HQ)", "this run", "fd[judge] ↓")]
        == paper.TABLE3["celebahq"]["vmae"]["gfid"]
    )
    m = table_format.marks(table)
    assert m.loc["VMAE", ("shapes (≈ ImageNet-1K)", "this run", "is[judge] ↑")] == "best"
    assert m.loc["SD-VAE", ("shapes (≈ ImageNet-1K)", "paper", "IS[inception] ↑")] == "second"


def test_ablation_table(runs: Path) -> None:
    table = make_table_ablation(runs, ITEMS, SETS)
    # The paper's first row is the conv AE ("same as the standard AE"); the ViT with MSE only is an extra row.
    assert paper.ABLATION[0] == "ae" and paper.TABLE4["ae"]["rfid"] == paper.TABLE1["ae"]["rfid"]
    labels = [paper.ABLATION_LABELS[i] for i in (*paper.ABLATION, "vmae-mse")]
    assert list(table.index) == [*(("paper's rows", label) for label in labels[:4]), ("extra", labels[4])]
    assert list(table.columns.get_level_values("metric"))[-2:] == ["gFID[inception] ↓", "fd[judge] ↓"]
    rfid = list(table[("paper", "rFID[inception] ↓")])
    assert rfid[:4] == [paper.TABLE4[i]["rfid"] for i in paper.ABLATION] and math.isnan(rfid[4])
    ae = table.loc[("paper's rows", labels[0])]
    assert ae[("this run", "psnr ↑")] == paper.TABLE1["ae"]["psnr"]  # this run's AE, read from eval_ae@ae
    assert table.loc[("extra", labels[4]), ("this run", "fd[judge] ↓")] == 12.5
    # Marks rank the paper's rows only: the extra row, best on PSNR here, takes none, and the AE keeps "best".
    m = table_format.marks(table)
    assert (
        m.loc[("extra", labels[4])].eq("").all()
        and m.loc[("paper's rows", labels[0]), ("this run", "psnr ↑")] == "best"
    )
    without = make_table_ablation(runs, [i for i in ITEMS if i != "vmae-mse"], SETS)
    assert len(without) == 4  # no extra row where vmae-mse was not run


def test_posterior_table(runs: Path) -> None:
    table = make_table_posterior(runs, ITEMS, SETS)
    assert list(table.index) == [(s, paper.LABELS.get(i, i)) for s in SETS for i in ITEMS]
    vae, ae = table.loc[("shapes", "VAE")], table.loc[("faces", "AE")]
    assert vae["std_mean"] == pytest.approx(1.0) and (vae["std_min"], vae["std_max"]) == (0.5, 1.5)
    assert vae["kl"] == pytest.approx(1.205 / 4) and vae["active"] == 2 and vae["channels"] == 4  # 0.2 and 1.0 > 0.01
    assert ae["posterior"] == "deterministic" and math.isnan(ae["std_mean"])
    md = to_markdown(table, "t", [])
    assert "| faces | DAE | deterministic (no posterior std) | – |" in md
    assert "| shapes | VMAE | 1.0000 | 0.5000 | 1.5000 | 0.3013 | 2 | 4 |" in md


def test_efficiency_table_ratio_and_training_time(runs: Path) -> None:
    table = make_table_efficiency(runs, SHOWN)
    assert list(table.index) == [*(paper.LABELS[i] for i in paper.MAIN), RATIO_ROW]
    assert table.loc[RATIO_ROW, ("paper", "size[MB] ↓")] == pytest.approx(13.36, abs=0.01)
    assert table.loc["AE", ("this run", "train[min] ↓")] == 24 * 60
    md = table_format.to_markdown(table, "t2", [], mark=False, percent_row=("VMAE", RATIO_ROW))
    body = md.split("| model |")[1]
    assert "42.7 (13.4%)" in body and RATIO_ROW not in body and "**" not in body
    w = world()  # the training time is the sum of train_ae's recorded phases (eval_ae does not carry it)
    w["eff"]["vmae"]["train_steady_time_s"] = 90.0
    write_runs(runs, w)
    assert make_table_efficiency(runs, SHOWN).loc["VMAE", ("this run", "train[min] ↓")] == pytest.approx(1.5)


def test_missing_item_row_is_nan(runs: Path) -> None:
    table = make_table_recon(runs, [i for i in SHOWN if i != "dae"], SETS)
    assert table.loc[("shapes", "DAE"), ("this run", "psnr ↑")] != table.loc[("shapes", "DAE"), ("this run", "psnr ↑")]
    assert table.loc[("shapes", "DAE"), ("paper", "PSNR ↑")] == paper.TABLE1["dae"]["psnr"]


def test_a_pretrained_item_gets_rows_after_the_paper_five(runs: Path) -> None:
    """An item beyond the paper's five (a pretrained one) is a row of Tables 1-3 after them, with no paper values;
    in Table 2 its training time is NaN (not measured here) and its train_ae record is never read."""
    extra = "vmae-release"  # stands in for a pretrained item: the synthetic world has outputs for it
    path = runs / "eval_ae" / extra / "metrics.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"kind": "pretrained"}))
    (runs / "records" / "autoencoders" / extra / "meta.json").unlink()
    shown = paper.report_items(ITEMS, [extra])
    assert shown == [*paper.MAIN, extra]
    label = paper.LABELS[extra]
    recon = make_table_recon(runs, shown, SETS)
    assert list(recon.xs("shapes").index) == [*(paper.LABELS[i] for i in paper.MAIN), label]
    assert recon.loc[("shapes", label), ("paper", "PSNR ↑")] != recon.loc[("shapes", label), ("paper", "PSNR ↑")]
    assert recon.loc[("shapes", label), ("this run", "psnr ↑")] > 0
    assert make_table_generation(runs, shown, SETS).loc[label].notna().any()
    eff = make_table_efficiency(runs, shown)
    assert math.isnan(eff.loc[label, ("this run", "train[min] ↓")]) and eff.loc[label, ("this run", "size[MiB] ↓")] > 0


def test_stage_mains_write_every_file(tmp_path: Path) -> None:
    from analysis import table_efficiency, table_posterior

    params = tiny_params(tmp_path)
    write_runs(Path(params.paths.runs), world())
    for module in (table_recon, table_posterior, table_efficiency, table_generation, table_ablation, paper_check):
        module.main(params)
    for name in ("table1_posterior.md", "table1_posterior.csv", "table1_posterior_channels.csv"):
        assert (Path(params.paths.results) / "tables" / name).stat().st_size > 0
    tables = Path(params.paths.results) / "tables"
    for name in ("table1_recon", "table2_efficiency", "table3_generation", "table4_ablation"):
        for suffix in ("csv", "md", "tex"):
            assert (tables / f"{name}.{suffix}").stat().st_size > 0
    assert r"\textbf{" in (tables / "table1_recon.tex").read_text()
    assert "<u>" in (tables / "table3_generation.md").read_text()
    tidy = pd.read_csv(tables / "table1_recon.csv", keep_default_na=False)
    assert {"dataset", "model", "source", "metric", "value", "higher_better", "mark"} <= set(tidy.columns)
    assert set(tidy["mark"]) == {"best", "second", ""}
    report = json.loads((Path(params.paths.results) / "paper_check.json").read_text())
    assert report["summary"]["holds"] == report["summary"]["total"] == len(CLAIMS)
    assert (
        f"**{len(CLAIMS)} of {len(CLAIMS)} claims hold**" in (Path(params.paths.results) / "paper_check.md").read_text()
    )


def test_a_metric_that_failed_validation_is_flagged_in_every_table(tmp_path: Path) -> None:
    params = tiny_params(tmp_path)
    runs, w = Path(params.paths.runs), world()
    write_runs(runs, w)
    write_uncertainty(runs, w, failed={"fd[judge]": ["shapes:swirl"]})  # rfd[judge] is the same instrument
    for module in (table_recon, table_generation, table_ablation):
        module.main(params)
    tables = Path(params.paths.results) / "tables"
    t1, t3, t4 = ((tables / f"{n}.md").read_text() for n in ("table1_recon", "table3_generation", "table4_ablation"))
    for text, column in ((t1, "rfd[judge] ↓"), (t3, "fd[judge] ↓"), (t4, "rfd[judge] ↓")):
        assert f"{column} (not validated)" in text and f"(not validated): `{column[:-2]}`" in text
    assert "psnr ↑ (not validated)" not in t1  # per-image metrics are not distribution metrics: never flagged
    assert "sfd[judge] ↓ (not validated)" not in t3 and "**" in t3  # only the failed one; marks still computed
    assert table_format.metric_of("fd[judge] ↓ (not validated)").higher_better is False
    tidy = pd.read_csv(tables / "table3_generation.csv")
    flagged = tidy[tidy["metric"] == "fd[judge] ↓ (not validated)"]
    assert len(flagged) and flagged[["low", "high"]].notna().all().all()  # the CI follows the renamed column


def test_tables_say_when_validation_has_not_run(runs: Path) -> None:
    table = make_table_recon(runs, SHOWN, SETS)
    same, _, note = table_format.flag_unvalidated(table, None, None)
    assert same.equals(table) and "Metric validation has not run" in note
