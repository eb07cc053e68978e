"""Table 3: generation quality of a DiT on each autoencoder's latents, on the ImageNet-1K and CelebA-HQ analogues.

Run: `python -m analysis.table_generation` (DVC stage `table_generation`). Reads `runs/eval_gen/NAME/metrics.json`
through `analysis.results` and writes `<results>/tables/table3_generation.{csv,md,tex}`.

Columns as in the paper: gFD, sFD, IS, precision, recall on each dataset standing in for ImageNet-1K and gFD, sFD
on each standing in for CelebA-HQ (`paper.ANALOGUE` by dataset kind), the paper's Inception values beside this
run's. This run's FD/sFD/IS/PRC are Inception's only where Inception was local, else the judge's (`fd[judge]`,
...): only their orderings compare with the paper's.

Each of this run's values carries its confidence interval from `runs/intervals/intervals.json` (the intervals
stage), printed as "value ± half-width"; a column the stage does not cover prints its value alone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from analysis import paper, results, table_format
from bench.config import Params, load_params
from bench.layout import paper_check, tables_dir
from bench.log import get_logger, setup_logging

NAME = "table3_generation"
FAMILIES = {  # paper dataset -> the metric families the paper's Table 3 reports on it
    "imagenet": ("fd", "sfd", "is", "precision", "recall", "swd"),  # SWD: ours, beside the judge
    "celebahq": ("fd", "sfd", "swd"),
}
log = get_logger(__name__)


def dataset_header(dataset: str, analogue: str) -> str:
    return f"{dataset} (≈ {paper.PAPER_DATASETS[analogue]})"


def make_table_generation(runs: str | Path, items: Sequence[str], set_kinds: Mapping[str, str]) -> pd.DataFrame:
    """Table 3 with the paper's values beside this run's.

    Args:
        runs: the runs folder (`paths.runs`).
        items: the autoencoders to show (`analysis.paper.report_items`) that have a DiT; rows are the paper's five
            (NaN for one not run), then the others in order.
        set_kinds: dataset name -> kind (`data.sets`); datasets standing in for ImageNet-1K or CelebA-HQ that
            eval_gen evaluated become column groups, in params order.

    Returns:
        Rows: model labels; columns (dataset header, source, metric label).
    """
    return _layout(results.generation(runs, list(items)), paper.table_rows(items), set_kinds)


def make_ci_generation(
    runs: str | Path, items: Sequence[str], set_kinds: Mapping[str, str], intervals: Mapping
) -> table_format.CI:
    """The interval bounds of Table 3's cells, aligned with `make_table_generation` (NaN where a cell has none).

    Args:
        runs, items, set_kinds: as for `make_table_generation` (its values choose the columns the bounds fill).
        intervals: `analysis.results.intervals(runs)`.
    """
    frame = results.generation(runs, list(items))
    ci = results.interval_frame(intervals, "gen")
    return table_format.CI(
        *(_layout(frame, paper.table_rows(items), set_kinds, ci, bound) for bound in ("low", "high"))
    )


def shown_columns(table: pd.DataFrame, set_kinds: Mapping[str, str]) -> list[tuple[str, str]]:
    """(dataset, stage-output column) of every "this run" column of Table 3, in table order."""
    headers = {dataset_header(d, paper.ANALOGUE[k]): d for d, k in set_kinds.items() if k in paper.ANALOGUE}
    return [(headers[h], m.rsplit(" ", 1)[0]) for h, source, m in table.columns if source == table_format.RUN]


def _layout(
    frame: pd.DataFrame,
    models: Sequence[str],
    set_kinds: Mapping[str, str],
    ci: pd.DataFrame | None = None,
    bound: str = "value",
) -> pd.DataFrame:
    """Table 3 from eval_gen's values; with `ci`, the same layout holding `bound` of each interval (no paper values).
    `models` are the rows (`paper.table_rows`)."""
    blocks = {}
    for dataset, kind in set_kinds.items():
        analogue = paper.ANALOGUE.get(kind)
        rows = frame[frame["dataset"] == dataset].set_index("item")
        if analogue not in FAMILIES or rows.empty:
            continue
        columns = {family: results.column(rows, family) for family in FAMILIES[analogue]}
        run = rows if ci is None else table_format.interval_rows(ci, dataset, bound)
        paper_rows = paper.TABLE3[analogue] if ci is None else {}
        block = table_format.metric_block(run, columns, models, paper_rows)
        blocks[dataset_header(dataset, analogue)] = block.rename(index=paper.LABELS)
    if not blocks:
        raise ValueError(
            f"eval_gen outputs hold no dataset standing in for ImageNet-1K or CelebA-HQ among {list(set_kinds)}: "
            "re-run `dvc repro eval_gen`"
        )
    return pd.concat(blocks, axis=1, names=["dataset", "source", "metric"])


def main(params: Params) -> None:
    setup_logging()
    set_kinds = {name: cfg.kind for name, cfg in params.data.sets.items()}
    shown = paper.report_items(params.autoencoders.names, params.autoencoders.pretrained)
    items = [i for i in shown if params.diffusion.items.get(i)]  # those with a DiT (eval_gen)
    table = make_table_generation(params.paths.runs, items, set_kinds)
    intervals = results.intervals(params.paths.runs)
    ci = make_ci_generation(params.paths.runs, items, set_kinds, intervals)
    agreement = table_format.agreement_note(
        intervals["agreement"], intervals["members"], [("gen", d, c) for d, c in shown_columns(table, set_kinds)]
    )
    notes = [
        table_format.analogue_note(set_kinds) + ".",
        "Paper: 50k samples at 256 px, Inception-v3 features (gFID, sFID, IS, precision, recall), DiT-B/1. "
        f"This run: {params.diffusion.sample.num_images} samples per dataset at {params.data.resolution} px, "
        f"{params.diffusion.model.size}.",
        "A `[judge]` metric uses the suite's own evaluation network, not Inception: compare orderings, not values.",
        table_format.SWD_NOTE,
        "Bold: best; underlined: second best (per column, at the printed precision).",
        table_format.ci_note(intervals["level"], paper_check(params.paths, "md")),
        "Judge FD, sFD, IS, KID and precision intervals bootstrap the samples (IS, KID and precision: the bootstrap "
        "standard error of their whole-set estimators around this table's values); recall intervals carry the "
        "judge-ensemble spread only (resampling collapses the samples' own k-NN radii).",
        *([agreement] if agreement else []),
    ]
    table, ci, validated = table_format.flag_unvalidated(table, ci, results.optional_validation(params.paths.runs))
    notes.append(validated)
    paths = table_format.write_table(
        table, tables_dir(params.paths), NAME, "Table 3. Generation quality across autoencoders", notes, ci=ci
    )
    log.info("wrote %s", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main(load_params())
