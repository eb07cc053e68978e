"""Importers for pretrained autoencoders a user already has on disk (nothing is ever downloaded).

(a) The authors' released VMAE (`vmaef8d16.pth`, layout in `paper/vmae-release-checkpoint.md`): a torch pickle
    `{'model', 'optimizer', 'epoch', 'scaler', 'args'}`. It is read with `weights_only=True` and only
    `argparse.Namespace` allow-listed (for `args`); anything else in the pickle is refused. Key mapping: the
    identity (`RELEASE_KEY_MAP` is empty): our VMAE uses the release's parameter and buffer names.
    `build_vmae_release` reads the sizes from the tensors (widths, depths, patch, latent channels, positional
    grid; heads from the release's head width of 16), so the file alone defines the model. Handled differences,
    each logged: a decoder-tuned checkpoint has no `mask_token` (the model keeps its own, unused at inference);
    `load_vmae_release` into a model built for another size resizes the positional tables bilinearly (a 128-px
    stage-1 checkpoint, as the release's phase 2 does).
(b) A diffusers `AutoencoderKL` folder (`config.json` + weights, as `save_pretrained` writes it), built with
    diffusers' own class from its config and loaded strictly, so both layouts load exactly: with quant /
    post-quant convolutions (SD 1.x, SDXL) and without (SD3, FLUX). `DiffusersAutoencoder` puts it behind the
    suite's interface (`autoencoders.base.LatentAutoencoder`) through diffusers' own encode / decode. The latent
    `scaling_factor` / `shift_factor` of the config are reported (`latent_factors`), never applied: normalisation
    belongs to the extract stage, the same for every item.

Both models take images in [-1, 1] (diffusers' convention; the release normalises with mean = std = 0.5), the
suite's own range, so images pass through unchanged (`NATIVE_RANGE`).

Usage:
    vmae = build_vmae_release("weights/vmaef8d16.pth")
    vae = load_diffusers("weights/sd3-vae")  # DiffusersAutoencoder: encode -> Posterior, decode
"""

from __future__ import annotations

import argparse
import json
import logging
import re
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autoencoders.base import Posterior
from autoencoders.vmae import VMAE
from bench.ckpt import load_checkpoint
from bench.config import ViTArchCfg, VMAELossCfg
from bench.layers import resize_pos_embed

log = logging.getLogger(__name__)

NATIVE_RANGE = (-1.0, 1.0)  # input / output range of both formats (= the suite's: no conversion)
RELEASE_KEY_MAP: dict[str, str] = {}  # release name -> ours; empty: the names are identical
RELEASE_POS_TABLES = ("pos_embed", "decoder_pos_embed")
RELEASE_SIZE_KEYS = (
    "patch_embed.proj.weight",
    "pos_embed",
    "from_latent.weight",
    "decoder_embed.weight",
    "blocks.0.mlp.fc1.weight",
)
RELEASE_HEAD_DIM = 16  # mae_for_ldmae_f8d16_prev: width 192 over 12 heads, encoder and decoder
# Loaded for inference only: no masking, no loss terms (the training objective of the release is not needed).
INFERENCE_OBJECTIVE = VMAELossCfg(
    mask_ratio=0.0,
    visible_weight=1.0,
    masked_weight=0.0,
    perceptual_weight=0.0,
    reg_weight=0.0,
    reg_std=1.0,
    finetune_perceptual_weight=0.0,
)
DIFFUSERS_CONFIG = "config.json"
DIFFUSERS_WEIGHTS = ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")


# --- (a) the VMAE release ---------------------------------------------------------------------------------------------
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


