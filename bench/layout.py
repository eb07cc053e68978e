"""The layout contract: the one module that names every artefact passed between stages.

Every stage and `analysis/results.py` read and write through these functions; nothing else assembles a path to
another stage's output. All roots come from the `paths:` section of params.yaml, which `dvc.yaml` templates with the
same keys (`${paths.data}`, `${paths.runs}`, `${paths.results}`), so code and pipeline agree:

    <data>/<set>/meta.json, <data>/<set>/<split>/   data: one folder per dataset split (+ the set's meta)
    <runs>/<stage>/<item>/                          what a stage hands on (weights, metrics, latents, samples)
    <runs>/autoencoders/<item>/                     the item's autoencoder, from train_ae or import_ae
    <runs>/records/<stage>/[<item>/]                meta.json: wall time, git SHA, host (volatile; no stage reads it
                                                    except the report's timing tables)
    <runs>/work/<stage>/<item>/                     resumable checkpoints and dvclive curves (persist, uncached)
    <results>/{tables,figures}/                     report artefacts

Volatile records sit apart from the outputs later stages depend on, so re-running a stage on the same inputs gives
the same output hashes and leaves everything downstream up to date.
"""

from __future__ import annotations

from pathlib import Path

from bench.config import PathsCfg

Root = PathsCfg | str | Path  # the `paths:` section, or the one folder a function needs (`paths.runs`, `paths.data`)

SPLITS = ("train", "val", "judge", "eval")  # judge: the evaluation networks' own; val: tuning; eval: reporting
PARAMS_FILE, META_FILE, METRICS_FILE = "params.json", "meta.json", "metrics.json"
FEATNETS = ("perceptual",)  # the featnets stage's networks; the judges have their own stage
JUDGE = "judge"  # metric label of the judge ensemble (`fd[judge]`); member k is "judge-k" (`fd[judge-k]`)
FEATURES_FILE = "features.npz"  # per-image features and values of eval_ae / eval_gen, for the intervals stage
# extract@NAME/<dataset>/: the latent shards and the statistics training and sampling normalise with
LATENTS_FILE, FLIP_FILE, LABELS_FILE, STATS_FILE = "latents.npy", "latents_flip.npy", "labels.npy", "stats.json"
# train_dit@NAME/<dataset>/: EMA weights and the architecture + statistics hash the sample stage checks
DIT_WEIGHTS_FILE, DIT_INFO_FILE = "model.pt", "dit.json"
SAMPLES_FILE = "samples.npy"  # sample@NAME/<dataset>/, beside LABELS_FILE and grid.png
# autoencoders/<item>/: train_ae's weights, or import_ae's record of a pretrained item (each beside params.json)
WEIGHTS_FILE, SOURCE_FILE = "model.pt", "source.json"


# --- data ------------------------------------------------------------------------------------------------------------
def data_root(paths: Root) -> Path:
    """The data folder (`paths.data`), from the paths section or the folder itself."""
    return Path(paths.data) if isinstance(paths, PathsCfg) else Path(paths)


def split_dir(paths: Root, dataset: str, split: str) -> Path:
    """Folder of one materialised split, e.g. `data/shapes/train`."""
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    return data_root(paths) / dataset / split


def dataset_meta(paths: Root, dataset: str) -> Path:
    """`data/<set>/meta.json`: kind, resolution, label and mask names, counts."""
    return data_root(paths) / dataset / META_FILE


# --- every stage -----------------------------------------------------------------------------------------------------
def runs_root(paths: Root) -> Path:
    """The runs folder (`paths.runs`)."""
    return Path(paths.runs) if isinstance(paths, PathsCfg) else Path(paths)


def run_dir(paths: Root, stage: str, *parts: str) -> Path:
    """Output folder of a stage (and item, dataset), e.g. `runs/train_ae/vmae`."""
    return runs_root(paths).joinpath(stage, *parts)


def records_root(paths: Root) -> Path:
    """`runs/records`: every stage's volatile `meta.json`, one folder per stage (and item, dataset)."""
    return runs_root(paths) / "records"


def record_dir(paths: Root, stage: str, *parts: str) -> Path:
    """Where a stage's volatile `meta.json` goes, e.g. `runs/records/eval_ae/vmae`."""
    return records_root(paths).joinpath(stage, *parts)


def work_dir(paths: Root, stage: str, *parts: str) -> Path:
    """Resumable checkpoints and training curves of a training stage, e.g. `runs/work/train_dit/ae`."""
    return runs_root(paths).joinpath("work", stage, *parts)


# --- featnets and reference ------------------------------------------------------------------------------------------
def featnet(paths: Root, role: str) -> Path:
    """`runs/featnets/<role>.pt` for role "perceptual" (a training loss)."""
    if role not in FEATNETS:
        raise ValueError(f"featnet role must be one of {FEATNETS}, got {role!r}")
    return run_dir(paths, "featnets") / f"{role}.pt"


def judge_name(member: int) -> str:
    """The extractor name of ensemble member k: "judge-k"."""
    if member < 0:
        raise ValueError(f"judge member must be >= 0, got {member}")
    return f"{JUDGE}-{member}"


def judge(paths: Root, member: int) -> Path:
    """`runs/judges/judge-<k>.pt`: ensemble member k of the evaluation networks (evaluation only)."""
    return run_dir(paths, "judges") / f"{judge_name(member)}.pt"


def reference(paths: Root, dataset: str, split: str, extractor: str) -> Path:
    """Feature statistics of one split under one extractor: `runs/reference/<set>/<split>.<extractor>.npz`."""
    return run_dir(paths, "reference", dataset) / f"{split}.{extractor}.npz"


