"""Regularisation sweeps on the val split: the VAE's KL weight and VMAE's L_reg weight (issue 12).

Run: `python -m autoencoders.sweep vae-kl` or `python -m autoencoders.sweep vmae-reg` [--steps N], from the
repository root after `dvc repro featnets` (VMAE's perceptual loss needs `runs/featnets/perceptual.pt`).

Each point trains the real `train_ae` stage (`python -m autoencoders.train ITEM`, in a subprocess) in a scratch
project under `runs/sweeps/<sweep>/<value>/` whose params.yaml is the repository's with one weight changed; the
data and the perceptual network are the repository's own (symlinked). Points resume: a finished point is read
back, not retrained. Every point is then measured on the VAL split of each training set (never eval: this is
where the choice is made) and the sweep writes `docs/sweeps/<sweep>.{csv,md}`, committed, with the rule that
picked the value. The rule is fixed before the numbers are seen (`Sweep.rule`).

Measured per point and set (N val images, latent (C, h, w)):
- psnr: mean PSNR of the clean reconstruction decode(mu) (bench.metrics.psnr);
- kl_per_latent: KL(q(z|x) || N(0, I)) in nats, averaged over every latent value (N C h w);
- active: channels whose KL, averaged over images and positions, exceeds ACTIVE_NATS (the usual "active unit"
  count, Burda et al. 2016, on the KL rather than the covariance of the mean because it needs one pass);
- post_std: the posterior std averaged over images, positions and channels ("unit variance" reads 1);
- mean_std: the per-channel std of the posterior means (`robustness.latent_std`), averaged over channels;
- psnr_noisy: PSNR of decode(mu + NOISE_EPS * std_c * n), n ~ N(0, I), the Fig. 6 perturbation at one eps; the
  drop from psnr is a cheap smoothness reading beside the pipeline's rFD growth.
"""

from __future__ import annotations

import argparse
import csv
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
import yaml

from autoencoders import load_trained
from autoencoders.robustness import latent_std
from bench import layout
from bench.config import Params, load_params
from bench.metrics import psnr
from bench.sharding import sample_noise
from bench.splits import open_split

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs" / "sweeps"
ACTIVE_NATS = 0.01  # per latent value; a channel below it carries (almost) no information about x
NOISE_EPS = 0.5  # one Fig. 6 level, in units of the per-channel latent std
NOISE_SEED = 0
BATCH = 100


@dataclass(frozen=True)
class Sweep:
    """One weight of one item, swept over `values`; `reference` items are trained once, unchanged, for comparison."""

    item: str
    section: str  # the variant's sub-config holding the weight (`vae`, `vmae`)
    key: str
    values: tuple[float, ...]
    reference: tuple[str, ...]
    rule: str


SWEEPS = {
    "vae-kl": Sweep(
        item="vae",
        section="vae",
        key="weight",
        values=(1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0),
        reference=("ae",),
        rule="the weight whose val PSNR gap to the AE, averaged over the training sets, is closest to the paper's "
        "2.8 dB (Table 1, ImageNet: AE 27.6 vs VAE 24.8 dB), among weights that keep at least one active channel",
    ),
    "vmae-reg": Sweep(
        item="vmae",
        section="vmae",
        key="reg_weight",
        values=(1.333e-6, 1e-4, 1e-3, 1e-2, 1e-1),
        reference=(),
        rule="the smallest weight whose mean posterior std is within 10% of the target reg_std on every training "
        "set (the paper's unit-variance latent), else the largest tried",
    ),
}


def point_dir(params: Params, sweep: str, label: str) -> Path:
    return layout.run_dir(params.paths, "sweeps", sweep, label)


def scratch_params(raw: dict, project: Path, item: str, section: str | None, key: str | None, value) -> dict:
    """The repository's params with one variant weight changed and the runs folder moved into `project`."""
    out = yaml.safe_load(yaml.safe_dump(raw))
    out["paths"] = {
        "data": str(Path(raw["paths"]["data"]).resolve()),
        "runs": str(project / "runs"),
        "results": str(project / "results"),
        "weights": str(Path(raw["paths"]["weights"]).resolve()),
    }
    if section is not None:
        out["autoencoders"]["variants"][item][section][key] = value
    return out


def train_point(params: Params, raw: dict, project: Path, item: str, section, key, value) -> Path:
    """Train `item` with one weight changed through the real train_ae stage; return its weights file."""
    weights = layout.autoencoder_weights(project / "runs", item)  # beside its params.json in the item's folder
    if weights.is_file():
        return weights  # a finished point: read back, not retrained
    (project / "runs").mkdir(parents=True, exist_ok=True)
    featnets = project / "runs" / "featnets"
    if not featnets.exists():
        featnets.symlink_to(layout.run_dir(params.paths, "featnets").resolve(), target_is_directory=True)
    (project / "params.yaml").write_text(yaml.safe_dump(scratch_params(raw, project, item, section, key, value)))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "autoencoders.train", item], cwd=project, env=env, check=True)
    return weights


