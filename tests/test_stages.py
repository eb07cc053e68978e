"""Every stage's `main()` end to end on the tiny preset, in-process and in pipeline order (R26/R27 smoke)."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch

from autoencoders import load_trained
from autoencoders import train as train_ae
from bench import layout
from bench.ckpt import latest_checkpoint, load_checkpoint
from bench.featnets import JUDGE_NET, load_featnet, load_perceptual
from bench.features import suite_extractors
from bench.layout import run_dir
from tests.conftest import one_thread, run_upstream, tiny_params

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    with one_thread():
        yield run_upstream(tiny_params(tmp_path_factory.mktemp("tiny")))


def test_featnets_writes_only_the_perceptual_network(tiny):
    out = run_dir(tiny.paths, "featnets")
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"perceptual"}  # the judges have their own stage
    assert 0.0 <= metrics["perceptual"]["eval_accuracy"] <= 1.0
    assert set(metrics["perceptual"]["eval_accuracy_per_set"]) == {"shapes", "faces"}
    assert sorted(p.name for p in out.glob("*.pt")) == ["perceptual.pt"]
    meta = json.loads((layout.record_dir(tiny.paths, "featnets") / "meta.json").read_text())
    assert meta["plateau"]["perceptual"]["steps"] == tiny.featnets.train.steps
    # what the CPU numbers depend on beside params: the thread count and the kernels' instruction set
    assert meta["cpu_threads"] == torch.get_num_threads()
    assert meta["cpu_capability"] == torch.backends.cpu.get_cpu_capability()
    assert load_perceptual(tiny.paths.weights, out / "perceptual.pt").name == "percep-own"
    with pytest.raises(ValueError, match="featnet role must be one of"):
        layout.featnet(tiny.paths, "judge")


def test_judges_write_the_ensemble(tiny):
    out = run_dir(tiny.paths, "judges")
    assert sorted(p.name for p in out.glob("*.pt")) == [f"judge-{k}.pt" for k in range(tiny.judges.members)]
    members = json.loads((out / "metrics.json").read_text())["members"]
    assert [m["member"] for m in members] == [layout.judge_name(k) for k in range(tiny.judges.members)]
    assert {load_featnet(layout.judge(tiny.paths, k)).identity for k in range(tiny.judges.members)} == {JUDGE_NET}
    meta = json.loads((layout.record_dir(tiny.paths, "judges") / "meta.json").read_text())
    assert list(meta["plateau"]) == [layout.judge_name(k) for k in range(tiny.judges.members)]


@pytest.mark.parametrize("name", ["ae", "dae", "vae", "sd-vae", "vmae", "vmae-release"])
def test_train_ae_item(tiny, name):
    train_ae.main(tiny, name)
    out = layout.autoencoder_dir(tiny.paths, name)
    meta = json.loads((layout.autoencoder_record_dir(tiny.paths, name) / "meta.json").read_text())
    assert meta["steps"]["phase1"] + meta["steps"]["phase3"] == tiny.autoencoders.train.steps
    assert meta["perceptual"] == "percep-own" and (out / "recon.png").stat().st_size > 1000
    # Per phase: the plateau verdict of its loss over its own steps (phase 3 only where the variant fine-tunes).
    ran = {phase: steps for phase, steps in meta["steps"].items() if steps}
    assert {phase: v["steps"] for phase, v in meta["plateau"].items()} == ran
    assert all(isinstance(v["plateaued"], bool) for v in meta["plateau"].values())
    # Per phase: the wall time and Table 2's steps x median step (about the wall time on an undisturbed run).
    wall, steady = meta["train_wall_time_s"], meta["train_steady_time_s"]
    assert set(steady) == set(wall) == {f"{p}_s" for p in ran}
    assert all(0 < steady[k] <= 1.5 * wall[k] for k in wall), (steady, wall)
    model = load_trained(out, image_size=tiny.data.resolution)
    x = torch.zeros(2, 3, tiny.data.resolution, tiny.data.resolution)
    assert model.decode(model.encode(x).mode()).shape == x.shape
    # A second run resumes the finished checkpoints instead of training again.
    work = layout.work_dir(tiny.paths, "train_ae", name)
    stamp = (work / "phase1" / "ckpt").stat().st_mtime_ns
    train_ae.main(tiny, name)
    assert (work / "phase1" / "ckpt").stat().st_mtime_ns == stamp
    if name == "sd-vae":  # latent diffusion's discriminator optimiser, from params (autoencoders.variants.sd-vae.optim)
        opt = load_checkpoint(latest_checkpoint(work / "phase1" / "ckpt"))["opt"]
        assert {(g["betas"], g["weight_decay"]) for g in opt["disc_loss"]["param_groups"]} == {((0.5, 0.9), 0.0)}
        assert {g["betas"] for g in opt["loss"]["param_groups"]} == {tuple(tiny.autoencoders.train.betas)}


def test_train_ae_is_a_function_of_params(tiny, tmp_path):
    """Same params, fresh run directory: bitwise the same weights (initialisation is seeded from params.seed)."""
    other = dataclasses.replace(tiny, paths=dataclasses.replace(tiny.paths, runs=str(tmp_path / "runs")))
    shutil.copytree(run_dir(tiny.paths, "featnets"), run_dir(other.paths, "featnets"))
    for params in (tiny, other):
        train_ae.main(params, "vmae")
    first, second = (torch.load(layout.autoencoder_weights(p.paths, "vmae"), weights_only=True) for p in (tiny, other))
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_unknown_item_fails_before_work(tiny):
    with pytest.raises(ValueError, match="unknown autoencoder item 'vqgan'"):
        train_ae.main(tiny, "vqgan")
    assert not layout.autoencoder_dir(tiny.paths, "vqgan").exists()


def test_reference_statistics_per_split_and_extractor(tiny):
    from bench.metrics import load_reference

    extractors = suite_extractors(tiny.metrics, tiny.paths, torch.device("cpu"), tiny.judges.members)
    assert list(extractors) == [layout.judge_name(k) for k in range(tiny.judges.members)]
    for dataset in ("shapes", "faces"):
        for split in ("train", "eval"):
            n = tiny.data.sets[dataset].num_train if split == "train" else tiny.data.sets[dataset].num_eval
            for name, extractor in extractors.items():
                ref = load_reference(layout.reference(tiny.paths, dataset, split, name), extractor.identity)
                assert ref.pool.shape[0] == n and ref.sigma.shape == (ref.mu.shape[0],) * 2
        # The judges' own split and the tuning split are never references.
        written = {p.name for p in Path(run_dir(tiny.paths, "reference", dataset)).glob("*.npz")}
        assert written == {f"{split}.{name}.npz" for split in ("train", "eval") for name in extractors}
