"""Scale presets: partial overrides in `presets/<name>.yaml`, merged onto `params.yaml`.

Run: `python -m bench.preset tiny` (or `make preset P=tiny`) rewrites params.yaml as the committed
default with the preset merged in, after validating the result. `git checkout params.yaml` goes
back to the default. Mappings merge key by key; lists and scalars replace. A preset replaces a
whole mapping (e.g. `data.sets`, so the paper presets drop the embedded sets) by listing its dotted
key under `replace:`, and builds on another preset with `inherit: NAME` (merged first).
"""

from __future__ import annotations

import copy
import sys
from pathlib import Path
from typing import Any

import yaml

from bench.config import DEFAULT_PATH, Params, parse_params

PRESET_DIR = Path("presets")


def available() -> list[str]:
    return sorted(p.stem for p in PRESET_DIR.glob("*.yaml"))


def deep_merge(base: Any, override: Any, replace: frozenset[str] = frozenset(), key: str = "") -> Any:
    """`override` merged onto `base`: dicts key by key (recursively) unless their dotted key is in
    `replace`; anything else replaced."""
    if isinstance(base, dict) and isinstance(override, dict) and key not in replace:
        out = copy.deepcopy(base)
        for k, v in override.items():
            sub = f"{key}.{k}" if key else k
            out[k] = deep_merge(base[k], v, replace, sub) if k in base else copy.deepcopy(v)
        return out
    return copy.deepcopy(override)


def _layers(name: str, preset_dir: Path, seen: tuple[str, ...] = ()) -> list[dict]:
    """The preset `name` and the presets it inherits from, base first."""
    path = preset_dir / f"{name}.yaml"
    if not path.is_file():
        names = sorted(p.stem for p in preset_dir.glob("*.yaml"))
        raise ValueError(f"unknown preset '{name}': expected one of {names} (files in {preset_dir}/)")
    if name in seen:
        raise ValueError(f"presets inherit in a cycle: {' -> '.join((*seen, name))}")
    layer = yaml.safe_load(path.read_text()) or {}
    parent = layer.pop("inherit", None)
    return (_layers(parent, preset_dir, (*seen, name)) if parent else []) + [layer]


def merged(name: str, base_path: str | Path = DEFAULT_PATH, preset_dir: str | Path = PRESET_DIR) -> dict:
    """The raw params mapping of `base_path` with preset `name` (and what it inherits) merged in, not yet validated."""
    raw = yaml.safe_load(Path(base_path).read_text())
    for layer in _layers(name, Path(preset_dir)):
        replace = frozenset(layer.pop("replace", []))
        raw = deep_merge(raw, layer, replace)
    return raw


def apply(name: str, base_path: str | Path = DEFAULT_PATH, out_path: str | Path = DEFAULT_PATH) -> Params:
    """Validate the merged preset, then write it to `out_path` (nothing is written if it is invalid)."""
    raw = merged(name, base_path)
    params = parse_params(raw, source=f"{base_path} + presets/{name}.yaml")
    header = f"# params.yaml with preset '{name}' applied by `python -m bench.preset {name}`.\n"
    header += "# `git checkout params.yaml` restores the committed default.\n"
    Path(out_path).write_text(header + yaml.safe_dump(raw, sort_keys=False, width=120))
    return params


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: python -m bench.preset NAME   (NAME in {available()})")
    apply(sys.argv[1])
    print(f"params.yaml now holds preset '{sys.argv[1]}'")


if __name__ == "__main__":
    main()
