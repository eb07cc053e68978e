"""The `validate_metrics` stage: test the suite's distribution metrics as instruments before any table uses them.

Run: `python -m bench.validate_metrics` (DVC stage `validate_metrics`). For each set of `data.sets`, the first
`metrics.validate.images` eval images are disturbed and scored against the set's train-split reference, exactly as
eval_gen scores samples (every judge-ensemble member, plus the pyramid SWD, which uses no network):

- Heusel et al. 2017's disturbances and this suite's own artefacts (`bench.disturbances`): Gaussian noise and blur,
  black rectangles, swirl, salt and pepper, contamination with the other set's eval images, 8x8 colour seams,
  shuffled 8x8 blocks, repeated images, fewer classes;
- shifts made by the generators themselves (`bench.embedded.SHIFTS`, embedded sets only): a fraction `level` of the
  images is replaced by its shifted twin (the same random draws with one property changed: a face without a mouth,
  skin or hair out of the generator's palette, a shape whose texture belongs to another class, ...). Pixel
  statistics barely move under most of them; a metric that only sees pixels fails these, which is the point.

Each (disturbance, level) is drawn `metrics.validate.seeds` times (the draws are nested: a stronger level disturbs
a superset of what a weaker one did with the same seed). A metric *passes* a disturbance it is expected to respond
to (`EXPECTED`) when
- it moves the expected way at every level step by more than the spread of that move: each (judge member, seed)
  pair gives one move, and their mean must exceed their sd (so every judge and every draw agrees it moved, not
  only the average); a bounded metric already at its bound (precision or recall within `SATURATED` of 0) has
  nothing left to move and is not held to it; and
- its first disturbed level clears the real-vs-real floor: the undisturbed value plus the spread of its
  bootstrap over the eval images (`FLOOR_RESAMPLES` resamples; the `metrics.bootstrap.level` quantile taken
  relative to the bootstrap median, since resampled sets repeat images, which inflates FD and SWD).
The judges never saw any of these disturbances: they train on flips only (`bench.train_judges`).

Writes `<runs>/validate_metrics/`: `metrics.json` (per set, metric and disturbance: verdict, means, spreads, floor;
per metric: passes everything it is expected to, and what it failed), `curves.csv` (every value: set, metric,
disturbance, level, seed, member), `params.json`; `meta.json` under `<runs>/records/validate_metrics/`. The report
stage `table_validation` turns them into `results/tables/metric_validation.{csv,md}` and a figure.
"""

from __future__ import annotations

import csv
import hashlib
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from bench import embedded, layout
from bench.config import EMBEDDED_KINDS, MetricsCfg, Params, load_params
from bench.dist import pick_device
from bench.disturbances import DISTURBANCES, disturb
from bench.features import extract_features, suite_extractors
from bench.log import get_logger, setup_logging
from bench.metrics import SWD_KEY, compute_generation_metrics, load_reference, pyramid_swd_against
from bench.outputs import StageRecord, atomic_path, write_json
from bench.splits import open_split, uint8_array

log = get_logger(__name__)
REFERENCE_SPLIT = "train"  # as eval_gen: the disturbed eval images play the samples
GROWS, FALLS = 1, -1
QUALITY = ("gaussian_noise", "gaussian_blur", "black_rectangles", "swirl", "salt_pepper", "contamination",
           "block_seams", "block_shuffle")  # fmt: skip
DIVERSITY = ("repeat", "fewer_classes")
# metric (without its [extractor] label) -> (direction when the images get worse, the disturbances it must follow;
# None = every disturbance and shift). Precision measures fidelity and recall coverage (Kynkaanniemi et al. 2019),
# so each is only held to its own kind of damage; IS (class confidence and class spread) to quality and classes.
EXPECTED: dict[str, tuple[int, tuple[str, ...] | None]] = {
    "fd": (GROWS, None),
    "fid": (GROWS, None),
    "sfd": (GROWS, None),
    "sfid": (GROWS, None),
    "kid": (GROWS, None),
    "swd": (GROWS, None),
    "precision": (FALLS, QUALITY),
    "recall": (FALLS, DIVERSITY),
    "is": (FALLS, (*QUALITY, "fewer_classes")),
}
# bootstrap resamples of the undisturbed set; its images are cached, so only the metrics re-run
FLOOR_RESAMPLES = 20
BOUNDS = {"precision": 0.0, "recall": 0.0}  # bounded metrics: the value they fall towards and cannot pass
SATURATED = 0.02  # within this of its bound, a metric has nothing left to move
SCORED = (
    "fd",
    "fid",
    "sfd",
    "sfid",
    "kid",
    "precision",
    "recall",
    "is",
)  # judge metrics the battery scores (IS_STD etc. are not)


