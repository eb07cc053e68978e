"""Table 1: reconstruction quality of the five autoencoders (L1, MSE, PSNR, SSIM, perceptual, rFD), per dataset.

Run: `python -m analysis.table_recon` (DVC stage `table_recon`). Reads `runs/eval_ae/NAME/metrics.json` through
`analysis.results` and writes `<results>/tables/table1_recon.{csv,md,tex}` (layout: `analysis.table_format`).

The paper's Table 1 (ImageNet-1K val, 256 px, LPIPS-VGG, Inception rFID) sits beside the rows of the dataset
that stands in for ImageNet-1K (`paper.ANALOGUE` by dataset kind); other datasets have no paper column values.
This run's perceptual column is LPIPS-VGG where its weights were local, else the suite's own perceptual network
(`percep[own]`); its FD is Inception's only where Inception was local, else the judge's (`rfd[judge]`).

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

FAMILIES = ("l1", "mse", "psnr", "ssim", "perceptual", "rfd", "swd")  # the paper's column order, then SWD
NAME = "table1_recon"
log = get_logger(__name__)


def make_table_recon(runs: str | Path, items: Sequence[str], set_kinds: Mapping[str, str]) -> pd.DataFrame:
    """Table 1 with the paper's values beside this run's.

    Args:
        runs: the runs folder (`paths.runs`).
        items: the autoencoders to show (`analysis.paper.report_items`); rows are the paper's five (one not run
            has NaN for this run), then the others in order.
        set_kinds: dataset name -> kind (`data.sets`), in params order; fixes the row order and the analogue.

    Returns:
        Rows (dataset, model), columns (source, metric label); numbers as stage outputs hold them.
    """
    return _layout(results.reconstruction(runs, list(items)), paper.table_rows(items), set_kinds)


def make_ci_recon(
    runs: str | Path, items: Sequence[str], set_kinds: Mapping[str, str], intervals: Mapping
) -> table_format.CI:
    """The interval bounds of Table 1's cells, aligned with `make_table_recon` (NaN where a cell has none).

    Args:
        runs, items, set_kinds: as for `make_table_recon` (its values choose the columns the bounds fill).
        intervals: `analysis.results.intervals(runs)`.
    """
    frame = results.reconstruction(runs, list(items))
    ci = results.interval_frame(intervals, "recon")
    return table_format.CI(
        *(_layout(frame, paper.table_rows(items), set_kinds, ci, bound) for bound in ("low", "high"))
    )


def _layout(
    frame: pd.DataFrame,
    models: Sequence[str],
    set_kinds: Mapping[str, str],
    ci: pd.DataFrame | None = None,
    bound: str = "value",
) -> pd.DataFrame:
    """Table 1 from eval_ae's values; with `ci`, the same layout holding `bound` of each interval (no paper values).
    `models` are the rows (`paper.table_rows`)."""
    columns = {family: results.column(frame, family) for family in FAMILIES}
    blocks = {}
    for dataset, kind in set_kinds.items():
        rows = frame[frame["dataset"] == dataset].set_index("item")
        if rows.empty:
            continue
        paper_rows = paper.TABLE1 if ci is None and paper.ANALOGUE.get(kind) == "imagenet" else {}
        run = rows if ci is None else table_format.interval_rows(ci, dataset, bound)
        block = table_format.metric_block(run, columns, models, paper_rows)
        blocks[dataset] = block.rename(index=paper.LABELS)
    if not blocks:
        raise ValueError(f"eval_ae outputs hold none of the datasets {list(set_kinds)}: re-run `dvc repro eval_ae`")
    return pd.concat(blocks, names=["dataset", "model"])


def main(params: Params) -> None:
    setup_logging()
    set_kinds = {name: cfg.kind for name, cfg in params.data.sets.items()}
    items = paper.report_items(params.autoencoders.names, params.autoencoders.pretrained)
    table = make_table_recon(params.paths.runs, items, set_kinds)
    intervals = results.intervals(params.paths.runs)
    ci = make_ci_recon(params.paths.runs, items, set_kinds, intervals)
    shown = [h.rsplit(" ", 1)[0] for h in table[table_format.RUN].columns]
    datasets = table.index.unique("dataset")
    agreement = table_format.agreement_note(
        intervals["agreement"], intervals["members"], [("recon", d, c) for d in datasets for c in shown]
    )
    notes = [
        table_format.analogue_note(set_kinds) + "; the paper's values appear on the ImageNet-1K analogue's rows.",
        f"Paper: ImageNet-1K val at 256 px. This run: each dataset's eval split at {params.data.resolution} px.",
        "Extractors are in the headers: a `[judge]` FD is the suite's own evaluation network, not Inception; "
        "compare its ordering with the paper's rFID, never its magnitude. `[0-1]`: images scaled to [0, 1].",
        table_format.SWD_NOTE,
        "Bold: best; underlined: second best (per column and dataset, at the printed precision).",
        table_format.ci_note(intervals["level"], paper_check(params.paths, "md")),
        *([agreement] if agreement else []),
    ]
    table, ci, validated = table_format.flag_unvalidated(table, ci, results.optional_validation(params.paths.runs))
    notes.append(validated)
    paths = table_format.write_table(
        table, tables_dir(params.paths), NAME, "Table 1. Reconstruction quality across autoencoders", notes, ci=ci
    )
    log.info("wrote %s", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main(load_params())
