"""The shared training loop: schedule, resume after SIGKILL (bitwise), NaN guard, DDP on gloo."""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from bench import loop
from bench.ckpt import code_fingerprint, latest_checkpoint, load_checkpoint
from bench.config import OptimGroupCfg
from bench.loop import build_optimizers, lr_factor, shard_batches, train
from tests import loop_worker as w

ROOT = Path(__file__).resolve().parents[1]


def test_lr_factor_warmup_then_cosine():
    assert lr_factor(0, 4, 20, "cosine") == pytest.approx(0.25)
    assert lr_factor(3, 4, 20, "cosine") == pytest.approx(1.0)
    assert lr_factor(4, 4, 20, "cosine") == pytest.approx(1.0)
    assert lr_factor(12, 4, 20, "cosine") == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(15, 4, 20, "constant") == 1.0


def test_shard_batches_resume_and_disjoint_ranks():
    full = shard_batches(20, 3, seed=1, rank=0, world=1, start=0)
    first = [next(full) for _ in range(10)]  # crosses an epoch boundary (6 batches per epoch)
    resumed = shard_batches(20, 3, seed=1, rank=0, world=1, start=4)
    assert [next(resumed) for _ in range(6)] == first[4:]
    r0 = shard_batches(20, 2, seed=1, rank=0, world=2, start=0)
    r1 = shard_batches(20, 2, seed=1, rank=1, world=2, start=0)
    a = sum((next(r0) for _ in range(5)), [])
    b = sum((next(r1) for _ in range(5)), [])
    assert not set(a) & set(b) and len(set(a) | set(b)) == 20


def test_training_reduces_loss(tmp_path):
    res = w.run(str(tmp_path), steps=150, ema=0.0)
    pts = w.Points()
    with torch.no_grad():
        final = (res.model.eval()(pts.x) - pts.y).pow(2).mean().item()
        init = (w.make_model().eval()(pts.x) - pts.y).pow(2).mean().item()
    assert final < 0.5 * init
    assert (tmp_path / "live" / "metrics.json").is_file()


