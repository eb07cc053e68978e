"""The `intervals` stage: a confidence interval for every reported number, and for every difference a claim reads.

Run: `python -m bench.intervals` (DVC stage `intervals`). Reads eval_ae's and eval_gen's per-image values and
per-member features (`layout.eval_ae_features`, `layout.eval_gen_features`) and the reference statistics, and
writes `<runs>/intervals/intervals.json`. Conventions (`bench.uncertainty` has the statistics):

- Paired bootstrap over image indices (`scipy.stats.bootstrap`, `metrics.bootstrap.n_resamples` resamples, seeded
  with `seed`): one resample of the eval images (or sample indices: sample i of every item shares its noise and
  class, common random numbers) serves every item, so a difference A - B is tested on the same images.
  Per-image metrics (L1, MSE, PSNR, SSIM, the perceptual distance) are means: BCa intervals. So is `swd[pyramid]`
  (Tables 1 and 3), through its per-image pseudo-values (`bench.swd_influence`: the linearised bootstrap, since a
  resampled SWD would re-sort every projection; no judge members, so no ensemble spread). Frechet distances
  (rFD at every Fig. 6 eps and its growth, gFD, sFD) are recomputed per resample against the fixed reference:
  percentile intervals (BCa's jackknife would cost one FD per image).
- The judge ensemble: a distribution metric is the mean over the `judges.members` judges, and its interval adds the
  members' spread (a t interval over judge seeds) in quadrature to the image bootstrap (`uncertainty.combine`).
  IS, KID and precision: their whole-set estimators are recomputed on the same resamples (`bench.resampled`), and
  each member's normal half-width z * se (around eval_gen's own point) is combined with the members' spread. Recall
  needs the samples' own k-NN radii, which duplicated samples collapse: members' spread only (`"images": false`).
- Ranking agreement: Kendall tau between the members' rankings of the items, per set and metric.
- Fig. 7's sigma^2 and rho (compress@NAME and compress_raw's per-image values, item "raw" last): every item is measured
  on the same first `analysis.compress.images` eval images, so these are paired too (BCa intervals of means). An image
  whose sigma^2 or rho one item leaves undefined (fewer than two segments on its grid) is dropped for all: the
  intervals are over the images on which every item defines both ("n_images"), and their points can differ from the
  compress stage's own means, which use each item's defined images. "draws" keeps the bootstrap distribution of
  every item's means (`mean_draws`), so a function of several items' means gets a paired interval downstream.

Output layout: see `RECON`, `GEN`; for each set and column {"values": {item: {"value", "low", "high",
"members_sd", "h_boot", "h_members"}}, "pairs": {"A|B": {"diff", "low", "high", ...}}} with A before B in item order
(diff = A - B); Fig. 6 ("noise") holds per-eps lists and the growth rFD(last eps) - rFD(0); "compress" holds, per
compress set, "sigma2" and "rho" blocks, "n_images" and "draws" ({measure: {item: [R resampled means]}}).
"""

from __future__ import annotations

import json
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import numpy as np
import scipy.stats

from bench import layout
from bench.config import Params, load_params
from bench.log import get_logger, setup_logging
from bench.metrics import L1, LOGITS, LPIPS_VGG, MSE, PERCEP_OWN, POOL, PSNR, SSIM, SWD_KEY, load_reference
from bench.outputs import StageRecord, write_json
from bench.resampled import ReferenceSide, ResampledStats
from bench.uncertainty import (
    FD_METHOD,
    FrechetAgainst,
    Interval,
    combine,
    mean_interval,
    one_blas_thread,
    paired_bootstrap,
    ranking_agreement,
)

log = get_logger(__name__)
PER_IMAGE = (L1, MSE, PSNR, SSIM, LPIPS_VGG, PERCEP_OWN, SWD_KEY)  # SWD_KEY: pseudo-values, their mean is the SWD
RESAMPLED = {"is": "inception_score", "kid": "kid", "precision": "precision"}  # column -> ResampledStats method
MEMBERS_ONLY = ("recall",)  # needs the samples' own k-NN radii, which resampling collapses (bench.resampled)


