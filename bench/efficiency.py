"""Efficiency measures for the paper's Table 2 (size, GFLOPs) and for throughput benchmarks: pure functions of a
model or a callable, no params reading.

Conventions, stated once:
- Size is fp32 bytes / 2^20 (MiB) of parameters and floating-point buffers, whatever their storage dtype;
  integer bookkeeping buffers (BatchNorm's `num_batches_tracked`) are never counted. An autoencoder's size
  (`autoencoder_size`) counts exactly the tensors that encode + decode read, found by tracing one call: VMAE's
  fixed positional tables (buffers) are in, its pre-training mask token is out (the paper's "42.7 MB" is
  10.80 M parameters + the two 1024 x 192 tables), the SD-VAE discriminator is out (training-only critic), and a
  perceptual network is never a submodule of an autoencoder, so never counted. The conv baselines' "319.7 MB"
  is all of their parameters.
- FLOPs are counted by `torch.utils.flop_counter.FlopCounterMode`: 2 per multiply-accumulate of matmuls and
  convolutions; norms, activations, softmax and elementwise ops count 0. Attention runs under the math SDPA
  backend while counting, because the fused CPU kernel is invisible to the counter (it counts 0 FLOPs); the math
  backend decomposes into two batched matmuls, 4 * B * heads * Lq * Lk * d_head FLOPs forward.
- Timings synchronise CUDA around the timed region; CPU numbers depend on threads and machine load, so
  `host_note()` belongs beside every printed timing.

Import only: `benchmarks/ae_bench.py` and `benchmarks/dit_bench.py` use it; the eval_ae stage reports with it.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from bench.loop import LossFn

FP32_BYTES = 4
MIB = 2**20
BENCH_LR = 1e-6  # timing only: small enough that a few AdamW steps cannot diverge; the value has no effect on cost


# --- size ---------------------------------------------------------------------------------------


def _excluded(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p if p.endswith(".") else p + ".") for p in prefixes)


def parameter_count(model: nn.Module, exclude_prefixes: Iterable[str] = (), trainable_only: bool = False) -> int:
    """Number of parameter values.

    Args:
        model: any module.
        exclude_prefixes: dotted names (a parameter, or a submodule such as "discriminator") to leave out.
        trainable_only: count only parameters with `requires_grad`.
    """
    prefixes = tuple(exclude_prefixes)
    return sum(
        p.numel()
        for n, p in model.named_parameters()
        if not _excluded(n, prefixes) and (p.requires_grad or not trainable_only)
    )


def size_mib(model: nn.Module, include_buffers: bool = True, exclude_prefixes: Iterable[str] = ()) -> float:
    """fp32 size in MiB (bytes / 2^20) of the parameters, plus floating-point buffers when `include_buffers`.

    Args:
        model: any module; every value counts 4 bytes, whatever dtype it is stored in.
        include_buffers: add floating-point buffers (e.g. fixed positional tables); integer buffers never count.
        exclude_prefixes: dotted names of parameters, buffers or submodules to leave out.
    """
    prefixes = tuple(exclude_prefixes)
    n = parameter_count(model, prefixes)
    if include_buffers:
        n += sum(b.numel() for k, b in model.named_buffers() if b.is_floating_point() and not _excluded(k, prefixes))
    return n * FP32_BYTES / MIB


def _tensors(obj: Any) -> Iterable[torch.Tensor]:
    """The tensors inside nested lists / tuples / dicts of call arguments (e.g. `torch.cat([a, b])`)."""
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


class _TensorReads(TorchFunctionMode):
    """Records the identity of every tensor handed to a torch function (parameters and buffers arrive as themselves:
    `F.linear(x, self.weight, self.bias)`, `h + self.pos_embed`)."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: set[int] = set()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.seen.update(id(t) for t in _tensors((args, kwargs)))
        return func(*args, **kwargs)


