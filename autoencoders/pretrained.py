"""Importers for pretrained weights a user already has on disk (nothing is ever downloaded).

(a) The authors' released VMAE (`vmaef8d16.pth`, layout in `paper/vmae-release-checkpoint.md`): a torch pickle
    `{'model', 'optimizer', 'epoch', 'scaler', 'args'}`. It is read with `weights_only=True` and only
    `argparse.Namespace` allow-listed (for `args`); anything else in the pickle is refused. Key mapping: the
    identity (`RELEASE_KEY_MAP` is empty): our VMAE uses the release's parameter and buffer names. Handled
    differences, each logged: a decoder-tuned checkpoint has no `mask_token` (the model keeps its own, unused at
    inference); a 128-px stage-1 checkpoint has 16x16 positional tables, resized bilinearly to the model's grid.
(b) A diffusers `AutoencoderKL` (folder with config.json + weights, or a state dict). Our convolutional models
    are built from diffusers' own Encoder/Decoder, so `encoder.*` / `decoder.*` keys match one to one; the
    SD3 / FLUX layout (no quant convs) is supported, SD1/SDXL-style quant convs are refused. Latent scaling and
    shift factors in the config are ignored: normalisation belongs to the extract stage.

Usage:
    model = VMAE(arch, objective, perceptual, image_size=256); load_vmae_release(model, "weights/vmaef8d16.pth")
    arch = read_diffusers_arch("weights/sd3-vae"); model = SDVAE(arch, ...); load_diffusers_autoencoder(model, ...)
"""

from __future__ import annotations

import argparse
import json
import logging
from collections.abc import Mapping
from pathlib import Path

import torch
from safetensors.torch import load_file

from autoencoders.conv import ConvAutoencoder
from autoencoders.vmae import VMAE
from bench.ckpt import load_checkpoint
from bench.config import ConvArchCfg
from bench.layers import resize_pos_embed

log = logging.getLogger(__name__)

RELEASE_KEY_MAP: dict[str, str] = {}  # release name -> ours; empty: the names are identical
RELEASE_POS_TABLES = ("pos_embed", "decoder_pos_embed")
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


def safe_torch_load(path: str | Path) -> object:
    """`bench.ckpt.load_checkpoint` (weights_only=True) with `argparse.Namespace` allow-listed: the release's
    checkpoints carry their `args` as a Namespace. Anything else beyond tensors and containers is refused.

    Raises:
        FileNotFoundError: no such file.
        ValueError: the pickle needs anything beyond tensors, containers and Namespace (e.g. code to run).
    """
    return load_checkpoint(path, safe_globals=[argparse.Namespace])


def read_release_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """The `'model'` state dict of a released VMAE checkpoint, keys mapped to ours."""
    ckpt = safe_torch_load(path)
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("model"), dict):
        raise ValueError(f"'{path}' is not an LDMAE release checkpoint: expected a dict with a 'model' state dict")
    return {RELEASE_KEY_MAP.get(k, k): v for k, v in ckpt["model"].items()}


def load_vmae_release(model: VMAE, path: str | Path) -> list[str]:
    """Load the authors' VMAE checkpoint into `model` with `strict=True`.

    Args:
        model: a VMAE built with the release sizes (patch 8, width 192, 12 + 12 blocks, 16 latent channels).
        path: local `vmaef8d16.pth` (decoder-tuned) or a stage-1 `checkpoint-*.pth`.

    Returns:
        Notes on every deliberate difference handled (also logged); empty for an exact match.
    """
    state = read_release_state_dict(path)
    own = model.state_dict()
    notes = []
    if "mask_token" not in state:
        state["mask_token"] = own["mask_token"]
        notes.append("mask_token: absent (decoder-tuned checkpoint); kept the model's own, unused at inference")
    for key in RELEASE_POS_TABLES:
        if key in state and state[key].shape != own[key].shape:
            grid = int(round(own[key].shape[1] ** 0.5))
            notes.append(f"{key}: resized {tuple(state[key].shape)} -> {tuple(own[key].shape)} (bilinear)")
            state[key] = resize_pos_embed(state[key], grid)
    _raise_on_mismatch(set(own), set(state), path, hint="build the VMAE with the release sizes")
    model.load_state_dict(state, strict=True)
    for note in notes:
        log.info("load_vmae_release(%s): %s", path, note)
    return notes


