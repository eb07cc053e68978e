"""Where each pipeline item's autoencoder comes from, and the one path every stage after training loads it by.

Both kinds leave their autoencoder in one folder per item, `runs/autoencoders/NAME` (`bench.layout.autoencoder_dir`),
the only dependency later stages have on it. A trained item (`autoencoders.variants`) is rebuilt from what train_ae
left there (`params.json` + `model.pt`, `load_trained`). A pretrained item (`autoencoders.pretrained`) is imported
from the user's local files by its format, as import_ae recorded it there (`source.json`):

- `diffusers`: an AutoencoderKL folder, either layout (`autoencoders.pretrained.load_diffusers`);
- `vmae-release`: the authors' checkpoint, sizes read from its tensors (`autoencoders.pretrained.build_vmae_release`);
- `module`: `entry` "package.module:factory" imported from the folder `path` (which must hold the module, so that
  DVC, tracking `path`, sees every edit to it); `factory(image_size=data.resolution)` must return an `nn.Module`
  implementing `autoencoders.base.LatentAutoencoder`.

The import_ae stage runs `import_pretrained` first, before any work: every bad input (missing path, a format that
does not match the files, tensors that do not fit, an entry that cannot be imported, a factory that does not return
the interface, a latent grid that does not fit `data.resolution`) raises a ValueError / FileNotFoundError naming the
item, the file and the fix. It records the item (`record`: file hashes, latent shape, native input range, and the
latent scaling / shift factors of the config, recorded but never applied). Every later stage calls
`load_autoencoder`, which refuses files that changed since that record.

Import only; `python -m autoencoders.import_ae NAME` is the stage.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autoencoders import load_trained
from autoencoders.base import LatentAutoencoder, Posterior
from autoencoders.pretrained import (
    DIFFUSERS_CONFIG,
    NATIVE_RANGE,
    build_vmae_release,
    latent_factors,
    load_diffusers,
    read_diffusers_config,
)
from bench import layout
from bench.config import PRETRAINED, AutoencodersCfg, PretrainedCfg, parse_section

README = 'README "Benchmark your own autoencoder"'
WHAT = {  # format -> what `path` must hold (for messages)
    "diffusers": f"the AutoencoderKL folder ({DIFFUSERS_CONFIG} + diffusion_pytorch_model.safetensors)",
    "vmae-release": "the release checkpoint file (vmaef8d16.pth)",
    "module": "the folder holding the module of `entry` (and any weights it reads)",
}
SKIPPED = ("__pycache__",)  # bytecode Python may write beside a module: not part of what defines the item


@dataclass(frozen=True)
class Imported:
    """A pretrained item, loaded and checked: the model (eval mode, CPU) and what `record` writes about it."""

    model: nn.Module
    facts: dict[str, Any] = field(default_factory=dict)


def import_pretrained(name: str, cfg: PretrainedCfg, image_size: int) -> Imported:
    """Import pretrained item `name` from its local files and check it against the interface, before any work.

    Args:
        name: the item (a key of `autoencoders.pretrained`).
        cfg: its entry.
        image_size: `data.resolution`: the side of the images it will encode.

    Returns:
        The model in eval mode on the CPU, and its facts (latent shape, native range, factors, parameters).

    Raises:
        FileNotFoundError: `cfg.path` does not exist.
        ValueError: anything else wrong with the files or the model (see the module docstring).
    """
    key = f"autoencoders.pretrained.{name}"
    path = Path(cfg.path)
    if not path.exists():
        raise FileNotFoundError(
            f"pretrained item '{name}': '{path}' does not exist: put {WHAT[cfg.format]} there, or set {key}.path "
            "in params.yaml to where it is (repo-relative; symlink it under weights/)"
        )
    importer = IMPORTERS[cfg.format]
    try:
        model, facts = importer(path, cfg, image_size)
    except (ValueError, FileNotFoundError) as e:
        raise type(e)(f"pretrained item '{name}' ({key}, format {cfg.format}): {e}") from None
    grid = check_interface(model, name, facts.pop("source"), image_size)
    facts |= {
        "latent_channels": model.latent_channels,
        "downsample": model.downsample,
        "latent_grid": [grid, grid],
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    return Imported(model.eval(), facts)


def _diffusers(path: Path, cfg: PretrainedCfg, image_size: int) -> tuple[nn.Module, dict[str, Any]]:
    if path.is_file() and path.suffix not in (".safetensors", ".bin"):
        raise ValueError(
            f"'{path}' is not an AutoencoderKL folder or weights file: point path at the folder save_pretrained "
            "wrote (a VMAE release checkpoint is format: vmae-release)"
        )
    config, weights = read_diffusers_config(path)
    factors = latent_factors(config)
    return load_diffusers(path), {"source": str(weights), "input_range": list(NATIVE_RANGE), "latent_factors": factors}


def _vmae_release(path: Path, cfg: PretrainedCfg, image_size: int) -> tuple[nn.Module, dict[str, Any]]:
    if path.is_dir():
        raise ValueError(
            f"'{path}' is a folder; the VMAE release is one checkpoint file: set path to vmaef8d16.pth (an "
            "AutoencoderKL folder is format: diffusers)"
        )
    model = build_vmae_release(path)
    if model.image_size != image_size:  # fixed positional tables: the release runs at one resolution
        raise ValueError(
            f"'{path}' has positional tables for a {model.grid}x{model.grid} grid ({model.image_size} px at patch "
            f"{model.downsample}), so its latent grid does not fit data.resolution {image_size}: set data.resolution "
            f"to {model.image_size}"
        )
    # The release normalises latents with per-channel statistics of its own (latents_stats.pt), not a factor.
    factors = {"scaling_factor": None, "shift_factor": None}
    return model, {"source": str(path), "input_range": list(NATIVE_RANGE), "latent_factors": factors}


def _module(path: Path, cfg: PretrainedCfg, image_size: int) -> tuple[nn.Module, dict[str, Any]]:
    factory, source = import_entry(path, cfg.entry)
    # The interface's range: a module converts to its own inside encode / decode.
    return _call_factory(factory, cfg.entry, source, image_size), {"source": source, "input_range": [-1.0, 1.0]}


# format -> (path, entry, data resolution) -> (model, facts with "source": the file to name in messages)
IMPORTERS: dict[str, Callable[[Path, PretrainedCfg, int], tuple[nn.Module, dict[str, Any]]]] = {
    "diffusers": _diffusers,
    "vmae-release": _vmae_release,
    "module": _module,
}


def import_entry(folder: Path, entry: str) -> tuple[Callable[..., Any], str]:
    """The factory named by `entry` ("package.module:factory"), imported with `folder` first on the import path.

    Returns:
        (factory, the file of its module).

    Raises:
        ValueError: `folder` is not a folder, the module cannot be imported, lives outside `folder`, or has no such
            callable.
    """
    if not folder.is_dir():
        raise ValueError(f"'{folder}' is a file: for format module, path is the folder holding the code of {entry}")
    module_name, attr = entry.split(":")
    root = str(folder.resolve())
    bytecode = sys.dont_write_bytecode
    sys.path.insert(0, root)
    sys.dont_write_bytecode = True  # no __pycache__ in the user's folder: DVC hashes it as this item's input
    try:
        module = importlib.import_module(module_name)
    except (ImportError, SyntaxError) as e:
        raise ValueError(
            f"cannot import '{module_name}' from '{folder}' ({type(e).__name__}: {e}): entry is "
            "package.module:factory with the package (or module file) inside path"
        ) from None
    finally:
        sys.path.remove(root)
        sys.dont_write_bytecode = bytecode
    source = Path(getattr(module, "__file__", None) or "")
    if not source.resolve().is_relative_to(root):
        raise ValueError(
            f"'{module_name}' was imported from '{source}', outside '{folder}': rename your package (the name is "
            "taken), so that DVC, tracking path, sees every edit to the code"
        )
    factory = getattr(module, attr, None)
    if not callable(factory):
        raise ValueError(f"'{source}' has no function '{attr}': define it, or fix entry '{entry}'")
    return factory, str(source)


def _call_factory(factory: Callable[..., Any], entry: str, source: str, image_size: int) -> Any:
    try:
        inspect.signature(factory).bind(image_size=image_size)
    except TypeError:
        raise ValueError(
            f"{entry} in '{source}' must accept the keyword image_size (the data resolution), e.g. "
            "`def factory(image_size: int) -> nn.Module`"
        ) from None
    return factory(image_size=image_size)


def check_interface(model: Any, name: str, source: str, image_size: int) -> int:
    """Check an imported model against `LatentAutoencoder` with one zero image; its latent grid side.

    Raises:
        ValueError: not an `nn.Module`, a member missing or mistyped, `encode` not returning a `Posterior`, or
            latents / reconstructions whose shapes do not follow from `latent_channels`, `downsample` and
            `image_size` (a latent grid that does not fit the data resolution).
    """
    who = f"pretrained item '{name}' ({source})"
    fix = f"implement autoencoders.base.LatentAutoencoder ({README})"
    if not isinstance(model, nn.Module) or not isinstance(model, LatentAutoencoder):
        have = [m for m in ("encode", "decode", "latent_channels", "downsample") if hasattr(model, m)]
        raise ValueError(f"{who} gave a {type(model).__name__} (an nn.Module with {have} of the four members): {fix}")
    c, f = model.latent_channels, model.downsample
    if not all(isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in (c, f)):
        raise ValueError(f"{who}: latent_channels ({c!r}) and downsample ({f!r}) must be positive ints: {fix}")
    if image_size % f:
        raise ValueError(
            f"{who}: data.resolution {image_size} is not a multiple of its downsampling factor {f}: its latent grid "
            "does not fit; set data.resolution to a multiple of it"
        )
    grid = image_size // f
    model.eval()
    with torch.no_grad():
        post = model.encode(torch.zeros(1, 3, image_size, image_size))
        if not isinstance(post, Posterior):
            raise ValueError(f"{who}: encode returned a {type(post).__name__}, not a bench.posterior.Posterior: {fix}")
        if tuple(post.mean.shape) != (1, c, grid, grid):
            raise ValueError(
                f"{who}: a {image_size}-px image encodes to {tuple(post.mean.shape)}, not (1, {c}, {grid}, {grid}) as "
                f"latent_channels {c} and downsample {f} say: its latent grid does not fit data.resolution "
                f"{image_size}; run it at its own resolution (set data.resolution) or fix the two attributes"
            )
        out = model.decode(post.mean)
    if tuple(out.shape) != (1, 3, image_size, image_size):
        raise ValueError(f"{who}: decode gave {tuple(out.shape)} for a ({c}, {grid}, {grid}) latent, not an image")
    return grid


# --- records and the one loading path ---------------------------------------------------------------------------------
def source_files(cfg: PretrainedCfg) -> dict[str, str]:
    """sha256 of every file that defines a pretrained item: under its folder (bytecode aside), or its one file
    (plus the config.json beside a diffusers weights file). Keys are paths relative to the params' `path`."""
    path = Path(cfg.path)
    if path.is_dir():
        files = [
            p for p in sorted(path.rglob("*")) if p.is_file() and not set(p.relative_to(path).parts) & set(SKIPPED)
        ]
    else:
        files = [path] + ([path.parent / DIFFUSERS_CONFIG] if cfg.format == "diffusers" else [])
    base = path if path.is_dir() else path.parent
    return {str(p.relative_to(base)): _sha256(p) for p in files if p.is_file()}


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def digest(files: dict[str, str]) -> str:
    """One sha256 over `source_files`: changes when any file is added, removed or edited."""
    return hashlib.sha256("".join(f"{k}\0{v}\n" for k, v in sorted(files.items())).encode()).hexdigest()


