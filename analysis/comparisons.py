"""The comparisons the paper's claims are built from: each decides "a better than b" as holds / inconclusive / fails.

Imported by `analysis.claims` (claims are built from these factories) and `analysis.paper_check` (its evidence
classes hand out `Diff`s and `Estimate`s). Conventions:
- A comparison is decided on the interval of the difference d = a - b (`Diff`) by `bench.uncertainty.verdict`:
  holds when the whole interval has the claimed sign, fails when it has the opposite sign, inconclusive when it
  contains 0. The interval comes from one of three rules (`Diff.rule`):
  - "paired": the intervals stage's paired bootstrap of d (the same resampled images for a and b);
  - "overlap": only each side's own interval is known (Fig. 7's rho of one item against a fixed threshold):
    [low_a - high_b, high_a - low_b], i.e. holds iff the two intervals do not overlap in the claimed direction;
  - "point": a number without an interval (the paper's own tables, Table 2's sizes and timings), decided strictly
    on the point: a tie fails, there is no inconclusive.
- A check reports every comparison through a `Tally`; a claim fails if any comparison fails decisively, else is
  inconclusive if any is inconclusive, else holds (`combine`).
- Ratios (Table 2's `ratio_near`, Table 3's `vae_gap`) have no interval: holds / fails on point estimates.
- Orderings use this run's labelled metrics (`rfd[judge]`, `fd[judge]`, `percep[own]`, or the Inception / LPIPS-VGG
  ones where they were local); magnitudes of a judge FD are never compared with the paper's FIDs.
- Fig. 7's claims must hold at every level (object / part) the compress stage measured.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis import paper
from analysis.results import METRICS
from bench.uncertainty import FAILS, HOLDS, INCONCLUSIVE, NEGATIVE, POSITIVE, verdict

PAIRED, OVERLAP, POINT = "paired", "overlap", "point"  # where a difference's interval comes from
DET = paper.DETERMINISTIC


class Unmeasurable(Exception):
    """A claim's input is missing or failed validation; the message says which and what to run."""


