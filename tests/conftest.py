"""Shared fixtures: the `tiny` preset with every path moved into the test's tmp_path (R26)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bench.config import Params, parse_params
from bench.preset import deep_merge, merged

ROOT = Path(__file__).resolve().parents[1]


def tiny_raw(tmp_path: Path, **overrides) -> dict:
    """The raw tiny-preset params with paths under `tmp_path`, plus `overrides` merged in (nested dicts)."""
    raw = merged("tiny", ROOT / "params.yaml", ROOT / "presets")
    raw["paths"] = {k: str(tmp_path / v) for k, v in raw["paths"].items()}
    raw["runtime"]["device"] = "cpu"
    return deep_merge(raw, overrides)


def tiny_params(tmp_path: Path, **overrides) -> Params:
    return parse_params(tiny_raw(tmp_path, **overrides), source="tiny preset (test)")


@pytest.fixture
def single_thread():
    """One torch thread: on a shared 2-core machine oversubscription makes small ops many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
