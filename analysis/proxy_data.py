"""What predicts generation quality: every proxy of every autoencoder item beside its generation metrics, and their
rank correlations. Shared by the `table_proxies` and `fig_proxies` stages and the notebooks (import only).

Per generation dataset (the datasets eval_gen scored each item on, `diffusion.items`), one row per item with:
- the generation metrics (`Target`s, see `targets`): eval_gen's `fd` family (`fid[inception]` where Inception was
  local, else `fd[judge]`), the field's yardstick, and beside it every other eval_gen metric that passed
  validate_metrics (recall[judge] in the default run), so that where the FD is not shown to measure, a row against
  an instrument that is still exists;
- the field's proxies from the proxies stage, measured on that dataset's eval split: iFD, the class and dense
  linear probes, the latents' high-frequency energy share and its gap to the images', the scale-equivariance MSE;
- the paper's properties: rFD growth under latent noise (Fig. 6: rFD at the largest eps minus rFD at eps 0, eval_ae),
  sigma^2 and rho (Fig. 7, compress; only for sets in `analysis.compress.sets`), rFD and PSNR (Table 1, eval_ae).

A proxy missing for a dataset (no masks, not a compress set, not a train set) is NaN there and gets no correlation.
The leaderboard's Spearman correlations with SiT-XL gFID (arXiv 2603.05630, 22 tokenizers, recomputed in issue 15)
are the reference column: iFID +0.84, linear probe -0.82, PSNR +0.54, rFID -0.17; against a higher-better metric
(recall) the reference is shown with its sign flipped, the direction it predicts there (`Target.reference`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis import results
from analysis.table_format import NOT_VALIDATED
from bench.proxies import spearman_interval

FIELD, PAPER = "field's proxy", "paper's property"
TARGETS = "targets"  # the frame's attrs key for its `Target`s


@dataclass(frozen=True)
class Proxy:
    label: str  # printed name
    source: str  # FIELD or PAPER
    leaderboard: float | None  # the leaderboard's Spearman with gFID; None where it has no such column


@dataclass(frozen=True)
class Target:
    """A generation metric the proxies are ranked against: an eval_gen column and its direction."""

    column: str  # e.g. "fd[judge]", "recall[judge]"
    higher_better: bool

    def reference(self, leaderboard: float | None) -> float | None:
        """The leaderboard's rho with gFID (lower better) in this metric's direction: sign flipped for a
        higher-better metric, whose rho with a good proxy has the opposite sign to gFID's."""
        return None if leaderboard is None else (-leaderboard if self.higher_better else leaderboard)


PROXIES = {
    "ifd": Proxy("iFD (interpolated FD)", FIELD, 0.84),
    "probe_class": Proxy("linear probe, class accuracy", FIELD, -0.82),
    "probe_seg": Proxy("dense probe, segmentation accuracy", FIELD, None),
    "high_freq_latent": Proxy("latent high-frequency energy share", FIELD, None),
    "high_freq_gap": Proxy("latent minus image high-frequency share", FIELD, None),
    "equiv_mse": Proxy("scale-equivariance MSE", FIELD, None),
    "noise_growth": Proxy("rFD growth under latent noise (Fig. 6)", PAPER, None),
    "sigma2": Proxy("sigma^2, compression degree (Fig. 7)", PAPER, None),
    "rho": Proxy("rho, disentanglement (Fig. 7)", PAPER, None),
    "rfd": Proxy("rFD (Table 1)", PAPER, -0.17),
    "psnr": Proxy("PSNR (Table 1)", PAPER, 0.54),
}
PROXY_COLUMNS = {  # proxies-stage key -> PROXIES key (the iFD column is chosen by `results.column`)
    "probe_class": "probe_class",
    "probe_seg": "probe_seg",
    "high_freq[latent]": "high_freq_latent",
    "high_freq_gap": "high_freq_gap",
    "equiv_mse[0-1]": "equiv_mse",
}
KEYS = ["item", "dataset"]
SAME_NETWORK = ("ifd", "noise_growth", "rfd")  # proxies that are FDs in the generation FD's own feature space


def targets(gen: pd.DataFrame, validation: Mapping[str, Any] | None) -> list[Target]:
    """The generation metrics of eval_gen's `gen` frame that the proxies are correlated with: the FD family first
    (the field's yardstick, validated or not: `target_note` says which), then every other labelled distribution
    metric validate_metrics passed (`results.verdict`), in `results.METRICS` order."""
    fd = results.column(gen, "fd")
    found = [Target(fd, results.METRICS["fd"].higher_better)]
    for metric in results.METRICS.values():
        for column in metric.run:
            entry = results.verdict(validation, column)
            if column != fd and column in gen.columns and entry is not None and entry["validated"]:
                found.append(Target(column, metric.higher_better))
    return found


def frame_targets(frame: pd.DataFrame) -> list[Target]:
    """The `Target`s `proxy_frame` put in `frame` (kept in its attrs)."""
    return list(frame.attrs[TARGETS])


def target_label(target: Target, validation: Mapping[str, Any] | None) -> str:
    """A figure's axis label for a generation metric: its column and direction, marked where it failed validation."""
    entry = results.verdict(validation, target.column)
    flag = NOT_VALIDATED if validation is None or (entry is not None and not entry["validated"]) else ""
    return f"generation {target.column}, {'higher' if target.higher_better else 'lower'} better{flag}"