@torch.no_grad()
def measure(params: Params, item: str, weights: Path, dataset: str) -> dict[str, float]:
    """The module docstring's readings of one trained point on the val split of `dataset`."""
    model = load_trained(weights.parent, image_size=params.data.resolution)
    split = open_split(params.paths, dataset, "val")
    batches = [
        {
            "image": torch.stack([split[i]["image"] for i in range(s, min(s + BATCH, len(split)))]),
            "index": torch.arange(s, min(s + BATCH, len(split))),
        }
        for s in range(0, len(split), BATCH)
    ]
    std_c = latent_std(model, batches, torch.device("cpu")).float().view(1, -1, 1, 1)  # (1, C, 1, 1)
    clean, noisy, kl_c, std_sum, count = [], [], 0.0, 0.0, 0
    for batch in batches:
        x = batch["image"]  # (B, 3, H, W)
        post = model.encode(x)
        mu = post.mode()  # (B, C, h, w)
        clean.append(psnr(x, model.decode(mu).clamp(-1, 1)))
        n = sample_noise(batch["index"].tolist(), mu.shape[1:], NOISE_SEED)  # (B, C, h, w)
        noisy.append(psnr(x, model.decode(mu + NOISE_EPS * std_c * n).clamp(-1, 1)))
        if post.logvar is not None:
            var = post.logvar.exp()
            kl = 0.5 * (mu.square() + var - 1 - post.logvar)  # (B, C, h, w) nats
            kl_c = kl_c + kl.double().sum(dim=(0, 2, 3))  # (C,)
            std_sum += post.std.double().sum().item()
        count += mu.shape[0] * mu.shape[2] * mu.shape[3]  # values per channel
    clean_db, noisy_db = torch.cat(clean).mean().item(), torch.cat(noisy).mean().item()
    row = {"psnr": clean_db, "psnr_noisy": noisy_db, "mean_std": std_c.mean().item()}
    if isinstance(kl_c, torch.Tensor):
        per_channel = kl_c / count  # (C,) nats per latent value
        row |= {
            "kl_per_latent": per_channel.mean().item(),
            "active": int((per_channel > ACTIVE_NATS).sum()),
            "post_std": std_sum / (count * per_channel.numel()),
        }
    return row


def fmt(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def write_report(name: str, sweep: Sweep, rows: list[dict], chosen, steps: int, budget: int) -> None:
    """`docs/sweeps/<name>.csv` (every reading) and `.md` (the table, the rule, the choice)."""
    DOCS.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with (DOCS / f"{name}.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)
    lines = [
        f"# Sweep `{name}`: `autoencoders.variants.{sweep.item}.{sweep.section}.{sweep.key}`",
        "",
        f"Val split, {steps} training steps per point (params budget: {budget}"
        + ("" if steps == budget else "; a shorter, provisional sweep: re-run at the budget before trusting it")
        + f"), `python -m autoencoders.sweep {name}`. Readings: see `autoencoders/sweep.py`.",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
        *("| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in rows),
        "",
        f"Rule (fixed before the run): {sweep.rule}.",
        "",
        f"**Chosen: {sweep.key} = {chosen}.**",
        "",
    ]
    (DOCS / f"{name}.md").write_text("\n".join(lines))


def choose(name: str, sweep: Sweep, rows: list[dict], params: Params):
    """Apply `sweep.rule` to the measured rows (one per point and set)."""
    points = [r for r in rows if r["item"] == sweep.item]
    by_value: dict[float, list[dict]] = {}
    for r in points:
        by_value.setdefault(r["value"], []).append(r)
    if name == "vae-kl":
        ref = {r["set"]: r["psnr"] for r in rows if r["item"] == "ae"}
        gap = {v: sum(ref[r["set"]] - r["psnr"] for r in rs) / len(rs) for v, rs in by_value.items()}
        ok = [v for v, rs in by_value.items() if all(r["active"] >= 1 for r in rs)]
        return min(ok, key=lambda v: abs(gap[v] - 2.8)) if ok else None
    target = params.autoencoders.variants[sweep.item].vmae.reg_std
    near = [v for v, rs in sorted(by_value.items()) if all(abs(r["post_std"] - target) <= 0.1 * target for r in rs)]
    return near[0] if near else max(by_value)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", choices=sorted(SWEEPS))
    parser.add_argument("--steps", type=int, default=None, help="training steps per point (default: the budget)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: runtime.cpu_threads)")
    args = parser.parse_args()
    params = load_params()
    raw = yaml.safe_load(Path("params.yaml").read_text())
    if args.steps is not None:
        raw["autoencoders"]["train"]["steps"] = args.steps
    if args.threads is not None:  # training does not depend on it (same numbers), only the wall time does
        raw["runtime"]["cpu_threads"] = args.threads
        torch.set_num_threads(args.threads)
    steps = raw["autoencoders"]["train"]["steps"]
    sweep = SWEEPS[args.sweep]
    rows = []
    points = [(ref, None, None, None, ref) for ref in sweep.reference]
    points += [(sweep.item, sweep.section, sweep.key, v, f"{sweep.key}={v:g}") for v in sweep.values]
    for item, section, key, value, label in points:
        project = point_dir(params, args.sweep, f"{label}-steps{steps}").resolve()
        weights = train_point(params, raw, project, item, section, key, value)
        for dataset in params.autoencoders.train_sets:
            reading = measure(params, item, weights, dataset)
            rows.append({"item": item, "value": value if value is not None else "", "set": dataset, **reading})
            print(rows[-1], flush=True)
    chosen = choose(args.sweep, sweep, rows, params)
    write_report(args.sweep, sweep, rows, chosen, steps, params.autoencoders.train.steps)


if __name__ == "__main__":
    main()
