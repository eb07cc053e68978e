"""Typed loader for `params.yaml`, the one home of every experiment knob.

Each section of `params.yaml` maps to a frozen dataclass (one module per family of sections, all re-exported
here); `load_params()` walks the YAML
against the type hints, so an unknown key, a missing key, a wrong type or an out-of-range value
raises `ValueError` naming the key, the value and what is allowed, before any work starts.
Defaults live only in `params.yaml`: no field here has one.

Run `python -m bench.config [PATH]` to validate a params file and print it back resolved.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import yaml

from bench.config.autoencoders import (
    CONV_KINDS,
    OBJECTIVE_BLOCK,
    PRETRAINED,
    AutoencoderKind,
    AutoencodersCfg,
    ConvArchCfg,
    DAELossCfg,
    KLCfg,
    PhasesCfg,
    PretrainedCfg,
    PretrainedFormat,
    SDVAELossCfg,
    VariantCfg,
    ViTArchCfg,
    VMAELossCfg,
)
from bench.config.core import (
    EMBEDDED_KINDS,
    DataCfg,
    DatasetCfg,
    DatasetKind,
    FacesCfg,
    FeatnetsCfg,
    OptimGroupCfg,
    PathsCfg,
    PlateauCfg,
    RuntimeCfg,
    ShapesCfg,
    TrainCfg,
)
from bench.config.diffusion import (
    DiffusionCfg,
    DiTModelCfg,
    DiTSize,
    ExtractCfg,
    ObjectiveCfg,
    SampleCfg,
    check_diffusion_refs,
)
from bench.config.evaluation import (
    AnalysisCfg,
    BootstrapCfg,
    CompressCfg,
    JudgesCfg,
    MetricsCfg,
    PaperCheckCfg,
    ProxiesCfg,
    SWDCfg,
    ValidateCfg,
)
from bench.config.fields import bound

__all__ = [
    "CONV_KINDS", "EMBEDDED_KINDS", "OBJECTIVE_BLOCK", "PRETRAINED", "AnalysisCfg", "AutoencoderKind",
    "AutoencodersCfg", "BootstrapCfg", "CompressCfg", "ConvArchCfg", "DAELossCfg", "DataCfg", "DatasetCfg",
    "DatasetKind", "DiTModelCfg", "DiTSize", "DiffusionCfg", "ExtractCfg", "FacesCfg", "FeatnetsCfg", "JudgesCfg",
    "KLCfg", "MetricsCfg", "ObjectiveCfg", "OptimGroupCfg", "PaperCheckCfg", "Params", "PathsCfg", "PhasesCfg",
    "PlateauCfg", "PretrainedCfg", "PretrainedFormat", "ProxiesCfg", "RuntimeCfg", "SDVAELossCfg", "SWDCfg",
    "SampleCfg", "ShapesCfg", "TrainCfg", "ValidateCfg", "VMAELossCfg", "VariantCfg", "ViTArchCfg", "as_dict",
    "bound", "load_params", "parse_params", "parse_section",
]  # fmt: skip


@dataclass(frozen=True)
class Params:
    """All of `params.yaml`."""

    seed: int = bound(ge=0)
    runtime: RuntimeCfg
    paths: PathsCfg
    data: DataCfg
    featnets: FeatnetsCfg
    judges: JudgesCfg
    autoencoders: AutoencodersCfg
    diffusion: DiffusionCfg
    metrics: MetricsCfg
    analysis: AnalysisCfg

    def check(self) -> None:
        unknown = [s for s in self.featnets.sets if s not in self.data.sets]
        if unknown:
            raise ValueError(f"featnets.sets {unknown} are not in data.sets {sorted(self.data.sets)}")
        missing = [s for s in self.autoencoders.train_sets if s not in self.data.sets]
        if missing:
            raise ValueError(
                f"autoencoders.train_sets {missing} are not in data.sets {sorted(self.data.sets)}: add or drop them"
            )
        check_diffusion_refs(self)
        unknown = [s for s in self.analysis.compress.sets if s not in self.data.sets]
        if unknown:
            raise ValueError(f"analysis.compress.sets {unknown} are not in data.sets {sorted(self.data.sets)}")


# ---------------------------------------------------------------------------------------------
# Loader
# ---------------------------------------------------------------------------------------------

DEFAULT_PATH = Path("params.yaml")


def load_params(path: str | Path = DEFAULT_PATH) -> Params:
    """Read and validate a params file.

    Args:
        path: YAML file; `params.yaml` in the working directory by default.

    Returns:
        The frozen, validated `Params`.

    Raises:
        FileNotFoundError: the file does not exist.
        ValueError: unknown, missing, mistyped or out-of-range keys, named with their dotted path.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"params file '{path}' not found: run from the repository root or pass its path")
    with path.open() as f:
        raw = yaml.safe_load(f)
    return parse_params(raw, source=str(path))


