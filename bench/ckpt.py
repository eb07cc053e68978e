"""Checkpoints: plain state dicts, written atomically, loaded with `weights_only=True`.

A training checkpoint is `{model, ema, opt, step, rng, params}`; "latest" is the highest step
number in the file name (`ckpt_00001200.pt`), never file size or mtime. Anything that is not a
plain tensor/number/container (a pickled class, a malicious `__reduce__`) is refused on load with
an error that names the file.
"""

from __future__ import annotations

import hashlib
import pickle
import re
from pathlib import Path
from typing import Any

import torch

from bench.outputs import atomic_path

CKPT_PATTERN = re.compile(r"^ckpt_(\d{8})\.pt$")
ROOT = Path(__file__).resolve().parents[1]
# The project's code packages, lowest layer first (tests/stage_closure.py checks imports run down them); tests and
# notebooks are not among them.
PACKAGES = ("bench", "autoencoders", "diffusion", "analysis")


def code_fingerprint(root: Path = ROOT) -> str:
    """sha256 over the relative path and bytes of every `.py` file of the project's packages under `root`.

    A training checkpoint records it, and the loop resumes only a checkpoint made by the same code. Checkpoint
    folders outlive a stage's re-run (DVC `persist`), and DVC re-runs a training stage exactly when its code or
    params changed: without this, the stage would resume its old final checkpoint and hand back the old weights
    under the new code. The whole project, not the stage's import closure: an edit anywhere makes an interrupted
    run start again rather than resume (a cost), but never resumes weights from other code.
    """
    digest = hashlib.sha256()
    for package in PACKAGES:
        for path in sorted((root / package).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def ckpt_name(step: int) -> str:
    return f"ckpt_{step:08d}.pt"


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write `state` with torch.save, atomically (a crash never leaves a truncated checkpoint)."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def load_checkpoint(path: str | Path, safe_globals: list | None = None) -> dict[str, Any]:
    """Load a checkpoint safely.

    Args:
        path: file written by `save_checkpoint` (or a third-party state-dict file).
        safe_globals: extra classes to allow-list for this file only (e.g. `argparse.Namespace`).

    Raises:
        FileNotFoundError: no such file.
        ValueError: the file is corrupt or holds objects other than tensors and containers.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint '{path}' not found")
    try:
        if safe_globals:
            with torch.serialization.safe_globals(safe_globals):
                return torch.load(path, map_location="cpu", weights_only=True)
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        raise ValueError(
            f"refusing to load '{path}': it is not a plain weights file (weights_only=True rejected it: "
            f"{str(e).splitlines()[0]}). Re-save it as a state dict, or delete it if you do not trust it."
        ) from None
    except (RuntimeError, EOFError, OSError) as e:
        raise ValueError(
            f"checkpoint '{path}' is corrupt or truncated ({e}); delete it to resume from an earlier one"
        ) from None


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The checkpoint with the highest step in `folder`, or None."""
    folder = Path(folder)
    if not folder.is_dir():
        return None
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := CKPT_PATTERN.match(p.name))]
    return max(found)[1] if found else None


def prune_checkpoints(folder: str | Path, keep: int) -> None:
    """Delete all but the `keep` newest step checkpoints."""
    found = sorted((int(m.group(1)), p) for p in Path(folder).iterdir() if (m := CKPT_PATTERN.match(p.name)))
    for _, p in found[:-keep]:
        p.unlink()


def rng_state() -> dict[str, Any]:
    """Torch RNG states (CPU, and CUDA where present) for an exact resume."""
    state = {"torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
