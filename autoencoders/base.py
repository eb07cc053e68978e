"""The one interface every autoencoder implements (its posterior type lives in `bench.posterior`).

Two levels: `LatentAutoencoder` (a Protocol) is what every stage after training calls (eval_ae, compress, extract,
sample): encode, decode, latent channels, downsampling factor. Pretrained items (diffusers, the VMAE release, a
user's module; `autoencoders.sources`) implement only that. `Autoencoder` (an abstract class) adds what the shared
training loop needs (loss, optimiser groups, phases) and is what the suite's own models subclass.

Conventions, stated once for the whole package:
- images are NCHW float tensors in [-1, 1];
- latents are NCHW (B, latent_channels, H / downsample, W / downsample) and *unnormalised*: per-channel
  normalisation belongs to the extract stage, never to a model;
- `encode` never masks or corrupts its input and is deterministic in eval mode; the latent the diffusion
  model sees is `encode(x).mode()` (or `.sample()` where the extract stage asks for it).

Training contract (the shared loop in `bench/loop.py`): `loss(batch, step)` returns a dict of scalar tensors
with at least "loss"; `optim_groups()` maps each loss key to the parameters it optimises. The loop keeps one
optimiser per key and calls `torch.autograd.backward(out[key], inputs=params)` for each, so a parameter only
ever receives gradients of its own loss (the SD-VAE discriminator never sees generator gradients).

Phases (LDMAE release recipe): "pretrain", then "finetune_decoder" (the paper: encoder frozen) or
"finetune_all" (what the release did). `set_phase` freezes accordingly; the loss may change with the phase.

Import only; nothing to run.
"""

from __future__ import annotations

import abc
from typing import Literal, Protocol, get_args, runtime_checkable

import torch
from torch import nn

from bench.config import ConvArchCfg, VariantCfg, ViTArchCfg
from bench.posterior import LOGVAR_MAX, LOGVAR_MIN, Posterior

__all__ = [
    "LOGVAR_MAX",
    "LOGVAR_MIN",
    "PHASES",
    "Autoencoder",
    "LatentAutoencoder",
    "Phase",
    "Posterior",
    "require_perceptual",
]

Phase = Literal["pretrain", "finetune_decoder", "finetune_all"]
PHASES: tuple[str, ...] = get_args(Phase)


@runtime_checkable
class LatentAutoencoder(Protocol):
    """The suite's autoencoder interface: everything a stage after training calls on a model.

    An implementation is an `nn.Module` (stages move it with `.to(device)`, call `.eval()` and count its parameters
    for Table 2) with:
    - `latent_channels` (int): C, the channels of a latent;
    - `downsample` (int): f, the image side over the latent side;
    - `encode(x)`: x (B, 3, H, W) float in [-1, 1] -> a `Posterior` over (B, C, H/f, W/f) latents: a diagonal
      Gaussian (`Posterior(mean, logvar)`, or `Posterior.from_moments`) or a point mass (`Posterior(z, None)`);
      deterministic in eval mode, never masking or corrupting its input; latents unnormalised (the extract stage
      normalises every latent space the same way, per channel, so any scaling / shift factor must *not* be applied);
    - `decode(z)`: z (B, C, H/f, W/f) -> (B, 3, H, W) images, nominally in [-1, 1] (stages clamp).
    A model whose input range is not [-1, 1] converts inside encode / decode. Optional: `set_image_size(px)`
    (as `Autoencoder` has) lets Table 2 count GFLOPs at 256 px on a meta-device copy; without it they are counted
    at the run's resolution only.
    """

    latent_channels: int
    downsample: int

    def encode(self, x: torch.Tensor) -> Posterior: ...

    def decode(self, z: torch.Tensor) -> torch.Tensor: ...


