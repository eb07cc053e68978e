"""The paper-claims check: every claim of `analysis.claims`, run on this run's numbers and on the paper's own.

Run: `python -m analysis.paper_check` (DVC stage `paper_check`). Reads eval_ae, eval_gen, compress and compress_raw
outputs through `analysis.results`, the intervals stage's confidence intervals (`bench.layout.intervals`) and
validate_metrics' verdicts (`bench.layout.metric_validation`), and writes `<results>/paper_check.{md,json}`: per
claim, holds / inconclusive / fails / not measurable, the numbers and differences it compared, and the verdict of
the same check on the paper's numbers. The rules are `analysis.comparisons`'.
- The paper's ImageNet-1K and CelebA-HQ claims are checked on the first dataset standing in for each (by kind,
  `paper.ANALOGUE`); Fig. 7's object / part levels on the datasets the compress stage measured at that level.
- A claim whose inputs are missing (an item not run, a stage output absent, a metric not measured) or rest on a
  metric that failed validation is "not measurable", with the reason. Every claim is also run on the paper's own
  published numbers (Tables 1-4, strict point comparisons; figures are not tabulated), which checks the encoding of
  the claim against its source.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis import paper, results, table_format
from analysis.claims import Claim, claim_list
from analysis.comparisons import PAIRED, Diff, Estimate, Tally, Unmeasurable
from analysis.paper import PAPER_DATASETS
from analysis.results import EFFICIENCY_FIELDS, METRICS
from bench import layout
from bench.config import Params, load_params
from bench.log import get_logger, setup_logging
from bench.outputs import atomic_path, write_json
from bench.uncertainty import FAILS, HOLDS, INCONCLUSIVE, NOT_MEASURABLE, verdict_counts

log = get_logger(__name__)
VALIDATION_TABLE = "results/tables/metric_validation.md"


def _optional(read: Callable[[], dict]) -> tuple[dict | None, str]:
    """(a stage output, "") or (None, why it is missing and what to run)."""
    try:
        return read(), ""
    except FileNotFoundError as err:
        return None, str(err)


def _estimate(entry: Mapping, index: int | None) -> Estimate:
    at = (lambda x: x) if index is None else (lambda x: x[index])
    return Estimate(float(at(entry["value"])), float(at(entry["low"])), float(at(entry["high"])))


def pair_diff(entry: Mapping, a: str, b: str, index: int | None = None) -> Diff:
    """a - b from one intervals.json entry ({"values", "pairs"}); `index` picks one eps of a noise curve.

    The paired interval where the file has it ("a|b", or "b|a" negated); else the overlap of the two items' own
    intervals (a metric without a paired bootstrap).
    """
    pairs, values = entry.get("pairs", {}), entry.get("values", {})
    for key, flip in ((f"{a}|{b}", False), (f"{b}|{a}", True)):
        if key in pairs:
            p = _estimate({"value": pairs[key]["diff"], **pairs[key]}, index)
            d = Diff(p.value, p.low, p.high, PAIRED)
            return d.flip() if flip else d
    missing = [i for i in (a, b) if i not in values]
    if missing:
        raise Unmeasurable(f"no interval of {missing} in the intervals stage's output: run `dvc repro intervals`")
    return Diff.overlap(_estimate(values[a], index), _estimate(values[b], index))


# --- evidence: this run's numbers, or the paper's -------------------------------------------------------------


class RunEvidence:
    """This run's stage outputs, read per item so that a missing one leaves only the claims needing it unmeasurable;
    differences are decided on the intervals stage's confidence intervals."""

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
        self.intervals, self.intervals_missing = _optional(lambda: results.intervals(runs))
        self.validation, self.validation_missing = _optional(lambda: results.validation(runs))

    def _record(self, kind: str, item: str, where: str | None) -> dict:
        if item in self.missing[kind]:
            raise Unmeasurable(self.missing[kind][item])
        if not (self.frames[kind]["item"] == item).any():
            raise Unmeasurable(f"{item} is not a pipeline item of this run (autoencoders.names)")
        return self.records.get((kind, item, where), {})

    def _column(self, kind: str, family: str) -> str:
        """The column reporting `family`, checked against metric validation."""
        if (kind, family) not in self.columns:
            try:
                self.columns[(kind, family)] = results.column(self.frames[kind], family)
            except ValueError as err:
                raise Unmeasurable(str(err)) from None
        column = self.columns[(kind, family)]
        if column not in results.PER_IMAGE:  # always measurable
            if self.validation is None:
                raise Unmeasurable(f"{column} is not validated: {self.validation_missing}")
            entry = results.verdict(self.validation, column)
            if entry is not None and not entry["validated"]:
                raise Unmeasurable(
                    f"{column} failed metric validation ({VALIDATION_TABLE}): {', '.join(entry['failed'])}"
                )
        return column

    def _intervals(self, kind: str, dataset: str, column: str) -> dict:
        if self.intervals is None:
            raise Unmeasurable(self.intervals_missing)
        entry = self.intervals.get(kind, {}).get(dataset, {}).get(column)
        if entry is None:
            raise Unmeasurable(f"no {kind} intervals of {column} @{dataset}: run `dvc repro intervals`")
        return entry

    def interval_note(self) -> str:
        """What the intervals are, for the report."""
        if self.intervals is None:
            return f"No intervals: {self.intervals_missing}."
        i = self.intervals
        return (
            f"Intervals are two-sided {i['level']:.0%}: paired bootstrap over the eval images ({i['n_resamples']} "
            f"resamples); those of judge metrics also carry the spread of the {i['members']} judge-ensemble members. "
            "They do not carry the training's chance (every network of this run comes from one seed), which can be "
            "larger (README, 'Training seeds'): a verdict that must survive another seed needs replicates, "
            "combined by `python -m analysis.replicates RUN RUN ...`."
        )

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

    def difference(self, kind: str, a: str, b: str, family: str, where: str | None) -> tuple[str, Diff]:
        """a - b on `family`: Table 2's numbers carry no interval (a point comparison); the rest the intervals
        stage's."""
        if kind == "eff":
            (key, va), (_, vb) = self.value(kind, a, family, where), self.value(kind, b, family, where)
            return f"{key} - {b}", Diff.point(va, vb)
        column, dataset = self._column(kind, family), self.dataset(where)
        return f"{column} {a} - {b} @{dataset}", pair_diff(self._intervals(kind, dataset, column), a, b)

    def curve(self, item: str, where: str) -> tuple[str, pd.Series]:
        dataset, column = self.dataset(where), self._column("noise", "rfd")
        self._record("noise", item, dataset)
        frame = self.frames["noise"]
        rows = frame[(frame["item"] == item) & (frame["dataset"] == dataset)]
        if rows.empty or rows[column].isna().any():
            raise Unmeasurable(f"no {column} noise curve for {item} @{dataset}")
        return f"{column} {item} @{dataset}", rows.set_index("eps")[column].astype(float).sort_index()

    def curve_difference(self, a: str, b: str, where: str) -> tuple[str, dict[float, Diff]]:
        """a - b of the rFD noise curves, per eps of the intervals stage."""
        dataset, column = self.dataset(where), self._column("noise", "rfd")
        entry = self._intervals("noise", dataset, column)
        eps = self.intervals["noise"][dataset]["eps"]
        return f"{column} {a} - {b} @{dataset}", {e: pair_diff(entry, a, b, k) for k, e in enumerate(eps)}

    def growth_difference(self, a: str, b: str, where: str) -> tuple[str, Diff]:
        """a - b of rFD(largest eps) - rFD(0)."""
        dataset, column = self.dataset(where), self._column("noise", "rfd")
        entry = self._intervals("noise", dataset, column).get("growth")
        if entry is None:
            raise Unmeasurable(f"no growth intervals of {column} @{dataset}: run `dvc repro intervals`")
        return f"{column} growth {a} - {b} @{dataset}", pair_diff(entry, a, b)

    def levels(self) -> list[str]:
        """The compress levels Fig. 7's claims are decided on: those a latent cell can see (`unmeasured_levels`)."""
        frame = self.frames["compress"]
        levels = list(dict.fromkeys(frame["level"])) if "level" in frame else []
        return [level for level in levels if level not in self.unmeasured_levels()]

    def unmeasured_levels(self) -> dict[str, str]:
        """level -> why it is not measured (`results.level_unmeasured`), from the raw reference's row of each set."""
        frame, out = self.frames["compress"], {}
        for row in frame.to_dict("records") if "level" in frame else ():
            reason = results.level_unmeasured(row)
            if reason is not None:
                out.setdefault(row["level"], reason)
        return out

    def compress(self, item: str, level: str) -> tuple[str, Estimate, Estimate]:
        """sigma^2 and rho of `item` at `level`, each with the compress stage's own interval."""
        r = self._record("compress", item, level)
        if pd.isna(r.get("sigma2", math.nan)) or pd.isna(r.get("rho", math.nan)):
            raise Unmeasurable(f"no {level}-level sigma2 / rho for {item} in this run's compress outputs")
        s2 = Estimate(float(r["sigma2"]), float(r["sigma2_lo"]), float(r["sigma2_hi"]))
        return f"{item} @{r['dataset']}", s2, Estimate(float(r["rho"]), float(r["rho_lo"]), float(r["rho_hi"]))

    def compress_difference(self, a: str, b: str, level: str, measure: str) -> tuple[str, Diff]:
        """a - b of `measure` ("sigma2" or "rho") at `level`, paired over the images (the intervals stage's)."""
        dataset = self._record("compress", a, level).get("dataset")
        if dataset is None:
            raise Unmeasurable(f"no {level}-level compress outputs for {a} in this run")
        return f"{measure} {a} - {b} @{dataset}", pair_diff(self._intervals("compress", dataset, measure), a, b)

    def compress_draws(
        self, items: Sequence[str], level: str
    ) -> tuple[float, dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Fig. 7 at `level`, paired: the intervals' confidence level, and per item its (sigma2, rho) means (2,) over
        the images every item defines and their bootstrap draws (R, 2) on shared resamples (`bench.intervals`)."""
        dataset = self._record("compress", items[0], level).get("dataset")
        if dataset is None:
            raise Unmeasurable(f"no {level}-level compress outputs for {items[0]} in this run")
        draws = self._intervals("compress", dataset, "draws")
        missing = [i for i in items if i not in draws["sigma2"]]
        if missing:
            raise Unmeasurable(f"no compress draws of {missing} @{dataset}: run `dvc repro intervals`")
        entry = self.intervals["compress"][dataset]
        points = {i: np.array([entry[m]["values"][i]["value"] for m in ("sigma2", "rho")]) for i in items}
        return (
            self.intervals["level"],
            points,
            {i: np.stack([draws[m][i] for m in ("sigma2", "rho")], 1) for i in items},
        )


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

    def difference(self, kind: str, a: str, b: str, family: str, where: str | None) -> tuple[str, Diff]:
        """a - b as a point comparison: the paper gives no intervals."""
        (key, va), (_, vb) = self.value(kind, a, family, where), self.value(kind, b, family, where)
        return f"{key} - {b}", Diff.point(va, vb)

    def curve(self, *args):
        raise Unmeasurable("Fig. 6 is a plot: the paper tabulates no values")

    def levels(self) -> list[str]:
        raise Unmeasurable("Fig. 7 is a plot: the paper tabulates no values")

    curve_difference = growth_difference = compress = compress_difference = compress_draws = curve
    unmeasured_levels = levels


# --- the report -------------------------------------------------------------------------------------------


def evaluate(claim: Claim, evidence) -> dict:
    """Run one claim's check: {"verdict", "numbers", "differences", "detail"}."""
    tally = Tally(evidence)
    try:
        claim.check(tally)
    except Unmeasurable as err:
        verdict, detail = NOT_MEASURABLE, str(err)
    else:
        verdict, detail = tally.verdict(), tally.detail()
    return {"verdict": verdict, "numbers": tally.numbers, "differences": tally.differences, "detail": detail}


def check_claims(evidence, claims: Sequence[Claim]) -> list[dict]:
    """Every claim (`claims.claim_list`) on `evidence` (this run's), and on the paper's own numbers beside it."""
    out = []
    for c in claims:
        own = evaluate(c, PaperEvidence(ablation=c.source == "Table 4"))
        record = {"id": c.id, "source": c.source, "quote": c.quote, "statement": c.statement}
        out.append(record | evaluate(c, evidence) | {"paper_verdict": own["verdict"]})
    return out


def summary(records: Sequence[dict]) -> dict:
    """How many claims got each verdict (HOLDS, INCONCLUSIVE, FAILS, NOT_MEASURABLE), and the total."""
    return verdict_counts(records)


def _difference(key: str, d: dict) -> str:
    return f"`{key}` = {d['diff']:.4g} [{d['low']:.4g}, {d['high']:.4g}] ({d['rule']})"


def to_markdown(records: Sequence[dict], ratio_tolerance: float, interval_note: str = "") -> str:
    s = summary(records)
    lines = [
        "# The paper's claims, checked on this run",
        "",
        f"**{s[HOLDS]} of {s['total']} claims hold** ({s[INCONCLUSIVE]} inconclusive, {s[FAILS]} fail, "
        f"{s[NOT_MEASURABLE]} not measurable).",
        "",
        "Orderings are compared with this run's labelled metrics (a `[judge]` FD is the suite's own network, never "
        "an Inception FID). Each comparison 'a better than b' is decided on the confidence interval of the "
        "difference a - b: it holds when the whole interval favours a, fails when the whole interval favours b, and "
        "is inconclusive when it contains 0. A claim fails if any of its comparisons fails, else is inconclusive if "
        "any is, else holds. Intervals are the paired bootstrap ones (`paired`) where the intervals stage computed "
        "them, including Fig. 7's sigma^2 and rho and its distances to the ideal corner (recomputed on each shared "
        "resample); else [low_a - high_b, high_a - low_b] from each side's own interval (`overlap`: rho against the "
        "fixed threshold 1, metrics without a paired bootstrap). Table 2's sizes and timings and the paper's own "
        "numbers have no intervals and are compared strictly on the point (`point`: a tie fails); so are the "
        f"ratios (Table 2 within ±{ratio_tolerance:.0%} of the paper's, Table 3's VAE gap). A claim resting on a "
        f"metric that failed validation ({VALIDATION_TABLE}) is not measurable. {interval_note}",
        "",
        "'Paper's numbers' is the same check run on the paper's Tables 1-4.",
        "",
        "| claim | source | checked | this run | paper's numbers |",
        "|:--|:--|:--|:--|:--|",
        *(f"| {r['id']} | {r['source']} | {r['statement']} | {r['verdict']} | {r['paper_verdict']} |" for r in records),
    ]
    for r in records:
        numbers = ", ".join(f"`{k}` = {v:.4g}" for k, v in r["numbers"].items()) or "none"
        differences = ", ".join(_difference(k, d) for k, d in r["differences"].items()) or "none"
        lines += [
            "",
            f"## {r['id']} ({r['source']}): {r['verdict']}",
            "",
            f"> {r['quote']}",
            "",
            f"Checked: {r['statement']}",
            "",
            f"Numbers: {numbers}",
            "",
            f"Differences: {differences}",
        ]
        if r["detail"]:
            lines += ["", f"{'Why' if r['verdict'] == NOT_MEASURABLE else 'Not holding'}: {r['detail']}"]
    return "\n".join(lines) + "\n"


def main(params: Params) -> None:
    setup_logging()
    tolerance = params.analysis.paper_check.ratio_tolerance
    set_kinds = {name: cfg.kind for name, cfg in params.data.sets.items()}
    evidence = RunEvidence(params.paths.runs, params.autoencoders.names, set_kinds)
    records = check_claims(evidence, claim_list(tolerance))
    write_json(layout.paper_check(params.paths, "json"), {"summary": summary(records), "claims": records})
    with atomic_path(layout.paper_check(params.paths, "md")) as tmp:
        tmp.write_text(to_markdown(records, tolerance, evidence.interval_note()), encoding="utf-8")
    log.info("paper check: %s", summary(records))


if __name__ == "__main__":
    main(load_params())
