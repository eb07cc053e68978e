"""Pipeline items: the one place that checks a fan-out stage's item name against params, before any work.

An autoencoder item is a key of `autoencoders.variants` (trained by train_ae) or of `autoencoders.pretrained` (read
from local weights by import_ae); a diffusion item is a key of `diffusion.items` (the generation datasets it gets a
DiT on). Every fan-out stage calls one of these first, so a typo on the command line fails in a second with the list
of valid names.
"""

from __future__ import annotations

from bench.config import Params


def check_autoencoder_item(params: Params, name: str) -> None:
    """Fail on an unknown autoencoder item, or training sets that the data stage does not make.

    Raises:
        ValueError: `name` is neither a key of `autoencoders.variants` nor of `autoencoders.pretrained`, or
            `autoencoders.train_sets` names a set missing from `data.sets`.
    """
    cfg = params.autoencoders
    if name not in cfg.variants and name not in cfg.pretrained:
        raise ValueError(
            f"unknown autoencoder item '{name}': expected one of {sorted([*cfg.variants, *cfg.pretrained])}"
        )
    missing = [s for s in cfg.train_sets if s not in params.data.sets]
    if missing:
        raise ValueError(f"autoencoders.train_sets {missing} are not in data.sets {sorted(params.data.sets)}")


def check_trained_item(params: Params, name: str) -> None:
    """`check_autoencoder_item`, and refuse a pretrained item (it has no training stage)."""
    check_autoencoder_item(params, name)
    if params.autoencoders.is_pretrained(name):
        raise ValueError(
            f"'{name}' is a pretrained item (autoencoders.pretrained): it skips train_ae; run import_ae@{name}"
        )


def check_pretrained_item(params: Params, name: str) -> None:
    """`check_autoencoder_item`, and refuse a trained item (it is made by train_ae, not imported)."""
    check_autoencoder_item(params, name)
    if not params.autoencoders.is_pretrained(name):
        raise ValueError(f"'{name}' is a trained item (autoencoders.variants): train_ae@{name} makes it, not import_ae")


def check_diffusion_item(params: Params, name: str) -> None:
    """Fail on an item without a `diffusion.items` entry (or without an autoencoder behind it).

    Raises:
        ValueError: `name` is not under `diffusion.items`.
    """
    if name not in params.diffusion.items:
        raise ValueError(f"'{name}' is not under diffusion.items (items: {sorted(params.diffusion.items)})")
    check_autoencoder_item(params, name)