def read_diffusers_arch(folder: str | Path) -> ConvArchCfg:
    """The `ConvArchCfg` of a local diffusers AutoencoderKL folder (its config.json).

    Raises:
        FileNotFoundError: no config.json.
        ValueError: not an AutoencoderKL in the SD3 layout (quant convs, other block types or activation).
    """
    config_path = Path(folder) / "config.json"
    if not config_path.is_file():
        raise FileNotFoundError(f"'{config_path}' not found: pass a folder written by AutoencoderKL.save_pretrained")
    cfg = json.loads(config_path.read_text())
    wanted = {
        "_class_name": "AutoencoderKL",
        "in_channels": 3,
        "out_channels": 3,
        "act_fn": "silu",
        "use_quant_conv": False,
        "use_post_quant_conv": False,
        "mid_block_add_attention": True,
    }
    bad = {k: cfg.get(k) for k, v in wanted.items() if cfg.get(k, v) != v}
    n = len(cfg["block_out_channels"])
    if cfg["down_block_types"] != ["DownEncoderBlock2D"] * n or cfg["up_block_types"] != ["UpDecoderBlock2D"] * n:
        bad["block_types"] = (cfg["down_block_types"], cfg["up_block_types"])
    if bad:
        raise ValueError(
            f"'{config_path}' is not the SD3 AutoencoderKL layout this suite builds: {bad} (want {wanted})"
        )
    return ConvArchCfg(
        block_out_channels=tuple(cfg["block_out_channels"]),
        layers_per_block=cfg["layers_per_block"],
        norm_num_groups=cfg["norm_num_groups"],
        latent_channels=cfg["latent_channels"],
    )


def load_diffusers_autoencoder(model: ConvAutoencoder, source: str | Path | Mapping[str, torch.Tensor]) -> list[str]:
    """Load a diffusers AutoencoderKL's encoder and decoder into one of our probabilistic conv models.

    Args:
        model: a VAE or SD-VAE built with `read_diffusers_arch(folder)`.
        source: the AutoencoderKL folder, or its `state_dict()`.

    Returns:
        Our keys left as they were (e.g. `discriminator.*`), also logged.
    """
    if not model.probabilistic:
        raise ValueError("AutoencoderKL encoders emit mean and log-variance: load into a 'vae' or 'sd-vae' model")
    state = dict(source) if isinstance(source, Mapping) else _read_diffusers_weights(Path(source))
    expected = {f"{part}.{k}" for part in ("encoder", "decoder") for k in getattr(model, part).state_dict()}
    _raise_on_mismatch(expected, set(state), source, hint="build the model with read_diffusers_arch(folder)")
    for part in ("encoder", "decoder"):
        prefix = f"{part}."
        sub = {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
        getattr(model, part).load_state_dict(sub, strict=True)
    kept = sorted(set(model.state_dict()) - expected)
    if kept:
        log.info("load_diffusers_autoencoder: %d keys not in an AutoencoderKL kept as initialised: %s", len(kept), kept)
    return kept


def _read_diffusers_weights(folder: Path) -> dict[str, torch.Tensor]:
    for name in DIFFUSERS_WEIGHTS:
        path = folder / name
        if path.is_file():
            return load_file(path) if path.suffix == ".safetensors" else safe_torch_load(path)
    raise FileNotFoundError(f"no weights in '{folder}': expected one of {list(DIFFUSERS_WEIGHTS)}")


def _raise_on_mismatch(expected: set[str], found: set[str], source: object, hint: str) -> None:
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise ValueError(f"'{source}' does not match the model ({hint}): missing {missing}, unexpected {unexpected}")
