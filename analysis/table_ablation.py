"""Table 4: ablation of VMAE's loss terms (MSE, + L_M, + L_reg, + L_P) on reconstruction and generation.

Run: `python -m analysis.table_ablation` (DVC stage `table_ablation`). Reads `runs/eval_ae/NAME/metrics.json` and
`runs/eval_gen/NAME/metrics.json` of the items vmae-mse, vmae-lm, vmae-lm-reg and vmae through `analysis.results`,
on the dataset standing in for ImageNet-1K, and writes `<results>/tables/table4_ablation.{csv,md,tex}`.

Columns in the paper's order: PSNR, SSIM, rFD, perceptual, gFD, each with the paper's value beside this run's.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from analysis import paper, results, table_format
from bench.config import Params, load_params
from bench.layout import tables_dir
from bench.log import get_logger, setup_logging

NAME = "table4_ablation"
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
        items: the pipeline's autoencoder items; rows are the paper's four ablation rows (NaN for one not run).
        set_kinds: dataset name -> kind (`data.sets`), to find the ImageNet-1K analogue.

    Returns:
        Rows: the ablation's labels (`paper.ABLATION_LABELS`); columns (source, metric label).
    """
    dataset = imagenet_set(set_kinds)
    present = [i for i in paper.ABLATION if i in items]
    recon = results.reconstruction(runs, present)
    gen = results.generation(runs, present)
    recon = recon[recon["dataset"] == dataset].set_index("item")
    gen = gen[gen["dataset"] == dataset].set_index("item")
    columns = {f: results.column(recon, f) for f in RECON} | {f: results.column(gen, f) for f in GEN}
    run = pd.concat([recon[[columns[f] for f in RECON]], gen[[columns[f] for f in GEN]]], axis=1)
    table = table_format.metric_block(run, columns, paper.ABLATION, paper.TABLE4)
    return table.rename(index=paper.ABLATION_LABELS)


def main(params: Params) -> None:
    setup_logging()
    set_kinds = {name: cfg.kind for name, cfg in params.data.sets.items()}
    table = make_table_ablation(params.paths.runs, params.autoencoders.names, set_kinds)
    notes = [
        f"This run: `{imagenet_set(set_kinds)}` (the ImageNet-1K analogue) at {params.data.resolution} px; "
        "paper: ImageNet-1K at 256 px. Loss terms accumulate down the rows; the last row is the full VMAE.",
        "A `[judge]` FD uses the suite's own evaluation network, not Inception: compare orderings, not values.",
        "Bold: best; underlined: second best (per column, at the printed precision).",
    ]
    paths = table_format.write_table(
        table, tables_dir(params.paths), NAME, "Table 4. Ablation of VMAE's loss terms", notes
    )
    log.info("wrote %s", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main(load_params())
