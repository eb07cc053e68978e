"""Readers of stage outputs for the report: every table and figure module gets its numbers from here.

Only stage outputs are read (JSON, CSV, NPZ, NPY under `paths.runs`, located through `bench.layout`), never
checkpoints. Each reader returns a pandas DataFrame in long or wide form with an `item` column (the autoencoder
pipeline item) and, where it applies, `dataset`. A missing output raises FileNotFoundError naming the DVC stage
that writes it.

Also the one place that decides which stage-output column reports a metric family (`METRICS`, `column`): Inception
before the judge, LPIPS-VGG before the own perceptual network, so every table, figure and claim reads the same one.

    from analysis import results
    recon = results.reconstruction(params.paths.runs, params.autoencoders.names)
    results.column(recon, "rfd")  # "rfid[inception]" where Inception was local, else "rfd[judge]"
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bench import layout
from bench.config import PRETRAINED


@dataclass(frozen=True)
class Metric:
    """One metric family: its direction, printed decimals, the paper's column and this run's candidate columns.

    `run` lists the stage-output column names in order of preference (Inception before the judge, LPIPS-VGG
    before the own perceptual network).
    """

    higher_better: bool
    decimals: int
    paper: str | None  # the paper's header, with its extractor; None where the paper reports no such column
    paper_key: str | None  # key in analysis.paper.TABLE1..4
    run: tuple[str, ...]


METRICS = {
    "l1": Metric(False, 4, "L1", "l1", ("l1[0-1]",)),
    "mse": Metric(False, 4, "MSE", "mse", ("mse[0-1]",)),
    "psnr": Metric(True, 2, "PSNR", "psnr", ("psnr",)),
    "ssim": Metric(True, 3, "SSIM", "ssim", ("ssim",)),
    "perceptual": Metric(False, 3, "LPIPS[vgg]", "lpips", ("lpips[vgg]", "percep[own]")),
    "rfd": Metric(False, 2, "rFID[inception]", "rfid", ("rfid[inception]", "rfd[judge]")),
    "fd": Metric(False, 2, "gFID[inception]", "gfid", ("fid[inception]", "fd[judge]")),
    "sfd": Metric(False, 2, "sFID[inception]", "sfid", ("sfid[inception]", "sfd[judge]")),
    "ifd": Metric(False, 2, None, None, ("ifid[inception]", "ifd[judge]")),  # interpolated FD (proxies stage)
    "swd": Metric(False, 2, None, None, ("swd[pyramid]",)),  # no trained network: the view beside the judge
    "is": Metric(True, 1, "IS[inception]", "is", ("is[inception]", "is[judge]")),
    "precision": Metric(True, 3, "Prec[inception]", "precision", ("precision[inception]", "precision[judge]")),
    "recall": Metric(True, 3, "Rec[inception]", "recall", ("recall[inception]", "recall[judge]")),
    "size": Metric(False, 1, "size[MB]", "size_mb", ("size[MiB]",)),
    "gflops": Metric(False, 1, "GFLOPs[256px]", "gflops", ("GFLOPs[256px]",)),
    "train_time": Metric(False, 1, "train[h]", "train_hours", ("train[min]",)),
    "encode": Metric(True, 1, None, None, ("encode[img/s]",)),
    "decode": Metric(True, 1, None, None, ("decode[img/s]",)),
}


# Columns measured per image against the original: not distribution metrics, so validate_metrics does not test them.
PER_IMAGE = frozenset(c for f in ("l1", "mse", "psnr", "ssim", "perceptual") for c in METRICS[f].run)


def column(frame: pd.DataFrame, family: str) -> str:
    """The stage-output column this run reports for `family` (the first of `METRICS[family].run` present).

    Raises:
        ValueError: the stage outputs hold none of the candidate columns.
    """
    for name in METRICS[family].run:
        if name in frame.columns:
            return name
    raise ValueError(f"stage outputs hold none of {list(METRICS[family].run)}: re-run the stage that writes them")


def _json(path: Path, stage: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' not found: run `dvc repro {stage}` first")
    return json.loads(path.read_text())


def _npz(path: Path, stage: str) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' not found: run `dvc repro {stage}` first")
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def reconstruction(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Table 1: one row per (item, dataset) with the labelled reconstruction metrics of eval_ae."""
    rows = []
    for item in items:
        m = _json(layout.eval_ae_metrics(runs, item), f"eval_ae@{item}")
        for dataset, values in m["reconstruction"].items():
            rows.append({"item": item, "dataset": dataset, **values})
    return pd.DataFrame(rows)