def release_arch(state: dict[str, torch.Tensor], source: object) -> tuple[ViTArchCfg, int]:
    """The ViT sizes and image side of a release state dict, read from its tensors.

    Returns:
        (arch, image_size): image_size = positional grid side * patch (256 for `vmaef8d16.pth`).

    Raises:
        ValueError: a tensor the release always has is absent, or the widths are not whole 16-wide heads.
    """
    absent = [k for k in RELEASE_SIZE_KEYS if k not in state]
    if absent:
        raise ValueError(f"'{source}' is not a VMAE release state dict: no {absent}")
    width, _, patch, _ = state["patch_embed.proj.weight"].shape  # (D, 3, p, p)
    decoder_width = state["decoder_embed.weight"].shape[0]  # (Dd, D)

    def depth(prefix: str) -> int:
        return len({m.group(1) for k in state if (m := re.match(rf"{prefix}\.(\d+)\.", k))})

    if width % RELEASE_HEAD_DIM or decoder_width % RELEASE_HEAD_DIM:
        raise ValueError(f"'{source}': widths {width} / {decoder_width} are not multiples of the release's head width")
    arch = ViTArchCfg(
        patch_size=patch,
        width=width,
        depth=depth("blocks"),
        heads=width // RELEASE_HEAD_DIM,
        decoder_width=decoder_width,
        decoder_depth=depth("decoder_blocks"),
        decoder_heads=decoder_width // RELEASE_HEAD_DIM,
        mlp_ratio=state["blocks.0.mlp.fc1.weight"].shape[0] / width,
        latent_channels=state["from_latent.weight"].shape[1],  # (D, C)
    )
    grid = round(state["pos_embed"].shape[1] ** 0.5)  # (1, L, D), L = grid^2
    return arch, grid * patch


def build_vmae_release(path: str | Path) -> VMAE:
    """The VMAE a release checkpoint defines, at the image size of its positional tables, in eval mode."""
    state = read_release_state_dict(path)
    arch, image_size = release_arch(state, path)
    model = VMAE(arch, INFERENCE_OBJECTIVE, None, image_size)
    load_vmae_release(model, path, state)
    return model.eval()


def load_vmae_release(model: VMAE, path: str | Path, state: dict[str, torch.Tensor] | None = None) -> list[str]:
    """Load the authors' VMAE checkpoint into `model` with `strict=True`.

    Args:
        model: a VMAE built with the checkpoint's sizes (`release_arch`).
        path: local `vmaef8d16.pth` (decoder-tuned) or a stage-1 `checkpoint-*.pth`.
        state: its state dict if already read (`read_release_state_dict(path)`).

    Returns:
        Notes on every deliberate difference handled (also logged); empty for an exact match.

    Raises:
        ValueError: keys or tensor shapes that do not fit the model.
    """
    state = dict(read_release_state_dict(path) if state is None else state)
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
    load_strict(model, state, path, hint="build the VMAE with the checkpoint's sizes (release_arch)")
    for note in notes:
        log.info("load_vmae_release(%s): %s", path, note)
    return notes


# --- (b) diffusers AutoencoderKL --------------------------------------------------------------------------------------
class DiffusersAutoencoder(nn.Module):
    """A diffusers `AutoencoderKL` (either layout) behind `autoencoders.base.LatentAutoencoder`.

    Args:
        vae: the loaded AutoencoderKL; its encode / decode run as diffusers wrote them (quant convs included).
    """

    def __init__(self, vae: nn.Module) -> None:
        super().__init__()
        self.vae = vae
        self.latent_channels = int(vae.config.latent_channels)
        self.downsample = 2 ** (len(vae.config.block_out_channels) - 1)

    def encode(self, x: torch.Tensor) -> Posterior:
        dist = self.vae.encode(x).latent_dist  # (B, 3, H, W) -> moments (B, 2C, H/f, W/f), logvar clamped
        return Posterior(dist.mean, dist.logvar)  # (B, C, H/f, W/f) each

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(z).sample  # (B, C, H/f, W/f) -> (B, 3, H, W)

    def set_image_size(self, image_size: int) -> None:
        """Convolutions take any multiple of `downsample`: nothing to resize."""


