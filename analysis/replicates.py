"""The paper-claims check over training-seed replicates: several finished runs that differ only in `seed`, one verdict.

Run: `python -m analysis.replicates RUN RUN [RUN ...]`, each RUN a checkout whose pipeline has finished
(`make repro`; a second seed: a clone with `seed: 1` in params.yaml, or `dvc exp run -S seed=1` and
`dvc exp apply` into its own checkout). Reads each run's `params.yaml` and its `paper_check.json`
(`bench.layout.paper_check`), and writes the first run's `results/replicates.{md,json}`, beside its paper_check report.

Why: a run's intervals resample its eval images, so they carry the evaluation's chance (images, judge members)
but not the training's: every autoencoder, DiT and feature network of a run comes from one seed. Two seeds of the
default run have put a paired difference's whole interval on opposite sides of zero (README, "Training seeds";
`docs/results/replicates.md`). So a claim holds over replicates only if
it holds in every one, fails only if it fails in every one, and is otherwise inconclusive ("replicates disagree"
when one says holds and another fails); it is not measurable when it is in any replicate (the same params make
the same metrics fail validation, so this only differs between replicates when validation itself moved).

A replicate costs a whole run (training is most of the default run's time), which is why the default is one seed
and this check is a separate command rather than a stage.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bench import layout
from bench.config import load_params
from bench.log import get_logger, setup_logging
from bench.outputs import atomic_path, write_json
from bench.uncertainty import FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURABLE, VERDICTS, verdict_counts

log = get_logger(__name__)
DISAGREE = "replicates disagree"
TABLES = {"recon": "Table 1", "gen": "Table 3"}  # the intervals.json sections `seed_spread` reads


def combined_verdict(verdicts: Sequence[str]) -> str:
    """One claim's verdict over replicates (module docstring). verdicts: one per replicate, each of VERDICTS."""
    unknown = set(verdicts) - set(VERDICTS)
    if not verdicts or unknown:
        raise ValueError(f"expected one verdict per replicate among {VERDICTS}, got {list(verdicts)}")
    if NOT_MEASURABLE in verdicts:
        return NOT_MEASURABLE
    if len(set(verdicts)) == 1:
        return verdicts[0]
    return INCONCLUSIVE


@dataclass(frozen=True)
class Replicate:
    """One finished run: its seed, where it is, the commit its intervals were computed at, and its two reports."""

    seed: int
    run: Path
    commit: str  # the intervals stage's record; "unknown" where the run has none
    check: dict  # paper_check.json
    intervals: dict  # intervals.json


def read_replicate(run: Path) -> Replicate:
    """One finished run's reports, with errors that say what to do."""
    params = load_params(run / "params.yaml")
    read = []
    for path in (run / layout.paper_check(params.paths, "json"), run / layout.intervals(params.paths)):
        if not path.is_file():
            raise FileNotFoundError(f"{path} not found: finish the run first (`make repro` in {run})")
        read.append(json.loads(path.read_text(encoding="utf-8")))
    record = run / layout.record_dir(params.paths, "intervals") / "meta.json"
    commit = json.loads(record.read_text(encoding="utf-8")).get("git_sha", "unknown") if record.is_file() else "unknown"
    return Replicate(params.seed, run, commit, *read)


