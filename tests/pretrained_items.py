"""Pretrained items for tests, made offline at the smallest sizes: diffusers `AutoencoderKL` folders with random
weights in both layouts (diffusers' own class and `save_pretrained`), a checkpoint in the VMAE release's format, and
a user module (`tests/user_autoencoder`); and the `autoencoders.pretrained` entries that name them.

    entries = make_items(root / "weights", image_size=32)  # item -> {format, path, entry}
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch

from autoencoders.pretrained import INFERENCE_OBJECTIVE
from autoencoders.vmae import VMAE
from bench.config import ViTArchCfg

USER_MODULE = Path(__file__).with_name("user_autoencoder") / "tiny_user_ae.py"
# The SD-style f8 layout (four blocks), narrow: a few thousand parameters.
DIFFUSERS_TINY = {
    "down_block_types": ("DownEncoderBlock2D",) * 4,
    "up_block_types": ("UpDecoderBlock2D",) * 4,
    "block_out_channels": (8, 8, 8, 8),
    "layers_per_block": 1,
    "norm_num_groups": 4,
}
# The release's layout (patch 8, 16 latent channels, head width 16) at width 32 and one block each side.
RELEASE_TINY = ViTArchCfg(
    patch_size=8,
    width=32,
    depth=1,
    heads=2,
    decoder_width=32,
    decoder_depth=1,
    decoder_heads=2,
    mlp_ratio=4.0,
    latent_channels=16,
)
LAYOUTS = {  # name -> (quant convs, latent channels, scaling factor, shift factor) as the real configs have them
    "sd3": (False, 16, 1.5305, 0.0609),
    "flux": (False, 16, 0.3611, 0.1159),
    "sd1": (True, 4, 0.18215, None),
}


def save_diffusers(folder: Path, layout: str, seed: int = 0) -> Path:
    """An AutoencoderKL with random weights in `layout` ("sd3", "flux": no quant convs; "sd1": quant convs)."""
    from diffusers import AutoencoderKL

    quant, channels, scaling, shift = LAYOUTS[layout]
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        vae = AutoencoderKL(
            **DIFFUSERS_TINY,
            latent_channels=channels,
            use_quant_conv=quant,
            use_post_quant_conv=quant,
            scaling_factor=scaling,
            shift_factor=shift,
        )
    vae.save_pretrained(folder)
    return folder


def save_release(path: Path, image_size: int, seed: int = 0, arch: ViTArchCfg = RELEASE_TINY) -> Path:
    """A decoder-tuned checkpoint in the release's format: `{'model', 'optimizer', 'epoch', 'scaler', 'args'}` with
    `args` an argparse.Namespace and no `mask_token` (`paper/vmae-release-checkpoint.md`)."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        model = VMAE(arch, INFERENCE_OBJECTIVE, None, image_size)
    state = {k: v for k, v in model.state_dict().items() if k != "mask_token"}
    args = argparse.Namespace(model="mae_for_ldmae_f8d16_prev", input_size=image_size, kl_loss_weight=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": state, "optimizer": {}, "epoch": 0, "scaler": {}, "args": args}, path)
    return path


def save_module(folder: Path, seed: int = 0) -> Path:
    """The user module's code and its weights (`model.pt`), together in `folder`."""
    from tests.user_autoencoder.tiny_user_ae import TinyUserAE

    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(USER_MODULE, folder / USER_MODULE.name)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        torch.save(TinyUserAE().state_dict(), folder / "model.pt")
    return folder


def make_items(weights: Path, image_size: int, base: Path | None = None) -> dict[str, dict]:
    """One item of each kind under `weights`; their params entries with paths relative to `base` (default: as given).

    Items: "vmae" (the release format: it takes the VMAE rows, as the released weights would), "sd3-vae" (diffusers
    without quant convs), "sd1-vae" (with quant convs), "my-ae" (a user module).
    """

    def rel(p: Path) -> str:
        return str(p.relative_to(base)) if base is not None else str(p)

    release = save_release(weights / "vmaef8d16.pth", image_size)
    return {
        "vmae": {"format": "vmae-release", "path": rel(release), "entry": None},
        "sd3-vae": {"format": "diffusers", "path": rel(save_diffusers(weights / "sd3-vae", "sd3")), "entry": None},
        "sd1-vae": {"format": "diffusers", "path": rel(save_diffusers(weights / "sd1-vae", "sd1")), "entry": None},
        "my-ae": {"format": "module", "path": rel(save_module(weights / "my-ae")), "entry": "tiny_user_ae:build"},
    }