def metric_name(key: str) -> str:
    """ "fd[judge-0]" -> "fd"; "swd[pyramid]" -> "swd"."""
    return key.split("[", 1)[0]


class FeatureCache:
    """Per-image features of every extractor, keyed by the image's bytes.

    The battery builds many sets out of the same images (repeats, fewer classes, contamination, generator shifts
    mix eval images, the other set's and shifted twins; blur draws no randomness, so its seeds coincide), and a
    judge's features of an image do not depend on the batch it is in (eval mode), so each distinct image goes
    through each judge once.
    """

    def __init__(self, extractors: dict, batch_size: int) -> None:
        self.extractors, self.batch_size = extractors, batch_size
        self.store: dict[bytes, dict[str, dict[str, torch.Tensor]]] = {}

    def __call__(self, images: np.ndarray) -> dict[str, dict[str, torch.Tensor]]:
        """images uint8 (N, H, W, 3) -> extractor name -> feature name -> (N, D), in input order."""
        keys = [hashlib.sha1(im.tobytes()).digest() for im in images]
        new = list(dict.fromkeys(k for k in keys if k not in self.store))
        if new:
            first = {k: i for i, k in reversed(list(enumerate(keys)))}
            todo = images[[first[k] for k in new]]
            batches = [torch.from_numpy(np.ascontiguousarray(todo[i : i + self.batch_size])).permute(0, 3, 1, 2)
                       for i in range(0, len(todo), self.batch_size)]  # fmt: skip
            for name, extractor in self.extractors.items():
                feats = extract_features(extractor, batches)
                for j, k in enumerate(new):
                    self.store.setdefault(k, {})[name] = {f: v[j] for f, v in feats.items()}
        names = self.store[keys[0]].keys()
        return {e: {f: torch.stack([self.store[k][e][f] for k in keys]) for f in self.store[keys[0]][e]} for e in names}


def score(images: np.ndarray, refs: dict, cache: FeatureCache, swd_ref: Callable[[np.ndarray, int], float],
          cfg: MetricsCfg, seed: int) -> dict[str, float]:  # fmt: skip
    """Every validated metric of one image set: {labelled key: value}, members separate ("fd[judge-0]", ...).

    swd_ref: `pyramid_swd_against(reference images, cfg.swd)`, the reference's SWD side kept across the battery.
    """
    values = {}
    for name, feats in cache(images).items():
        kid_size = min(cfg.kid_subset_size, len(images), len(refs[name].pool))
        out = compute_generation_metrics(
            refs[name], feats, is_splits=cfg.is_splits, kid_subsets=cfg.kid_subsets, kid_subset_size=kid_size,
            prc_neighborhood=cfg.prc_neighborhood, seed=seed,
        )  # fmt: skip
        values |= {k: v for k, v in out.items() if metric_name(k) in SCORED}
    values[SWD_KEY] = swd_ref(images, seed)
    return values


def shifted_twins(params: Params, dataset: str, n: int) -> dict[str, np.ndarray]:
    """For an embedded set: shift name -> (n, H, W, 3) the first n eval images rendered with that shift."""
    ds = params.data.sets[dataset]
    if ds.kind not in EMBEDDED_KINDS:
        return {}
    knobs = getattr(params.data, ds.kind)
    names = [s for s in params.metrics.validate.shifts if s in embedded.SHIFTS[ds.kind]]
    return {
        s: embedded.generate(ds.kind, n, params.data.resolution, params.seed, "eval", knobs, shift=s)[0] for s in names
    }