def seed_spread(intervals: Sequence[dict]) -> list[dict]:
    """How far the replicates' paired differences lie apart, in units of their own image-bootstrap intervals.

    Per (section, set, metric) of Tables 1 and 3 (`recon`, `gen` of intervals.json) and every item pair present in
    every replicate: the sd over seeds of the difference a - b, divided by the root mean square of the replicates'
    standard errors (CI half-width / z of the level). When the intervals already carry the training's chance this is
    a sample sd over a true se (median about 0.67 with two seeds, tending to 1 with more); far above 1 when the seed
    moves the difference more than resampling images can.

    Args: intervals: each replicate's intervals.json (2 or more). Returns: one row per (section, set, metric):
        {"section", "set", "metric", "pairs", "ratio" (median over pairs), "flips" (pairs whose intervals exclude 0
        on opposite sides in two replicates)}.
    """
    z = statistics.NormalDist().inv_cdf(0.5 + intervals[0]["level"] / 2)
    rows = []
    for section in ("recon", "gen"):
        for dataset, metrics in intervals[0][section].items():
            for metric, entry in metrics.items():
                ratios, flips = [], 0
                for key in entry["pairs"]:
                    found = [i[section].get(dataset, {}).get(metric, {}).get("pairs", {}).get(key) for i in intervals]
                    if any(f is None for f in found):
                        continue
                    diffs = [f["diff"] for f in found]
                    se = math.sqrt(statistics.fmean(((f["high"] - f["low"]) / (2 * z)) ** 2 for f in found))
                    if se > 0 and all(map(math.isfinite, [*diffs, se])):
                        ratios.append(statistics.stdev(diffs) / se)
                    flips += any(f["low"] > 0 for f in found) and any(f["high"] < 0 for f in found)
                if ratios:
                    rows.append({"section": section, "set": dataset, "metric": metric, "pairs": len(ratios),
                                 "ratio": statistics.median(ratios), "flips": flips})  # fmt: skip
    return rows


def check_same_study(runs: Sequence[Path]) -> None:
    """Replicates differ only in `seed` (and where they keep their files): anything else measures another thing."""

    def study(run: Path):
        return dataclasses.replace(load_params(run / "params.yaml"), seed=0, paths=None)

    first = study(runs[0])
    for run in runs[1:]:
        other = study(run)
        if other != first:
            a, b = dataclasses.asdict(first), dataclasses.asdict(other)
            keys = [k for k in a if a[k] != b[k]]
            raise ValueError(
                f"{run} differs from {runs[0]} in params {keys}, not only in seed: replicates must share every "
                "other param (copy params.yaml and change `seed` only)"
            )


def combine(replicates: Sequence[tuple[int, dict]]) -> list[dict]:
    """Per claim: its verdict in each replicate, the combined verdict and, where they differ, the deciding
    differences of each replicate. replicates: (seed, paper_check.json) per run, in order."""
    seeds = [s for s, _ in replicates]
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"replicates need distinct seeds, got {seeds}: a repeated seed repeats the same run")
    by_id = [{c["id"]: c for c in check["claims"]} for _, check in replicates]
    ids = list(by_id[0])
    if any(list(b) != ids for b in by_id[1:]):
        raise ValueError("the runs checked different claims: run every replicate at the same commit")
    out = []
    for cid in ids:
        claims = [b[cid] for b in by_id]
        verdicts = [c["verdict"] for c in claims]
        record = {"id": cid, "source": claims[0]["source"], "statement": claims[0]["statement"],
                  "verdicts": dict(zip(map(str, seeds), verdicts, strict=True)), "verdict": combined_verdict(verdicts),
                  "detail": DISAGREE if {HOLDS, FAILS} <= set(verdicts) else ""}  # fmt: skip
        if len(set(verdicts)) > 1:
            record["differences"] = {str(s): c["differences"] for s, c in zip(seeds, claims, strict=True)}
        out.append(record)
    return out


def summary(records: Sequence[dict]) -> dict:
    """How many claims got each combined verdict, the total, and how many replicates disagree on."""
    return verdict_counts(records) | {"disagree": sum(r["detail"] == DISAGREE for r in records)}


