"""Readers of stage outputs for the report: every table and figure module gets its numbers from here.

Only stage outputs are read (JSON, CSV, NPZ, NPY under `paths.runs`), never checkpoints. Each reader returns a
pandas DataFrame in long or wide form with an `item` column (the autoencoder pipeline item) and, where it
applies, `dataset`. A missing output raises FileNotFoundError naming the DVC stage that writes it.

    from analysis import results
    recon = results.reconstruction(params.paths.runs, params.autoencoders.names)
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd


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
        m = _json(Path(runs) / "eval_ae" / item / "metrics.json", f"eval_ae@{item}")
        for dataset, values in m["reconstruction"].items():
            rows.append({"item": item, "dataset": dataset, **values})
    return pd.DataFrame(rows)


def noise_curves(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Fig. 6: one row per (item, dataset, eps) with rFD / PSNR / perceptual under latent noise."""
    rows = []
    for item in items:
        m = _json(Path(runs) / "eval_ae" / item / "metrics.json", f"eval_ae@{item}")
        for dataset, curve in m["noise_curve"].items():
            rows += [{"item": item, "dataset": dataset, **point} for point in curve]
    return pd.DataFrame(rows)


def efficiency(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Table 2: one row per item: size, GFLOPs (256 px and native), training wall time, throughput."""
    rows = []
    for item in items:
        m = _json(Path(runs) / "eval_ae" / item / "metrics.json", f"eval_ae@{item}")
        eff = dict(m["efficiency"])
        flat = {k: v for k, v in eff.items() if not isinstance(v, dict)}
        for key in ("gflops_256", "gflops_native"):
            flat.update({f"{key}_{part}": v for part, v in eff.get(key, {}).items()})
        rows.append({"item": item, "kind": m.get("kind"), **flat})
    return pd.DataFrame(rows)


def compression(runs: str | Path, items: list[str], with_raw: bool = True) -> pd.DataFrame:
    """Fig. 7: one row per (item, dataset) with sigma^2, rho and their CIs; item "raw" is the pixel reference."""
    sources = [(item, Path(runs) / "compress" / item / "metrics.json", f"compress@{item}") for item in items]
    if with_raw:
        sources.append(("raw", Path(runs) / "compress_raw" / "metrics.json", "compress_raw"))
    rows = []
    for item, path, stage in sources:
        for dataset, v in _json(path, stage).items():
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
                }
            )
    return pd.DataFrame(rows)


def generation(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Table 3 / 4 gFD: one row per (item, dataset) with the labelled generation metrics of eval_gen."""
    rows = []
    for item in items:
        m = _json(Path(runs) / "eval_gen" / item / "metrics.json", f"eval_gen@{item}")
        for dataset, values in m.items():
            if dataset != "extractors":
                rows.append({"item": item, "dataset": dataset, **values})
    return pd.DataFrame(rows)


def training(runs: str | Path, items: list[str]) -> pd.DataFrame:
    """Autoencoder training records (train_ae meta.json): wall time per phase, steps, parameters, device."""
    rows = []
    for item in items:
        m = _json(Path(runs) / "train_ae" / item / "meta.json", f"train_ae@{item}")
        wall = m.get("train_wall_time_s", {})
        rows.append(
            {
                "item": item,
                "kind": m.get("kind"),
                "train_wall_time_s": sum(wall.values()),
                "steps": sum(m.get("steps", {}).values()),
                "device": m.get("device"),
            }
        )
    return pd.DataFrame(rows)


def maps(runs: str | Path, item: str) -> dict[str, np.ndarray]:
    """Figs. 4 and 8: images, masks, k-means and PCA maps of compress@ITEM (keys "<set>/<what>")."""
    folder = Path(runs) / ("compress_raw" if item == "raw" else f"compress/{item}")
    return _npz(folder / "maps.npz", "compress_raw" if item == "raw" else f"compress@{item}")


def examples(runs: str | Path, item: str) -> dict[str, np.ndarray]:
    """Fig. 5: eval images and their reconstructions (keys "<set>/images", "<set>/recons", uint8 HWC)."""
    return _npz(Path(runs) / "eval_ae" / item / "examples.npz", f"eval_ae@{item}")


def samples(runs: str | Path, item: str, dataset: str) -> np.ndarray:
    """Figs. 1 and 9: generated images uint8 (N, H, W, 3) of sample@ITEM on `dataset`."""
    path = Path(runs) / "sample" / item / dataset / "samples.npy"
    if not path.is_file():
        raise FileNotFoundError(f"'{path}' not found: run `dvc repro sample@{item}` first")
    return np.load(path)


def metric_column(frame: pd.DataFrame, metric: str) -> str | None:
    """The labelled column for a metric family, preferring Inception over the judge: "rfid" -> "rfid[inception]"
    when present, else "rfd[judge]"; None when neither exists."""
    judge = {"rfid": "rfd", "fid": "fd", "sfid": "sfd"}.get(metric, metric)
    for column in (f"{metric}[inception]", f"{judge}[judge]", f"{metric}[judge]"):
        if column in frame.columns:
            return column
    return None
