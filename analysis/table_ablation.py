"""Table 4: ablation of VMAE's loss terms (MSE, + L_M, + L_reg, + L_P) on reconstruction and generation.

Run: `python -m analysis.table_ablation` (DVC stage `table_ablation`). Reads `runs/eval_ae/NAME/metrics.json` and
`runs/eval_gen/NAME/metrics.json` of the items ae, vmae-lm, vmae-lm-reg and vmae (the paper's four rows: its
baseline is the conv AE itself) and vmae-mse (an extra row: the ViT with MSE only, which separates the architecture
change of the "+ L_M" step from its objective change) through `analysis.results`, on the dataset standing in for
ImageNet-1K, and writes `<results>/tables/table4_ablation.{csv,md,tex}`. Rows are grouped: the paper's rows, then
the extra row; best / second marks compare the paper's rows only.

Columns in the paper's order: PSNR, SSIM, rFD, perceptual, gFD, each with the paper's value beside this run's.
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

NAME = "table4_ablation"
PAPER_ROWS, EXTRA_ROWS = "paper's rows", "extra"  # the first index level: marks are per group
RECON = ("psnr", "ssim", "rfd", "perceptual")
GEN = ("fd",)
log = get_logger(__name__)


def imagenet_set(set_kinds: Mapping[str, str]) -> str:
    """The first dataset (params order) standing in for ImageNet-1K, on which the paper runs its ablation."""
    sets = table_format.analogue_sets(set_kinds, "imagenet")
    if not sets:
        raise ValueError(f"no dataset in data.sets {dict(set_kinds)} stands in for ImageNet-1K: add one of kind "
                         f"{[k for k, v in paper.ANALOGUE.items() if v == 'imagenet']}")  # fmt: skip
    return sets[0]


def make_table_ablation(runs: str | Path, items: Sequence[str], set_kinds: Mapping[str, str]) -> pd.DataFrame:
    """Table 4 with the paper's values beside this run's.

    Args:
        runs: the runs folder (`paths.runs`).
        items: the pipeline's autoencoder items; rows are the paper's four ablation rows, then the extra rows run
            here (`paper.ABLATION_EXTRA`); a paper row not run has NaN for this run.
        set_kinds: dataset name -> kind (`data.sets`), to find the ImageNet-1K analogue.

    Returns:
        Rows (group, label): (PAPER_ROWS, `paper.ABLATION_LABELS` of `paper.ABLATION`), then (EXTRA_ROWS, label) of
        the extra items present; columns (source, metric label).
    """
    run, columns = _values(runs, items, imagenet_set(set_kinds))
    return _grouped(table_format.metric_block(run, columns, _rows(items), paper.TABLE4))


def make_ci_ablation(
    runs: str | Path, items: Sequence[str], set_kinds: Mapping[str, str], intervals: Mapping
) -> table_format.CI:
    """The interval bounds of Table 4's cells, aligned with `make_table_ablation` (NaN where a cell has none).

    Args:
        runs, items, set_kinds: as for `make_table_ablation` (its values choose the columns the bounds fill).
        intervals: `analysis.results.intervals(runs)`.
    """
    dataset = imagenet_set(set_kinds)
    _, columns = _values(runs, items, dataset)
    recon, gen = (results.interval_frame(intervals, part) for part in ("recon", "gen"))
    bounds = []
    for bound in ("low", "high"):
        run = pd.concat([table_format.interval_rows(ci, dataset, bound) for ci in (recon, gen)], axis=1)
        bounds.append(_grouped(table_format.metric_block(run, columns, _rows(items), {})))
    return table_format.CI(*bounds)


def shown_columns(table: pd.DataFrame) -> list[tuple[str, str]]:
    """(intervals part, stage-output column) of Table 4's "this run" columns, in table order (RECON, then GEN)."""
    names = [header.rsplit(" ", 1)[0] for header in table[table_format.RUN].columns]
    return list(zip(["recon"] * len(RECON) + ["gen"] * len(GEN), names, strict=True))


def _rows(items: Sequence[str]) -> list[str]:
    """Table 4's items in row order: the paper's four always, the extra rows where they were run."""
    return [*paper.ABLATION, *(i for i in paper.ABLATION_EXTRA if i in items)]


def _grouped(block: pd.DataFrame) -> pd.DataFrame:
    """A `metric_block` indexed by item -> indexed by (group, label), so marks rank the paper's rows alone."""
    keys = [(PAPER_ROWS if i in paper.ABLATION else EXTRA_ROWS, paper.ABLATION_LABELS[i]) for i in block.index]
    return block.set_axis(pd.MultiIndex.from_tuples(keys, names=["rows", "model"]), axis=0)


def _values(runs: str | Path, items: Sequence[str], dataset: str) -> tuple[pd.DataFrame, dict[str, str]]:
    """This run's values on `dataset` indexed by item, and family -> the stage-output column reporting it."""
    present = [i for i in _rows(items) if i in items]
    recon = results.reconstruction(runs, present)
    gen = results.generation(runs, present)
    recon = recon[recon["dataset"] == dataset].set_index("item")
    gen = gen[gen["dataset"] == dataset].set_index("item")
    columns = {f: results.column(recon, f) for f in RECON} | {f: results.column(gen, f) for f in GEN}
    return pd.concat([recon[[columns[f] for f in RECON]], gen[[columns[f] for f in GEN]]], axis=1), columns


def main(params: Params) -> None:
    setup_logging()
    set_kinds = {name: cfg.kind for name, cfg in params.data.sets.items()}
    table = make_table_ablation(params.paths.runs, params.autoencoders.names, set_kinds)
    intervals = results.intervals(params.paths.runs)
    ci = make_ci_ablation(params.paths.runs, params.autoencoders.names, set_kinds, intervals)
    dataset = imagenet_set(set_kinds)
    agreement = table_format.agreement_note(
        intervals["agreement"], intervals["members"], [(p, dataset, c) for p, c in shown_columns(table)]
    )
    notes = [
        f"This run: `{dataset}` (the ImageNet-1K analogue) at {params.data.resolution} px; "
        "paper: ImageNet-1K at 256 px. Loss terms accumulate down the paper's rows, from its baseline, the conv AE "
        '("same as the standard AE"; its numbers are Table 1\'s AE row), to the full VMAE; "+ L_M" also changes '
        "the architecture (conv -> ViT).",
        "Extra row (not in the paper): the ViT trained with MSE alone, so the architecture change and the masking "
        "loss can be told apart; it takes no marks.",
        "A `[judge]` FD uses the suite's own evaluation network, not Inception: compare orderings, not values.",
        "Bold: best; underlined: second best (per column among the paper's rows, at the printed precision).",
        table_format.ci_note(intervals["level"], paper_check(params.paths, "md")),
        *([agreement] if agreement else []),
    ]
    table, ci, validated = table_format.flag_unvalidated(table, ci, results.optional_validation(params.paths.runs))
    notes.append(validated)
    paths = table_format.write_table(
        table, tables_dir(params.paths), NAME, "Table 4. Ablation of VMAE's loss terms", notes, ci=ci
    )
    log.info("wrote %s", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main(load_params())