def to_markdown(records: Sequence[dict], replicates: Sequence[Replicate], spread: Sequence[dict]) -> str:
    """The report. records: `combine`'s; replicates: the runs, in order; spread: `seed_spread`'s. Returns Markdown."""
    s = summary(records)
    seeds = [str(r.seed) for r in replicates]
    tallies = "; ".join(f"seed {r.seed}: " + ", ".join(f"{r.check['summary'][v]} {v}" for v in VERDICTS)
                        for r in replicates)  # fmt: skip
    sources = ", ".join(f"seed {r.seed} `{r.run}` (commit {r.commit[:7]})" for r in replicates)
    lines = [
        f"# The paper's claims over {len(seeds)} training-seed replicates",
        "",
        f"**{s[HOLDS]} of {s['total']} claims hold in every replicate** ({s[INCONCLUSIVE]} inconclusive, of which "
        f"{s['disagree']} because one replicate says holds and another fails; {s[FAILS]} fail in every replicate; "
        f"{s[NOT_MEASURABLE]} not measurable). Per replicate: {tallies}.",
        "",
        f"Runs: {sources}.",
        "",
        "A claim holds (fails) only if it holds (fails) with every seed; else it is inconclusive. Each replicate's "
        "intervals resample its eval images; the seeds add what they cannot see, the training's chance.",
        "",
        f"| claim | source | checked | {' | '.join(f'seed {s}' for s in seeds)} | over replicates |",
        f"|:--|:--|:--|{':--|' * len(seeds)}:--|",
        *(
            f"| {r['id']} | {r['source']} | {r['statement']} | {' | '.join(r['verdicts'][s] for s in seeds)} | "
            f"{r['verdict']}{' (' + r['detail'] + ')' if r['detail'] else ''} |"
            for r in records
        ),
    ]
    for r in (r for r in records if "differences" in r):
        lines += ["", f"## {r['id']}: {', '.join(f'seed {s} {v}' for s, v in r['verdicts'].items())}", ""]
        for seed, diffs in r["differences"].items():
            shown = ", ".join(f"`{k}` = {d['diff']:.4g} [{d['low']:.4g}, {d['high']:.4g}]" for k, d in diffs.items())
            lines.append(f"- seed {seed}: {shown or 'no differences'}")
    lines += [
        "",
        "## How far the seeds move the differences, in units of their intervals",
        "",
        "Per metric: the median over item pairs of (sd over seeds of the paired difference) / (its image-bootstrap "
        "standard error, CI half-width / z). At most about 1 when the intervals already carry the training's "
        "chance (with two seeds the median is then about 0.67); far above 1 when they do not. Flips: pairs whose "
        "intervals exclude 0 on opposite sides.",
        "",
        "| table | set | metric | pairs | seed sd / bootstrap se | flips |",
        "|:--|:--|:--|--:|--:|--:|",
        *(
            f"| {TABLES[r['section']]} | {r['set']} | {r['metric']} | {r['pairs']} | {r['ratio']:.2f} | {r['flips']} |"
            for r in spread
        ),  # fmt: skip
    ]
    return "\n".join(lines) + "\n"


def output(run: Path, paths, suffix: str) -> Path:
    """Where the report goes: `run`'s `replicates.{suffix}`, beside its paper_check report (not a stage output: no
    stage reads it). paths: that run's `params.paths`."""
    return run / layout.paper_check(paths, suffix).with_name(f"replicates.{suffix}")


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", type=Path, help="finished runs (checkouts) that differ only in `seed`")
    args = p.parse_args(argv)
    setup_logging()
    if len(args.runs) < 2:
        raise ValueError("give at least two runs: one run's seed is already what its own paper_check.md reports")
    check_same_study(args.runs)
    replicates = [read_replicate(run) for run in args.runs]
    records = combine([(r.seed, r.check) for r in replicates])
    spread = seed_spread([r.intervals for r in replicates])
    paths = load_params(args.runs[0] / "params.yaml").paths
    out = {"summary": summary(records), "claims": records, "seed_spread": spread}
    write_json(output(args.runs[0], paths, "json"), out)
    with atomic_path(output(args.runs[0], paths, "md")) as tmp:
        tmp.write_text(to_markdown(records, replicates, spread), encoding="utf-8")
    log.info("replicates %s: %s", [r.seed for r in replicates], summary(records))


if __name__ == "__main__":
    main()