@dataclass(frozen=True)
class Estimate:
    """One number with its interval (low == high == value where none is known)."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class Diff:
    """d = a - b with its interval; `rule` is PAIRED, OVERLAP or POINT (see the module docstring)."""

    value: float
    low: float
    high: float
    rule: str

    @classmethod
    def point(cls, a: float, b: float) -> Diff:
        return cls(a - b, a - b, a - b, POINT)

    @classmethod
    def overlap(cls, a: Estimate, b: Estimate) -> Diff:
        return cls(a.value - b.value, a.low - b.high, a.high - b.low, OVERLAP)

    def flip(self) -> Diff:
        """b - a."""
        return Diff(-self.value, -self.high, -self.low, self.rule)


def decide(d: Diff, direction: str) -> str:
    """HOLDS / INCONCLUSIVE / FAILS for d claimed `direction` (POSITIVE or NEGATIVE); a point tie fails."""
    if d.rule == POINT:
        return HOLDS if (d.value > 0 if direction == POSITIVE else d.value < 0) else FAILS
    return verdict(d.low, d.high, direction=direction)


def better(family: str, d: Diff) -> str:
    """Verdict of "a better than b" on a metric family, from d = a - b (direction from `results.METRICS`)."""
    return decide(d, POSITIVE if METRICS[family].higher_better else NEGATIVE)


def combine(verdicts: Iterable[str]) -> str:
    """A claim's verdict from its comparisons': FAILS if any fails, else INCONCLUSIVE if any is, else HOLDS."""
    verdicts = list(verdicts)
    return FAILS if FAILS in verdicts else INCONCLUSIVE if INCONCLUSIVE in verdicts else HOLDS


def place_verdict(place: str, over: Sequence[str], under: Sequence[str], strict: bool = False) -> str:
    """Whether an item is best / second / worst of a group.

    Args:
        place: "best", "second" or "worst".
        over: per other member, the verdict of "item better than it".
        under: per other member (same order), the verdict of "it better than item".
        strict: every comparison is a point one: what is not decided counts as failed (a tie is not a place).

    Returns:
        best: every `over` holds; worst: every `under` holds (combined as `combine`). second: holds when exactly
        one other is decisively ahead and all the rest decisively behind; fails when more than one is decisively
        ahead or all are decisively behind; else inconclusive.
    """
    if place == "best":
        out = combine(over)
    elif place == "worst":
        out = combine(under)
    elif place == "second":
        ahead, behind, n = sum(v == HOLDS for v in under), sum(v == HOLDS for v in over), len(over)
        out = HOLDS if ahead == 1 and behind == n - 1 else FAILS if ahead > 1 or behind == n else INCONCLUSIVE
    else:
        raise ValueError(f"place must be 'best', 'second' or 'worst', got {place!r}")
    return FAILS if strict and out == INCONCLUSIVE else out


# --- the tally: what a check read and decided ----------------------------------------------------------------


class Tally:
    """The numbers a check read from the evidence (`paper_check`'s run or the paper's), the differences it decided
    and every comparison's verdict."""

    def __init__(self, evidence) -> None:
        self.ev, self.numbers, self.differences, self.outcomes = evidence, {}, {}, []
        self.notes: list[str] = []  # what the verdict does not cover (e.g. a Fig. 7 level no latent cell can see)

    def get(self, kind: str, item: str, family: str, where: str | None = None) -> float:
        key, value = self.ev.value(kind, item, family, where)
        self.numbers[key] = value
        return value

    def record(self, key: str, d: Diff) -> Diff:
        if any(math.isnan(x) for x in (d.value, d.low, d.high)):
            raise Unmeasurable(f"{key}: the difference or its interval is nan")
        self.differences[key] = {"diff": d.value, "low": d.low, "high": d.high, "rule": d.rule}
        return d

    def compare(self, kind: str, a: str, b: str, family: str, where: str | None) -> Diff:
        """d = a - b on `family`, with both numbers and the interval recorded."""
        self.get(kind, a, family, where)
        self.get(kind, b, family, where)
        return self.record(*self.ev.difference(kind, a, b, family, where))

    def curves(self, items: Sequence[str], where: str) -> dict[str, pd.Series]:
        """Each item's rFD noise curve (recorded; the comparisons are `Tally.curve_diffs` / `growth_diff`)."""
        out = {}
        for item in items:
            key, curve = self.ev.curve(item, where)
            self.numbers |= {f"{key} eps={eps:g}": v for eps, v in curve.items()}
            out[item] = curve
        return out

    def curve_diffs(self, a: str, b: str, where: str) -> dict[float, Diff]:
        key, diffs = self.ev.curve_difference(a, b, where)
        return {eps: self.record(f"{key} eps={eps:g}", d) for eps, d in diffs.items()}

    def growth_diff(self, a: str, b: str, where: str) -> Diff:
        return self.record(*self.ev.growth_difference(a, b, where))

    def compress(self, items: Sequence[str]) -> dict[str, dict[str, tuple[Estimate, Estimate]]]:
        """level -> item -> (sigma2, rho), for every level the compress stage measured."""
        levels, unmeasured = self.ev.levels(), self.ev.unmeasured_levels()
        self.notes = list(dict.fromkeys([*self.notes, *unmeasured.values()]))
        if not levels:
            raise Unmeasurable("; ".join(unmeasured.values()) or "no compress outputs in this run")
        out = {}
        for level in levels:
            out[level] = {}
            for item in items:
                key, s2, rho = self.ev.compress(item, level)
                self.numbers |= {f"sigma2 {key} ({level})": s2.value, f"rho {key} ({level})": rho.value}
                out[level][item] = (s2, rho)
        return out

    def compress_diff(self, a: str, b: str, level: str, measure: str) -> Diff:
        """a - b of Fig. 7's `measure` at `level`, paired over the images."""
        return self.record(*self.ev.compress_difference(a, b, level, measure))

    def expect(self, outcome: str, claim: str) -> None:
        """Record one comparison's verdict; `claim` says what was expected (shown when it does not hold)."""
        self.outcomes.append((outcome, claim))

    def verdict(self) -> str:
        return combine(v for v, _ in self.outcomes)

    def detail(self) -> str:
        return "; ".join([*(f"{v}: {claim}" for v, claim in self.outcomes if v != HOLDS), *self.notes])


Check = Callable[[Tally], None]


def _at(where: str | None) -> str:
    return f" on the {paper.PAPER_DATASETS[where]} analogue" if where else ""


