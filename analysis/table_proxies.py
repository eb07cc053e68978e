"""What predicts generation quality: each proxy's Spearman rank correlation with each generation metric across this
run's items.

Run: `python -m analysis.table_proxies` (DVC stage `table_proxies`). Reads the proxies, eval_ae, compress and
eval_gen outputs through `analysis.proxy_data` / `analysis.results` and writes
`<results>/tables/proxies.{csv,md}`: one row per (generation dataset, generation metric, proxy) with rho, its
percentile bootstrap interval over items (`metrics.bootstrap`, seeded by `seed`), the number of items, and the
tokenizer leaderboard's rho with SiT-XL gFID (arXiv 2603.05630) as the reference. The generation metrics are the FD
and every other eval_gen metric that passed validate_metrics (`proxy_data.targets`). Every item of `diffusion.items`
joins, so the table grows with the run (pretrained items too) with no code per item.

Sign convention: rho is the Spearman with the metric itself. Generation FD is lower-better, so there a positive rho
means "a higher proxy value goes with worse generation" (iFD, rFD); recall is higher-better, so there the same
proxy's rho flips sign, and so does the leaderboard reference it is compared with (`Target.reference`).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import proxy_data
from analysis.results import optional_validation
from bench.config import Params, load_params
from bench.layout import tables_dir
from bench.log import get_logger, setup_logging
from bench.outputs import atomic_path

NAME = "proxies"
DECIMALS = 2
log = get_logger(__name__)


def make_table_proxies(frame: pd.DataFrame, *, n_resamples: int, level: float, seed: int) -> pd.DataFrame:
    """The prediction table from `proxy_data.proxy_frame`'s rows (see `proxy_data.correlations`)."""
    return proxy_data.correlations(frame, n_resamples=n_resamples, level=level, seed=seed)


def markdown(table: pd.DataFrame, level: float, n_items: int, targets: list[str]) -> str:
    """The table as Markdown with its caption and the notes a reader needs; `targets` are
    `proxy_data.target_note`'s lines (which columns are generation metrics, and whether each is validated)."""
    shown = pd.DataFrame(
        {
            "dataset": table["dataset"],
            "generation metric": table["target"],
            "proxy": table["label"],
            "kind": table["source"],
            "items": table["n_items"],
            f"Spearman ρ [{level:.0%} CI]": [
                f"{r.spearman:+.{DECIMALS}f} [{r.low:+.{DECIMALS}f}, {r.high:+.{DECIMALS}f}]"
                for r in table.itertuples()
            ],
            "leaderboard ρ": [f"{v:+.2f}" if pd.notna(v) else "" for v in table["leaderboard"]],
            "sign vs leaderboard": table["agrees"],
        }
    )
    notes = [
        *targets,
        "ρ: Spearman rank correlation of the proxy with the generation metric across the autoencoder items of this "
        "run, per generation dataset; intervals: percentile bootstrap resampling items. FD is lower-better and recall "
        "higher-better, so a proxy that predicts both has opposite signs on the two.",
        f"With {n_items} items or fewer the intervals are wide: read a sign only where the interval excludes 0.",
        "Leaderboard: Spearman with SiT-XL gFID over 22 tokenizers at 256 px (arXiv 2603.05630, as recomputed in "
        "issue 15); it reports iFID, linear probe, PSNR and rFID only. Against a higher-better metric it is shown "
        "sign-flipped: the sign it predicts there.",
    ]
    return "\n".join(
        [
            "**What predicts generation quality: proxies against the generation metrics**",
            "",
            *[f"- {n}" for n in notes],
            "",
            shown.to_markdown(index=False),
            "",
        ]
    )


def write(table: pd.DataFrame, out: Path, level: float, n_items: int, targets: list[str]) -> list[Path]:
    """Write `<out>/proxies.csv` (every number) and `.md` atomically. Returns the paths."""
    paths = [out / f"{NAME}.csv", out / f"{NAME}.md"]
    with atomic_path(paths[0]) as tmp:
        table.to_csv(tmp, index=False)
    with atomic_path(paths[1]) as tmp:
        tmp.write_text(markdown(table, level, n_items, targets))
    return paths


def main(params: Params) -> None:
    setup_logging()
    frame = proxy_data.proxy_frame(params.paths.runs, params.diffusion.items, list(params.analysis.compress.sets))
    boot = params.metrics.bootstrap
    table = make_table_proxies(frame, n_resamples=boot.n_resamples, level=boot.level, seed=params.seed)
    validation = optional_validation(params.paths.runs)
    notes = [proxy_data.target_note(t.column, validation) for t in proxy_data.frame_targets(frame)]
    n_items = int(frame.groupby("dataset").size().max())
    paths = write(table, tables_dir(params.paths), boot.level, n_items, notes)
    log.info("wrote %s", ", ".join(map(str, paths)))


if __name__ == "__main__":
    main(load_params())
