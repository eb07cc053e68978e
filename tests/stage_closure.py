"""Which project files each DVC stage really runs, and whether imports respect the package layering.

A stage's code is its module plus everything that module imports, transitively (parent packages' `__init__`
included, lazy imports inside functions included, `if TYPE_CHECKING:` imports excluded): read statically from the
AST, so nothing is imported or executed. `tests/test_architecture.py` asserts that dvc.yaml lists exactly those
files as deps and that imports only go down the layers.

Run `python -m tests.stage_closure` from the repository root to print, per stage, the deps block it should have
(code files, then its current data deps) and how it differs from dvc.yaml now; `--write` rewrites the code deps of
every stage in dvc.yaml in place (data deps, comments and everything else stay as they are).
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path, PurePosixPath

import yaml

from bench.ckpt import PACKAGES

LAYERS = PACKAGES  # bench -> autoencoders -> diffusion -> analysis
LAYERING = " -> ".join(LAYERS)


def project_modules(root: Path) -> dict[str, Path]:
    """Dotted name -> file for every module of the four packages; a package maps to its `__init__.py`."""
    modules: dict[str, Path] = {}
    for package in LAYERS:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _with_parents(name: str, modules: dict[str, Path]) -> set[str]:
    """`a.b.c` and the packages `a`, `a.b` whose `__init__` Python runs first (namespace packages have none)."""
    parts = name.split(".")
    return {p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if p in modules}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, skipping `if TYPE_CHECKING:` bodies (never run) but not their `else`."""
    found: list[ast.Import | ast.ImportFrom] = []
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            found.append(child)
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for stmt in child.orelse:
                found += [stmt] if isinstance(stmt, ast.Import | ast.ImportFrom) else _import_nodes(stmt)
        else:
            found += _import_nodes(child)
    return found


def imports_of(name: str, modules: dict[str, Path]) -> set[str]:
    """Project modules that running `name` imports directly, with the parent packages those imports execute."""
    path = modules[name]
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found |= _with_parents(alias.name, modules)
            continue
        base = node.module or ""
        if node.level:  # relative: `from ..x import y` climbs level - 1 packages above this module's own
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join(anchor + ([base] if base else []))
        found |= _with_parents(base, modules)
        for alias in node.names:  # `from a.b import c`: c may be a submodule, imported as a side effect
            if f"{base}.{alias.name}" in modules:
                found |= _with_parents(f"{base}.{alias.name}", modules)
    found.discard(name)
    return found


def closure(name: str, modules: dict[str, Path]) -> set[str]:
    """`name`, its parent packages and everything they import, transitively."""
    seen: set[str] = set()
    todo = list(_with_parents(name, modules))
    while todo:
        current = todo.pop()
        if current not in seen:
            seen.add(current)
            todo += imports_of(current, modules) - seen
    return seen


def closure_files(name: str, modules: dict[str, Path], root: Path) -> list[str]:
    """The closure as sorted repo-relative POSIX paths, the form dvc.yaml deps take."""
    return sorted(modules[m].relative_to(root).as_posix() for m in closure(name, modules))


def _has_main_guard(path: Path) -> bool:
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, ast.If) and isinstance(node.test, ast.Compare):
            sides = [node.test.left, *node.test.comparators]
            names = {s.id for s in sides if isinstance(s, ast.Name)}
            consts = {s.value for s in sides if isinstance(s, ast.Constant)}
            if names == {"__name__"} and consts == {"__main__"}:
                return True
    return False


def stage_modules(modules: dict[str, Path]) -> set[str]:
    """Entry points: a `__main__.py`, or a module with an `if __name__ == "__main__":` block."""
    return {m for m, path in modules.items() if path.name == "__main__.py" or _has_main_guard(path)}


def _is_code_dep(dep: str) -> bool:
    path = PurePosixPath(dep.rstrip("/"))
    return "${" not in dep and (path.suffix == ".py" or (path.parts[0] in LAYERS and not path.suffix))


def stage_specs(dvc_yaml: Path) -> dict[str, dict]:
    """Stage name -> its definition; a foreach stage's `do` template stands for all its items."""
    stages = yaml.safe_load(dvc_yaml.read_text(encoding="utf-8"))["stages"]
    return {name: spec.get("do", spec) if "foreach" in spec else spec for name, spec in stages.items()}


def dep_paths(spec: dict) -> list[str]:
    return [d if isinstance(d, str) else next(iter(d)) for d in spec.get("deps", [])]