def read_json(path: Path) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' not found: run the evaluation stages first (`dvc repro eval_ae eval_gen`)")
    return json.loads(path.read_text())


def pairs(items: list[str]) -> list[tuple[str, str]]:
    return list(combinations(items, 2))


def entry(points: np.ndarray, boot, level: float, images: bool = True) -> dict:
    """One number: the ensemble mean of `points` (M,) with its combined interval. `boot`: the image Interval of the
    member mean, or (M,) each member's image half-width (centred), or None (the members' spread only)."""
    if boot is None:
        c = combine(points, np.zeros(len(points)), level)
    elif isinstance(boot, np.ndarray):
        c = combine(points, boot, level)
    else:
        c = combine(points, None, level, ensemble=boot)
    return {"value": c.value, "low": c.low, "high": c.high, "members_sd": c.member_sd, "h_boot": c.h_boot,
            "h_members": c.h_members, "images": images and boot is not None}  # fmt: skip


def centred(iv: Interval) -> Interval:
    """A normal interval point +- z * se around the point estimate.

    For one item's FD: resampling duplicates images, which inflates every resampled FD, so a percentile interval of
    one FD sits above its point and may exclude it (measured: point 3.4, interval [5.4, 6.2]). The shift cancels in
    a paired difference of two items, whose percentile interval is kept; an item's own interval uses the bootstrap
    standard error instead.
    """
    z = float(scipy.stats.norm.ppf((1 + iv.level) / 2))
    return replace(iv, low=iv.point - z * iv.se, high=iv.point + z * iv.se, method="normal")


def block(
    items: list[str], member_values: np.ndarray, boots, level: float, images: bool = True, fd: bool = False
) -> dict:
    """values and pairs of one column. member_values (M, K); boots: K + P Intervals (items then pairs), or an
    (M, K + P) array of each member's half-widths, or None; `fd`: the item intervals are Frechet distances (centred
    on the point, see `centred`)."""
    out = {"values": {}, "pairs": {}}
    if isinstance(boots, np.ndarray):
        boots = list(boots.T)  # one (M,) half-width vector per column
    for i, item in enumerate(items):
        boot = None if boots is None else (centred(boots[i]) if fd else boots[i])
        out["values"][item] = entry(member_values[:, i], boot, level, images)
    for p, (a, b) in enumerate(pairs(items)):
        ia, ib = items.index(a), items.index(b)
        e = entry(member_values[:, ia] - member_values[:, ib], None if boots is None else boots[len(items) + p], level,
                  images)  # fmt: skip
        out["pairs"][f"{a}|{b}"] = {"diff": e.pop("value"), **e}
    return out


def with_pairs(values: np.ndarray, items: list[str]) -> np.ndarray:
    """(..., K) item values -> (..., K + P): the items, then A - B for every pair in order."""
    idx = {i: k for k, i in enumerate(items)}
    diffs = [values[..., idx[a]] - values[..., idx[b]] for a, b in pairs(items)]
    return np.concatenate([values, np.stack(diffs, axis=-1)], axis=-1) if diffs else values


def frechet_block(feats: np.ndarray, refs: list[FrechetAgainst], items: list[str], cfg, seed: int):
    """feats (K, M, N, D) of K items under M members -> (member values (M, K), K + P Intervals of the mean)."""
    k, m, n, _ = feats.shape

    def stat(idx: np.ndarray) -> np.ndarray:
        v = np.array([[refs[j](feats[i, j, idx]) for i in range(k)] for j in range(m)])  # (M, K)
        return with_pairs(v.mean(0), items)

    members = np.array([[refs[j](feats[i, j]) for i in range(k)] for j in range(m)])
    boots = paired_bootstrap(stat, n, n_resamples=cfg.n_resamples, level=cfg.level, seed=seed, method=FD_METHOD)
    return members, boots