def target_note(column: str, validation: Mapping[str, Any] | None) -> str:
    """What one set of correlations is with, and whether validate_metrics vouches for it (a rho with an instrument
    that was not shown to measure is agreement between instruments, not prediction of generation quality).

    Args:
        column: a `Target`'s eval_gen column.
        validation: `results.optional_validation(runs)`; None when validate_metrics has not run.
    """
    base = f"Generation metric `{column}`."
    if validation is None:
        return f"{base} Metric validation has not run (`dvc repro validate_metrics`): it is not shown to measure."
    entry = results.verdict(validation, column)
    if entry is None:
        return f"{base} validate_metrics has no entry for it: it is not shown to measure."
    if entry["validated"]:
        # Name what it was tested on: recall, for one, is only expected to respond to a loss of diversity.
        tested = ", ".join(entry["passed"])
        return f"{base} It passed metric validation on every disturbance it is expected to respond to ({tested})."
    same = ", ".join(PROXIES[k].label for k in SAME_NETWORK)
    return (
        f"{base} It FAILED metric validation ({', '.join(entry['failed'])}): every ρ with it is agreement with an "
        f"instrument not shown to measure generation quality, not a prediction of it; {same} use its network too."
    )


def proxy_frame(runs: str | Path, gen_items: Mapping[str, Sequence[str]], compress_sets: Sequence[str]) -> pd.DataFrame:
    """One row per (item, generation dataset): each `Target`'s column (listed in the frame's attrs, `frame_targets`)
    and every proxy of PROXIES (NaN where not measured).

    Args:
        runs: the runs folder (`paths.runs`).
        gen_items: item -> the datasets it has a DiT on (`diffusion.items`, in params order).
        compress_sets: datasets the compress stage measured (`analysis.compress.sets`).
    """
    items = list(gen_items)
    gen = results.generation(runs, items)
    found = targets(gen, results.optional_validation(runs))
    frame = gen[[*KEYS, *(t.column for t in found)]]
    frame = frame[[d in gen_items[i] for i, d in zip(frame["item"], frame["dataset"], strict=True)]]

    prox = results.proxies(runs, items)
    part = prox[KEYS].assign(ifd=prox[results.column(prox, "ifd")])
    part = part.assign(**{name: prox.get(key, np.nan) for key, name in PROXY_COLUMNS.items()})
    recon = results.reconstruction(runs, items)
    paper = recon[KEYS].assign(rfd=recon[results.column(recon, "rfd")], psnr=recon["psnr"])
    noise = results.noise_curves(runs, items)
    rfd = results.column(noise, "rfd")
    curve = noise.sort_values("eps").groupby(KEYS)[rfd]
    growth = (curve.last() - curve.first()).rename("noise_growth").reset_index()
    comp = results.compression(runs, items, with_raw=False)
    comp = comp[comp["dataset"].isin(compress_sets)][[*KEYS, "sigma2", "rho"]]
    for other in (part, paper, growth, comp):
        frame = frame.merge(other, on=KEYS, how="left")
    frame = frame.reset_index(drop=True)
    frame.attrs[TARGETS] = found  # for `frame_targets`
    return frame


def correlations(frame: pd.DataFrame, *, n_resamples: int, level: float, seed: int) -> pd.DataFrame:
    """Spearman's rho of each proxy with each generation metric per dataset, bootstrapping items
    (`spearman_interval`).

    Args:
        frame: `proxy_frame`'s output (its `frame_targets` say which columns are generation metrics).
        n_resamples, level, seed: the bootstrap (`metrics.bootstrap`, `seed`).

    Returns:
        Rows (dataset, target, proxy), targets in `frame_targets` order and proxies in PROXIES order, with label,
        source, n_items, spearman (with the target column itself, not re-signed), low, high, leaderboard (in the
        target's direction, `Target.reference`) and `agrees` ("same sign" / "opposite sign" as the leaderboard, ""
        without a reference); proxies measured on fewer than three items of a dataset are left out.
    """
    rows = []
    for dataset, part in frame.groupby("dataset", sort=False):
        for target in frame_targets(frame):
            for name, proxy in PROXIES.items():
                if name not in part:
                    continue
                both = part[[name, target.column]].dropna()
                if len(both) < 3:
                    continue
                iv = spearman_interval(both[name], both[target.column], n_resamples=n_resamples, level=level, seed=seed)
                ref = target.reference(proxy.leaderboard)
                agrees = (
                    ""
                    if ref is None or iv.point == 0
                    else ("same sign" if (iv.point > 0) == (ref > 0) else "opposite sign")
                )
                rows.append(
                    {
                        "dataset": dataset,
                        "target": target.column,
                        "proxy": name,
                        "label": proxy.label,
                        "source": proxy.source,
                        "n_items": len(both),
                        "spearman": iv.point,
                        "low": iv.low,
                        "high": iv.high,
                        "leaderboard": np.nan if ref is None else ref,
                        "agrees": agrees,
                    }
                )
    return pd.DataFrame(rows)