# --- comparison factories ------------------------------------------------------------------------------------


def rank(*, kind: str, families: Sequence[str], item: str, among: Sequence[str], where, place: str) -> Check:
    """`item` is the best / second / worst of `among` on each family, on each paper dataset in `where`
    (`place_verdict`)."""

    def check(t: Tally) -> None:
        for w in where:
            for f in families:
                diffs = [t.compare(kind, item, o, f, w) for o in among if o != item]
                over, under = [better(f, d) for d in diffs], [better(f, d.flip()) for d in diffs]
                strict = all(d.rule == POINT for d in diffs)
                ahead, behind = under.count(HOLDS), over.count(HOLDS)
                t.expect(
                    place_verdict(place, over, under, strict),
                    f"{item} {place} on {f}{_at(w)} ({ahead} decisively ahead, {behind} decisively behind)",
                )

    return check


def beats(*, kind: str, families: Sequence[str], winners: Sequence[str], losers: Sequence[str], where) -> Check:
    """Every winner better than every loser on each family and paper dataset."""

    def check(t: Tally) -> None:
        for w in where:
            for f in families:
                for a in winners:
                    for b in losers:
                        t.expect(better(f, t.compare(kind, a, b, f, w)), f"{a} better than {b} on {f}{_at(w)}")

    return check


def step(
    *, before: str, after: str, better_on: Sequence[tuple[str, str]], worse_on: Sequence[tuple[str, str]]
) -> Check:
    """Adding a loss term (`before` -> `after`, ImageNet analogue) improves the (kind, family) pairs in `better_on`
    and degrades those in `worse_on`."""

    def check(t: Tally) -> None:
        for kind, f in better_on:
            t.expect(better(f, t.compare(kind, after, before, f, "imagenet")), f"{after} better than {before} on {f}")
        for kind, f in worse_on:
            t.expect(better(f, t.compare(kind, before, after, f, "imagenet")), f"{after} worse than {before} on {f}")

    return check


def monotone(*, kind: str, family: str, items: Sequence[str]) -> Check:
    """Better at every step down `items` (ImageNet analogue)."""

    def check(t: Tally) -> None:
        for a, b in zip(items, items[1:], strict=False):
            t.expect(better(family, t.compare(kind, b, a, family, "imagenet")), f"{family} improves {a} -> {b}")

    return check


def ratio_near(*, family: str, key: str, tolerance: float) -> Check:
    """VMAE / SD-VAE on an efficiency measure within `tolerance` (relative) of the paper's `TABLE2[key]["ratio"]`
    (point estimates: holds / fails)."""

    def check(t: Tally) -> None:
        target = paper.TABLE2[key]["ratio"]
        ratio = t.get("eff", "vmae", family) / t.get("eff", "sd-vae", family)
        t.numbers[f"{family} vmae / sd-vae"] = ratio
        t.expect(HOLDS if abs(ratio - target) <= tolerance * target else FAILS, f"ratio {ratio:.1%} ≈ {target:.1%}")

    return check


def vae_gap(t: Tally) -> None:
    """gFD(VAE) / mean gFD(AE, DAE) is smaller on the CelebA-HQ analogue than on the ImageNet-1K one (a ratio, so
    that FD scales of different datasets do not matter; point estimates: holds / fails)."""
    gap = {}
    for w in ("imagenet", "celebahq"):
        gap[w] = t.get("gen", "vae", "fd", w) / (sum(t.get("gen", i, "fd", w) for i in DET) / len(DET))
        t.numbers[f"gFD vae / mean(ae, dae) @{w}"] = gap[w]
    ok = gap["celebahq"] < gap["imagenet"]
    t.expect(HOLDS if ok else FAILS, f"gap ratio {gap['celebahq']:.3g} below {gap['imagenet']:.3g}")


def curve_beats(*, winners: Sequence[str], losers: Sequence[str]) -> Check:
    """Fig. 6: at every eps, each winner's rFD below each loser's (ImageNet analogue)."""

    def check(t: Tally) -> None:
        t.curves([*winners, *losers], "imagenet")
        for a in winners:
            for b in losers:
                v = {eps: better("rfd", d) for eps, d in t.curve_diffs(a, b, "imagenet").items()}
                off = ", ".join(f"eps {eps:g} {x}" for eps, x in v.items() if x != HOLDS)
                t.expect(combine(v.values()), f"{a} below {b} at every eps ({off})")

    return check


