"""Architecture checks, static (nothing is imported or run, the pipeline need not have run).

- every dvc.yaml stage lists as deps exactly the project files its module imports (transitively), so DVC re-runs a
  stage when, and only when, code it runs changes; package folders (`- bench`) are too coarse and count as wrong;
- imports go down the layers bench -> autoencoders -> diffusion -> analysis, and never into a stage module;
- volatile records (runs/records) and resumable state (runs/work) never sit inside what another stage depends on;
- the checker itself reports each kind of problem on a tiny fake project (so these tests can fail).

Run: `.venv/bin/python -m pytest -q tests/test_architecture.py`; `python -m tests.stage_closure` prints the fix.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.stage_closure import (
    dep_differences,
    dep_paths,
    dvc_code_deps,
    imports_of,
    layer_violations,
    project_modules,
    run_module,
    stage_specs,
)

ROOT = Path(__file__).resolve().parents[1]
STAGES = dvc_code_deps(ROOT / "dvc.yaml")


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_code_deps_are_exactly_its_import_closure(stage: str) -> None:
    module, deps = STAGES[stage]
    modules = project_modules(ROOT)
    assert run_module(module, modules), f"stage {stage}: its cmd must be `python -m <project module>`, got {module!r}"
    missing, superfluous = dep_differences(module, deps, modules, ROOT)
    assert not (missing or superfluous), (
        f"stage {stage} (python -m {module}): code deps differ from the files it imports.\n"
        f"  missing:     {missing}\n  superfluous: {superfluous}\n"
        "Fix: list exactly these files under deps (`python -m tests.stage_closure` prints them ready to paste)."
    )


def test_imports_respect_layers_and_stages() -> None:
    violations = layer_violations(project_modules(ROOT))
    assert not violations, "imports that break the layering:\n  " + "\n  ".join(violations)


FAKE_FILES = {
    "bench/__init__.py": "",
    "bench/util.py": "import os\n",
    # lazy import inside a function: it still runs, so it counts (and it goes up a layer)
    "bench/low.py": "def f():\n    from autoencoders import model\n    return model\n",
    "bench/typed.py": (
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from autoencoders.model import M\nelse:\n"
        "    from . import util\n"
    ),
    "autoencoders/__init__.py": "",
    "autoencoders/model.py": "from bench.util import os\n",
    "autoencoders/evaluate.py": "from .model import os\nif __name__ == '__main__':\n    pass\n",
    "autoencoders/train.py": (
        "import autoencoders.model\nfrom autoencoders import evaluate\nif __name__ == '__main__':\n    pass\n"
    ),
}
FAKE_DVC = """stages:
  train:
    foreach: [a, b]
    do:
      cmd: python -m autoencoders.train ${item}
      deps:
        - autoencoders/__init__.py
        - autoencoders/train.py
        - autoencoders/model.py
        - bench/__init__.py
        - bench/util.py
        - bench/low.py
        - bench
        - ${paths.data}
"""


def test_checker_reports_each_problem_on_a_fake_project(tmp_path: Path) -> None:
    for name, text in FAKE_FILES.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / "dvc.yaml").write_text(FAKE_DVC)
    modules = project_modules(tmp_path)

    stages = dvc_code_deps(tmp_path / "dvc.yaml")
    assert list(stages) == ["train"]  # a foreach stage is reported once, under its base name
    module, deps = stages["train"]
    assert module == "autoencoders.train"
    assert "${paths.data}" not in deps  # data deps are not code
    missing, superfluous = dep_differences(module, deps, modules, tmp_path)
    assert missing == ["autoencoders/evaluate.py"]  # the one dep left out
    assert superfluous == ["bench/low.py", "bench"]  # a file it never imports; a folder is never a valid dep
    assert imports_of("bench.typed", modules) == {"bench", "bench.util"}  # TYPE_CHECKING skipped, `else` kept

    violations = layer_violations(modules)
    assert any(v.startswith("bench.low -> autoencoders.model (imports go down") for v in violations), violations
    assert any(v.startswith("autoencoders.train -> autoencoders.evaluate (imports a stage") for v in violations)
    # no false alarms: downward imports, TYPE_CHECKING-only imports and the else branch's relative import
    assert not [v for v in violations if v.startswith(("autoencoders.model", "bench.typed", "autoencoders.evaluate"))]
    assert len(violations) == 2, violations


def _outs(spec: dict) -> list[tuple[str, dict]]:
    """(path, options) of a stage's outs, with a fan-out item written `{item}` whatever the template calls it."""
    outs = []
    for out in spec.get("outs", []):
        path, options = (out, {}) if isinstance(out, str) else next(iter(out.items()))
        outs.append((path.replace("${key}", "{item}").replace("${item}", "{item}"), options or {}))
    return outs


# Report stages that print wall times (Table 2's training time) must re-run when those change; they are the only
# readers of records, and nothing depends on what they write except the README.
READS_TIMES = {
    ("table_efficiency", "${paths.runs}/records/autoencoders"),
    ("paper_check", "${paths.runs}/records/autoencoders"),
}


def test_volatile_records_and_resumable_state_stay_outside_what_stages_depend_on() -> None:
    """Same inputs, same hashes: `meta.json` records (runs/records) and checkpoints with their curves (runs/work)
    must never sit inside an output another stage depends on, or every re-run would make everything downstream stale.
    """
    specs = stage_specs(ROOT / "dvc.yaml")
    volatile = {
        path: stage
        for stage, spec in specs.items()
        for path, options in _outs(spec)
        if path.startswith(("${paths.runs}/records/", "${paths.runs}/work/"))
        or options.get("persist")
        or path.endswith("/meta.json")
    }
    misplaced = sorted(p for p in volatile if not p.startswith(("${paths.runs}/records/", "${paths.runs}/work/")))
    assert not misplaced, f"records or persistent state outside runs/records and runs/work: {misplaced}"
    deps = {
        (stage, dep.replace("${key}", "{item}").replace("${item}", "{item}"))
        for stage, spec in specs.items()
        for dep in dep_paths(spec)
        if dep.startswith("${")
    }
    inside = sorted(f"{stage} depends on {dep}, which holds {v} ({volatile[v]})" for stage, dep in deps
                    for v in volatile if (v == dep or v.startswith(dep.rstrip("/") + "/"))
                    and (stage, dep) not in READS_TIMES)  # fmt: skip
    assert not inside, "volatile outputs inside dependencies:\n  " + "\n  ".join(inside)


def test_the_volatile_output_check_can_fail(tmp_path: Path) -> None:
    (tmp_path / "dvc.yaml").write_text(
        "stages:\n"
        "  a:\n    cmd: python -m bench.a\n    outs:\n      - ${paths.runs}/a\n"
        "      - ${paths.runs}/a/meta.json:\n          persist: true\n"
        "  b:\n    cmd: python -m bench.b\n    deps:\n      - ${paths.runs}/a\n"
    )
    specs = stage_specs(tmp_path / "dvc.yaml")
    persistent = [p for p, o in _outs(specs["a"]) if o.get("persist")]
    assert persistent == ["${paths.runs}/a/meta.json"]
    assert persistent[0].startswith(dep_paths(specs["b"])[0] + "/")  # the overlap the real test reports