def test_sigkill_then_resume_matches_uninterrupted_bitwise(tmp_path):
    straight = w.run(str(tmp_path / "a"), steps=9, accum=1)
    killed = tmp_path / "b"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "loop_worker.py"), str(killed), "9", "0.02"], env=env)
    deadline = time.time() + 120
    while latest_checkpoint(killed / "ckpt") is None and time.time() < deadline and proc.poll() is None:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    ckpt = latest_checkpoint(killed / "ckpt")
    assert ckpt is not None and load_checkpoint(ckpt)["step"] < 9, "the run must die before finishing"
    # The killed process slept 0.02 s per item (8 per step): its checkpoint carries that time, and the resumed run
    # reports the whole run's training time, not only its own few milliseconds.
    before = load_checkpoint(ckpt)
    assert before["train_s"] >= 0.9 * 0.02 * 8 * before["step"]
    resumed = w.run(str(killed), steps=9)
    assert resumed.wall_time_s > before["train_s"]
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    for a, b in zip(straight.ema.state_dict().values(), resumed.ema.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_nan_loss_stops_with_clear_error_and_keeps_checkpoint(tmp_path):
    def bad_loss(model, batch, step):
        out = w.loss(model, batch, step)
        if step >= 4:
            out["loss"] = out["loss"] * float("nan")
        return out

    with pytest.raises(FloatingPointError, match="non-finite loss at step 4"):
        train(w.make_model(), bad_loss, w.Points(), w.train_cfg(8), tmp_path, seed=0, dist=w.setup(w.RUNTIME, seed=0))
    assert load_checkpoint(latest_checkpoint(tmp_path / "ckpt"))["step"] == 3


def test_changed_settings_do_not_resume(tmp_path):
    def other_settings(out):  # `w.run`'s model, data and seed, at half its learning rate
        cfg = dataclasses.replace(w.train_cfg(4), lr=5e-3)
        return train(w.make_model(), w.loss, w.Points(), cfg, out, seed=5, dist=w.setup(w.RUNTIME, seed=5))

    w.run(str(tmp_path / "a"), steps=3)
    over_old = other_settings(tmp_path / "a")  # finds a 3-step checkpoint of other settings and must ignore it
    fresh = other_settings(tmp_path / "b")
    assert over_old.step == fresh.step == 4
    # Resuming step 3 would give other weights: this fails with the settings check disabled in `train`.
    for (k, a), b in zip(fresh.model.state_dict().items(), over_old.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_precision_autocasts_the_forward_pass_on_the_cpu_and_keeps_weights_fp32(tmp_path, precision):
    seen = []

    def loss(model, batch, step):
        seen.append(model[0](batch["x"]).dtype)  # what the loop's autocast makes of a linear layer
        return w.loss(model, batch, step)

    cfg = dataclasses.replace(w.train_cfg(3), precision=precision)
    res = train(w.make_model(), loss, w.Points(), cfg, tmp_path, seed=0, dist=w.setup(w.RUNTIME, seed=0))
    assert set(seen) == {torch.bfloat16 if precision == "bf16" else torch.float32}
    assert {p.dtype for p in res.model.parameters()} == {torch.float32}
    assert math.isfinite(res.metrics["loss"])


DISC = OptimGroupCfg(lr_scale=0.5, betas=(0.5, 0.9), weight_decay=0.0)  # LDM's discriminator, at half the lr


def _two_groups(model):
    """Two optimiser groups: "loss" trains the first layer, "aux" the last (like a generator / discriminator)."""
    return {"loss": list(model[0].parameters()), "aux": list(model[3].parameters())}


def _two_losses(model, batch, step):
    return w.loss(model, batch, step) | {"aux": 0.1 * model[3].weight.square().sum()}


def test_group_settings_reach_the_optimisers():
    model, cfg = w.make_model(), w.train_cfg(4)
    opts = build_optimizers(model, _two_groups(model), cfg, {"aux": DISC})
    assert [(g["lr"], g["betas"], g["weight_decay"]) for g in opts["loss"].param_groups] == [
        (cfg.lr, (0.9, 0.95), cfg.weight_decay),  # matrices decay
        (cfg.lr, (0.9, 0.95), 0.0),  # biases do not
    ]
    assert [(g["lr"], g["betas"], g["weight_decay"]) for g in opts["aux"].param_groups] == [
        (0.5 * cfg.lr, (0.5, 0.9), 0.0),
        (0.5 * cfg.lr, (0.5, 0.9), 0.0),
    ]
    assert {id(p) for g in opts["aux"].param_groups for p in g["params"]} == {id(p) for p in model[3].parameters()}
    with pytest.raises(ValueError, match=r"optimiser settings are given for \['disc_loss'\]"):
        build_optimizers(model, _two_groups(model), cfg, {"disc_loss": DISC})


def test_group_settings_train_resume_exactly_and_are_checked_on_resume(tmp_path):
    def run(out, loss=_two_losses, settings=None):
        settings = {"aux": DISC} if settings is None else settings
        dist = w.setup(w.RUNTIME, seed=5)
        return train(
            w.make_model(),
            loss,
            w.Points(),
            w.train_cfg(9),
            out,
            seed=5,
            dist=dist,
            groups=_two_groups,
            group_settings=settings,
        )

    straight = run(tmp_path / "a")
    saved = load_checkpoint(latest_checkpoint(tmp_path / "a" / "ckpt"))
    assert [g["betas"] for g in saved["opt"]["aux"]["param_groups"]] == [(0.5, 0.9)] * 2
    assert [g["betas"] for g in saved["opt"]["loss"]["param_groups"]] == [(0.9, 0.95)] * 2

    def crash_at_7(model, batch, step):
        if step == 7:
            raise RuntimeError("simulated crash")
        return _two_losses(model, batch, step)

    with pytest.raises(RuntimeError, match="simulated crash"):
        run(tmp_path / "b", loss=crash_at_7)
    assert load_checkpoint(latest_checkpoint(tmp_path / "b" / "ckpt"))["step"] == 6
    resumed = run(tmp_path / "b")
    for (k, a), b in zip(straight.model.state_dict().items(), resumed.model.state_dict().values(), strict=True):
        assert torch.equal(a, b), k
    # The loss history is checkpointed too: the resumed run judges its plateau on all 9 steps, as the straight one.
    assert resumed.plateau == straight.plateau and straight.plateau["steps"] == 9
    # Other group settings: the checkpoint is not resumed, the run starts again from step 0.
    other = run(tmp_path / "a", settings={"aux": OptimGroupCfg(lr_scale=1.0, betas=(0.5, 0.9), weight_decay=0.0)})
    assert not torch.equal(other.model[3].weight, straight.model[3].weight)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ddp_two_gloo_ranks_hold_identical_weights(tmp_path):
    mp.spawn(w.ddp_worker, args=(2, _free_port(), str(tmp_path)), nprocs=2, join=True)
    a = torch.load(tmp_path / "rank0.pt", weights_only=True)
    b = torch.load(tmp_path / "rank1.pt", weights_only=True)
    init = w.make_model().state_dict()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    assert any(not torch.equal(a[k], init[k]) for k in a), "weights must have moved"


def test_a_finished_run_resumed_reports_its_whole_training_time(tmp_path):
    first = w.run(str(tmp_path), steps=3, delay=0.005)  # 8 items a step: at least 0.12 s of training
    again = w.run(str(tmp_path), steps=3)  # resumes at the last step: no step left to train
    saved = load_checkpoint(latest_checkpoint(tmp_path / "ckpt"))["train_s"]
    assert first.wall_time_s >= saved >= 3 * 8 * 0.005
    assert saved <= again.wall_time_s < saved + 0.1  # the checkpoint's time, plus this process's moment
    for a, b in zip(first.model.state_dict().values(), again.model.state_dict().values(), strict=True):
        assert torch.equal(a, b)


def test_steady_time_ignores_a_pause_that_the_wall_time_counts(tmp_path):
    """One step held up for half a second (a suspended process, a burst of other work): the wall time counts it,
    steps x the median step does not, and a resumed run reports the same steady time from its checkpoint."""
    pause, delay, steps = 0.5, 0.002, 5

    def held_up(model, batch, step):
        if step == 2:
            time.sleep(pause)
        return w.loss(model, batch, step)

    info = w.setup(w.RUNTIME, seed=5)
    first = train(w.make_model(), held_up, w.Points(delay=delay), w.train_cfg(steps), tmp_path, seed=5, dist=info)
    assert first.wall_time_s >= pause + steps * 8 * delay
    assert steps * 8 * delay <= first.steady_time_s < first.wall_time_s - 0.8 * pause
    again = train(w.make_model(), held_up, w.Points(), w.train_cfg(steps), tmp_path, seed=5, dist=info)  # resumed
    assert again.steady_time_s == first.steady_time_s


def test_a_checkpoint_made_by_other_code_is_not_resumed(tmp_path, monkeypatch):
    w.run(str(tmp_path), steps=3, delay=0.005)
    saved = load_checkpoint(latest_checkpoint(tmp_path / "ckpt"))["train_s"]
    monkeypatch.setattr(loop, "code_fingerprint", lambda: "edited")
    again = w.run(str(tmp_path), steps=3)  # no delay: trained again from step 0, quickly
    assert again.wall_time_s < saved
    assert load_checkpoint(latest_checkpoint(tmp_path / "ckpt"))["made_by"]["code"] == "edited"


def test_code_fingerprint_follows_the_packages_bytes_and_nothing_else(tmp_path):
    for rel in ("bench/a.py", "diffusion/b.py", "tests/t.py"):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text("x = 1\n")
    before = code_fingerprint(tmp_path)
    (tmp_path / "tests/t.py").write_text("x = 2\n")
    assert code_fingerprint(tmp_path) == before  # tests are not the models' code
    (tmp_path / "diffusion/b.py").write_text("x = 2\n")
    assert code_fingerprint(tmp_path) != before
    assert len(code_fingerprint()) == 64  # the repository's own packages
