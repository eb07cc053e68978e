"""The plateau study's driver (benchmarks/plateau_study.py): its plan, its params check before training, and its
tables on a constructed study (the study itself trains for minutes on a GPU and is not run here)."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from bench.config import PlateauCfg
from bench.plateau import plateau
from benchmarks.plateau_study import cuts, plan, study_params, summarise

ROOT = Path(__file__).resolve().parents[1]
CFG = PlateauCfg(smoothing=0.9, tail=0.2, threshold=0.01)


def test_plan_gives_one_run_per_budget_and_the_dit_chain_in_order():
    args = argparse.Namespace(ae=[100, 300], vmae=[200], sdvae=[], dit=500, dit_ae_steps=50)
    runs = plan(args)
    assert sorted(runs) == ["ae_100", "ae_300", "dit_500", "vmae_200"]
    assert runs["ae_300"][0]["autoencoders"]["train"]["steps"] == 300
    assert runs["vmae_200"][1] == [["autoencoders.train", "vmae"]]
    overrides, commands = runs["dit_500"]
    assert [c[0] for c in commands] == ["autoencoders.train", "diffusion.extract", "diffusion.train"]
    assert overrides["diffusion"]["train"]["steps"] == 500 and overrides["autoencoders"]["train"]["steps"] == 50


def test_study_params_merge_and_refuse_a_bad_budget_before_training():
    raw = study_params(ROOT, {"autoencoders": {"train": {"steps": 1234}}}, "cpu")
    assert raw["autoencoders"]["train"]["steps"] == 1234
    assert raw["runtime"]["cpu_threads"] == 1 and raw["runtime"]["device"] == "cpu"
    assert raw["autoencoders"]["train"]["lr"] is not None  # the rest of the section is kept, not replaced
    with pytest.raises(ValueError, match="warmup_steps"):
        study_params(ROOT, {"autoencoders": {"train": {"steps": 5}}}, "cpu")  # below the 15 warm-up steps


def test_cuts_are_the_verdicts_of_the_truncated_history():
    rng = np.random.default_rng(0)
    losses = list(1.0 / np.sqrt(np.arange(1, 2001)) + 0.01 * rng.standard_normal(2000))
    got = cuts(losses, CFG, steps=(300, 1000, 2000, 5000))
    assert [c["cut"] for c in got] == [300, 1000, 2000]  # 5000 is beyond the history
    for c in got:
        assert c["relative_improvement"] == pytest.approx(plateau(losses[: c["cut"]], CFG)["relative_improvement"])


def test_summary_lists_finished_phases_and_says_which_runs_were_killed():
    falling = list(np.linspace(1.0, 0.5, 400))
    flat = [0.3] * 400
    study = {
        "device": "cpu",
        "torch": "x",
        "status": {"ae_400": "finished", "ae_9000": "killed at the deadline (10 s)", "dit_400": "finished"},
        "runs": {
            "ae_400": {
                "plateau": {"runs/records/autoencoders/ae": {"phase1": {}}},
                "history": {"runs/work/train_ae/ae/phase1": {"loss": falling, "step_ms_median": 12.0}},
            },
            "ae_9000": {  # killed mid-run: a checkpoint but no record, so no verdict row
                "plateau": {},
                "history": {"runs/work/train_ae/ae/phase1": {"loss": flat, "step_ms_median": 12.0}},
            },
            "dit_400": {
                "plateau": {},
                "history": {"runs/work/train_dit/ae/shapes": {"loss": flat, "step_ms_median": 5.0}},
            },
        },
    }
    text = summarise(study, CFG)
    row = next(line for line in text.splitlines() if line.startswith("| ae_400 | phase1"))
    assert "| False |" in row and f"{plateau(falling, CFG)['relative_improvement']:.4f}" in row
    assert "| ae_9000 | | | | | killed at the deadline (10 s) | |" in text
    assert not any(line.startswith("| ae_9000 | phase1") for line in text.splitlines())
    assert "| 300 | 0.0000 | True | 0.3000 |" in text  # the flat DiT history, cut at 300
