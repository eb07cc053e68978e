"""Tests of the autoencoders package: the interface over the whole registry (tiny widths, 32 px), the objectives'
parts against closed forms, VMAE masking / phases / positional resizing. The paper-scale sizes and the importers
are in test_pretrained.py. CPU only, well under a minute.

Run: .venv/bin/python -m pytest tests/test_autoencoders.py -q
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import autoencoders
from autoencoders import REGISTRY, build_autoencoder
from autoencoders.base import Autoencoder
from autoencoders.losses import corrupt, kl_free_mean, kl_standard_normal
from bench.config import (
    AutoencodersCfg,
    ConvArchCfg,
    DAELossCfg,
    KLCfg,
    PhasesCfg,
    PlateauCfg,
    SDVAELossCfg,
    TrainCfg,
    VariantCfg,
    ViTArchCfg,
    VMAELossCfg,
    load_params,
)
from bench.layers import patchify, resize_pos_embed, sincos_2d, unpatchify

SIZE = 32
KINDS = sorted(REGISTRY)
REPO = Path(__file__).resolve().parents[1]

TINY_CONV = ConvArchCfg(block_out_channels=(8, 16, 16), layers_per_block=1, norm_num_groups=4, latent_channels=4)
TINY_VIT = ViTArchCfg(
    patch_size=8, width=32, depth=1, heads=2, decoder_width=32, decoder_depth=1, decoder_heads=2, mlp_ratio=2.0,
    latent_channels=4,
)  # fmt: skip
PAPER_CONV = ConvArchCfg(
    block_out_channels=(128, 256, 512, 512), layers_per_block=2, norm_num_groups=32, latent_channels=16
)
PAPER_VIT = ViTArchCfg(
    patch_size=8, width=192, depth=12, heads=12, decoder_width=192, decoder_depth=12, decoder_heads=12, mlp_ratio=4.0,
    latent_channels=16,
)  # fmt: skip
PHASES = PhasesCfg(pretrain_downscale=1, finetune_fraction=0.0, finetune="decoder", finetune_lr=1e-5)
VMAE_LOSS = VMAELossCfg(
    mask_ratio=0.5, visible_weight=1.0, masked_weight=0.33, perceptual_weight=0.67, reg_weight=1e-3, reg_std=1.0,
    finetune_perceptual_weight=1.0,
)  # fmt: skip
OBJECTIVES = {
    "ae": {},
    "dae": {"dae": DAELossCfg(noise="gaussian", level=0.1)},
    "vae": {"vae": KLCfg(weight=1e-3)},
    "sd-vae": {"sdvae": SDVAELossCfg(1.0, 1e-6, 0.5, 1.0, disc_start=0, disc_layers=2, disc_channels=8)},
    "vmae": {"vmae": VMAE_LOSS},
}


def variant(kind: str, **objective) -> VariantCfg:
    blocks = {"dae": None, "vae": None, "sdvae": None, "vmae": None} | (objective or OBJECTIVES[kind])
    v = VariantCfg(kind=kind, lr=1e-3, optim={}, phases=PHASES, **blocks)
    v.check()
    return v


def section(variants: dict[str, VariantCfg]) -> AutoencodersCfg:
    train = TrainCfg(
        steps=2, batch_size=2, grad_accum=1, lr=1e-3, lr_schedule="constant", warmup_steps=0, weight_decay=0.0,
        betas=(0.9, 0.95), grad_clip=0.0, ema_decay=0.0, precision="fp32", ckpt_every=1, log_every=1, num_workers=0,
        plateau=PlateauCfg(smoothing=0.9, tail=0.2, threshold=0.01),
    )  # fmt: skip
    cfg = AutoencodersCfg(tuple(variants), ("shapes",), train, TINY_CONV, TINY_VIT, variants, {}, percep_own_scale=1.0)
    cfg.check()
    return cfg


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from intra-op threads, and on a loaded 2-core machine OpenMP spin-waiting makes a
    train step of the tiny conv AE ~50x slower (2.5 s vs 0.04 s measured). Restored after this module."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class TinyPerceptual(nn.Module):
    """Stand-in for LPIPS: squared feature distance of a frozen random conv layer, (B,) per image."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU())
        self.requires_grad_(False)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return (self.net(x) - self.net(y)).pow(2).mean(dim=(1, 2, 3))


def build(kind: str, seed: int = 0, **objective) -> Autoencoder:
    torch.manual_seed(seed)
    cfg = section({kind: variant(kind, **objective)})
    return build_autoencoder(kind, cfg, TinyPerceptual(), image_size=SIZE)


