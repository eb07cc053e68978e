"""Tests of the suite's own feature networks (bench.featnets) and the extractors built on them (bench.features).

Nothing here may touch the network: `offline` blocks sockets and points TORCH_HOME at an empty folder, and the
tests check that folder is still empty afterwards. The judge network itself (JudgeNet, its segmentation head, the
judges stage) is tested in tests/test_judges.py.

Run: `python -m pytest tests/test_featnets.py -q`.
"""

import dataclasses
import socket
from pathlib import Path

import lpips
import pytest
import torch
import torch_fidelity
import torchvision
from torch.utils.data import DataLoader, Dataset

from bench import layout
from bench import metrics as M
from bench.classifier import accuracy, classifier_loss
from bench.featnets import (
    JUDGE_NET,
    VGG16_FILE,
    PerceptualDistance,
    build_featnet,
    featnet_state,
    load_featnet,
    load_perceptual,
)
from bench.features import INCEPTION_FILE, build_extractor, extract_features, suite_extractors
from tests.conftest import tiny_params


class UInt8Images(Dataset):
    """In-memory dataset of uint8 (3, H, W) tensors, torch-fidelity's input convention."""

    def __init__(self, images: torch.Tensor) -> None:
        self.images = images

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        return self.images[i]


@pytest.fixture
def offline(tmp_path, monkeypatch):
    """No sockets, and an empty torch hub home; yields that home so a test can check nothing was written."""

    def refuse(*args, **kwargs):
        raise OSError("network access attempted in an offline test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    home = tmp_path / "torch_home"
    home.mkdir()
    monkeypatch.setenv("TORCH_HOME", str(home))
    yield home
    assert not any(home.rglob("*")), f"files appeared under TORCH_HOME: {list(home.rglob('*'))}"


def images(n: int, size: int, seed: int, scale: float = 2.0) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * scale - 1


def uint8(n: int, size: int, seed: int) -> torch.Tensor:
    return (torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 255).to(torch.uint8)


# ---------------------------------------------------------------------------------------------
# Networks
# ---------------------------------------------------------------------------------------------


def test_perceptual_distance_properties():
    dist = PerceptualDistance(build_featnet("percep-vgg-v1", num_classes=4, input_size=32))
    x, y = images(5, 32, 0), images(5, 32, 1)
    assert dist.name == "percep-own"
    assert torch.equal(dist(x, x), torch.zeros(5))
    y.requires_grad_(True)
    d = dist(x, y)
    assert d.shape == (5,) and (d > 0).all()
    d.sum().backward()
    assert torch.isfinite(y.grad).all() and y.grad.abs().sum() > 0
    with torch.no_grad():
        one_by_one = torch.cat([dist(x[i : i + 1], y[i : i + 1]) for i in range(5)])
    torch.testing.assert_close(d.detach(), one_by_one, rtol=1e-5, atol=1e-6)
    assert not any(p.requires_grad for p in dist.parameters())
    assert not dist.train().training  # an autoencoder's .train() must not switch the loss network to training
    assert dist(images(2, 16, 0), images(2, 16, 1)).shape == (2,)  # fully convolutional: any size >= 8


def test_unknown_network_and_mask_head_on_the_perceptual_network_are_refused():
    with pytest.raises(ValueError, match="unknown feature network"):
        build_featnet("judge-resnet-v9", 6, 32)
    with pytest.raises(ValueError, match="unknown feature network 'judge-resnet-v1'"):  # v1 is gone, not aliased
        build_featnet("judge-resnet-v1", 6, 32)
    with pytest.raises(ValueError, match="percep-vgg-v1 has no segmentation head"):
        build_featnet("percep-vgg-v1", 6, 32, num_masks=3)


def test_classifier_loss_accuracy_and_state_round_trip(tmp_path):
    judge = build_featnet(JUDGE_NET, num_classes=3, input_size=32)
    batch = {"image": images(6, 32, 2), "label": torch.tensor([0, 1, 2, 0, 1, 2])}
    out = classifier_loss(judge, batch, step=0)
    assert out["loss"].requires_grad and 0.0 <= float(out["acc"]) <= 1.0
    judge.eval()
    loader = DataLoader([{"image": im, "label": lb} for im, lb in zip(batch["image"], batch["label"], strict=True)], 4)
    expected = float((judge(batch["image"]).argmax(1) == batch["label"]).float().mean())
    assert accuracy(judge, loader) == pytest.approx(expected)
    torch.save(featnet_state(judge), tmp_path / "judge.pt")
    back = load_featnet(tmp_path / "judge.pt")
    torch.testing.assert_close(back(batch["image"]), judge(batch["image"]))


# ---------------------------------------------------------------------------------------------
# Extractors in torch-fidelity
# ---------------------------------------------------------------------------------------------


def test_judge_extractor_in_torch_fidelity_matches_the_suite(offline):
    judge = build_featnet(JUDGE_NET, num_classes=5, input_size=32)
    real, fake = uint8(24, 32, 0), uint8(24, 32, 1) // 2
    kw = dict(feature_extractor="judge", judge_network=judge, cuda=False, cache=False, verbose=False)
    kw |= dict(save_cpu_ram=True, batch_size=10, kid_subsets=4, kid_subset_size=12, rng_seed=7)
    same = torch_fidelity.calculate_metrics(
        input1=UInt8Images(real), input2=UInt8Images(real), fid=True, kid=True, prc=True, **kw
    )
    assert abs(same[torch_fidelity.KEY_METRIC_FID]) < 1e-6
    assert same[torch_fidelity.KEY_METRIC_PRECISION] == same[torch_fidelity.KEY_METRIC_RECALL] == 1.0
    tf = torch_fidelity.calculate_metrics(
        input1=UInt8Images(fake), input2=UInt8Images(real), fid=True, kid=True, prc=True, **kw
    )
    ext = build_extractor("judge", judge_network=judge)
    ref = M.reference_from_features(extract_features(ext, real.split(10)), "judge", ext.identity)
    ours = M.compute_generation_metrics(
        ref,
        extract_features(ext, fake.split(10)),
        is_splits=2,
        kid_subsets=4,
        kid_subset_size=12,
        prc_neighborhood=3,
        seed=7,
    )
    assert ours["fd[judge]"] == pytest.approx(tf[torch_fidelity.KEY_METRIC_FID], rel=1e-5)
    assert ours["kid[judge]"] == pytest.approx(tf[torch_fidelity.KEY_METRIC_KID_MEAN], rel=1e-4)
    assert ours["precision[judge]"] == tf[torch_fidelity.KEY_METRIC_PRECISION]
    assert ours["recall[judge]"] == tf[torch_fidelity.KEY_METRIC_RECALL]


def test_judge_extractor_resizes_and_fingerprints():
    judge = build_featnet(JUDGE_NET, num_classes=5, input_size=32)
    ext = build_extractor("judge", judge_network=judge)
    assert ext.identity.startswith(f"judge:{JUDGE_NET}@")
    assert extract_features(ext, [uint8(2, 48, 0)])["spatial"].shape == (2, 7 * 4 * 4)  # resized to 32 px first
    with torch.no_grad():
        judge.head.weight.add_(1.0)
    assert build_extractor("judge", judge_network=judge).identity != ext.identity
    with pytest.raises(ValueError, match="uint8"):
        ext(images(1, 32, 0))


def test_suite_extractors_are_the_judge_ensemble(offline, tmp_path):
    """One extractor per judges-stage member, named "judge-k", each with its own identity; Inception per params."""
    params = tiny_params(tmp_path)
    for k in range(3):
        torch.manual_seed(k)  # members differ as the judges stage's seeds make them differ
        path = layout.judge(params.paths, k)
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(featnet_state(build_featnet(JUDGE_NET, 5, 32, num_masks=4)), path)
    cpu = torch.device("cpu")
    suite = suite_extractors(params.metrics, params.paths, cpu, 3)
    assert list(suite) == ["judge-0", "judge-1", "judge-2"]  # no local Inception: `auto` leaves it out
    assert len({x.identity for x in suite.values()}) == 3
    assert all(x.identity.startswith(f"judge:{JUDGE_NET}@") for x in suite.values())
    assert list(suite_extractors(params.metrics, params.paths, cpu, 2)) == ["judge-0", "judge-1"]
    with pytest.raises(FileNotFoundError, match=INCEPTION_FILE):
        suite_extractors(dataclasses.replace(params.metrics, inception="required"), params.paths, cpu, 3)
    layout.judge(params.paths, 1).unlink()
    with pytest.raises(FileNotFoundError, match=r"judges/judge-1\.pt"):
        suite_extractors(params.metrics, params.paths, cpu, 3)


def test_inception_without_weights_raises_and_downloads_nothing(offline, tmp_path):
    weights = tmp_path / "weights"
    with pytest.raises(FileNotFoundError, match=INCEPTION_FILE) as err:
        build_extractor("inception", weights_dir=weights)
    assert str(weights / INCEPTION_FILE) in str(err.value) and "judge" in str(err.value)
    with pytest.raises(FileNotFoundError):
        torch_fidelity.calculate_metrics(
            input1=UInt8Images(uint8(4, 32, 0)), isc=True, feature_extractor="inception", cuda=False, verbose=False
        )


def test_inception_spatial_is_mixed_6d_branch1x1(offline, tmp_path):
    # Random weights with torch-fidelity's layout (torchvision's Inception3, 1008 classes, no aux head): this
    # checks the plumbing, not Inception's numbers.
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False, num_classes=1008)
    (tmp_path / "weights").mkdir()
    torch.save(net.state_dict(), tmp_path / "weights" / INCEPTION_FILE)
    ext = build_extractor("inception", weights_dir=tmp_path / "weights")
    seen = {}
    ext.net.Mixed_6d.register_forward_hook(lambda m, args, out: seen.update(x=args[0]))
    f = extract_features(ext, [uint8(2, 32, 0)])
    assert f["pool"].shape == (2, 2048) and f["logits_unbiased"].shape == (2, 1008) and f["spatial"].shape == (2, 2023)
    with torch.no_grad():
        branch = ext.net.Mixed_6d.branch1x1(seen["x"])  # (2, 192, 17, 17): conv -> BN -> ReLU
    torch.testing.assert_close(f["spatial"], branch[:, :7].permute(0, 2, 3, 1).reshape(2, -1))


