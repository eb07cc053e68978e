"""Tests of `bench/efficiency.py`: FLOP counts against closed forms (Linear, Conv2d, a ViT block's attention),
parameter / size counts against hand arithmetic, the autoencoder size convention (VMAE: positional tables in,
mask token out; SD-VAE: discriminator out), and the timers returning sane numbers. CPU only, a few seconds.

Run: .venv/bin/python -m pytest tests/test_efficiency.py -q
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import Block
from torch import nn

from autoencoders.sdvae import SDVAE
from autoencoders.vmae import VMAE
from bench.config import ConvArchCfg, SDVAELossCfg, ViTArchCfg, VMAELossCfg
from bench.efficiency import (
    autoencoder_size,
    count_flops,
    encode_decode_gflops,
    flops,
    matmul_peak_gflops,
    parameter_count,
    size_mib,
    throughput,
    train_step_flops,
    train_step_throughput,
)

TINY_VIT = ViTArchCfg(
    patch_size=8, width=32, depth=1, heads=2, decoder_width=32, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0,
    latent_channels=4,
)  # fmt: skip
NO_PERCEPTUAL = VMAELossCfg(
    mask_ratio=0.25, visible_weight=1.0, masked_weight=0.33, perceptual_weight=0.0, reg_weight=1e-3, reg_std=1.0,
    finetune_perceptual_weight=0.0,
)  # fmt: skip
SIZE = 32


@pytest.fixture(autouse=True)
def one_thread(single_thread):
    """Tiny ops on a shared 2-core machine: intra-op threads only add spin-waiting (see conftest.single_thread)."""


def tiny_vmae() -> VMAE:
    torch.manual_seed(0)
    return VMAE(TINY_VIT, NO_PERCEPTUAL, None, SIZE)


# --- FLOPs against closed forms -------------------------------------------------------------------


def test_linear_flops_closed_form():
    n, a, b = 5, 7, 3
    assert flops(nn.Linear(a, b), torch.randn(n, a)) == 2 * n * a * b  # bias adds are not counted


def test_conv2d_flops_closed_form():
    n, cin, cout, k, stride, size = 2, 3, 4, 3, 2, 9
    conv = nn.Conv2d(cin, cout, k, stride=stride, padding=1)
    out = (size + 2 - k) // stride + 1
    assert flops(conv, torch.randn(n, cin, size, size)) == 2 * n * cout * out * out * cin * k * k


def test_fused_attention_is_counted():
    b, h, length, d = 2, 3, 16, 8
    q = torch.randn(b, h, length, d)
    counts, _ = count_flops(F.scaled_dot_product_attention, q, q, q)
    assert counts["total"] == counts["attention"] == 4 * b * h * length * length * d  # QK^T and AV


def test_vit_block_flops_split_into_linear_and_attention():
    batch, length, width, ratio = 2, 10, 32, 2.0
    block = Block(width, 2, ratio, qkv_bias=True)
    with torch.no_grad():
        counts, _ = count_flops(block, torch.randn(batch, length, width))
    hidden = int(width * ratio)
    linear = 2 * batch * length * (width * 3 * width + width * width + 2 * width * hidden)  # qkv, proj, fc1 + fc2
    attention = 4 * batch * length * length * width  # all heads: 2 matmuls of L x L x d_head per head
    assert counts["attention"] == attention
    assert counts["total"] == linear + attention


def test_backward_counted_when_fn_runs_it():
    n, a, b = 4, 6, 5
    layer = nn.Linear(a, b)
    x = torch.randn(n, a, requires_grad=True)
    total = flops(lambda: layer(x).sum().backward())
    assert total == 3 * 2 * n * a * b  # forward, grad wrt input, grad wrt weight


# --- parameters and size --------------------------------------------------------------------------


def test_parameter_count_and_size_by_hand():
    model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4))
    # Linear 3*4 + 4, BatchNorm weight + bias 4 + 4; buffers: running mean + var 4 + 4, num_batches_tracked (int).
    assert parameter_count(model) == 24
    assert parameter_count(model, exclude_prefixes=("1",)) == 16
    assert parameter_count(model, exclude_prefixes=("0.weight",)) == 12
    model[0].weight.requires_grad_(False)
    assert parameter_count(model, trainable_only=True) == 12
    assert size_mib(model, include_buffers=False) == 24 * 4 / 2**20
    assert size_mib(model) == (24 + 8) * 4 / 2**20  # the integer counter never counts
    assert size_mib(model.to(torch.float16)) == (24 + 8) * 4 / 2**20  # fp32 bytes whatever the storage dtype


def test_vmae_size_has_positional_tables_not_mask_token():
    model = tiny_vmae()
    size = autoencoder_size(model, SIZE)
    assert size["excluded"] == ["mask_token"]
    tokens = (SIZE // TINY_VIT.patch_size) ** 2
    params = sum(p.numel() for p in model.parameters()) - TINY_VIT.decoder_width
    assert size["params"] == params
    assert size["mib"] == (params + tokens * (TINY_VIT.width + TINY_VIT.decoder_width)) * 4 / 2**20


def test_sdvae_size_leaves_out_discriminator():
    arch = ConvArchCfg(block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, latent_channels=4)
    loss = SDVAELossCfg(1.0, 1e-6, 0.5, 1.0, disc_start=0, disc_layers=2, disc_channels=8)
    with torch.device("meta"):  # the trace needs shapes only
        model = SDVAE(arch, loss, nn.Identity())
    size = autoencoder_size(model, 16)
    assert {n.split(".")[0] for n in size["excluded"]} == {"discriminator"}
    assert size["params"] == parameter_count(model, exclude_prefixes=("discriminator",))
    assert size["mib"] == size["params"] * 4 / 2**20  # no float buffers outside the discriminator


def test_encode_decode_gflops_parts_and_mode_restored():
    model = tiny_vmae().train()
    g = encode_decode_gflops(model, SIZE)
    assert model.training
    assert g["total"] == pytest.approx(g["encode"] + g["decode"])
    assert 0 < g["encode_attention"] < g["encode"] and 0 < g["decode_attention"] < g["decode"]
    tokens = (SIZE // TINY_VIT.patch_size) ** 2
    assert g["encode_attention"] == pytest.approx(4 * tokens * tokens * TINY_VIT.width * TINY_VIT.depth * 1e-9)


# --- timers ---------------------------------------------------------------------------------------


def test_timers_return_positive_finite_numbers():
    x = torch.randn(8, 16)
    ips = throughput(lambda: x @ x.T, batch=8, warmup=1, repeats=2)
    assert math.isfinite(ips) and ips > 0
    peak = matmul_peak_gflops(n=64, repeats=2)
    assert math.isfinite(peak) and peak > 0


def test_train_step_throughput_and_flops():
    model = tiny_vmae()
    batch = {"image": torch.rand(2, 3, SIZE, SIZE) * 2 - 1}

    def loss_fn(m, b, step):
        return m.loss(b, step)

    before = model.blocks[0].attn.qkv.weight.detach().clone()
    ips, ms = train_step_throughput(model, loss_fn, batch, steps=1, warmup=1, groups=model.optim_groups())
    assert math.isfinite(ips) and ips > 0 and ms == pytest.approx(2 / ips * 1e3)
    assert not torch.equal(before, model.blocks[0].attn.qkv.weight)  # the optimiser really stepped
    step_flops = train_step_flops(model, loss_fn, batch, groups=model.optim_groups())
    assert step_flops > 0 and all(p.grad is None for p in model.parameters())