def unread_state(model: nn.Module, fn: Callable[..., Any], *inputs: Any) -> list[str]:
    """Names of the parameters and buffers of `model` that `fn(*inputs)` never reads (traced, works on meta)."""
    with torch.no_grad(), _TensorReads() as reads:
        fn(*inputs)
    state = list(model.named_parameters()) + list(model.named_buffers())
    return [n for n, t in state if id(t) not in reads.seen]


def autoencoder_size(model: nn.Module, image_size: int) -> dict[str, Any]:
    """Parameters and fp32 MiB of what an autoencoder uses at inference: every tensor encode + decode read.

    Args:
        model: an `autoencoders.base.Autoencoder` (may live on the meta device).
        image_size: square image side in pixels for the one traced call (batch 1, eval mode, no masking).

    Returns:
        {"params": int, "mib": float, "excluded": list of the unread parameter / buffer names}.
    """
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, image_size, image_size, device=_device_of(model))
    excluded = unread_state(model, lambda: model.decode(model.encode(x).mode()))
    model.train(was_training)
    return {
        "params": parameter_count(model, excluded),
        "mib": size_mib(model, include_buffers=True, exclude_prefixes=excluded),
        "excluded": excluded,
    }


# --- FLOPs ----------------------------------------------------------------------------------------


class _AttentionShare(TorchFunctionMode):
    """Attributes the FLOPs counted inside each `F.scaled_dot_product_attention` call (forward) to attention."""

    def __init__(self, counter: FlopCounterMode) -> None:
        super().__init__()
        self.counter, self.flops = counter, 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func is not F.scaled_dot_product_attention:
            return func(*args, **kwargs)
        before = self.counter.get_total_flops()
        out = func(*args, **kwargs)
        self.flops += self.counter.get_total_flops() - before
        return out


def count_flops(fn: Callable[..., Any], *inputs: Any) -> tuple[dict[str, float], Any]:
    """FLOPs of everything `fn(*inputs)` executes (forward, and backward if `fn` runs one), and its result.

    Returns:
        ({"total": FLOPs, "attention": FLOPs inside forward SDPA calls}, fn's return value).
    """
    with sdpa_kernel(SDPBackend.MATH), FlopCounterMode(display=False) as counter, _AttentionShare(counter) as share:
        out = fn(*inputs)
    return {"total": float(counter.get_total_flops()), "attention": float(share.flops)}, out


def flops(fn: Callable[..., Any], *inputs: Any) -> float:
    """FLOPs of `fn(*inputs)`; run it under `torch.no_grad()` for a forward-only count (see `count_flops`)."""
    return count_flops(fn, *inputs)[0]["total"]


def encode_decode_gflops(model: nn.Module, image_size: int) -> dict[str, float]:
    """GFLOPs per image of encode (posterior mean) and decode: batch 1, eval mode, no masking, no gradients.

    Args:
        model: an autoencoder on any device, meta included (counting needs no values).
        image_size: square image side in pixels.

    Returns:
        {"encode", "decode", "total", "encode_attention", "decode_attention"} in GFLOPs (10^9 FLOPs); the
        `_attention` entries are the SDPA share of encode / decode (attention-score and value matmuls).
    """
    was_training = model.training
    model.eval()
    x = torch.zeros(1, 3, image_size, image_size, device=_device_of(model))
    with torch.no_grad():
        enc, z = count_flops(lambda: model.encode(x).mode())
        dec, _ = count_flops(model.decode, z)
    model.train(was_training)
    g = 1e-9
    return {
        "encode": enc["total"] * g,
        "decode": dec["total"] * g,
        "total": (enc["total"] + dec["total"]) * g,
        "encode_attention": enc["attention"] * g,
        "decode_attention": dec["attention"] * g,
    }


# --- timing ---------------------------------------------------------------------------------------