# --- autoencoders ----------------------------------------------------------------------------------------------------
def autoencoder_dir(paths: Root, item: str) -> Path:
    """`runs/autoencoders/<item>/`: the item's autoencoder as every later stage loads it, whichever stage made it:
    train_ae (a trained item: `model.pt`, `recon.png`) or import_ae (a pretrained one: `source.json`). One folder
    pattern for both kinds, so that dvc.yaml gives eval_ae, compress, extract and sample one dependency per item."""
    return run_dir(paths, "autoencoders", item)


def autoencoder_weights(paths: Root, item: str) -> Path:
    """The trained weights train_ae leaves for a trained item: `runs/autoencoders/<item>/model.pt`."""
    return autoencoder_dir(paths, item) / WEIGHTS_FILE


def autoencoder_record_dir(paths: Root, item: str) -> Path:
    """The volatile `meta.json` of the stage that made the item's autoencoder (train_ae: training wall time per
    phase; import_ae), `runs/records/autoencoders/<item>`: one folder for both kinds, so the report stages that print
    training times have one dependency whatever items a run has (a run of pretrained items alone trains none)."""
    return record_dir(paths, "autoencoders", item)


def pretrained_record(paths: Root, item: str) -> Path:
    """import_ae's record of a pretrained item (format, path, file hashes, latent shape, recorded factors)."""
    return autoencoder_dir(paths, item) / SOURCE_FILE


def eval_ae_metrics(paths: Root, item: str) -> Path:
    return run_dir(paths, "eval_ae", item) / METRICS_FILE


def eval_ae_examples(paths: Root, item: str) -> Path:
    return run_dir(paths, "eval_ae", item) / "examples.npz"


def eval_ae_features(paths: Root, item: str) -> Path:
    """Per-image values and features of eval_ae (every eps, every extractor), for the intervals stage."""
    return run_dir(paths, "eval_ae", item) / FEATURES_FILE


def noise_curve(paths: Root, item: str, dataset: str) -> Path:
    """Fig. 6 rows of one set as CSV (for `dvc plots`)."""
    return run_dir(paths, "eval_ae", item, "noise_curve") / f"{dataset}.csv"


def compress_dir(paths: Root, item: str) -> Path:
    """compress@ITEM's folder, or compress_raw's for item "raw" (the raw-pixel reference)."""
    return run_dir(paths, "compress_raw") if item == "raw" else run_dir(paths, "compress", item)


def compress_stage(item: str) -> str:
    """The DVC stage that writes `compress_dir(item)` (for error messages)."""
    return "compress_raw" if item == "raw" else f"compress@{item}"


def proxies_dir(paths: Root, item: str) -> Path:
    """proxies@ITEM's folder: `metrics.json`, `per_image.npz` (per-image values and iFD features), `spectra.npz`."""
    return run_dir(paths, "proxies", item)


def proxies_metrics(paths: Root, item: str) -> Path:
    return proxies_dir(paths, item) / METRICS_FILE


def proxies_per_image(paths: Root, item: str) -> Path:
    """Per-image proxy values and the iFD pool features of proxies@ITEM (for paired bootstraps across items)."""
    return proxies_dir(paths, item) / "per_image.npz"


def proxies_spectra(paths: Root, item: str) -> Path:
    """Band spectra of proxies@ITEM's latents and images (the spectrum figure)."""
    return proxies_dir(paths, item) / "spectra.npz"


# --- diffusion -------------------------------------------------------------------------------------------------------
def latents_dir(paths: Root, item: str, dataset: str) -> Path:
    """extract@ITEM's latents of one generation dataset: `runs/extract/<item>/<dataset>/`."""
    return run_dir(paths, "extract", item, dataset)


def dit_dir(paths: Root, item: str, dataset: str) -> Path:
    """train_dit@ITEM's DiT of one dataset: `runs/train_dit/<item>/<dataset>/` (model.pt, dit.json)."""
    return run_dir(paths, "train_dit", item, dataset)


def samples_dir(paths: Root, item: str, dataset: str) -> Path:
    """sample@ITEM's images of one dataset: `runs/sample/<item>/<dataset>/`."""
    return run_dir(paths, "sample", item, dataset)


def eval_gen_metrics(paths: Root, item: str) -> Path:
    return run_dir(paths, "eval_gen", item) / METRICS_FILE


def eval_gen_features(paths: Root, item: str) -> Path:
    """Per-sample features of eval_gen (every dataset, every extractor), for the intervals stage."""
    return run_dir(paths, "eval_gen", item) / FEATURES_FILE


# --- measurement validation and intervals ----------------------------------------------------------------------------
def metric_validation(paths: Root) -> Path:
    """validate_metrics' per-metric, per-disturbance verdicts (`runs/validate_metrics/metrics.json`)."""
    return run_dir(paths, "validate_metrics") / METRICS_FILE


def metric_validation_curves(paths: Root) -> Path:
    """validate_metrics' raw values: one row per set, metric, disturbance, level, seed and member (CSV)."""
    return run_dir(paths, "validate_metrics") / "curves.csv"


def intervals(paths: Root) -> Path:
    """The intervals stage's confidence intervals of every reported number and paired difference (JSON)."""
    return run_dir(paths, "intervals") / "intervals.json"


# --- report ----------------------------------------------------------------------------------------------------------
def figures_dir(paths: PathsCfg) -> Path:
    return Path(paths.results) / "figures"


def tables_dir(paths: PathsCfg) -> Path:
    return Path(paths.results) / "tables"


def paper_check(paths: PathsCfg, suffix: str) -> Path:
    """The paper-claims report: `results/paper_check.md` (to read) or `.json` (the verdicts, for the README)."""
    return Path(paths.results) / f"paper_check.{suffix}"
