"""Shared fixtures: the `tiny` preset with every path moved into the test's tmp_path (R26)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from bench.config import Params, parse_params
from bench.dist import AVX2_KERNELS
from bench.preset import deep_merge, merged

ROOT = Path(__file__).resolve().parents[1]

# The default `runtime.cpu_isa: avx2` pins torch's CPU kernels when a stage starts (bench.dist.pin_cpu_kernels), which
# must come before the process's first tensor op: tests call stage mains after other tests' ops, so pin them here.
os.environ.update(AVX2_KERNELS)

# `make test` runs the suite on as many pytest-xdist workers as there are cores. Workers share the cores, so each
# keeps to one thread, and so do the pipeline stages it starts as subprocesses (they inherit OMP_NUM_THREADS): torch's
# OpenMP threads spin while another process holds the core, and two workers with two threads each on two cores made
# small ops many times slower (stop 18's measurements, README "Speed").
if os.environ.get("PYTEST_XDIST_WORKER"):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)

# The two end-to-end pipeline tests are most of the suite's time (the tiny pipeline through the DVC CLI: about 100
# stages, each mostly process start-up). xdist (`--maxschedchunk 1`, Makefile) hands each worker its first two tests
# in collection order, so these go to positions 0 and 2: one starts on each worker at once, and the other slow tests
# come next, so that no worker is left running a long test after the others are done.
LONGEST = (
    "test_pipeline.py::test_tiny_pipeline_end_to_end",
    "test_pipeline_pretrained.py::test_pretrained_items_through_the_pipeline",
)


def pytest_collection_modifyitems(config, items) -> None:
    longest = [item for name in LONGEST for item in items if item.nodeid.endswith(name)]
    rest = [item for item in items if item not in longest]
    rest.sort(key=lambda item: item.get_closest_marker("slow") is None)  # stable: slow first, each in file order
    items[:] = longest[:1] + rest[:1] + longest[1:] + rest[1:]


def tiny_raw(tmp_path: Path, **overrides) -> dict:
    """The raw tiny-preset params with paths under `tmp_path`, plus `overrides` merged in (nested dicts)."""
    raw = merged("tiny", ROOT / "params.yaml", ROOT / "presets")
    raw["paths"] = {k: str(tmp_path / v) for k, v in raw["paths"].items()}
    raw["runtime"]["device"] = "cpu"
    return deep_merge(raw, overrides)


def tiny_params(tmp_path: Path, **overrides) -> Params:
    return parse_params(tiny_raw(tmp_path, **overrides), source="tiny preset (test)")


@contextmanager
def one_thread() -> Iterator[None]:
    """One torch thread inside: on a shared 2-core machine oversubscription makes small ops many times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture
def single_thread():
    with one_thread():
        yield


def run_upstream(params: Params, judges: bool = True) -> Params:
    """Run the stages a measuring stage reads, in one process: data, featnets and (with `judges`) the judge
    ensemble and its reference statistics. Returns `params`."""
    from bench import data, reference, train_featnets, train_judges  # stage modules: only the tests that run them

    data.main(params)
    train_featnets.main(params)
    if judges:
        train_judges.main(params)
        reference.main(params)
    return params