def _device_of(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def synchronize(device: torch.device | str) -> None:
    """Wait for queued CUDA work (a no-op on CPU), so wall-clock intervals cover the kernels themselves."""
    device = torch.device(device)
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak_gflops(
    n: int = 2048, repeats: int = 5, device: torch.device | str = "cpu", dtype: torch.dtype = torch.float32
) -> float:
    """Best-of-`repeats` GFLOP/s of an n x n `torch.mm` (2 n^3 FLOPs): the attainable peak on this device."""
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    torch.mm(a, b)  # warm-up: kernel selection, page faults, thread pool start
    best = math.inf
    for _ in range(repeats):
        synchronize(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        synchronize(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best * 1e-9


def throughput(
    fn: Callable[[], Any], batch: int, warmup: int = 1, repeats: int = 3, device: torch.device | str = "cpu"
) -> float:
    """Images per second of `fn()`, which processes `batch` images per call.

    Each of the `repeats` calls is timed on its own (CUDA synchronised before and after) and the median is kept:
    on a shared CPU, other jobs stall some calls many times over, and the median ignores those stalls.
    """
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return batch / statistics.median(times)


def _forward_backward(model: nn.Module, loss_fn: LossFn, batch: dict[str, Any], step: int, keys: Iterable[str]) -> None:
    out = loss_fn(model, batch, step)
    sum(out[k] for k in keys).backward()  # as bench/loop.py: one backward of the summed optimised losses


def _groups(model: nn.Module, groups: dict[str, list[nn.Parameter]] | None) -> dict[str, list[nn.Parameter]]:
    return groups if groups is not None else {"loss": [p for p in model.parameters() if p.requires_grad]}


def train_step_flops(
    model: nn.Module,
    loss_fn: LossFn,
    batch: dict[str, Any],
    step: int = 0,
    groups: dict[str, list[nn.Parameter]] | None = None,
) -> float:
    """FLOPs of one training step's forward + backward (the optimiser update is not counted).

    Args:
        model, loss_fn, batch, step, groups: as for `train_step_throughput`.
    """
    model.train()
    total = flops(_forward_backward, model, loss_fn, batch, step, list(_groups(model, groups)))
    model.zero_grad(set_to_none=True)
    return total


def train_step_throughput(
    model: nn.Module,
    loss_fn: LossFn,
    batch: dict[str, Any],
    steps: int,
    *,
    warmup: int = 1,
    step: int = 0,
    groups: dict[str, list[nn.Parameter]] | None = None,
) -> tuple[float, float]:
    """Time full training steps (forward, backward, AdamW update per loss key) as `bench/loop.py` runs them.

    Args:
        model: in train mode on the batch's device; its weights change (learning rate `BENCH_LR`).
        loss_fn: `(model, batch, step) -> dict` of scalar tensors (`bench.loop.LossFn`).
        batch: {"image": (B, 3, H, W) in [-1, 1], ...} on the device to time.
        steps: timed steps, after `warmup` untimed ones.
        step: the global step handed to `loss_fn` (e.g. past an adversarial start so every term is on).
        groups: loss key -> parameters it trains (e.g. `model.optim_groups()`); default "loss" -> all trainable.

    Returns:
        (images per second, milliseconds per step).
    """
    param_sets = _groups(model, groups)
    device = batch["image"].device
    opts = [torch.optim.AdamW(ps, lr=BENCH_LR, fused=device.type == "cuda") for ps in param_sets.values() if ps]
    model.train()

    def one_step() -> None:
        for opt in opts:
            opt.zero_grad(set_to_none=True)
        _forward_backward(model, loss_fn, batch, step, param_sets)
        for opt in opts:
            opt.step()

    ips = throughput(one_step, batch["image"].shape[0], warmup, steps, device)
    return ips, batch["image"].shape[0] / ips * 1e3


def host_note(device: torch.device | str = "cpu") -> str:
    """One line describing what timings depend on: the device, torch threads and the 1/5/15-min load average."""
    device = torch.device(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"cpu ({os.cpu_count()} cores)"
    load = "/".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "n/a"
    return f"{name}; torch threads {torch.get_num_threads()}; load average {load}"