def growth_beats(*, winners: Sequence[str], losers: Sequence[str]) -> Check:
    """Fig. 6: rFD(largest eps) - rFD(0) of each winner below each loser's (ImageNet analogue)."""

    def check(t: Tally) -> None:
        c = t.curves([*winners, *losers], "imagenet")
        t.numbers |= {f"rFD growth {i}": float(s.iloc[-1] - s.iloc[0]) for i, s in c.items()}
        for a in winners:
            for b in losers:
                t.expect(better("rfd", t.growth_diff(a, b, "imagenet")), f"growth {a} below {b}")

    return check


def versus_raw(*, items: Sequence[str], above: bool) -> Check:
    """Fig. 7: sigma^2 of each item above (or below) the raw image's, at every level."""

    def check(t: Tally) -> None:
        for level in t.compress([*items, "raw"]):
            for i in items:
                d = t.compress_diff(i, "raw", level, "sigma2")
                side = "above" if above else "below"
                t.expect(decide(d, POSITIVE if above else NEGATIVE), f"{i} sigma2 {side} raw ({level})")

    return check


def lowest(*, measure: str, item: str, among: Sequence[str]) -> Check:
    """Fig. 7: `item` lowest of `among` on `measure` ("sigma2" or "rho"), at every level."""
    if measure not in ("sigma2", "rho"):
        raise ValueError(f"measure must be 'sigma2' or 'rho', got {measure!r}")

    def check(t: Tally) -> None:
        for level in t.compress(among):
            verdicts = [decide(t.compress_diff(item, o, level, measure), NEGATIVE) for o in among if o != item]
            t.expect(combine(verdicts), f"{item} lowest {measure} ({level})")

    return check


def _distances(points: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Distance to the ideal corner (lowest sigma^2, highest rho) after min-max scaling each axis over the items.

    Args: item -> (..., 2) (sigma^2, rho), e.g. (R, 2) bootstrap draws: corner and span are taken per draw.
    Returns: item -> (...,) distances in [0, sqrt(2)].
    """
    v = np.stack(list(points.values()))  # (K, ..., 2)
    lo, hi = v.min(0), v.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    return {i: np.hypot((x[..., 0] - lo[..., 0]) / span[..., 0], (hi[..., 1] - x[..., 1]) / span[..., 1])
            for i, x in points.items()}  # fmt: skip


def closest_to_ideal(*, item: str, among: Sequence[str]) -> Check:
    """Fig. 7: `item` nearest the ideal corner (lowest sigma^2, highest rho) after min-max scaling each axis over
    the points of `among`, at every level. Paired: each difference of distances gets the percentile interval of its
    bootstrap draws, the scaling recomputed on every draw (`RunEvidence.compress_draws`)."""

    def check(t: Tally) -> None:
        for level in t.compress(among):
            conf, points, draws = t.ev.compress_draws(list(among), level)
            d, dd = _distances(points), _distances(draws)
            t.numbers |= {f"distance to ideal {i} ({level})": float(x) for i, x in d.items()}
            verdicts = []
            for o in among:
                if o == item:
                    continue
                low, high = np.quantile(dd[item] - dd[o], [(1 - conf) / 2, (1 + conf) / 2])
                diff = Diff(float(d[item] - d[o]), float(low), float(high), PAIRED)
                verdicts.append(decide(t.record(f"distance {item} - {o} ({level})", diff), NEGATIVE))
            t.expect(combine(verdicts), f"{item} closest to the ideal ({level})")

    return check


def rho_above(*, item: str, threshold: float) -> Check:
    """Fig. 7 / Sec. 5.1: `item`'s rho interval above `threshold`, at every level."""

    def check(t: Tally) -> None:
        for level, v in t.compress([item]).items():
            bar = Estimate(threshold, threshold, threshold)
            d = t.record(f"rho {item} - {threshold:g} ({level})", Diff.overlap(v[item][1], bar))
            t.expect(decide(d, POSITIVE), f"{item} rho above {threshold:g} ({level})")

    return check


def all_of(*checks: Check) -> Check:
    def check(t: Tally) -> None:
        for c in checks:
            c(t)

    return check
