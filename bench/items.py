"""Pipeline items: the one place that checks a fan-out stage's item name against params, before any work.

An autoencoder item is a key of `autoencoders.variants`; a diffusion item is
a key of `diffusion.items` (the generation datasets it gets a DiT on). Every fan-out stage calls one of these first,
so a typo on the command line fails in a second with the list of valid names.
"""

from __future__ import annotations

from bench.config import Params


def check_autoencoder_item(params: Params, name: str) -> None:
    """Fail on an unknown autoencoder item, or training sets that the data stage does not make.

    Raises:
        ValueError: `name` is not a key of `autoencoders.variants`, or `autoencoders.train_sets` names a set
            missing from `data.sets`.
    """
    cfg = params.autoencoders
    if name not in cfg.variants:
        raise ValueError(f"unknown autoencoder item '{name}': expected one of {sorted(cfg.variants)}")
    missing = [s for s in cfg.train_sets if s not in params.data.sets]
    if missing:
        raise ValueError(f"autoencoders.train_sets {missing} are not in data.sets {sorted(params.data.sets)}")


def check_diffusion_item(params: Params, name: str) -> None:
    """Fail on an item without a `diffusion.items` entry (or without an autoencoder behind it).

    Raises:
        ValueError: `name` is not under `diffusion.items`.
    """
    if name not in params.diffusion.items:
        raise ValueError(f"'{name}' is not under diffusion.items (items: {sorted(params.diffusion.items)})")
    check_autoencoder_item(params, name)
