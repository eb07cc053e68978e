"""The autoencoders of the benchmark behind one interface (`autoencoders.base.Autoencoder`) and one registry.

    from autoencoders import build_autoencoder
    model = build_autoencoder("vmae", params.autoencoders, perceptual, image_size=params.data.resolution)

Phase 1 of a variant with `phases.pretrain_downscale > 1` builds at `image_size = resolution // downscale`
and calls `model.set_image_size(resolution)` before phase 3 (VMAE resizes its positional tables, as released);
stages that load a finished checkpoint build at the full resolution.

Registry keys are the `kind`s of `autoencoders.variants.<name>` in params.yaml; pipeline items (names) map to a
kind through their variant, so ablations such as `vmae-lm` reuse the "vmae" class with other weights.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import nn

from autoencoders.ae import AE
from autoencoders.base import Autoencoder, Posterior
from autoencoders.dae import DAE
from autoencoders.sdvae import SDVAE
from autoencoders.vae import VAE
from autoencoders.vmae import VMAE
from bench.ckpt import load_checkpoint
from bench.config import CONV_KINDS, AutoencodersCfg, ConvArchCfg, VariantCfg, ViTArchCfg, parse_section
from bench.layout import PARAMS_FILE, WEIGHTS_FILE


def _register(entries: list[tuple[str, type]]) -> dict[str, type[Autoencoder]]:
    """Build the registry, refusing duplicate names and classes outside the interface (torch-fidelity style)."""
    registry: dict[str, type[Autoencoder]] = {}
    for name, cls in entries:
        if name in registry:
            raise ValueError(f"autoencoder '{name}' registered twice")
        if not (isinstance(cls, type) and issubclass(cls, Autoencoder)):
            raise ValueError(f"autoencoder '{name}' -> {cls!r} does not subclass autoencoders.base.Autoencoder")
        registry[name] = cls
    return registry


REGISTRY: dict[str, type[Autoencoder]] = _register(
    [("ae", AE), ("dae", DAE), ("vae", VAE), ("sd-vae", SDVAE), ("vmae", VMAE)]
)


def build_autoencoder(name: str, cfg: AutoencodersCfg, perceptual: nn.Module | None, *, image_size: int) -> Autoencoder:
    """Build pipeline item `name` from the autoencoders section.

    Args:
        name: a key of `cfg.variants` (e.g. "sd-vae", "vmae-release").
        cfg: the `autoencoders` section of params.
        perceptual: forward(x, y) -> (B,) perceptual distance for images in [-1, 1]; required by sd-vae and by
            vmae variants with a perceptual weight > 0, otherwise may be None. Not registered as a submodule.
        image_size: full-resolution image side (`data.resolution`); fixes VMAE's positional tables.

    Returns:
        The model in phase "pretrain", on the CPU, freshly initialised.
    """
    if name not in cfg.variants:
        raise ValueError(f"unknown autoencoder item '{name}': expected one of {sorted(cfg.variants)}")
    variant = cfg.variants[name]
    if variant.kind not in REGISTRY:
        raise ValueError(f"item '{name}' has kind '{variant.kind}', not in the registry {sorted(REGISTRY)}")
    return REGISTRY[variant.kind].from_config(variant, cfg.arch(name), perceptual, image_size)


__all__ = ["REGISTRY", "Autoencoder", "Posterior", "build_autoencoder"]


class InferenceOnly(nn.Module):
    """Stands in for the perceptual network when a trained autoencoder is loaded to encode and decode only."""

    name = "none (loaded for inference)"

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("this autoencoder was loaded for inference: its training losses are unavailable")


def load_trained(folder: str | Path, *, image_size: int) -> Autoencoder:
    """Rebuild a trained item from its folder alone, in eval mode: the variant and architecture train_ae recorded in
    `params.json`, the weights of `model.pt` (as `diffusion.trained.load_dit` rebuilds a DiT), so that a later stage
    reads no autoencoder params and depends on this folder only.

    Stages load any item (trained or pretrained) through `autoencoders.sources.load_autoencoder`, which calls this.

    Args:
        folder: `bench.layout.autoencoder_dir(runs, NAME)` of a trained item.
        image_size: full image side in pixels (VMAE positional tables are built for it).

    Raises:
        FileNotFoundError: no weights there (run `dvc repro train_ae@NAME`).
        ValueError: the weights are not a plain state dict, or do not match the recorded architecture.
    """
    folder = Path(folder)
    name, weights = folder.name, folder / WEIGHTS_FILE
    if not weights.is_file():
        raise FileNotFoundError(
            f"no trained weights for '{name}' at '{weights}': run `dvc repro train_ae@{name}` first"
        )
    variant, arch = recorded_item(folder)
    model = REGISTRY[variant.kind].from_config(variant, arch, InferenceOnly(), image_size)
    state = load_checkpoint(weights)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as e:
        raise ValueError(f"'{weights}' does not match the autoencoder recorded in '{folder}': {e}") from None
    return model.eval()


def recorded_item(folder: Path) -> tuple[VariantCfg, ConvArchCfg | ViTArchCfg]:
    """The variant and architecture train_ae recorded in `folder/params.json`, validated as params are."""
    path = folder / PARAMS_FILE
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' not found: run `dvc repro train_ae@{folder.name}`")
    recorded = json.loads(path.read_text())["autoencoders"]
    variant = parse_section(VariantCfg, recorded["variant"], str(path), "autoencoders.variant")
    arch_type = ConvArchCfg if variant.kind in CONV_KINDS else ViTArchCfg
    return variant, parse_section(arch_type, recorded["arch"], str(path), "autoencoders.arch")