def judge_step(
    steps: list[np.ndarray], means: list[float], floor: float, direction: int, bound: float | None = None
) -> dict:
    """The pass rule for one (metric, disturbance); see the module docstring.

    Args:
        steps: per level step l -> l + 1, the moves of every (judge member, seed) pair: (n_pairs,) each.
        means: per level, the mean over members and seeds.
        floor: the real-vs-real bound the first disturbed level must clear.
        direction: GROWS or FALLS, the expected way when the images get worse.
        bound: the value a bounded metric cannot pass (0 for precision and recall): a step between two levels
            already within SATURATED of it cannot move and is not held against the metric.

    Returns:
        {"passes", "monotone", "clears_floor", "step_means", "step_spreads"}.
    """
    moves = [float(np.mean(d)) * direction for d in steps]
    spreads = [float(np.std(d, ddof=1)) if len(d) > 1 else 0.0 for d in steps]
    saturated = [
        bound is not None and abs(a - bound) <= SATURATED and abs(b - bound) <= SATURATED
        for a, b in zip(means, means[1:], strict=False)
    ]
    monotone = all(sat or m > sd for m, sd, sat in zip(moves, spreads, saturated, strict=True))
    clears = (means[1] - floor) * direction > 0
    return {
        "passes": bool(monotone and clears),
        "monotone": bool(monotone),
        "clears_floor": bool(clears),
        "step_means": moves,
        "step_spreads": spreads,
    }


def main(params: Params) -> None:
    setup_logging(0)
    device = pick_device(params.runtime)
    record = StageRecord()
    cfg, vcfg = params.metrics, params.metrics.validate
    unknown = [d for d in vcfg.disturbances if d not in DISTURBANCES]
    if unknown:
        raise ValueError(f"metrics.validate.disturbances {unknown} are unknown: choose from {sorted(DISTURBANCES)}")
    known = {s for names in embedded.SHIFTS.values() for s in names}
    unknown = [s for s in vcfg.shifts if s not in known]
    if unknown:
        raise ValueError(f"metrics.validate.shifts {unknown} are unknown: choose from {sorted(known)}")
    extractors = suite_extractors(cfg, params.paths, device, params.judges.members)
    cache = FeatureCache(extractors, cfg.batch_size)
    sets = list(params.data.sets)
    evals = {d: open_split(params.paths, d, "eval") for d in sets}
    base = {d: uint8_array(evals[d], vcfg.images) for d in sets}
    labels = {d: np.asarray(evals[d].labels[: len(base[d])]) if evals[d].labels is not None else None for d in sets}

    rows, verdicts = [], {}
    for dataset in sets:
        refs = {
            e: load_reference(layout.reference(params.paths, dataset, REFERENCE_SPLIT, e), x.identity)
            for e, x in extractors.items()
        }
        # equal-size sets for the SWD, as eval_gen compares them
        reference_images = uint8_array(open_split(params.paths, dataset, REFERENCE_SPLIT), len(base[dataset]))
        swd_ref = pyramid_swd_against(reference_images, cfg.swd)
        other = base[next((d for d in sets if d != dataset), dataset)]
        images = base[dataset]
        rng = np.random.default_rng([params.seed, 11])
        # the real-vs-real floor: the undisturbed set under paired bootstrap resamples of its images
        floor = [
            score(images[rng.integers(0, len(images), len(images))], refs, cache, swd_ref, cfg, b)
            for b in tqdm(range(FLOOR_RESAMPLES), desc=f"validate {dataset} floor")
        ]
        clean = score(images, refs, cache, swd_ref, cfg, params.seed)
        for b, values in enumerate(floor):
            rows += [{"set": dataset, "metric": k, "battery": "floor", "disturbance": "floor", "level": 0.0,
                      "seed": b, "value": v} for k, v in values.items()]  # fmt: skip
        twins = shifted_twins(params, dataset, len(images))
        battery = [(d, "disturbance") for d in vcfg.disturbances] + [(s, "shift") for s in twins]
        for name, kind in tqdm(battery, desc=f"validate {dataset}"):
            for li, level in enumerate(vcfg.levels):
                for seed in range(vcfg.seeds if level > 0 else 1):
                    if level == 0:
                        values = clean
                    elif kind == "disturbance":
                        x = disturb(name, images, level, seed, labels=labels[dataset], other=other)
                        values = score(x, refs, cache, swd_ref, cfg, params.seed)
                    else:
                        pick = np.random.default_rng([params.seed, seed, li]).random(len(images)) < level
                        x = np.where(pick[:, None, None, None], twins[name], images)
                        values = score(x, refs, cache, swd_ref, cfg, params.seed)
                    for key, v in values.items():
                        rows.append({"set": dataset, "metric": key, "battery": kind, "disturbance": name,
                                     "level": level, "seed": seed, "value": v})  # fmt: skip
        verdicts[dataset] = decide(rows, floor, dataset, vcfg.levels, cfg.bootstrap.level)

    summary = summarise(verdicts)
    write_json(layout.metric_validation(params.paths), {"sets": verdicts, "metrics": summary})
    with atomic_path(layout.metric_validation_curves(params.paths)) as tmp, tmp.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    record.write(
        layout.run_dir(params.paths, "validate_metrics"),
        layout.record_dir(params.paths, "validate_metrics"),
        {
            "seed": params.seed,
            "data": {"sets": sorted(params.data.sets)},
            "metrics": cfg,
            "judges": {"members": params.judges.members},
        },  # fmt: skip
        extractors={e: x.identity for e, x in extractors.items()},
    )


