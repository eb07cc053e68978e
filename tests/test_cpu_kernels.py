"""`runtime.cpu_isa`: pinning torch's CPU kernels (ATen, oneDNN, MKL) to AVX2 from inside a stage, so hosts with and
without AVX-512 train the same weights (bench.dist.pin_cpu_kernels).

Each case runs in a fresh interpreter: a library fixes its kernels at its first op, which in this process has
long happened. Run: `python -m pytest tests/test_cpu_kernels.py -q` (a few seconds).
"""

from __future__ import annotations

import os
import subprocess
import sys
from functools import cache

import pytest

from bench.dist import AVX2_KERNELS

# A few SGD steps of a small conv net and a linear layer, then the weights' hash. On this AVX-512 host the weights
# move with ATEN_CPU_CAPABILITY and ONEDNN_MAX_CPU_ISA; MKL_CBWR leaves them unchanged (no MKL call in this net).
TRAIN = """
import hashlib, sys
import torch
from bench.config import RuntimeCfg
from bench.dist import pick_device
if sys.argv[1] != "exported":
    pick_device(RuntimeCfg(device="cpu", tf32=False, cudnn_benchmark=False, cpu_threads=1, cpu_isa=sys.argv[1],
                           compile_dit=False))
torch.manual_seed(0)
net = torch.nn.Sequential(torch.nn.Conv2d(3, 32, 3, padding=1), torch.nn.GELU(), torch.nn.Conv2d(32, 32, 3, padding=1),
                          torch.nn.GELU(), torch.nn.Flatten(), torch.nn.Linear(32 * 16 * 16, 10))
opt = torch.optim.SGD(net.parameters(), lr=0.1)
x, y = torch.randn(16, 3, 16, 16), torch.randint(0, 10, (16,))
for _ in range(3):
    torch.nn.functional.cross_entropy(net(x), y).backward()
    opt.step()
    opt.zero_grad()
print(torch.backends.cpu.get_cpu_capability(), hashlib.sha256(b"".join(p.detach().numpy().tobytes()
      for p in net.parameters())).hexdigest())
"""


def _run(code: str, *args: str, exported: bool = False) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in AVX2_KERNELS}  # conftest exports them for this process
    env["OMP_NUM_THREADS"] = "1"
    if exported:
        env.update(AVX2_KERNELS)
    return subprocess.run([sys.executable, "-c", code, *args], env=env, capture_output=True, text=True)


@cache
def _train(mode: str) -> tuple[str, str]:
    """(torch's CPU capability, weights hash) after TRAIN under `mode`: exported, avx2 or native."""
    proc = _run(TRAIN, mode, exported=mode == "exported")
    assert proc.returncode == 0, proc.stderr
    capability, digest = proc.stdout.split()
    return capability, digest


def test_pinning_in_the_stage_equals_exporting_before_python():
    """What pick_device sets at a stage's start gives the very weights of the variables exported before launch."""
    assert _train("avx2") == _train("exported")
    assert _train("avx2")[0] == "AVX2"


def test_native_keeps_the_cpus_best_kernels():
    capability, digest = _train("native")
    if capability == "AVX2":
        pytest.skip("this CPU's best kernels are AVX2 already: native and avx2 are the same code here")
    assert digest != _train("avx2")[1], f"{capability} and AVX2 kernels gave identical weights: the pin is untested"


def test_a_tensor_op_before_the_pin_is_named():
    if _train("native")[0] == "AVX2":
        pytest.skip("this CPU's best kernels are AVX2: an early op already chose AVX2, there is nothing to catch")
    runtime = (
        "RuntimeCfg(device='cpu', tf32=False, cudnn_benchmark=False, cpu_threads=1, cpu_isa='avx2', compile_dit=False)"
    )
    code = "\n".join(
        [
            "import torch",
            "torch.randn(64).exp()",
            "from bench.config import RuntimeCfg",
            "from bench.dist import pick_device",
            f"pick_device({runtime})",
        ]
    )
    proc = _run(code)
    assert proc.returncode != 0 and "a tensor op ran before the stage applied its runtime" in proc.stderr, proc.stderr