def record(name: str, cfg: PretrainedCfg, imported: Imported) -> dict[str, Any]:
    """What import_ae writes for a pretrained item (`bench.layout.pretrained_record`)."""
    files = source_files(cfg)
    factors = imported.facts.get("latent_factors", {"scaling_factor": None, "shift_factor": None})
    return {
        "item": name,
        "format": cfg.format,
        "path": cfg.path,
        "entry": cfg.entry,
        "sha256": digest(files),
        "files": files,
        **{k: v for k, v in imported.facts.items() if k != "latent_factors"},
        "latent_factors": {**factors, "applied": False, "why": "extract normalises every latent space per channel"},
    }


@dataclass(frozen=True)
class Item:
    """An item's autoencoder as its maker left it in `bench.layout.autoencoder_dir`: what a later stage loads.

    Attributes:
        name: the item.
        folder: `runs/autoencoders/<name>/`.
        kind: the registry kind of a trained item ("ae", ..., "vmae"), or "pretrained".
        params: what made it, as recorded there: {"arch", "variant"} (train_ae) or {"pretrained"} (import_ae).
        source: import_ae's `source.json` of a pretrained item (None for a trained one).
    """

    name: str
    folder: Path
    kind: str
    params: dict[str, Any]
    source: dict[str, Any] | None


