"""Scratch projects for sweeps: the repository's params with some keys changed, the outputs moved elsewhere.

A sweep point (`autoencoders.sweep`, `bench.judge_sweep`) runs real stage modules in a folder of its own whose
params.yaml is the repository's with a few dotted keys changed and `paths.runs` / `paths.results` inside the
folder; data and local weights stay the repository's. Its report is a Markdown table of the points' readings.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

DOCS = Path(__file__).resolve().parents[1] / "docs" / "sweeps"  # committed sweep reports


def scratch_params(raw: dict, project: Path, changes: Mapping[str, Any]) -> dict:
    """The repository's params (`raw`, untouched) with `changes` (dotted key -> value) made and the runs and results
    folders moved into `project`. Raises ValueError for a key params.yaml does not have."""
    out = yaml.safe_load(yaml.safe_dump(raw))  # a deep copy
    out["paths"] = {
        "data": str(Path(raw["paths"]["data"]).resolve()),
        "runs": str(project / "runs"),
        "results": str(project / "results"),
        "weights": str(Path(raw["paths"]["weights"]).resolve()),
    }
    for key, value in changes.items():
        *parents, leaf = key.split(".")
        node = out
        for part in parents:
            node = node.get(part) if isinstance(node, dict) else None
        if not isinstance(node, dict) or leaf not in node:
            raise ValueError(f"sweep key {key!r} is not in params.yaml: check its spelling against params.yaml")
        node[leaf] = value
    return out


def fmt(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The rows as Markdown table lines, columns in first-seen order, missing cells empty."""
    keys = list(dict.fromkeys(k for r in rows for k in r))
    return [
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows),
    ]


def write_report(name: str, rows: Sequence[Mapping[str, Any]], intro: Sequence[str], rule: str, chosen: str) -> None:
    """`docs/sweeps/<name>.csv` (every reading) and `.md`: a title, `intro` lines, the table, the rule, the choice."""
    DOCS.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with (DOCS / f"{name}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        *intro,
        "",
        *markdown_table(rows),
        "",
        f"Rule (fixed before the run): {rule}",
        "",
        f"**Chosen: {chosen}.**",
        "",
    ]
    (DOCS / f"{name}.md").write_text("\n".join(lines))