def ensemble_key(key: str) -> str:
    """ "fd[judge-1]" -> "fd[judge]": members are pooled into the ensemble's verdict; other keys unchanged."""
    name, _, ext = key.partition("[")
    member = ext.rstrip("]")
    head, _, k = member.rpartition("-")
    return f"{name}[{head}]" if head == layout.JUDGE and k.isdigit() else key


def decide(rows: list[dict], floor: list[dict], dataset: str, levels: tuple[float, ...], ci: float) -> dict:
    """Per ensemble metric and disturbance of one set: the pass rule (`judge_step`) on the moves of every
    (member, seed) pair between consecutive levels, and the first level against the real-vs-real floor."""
    out: dict[str, dict] = {}
    groups: dict[tuple[str, str], dict[float, dict[tuple[str, int], float]]] = {}
    for r in rows:
        if r["set"] == dataset and r["battery"] != "floor":
            by_level = groups.setdefault((ensemble_key(r["metric"]), r["disturbance"]), {})
            by_level.setdefault(r["level"], {})[(r["metric"], r["seed"])] = r["value"]
    pooled: dict[str, list[float]] = {}
    for values in floor:  # per resample, the ensemble mean
        per_metric: dict[str, list[float]] = {}
        for k, v in values.items():
            per_metric.setdefault(ensemble_key(k), []).append(v)
        for k, v in per_metric.items():
            pooled.setdefault(k, []).append(float(np.mean(v)))
    for (metric, dist), by_level in groups.items():
        direction, which = EXPECTED[metric_name(metric)]
        means = [float(np.mean(list(by_level[lv].values()))) for lv in levels]
        steps = []
        for a, b in zip(levels, levels[1:], strict=False):
            # level 0 is drawn once (seed 0): every seed of the first level steps from it
            steps.append(
                np.array([v - by_level[a].get((m, s), by_level[a].get((m, 0))) for (m, s), v in by_level[b].items()])
            )
        boot = np.asarray(pooled[metric])
        # Resamples repeat images, which inflates FD and SWD, so the bootstrap's quantile is taken relative to its
        # median and placed on the undisturbed value: the real-vs-real bound of the undisturbed set.
        q = ci if direction == GROWS else 1 - ci
        fl = means[0] + float(np.quantile(boot, q) - np.median(boot))
        expected = which is None or dist in which
        entry = {"expected": expected, "direction": direction, "means": means, "floor": fl}
        out.setdefault(metric, {})[dist] = entry | judge_step(
            steps, means, fl, direction, BOUNDS.get(metric_name(metric))
        )
    return out


def summarise(verdicts: dict[str, dict]) -> dict[str, dict]:
    """Per metric over every set: validated (passes every expected disturbance) and the (set, disturbance) failures."""
    out: dict[str, dict] = {}
    for dataset, per_metric in verdicts.items():
        for metric, per_dist in per_metric.items():
            entry = out.setdefault(metric, {"validated": True, "failed": [], "passed": []})
            for dist, v in per_dist.items():
                if not v["expected"]:
                    continue
                (entry["passed"] if v["passes"] else entry["failed"]).append(f"{dataset}:{dist}")
                entry["validated"] &= v["passes"]
    return out


if __name__ == "__main__":
    main(load_params())
