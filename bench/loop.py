"""The one training loop, shared by the feature networks, every autoencoder and DiT.

Per-model code is the loss, not the loop: `train()` takes a model, a loss function
`loss_fn(model, batch, step) -> {"loss": ..., other scalars}`, a dataset and a `TrainCfg`, and does
the rest, reading top to bottom: AdamW with decay / no-decay groups, warmup + cosine or constant
learning rate, gradient accumulation, bf16 autocast (`precision`, CUDA and CPU), clipping, EMA, a NaN/Inf
guard, atomic checkpoints, exact resume (model, EMA, optimisers, step, RNG, data order, loss history), dvclive
metrics and a tqdm bar on rank 0, plain DDP under torchrun, and the plateau verdict of the run (`bench.plateau`).

Several optimisers (e.g. SD-VAE's generator and discriminator): `groups(model)` maps each loss key to
the parameters it trains. The loop backpropagates the sum of those losses once, so each loss must
only reach its own parameters (SD-VAE computes its generator loss through a detached
discriminator, and its discriminator loss on detached reconstructions). Each key's optimiser takes
`cfg`'s settings, or its own from `group_settings` (typed `OptimGroupCfg`: lr scale, betas, weight decay).
"""

from __future__ import annotations

import math
import statistics
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from bench.ckpt import (
    ckpt_name,
    code_fingerprint,
    latest_checkpoint,
    load_checkpoint,
    prune_checkpoints,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from bench.config import OptimGroupCfg, TrainCfg, as_dict
from bench.dist import DistInfo, reduce_mean
from bench.log import get_logger, open_live
from bench.plateau import LOSS_KEY, plateau

LossFn = Callable[[nn.Module, dict[str, Any], int], dict[str, torch.Tensor]]
GroupsFn = Callable[[nn.Module], dict[str, list[nn.Parameter]]]
KEEP_CHECKPOINTS = 2  # the newest two survive, so a crash while writing one still leaves one

log = get_logger(__name__)


@dataclass
class TrainResult:
    model: nn.Module  # the trained (unwrapped) model
    ema: nn.Module | None  # EMA copy, when cfg.ema_decay > 0
    step: int
    metrics: dict[str, float]  # last logged values
    # Seconds of training over the whole run, summed across resumes: each checkpoint carries the time spent up to its
    # step, so a run resumed after an interruption reports what it cost (steps lost after the last checkpoint and
    # redone are counted once).
    wall_time_s: float
    # steps x the median seconds of one step (data, forward, backward, update; not logging or checkpoints) over the
    # whole run: what the run costs at its typical step. Unlike the wall time it does not count time the process was
    # suspended or starved by other work, so Table 2 compares models run on a busy or paused machine.
    steady_time_s: float
    plateau: dict[str, Any]  # `bench.plateau.plateau` of the whole run's per-step loss (rank 0's), for meta.json


class _LossModule(nn.Module):
    """Makes `loss_fn(model, ...)` a forward pass, so DDP sees it and syncs gradients."""

    def __init__(self, model: nn.Module, loss_fn: LossFn) -> None:
        super().__init__()
        self.model = model
        self.loss_fn = loss_fn

    def forward(self, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        return self.loss_fn(self.model, batch, step)


def default_groups(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    return {"loss": [p for p in model.parameters() if p.requires_grad]}


def decay_groups(model: nn.Module, params: list[nn.Parameter], weight_decay: float) -> list[dict]:
    """Split parameters: weight decay on matrices and kernels, none on biases, norms and 1-D tensors."""
    names = {id(p): n for n, p in model.named_parameters()}
    decay = [p for p in params if p.ndim >= 2 and not names.get(id(p), "").endswith(".bias")]
    keep = {id(p) for p in decay}
    no_decay = [p for p in params if id(p) not in keep]
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def build_optimizers(
    model: nn.Module,
    param_sets: dict[str, list[nn.Parameter]],
    cfg: TrainCfg,
    settings: Mapping[str, OptimGroupCfg],
    fused: bool = False,
) -> dict[str, torch.optim.AdamW]:
    """One AdamW per loss key, with `cfg`'s lr, betas and weight decay, or the key's own entry of `settings`.

    Args:
        model: the module the parameters belong to (their names decide decay / no-decay, see `decay_groups`).
        param_sets: loss key -> parameters it trains (`groups(model)`).
        cfg: the run's optimiser settings.
        settings: loss key -> its own settings; keys absent here use `cfg`'s.
        fused: use the fused CUDA kernel.

    Returns:
        Loss key -> optimiser; each param group's "lr" is the key's base learning rate (before the schedule).

    Raises:
        ValueError: `settings` names a key that `param_sets` lacks (a misspelt or misplaced entry would else be
            silently ignored).
    """
    unknown = sorted(set(settings) - set(param_sets))
    if unknown:
        raise ValueError(
            f"optimiser settings are given for {unknown}, but the model's optimiser groups are {sorted(param_sets)}: "
            "name only keys of the model's optim_groups() in the `optim` params entry"
        )
    optimizers = {}
    for key, params in param_sets.items():
        own = settings.get(key)
        if own is None:
            lr, betas, decay = cfg.lr, cfg.betas, cfg.weight_decay
        else:
            lr, betas, decay = cfg.lr * own.lr_scale, own.betas, own.weight_decay
        optimizers[key] = torch.optim.AdamW(decay_groups(model, params, decay), lr=lr, betas=tuple(betas), fused=fused)
    return optimizers


def lr_factor(step: int, warmup: int, total: int, schedule: str) -> float:
    """Multiplier on the base learning rate at `step` (0-based): linear warmup, then constant or half-cosine to 0."""
    if step < warmup:
        return (step + 1) / warmup
    if schedule == "constant":
        return 1.0
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def shard_batches(n: int, micro: int, seed: int, rank: int, world: int, start: int) -> Iterator[list[int]]:
    """Index lists for micro-batches, forever: epoch e shuffles with seed (seed, e), rank r takes every world-th.

    The order is a pure function of (seed, epoch, position), so a resume at micro-batch `start`
    continues exactly where the interrupted run was, without replaying data.
    """
    per_rank = n // world
    per_epoch = per_rank // micro
    if per_epoch == 0:
        raise ValueError(f"dataset of {n} images is too small for {world} rank(s) x micro-batch {micro}")
    epoch, offset = divmod(start, per_epoch)
    while True:
        g = torch.Generator().manual_seed(seed * 1_000_003 + epoch)
        order = torch.randperm(n, generator=g)[rank : per_rank * world : world].tolist()
        for b in range(offset, per_epoch):
            yield order[b * micro : (b + 1) * micro]
        epoch, offset = epoch + 1, 0


def _to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device, non_blocking=True) if torch.is_tensor(v) else v for k, v in batch.items()}


def train(
    model: nn.Module,
    loss_fn: LossFn,
    dataset: Dataset,
    cfg: TrainCfg,
    out_dir: str | Path,
    *,
    seed: int,
    dist: DistInfo,
    groups: GroupsFn = default_groups,
    group_settings: Mapping[str, OptimGroupCfg] | None = None,
    signature: Any = None,
    desc: str = "train",
) -> TrainResult:
    """Train `model` for `cfg.steps` optimiser steps, resuming from `out_dir/ckpt` if a compatible checkpoint exists.

    Args:
        model: the module to train, on CPU; moved to `dist.device` here.
        loss_fn: `(model, batch, step) -> dict` of scalar tensors; every key of `groups(model)` must be present.
        dataset: items are dicts of tensors (e.g. `{"image": (3, H, W), "label": ()}`).
        cfg: optimiser, schedule, budget, precision and checkpoint settings.
        out_dir: checkpoints go to `out_dir/ckpt`, dvclive metrics and plots to `out_dir/live`.
        seed: base seed; rank r uses seed + r for its own randomness (masking, noise).
        dist: rank, world size and device from `bench.dist.setup`.
        groups: loss key -> parameters it optimises (one AdamW per key).
        group_settings: loss key -> its own optimiser settings where they differ from `cfg` (see
            `build_optimizers`); part of what a checkpoint must match to be resumed.
        signature: anything JSON-like that identifies the run beyond `cfg` (model and objective settings);
            a checkpoint made with another signature, cfg or seed is not resumed.
        desc: progress-bar label.

    Returns:
        The trained model, its EMA (or None), the final step, the last logged metrics and the plateau verdict.

    Raises:
        FloatingPointError: a loss became NaN/Inf; the last good checkpoint stays on disk.
    """
    out_dir, ckpt_dir = Path(out_dir), Path(out_dir) / "ckpt"
    model.to(dist.device)
    param_sets = groups(model)
    group_settings = dict(group_settings or {})
    optimizers = build_optimizers(model, param_sets, cfg, group_settings, fused=dist.device.type == "cuda")
    base_lr = {k: opt.param_groups[0]["lr"] for k, opt in optimizers.items()}
    ema = (
        AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(cfg.ema_decay), use_buffers=True)
        if cfg.ema_decay
        else None
    )

    step, resumed, before_s = 0, False, 0.0
    history: list[float] = []  # per-step "loss" on this rank, for the plateau verdict; checkpointed for resume
    step_s: list[float] = []  # per-step seconds, for `steady_time_s`; checkpointed for resume
    # What else decides the weights: the code (see `code_fingerprint`) and, on the CPU, the kernels and thread count
    # (oneDNN and ATen split reductions by thread; `runtime.cpu_isa` picks the kernels).
    made_by = {"code": code_fingerprint(), "device": dist.device.type}
    if dist.device.type == "cpu":
        made_by |= {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads()}
    latest = latest_checkpoint(ckpt_dir)
    if latest is not None:
        state = load_checkpoint(latest)
        same = state.get("params") == as_dict(cfg) and state.get("groups") == as_dict(group_settings)
        if not same or state.get("seed") != seed or state.get("signature") != signature:
            log.warning("ignoring %s: it was trained with other settings; starting from step 0", latest)
        elif state.get("made_by") != made_by:
            log.warning(
                "ignoring %s: it was made by other code, kernels or thread count (%s, now %s); starting from step 0",
                latest,
                {k: v for k, v in (state.get("made_by") or {}).items() if k != "code"},
                {k: v for k, v in made_by.items() if k != "code"},
            )
        else:
            model.load_state_dict(state["model"])
            for key, opt in optimizers.items():
                opt.load_state_dict(state["opt"][key])
            if ema is not None:
                ema.load_state_dict(state["ema"])
            step, resumed = int(state["step"]), True
            history = state["loss_history"].tolist()
            step_s = state["step_seconds"].tolist()
            before_s = float(state["train_s"])
            log.info("resumed from %s at step %d (%.1f s of training before it)", latest, step, before_s)
    torch.manual_seed(seed + dist.rank)

    runner: nn.Module = _LossModule(model, loss_fn)
    if dist.world_size > 1:
        runner = DistributedDataParallel(runner, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    micro = cfg.batch_size // (cfg.grad_accum * dist.world_size)
    if micro * cfg.grad_accum * dist.world_size != cfg.batch_size:
        raise ValueError(
            f"batch_size {cfg.batch_size} is not divisible by grad_accum {cfg.grad_accum} "
            f"x world size {dist.world_size}: change diffusion/autoencoder train.batch_size or grad_accum"
        )
    batches = shard_batches(len(dataset), micro, seed, dist.rank, dist.world_size, start=step * cfg.grad_accum)
    loader = iter(
        DataLoader(dataset, batch_sampler=batches, num_workers=cfg.num_workers, pin_memory=dist.device.type == "cuda")
    )
    if resumed:
        # Restored only now: creating the loader iterator above draws from the global RNG.
        set_rng_state(state["rng"])
    # bf16 autocast on the CPU too: oneDNN runs a conv autoencoder's training step 1.5x faster in bf16 on a CPU with
    # AVX512-BF16 or AMX (benchmarks/cpu_speed.py); on one without, it emulates (correct, slower). Weights and
    # optimiser state stay fp32. CPU autocast keeps fewer ops in fp32 than CUDA's: the loss functions (mse_loss, ...)
    # but not pow / exp / softmax / group_norm / layer_norm, which run in bf16 (a VAE's KL terms included).
    autocast = torch.autocast(dist.device.type, dtype=torch.bfloat16, enabled=cfg.precision == "bf16")

    live = open_live(out_dir / "live", resume=resumed) if dist.is_main else None
    bar = tqdm(total=cfg.steps, initial=step, desc=desc, disable=not dist.is_main, unit="step")
    sums: dict[str, float] = {}
    last: dict[str, float] = {}
    start_time = time.perf_counter()
    runner.train()
    while step < cfg.steps:
        factor = lr_factor(step, cfg.warmup_steps, cfg.steps, cfg.lr_schedule)
        for key, opt in optimizers.items():
            for g in opt.param_groups:
                g["lr"] = base_lr[key] * factor
        for opt in optimizers.values():
            opt.zero_grad(set_to_none=True)
        history.append(0.0)
        step_start = time.perf_counter()
        for micro_step in range(cfg.grad_accum):
            batch = _to_device(next(loader), dist.device)
            sync = micro_step == cfg.grad_accum - 1 or dist.world_size == 1
            ctx = runner.no_sync() if not sync else torch.enable_grad()
            with ctx, autocast:
                out = runner(batch, step)
                total = sum(out[key] for key in optimizers) / cfg.grad_accum
            if not torch.isfinite(total):
                bad = {k: float(v.detach()) for k, v in out.items()}
                raise FloatingPointError(
                    f"{desc}: non-finite loss at step {step} ({bad}); last good checkpoint: "
                    f"{latest_checkpoint(ckpt_dir) or 'none'}. Lower the learning rate or enable grad_clip."
                )
            total.backward()
            for k, v in out.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) / cfg.grad_accum
            history[-1] += float(out[LOSS_KEY].detach()) / cfg.grad_accum
        if cfg.grad_clip > 0:
            for key in optimizers:
                sums[f"grad_norm/{key}"] = sums.get(f"grad_norm/{key}", 0.0) + float(
                    torch.nn.utils.clip_grad_norm_(param_sets[key], cfg.grad_clip)
                )
        for opt in optimizers.values():
            opt.step()
        if ema is not None:
            ema.update_parameters(model)
        step_s.append(time.perf_counter() - step_start)
        step += 1
        bar.update(1)

        if step % cfg.log_every == 0 or step == cfg.steps:
            n = cfg.log_every if step % cfg.log_every == 0 else step % cfg.log_every
            last = reduce_mean({k: v / n for k, v in sums.items()}, dist)
            last["lr"] = base_lr[next(iter(base_lr))] * factor
            sums = {}
            if live is not None:
                live.step = step
                for k, v in last.items():
                    live.log_metric(f"{desc}/{k}", v)
                live.next_step()
                bar.set_postfix({k: f"{v:.4g}" for k, v in last.items() if "/" not in k})
        if dist.is_main and (step % cfg.ckpt_every == 0 or step == cfg.steps):
            state = {
                "model": model.state_dict(),
                "ema": ema.state_dict() if ema is not None else None,
                "opt": {k: o.state_dict() for k, o in optimizers.items()},
                "step": step,
                "rng": rng_state(),
                "params": as_dict(cfg),
                "groups": as_dict(group_settings),
                "loss_history": torch.tensor(history, dtype=torch.float64),
                "step_seconds": torch.tensor(step_s, dtype=torch.float64),
                "seed": seed,
                "signature": signature,
                "made_by": made_by,
                "train_s": before_s + time.perf_counter() - start_time,
            }
            save_checkpoint(ckpt_dir / ckpt_name(step), state)
            prune_checkpoints(ckpt_dir, KEEP_CHECKPOINTS)
    bar.close()
    if live is not None:
        live.end()
    return TrainResult(
        model=model,
        ema=ema.module if ema is not None else None,
        step=step,
        metrics=last,
        wall_time_s=before_s + time.perf_counter() - start_time,
        steady_time_s=statistics.median(step_s) * len(step_s) if step_s else 0.0,
        plateau=plateau(history, cfg.plateau),
    )


def with_lr(cfg: TrainCfg, lr: float) -> TrainCfg:
    """`cfg` with another base learning rate (each autoencoder variant sets its own)."""
    return replace(cfg, lr=lr)