def noise_curves(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Fig. 6: one row per (item, dataset, eps) with rFD / PSNR / perceptual under latent noise."""
    rows = []
    for item in items:
        m = _json(layout.eval_ae_metrics(runs, item), f"eval_ae@{item}")
        for dataset, curve in m["noise_curve"].items():
            rows += [{"item": item, "dataset": dataset, **point} for point in curve]
    return pd.DataFrame(rows)


POSTERIOR_COLUMNS = ["item", "dataset", "channel", "std", "kl", "active_kl"]


def posterior(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """eval_ae's posterior summary per latent channel (`autoencoders.posterior_stats`): one row per (item, dataset,
    channel) with the mean posterior std and the KL to N(0, 1) in nats per value; a deterministic item has no rows.

    Returns:
        DataFrame[POSTERIOR_COLUMNS]; `active_kl` is the threshold the stage counted active channels with.
    """
    rows = []
    for item in items:
        m = _json(layout.eval_ae_metrics(runs, item), f"eval_ae@{item}")
        for dataset, summary in m["posterior"].items():
            if summary is None:
                continue
            for c, (std, kl) in enumerate(zip(summary["std_per_channel"], summary["kl_per_channel"], strict=True)):
                rows.append({"item": item, "dataset": dataset, "channel": c, "std": std, "kl": kl,
                             "active_kl": summary["active_kl"]})  # fmt: skip
    return pd.DataFrame(rows, columns=POSTERIOR_COLUMNS)


def efficiency(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Table 2 from eval_ae: one row per item: size, GFLOPs (256 px and native), throughput (the training wall time
    is train_ae's record: `efficiency_frame` joins it)."""
    rows = []
    for item in items:
        m = _json(layout.eval_ae_metrics(runs, item), f"eval_ae@{item}")
        eff = dict(m["efficiency"])
        flat = {k: v for k, v in eff.items() if not isinstance(v, dict)}
        for key in ("gflops_256", "gflops_native"):
            flat.update({f"{key}_{part}": v for part, v in (eff.get(key) or {}).items()})  # None: not countable
        rows.append({"item": item, "kind": m.get("kind"), **flat})
    return pd.DataFrame(rows)


def compression(runs: str | Path, items: list[str], with_raw: bool = True) -> pd.DataFrame:
    """Fig. 7: one row per (item, dataset) with sigma^2, rho and their CIs; item "raw" is the pixel reference."""
    rows = []
    for item in [*items, "raw"] if with_raw else items:
        path = layout.compress_dir(runs, item) / layout.METRICS_FILE
        for dataset, v in _json(path, layout.compress_stage(item)).items():
            rows.append(
                {
                    "item": item,
                    "dataset": dataset,
                    "level": v["level"],
                    "sigma2": v["sigma2"],
                    "sigma2_lo": v["sigma2_ci"][0],
                    "sigma2_hi": v["sigma2_ci"][1],
                    "rho": v["rho"],
                    "rho_lo": v["rho_ci"][0],
                    "rho_hi": v["rho_ci"][1],
                    "n_images": v["n_images"],
                    "resolution": v.get("resolution", math.nan),  # px the set was rendered and encoded at
                    "psnr": v.get("psnr", math.nan),  # the item's reconstruction there (none for raw)
                    **{k: v.get(k, math.nan) for k in CELL_FIELDS},
                }
            )
    return pd.DataFrame(rows)


CELL_FIELDS = ("purity", "cells_labelled", "segments_per_image", "segment_pixels_median", "cell_pixels",
               "segments_owning_a_cell")  # fmt: skip  # what a latent cell sees of the masks (bench.latent_features)
OWNING_NEEDED = 0.5  # a level is measured when at least half of its mask's segments are as large as one latent cell


def level_unmeasured(row: Mapping[str, Any]) -> str | None:
    """Why Fig. 7 cannot measure a compress set's level on this grid, or None: when most of the mask's segments are
    smaller than one latent cell (eyes, brows and lips of 1-3 px under an 8 x 8 px cell), no cell can belong to
    them, and sigma^2 and rho see only the larger regions. `row`: one row of `compression`."""
    owning = row.get("segments_owning_a_cell", math.nan)
    if pd.isna(owning) or owning >= OWNING_NEEDED:
        return None
    return (f"{row['level']} level not measured on {row['dataset']}: {owning:.0%} of its mask's segments are as large "
            f"as one latent cell ({row['cell_pixels']:.0f} px; median segment {row['segment_pixels_median']:.0f} px), "
            f"fewer than {OWNING_NEEDED:.0%}; a higher analysis.compress.upscale would let them own cells")  # fmt: skip