def recon_intervals(params: Params, members: list[str]) -> tuple[dict, dict, dict]:
    """Table 1 (every per-image metric and rFD at eps 0) and Fig. 6 (rFD per eps and its growth), per set."""
    cfg, items = params.metrics.bootstrap, list(params.autoencoders.names)
    data = {i: np.load(layout.eval_ae_features(params.paths, i)) for i in items}
    identities = read_json(layout.eval_ae_metrics(params.paths, items[0]))["extractors"]
    eps = list(params.metrics.noise_eps)
    recon, noise, agreement = {}, {}, {}
    for d, dataset in enumerate(params.data.sets):
        recon[dataset], agreement[dataset] = {}, {}
        for key in PER_IMAGE:
            if f"{dataset}/0/{key}" not in data[items[0]]:
                continue
            v = np.stack([data[i][f"{dataset}/0/{key}"] for i in items])  # (K, N)
            boots = mean_interval(with_pairs(v.T, items).T, n_resamples=cfg.n_resamples, level=cfg.level,
                                  seed=params.seed)  # fmt: skip
            recon[dataset][key] = block(items, v.mean(1)[None], boots, cfg.level)
        refs = [
            FrechetAgainst(*(lambda r: (r.mu, r.sigma))(load_reference(
                layout.reference(params.paths, dataset, "eval", m), identities[m])))
            for m in members
        ]  # fmt: skip
        feats = np.stack([[[data[i][f"{dataset}/{k}/{m}"] for m in members] for i in items] for k in range(len(eps))])
        per_eps = [frechet_block(feats[k], refs, items, cfg, params.seed + d) for k in range(len(eps))]
        column = f"rfd[{layout.JUDGE}]"
        recon[dataset][column] = block(items, per_eps[0][0], per_eps[0][1], cfg.level, fd=True)
        agreement[dataset][column] = ranking_agreement(per_eps[0][0])
        curves = [block(items, mv, bt, cfg.level, fd=True) for mv, bt in per_eps]
        growth = growth_block(feats, refs, items, cfg, params.seed + d)
        noise[dataset] = {"eps": eps, column: merge_curves(curves) | {"growth": growth}}
        log.info("intervals: reconstruction on %s done", dataset)
    return recon, noise, agreement


def growth_block(feats: np.ndarray, refs: list[FrechetAgainst], items: list[str], cfg, seed: int) -> dict:
    """Fig. 6 growth rFD(last eps) - rFD(eps 0) per item and pair, on the same resampled images at both ends."""
    _, k, m, n, _ = feats.shape

    def fds(idx: np.ndarray, e: int) -> np.ndarray:
        return np.array([[refs[j](feats[e, i, j, idx]) for i in range(k)] for j in range(m)])  # (M, K)

    def stat(idx: np.ndarray) -> np.ndarray:
        return with_pairs((fds(idx, -1) - fds(idx, 0)).mean(0), items)

    full = np.arange(n)
    members = fds(full, -1) - fds(full, 0)
    boots = paired_bootstrap(stat, n, n_resamples=cfg.n_resamples, level=cfg.level, seed=seed, method=FD_METHOD)
    return block(items, members, boots, cfg.level)


def merge_curves(curves: list[dict]) -> dict:
    """Per-eps blocks -> one block whose numbers are per-eps lists."""
    out: dict = {"values": {}, "pairs": {}}
    for part in ("values", "pairs"):
        for name in curves[0][part]:
            fields = curves[0][part][name]
            out[part][name] = {f: [c[part][name][f] for c in curves] for f in fields}
    return out