def parse_params(raw: Any, source: str = "params") -> Params:
    """Validate an already-parsed params mapping (see `load_params`)."""
    return _build(Params, raw, source, "")


def parse_section(tp: type, raw: Any, source: str, key: str) -> Any:
    """Validate one section or sub-block (e.g. a `VariantCfg` a stage recorded in its params.json) as the loader
    validates params.yaml: `key` is its dotted name in messages."""
    return _build(tp, raw, source, key)


def as_dict(cfg: Any) -> Any:
    """A dataclass config back to plain YAML/JSON types (tuples become lists)."""
    if dataclasses.is_dataclass(cfg):
        return {f.name: as_dict(getattr(cfg, f.name)) for f in dataclasses.fields(cfg)}
    if isinstance(cfg, dict):
        return {k: as_dict(v) for k, v in cfg.items()}
    if isinstance(cfg, (list, tuple)):
        return [as_dict(v) for v in cfg]
    return cfg


def _describe(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (tuple, list):
        return f"a list of {_describe(typing.get_args(tp)[0])}"
    if origin is dict:
        return f"a mapping of name -> {_describe(typing.get_args(tp)[1])}"
    if dataclasses.is_dataclass(tp):
        return f"a mapping with keys {[f.name for f in dataclasses.fields(tp)]}"
    return getattr(tp, "__name__", str(tp))


def _fail(source: str, key: str, value: Any, allowed: str) -> ValueError:
    return ValueError(f"{source}: key '{key or '<root>'}' = {value!r} is invalid: expected {allowed}")


def _build(tp: Any, value: Any, source: str, key: str) -> Any:
    """Convert `value` to type `tp`, raising a keyed ValueError on any mismatch."""
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        if not isinstance(value, dict):
            raise _fail(source, key, value, _describe(tp))
        hints = typing.get_type_hints(tp)
        fields = {f.name: f for f in dataclasses.fields(tp)}
        unknown = sorted(set(value) - set(fields))
        if unknown:
            where = f"'{key}'" if key else "the top level"
            raise ValueError(f"{source}: unknown key(s) {unknown} under {where}; allowed keys: {sorted(fields)}")
        missing = sorted(set(fields) - set(value))
        if missing:
            full = [f"{key}.{m}" if key else m for m in missing]
            raise ValueError(f"{source}: missing key(s) {full}; add them to params.yaml (no code defaults)")
        kwargs = {}
        for name, f in fields.items():
            sub = f"{key}.{name}" if key else name
            kwargs[name] = _build(hints[name], value[name], source, sub)
            _check_range(f, kwargs[name], source, sub)
        obj = tp(**kwargs)
        check = getattr(obj, "check", None)
        if check is not None:
            try:
                check()
            except ValueError as e:
                raise ValueError(f"{source}: key '{key or '<root>'}' is invalid: {e}") from None
        return obj
    if origin is Literal:
        allowed = typing.get_args(tp)
        if value not in allowed or isinstance(value, bool) != any(isinstance(a, bool) for a in allowed):
            raise _fail(source, key, value, _describe(tp))
        return value
    if origin in (types.UnionType, typing.Union):
        for arm in typing.get_args(tp):
            if arm is type(None) and value is None:
                return None
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            raise _fail(source, key, value, _describe(arms[0]))
        return _build(arms[0], value, source, key)
    if origin is tuple:
        if not isinstance(value, list):
            raise _fail(source, key, value, _describe(tp))
        (item,) = [a for a in typing.get_args(tp) if a is not Ellipsis]
        return tuple(_build(item, v, source, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(source, key, value, _describe(tp))
        _, item = typing.get_args(tp)
        return {str(k): _build(item, v, source, f"{key}.{k}") for k, v in value.items()}
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(source, key, value, "true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(source, key, value, "an integer")
        return value
    if tp is float:
        # YAML reads `1e-4` (no dot) as a string; accept it, since that is how people write rates.
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                raise _fail(source, key, value, "a number") from None
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _fail(source, key, value, "a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(source, key, value, "a string")
        return value
    raise TypeError(f"config type {tp!r} at '{key}' is not supported by the loader")


def _check_range(f: dataclasses.Field, value: Any, source: str, key: str) -> None:
    meta = f.metadata
    if not meta or not isinstance(value, (int, float)) or isinstance(value, bool):
        return
    tests = {
        "ge": (lambda v, b: v >= b, ">="),
        "gt": (lambda v, b: v > b, ">"),
        "le": (lambda v, b: v <= b, "<="),
        "lt": (lambda v, b: v < b, "<"),
    }
    for name, (ok, sym) in tests.items():
        b = meta.get(name)
        if b is not None and not ok(value, b):
            raise _fail(source, key, value, f"a value {sym} {b}")