class Autoencoder(nn.Module, abc.ABC):
    """Abstract autoencoder: `encode` -> `Posterior`, `decode`, `loss`, `optim_groups`, `set_phase`.

    Subclasses set `latent_channels` and `downsample` through `__init__` and implement the abstract methods.
    """

    latent_channels: int
    downsample: int

    def __init__(self, latent_channels: int, downsample: int) -> None:
        super().__init__()
        self.latent_channels = latent_channels
        self.downsample = downsample
        self.phase: Phase = "pretrain"

    @classmethod
    @abc.abstractmethod
    def from_config(
        cls, variant: VariantCfg, arch: ConvArchCfg | ViTArchCfg, perceptual: nn.Module | None, image_size: int
    ) -> Autoencoder:
        """Build from an item's params (the registry's one constructor path).

        Args:
            variant: the item's `autoencoders.variants.<name>` block (objective, phases).
            arch: `autoencoders.conv` or `autoencoders.vit`, matching the kind.
            perceptual: forward(x, y) -> (B,) distance for images in [-1, 1], or None where unused.
            image_size: full-resolution image side (fixes the ViT positional tables; convolutions ignore it).
        """

    @abc.abstractmethod
    def encode(self, x: torch.Tensor) -> Posterior:
        """Args: x (B, 3, H, W) in [-1, 1]. Returns: the posterior over (B, C, H/f, W/f) latents."""

    @abc.abstractmethod
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Args: z (B, C, H/f, W/f) latents. Returns: (B, 3, H, W) images, nominally in [-1, 1] (unclamped)."""

    @abc.abstractmethod
    def loss(self, batch: dict[str, torch.Tensor], step: int) -> dict[str, torch.Tensor]:
        """Args: batch with "image" (B, 3, H, W) in [-1, 1]; step, the global optimiser step.

        Returns: scalar tensors; "loss" is the one to minimise (plus any other key named by `optim_groups`).
        """

    @abc.abstractmethod
    def encoder_parameters(self) -> list[nn.Parameter]:
        """The parameters frozen by decoder-only fine-tuning (everything on the image -> latent path)."""

    def attach_perceptual(self, perceptual: nn.Module | None) -> None:
        """Keep a reference to the perceptual network *without* registering it as a submodule: it is frozen,
        shared, and someone else's weights, so it must stay out of the state dict and the optimiser groups. The
        caller places it on the device."""
        object.__setattr__(self, "perceptual", perceptual)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Deterministic reconstruction decode(encode(x).mode()): (B, 3, H, W) -> (B, 3, H, W)."""
        return self.decode(self.encode(x).mode())

    def set_image_size(self, image_size: int) -> None:
        """Phase 2 (resolution change). Convolutional models are size-agnostic: nothing to do; VMAE resizes its
        positional tables."""

    def frozen_parameters(self) -> list[nn.Parameter]:
        """Parameters that receive no gradient in the current phase."""
        return self.encoder_parameters() if self.phase == "finetune_decoder" else []

    def set_phase(self, phase: Phase) -> None:
        """Switch training phase and set `requires_grad` to match (no effect on the state dict)."""
        if phase not in PHASES:
            raise ValueError(f"unknown phase '{phase}': expected one of {list(PHASES)}")
        self.phase = phase
        frozen = {id(p) for p in self.frozen_parameters()}
        for p in self.parameters():
            p.requires_grad_(id(p) not in frozen)

    def optim_groups(self) -> dict[str, list[nn.Parameter]]:
        """Loss key -> parameters it optimises. Default: "loss" trains every trainable parameter."""
        return {"loss": [p for p in self.parameters() if p.requires_grad]}


def require_perceptual(perceptual: nn.Module | None, who: str) -> nn.Module:
    """Return `perceptual`, or raise the ValueError that says how to provide one."""
    if perceptual is None:
        raise ValueError(
            f"{who} needs a perceptual network (forward(x, y) -> (B,) distances for images in [-1, 1]): "
            "pass one to build_autoencoder, or set the perceptual weights of this variant to 0 in params.yaml"
        )
    return perceptual
