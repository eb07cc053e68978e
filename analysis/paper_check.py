"""The paper-claims check: every claim of `analysis.claims`, run on this run's numbers and on the paper's own.

Run: `python -m analysis.paper_check` (DVC stage `paper_check`). Reads eval_ae, eval_gen, compress and compress_raw
outputs through `analysis.results` and writes `<results>/paper_check.{md,json}`: per claim, holds / fails / not
measurable, the numbers it compared, and the verdict of the same check on the paper's numbers.
- The paper's ImageNet-1K and CelebA-HQ claims are checked on the first dataset standing in for each (by kind,
  `paper.ANALOGUE`); Fig. 7's object / part levels on the datasets the compress stage measured at that level.
- A claim whose inputs are missing (an item not run, a stage output absent, a metric not measured) is
  "not measurable", with the reason. Every claim is also run on the paper's own published numbers (Tables 1-4;
  figures are not tabulated), which checks the encoding of the claim against its source.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from analysis import paper, results, table_format
from analysis.claims import FAILS, HOLDS, UNMEASURABLE, Claim, Tally, Unmeasurable, claim_list
from analysis.paper import PAPER_DATASETS
from analysis.results import EFFICIENCY_FIELDS, METRICS
from bench import layout
from bench.config import Params, load_params
from bench.log import get_logger, setup_logging
from bench.outputs import atomic_path, write_json

log = get_logger(__name__)


# --- evidence: this run's numbers, or the paper's -------------------------------------------------------------


class RunEvidence:
    """This run's stage outputs, read per item so that a missing one leaves only the claims needing it unmeasurable."""

    def __init__(self, runs: str | Path, items: Sequence[str], set_kinds: Mapping[str, str]) -> None:
        self.set_kinds = dict(set_kinds)
        readers = {
            "recon": results.reconstruction,
            "gen": results.generation,
            "noise": results.noise_curves,
            "eff": lambda r, i: results.efficiency_frame(r, i).reset_index(),
            "compress": lambda r, i: results.compression(r, i, with_raw=False),
        }
        self.frames, self.missing = {}, {}
        for kind, reader in readers.items():
            frames, self.missing[kind] = [], {}
            for item in items:
                try:
                    frames.append(reader(runs, [item]))
                except FileNotFoundError as err:
                    self.missing[kind][item] = str(err)
            self.frames[kind] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["item"])
        try:
            self.frames["compress"] = pd.concat([self.frames["compress"], results.compression(runs, [], True)])
        except FileNotFoundError as err:
            self.missing["compress"]["raw"] = str(err)
        # (kind, item, dataset or level) -> one output record, so that a check's many look-ups stay cheap
        self.records = {}
        for kind, frame in self.frames.items():
            where = "level" if kind == "compress" else "dataset"
            for r in frame.to_dict("records") if kind != "noise" else ():
                self.records[(kind, r["item"], r.get(where))] = r
        self.columns: dict[tuple[str, str], str] = {}

    def _record(self, kind: str, item: str, where: str | None) -> dict:
        if item in self.missing[kind]:
            raise Unmeasurable(self.missing[kind][item])
        if not (self.frames[kind]["item"] == item).any():
            raise Unmeasurable(f"{item} is not a pipeline item of this run (autoencoders.names)")
        return self.records.get((kind, item, where), {})

    def _column(self, kind: str, family: str) -> str:
        if (kind, family) not in self.columns:
            try:
                self.columns[(kind, family)] = results.column(self.frames[kind], family)
            except ValueError as err:
                raise Unmeasurable(str(err)) from None
        return self.columns[(kind, family)]

    def dataset(self, where: str) -> str:
        sets = table_format.analogue_sets(self.set_kinds, where)
        if not sets:
            raise Unmeasurable(f"no dataset of this run stands in for {PAPER_DATASETS[where]}")
        return sets[0]

    def value(self, kind: str, item: str, family: str, where: str | None) -> tuple[str, float]:
        if kind == "eff":
            column, dataset, at = EFFICIENCY_FIELDS[family][0], None, ""
        else:
            column, dataset = self._column(kind, family), self.dataset(where)
            at = f" @{dataset}"
        value = self._record(kind, item, dataset).get(column, math.nan)
        if pd.isna(value):
            raise Unmeasurable(f"no {column} for {item}{at} in this run's {kind} outputs")
        return f"{column} {item}{at}", float(value)

    def curve(self, item: str, where: str) -> tuple[str, pd.Series]:
        dataset, column = self.dataset(where), self._column("noise", "rfd")
        self._record("noise", item, dataset)
        frame = self.frames["noise"]
        rows = frame[(frame["item"] == item) & (frame["dataset"] == dataset)]
        if rows.empty or rows[column].isna().any():
            raise Unmeasurable(f"no {column} noise curve for {item} @{dataset}")
        return f"{column} {item} @{dataset}", rows.set_index("eps")[column].astype(float).sort_index()

    def levels(self) -> list[str]:
        frame = self.frames["compress"]
        return list(dict.fromkeys(frame["level"])) if "level" in frame else []

    def compress(self, item: str, level: str) -> tuple[str, float, float]:
        r = self._record("compress", item, level)
        if pd.isna(r.get("sigma2", math.nan)) or pd.isna(r.get("rho", math.nan)):
            raise Unmeasurable(f"no {level}-level sigma2 / rho for {item} in this run's compress outputs")
        return f"{item} @{r['dataset']}", float(r["sigma2"]), float(r["rho"])


