"""Autoencoder sweeps on the val split: the VAE's KL weight and VMAE's L_reg weight (issue 12), the training
precision (bf16 autocast or fp32, against the chance a training seed makes), the shared training budget and the own
perceptual loss's scale (issue 11: both were first chosen on the eval split).

Run: `python -m autoencoders.sweep vae-kl`, `vmae-reg`, `precision`, `ae-steps` or `percep-scale` [--steps N]
[--threads T] (--steps: not for ae-steps, whose points set their own), from the repository root after
`dvc repro featnets` (every sweep reads `runs/featnets/perceptual.pt`: the perceptual losses and the percep reading).

Each point trains the real `train_ae` stage (`python -m autoencoders.train ITEM`, in a subprocess) in a scratch
project (`bench.scratch`) under `runs/sweeps/<sweep>/<item>-<key>=<value>-steps<N>[-seed<s>]/` (ae-steps: without
`-steps<N>`, the value is the steps) whose params.yaml is the repository's with one key changed (and, for a sweep
over seeds, `seed`); the data and the perceptual network are the repository's own (symlinked). Points resume: a
finished point is read back, not retrained, and a point trained under other params is an error. Every point is then
measured on the VAL split of each training set (never eval: this is where the choice is made) and the sweep writes
`docs/sweeps/<sweep>.{csv,md}`, committed, with the rule that picked the value. The rule is fixed before the numbers
are seen (`Sweep.rule`).

Measured per point and set (N val images, latent (C, h, w)):
- psnr: mean PSNR of the clean reconstruction decode(mu) (bench.metrics.psnr);
- kl_per_latent: KL(q(z|x) || N(0, I)) in nats, averaged over every latent value (N C h w);
- active: channels whose KL, averaged over images and positions, exceeds ACTIVE_NATS (the usual "active unit"
  count, Burda et al. 2016, on the KL rather than the covariance of the mean because it needs one pass);
- post_std: the posterior std averaged over images, positions and channels ("unit variance" reads 1);
- mean_std: the per-channel std of the posterior means (`robustness.latent_std`), averaged over channels;
- psnr_noisy: PSNR of decode(mu + NOISE_EPS * std_c * n), n ~ N(0, I), the Fig. 6 perturbation at one eps; the
  drop from psnr is a cheap smoothness reading beside the pipeline's rFD growth;
- percep: the perceptual distance of the clean reconstruction (percep[own] where no VGG16 is local, as eval_ae);
- block_excess: the steps between neighbouring pixels across VMAE's patch grid over those elsewhere
  (`bench.blockiness.block_edge_steps`, each pooled over the val images), for the clean reconstructions, over the
  same for the val images themselves: 1 when the reconstructions show the grid no more than the images do;
- train_s: the point's training time, steps x median step summed over its phases (meta.json's
  `train_steady_time_s`, as Table 2), for what a setting costs: the wall time would count the sweeps that share the
  machine's cores, or a pause.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import yaml

from autoencoders import load_trained
from autoencoders.robustness import latent_std
from bench import layout
from bench.blockiness import block_edge_steps
from bench.config import Params, load_params
from bench.dist import pin_cpu_kernels
from bench.featnets import FrozenDistance, load_perceptual, vgg16_candidates
from bench.metrics import psnr
from bench.scratch import scratch_params
from bench.scratch import write_report as write_sweep_report
from bench.sharding import sample_noise
from bench.splits import open_split

ROOT = Path(__file__).resolve().parents[1]
ACTIVE_NATS = 0.01  # per latent value; a channel below it carries (almost) no information about x
NOISE_EPS = 0.5  # one Fig. 6 level, in units of the per-channel latent std
NOISE_SEED = 0
BATCH = 100
BLOCK_EXCESS_MAX = 1.10  # ae-steps: reconstructions may show the 8-px grid at most 10% more than the images do
PSNR_SLACK_DB = 0.5  # percep-scale: a scale may cost at most this much val PSNR against the best scale tried


@dataclass(frozen=True)
class Sweep:
    """One params key, swept over `values` for each of `items`; `reference` items are trained unchanged (once per
    seed)."""

    items: tuple[str, ...]
    key: str  # dotted path into params.yaml, e.g. `autoencoders.variants.vae.vae.weight`
    values: tuple[Any, ...]
    reference: tuple[str, ...]
    rule: str
    seeds: tuple[int, ...] = ()  # training seeds of every point; () trains at params' `seed` only

    @property
    def label(self) -> str:
        return self.key.rsplit(".", 1)[-1]


SWEEPS = {
    "vae-kl": Sweep(
        items=("vae",),
        key="autoencoders.variants.vae.vae.weight",
        values=(1e-3, 1e-2, 3e-2, 1e-1, 3e-1, 1.0),
        reference=("ae",),
        rule="the weight whose val PSNR gap to the AE, averaged over the training sets, is closest to the paper's "
        "2.8 dB (Table 1, ImageNet: AE 27.6 vs VAE 24.8 dB), among weights that keep at least one active channel",
    ),
    "vmae-reg": Sweep(
        items=("vmae",),
        key="autoencoders.variants.vmae.vmae.reg_weight",
        values=(1.333e-6, 1e-4, 1e-3, 1e-2, 1e-1),
        reference=(),
        rule="the smallest weight whose mean posterior std is within 10% of the target reg_std on every training "
        "set (the paper's unit-variance latent), else the largest tried",
    ),
    # The autoencoders' `train.precision` is shared by every item; the two fastest to train stand for the conv and
    # the ViT families. Two seeds per point: the seed-to-seed PSNR gap is the chance against which bf16 is judged.
    "precision": Sweep(
        items=("ae", "vmae"),
        key="autoencoders.train.precision",
        values=("fp32", "bf16"),
        reference=(),
        rule="bf16 if, for every item and training set, its val PSNR minus fp32's (paired by seed, averaged over "
        "the seeds) is smaller in size than fp32's own seed-to-seed PSNR difference, else fp32",
        seeds=(0, 1),
    ),
    # One budget for every item (params: `autoencoders.train.steps`). It was raised from 300 to 600 because VMAE's
    # reconstructions showed its 8-px patch grid at 300, judged by eye on the eval split; here the grid is measured.
    "ae-steps": Sweep(
        items=("vmae",),
        key="autoencoders.train.steps",
        values=(300, 600, 900),
        reference=(),
        rule=f"the smallest budget at which VMAE's val reconstructions show its patch grid at most "
        f"{BLOCK_EXCESS_MAX:.2f}x as strongly as the val images do (block_excess) on every training set, else the "
        "largest tried; PSNR and training time per budget are shown for what a larger budget would buy",
    ),
    # The own perceptual network's loss scale, shared by every item with a perceptual term (VMAE and SD-VAE).
    "percep-scale": Sweep(
        items=("vmae", "sd-vae"),
        key="autoencoders.percep_own_scale",
        values=(0.02, 0.05, 0.1, 0.3),
        reference=(),
        rule=f"the scale with the lowest val percep, averaged over items and training sets, among the scales whose "
        f"val PSNR is within {PSNR_SLACK_DB} dB of the best scale's for every item and set; if none is, the scale "
        "whose largest PSNR loss is smallest. percep is the own network's distance, the loss being scaled, so a "
        "larger scale lowers it by construction: in effect the rule takes the largest scale within the PSNR slack",
    ),
}


def point_dir(params: Params, sweep: str, label: str) -> Path:
    return layout.run_dir(params.paths, "sweeps", sweep, label)


def flat(tree: dict, prefix: str = "") -> dict[str, Any]:
    """Nested params -> {dotted key: leaf value}."""
    out: dict[str, Any] = {}
    for k, v in tree.items():
        out |= flat(v, f"{prefix}{k}.") if isinstance(v, dict) else {f"{prefix}{k}": v}
    return out


# The params the train_ae stage reads (its `params:` in dvc.yaml), the item's own variant added by `trains`.
TRAIN_PARAMS = ("seed", "runtime", "data.resolution", "autoencoders.train_sets", "autoencoders.train",
                "autoencoders.conv", "autoencoders.vit", "autoencoders.percep_own_scale")  # fmt: skip


def trains(key: str, item: str) -> bool:
    """Whether the dotted params key is one `train_ae item` reads (paths and other items' settings are not)."""
    return any(key == p or key.startswith(f"{p}.") for p in (*TRAIN_PARAMS, f"autoencoders.variants.{item}"))


def train_point(params: Params, raw: dict, project: Path, item: str, changes: dict[str, Any]) -> Path:
    """Train `item` with `changes` made through the real train_ae stage; return its weights file. A finished point
    is read back, not retrained, but only if the params its training reads are the ones wanted now."""
    weights = layout.autoencoder_weights(project / "runs", item)  # beside its params.json in the item's folder
    wanted = scratch_params(raw, project, changes)
    if weights.is_file():
        stored = flat(yaml.safe_load((project / "params.yaml").read_text()))
        now = flat(wanted)
        differ = sorted(k for k in stored.keys() | now.keys() if trains(k, item) and stored.get(k) != now.get(k))
        if differ:
            raise ValueError(
                f"sweep point {project} was trained with other params ({', '.join(differ[:6])}): run the sweep with "
                "the params (and --threads/--steps) it was trained with, or delete that folder to retrain it"
            )
        return weights
    (project / "runs").mkdir(parents=True, exist_ok=True)
    featnets = project / "runs" / "featnets"
    if not featnets.exists():
        featnets.symlink_to(layout.run_dir(params.paths, "featnets").resolve(), target_is_directory=True)
    (project / "params.yaml").write_text(yaml.safe_dump(wanted))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-m", "autoencoders.train", item], cwd=project, env=env, check=True)
    return weights


@torch.no_grad()
def measure(params: Params, item: str, weights: Path, dataset: str, perceptual: FrozenDistance) -> dict[str, float]:
    """The module docstring's readings of one trained point on the val split of `dataset`; `perceptual` gives the
    `percep` reading (`bench.featnets.load_perceptual` at scale 1, as eval_ae)."""
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
    clean, noisy, percep, grid_recon, grid_real = [], [], [], [], []  # grid_*: (across, inside) per batch
    kl_c, std_sum, count = 0.0, 0.0, 0
    for batch in batches:
        x = batch["image"]  # (B, 3, H, W)
        post = model.encode(x)
        mu = post.mode()  # (B, C, h, w)
        recon = model.decode(mu).clamp(-1, 1)  # (B, 3, H, W)
        clean.append(psnr(x, recon))
        percep.append(perceptual(x, recon))
        grid_recon.append(block_edge_steps(recon, params.autoencoders.vit.patch_size))  # VMAE's patch grid
        grid_real.append(block_edge_steps(x, params.autoencoders.vit.patch_size))
        n = sample_noise(batch["index"].tolist(), mu.shape[1:], NOISE_SEED)  # (B, C, h, w)
        noisy.append(psnr(x, model.decode(mu + NOISE_EPS * std_c * n).clamp(-1, 1)))
        if post.logvar is not None:
            var = post.logvar.exp()
            kl = 0.5 * (mu.square() + var - 1 - post.logvar)  # (B, C, h, w) nats
            kl_c = kl_c + kl.double().sum(dim=(0, 2, 3))  # (C,)
            std_sum += post.std.double().sum().item()
        count += mu.shape[0] * mu.shape[2] * mu.shape[3]  # values per channel
    clean_db, noisy_db = torch.cat(clean).mean().item(), torch.cat(noisy).mean().item()
    row = {
        "psnr": clean_db,
        "psnr_noisy": noisy_db,
        "mean_std": std_c.mean().item(),
        "percep": torch.cat(percep).mean().item(),
        "block_excess": (pooled_ratio(grid_recon) / pooled_ratio(grid_real)).item(),
    }
    if isinstance(kl_c, torch.Tensor):
        per_channel = kl_c / count  # (C,) nats per latent value
        row |= {
            "kl_per_latent": per_channel.mean().item(),
            "active": int((per_channel > ACTIVE_NATS).sum()),
            "post_std": std_sum / (count * per_channel.numel()),
        }
    return row


def pooled_ratio(steps: list[tuple[torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    """Mean step across the grid over mean step elsewhere, over every image of `steps` (batches of (B,), (B,))."""
    return torch.cat([a for a, _ in steps]).mean() / torch.cat([b for _, b in steps]).mean()


def write_report(name: str, sweep: Sweep, rows: list[dict], chosen, steps: int, budget: int) -> None:
    """`docs/sweeps/<name>.csv` (every reading) and `.md` (the table, the rule, the choice)."""
    if sweep.key == "autoencoders.train.steps":
        steps_note = "the swept value is each point's training steps"
    else:
        steps_note = f"{steps} training steps per point (params budget: {budget}" + (
            ")" if steps == budget else "; a shorter, provisional sweep: re-run at the budget before trusting it)"
        )
    intro = [
        f"# Sweep `{name}`: `{sweep.key}`" + (f", seeds {list(sweep.seeds)}" if sweep.seeds else ""),
        "",
        f"Val split, {steps_note}, `python -m autoencoders.sweep {' '.join(sys.argv[1:]) or name}`. "
        "Readings: see `autoencoders/sweep.py`.",
    ]
    choice = f"{sweep.label} = {chosen}"
    if name == "ae-steps" and not any(ae_steps_clean(rows)):
        choice += f" (the rule's fallback: no budget tried met block_excess <= {BLOCK_EXCESS_MAX:.2f} on every set)"
    write_sweep_report(name, rows, intro, f"{sweep.rule}.", choice)


def choose(name: str, sweep: Sweep, rows: list[dict], params: Params):
    """Apply `sweep.rule` to the measured rows (one per point, seed and set)."""
    if name == "precision":
        return choose_precision(rows)
    if name == "percep-scale":
        return choose_percep_scale(rows)
    points = [r for r in rows if r["item"] in sweep.items]
    by_value: dict[float, list[dict]] = {}
    for r in points:
        by_value.setdefault(r["value"], []).append(r)
    if name == "vae-kl":
        ref = {r["set"]: r["psnr"] for r in rows if r["item"] == "ae"}
        gap = {v: sum(ref[r["set"]] - r["psnr"] for r in rs) / len(rs) for v, rs in by_value.items()}
        ok = [v for v, rs in by_value.items() if all(r["active"] >= 1 for r in rs)]
        return min(ok, key=lambda v: abs(gap[v] - 2.8)) if ok else None
    if name == "ae-steps":
        clean = ae_steps_clean(points)
        return clean[0] if clean else max(by_value)
    target = params.autoencoders.variants[sweep.items[0]].vmae.reg_std
    near = [v for v, rs in sorted(by_value.items()) if all(abs(r["post_std"] - target) <= 0.1 * target for r in rs)]
    return near[0] if near else max(by_value)


def choose_precision(rows: list[dict]) -> str:
    """`SWEEPS["precision"].rule`: bf16 when its paired PSNR shift is inside fp32's seed-to-seed gap everywhere."""
    psnr = {(r["item"], r["set"], r["value"], r["seed"]): r["psnr"] for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    if len(seeds) < 2:
        raise ValueError("the precision rule needs two seeds or more: the seed-to-seed gap is its yardstick")
    for item, dataset in sorted({(r["item"], r["set"]) for r in rows}):
        shift = sum(psnr[item, dataset, "bf16", s] - psnr[item, dataset, "fp32", s] for s in seeds) / len(seeds)
        chance = max(psnr[item, dataset, "fp32", s] for s in seeds) - min(psnr[item, dataset, "fp32", s] for s in seeds)
        if abs(shift) >= chance:
            return "fp32"
    return "bf16"


def ae_steps_clean(rows: list[dict]) -> list[int]:
    """The budgets, ascending, at which VMAE's block_excess is within BLOCK_EXCESS_MAX on every set."""
    by_value: dict[int, list[dict]] = {}
    for r in rows:
        if r["item"] == "vmae":
            by_value.setdefault(r["value"], []).append(r)
    return [v for v, rs in sorted(by_value.items()) if all(r["block_excess"] <= BLOCK_EXCESS_MAX for r in rs)]


def choose_percep_scale(rows: list[dict]) -> float:
    """`SWEEPS["percep-scale"].rule`: the lowest mean percep among the scales within PSNR_SLACK_DB of the best."""
    if not all(math.isfinite(r["psnr"]) and math.isfinite(r["percep"]) for r in rows):
        raise ValueError("a percep-scale point has a non-finite PSNR or percep: look at its training log first")
    best = {}
    for r in rows:
        best[r["item"], r["set"]] = max(best.get((r["item"], r["set"]), -math.inf), r["psnr"])
    by_value: dict[float, list[dict]] = {}
    for r in rows:
        by_value.setdefault(r["value"], []).append(r)
    loss = {v: max(best[r["item"], r["set"]] - r["psnr"] for r in rs) for v, rs in by_value.items()}
    near = [v for v in by_value if loss[v] <= PSNR_SLACK_DB]
    if not near:
        return min(by_value, key=lambda v: loss[v])
    return min(near, key=lambda v: sum(r["percep"] for r in by_value[v]) / len(by_value[v]))


def train_seconds(project: Path, item: str) -> float:
    """Training time of a point, steps x median step summed over its phases, from the meta.json train_ae left in
    its project (`train_steady_time_s`)."""
    meta = layout.autoencoder_record_dir(project / "runs", item) / layout.META_FILE
    return float(sum(json.loads(meta.read_text())["train_steady_time_s"].values()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep", choices=sorted(SWEEPS))
    parser.add_argument("--steps", type=int, default=None, help="training steps per point (default: the budget)")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads (default: runtime.cpu_threads)")
    args = parser.parse_args()
    params = load_params()
    pin_cpu_kernels(params.runtime.cpu_isa)  # `measure` runs here, in this process: the points' own kernels
    raw = yaml.safe_load(Path("params.yaml").read_text())
    if args.steps is not None:
        raw["autoencoders"]["train"]["steps"] = args.steps
    if args.threads is not None:
        # The thread count changes the numbers (oneDNN and ATen split their reductions by thread), so it is part
        # of every point's params, and of the wall times.
        raw["runtime"]["cpu_threads"] = args.threads
        torch.set_num_threads(args.threads)
    steps = raw["autoencoders"]["train"]["steps"]
    sweep = SWEEPS[args.sweep]
    perceptual = load_perceptual(params.paths.weights, layout.featnet(params.paths, "perceptual"))
    if args.sweep == "percep-scale" and perceptual.name != "percep-own":
        found = next(p for p in vgg16_candidates(params.paths.weights) if p.is_file())
        raise ValueError(
            f"the percep-scale sweep tunes the own perceptual network's scale, but {perceptual.name} is in use "
            f"({found}), which training never rescales: move that file away to sweep"
        )
    if args.sweep == "ae-steps" and args.steps is not None:
        raise ValueError("--steps does not apply to ae-steps: each of its points sets its own steps")
    rows = []
    seeds = sweep.seeds or (raw["seed"],)
    points = [(ref, {}, "", ref) for ref in sweep.reference]
    points += [(item, {sweep.key: v}, v, f"{item}-{sweep.label}={v}") for item in sweep.items for v in sweep.values]
    for item, changes, value, label in points:
        for seed in seeds:
            steps_tag = "" if sweep.key == "autoencoders.train.steps" else f"-steps{steps}"  # else in the label
            tag = f"{label}{steps_tag}" + (f"-seed{seed}" if sweep.seeds else "")
            project = point_dir(params, args.sweep, tag).resolve()
            weights = train_point(params, raw, project, item, {**changes, "seed": seed})
            train_s = train_seconds(project, item)
            for dataset in params.autoencoders.train_sets:
                reading = measure(params, item, weights, dataset, perceptual)
                rows.append(
                    {"item": item, "value": value}
                    | ({"seed": seed} if sweep.seeds else {})
                    | {"set": dataset, **reading, "train_s": train_s}
                )
                print(rows[-1], flush=True)
    chosen = choose(args.sweep, sweep, rows, params)
    write_report(args.sweep, sweep, rows, chosen, steps, params.autoencoders.train.steps)


if __name__ == "__main__":
    main()
