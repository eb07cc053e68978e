"""Shared layout of the paper's tables: metric registry (direction, precision, labels), best/second marks, writers.

Import only; the `table_*` stage modules build a DataFrame each and hand it to `write_table`.

Column convention: every table's columns are tuples ending in (source, label). `source` is "paper" (the authors'
published value: Inception-v3 FIDs, LPIPS-VGG, ImageNet-1K / CelebA-HQ at 256 px) or "this run". `label` is the
metric name *with its extractor* as the stage wrote it (`rfd[judge]`, `percep[own]`; the paper's `rFID[inception]`),
then an arrow giving its direction (↑ higher is better, ↓ lower is better). A judge FD is never labelled FID: the
two sit side by side under their own names, and only their orderings are comparable. Paper and run columns of one
metric are interleaved so that each comparison reads left to right. Rows without a paper counterpart hold NaN there.

Marks, as in the paper: in each column (within each group of the first index level when rows are grouped, e.g. per
dataset in Table 1), the best value is bold and the second best underlined, after rounding to the printed precision.
Tied values share a mark and "second" is the next distinct value (Table 3's caption marks the best *values*). A
column with fewer than two values is not marked. Marks compare point values only, never intervals.

Intervals: a table may come with a `CI`, two frames aligned with it (same index and columns) holding each cell's
interval bounds, NaN where a cell has none (paper columns, metrics the intervals stage does not cover). A cell with
both bounds prints "value ± h", h = (high - low) / 2 at the value's precision (the half-width: an asymmetric
interval prints its half-width too; the .csv keeps both bounds); a cell without prints its value alone.

Files (`write_table`), each written atomically:
- `.md`: GitHub markdown, **bold** / <u>underline</u>, NaN as "–", "± h" after a value with an interval.
- `.tex`: booktabs tabular via pandas' Styler, \\textbf / \\underline, NaN as "--", "$\\pm$ h".
- `.csv`: tidy long form, one line per table cell: the index levels, the column levels, `value`, `low`, `high` (full
  precision; bounds NaN without an interval), `higher_better`, and `mark` ("best" / "second" / ""), so the numbers
  stay numeric for any later analysis.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from analysis import paper, results
from analysis.results import METRICS, Metric
from bench.outputs import atomic_path

PAPER, RUN = "paper", "this run"
UP, DOWN = "↑", "↓"
SWD_NOTE = (  # Tables 1 and 3
    "`swd[pyramid]`: Laplacian-pyramid sliced Wasserstein distance (x 1e3) of image patches against the reference "
    "images (Karras et al. 2018); no trained network is involved, so it is a second view independent of the judge. "
    "Its ± is a linearised bootstrap: each image's influence on the distance, resampled like a per-image metric "
    "(`bench.swd_influence`; the reference images are held fixed in Table 3, paired with their reconstructions in "
    "Table 1)."
)
NOT_VALIDATED = " (not validated)"  # appended to the header of a metric that failed validate_metrics
_BY_NAME = {name: m for m in METRICS.values() for name in (m.paper, *m.run) if name}


def analogue_sets(set_kinds: Mapping[str, str], paper_dataset: str) -> list[str]:
    """Our datasets (in params order) that stand in for `paper_dataset` ("imagenet", "celebahq"), by their kind."""
    return [name for name, kind in set_kinds.items() if paper.ANALOGUE.get(kind) == paper_dataset]


def analogue_note(set_kinds: Mapping[str, str]) -> str:
    """Which of our datasets stands in for which paper dataset, as one line (datasets with an analogue only)."""
    pairs = [(n, paper.PAPER_DATASETS[paper.ANALOGUE[k]]) for n, k in set_kinds.items() if k in paper.ANALOGUE]
    return "; ".join(f"`{n}` stands in for {p}" for n, p in pairs)


def label(name: str, metric: Metric) -> str:
    """Header text: the metric name with its extractor, then its direction arrow."""
    return f"{name} {UP if metric.higher_better else DOWN}"


def metric_of(header: str) -> Metric | None:
    """The Metric behind a header made by `label`, flagged or not (None for an unregistered column)."""
    return _BY_NAME.get(header.removesuffix(NOT_VALIDATED).rsplit(" ", 1)[0])


def flag_unvalidated(
    frame: pd.DataFrame, ci: CI | None, validation: Mapping[str, Any] | None
) -> tuple[pd.DataFrame, CI | None, str]:
    """Mark this run's columns whose metric failed validate_metrics, so that no reader takes them for validated.

    Args:
        frame, ci: a table and its interval bounds (same columns).
        validation: `analysis.results.validation(runs)`, or None when validate_metrics has not run. Columns
            compared image by image with the original (`results.PER_IMAGE`: PSNR, SSIM, ...) are not distribution
            metrics; the battery does not test them and they are never flagged.

    Returns:
        The frame and CI with NOT_VALIDATED appended to those headers, and a note line for the table.
    """
    flagged: dict[str, str] = {}
    for header in frame.columns.get_level_values(-1).unique():
        name = header.rsplit(" ", 1)[0]
        if metric_of(header) is None or name in results.PER_IMAGE:
            continue
        entry = results.verdict(validation, name)
        if entry is not None and not entry["validated"]:
            flagged[header] = header + NOT_VALIDATED
    level = frame.columns.nlevels - 1
    rename = (lambda f: f.rename(columns=flagged, level=level)) if flagged else (lambda f: f)
    ci = None if ci is None else CI(rename(ci.low), rename(ci.high))
    if validation is None:
        note = "Metric validation has not run (`dvc repro validate_metrics`): no metric here is shown to measure."
    elif flagged:
        names = ", ".join(f"`{h.rsplit(' ', 1)[0]}`" for h in flagged)
        note = (f"{NOT_VALIDATED.strip()}: {names} failed at least one disturbance of metric validation "
                "(results/tables/metric_validation.md); their values are shown, no claim rests on them.")  # fmt: skip
    else:
        note = "Every distribution metric shown passed metric validation (results/tables/metric_validation.md)."
    return rename(frame), ci, note


def metric_block(
    run: pd.DataFrame, columns: Mapping[str, str], items: Sequence[str], paper_rows: Mapping[str, Mapping[str, float]]
) -> pd.DataFrame:
    """Interleaved paper / this-run columns for some metric families, one row per item.

    Args:
        run: this run's values indexed by item, with stage-output column names.
        columns: family -> this run's column name (from `analysis.results.column`), in table order.
        items: the rows, in order; items absent from `run` get NaN.
        paper_rows: item -> {paper key: value}; empty where the paper has no counterpart (NaN then).

    Returns:
        DataFrame indexed by item with columns (source, label).
    """
    data: dict[tuple[str, str], list[float]] = {}
    for family, name in columns.items():
        m = METRICS[family]
        if m.paper is not None:
            data[(PAPER, label(m.paper, m))] = [paper_rows.get(i, {}).get(m.paper_key, math.nan) for i in items]
        values = run[name] if name in run.columns else pd.Series(dtype=float)
        data[(RUN, label(name, m))] = [float(values.get(i, math.nan)) for i in items]
    frame = pd.DataFrame(data, index=pd.Index(list(items), name="model"))
    frame.columns = pd.MultiIndex.from_tuples(list(data), names=["source", "metric"])
    return frame


@dataclass(frozen=True)
class CI:
    """Interval bounds of a table's cells: `low` and `high` share the table's index and columns (NaN: none)."""

    low: pd.DataFrame
    high: pd.DataFrame

    def check(self, frame: pd.DataFrame) -> None:
        for bound in (self.low, self.high):
            if not (bound.index.equals(frame.index) and bound.columns.equals(frame.columns)):
                raise ValueError(
                    "CI bounds must share the table's index and columns: build them with its layout function"
                )


def interval_rows(ci: pd.DataFrame, dataset: str, bound: str) -> pd.DataFrame:
    """One bound ("low" / "high") of one dataset's intervals, indexed by item with stage-output column names.

    Args:
        ci: long frame from `analysis.results.interval_frame` ("recon" or "gen").

    Returns:
        A frame shaped like a `metric_block` run frame, so `metric_block` lays the bounds out as it lays the values.
    """
    rows = ci[ci["dataset"] == dataset]
    return rows.pivot(index="item", columns="column", values=bound) if len(rows) else pd.DataFrame()


def ci_note(level: float, check: str | Path) -> str:
    """The table note explaining "±"; `check`: the paper-check report, where differences are tested."""
    return (
        f"± is the {level:.0%} CI half-width (paired bootstrap over eval images / samples, plus the judge-ensemble "
        f"spread); a value printed alone has no interval. Marks compare point values only: see `{check}` for the "
        "tested differences."
    )


def agreement_note(agreement: Mapping[str, Any], members: int, shown: Iterable[tuple[str, str, str]]) -> str | None:
    """One line with the judge ensemble's ranking agreement (Kendall tau between members) for the shown columns.

    Args:
        agreement: `intervals["agreement"]`: part ("recon" / "gen") -> dataset -> column -> {"tau_mean", "tau_min",
            "note"}.
        members: the ensemble's size (`intervals["members"]`).
        shown: (part, dataset, stage-output column) the table prints, in order; those without an entry are skipped.

    Returns:
        The note, or None when no shown column has an agreement entry.
    """

    def tau(t: float | None) -> str:
        return "n/a" if t is None or math.isnan(t) else f"{t:.2f}"

    parts = []
    for part, dataset, column in shown:
        entry = agreement.get(part, {}).get(dataset, {}).get(column)
        if entry is None:
            continue
        mean, least = tau(entry["tau_mean"]), tau(entry["tau_min"])
        text = "n/a" if mean == least == "n/a" else f"{mean}/{least}"
        parts.append(f"{dataset} {column} {text}" + (f" ({entry['note']})" if entry.get("note") else ""))
    if not parts:
        return None
    head = f"Judge ensemble ({members} members) ranking agreement over every evaluated autoencoder, Kendall tau"
    return f"{head} mean/min: " + "; ".join(parts) + "."


def marks(frame: pd.DataFrame) -> pd.DataFrame:
    """The mark of each cell: "best", "second" or "" (see the module docstring for the rule)."""
    out = pd.DataFrame("", index=frame.index, columns=frame.columns)
    groups = frame.index.get_level_values(0) if frame.index.nlevels > 1 else pd.Index([0] * len(frame))
    for j, col in enumerate(frame.columns):
        m = metric_of(col[-1] if isinstance(col, tuple) else col)
        if m is None:
            continue
        for group in groups.unique():
            rows = [i for i, g in enumerate(groups) if g == group]
            shown = pd.to_numeric(frame.iloc[rows, j], errors="coerce").round(m.decimals)
            if shown.notna().sum() < 2:
                continue
            ranked = sorted(shown.dropna().unique(), reverse=m.higher_better)
            for mark, value in zip(("best", "second"), ranked, strict=False):
                for r, v in zip(rows, shown, strict=True):
                    if v == value:
                        out.iat[r, j] = mark
    return out


def _text(value: float, header: str, missing: str) -> str:
    if pd.isna(value):
        return missing
    m = metric_of(header)
    return f"{value:,.{m.decimals if m else 3}f}"


def display(
    frame: pd.DataFrame,
    style: str,
    mark: bool = True,
    percent_row: tuple[str, str] | None = None,
    ci: CI | None = None,
) -> pd.DataFrame:
    """The table as strings for `style` "md" or "tex": numbers at their precision, marks applied.

    Args:
        percent_row: (row, ratio row): append the ratio row's value to `row`'s cells as " (x%)", as the paper's
            Table 2 does, and drop the ratio row.
        ci: interval bounds aligned with `frame`: a cell with a value and both bounds gets " ± half-width" after
            its (marked) value.
    """
    bold, under, missing, pm = (
        ("**{}**", "<u>{}</u>", "–", "±") if style == "md" else (r"\textbf{{{}}}", r"\underline{{{}}}", "--", r"$\pm$")
    )
    if ci is not None:
        ci.check(frame)
    ranks = marks(frame) if mark else pd.DataFrame("", index=frame.index, columns=frame.columns)
    shown = pd.DataFrame("", index=frame.index, columns=frame.columns)
    for j, col in enumerate(frame.columns):
        header = col[-1] if isinstance(col, tuple) else col
        for i in range(len(frame)):
            value = frame.iat[i, j]
            text = _text(value, header, missing)
            rank = ranks.iat[i, j]
            shown.iat[i, j] = bold.format(text) if rank == "best" else under.format(text) if rank == "second" else text
            low, high = (math.nan, math.nan) if ci is None else (ci.low.iat[i, j], ci.high.iat[i, j])
            if pd.notna(value) and pd.notna(low) and pd.notna(high):
                shown.iat[i, j] += f" {pm} {_text((high - low) / 2, header, missing)}"
    if percent_row is not None:
        row, ratio = percent_row
        pct = r"\%" if style == "tex" else "%"
        for col in frame.columns:
            value = frame.at[ratio, col]
            if pd.notna(value) and pd.notna(frame.at[row, col]):
                shown.at[row, col] = f"{shown.at[row, col]} ({value:.1f}{pct})"
        shown = shown.drop(index=ratio)
    return shown


def _flat(key) -> str:
    """A column tuple as one header cell: "<groups> · <source>: <label>"."""
    parts = list(key) if isinstance(key, tuple) else [key]
    head = f"{parts[-2]}: {parts[-1]}" if len(parts) >= 2 else str(parts[-1])
    return " · ".join([*map(str, parts[:-2]), head])


def to_markdown(frame: pd.DataFrame, caption: str, notes: Iterable[str], **kw) -> str:
    shown = display(frame, "md", **kw)
    names = [n or "" for n in shown.index.names]
    header = [*names, *(_flat(c) for c in shown.columns)]
    lines = [f"**{caption}**", "", *(f"- {n}" for n in notes), "", "| " + " | ".join(header) + " |"]
    lines.append("|" + "|".join([":--"] * len(names) + ["--:"] * shown.shape[1]) + "|")
    for key, row in shown.iterrows():
        keys = list(key) if isinstance(key, tuple) else [key]
        lines.append("| " + " | ".join([*map(str, keys), *row.tolist()]) + " |")
    return "\n".join(lines) + "\n"


_TEX = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "$": r"\$", "{": r"\{",
        "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", UP: r"$\uparrow$", DOWN: r"$\downarrow$",
        "≈": r"$\approx$", "·": r"$\cdot$", "–": "--"}  # fmt: skip


def tex_escape(text: str) -> str:
    return "".join(_TEX.get(ch, ch) for ch in str(text))


def to_latex(frame: pd.DataFrame, caption: str, **kw) -> str:
    shown = display(frame, "tex", **kw)
    shown.index = _escape_index(shown.index)
    shown.columns = _escape_index(shown.columns)
    return shown.style.to_latex(
        hrules=True,
        caption=tex_escape(caption),
        column_format="l" * shown.index.nlevels + "r" * shown.shape[1],
        multicol_align="c",
        multirow_align="naive",  # plain text: needs no \usepackage{multirow}
        position_float="centering",
    )


def _escape_index(index: pd.Index) -> pd.Index:
    names = [tex_escape(n) if n else n for n in index.names]
    if isinstance(index, pd.MultiIndex):
        return pd.MultiIndex.from_tuples([tuple(tex_escape(p) for p in t) for t in index], names=names)
    return pd.Index([tex_escape(v) for v in index], name=names[0])


def to_tidy(frame: pd.DataFrame, mark: bool = True, ci: CI | None = None) -> pd.DataFrame:
    """One line per cell: index levels, column levels, value, low, high (NaN without an interval), higher_better,
    mark."""
    ranks = marks(frame) if mark else pd.DataFrame("", index=frame.index, columns=frame.columns)
    if ci is not None:
        ci.check(frame)
    nan = pd.DataFrame(math.nan, index=frame.index, columns=frame.columns)
    low, high = (nan, nan) if ci is None else (ci.low, ci.high)
    index_names = [n or f"row{k}" for k, n in enumerate(frame.index.names)]
    column_names = [n or f"column{k}" for k, n in enumerate(frame.columns.names)]
    rows = []
    for i, key in enumerate(frame.index):
        keys = key if isinstance(key, tuple) else (key,)
        for j, col in enumerate(frame.columns):
            cols = col if isinstance(col, tuple) else (col,)
            m = metric_of(cols[-1])
            cells = dict(zip(index_names, keys, strict=True)) | dict(zip(column_names, cols, strict=True))
            higher = None if m is None else m.higher_better
            bounds = {"low": low.iat[i, j], "high": high.iat[i, j]}
            rows.append(cells | {"value": frame.iat[i, j], **bounds, "higher_better": higher, "mark": ranks.iat[i, j]})
    return pd.DataFrame(rows)


def write_table(
    frame: pd.DataFrame,
    out_dir: str | Path,
    name: str,
    caption: str,
    notes: Iterable[str] = (),
    mark: bool = True,
    percent_row: tuple[str, str] | None = None,
    ci: CI | None = None,
) -> list[Path]:
    """Write `<out_dir>/<name>.{csv,md,tex}` atomically.

    Args:
        frame: a table as built by a `make_table_*` function (numbers; columns ending in (source, label)).
        caption: one line saying what the table is, including which paper dataset each of ours stands in for.
        notes: lines printed under the caption in .md (extractors, units, devices).
        mark: mark best / second best per column (the paper does in Tables 1, 3 and 4, not in Table 2).
        percent_row: see `display`.
        ci: the cells' interval bounds, aligned with `frame` (see `CI`); None: values alone.

    Returns:
        The three paths written.
    """
    notes = list(notes)
    out = Path(out_dir)
    texts = {
        "md": to_markdown(frame, caption, notes, mark=mark, percent_row=percent_row, ci=ci),
        "tex": to_latex(frame, caption, mark=mark, percent_row=percent_row, ci=ci),
        "csv": to_tidy(frame, mark=mark, ci=ci).to_csv(index=False),
    }
    paths = []
    for suffix, text in texts.items():
        path = out / f"{name}.{suffix}"
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