def read_diffusers_config(path: str | Path) -> tuple[dict[str, Any], Path]:
    """The validated config of an AutoencoderKL folder (or of a weights file beside its config.json).

    Returns:
        (config, weights file).

    Raises:
        FileNotFoundError: no config.json, or no weights file.
        ValueError: the config is not an RGB `AutoencoderKL`.
    """
    path = Path(path)
    folder = path if path.is_dir() else path.parent
    config_path = folder / DIFFUSERS_CONFIG
    if not config_path.is_file():
        raise FileNotFoundError(
            f"'{config_path}' not found: point path at the folder AutoencoderKL.save_pretrained writes "
            f"({DIFFUSERS_CONFIG} + {DIFFUSERS_WEIGHTS[0]})"
        )
    cfg = json.loads(config_path.read_text())
    if cfg.get("_class_name") != "AutoencoderKL":
        raise ValueError(
            f"'{config_path}' describes a {cfg.get('_class_name')!r}, not an AutoencoderKL: this importer reads "
            "AutoencoderKL only (wrap any other model as format: module)"
        )
    if cfg.get("in_channels", 3) != 3 or cfg.get("out_channels", 3) != 3:
        raise ValueError(f"'{config_path}': the suite encodes RGB images (in_channels = out_channels = 3)")
    if path.is_file():
        return cfg, path
    for name in DIFFUSERS_WEIGHTS:
        if (folder / name).is_file():
            return cfg, folder / name
    raise FileNotFoundError(f"no weights in '{folder}': expected one of {list(DIFFUSERS_WEIGHTS)}")


def latent_factors(cfg: dict[str, Any]) -> dict[str, float | None]:
    """The config's latent scaling and shift factors (SD 1.x 0.18215; SD3 1.5305 / 0.0609), to record only."""
    return {"scaling_factor": cfg.get("scaling_factor"), "shift_factor": cfg.get("shift_factor")}


def load_diffusers(path: str | Path) -> DiffusersAutoencoder:
    """Build diffusers' AutoencoderKL from the folder's config and load its weights strictly, in eval mode.

    Args:
        path: an AutoencoderKL folder, or a `.safetensors` / `.bin` weights file beside its config.json.

    Raises:
        FileNotFoundError, ValueError: see `read_diffusers_config`; weights that do not fit the config.
    """
    # diffusers is imported where it is used: it costs seconds, and most stages never build an AutoencoderKL.
    from diffusers import AutoencoderKL
    from safetensors.torch import load_file

    cfg, weights = read_diffusers_config(path)
    vae = AutoencoderKL.from_config(cfg)
    state = load_file(weights) if weights.suffix == ".safetensors" else safe_torch_load(weights)
    load_strict(vae, state, weights, hint=f"the weights must be the ones {DIFFUSERS_CONFIG} describes")
    return DiffusersAutoencoder(vae).eval()


def load_strict(model: nn.Module, state: dict[str, torch.Tensor], source: object, hint: str) -> None:
    """`model.load_state_dict(state, strict=True)`, or a ValueError listing every missing, unexpected and
    differently shaped tensor (`hint` says how to build a model that fits)."""
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    shapes = {k: (tuple(state[k].shape), tuple(own[k].shape)) for k in own if k in state}
    wrong = {k: f"{s} (model {o})" for k, (s, o) in shapes.items() if s != o}
    if missing or unexpected or wrong:
        raise ValueError(
            f"'{source}' does not fit the model ({hint}): missing {_some(missing)}, unexpected {_some(unexpected)}, "
            f"wrong shapes {_some([f'{k}: {v}' for k, v in wrong.items()])}"
        )
    model.load_state_dict(state, strict=True)


def _some(names: list[str], shown: int = 6) -> str:
    """A list for an error message: all of a short one, the first few and the count of a long one."""
    return str(names) if len(names) <= shown else f"{names[:shown]} and {len(names) - shown} more"