# ---------------------------------------------------------------------------------------------
# Perceptual loader
# ---------------------------------------------------------------------------------------------


def test_load_perceptual_without_vgg_falls_back_or_explains(offline, tmp_path):
    with pytest.raises(FileNotFoundError, match=VGG16_FILE) as err:
        load_perceptual(tmp_path / "weights", own_path=tmp_path / "percep.pt")
    assert str(tmp_path / "weights" / VGG16_FILE) in str(err.value)
    torch.save(featnet_state(build_featnet("percep-vgg-v1", 4, 32)), tmp_path / "percep.pt")
    dist = load_perceptual(tmp_path / "weights", own_path=tmp_path / "percep.pt")
    assert dist.name == "percep-own"
    out = M.reconstruction_metrics(images(2, 32, 0), images(2, 32, 1), perceptual=dist)
    assert out[M.PERCEP_OWN].shape == (2,) and M.LPIPS_VGG not in out
    # The training multiplier scales the own distance exactly; the metric's loader keeps 1.
    scaled = load_perceptual(tmp_path / "weights", own_path=tmp_path / "percep.pt", own_scale=0.05)
    x, y = images(3, 32, 0), images(3, 32, 1)
    torch.testing.assert_close(scaled(x, y), 0.05 * dist(x, y), rtol=1e-6, atol=0.0)
    assert dist.scale == 1.0
    with pytest.raises(ValueError, match="scale must be > 0"):
        PerceptualDistance(build_featnet("percep-vgg-v1", 4, 32), scale=0.0)