def dvc_code_deps(dvc_yaml: Path) -> dict[str, tuple[str, list[str]]]:
    """Stage name -> (module its cmd runs with `python -m`, or "" if none; its deps that are project code)."""
    result: dict[str, tuple[str, list[str]]] = {}
    for name, spec in stage_specs(dvc_yaml).items():
        cmd = spec["cmd"] if isinstance(spec["cmd"], str) else " ".join(spec["cmd"])
        match = re.search(r"python\S*\s+-m\s+([\w.]+)", cmd)
        result[name] = (match.group(1) if match else "", [d for d in dep_paths(spec) if _is_code_dep(d)])
    return result


def run_module(module: str, modules: dict[str, Path]) -> str | None:
    """The module `python -m module` executes (a package runs its `__main__`); None if not project code."""
    if f"{module}.__main__" in modules:
        return f"{module}.__main__"
    return module if module in modules else None


def dep_differences(module: str, deps: list[str], modules: dict[str, Path], root: Path) -> tuple[list[str], list[str]]:
    """(missing, superfluous) code deps of a stage running `module`; a folder dep is always superfluous."""
    run = run_module(module, modules)
    expected = closure_files(run, modules, root) if run else []
    return [f for f in expected if f not in deps], [d for d in deps if d not in expected]


def layer_violations(modules: dict[str, Path]) -> list[str]:
    """Imports that go up the layers, and imports of a stage module (its `__main__` block aside, it is a script)."""
    stages = stage_modules(modules)
    problems: list[str] = []
    for name in sorted(modules):
        layer = LAYERS.index(name.split(".")[0])
        imports = imports_of(name, modules)
        for imported in sorted(imports):
            implied = any(other.startswith(f"{imported}.") for other in imports)  # a parent of another import
            if LAYERS.index(imported.split(".")[0]) > layer and not implied:
                problems.append(f"{name} -> {imported} (imports go down: {LAYERING})")
            if imported in stages and name != f"{imported}.__main__":
                problems.append(f"{name} -> {imported} (imports a stage module: move what is shared into a library)")
    return problems


def write_code_deps(root: Path) -> None:
    """Rewrite each stage's code deps in dvc.yaml with its closure, keeping its `${...}` data deps after them.

    Line-based rather than a YAML round trip, so comments and layout survive.
    """
    modules = project_modules(root)
    lines = (root / "dvc.yaml").read_text(encoding="utf-8").splitlines(keepends=True)
    out: list[str] = []
    run, i = None, 0
    while i < len(lines):
        line = lines[i]
        cmd = re.match(r"\s*cmd: python -m (\S+)", line)
        if cmd:
            run = run_module(cmd.group(1), modules)
        out.append(line)
        i += 1
        if run is None or not re.match(r"\s*deps:\s*$", line):
            continue
        indent, data = "", []
        while i < len(lines) and (item := re.match(r"(\s*)- (.*)$", lines[i].rstrip("\n"))):
            indent = item.group(1)
            if not _is_code_dep(item.group(2)):
                data.append(item.group(2))
            i += 1
        out += [f"{indent}- {dep}\n" for dep in closure_files(run, modules, root) + data]
    (root / "dvc.yaml").write_text("".join(out), encoding="utf-8")


def main(root: Path) -> int:
    modules = project_modules(root)
    specs = stage_specs(root / "dvc.yaml")
    raw = yaml.safe_load((root / "dvc.yaml").read_text(encoding="utf-8"))["stages"]
    differing = 0
    for name, (module, deps) in dvc_code_deps(root / "dvc.yaml").items():
        indent = " " * (6 if "foreach" in raw[name] else 4)  # a foreach stage's deps sit under `do:`
        run = run_module(module, modules)
        missing, extra = dep_differences(module, deps, modules, root)
        differing += bool(missing or extra)
        print(f"# {name}: python -m {module}" + ("" if run else "  (NOT a project module)"))
        print(f"{indent}deps:")
        data = [d for d in dep_paths(specs[name]) if not _is_code_dep(d)]
        for dep in (closure_files(run, modules, root) if run else []) + data:
            print(f"{indent}  - {dep}")
        for label, items in (("missing", missing), ("superfluous", extra)):
            if items:
                print(f"#   {label}: {', '.join(items)}")
        print()
    violations = layer_violations(modules)
    print(f"# {differing} stage(s) differ from dvc.yaml; {len(violations)} layer violation(s)")
    for violation in violations:
        print(f"#   {violation}")
    return 1 if differing or violations else 0


if __name__ == "__main__":
    repo = Path(__file__).resolve().parents[1]
    if "--write" in sys.argv[1:]:
        write_code_deps(repo)
    sys.exit(main(repo))