def resampled_halfwidths(stats: list[list[ResampledStats]], items: list[str], cfg, seed: int) -> dict[str, np.ndarray]:
    """IS, KID and precision under the same resamples of the sample indices as gFD (same seed): column -> (M, K + P)
    each member's normal half-width z * se of every item and pair. stats[item][member].

    The points stay eval_gen's (torch-fidelity's split and subset estimators); the bootstrap measures the sampling
    spread of the whole-set estimators of the same quantities (`bench.resampled`), whose se is what it adds.
    """
    k, m, n = len(stats), len(stats[0]), stats[0][0].n
    p = len(items) + len(pairs(items))

    def stat(idx: np.ndarray) -> np.ndarray:
        counts = np.bincount(idx, minlength=n)
        v = np.array([[[getattr(stats[i][j], f)(counts) for i in range(k)] for j in range(m)]
                      for f in RESAMPLED.values()])  # fmt: skip
        return with_pairs(v, items).ravel()  # (F * M * (K + P),)

    boots = paired_bootstrap(stat, n, n_resamples=cfg.n_resamples, level=cfg.level, seed=seed, method=FD_METHOD)
    z = float(scipy.stats.norm.ppf((1 + cfg.level) / 2))
    se = np.array([iv.se for iv in boots]).reshape(len(RESAMPLED), m, p)
    return {column: z * se[f] for f, column in enumerate(RESAMPLED)}


def gen_intervals(params: Params, members: list[str]) -> tuple[dict, dict]:
    """Table 3 / 4 generation: gFD and sFD bootstrapped over sample indices; IS, KID and precision with the
    bootstrap se of `resampled_halfwidths`; recall with the members' spread only."""
    cfg = params.metrics.bootstrap
    out, agreement = {}, {}
    names = [i for i in params.autoencoders.names if i in params.diffusion.items]
    for d, dataset in enumerate(params.data.sets):
        items = [i for i in names if dataset in params.diffusion.items[i]]
        if len(items) < 1:
            continue
        data = {i: np.load(layout.eval_gen_features(params.paths, i)) for i in items}
        metrics = {i: read_json(layout.eval_gen_metrics(params.paths, i)) for i in items}
        identities = metrics[items[0]]["extractors"]
        refs = {m: load_reference(layout.reference(params.paths, dataset, "train", m), identities[m]) for m in members}
        out[dataset], agreement[dataset] = {}, {}
        for column, feature, stats in (("fd", "pool", ("mu", "sigma")), ("sfd", "spatial", ("mu_s", "sigma_s"))):
            against = [FrechetAgainst(getattr(refs[m], stats[0]), getattr(refs[m], stats[1])) for m in members]
            feats = np.stack([[data[i][f"{dataset}/{m}/{feature}"] for m in members] for i in items])  # (K, M, N, D)
            mv, boots = frechet_block(feats, against, items, cfg, params.seed + 10 + d)
            key = f"{column}[{layout.JUDGE}]"
            out[dataset][key] = block(items, mv, boots, cfg.level, fd=True)
            agreement[dataset][key] = ranking_agreement(mv)
        swd = np.stack([data[i][f"{dataset}/{SWD_KEY}"] for i in items])  # (K, N) pseudo-values per sample index
        boots = mean_interval(with_pairs(swd.T, items).T, n_resamples=cfg.n_resamples, level=cfg.level,
                              seed=params.seed + 10 + d)  # fmt: skip
        out[dataset][SWD_KEY] = block(items, swd.mean(1)[None], boots, cfg.level)
        sides = [ReferenceSide(refs[m].pool, params.metrics.prc_neighborhood) for m in members]
        stats = [[ResampledStats(data[i][f"{dataset}/{m}/{POOL}"], data[i][f"{dataset}/{m}/{LOGITS}"], side)
                  for m, side in zip(members, sides, strict=True)] for i in items]  # fmt: skip
        halfwidths = resampled_halfwidths(stats, items, cfg, params.seed + 10 + d)
        for column in (*RESAMPLED, *MEMBERS_ONLY):
            key = f"{column}[{layout.JUDGE}]"
            mv = np.array([[metrics[i][dataset]["members"][key][j] for i in items] for j in range(len(members))])
            resampled = column in RESAMPLED
            out[dataset][key] = block(items, mv, halfwidths[column] if resampled else None, cfg.level, images=resampled)
            agreement[dataset][key] = ranking_agreement(mv)
        log.info("intervals: generation on %s done", dataset)
    return out, agreement