def images(n: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(n, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# --- the interface, over the registry -----------------------------------------------------------


def test_registry_validates_entries():
    assert set(REGISTRY) == {"ae", "dae", "vae", "sd-vae", "vmae"}
    with pytest.raises(ValueError, match="twice"):
        autoencoders._register([("ae", REGISTRY["ae"]), ("ae", REGISTRY["dae"])])
    with pytest.raises(ValueError, match="subclass"):
        autoencoders._register([("x", nn.Linear)])


@pytest.mark.parametrize("kind", KINDS)
def test_shapes(kind):
    model = build(kind).eval()
    post = model.encode(images())
    h = SIZE // model.downsample
    assert post.mean.shape == (2, model.latent_channels, h, h)
    assert post.logvar is None or post.logvar.shape == post.mean.shape
    assert post.sample().shape == post.mode().shape
    assert model.decode(post.mode()).shape == (2, 3, SIZE, SIZE)


@pytest.mark.parametrize("kind", KINDS)
def test_loss_finite(kind):
    out = build(kind).train().loss({"image": images()}, step=0)
    assert "loss" in out
    assert all(torch.isfinite(v).all() for v in out.values())
    assert set(build(kind).optim_groups()) <= set(out)


@pytest.mark.parametrize("kind", KINDS)
def test_encode_deterministic_in_eval(kind):
    model, x = build(kind).eval(), images()
    with torch.no_grad():
        torch.testing.assert_close(model.encode(x).mean, model.encode(x).mean, rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_state_dict_round_trip(kind, tmp_path):
    model, x = build(kind, seed=0).eval(), images()
    torch.save(model.state_dict(), tmp_path / "m.pt")
    fresh = build(kind, seed=1).eval()
    fresh.load_state_dict(torch.load(tmp_path / "m.pt", weights_only=True), strict=True)
    with torch.no_grad():
        torch.testing.assert_close(fresh(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize("kind", KINDS)
def test_decoder_finetuning_trains_decoder_only(kind):
    model = build(kind).train()
    model.set_phase("finetune_decoder")
    groups = model.optim_groups()
    out = model.loss({"image": images()}, step=0)
    for key, params in groups.items():
        torch.autograd.backward(out[key], inputs=params)
    names = {id(p): n for n, p in model.named_parameters()}
    trained = {names[id(p)] for p in groups["loss"]}
    if kind == "vmae":
        decoder_side = ("decoder", "from_latent")  # the release's set_for_tuning_decoder, without the mask token
    else:
        decoder_side = ("decoder",)
    assert trained == {n for n, _ in model.named_parameters() if n.startswith(decoder_side)}
    for n, p in model.named_parameters():
        if not n.startswith(decoder_side + ("discriminator",)):
            assert p.grad is None and not p.requires_grad, n
    assert all(p.grad is not None for p in groups["loss"])


# --- SD-VAE: the adversarial half -----------------------------------------------------------------


def test_sdvae_discriminator_is_optimised_and_isolated():
    model = build("sd-vae").train()
    groups = model.optim_groups()
    assert set(groups) == {"loss", "disc_loss"}
    disc_ids = {id(p) for p in model.discriminator.parameters()}
    assert not disc_ids & {id(p) for p in groups["loss"]}
    before = {n: p.detach().clone() for n, p in model.discriminator.named_parameters()}
    opts = {k: torch.optim.Adam(ps, lr=1e-3) for k, ps in groups.items()}
    out = model.loss({"image": images()}, step=0)
    assert out["d_weight"] > 0
    grads = torch.autograd.grad(out["disc_loss"], groups["loss"], retain_graph=True, allow_unused=True)
    assert all(g is None for g in grads)  # the generator never sees the discriminator's loss
    grads = torch.autograd.grad(out["loss"], groups["disc_loss"], retain_graph=True, allow_unused=True)
    assert all(g is None for g in grads)  # ...nor the discriminator the generator's
    (out["loss"] + out["disc_loss"]).backward()  # as bench.loop does: one backward, one optimiser per group
    for opt in opts.values():
        opt.step()
    # Every weight moves (the last bias may not: at init the hinge's real and fake terms cancel on it exactly).
    weights = [n for n in before if n.endswith("weight")]
    assert all(not torch.equal(dict(model.discriminator.named_parameters())[n], before[n]) for n in weights)


def test_sdvae_adversarial_terms_off_before_disc_start():
    cfg = SDVAELossCfg(1.0, 1e-6, 0.5, 1.0, disc_start=10, disc_layers=2, disc_channels=8)
    out = build("sd-vae", sdvae=cfg).train().loss({"image": images()}, step=9)
    assert out["disc_loss"].item() == 0.0 and out["d_weight"].item() == 0.0


def test_perceptual_network_required_and_not_registered():
    cfg = section({"sd-vae": variant("sd-vae")})
    with pytest.raises(ValueError, match="perceptual"):
        build_autoencoder("sd-vae", cfg, None, image_size=SIZE)
    no_p = VMAELossCfg(0.25, 1.0, 0.33, 0.0, 0.0, 1.0, 0.0)
    build_autoencoder("vmae", section({"vmae": variant("vmae", vmae=no_p)}), None, image_size=SIZE)
    model = build("sd-vae")
    assert not any(k.startswith("perceptual") for k in model.state_dict())


# --- VMAE -------------------------------------------------------------------------------------------


def test_vmae_masking_visible_tokens_only():
    model = build("vmae").train()
    seen = []
    model.blocks[0].register_forward_hook(lambda m, i, o: seen.append(i[0].shape[1]))
    num_tokens = (SIZE // TINY_VIT.patch_size) ** 2
    model.loss({"image": images()}, step=0)
    model.encode(images())
    assert seen == [int(num_tokens * (1 - VMAE_LOSS.mask_ratio)), num_tokens]  # training masks, encode never


def test_vmae_finetune_all_trains_encoder_but_not_mask_token():
    model = build("vmae").train()
    model.set_phase("finetune_all")
    trained = {id(p) for p in model.optim_groups()["loss"]}
    assert id(model.mask_token) not in trained
    assert all(id(p) in trained for p in model.encoder_parameters())


def test_pos_embed_resize_matches_interpolate():
    table = sincos_2d(32, 16).unsqueeze(0)  # (1, 256, 32)
    grid = table.reshape(1, 16, 16, 32).permute(0, 3, 1, 2)
    ref = F.interpolate(grid, size=(32, 32), mode="bilinear", align_corners=False).permute(0, 2, 3, 1)
    torch.testing.assert_close(resize_pos_embed(table, 32), ref.reshape(1, 1024, 32))
    model = build("vmae")
    old = model.pos_embed.clone()
    model.set_image_size(2 * SIZE)
    torch.testing.assert_close(model.pos_embed, resize_pos_embed(old, 2 * SIZE // TINY_VIT.patch_size))
    assert model.encode(torch.zeros(1, 3, 2 * SIZE, 2 * SIZE)).mean.shape[-1] == 2 * SIZE // TINY_VIT.patch_size


def test_patchify_round_trip_and_sincos_layout():
    x = images()
    torch.testing.assert_close(unpatchify(patchify(x, 8), 8, (4, 4)), x, rtol=0, atol=0)
    table = sincos_2d(8, (2, 3))  # MAE layout: first half encodes the column, second half the row
    torch.testing.assert_close(table[1, 4:], table[0, 4:])
    torch.testing.assert_close(table[3, :4], table[0, :4])


def test_kl_terms_match_closed_forms():
    g = torch.Generator().manual_seed(0)
    mu, logvar = torch.randn(64, generator=g), torch.randn(64, generator=g)
    std = torch.exp(0.5 * logvar)
    for s0 in (1.0, 1e-3):
        ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, std), torch.distributions.Normal(mu, s0))
        torch.testing.assert_close(kl_free_mean(logvar, s0), ref, rtol=1e-5, atol=1e-5)
    ref = torch.distributions.kl_divergence(torch.distributions.Normal(mu, std), torch.distributions.Normal(0.0, 1.0))
    torch.testing.assert_close(kl_standard_normal(mu, logvar), ref, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("noise", ["gaussian", "saltpepper", "mask"])
def test_dae_corruption(noise):
    x = torch.full((4, 3, 32, 32), 0.5)
    y = corrupt(x, noise, 0.3, generator=torch.Generator().manual_seed(0))
    frac = (y != x).any(dim=1).float().mean().item()
    assert frac == 1.0 if noise == "gaussian" else abs(frac - 0.3) < 0.05


# --- params.yaml ------------------------------------------------------------------------------------


def test_params_yaml_items_build():
    params = load_params(REPO / "params.yaml")
    cfg = params.autoencoders
    assert cfg.train_cfg("vmae").lr == cfg.variants["vmae"].lr
    for name in ("ae", "vmae-release"):  # one per family: constructing all nine would only repeat these
        model = build_autoencoder(name, cfg, TinyPerceptual(), image_size=params.data.resolution)
        assert model.downsample == 8 and model.latent_channels == 16
    release = cfg.variants["vmae-release"].vmae
    assert (release.visible_weight, release.masked_weight, release.perceptual_weight) == (0.75, 0.25, 0.5)
    assert release.reg_weight == 1e-6 and release.reg_std == 1e-3
    assert cfg.variants["vmae-release"].phases.finetune == "all"


def test_variant_check_enforces_the_kinds_block():
    with pytest.raises(ValueError, match="needs its 'vmae' block"):
        VariantCfg("vmae", 1e-3, {}, PHASES, None, None, None, None).check()
    with pytest.raises(ValueError, match="takes no 'dae' block"):
        VariantCfg("ae", 1e-3, {}, PHASES, DAELossCfg("gaussian", 0.1), None, None, None).check()
    assert math.isclose(build("vae").kl.weight, 1e-3)
