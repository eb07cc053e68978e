"""The embedded datasets' bytes do not depend on the CPU: numpy's run-time SIMD dispatch (AVX-512, AVX2, baseline)
must not change a single pixel (see the float64 note in bench/embedded/__init__.py).

Run: `python -m pytest tests/test_embedded_simd.py -q` (two subprocesses, a few seconds).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from bench.config import load_params
from tests.conftest import ROOT

DEFAULT = load_params(ROOT / "params.yaml")  # the probes below are images of the default data

# Images whose float32 render differed by one grey level in one pixel between numpy's AVX-512 and AVX2 paths on the
# default data (faces/train at 32 px, seed 0, params.yaml's knobs), found by comparing the whole split;
# plus a spread of ordinary ones.
SIMD_PROBES = {"faces": (743, 1904, *range(0, 3000, 97)), "shapes": tuple(range(0, 3000, 97))}
_PROBE_SCRIPT = """
import hashlib, sys
from bench.config import FacesCfg, ShapesCfg
from bench.embedded import generate
cfgs = {"faces": FacesCfg(**%r), "shapes": ShapesCfg(**%r)}
for kind, starts in %r.items():
    for i in starts:
        batch = generate(kind, 1, %d, %d, "train", cfgs[kind], start=i)
        print(kind, i, hashlib.sha256(b"".join(a.tobytes() for a in batch)).hexdigest())
"""


def _dispatched_simd() -> list[str]:
    """numpy's run-time-dispatched SIMD targets this CPU has beyond the build's baseline, lowest first."""
    return list(np.show_config(mode="dicts")["SIMD Extensions"]["found"])


def test_bytes_do_not_depend_on_numpy_simd_path():
    """The same images whether numpy runs its best SIMD code or its baseline: the bytes are host-independent."""
    found = _dispatched_simd()
    if not found:
        pytest.skip("this CPU has no SIMD target beyond numpy's baseline: there is no second code path to compare")
    data = DEFAULT.data
    script = _PROBE_SCRIPT % (vars(data.faces), vars(data.shapes), SIMD_PROBES, data.resolution, DEFAULT.seed)
    outputs = []
    # every level this CPU offers: all targets, then without the highest, ... down to the baseline alone
    for disabled in ["", *(" ".join(found[i:]) for i in reversed(range(len(found))))]:
        env = {**os.environ, "NPY_DISABLE_CPU_FEATURES": disabled}
        proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        outputs.append((disabled, proc.stdout.splitlines()))
    assert len(outputs[0][1]) == sum(map(len, SIMD_PROBES.values()))
    for disabled, lines in outputs[1:]:
        differing = [a.split()[:2] for a, b in zip(outputs[0][1], lines, strict=True) if a != b]
        assert not differing, f"images rendered differently with numpy SIMD targets {disabled} disabled: {differing}"