def mean_draws(values: dict[str, np.ndarray], items: list[str], n_resamples: int, seed: int) -> dict:
    """Bootstrap distributions of per-item means, every measure and item on the same resampled images.

    Args: values: measure -> (K, N) per-image values of the K items (finite). Returns: measure -> item -> (R,) list
    of resampled means, R = n_resamples: any function of several items' means (Fig. 7's distance to the ideal
    corner, whose min-max scaling depends on every item) gets a paired percentile interval from them.
    """
    stacked = np.concatenate(list(values.values()))  # (F * K, N): one resample serves every measure and item
    res = scipy.stats.bootstrap((stacked,), np.mean, n_resamples=n_resamples, vectorized=True, axis=-1,
                                method="percentile", rng=np.random.default_rng(seed))  # fmt: skip
    draws = res.bootstrap_distribution.reshape(len(values), len(items), n_resamples)
    return {m: {i: draws[f, k].tolist() for k, i in enumerate(items)} for f, m in enumerate(values)}


def compress_intervals(params: Params) -> dict:
    """Fig. 7: sigma^2 and rho of every item and the raw image per compress set, paired over the images (see above)."""
    cfg, items = params.metrics.bootstrap, [*params.autoencoders.names, "raw"]
    per_item = {}
    for item in items:
        path = layout.compress_dir(params.paths, item) / "per_image.npz"  # written by `latent_features.write_outputs`
        if not path.is_file():
            raise FileNotFoundError(f"'{path}' not found: run `dvc repro {layout.compress_stage(item)}` first")
        with np.load(path) as z:
            per_item[item] = {k: z[k] for k in z.files}
    out = {}
    for d, dataset in enumerate(params.analysis.compress.sets):
        values = {m: np.stack([per_item[i][f"{dataset}/{m}"] for i in items]) for m in ("sigma2", "rho")}  # (K, N)
        keep = np.logical_and.reduce([np.isfinite(v).all(0) for v in values.values()])  # every item defines both
        out[dataset] = {"n_images": int(keep.sum())}
        if keep.sum() < 2:
            log.warning("intervals: sigma2 and rho of %s defined on %d image(s) for every item: no interval", dataset,
                        int(keep.sum()))  # fmt: skip
            continue
        for measure, v in values.items():
            boots = mean_interval(with_pairs(v[:, keep].T, items).T, n_resamples=cfg.n_resamples, level=cfg.level,
                                  seed=params.seed + 20 + d)  # fmt: skip
            out[dataset][measure] = block(items, v[:, keep].mean(1)[None], boots, cfg.level)
        out[dataset]["draws"] = mean_draws({m: v[:, keep] for m, v in values.items()}, items, cfg.n_resamples,
                                           params.seed + 30 + d)  # fmt: skip
    log.info("intervals: compression done")
    return out


def main(params: Params) -> None:
    setup_logging(0)
    record = StageRecord()
    members = [layout.judge_name(k) for k in range(params.judges.members)]
    with one_blas_thread():  # thousands of small FD eigensolves: 16x faster than on two BLAS threads (see there)
        recon, noise, recon_agree = recon_intervals(params, members)
        gen, gen_agree = gen_intervals(params, members)
        compress = compress_intervals(params)
    cfg = params.metrics.bootstrap
    write_json(
        layout.intervals(params.paths),
        {
            "level": cfg.level,
            "n_resamples": cfg.n_resamples,
            "members": len(members),
            "recon": recon,
            "noise": noise,
            "gen": gen,
            "compress": compress,
            "agreement": {"recon": recon_agree, "gen": gen_agree},
        },  # fmt: skip
    )
    record.write(
        layout.run_dir(params.paths, "intervals"),
        layout.record_dir(params.paths, "intervals"),
        {
            "seed": params.seed,
            "metrics": {
                "bootstrap": cfg,
                "noise_eps": params.metrics.noise_eps,
                "prc_neighborhood": params.metrics.prc_neighborhood,
            },
            "analysis": {"compress": {"sets": params.analysis.compress.sets}},
            "judges": {"members": params.judges.members},
        },  # fmt: skip
    )


if __name__ == "__main__":
    main(load_params())