class PaperEvidence:
    """The paper's published Tables 1-4 (`analysis.paper`); Table 4's rows for ablation claims."""

    def __init__(self, ablation: bool) -> None:
        self.ablation = ablation

    def value(self, kind: str, item: str, family: str, where: str | None) -> tuple[str, float]:
        m = METRICS[family]
        if kind == "eff":
            table = {i: {k: v["vmae" if i == "vmae" else "conv"] for k, v in paper.TABLE2.items()} for i in paper.MAIN}
        elif self.ablation:
            table = paper.TABLE4 if where == "imagenet" else {}
        else:
            table = (paper.TABLE1 if where == "imagenet" else {}) if kind == "recon" else paper.TABLE3.get(where, {})
        value = table.get(item, {}).get(m.paper_key) if m.paper_key else None
        if value is None:
            raise Unmeasurable(f"the paper reports no {family} for {item}" + (f" on {where}" if where else ""))
        return f"{m.paper} {item}" + (f" @{PAPER_DATASETS[where]}" if where else ""), float(value)

    def curve(self, item: str, where: str):
        raise Unmeasurable("Fig. 6 is a plot: the paper tabulates no values")

    def levels(self) -> list[str]:
        raise Unmeasurable("Fig. 7 is a plot: the paper tabulates no values")

    compress = curve


# --- the report -------------------------------------------------------------------------------------------


def evaluate(claim: Claim, evidence) -> dict:
    """Run one claim's check: {"verdict", "numbers", "detail"}."""
    tally = Tally(evidence)
    try:
        claim.check(tally)
    except Unmeasurable as err:
        return {"verdict": UNMEASURABLE, "numbers": tally.numbers, "detail": str(err)}
    verdict = FAILS if tally.failures else HOLDS
    return {"verdict": verdict, "numbers": tally.numbers, "detail": "; ".join(tally.failures)}


def check_claims(evidence, claims: Sequence[Claim]) -> list[dict]:
    """Every claim (`claims.claim_list`) on `evidence` (this run's), and on the paper's own numbers beside it."""
    out = []
    for c in claims:
        own = evaluate(c, PaperEvidence(ablation=c.source == "Table 4"))
        record = {"id": c.id, "source": c.source, "quote": c.quote, "statement": c.statement}
        out.append(record | evaluate(c, evidence) | {"paper_verdict": own["verdict"]})
    return out


def summary(records: Sequence[dict]) -> dict:
    counts = {v: sum(r["verdict"] == v for r in records) for v in (HOLDS, FAILS, UNMEASURABLE)}
    return counts | {"total": len(records)}


def to_markdown(records: Sequence[dict], ratio_tolerance: float) -> str:
    s = summary(records)
    lines = [
        "# The paper's claims, checked on this run",
        "",
        f"**{s[HOLDS]} of {s['total']} claims hold** ({s[FAILS]} fail, {s[UNMEASURABLE]} not measurable).",
        "",
        "Orderings are compared with this run's labelled metrics (a `[judge]` FD is the suite's own network, never "
        "an Inception FID); comparisons are strict; Table 2 ratios hold within "
        f"±{ratio_tolerance:.0%} of the paper's. 'Paper's numbers' is the same check run on the paper's Tables 1-4.",
        "",
        "| claim | source | checked | this run | paper's numbers |",
        "|:--|:--|:--|:--|:--|",
        *(f"| {r['id']} | {r['source']} | {r['statement']} | {r['verdict']} | {r['paper_verdict']} |" for r in records),
    ]
    for r in records:
        numbers = ", ".join(f"`{k}` = {v:.4g}" for k, v in r["numbers"].items()) or "none"
        lines += [
            "",
            f"## {r['id']} ({r['source']}): {r['verdict']}",
            "",
            f"> {r['quote']}",
            "",
            f"Checked: {r['statement']}",
            "",
            f"Numbers: {numbers}",
        ]
        if r["detail"]:
            lines += ["", f"{'Why' if r['verdict'] == UNMEASURABLE else 'Failed'}: {r['detail']}"]
    return "\n".join(lines) + "\n"


def main(params: Params) -> None:
    setup_logging()
    tolerance = params.analysis.paper_check.ratio_tolerance
    set_kinds = {name: cfg.kind for name, cfg in params.data.sets.items()}
    records = check_claims(RunEvidence(params.paths.runs, params.autoencoders.names, set_kinds), claim_list(tolerance))
    write_json(layout.paper_check(params.paths, "json"), {"summary": summary(records), "claims": records})
    with atomic_path(layout.paper_check(params.paths, "md")) as tmp:
        tmp.write_text(to_markdown(records, tolerance), encoding="utf-8")
    log.info("paper check: %s", summary(records))


if __name__ == "__main__":
    main(load_params())
