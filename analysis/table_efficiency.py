"""Table 2: model efficiency of the convolutional baselines and VMAE (size, GFLOPs, training time, throughput).

Run: `python -m analysis.table_efficiency` (DVC stage `table_efficiency`). Reads the `efficiency` block of
`runs/eval_ae/NAME/metrics.json` and the training time of `runs/records/autoencoders/NAME/meta.json` through
`analysis.results`, and writes `<results>/tables/table2_efficiency.{csv,md,tex}`.

As in the paper, VMAE's cells carry its percentage of SD-VAE in parentheses (the .csv has it as the row
"VMAE % of SD-VAE"), and nothing is marked best. The paper reports one column for all four convolutional
baselines (they share one architecture), repeated here on each of their rows. GFLOPs are counted at 256 px for
every model (`bench.efficiency`), so they compare with the paper's regardless of this run's resolution; sizes,
GFLOPs and times still belong to this preset's architectures (the CPU default shrinks both families), and times
and throughputs to this run's device.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from analysis import paper, results, table_format
from bench.config import Params, load_params
from bench.layout import tables_dir
from bench.log import get_logger, setup_logging

NAME = "table2_efficiency"
RATIO_ROW = "VMAE % of SD-VAE"
log = get_logger(__name__)


def make_table_efficiency(runs: str | Path, items: Sequence[str]) -> pd.DataFrame:
    """Table 2 with the paper's values beside this run's, one row per autoencoder plus the ratio row.

    Args:
        runs: the runs folder (`paths.runs`).
        items: the autoencoders to show (`analysis.paper.report_items`); rows are the paper's five (NaN for one
            not run), then the others in order. A pretrained item's training time is NaN: not measured here.

    Returns:
        Rows: model labels, then RATIO_ROW (100 * VMAE / SD-VAE per column); columns (source, metric label).
    """
    eff = results.efficiency_frame(runs, list(items))
    missing = pd.Series(float("nan"), index=eff.index)  # e.g. GFLOPs that no shown model could count at 256 px
    run = pd.DataFrame(
        {results.METRICS[f].run[0]: eff.get(col, missing) * k for f, (col, k) in results.EFFICIENCY_FIELDS.items()}
    )
    paper_rows = {
        item: {key: values["vmae" if item == "vmae" else "conv"] for key, values in paper.TABLE2.items()}
        for item in paper.MAIN
    }
    columns = {f: results.METRICS[f].run[0] for f in results.EFFICIENCY_FIELDS}
    table = table_format.metric_block(run, columns, paper.table_rows(items), paper_rows).rename(index=paper.LABELS)
    table.loc[RATIO_ROW] = 100 * table.loc[paper.LABELS["vmae"]] / table.loc[paper.LABELS["sd-vae"]]
    return table


def main(params: Params) -> None:
    setup_logging()
    names = paper.report_items(params.autoencoders.names, params.autoencoders.pretrained)
    table = make_table_efficiency(params.paths.runs, names)
    devices = sorted({str(d) for d in results.efficiency(params.paths.runs, names).get("device", pd.Series()).dropna()})
    pretrained = [i for i in names if params.autoencoders.is_pretrained(i)]
    notes = [
        "Paper: AE, DAE, VAE and SD-VAE share one column (one architecture); VMAE's % of SD-VAE in parentheses.",
        "size: fp32 parameter bytes / 2^20 (the paper's MB); GFLOPs: encode + decode of one 256 px image.",
        "train: steps x the median step time of every training phase (minutes): unlike the wall time (also in "
        "train_ae's meta.json) it does not count a suspended or starved process; paper: wall hours on 8 A100s.",
        *(
            [f"Pretrained ({', '.join(pretrained)}): training not measured here (trained elsewhere)."]
            if pretrained
            else []
        ),
        f"Throughput (images/s) and times measured on: {', '.join(devices) or 'unknown'}; they depend on the host.",
    ]
    paths = table_format.write_table(
        table,
        tables_dir(params.paths),
        NAME,
        "Table 2. Model efficiency: convolutional baselines vs VMAE",
        notes,
        mark=False,
        percent_row=(paper.LABELS["vmae"], RATIO_ROW),
    )
    log.info("wrote %s", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main(load_params())
