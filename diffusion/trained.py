"""A DiT as the train_dit stage builds it and as the sample stage rebuilds it from its files.

`build_model` makes the configured size for one dataset's latents (class-conditional or not, from the data stage's
class count); `load_dit` rebuilds a trained one from `dit.json` + `model.pt` and refuses weights trained on other
latent statistics than the ones sampling would denormalise with. Import only.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench import layout
from bench.ckpt import load_checkpoint
from bench.config import DiTModelCfg, Params
from diffusion.dit import DiT, DiTConfig, build_dit
from diffusion.latents import LatentStats


def num_classes(params: Params, dataset: str) -> int:
    """Classes the DiT is conditioned on: the data stage's `num_classes` if conditional, else 0.

    Raises:
        FileNotFoundError: the data stage has not run.
        ValueError: a conditional dataset with fewer than two classes.
    """
    if params.diffusion.datasets[dataset] == "unconditional":
        return 0
    meta_path = layout.dataset_meta(params.paths, dataset)
    if not meta_path.is_file():
        raise FileNotFoundError(f"'{meta_path}' not found: run the data stage first (`dvc repro data`)")
    k = int(json.loads(meta_path.read_text())["num_classes"])
    if k < 2:
        raise ValueError(f"'{dataset}' has {k} class(es): set diffusion.datasets.{dataset} to unconditional")
    return k


def build_model(cfg: DiTModelCfg, stats: LatentStats, side: int, classes: int) -> DiT:
    """The configured DiT size on (C, side, side) latents with `classes` classes (0 = unconditional)."""
    return build_dit(
        cfg.size,
        input_size=side,
        in_channels=stats.channels,
        num_classes=classes,
        class_dropout_prob=cfg.class_dropout_prob if classes else 0.0,
        qk_norm=cfg.qk_norm,
        use_rope=cfg.use_rope,
        use_swiglu=cfg.use_swiglu,
        use_rmsnorm=cfg.use_rmsnorm,
    )


def load_dit(folder: Path, stats: LatentStats) -> DiT:
    """Rebuild a trained DiT from `dit.json` + `model.pt` (strict), refusing one trained on other statistics.

    Args:
        folder: `bench.layout.dit_dir(...)` of one item and dataset.
        stats: the latent statistics sampling will denormalise with.

    Raises:
        FileNotFoundError: the train_dit stage has not run.
        ValueError: the DiT was trained on another `stats.json` than the one sampling would denormalise with.
    """
    info_path = folder / layout.DIT_INFO_FILE
    if not info_path.is_file():
        raise FileNotFoundError(f"'{info_path}' not found: run `dvc repro train_dit@{folder.parent.name}` first")
    info = json.loads(info_path.read_text())
    if info["stats_sha256"] != stats.sha256:
        raise ValueError(
            f"the DiT in '{folder}' was trained on other latent statistics (sha256 {info['stats_sha256'][:12]} vs "
            f"{stats.sha256[:12]}): the latents were re-extracted since; re-run train_dit for this item"
        )
    model = DiT(DiTConfig(**info["config"]))
    model.load_state_dict(load_checkpoint(folder / layout.DIT_WEIGHTS_FILE), strict=True)
    return model.eval()