def generation(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Table 3 / 4 gFD: one row per (item, dataset) with the labelled generation metrics of eval_gen."""
    rows = []
    for item in items:
        m = _json(layout.eval_gen_metrics(runs, item), f"eval_gen@{item}")
        for dataset, values in m.items():
            if dataset != "extractors":
                rows.append({"item": item, "dataset": dataset, **values})
    return pd.DataFrame(rows)


def proxies(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """The proxies stage: one row per (item, dataset) with each proxy's value and `<key>_lo`, `<key>_hi` bounds."""
    rows = []
    for item in items:
        m = _json(layout.proxies_metrics(runs, item), f"proxies@{item}")
        for dataset, values in m.items():
            if not isinstance(values, dict) or "ci" not in values:
                continue  # item, kind, extractors
            row = {"item": item, "dataset": dataset}
            row |= {k: v for k, v in values.items() if not isinstance(v, (dict, list))}
            for key, bounds in values["ci"].items():
                row[f"{key}_lo"], row[f"{key}_hi"] = bounds if bounds is not None else (np.nan, np.nan)
            rows.append(row)
    return pd.DataFrame(rows)


def spectra(runs: str | Path, item: str) -> dict[str, np.ndarray]:
    """Band spectra of one item's latents and images: f"{set}/{latent|image}_{freq|share}" -> (S,)."""
    return _npz(layout.proxies_spectra(runs, item), f"proxies@{item}")


def intervals(runs: str | Path) -> dict[str, Any]:
    """The intervals stage's JSON as written: confidence intervals of every reported number and paired difference.

    Keys "level", "n_resamples", "members", then "recon", "noise", "gen" (per dataset and stage-output column:
    {"values": {item: {"value", "low", "high", ...}}, "pairs": {...}}) and "agreement" (judge ranking agreement);
    see `bench.intervals`. `interval_frame` flattens a part of it.
    """
    return _json(layout.intervals(runs), "intervals")


def validation(runs: str | Path) -> dict[str, Any]:
    """validate_metrics' verdicts: {"sets": ..., "metrics": {key: {"validated", "failed", "passed"}}}; the key that
    vouches for a stage-output column is `validated_as(column)`."""
    return _json(layout.metric_validation(runs), "validate_metrics")


def optional_validation(runs: str | Path) -> dict[str, Any] | None:
    """`validation(runs)`, or None where validate_metrics has not written its verdicts."""
    return validation(runs) if layout.metric_validation(runs).is_file() else None


def verdict(validation: Mapping[str, Any] | None, column: str) -> dict[str, Any] | None:
    """validate_metrics' entry {"validated", "failed", "passed"} that vouches for `column` (see `validated_as`), or
    None where validation has not run or has no entry for it."""
    return (validation or {}).get("metrics", {}).get(validated_as(column))


def validated_as(column: str) -> str:
    """The validate_metrics key that vouches for `column`: rFD is the FD instrument applied to reconstructions, so
    "rfd[judge]" -> "fd[judge]" and "rfid[inception]" -> "fid[inception]"; anything else is its own key."""
    name, bracket, label = column.partition("[")
    return f"{name[1:]}{bracket}{label}" if name in ("rfd", "rfid") else column


INTERVAL_COLUMNS = ["item", "dataset", "column", "value", "low", "high"]


def interval_frame(intervals: dict[str, Any], part: str) -> pd.DataFrame:
    """One part of `intervals(runs)` in long form, one row per (item, dataset, column[, eps]).

    Args:
        intervals: the dict `intervals` returns.
        part: "recon" (Table 1), "gen" (Tables 3 and 4) or "noise" (Fig. 6: one row per eps, with an `eps` column;
            the growth rFD(last eps) - rFD(0) is left out).

    Returns:
        DataFrame[item, dataset, column, value, low, high (, eps)]; a column or item the stage did not cover has no
        row (empty frame, same columns, if the part is empty).
    """
    if part not in ("recon", "gen", "noise"):
        raise ValueError(f"part must be 'recon', 'gen' or 'noise', got {part!r}")
    rows = []
    for dataset, columns in intervals.get(part, {}).items():
        for column, block in columns.items():
            if column == "eps":
                continue
            for item, v in block["values"].items():
                base = {"item": item, "dataset": dataset, "column": column}
                if part != "noise":
                    rows.append(base | {k: v[k] for k in ("value", "low", "high")})
                    continue
                for k, eps in enumerate(columns["eps"]):
                    rows.append(base | {f: v[f][k] for f in ("value", "low", "high")} | {"eps": eps})
    names = [*INTERVAL_COLUMNS, "eps"] if part == "noise" else INTERVAL_COLUMNS
    return pd.DataFrame(rows, columns=names).astype({f: float for f in names[3:]})


def training(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Autoencoder training records (train_ae's meta.json): wall and steady time summed over phases, steps, device.

    The steady time is steps x the median step of each phase (`bench.loop.TrainResult.steady_time_s`); a record
    written before it existed gives NaN there, not its wall time, so a suspended run's wall time never stands in."""
    rows = []
    for item in items:
        m = _json(layout.autoencoder_record_dir(runs, item) / layout.META_FILE, f"train_ae@{item}")
        wall, steady = m.get("train_wall_time_s", {}), m.get("train_steady_time_s")
        rows.append(
            {
                "item": item,
                "kind": m.get("kind"),
                "train_wall_time_s": sum(wall.values()),
                "train_steady_time_s": sum(steady.values()) if steady else math.nan,
                "steps": sum(m.get("steps", {}).values()),
                "device": m.get("device"),
            }
        )
    return pd.DataFrame(rows)


# The stages that run `bench.loop.train`, and their records' folder under runs/records (train_ae writes its records
# where import_ae does, `layout.autoencoder_record_dir`; an imported item's record has no plateau, so adds no row).
TRAINING_STAGES = {"featnets": "featnets", "judges": "judges", "train_ae": "autoencoders", "train_dit": "train_dit"}
PLATEAU_COLUMNS = ["stage", "model", "run", "plateaued", "relative_improvement", "tail_steps", "steps", "threshold"]


def plateaus(runs: str | Path) -> pd.DataFrame:
    """Whether each training run's loss plateaued (`bench.plateau`), from the training stages' meta.json records.

    Returns:
        DataFrame[PLATEAU_COLUMNS], one row per run: `model` is the record's item[/dataset] path ("" for featnets
        and judges), `run` the phase ("phase1", "phase3"), judge member or "dit"; `plateaued` is None where the run
        was too short to judge. Records written before the verdict existed contribute no rows.
    """
    rows = []
    for stage, folder in TRAINING_STAGES.items():
        root = layout.record_dir(runs, folder)
        for meta in sorted(root.rglob(layout.META_FILE)):
            model = "/".join(meta.parent.relative_to(root).parts)
            for run, v in json.loads(meta.read_text()).get("plateau", {}).items():
                rows.append({"stage": stage, "model": model, "run": run} | {k: v.get(k) for k in PLATEAU_COLUMNS[3:]})
    return pd.DataFrame(rows, columns=PLATEAU_COLUMNS)


def maps(runs: str | Path, item: str) -> dict[str, np.ndarray]:
    """Figs. 4 and 8: images, masks, k-means and PCA maps of compress@ITEM (keys "<set>/<what>")."""
    return _npz(layout.compress_dir(runs, item) / "maps.npz", layout.compress_stage(item))


def examples(runs: str | Path, item: str) -> dict[str, np.ndarray]:
    """Fig. 5: eval images and their reconstructions (keys "<set>/images", "<set>/recons", uint8 HWC)."""
    return _npz(layout.eval_ae_examples(runs, item), f"eval_ae@{item}")


def samples(runs: str | Path, item: str, dataset: str) -> np.ndarray:
    """Figs. 1 and 9: generated images uint8 (N, H, W, 3) of sample@ITEM on `dataset`."""
    path = layout.samples_dir(runs, item, dataset) / layout.SAMPLES_FILE
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' not found: run `dvc repro sample@{item}` first")
    return np.load(path)


# Table 2 family -> (efficiency_frame column, factor to the table's unit)
EFFICIENCY_FIELDS = {
    "size": ("size_mib", 1.0),
    "gflops": ("gflops_256_total", 1.0),
    "train_time": ("train_steady_time_s", 1 / 60),  # seconds -> minutes: CPU runs take minutes, not hours
    "encode": ("encode_img_s", 1.0),
    "decode": ("decode_img_s", 1.0),
}


def efficiency_frame(runs: str | Path, items: Sequence[str]) -> pd.DataFrame:
    """Table 2's inputs indexed by item: eval_ae's efficiency plus the training wall and steady times from
    train_ae's record (NaN for a pretrained item: not measured here).

    The times are read here, in the report, so that eval_ae does not depend on a volatile record.
    """
    eff = efficiency(runs, list(items)).set_index("item")
    trained = [i for i in items if eff.at[i, "kind"] != PRETRAINED]  # a pretrained item's training is not ours
    times = training(runs, trained).set_index("item") if trained else pd.DataFrame()
    for column in ("train_wall_time_s", "train_steady_time_s"):
        eff[column] = times[column].reindex(eff.index).astype(float) if trained else math.nan
    return eff