def test_load_perceptual_uses_local_vgg16_for_lpips(offline, tmp_path):
    # stand-in for the ImageNet file: VGG16's `features` trunk with torchvision's keys (the classifier is unused)
    trunk = torchvision.models.vgg.make_layers(torchvision.models.vgg.cfgs["D"])
    (tmp_path / "weights").mkdir()
    torch.save({f"features.{k}": v for k, v in trunk.state_dict().items()}, tmp_path / "weights" / VGG16_FILE)
    dist = load_perceptual(tmp_path / "weights")
    assert dist.name == "lpips-vgg"
    torch.testing.assert_close(dist.lpips.net.state_dict()["slice3.12.weight"], trunk[12].weight)
    heads = torch.load(Path(lpips.__file__).parent / "weights" / "v0.1" / "vgg.pth", map_location="cpu")
    for k, v in heads.items():  # the human-calibrated linear heads shipped with lpips, not random ones
        torch.testing.assert_close(dist.lpips.state_dict()[k], v)
    x, y = images(2, 32, 0), images(2, 32, 1)
    d = dist(x, y)
    assert d.shape == (2,) and (d > 0).all() and torch.allclose(dist(x, x), torch.zeros(2))
    assert M.LPIPS_VGG in M.reconstruction_metrics(x, y, perceptual=dist)