def read_item(name: str, cfg: AutoencodersCfg, runs: layout.Root) -> Item:
    """Item `name`'s autoencoder record, before any work of the stage that reads it.

    Args:
        name: an item of `cfg.names`; `cfg` only says which stage makes it, for the message.
        runs: the runs folder (or the paths section).

    Raises:
        FileNotFoundError: the stage that makes it (train_ae or import_ae) has not run; the message names it.
    """
    folder = layout.autoencoder_dir(runs, name)
    pretrained = cfg.is_pretrained(name)
    made = layout.pretrained_record(runs, name) if pretrained else layout.autoencoder_weights(runs, name)
    if not made.is_file() or not (folder / layout.PARAMS_FILE).is_file():
        stage = "import_ae" if pretrained else "train_ae"
        raise FileNotFoundError(f"'{made}' not found: make item '{name}' first with `dvc repro {stage}@{name}`")
    recorded = json.loads((folder / layout.PARAMS_FILE).read_text())["autoencoders"]
    if pretrained:
        return Item(name, folder, PRETRAINED, recorded, json.loads(made.read_text()))
    trained = {"arch": recorded["arch"], "variant": recorded["variant"]}  # what defines the model, not its training
    return Item(name, folder, recorded["variant"]["kind"], trained, None)


def load_autoencoder(item: Item, *, image_size: int) -> LatentAutoencoder:
    """The one loading path of eval_ae, compress, extract and sample: the item's autoencoder in eval mode, on the CPU,
    from its folder alone (no autoencoder params are read, so the folder is the stages' only dependency on it).

    Args:
        item: from `read_item`.
        image_size: `data.resolution`.

    Raises:
        ValueError: weights that do not fit the recorded architecture, or a pretrained item whose files changed since
            import_ae recorded them.
    """
    if item.source is None:
        return load_trained(item.folder, image_size=image_size)
    entry = parse_section(PretrainedCfg, item.params["pretrained"], str(item.folder), f"pretrained.{item.name}")
    if item.source["sha256"] != digest(source_files(entry)):
        raise ValueError(
            f"the files under '{entry.path}' changed since import_ae@{item.name} recorded them: run `dvc repro` (it "
            f"re-imports the item and re-runs its chain), or `dvc repro -f import_ae@{item.name}`"
        )
    return import_pretrained(item.name, entry, image_size).model
