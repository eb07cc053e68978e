"""The intervals stage's Fig. 7 part (`bench.intervals.compress_intervals`): sigma^2 and rho paired over the images.

Synthetic per-image values in the compress stages' format: every image has its own difficulty, shared by all items
(as real images are), so a paired difference is far tighter than the two items' own intervals; some images are
undefined (NaN) for one item and must be dropped for all.

Run: .venv/bin/python -m pytest tests/test_intervals_compress.py -q
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bench import layout
from bench.config import parse_params
from bench.intervals import compress_intervals
from bench.latent_features import write_npz
from tests.conftest import tiny_raw

ITEMS = ["ae", "vmae"]
N = 60
SHIFT = {"ae": 0.10, "vmae": 0.0, "raw": 0.5}  # true mean differences: ae - vmae = 0.1, vmae - raw = -0.5


def write_per_image(params, undefined: dict[str, list[int]]) -> np.ndarray:
    """per_image.npz of every item and "raw"; returns the shared per-image difficulty (N,)."""
    rng = np.random.default_rng(0)
    difficulty = rng.normal(1.0, 0.5, N)  # large and shared: it cancels in a paired difference
    for item in [*ITEMS, "raw"]:
        arrays = {}
        for dataset in params.analysis.compress.sets:
            for measure in ("sigma2", "rho"):
                v = difficulty + SHIFT[item] + rng.normal(0.0, 0.01, N)
                v[undefined.get(item, [])] = np.nan
                arrays[f"{dataset}/{measure}"] = v
        path = layout.compress_dir(params.paths, item) / "per_image.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        write_npz(path, arrays)
    return difficulty


@pytest.fixture
def params(tmp_path: Path):
    raw = tiny_raw(tmp_path, metrics={"bootstrap": {"n_resamples": 400}})
    raw["autoencoders"]["names"] = ITEMS
    raw["autoencoders"]["variants"] = {k: raw["autoencoders"]["variants"][k] for k in ITEMS}
    raw["diffusion"]["items"] = {k: raw["diffusion"]["items"][k] for k in ITEMS}
    return parse_params(raw, source="test_intervals_compress")


def test_pairs_are_tight_and_cover_the_true_difference(params) -> None:
    write_per_image(params, {})
    out = compress_intervals(params)
    assert set(out) == set(params.analysis.compress.sets)
    for per_set in out.values():
        assert per_set["n_images"] == N
        for measure in ("sigma2", "rho"):
            entry = per_set[measure]
            assert list(entry["pairs"]) == ["ae|vmae", "ae|raw", "vmae|raw"]
            pair = entry["pairs"]["ae|vmae"]
            assert pair["low"] < 0.1 < pair["high"] and pair["high"] - pair["low"] < 0.02
            own = entry["values"]["ae"]  # each item's interval carries the images' spread: ~0.5 / sqrt(60) wide
            assert own["high"] - own["low"] > 10 * (pair["high"] - pair["low"])
            assert entry["pairs"]["vmae|raw"]["high"] < -0.45


def test_an_image_undefined_for_one_item_is_dropped_for_all(params) -> None:
    difficulty = write_per_image(params, {"vmae": [0, 1, 2], "raw": [2, 3]})
    out = compress_intervals(params)
    keep = np.ones(N, bool)
    keep[[0, 1, 2, 3]] = False
    for per_set in out.values():
        assert per_set["n_images"] == N - 4
        value = per_set["sigma2"]["values"]["ae"]["value"]
        assert value == pytest.approx(difficulty[keep].mean() + SHIFT["ae"], abs=0.01)


def test_a_missing_compress_output_names_its_stage(params) -> None:
    write_per_image(params, {})
    (layout.compress_dir(params.paths, "raw") / "per_image.npz").unlink()
    with pytest.raises(FileNotFoundError, match=r"dvc repro compress_raw"):
        compress_intervals(params)


def test_draws_are_paired_resampled_means_of_every_item(params) -> None:
    write_per_image(params, {})
    out = compress_intervals(params)
    for per_set in out.values():
        draws = per_set["draws"]
        assert set(draws) == {"sigma2", "rho"} and set(draws["sigma2"]) == {*ITEMS, "raw"}
        ae, vmae = (np.array(draws["sigma2"][i]) for i in ("ae", "vmae"))
        assert len(ae) == 400
        assert np.std(ae) > 10 * np.std(ae - vmae)  # the shared image difficulty cancels: the draws are paired
        assert np.mean(ae - vmae) == pytest.approx(0.1, abs=0.01)
        point = per_set["sigma2"]["values"]["ae"]["value"]
        assert np.quantile(ae, 0.025) < point < np.quantile(ae, 0.975)
