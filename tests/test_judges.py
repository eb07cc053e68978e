"""Tests of the judge network (`bench.featnets.JudgeNet`, v2) and the `judges` stage (`bench.train_judges`).

The network: documented feature shapes at 32 and 64 px, the segmentation head, the state round trip. The loss:
it learns, and a flipped image gets a flipped mask with left and right parts swapped. The stage, on the tiny preset:
one file per ensemble member, val-split accuracy in metrics.json, and never a look at the eval (or train) split.

Run: `python -m pytest tests/test_judges.py -q` (the stage tests are marked slow: data -> judges, ~10 s).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from bench import data, layout, train_judges
from bench.embedded.faces import PART_NAMES
from bench.embedded.shapes import MASK_NAMES
from bench.featnets import (
    JUDGE_NET,
    SPATIAL_CHANNELS,
    FeatNetConfig,
    JudgeNet,
    build_featnet,
    featnet_state,
    load_featnet,
)
from bench.splits import SplitDataset
from bench.train_judges import held_out, joint_targets, judge_loss, mirror_ids
from tests.conftest import tiny_params

POOL_DIM = 3 * JudgeNet.NECK  # the three necks' global means
SPATIAL_DIM = SPATIAL_CHANNELS * JudgeNet.SPATIAL_GRID**2  # 7 channels on a 4x4 grid, at every input size


def images(n: int, size: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, size, size, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# ---------------------------------------------------------------------------------------------
# The network
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [32, 64])
def test_features_have_documented_shapes(size):
    judge = build_featnet(JUDGE_NET, num_classes=6, input_size=size).eval()
    assert isinstance(judge, JudgeNet) and judge.identity == JUDGE_NET and judge.seg_head is None
    x = images(3, size, 0)
    with torch.no_grad():
        f, necks = judge.features(x), judge.necks_of(x)
        logits = judge(x)
    assert (POOL_DIM, SPATIAL_DIM) == (96, 112)
    assert f["pool"].shape == (3, POOL_DIM) and f["logits_unbiased"].shape == (3, 6)
    assert f["spatial"].shape == (3, SPATIAL_DIM)  # a fixed 4x4 grid: the same length at 32 and 64 px
    assert [n.shape for n in necks] == [(3, JudgeNet.NECK, size // s, size // s) for s in (2, 4, 8)]
    # As documented: pool = the necks' global means; logits = the bias-free head on pool (forward = the logits);
    # spatial = the first 7 channels of the stride-4 neck averaged to 4x4, flattened in (H, W, C) order.
    torch.testing.assert_close(f["pool"], torch.cat([n.mean(dim=(2, 3)) for n in necks], dim=1))
    assert judge.head.bias is None
    torch.testing.assert_close(f["logits_unbiased"], f["pool"] @ judge.head.weight.T)
    torch.testing.assert_close(logits, f["logits_unbiased"])
    grid = F.adaptive_avg_pool2d(necks[1][:, :SPATIAL_CHANNELS], 4)  # (3, 7, 4, 4)
    torch.testing.assert_close(f["spatial"].view(3, 4, 4, SPATIAL_CHANNELS), grid.permute(0, 2, 3, 1))
    with pytest.raises(ValueError, match="resize first"):
        judge(images(1, size * 2, 0))


@pytest.mark.parametrize("size", [32, 64])
def test_segment_gives_mask_logits_at_half_the_input_size(size):
    judge = build_featnet(JUDGE_NET, num_classes=4, input_size=size, num_masks=5).eval()
    assert judge.seg_head.out_channels == 5
    with torch.no_grad():
        out = judge.segment(images(2, size, 1))
    assert out.shape == (2, 5, size // 2, size // 2) and torch.isfinite(out).all()  # on stage 1's grid
    with pytest.raises(ValueError, match="resize first"):
        judge.segment(images(1, 48, 0))


def test_segment_without_mask_head_raises():
    judge = build_featnet(JUDGE_NET, num_classes=4, input_size=32)
    with pytest.raises(ValueError, match="without a segmentation head"):
        judge.segment(images(1, 32, 0))


def test_judge_needs_four_stages():
    with pytest.raises(ValueError, match="4 stages"):
        JudgeNet(FeatNetConfig((32, 64, 128), num_classes=4, input_size=32), JUDGE_NET)


@pytest.mark.parametrize("num_masks", [0, 6])
def test_state_round_trip_keeps_the_mask_head(tmp_path, num_masks):
    """load_featnet reads the mask count off the state dict (`seg_head.weight`): nothing else records it."""
    torch.manual_seed(0)
    judge = build_featnet(JUDGE_NET, num_classes=4, input_size=32, num_masks=num_masks)
    with torch.no_grad():  # BN statistics away from their init, so a lost buffer would show
        judge.train()(images(8, 32, 3))
    judge.eval()
    state = featnet_state(judge)
    assert set(state) == {"identity", "config", "state_dict"} and "num_masks" not in state["config"]
    torch.save(state, tmp_path / "judge.pt")
    back = load_featnet(tmp_path / "judge.pt")
    assert isinstance(back, JudgeNet) and back.identity == JUDGE_NET and not back.training
    x = images(2, 32, 4)
    with torch.no_grad():
        for key, value in judge.features(x).items():
            torch.testing.assert_close(back.features(x)[key], value, rtol=0, atol=0)
        if num_masks:
            assert back.seg_head.out_channels == num_masks
            torch.testing.assert_close(back.segment(x), judge.segment(x), rtol=0, atol=0)
        else:
            assert back.seg_head is None
            with pytest.raises(ValueError, match="without a segmentation head"):
                back.segment(x)


# ---------------------------------------------------------------------------------------------
# Training pieces: mirrored mask ids, the loss, held-out accuracy
# ---------------------------------------------------------------------------------------------

JOINT_MASKS = [f"shapes:{n}" for n in MASK_NAMES] + [f"faces:{n}" for n in PART_NAMES]  # as joint_targets makes them


def test_mirror_ids_swap_left_and_right_parts_only():
    mirror = mirror_ids(JOINT_MASKS)
    index = {n: i for i, n in enumerate(JOINT_MASKS)}
    assert mirror.dtype == torch.long and mirror.shape == (len(JOINT_MASKS),)
    pairs = [("l_eye", "r_eye"), ("l_brow", "r_brow"), ("l_ear", "r_ear")]
    for left, right in pairs:
        assert mirror[index[f"faces:{left}"]] == index[f"faces:{right}"]
        assert mirror[index[f"faces:{right}"]] == index[f"faces:{left}"]
    swapped = {index[f"faces:{p}"] for pair in pairs for p in pair}
    for i, name in enumerate(JOINT_MASKS):
        if i not in swapped:  # l_lip has no r_lip twin; u_lip, nose, every shapes id: not sided
            assert mirror[i] == i, name
    torch.testing.assert_close(mirror[mirror], torch.arange(len(JOINT_MASKS)))  # an involution
    # The twin is looked up within the part's own set, never across sets.
    assert mirror_ids(["a:l_eye", "b:r_eye"]).tolist() == [0, 1]
    assert mirror_ids(["a:r_eye", "b:l_eye", "b:r_eye"]).tolist() == [0, 2, 1]


class Recorder(nn.Module):
    """Stands in for a judge: constant logits, and every image it is shown recorded."""

    def __init__(self, num_classes: int, num_masks: int) -> None:
        super().__init__()
        self.bias = nn.Parameter(torch.zeros(()))
        self.k, self.m, self.seen = num_classes, num_masks, []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(("forward", x))
        return self.bias + x.new_zeros(x.shape[0], self.k)

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(("segment", x))
        return self.bias + x.new_zeros(x.shape[0], self.m, x.shape[2] // 2, x.shape[3] // 2)  # stage 1's grid


def test_judge_loss_flips_image_and_mask_together(monkeypatch):
    """A flipped image is trained against its mask flipped too, with l_/r_ ids swapped; labels stay."""
    names = ["faces:background", "faces:l_eye", "faces:r_eye", "faces:nose"]
    mirror = mirror_ids(names)
    assert mirror.tolist() == [0, 2, 1, 3]
    targets = []

    def cross_entropy(input, target):
        targets.append(target)
        return F.cross_entropy(input, target)

    monkeypatch.setattr(train_judges, "F", SimpleNamespace(cross_entropy=cross_entropy))
    b, s = 16, 8
    x = images(b, s, 5)
    mask = torch.randint(0, len(names), (b, s, s), generator=torch.Generator().manual_seed(6))
    label = torch.arange(b) % 3
    model = Recorder(3, len(names))
    torch.manual_seed(0)
    out = judge_loss(0.5, mirror)(model, {"image": x, "label": label, "mask": mask}, step=0)

    assert [kind for kind, _ in model.seen] == ["forward", "segment"]
    seen = model.seen[0][1]
    torch.testing.assert_close(model.seen[1][1], seen)  # both heads see the same (flipped) batch
    torch.testing.assert_close(targets[0], label)
    flipped = torch.tensor([torch.equal(seen[i], x[i].flip(-1)) for i in range(b)])
    kept = torch.tensor([torch.equal(seen[i], x[i]) for i in range(b)])
    assert (flipped ^ kept).all() and 0 < int(flipped.sum()) < b  # seed 0 flips some of the batch, not all
    for i in range(b):  # the mask is compared on stage 1's grid: every second pixel of the (flipped) mask
        expected = (mirror[mask[i].flip(-1)] if flipped[i] else mask[i])[::2, ::2]
        torch.testing.assert_close(targets[1][i], expected)
    assert (targets[1][flipped] != mask[flipped][:, ::2, ::2]).any()  # the flip really moved ids
    torch.testing.assert_close(out["loss"], out["cls"] + 0.5 * out["seg"])
    assert out["loss"].requires_grad and 0.0 <= float(out["acc"]) <= 1.0


def test_judge_loss_without_masks_is_the_class_loss():
    model = Recorder(3, 2)
    x = images(4, 8, 0)
    out = judge_loss(0.0, mirror_ids(["s:a", "s:b"]))(model, {"image": x, "label": torch.tensor([0, 1, 2, 0])}, 0)
    assert [kind for kind, _ in model.seen] == ["forward"]  # no mask is needed, no segmentation is run
    assert float(out["seg"]) == 0.0 and float(out["loss"].detach()) == pytest.approx(math.log(3), rel=1e-6)


def test_judge_loss_decreases_on_a_fixed_batch():
    torch.manual_seed(0)
    s, names = 32, ["s:background", "s:l_eye", "s:r_eye", "s:nose"]
    model = build_featnet(JUDGE_NET, num_classes=3, input_size=s, num_masks=len(names))
    label = torch.tensor([0, 1, 2, 0, 1, 2, 0, 1])
    mask = torch.zeros(8, s, s, dtype=torch.long)
    mask[:, 8:16, 4:12], mask[:, 8:16, 20:28], mask[:, 18:26, 12:20] = 1, 2, 3  # l_eye on the left: a face
    x = images(8, s, 7) * 0.2 + 0.3 * mask[:, None].float() + 0.3 * label[:, None, None, None].float()
    loss_fn = judge_loss(1.0, mirror_ids(names))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    losses = []
    for step in range(12):
        out = loss_fn(model, {"image": x, "label": label, "mask": mask}, step)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        losses.append(float(out["loss"].detach()))
    assert all(math.isfinite(v) for v in losses)
    assert losses[-1] < 0.7 * losses[0], losses


def test_held_out_accuracies_are_fractions():
    torch.manual_seed(0)
    judge = build_featnet(JUDGE_NET, num_classes=3, input_size=32, num_masks=4).eval()
    x = images(10, 32, 8)
    labels = torch.arange(10) % 3
    masks = torch.randint(0, 4, (10, 32, 32), generator=torch.Generator().manual_seed(9))
    part = [{"image": x[i], "label": labels[i], "mask": masks[i]} for i in range(10)]
    out = held_out(judge, part)
    assert set(out) == {"accuracy", "pixel_accuracy"}
    assert 0.0 <= out["accuracy"] <= 1.0 and 0.0 <= out["pixel_accuracy"] <= 1.0
    with torch.no_grad():
        assert out["accuracy"] == pytest.approx(float((judge(x).argmax(1) == labels).float().mean()))
        hits = judge.segment(x).argmax(1) == masks[:, ::2, ::2]  # on stage 1's grid
        assert out["pixel_accuracy"] == pytest.approx(float(hits.float().mean()))
    no_head = build_featnet(JUDGE_NET, num_classes=3, input_size=32)
    assert math.isnan(held_out(no_head, part)["pixel_accuracy"])
    assert math.isnan(held_out(judge, [{"image": p["image"], "label": p["label"]} for p in part])["pixel_accuracy"])


# ---------------------------------------------------------------------------------------------
# The stage on the tiny preset
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def stage(tmp_path_factory):
    """(params, [(set, split) of every split the judges stage opened]) after data -> judges."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)  # the shared 2-core machine: oversubscribed torch is many times slower
    params = tiny_params(tmp_path_factory.mktemp("judges"))
    data.main(params)
    opened, init = [], SplitDataset.__init__

    def recording(self, root):  # every way of reading a split goes through here
        opened.append((Path(root).parent.name, Path(root).name))
        init(self, root)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(SplitDataset, "__init__", recording)
        train_judges.main(params)
    yield params, opened
    torch.set_num_threads(before)


@pytest.mark.slow
def test_stage_reads_only_the_judge_and_val_splits(stage):
    params, opened = stage
    assert set(opened) == {(s, split) for s in params.featnets.sets for split in ("judge", "val")}


@pytest.mark.slow
def test_stage_writes_one_judge_per_member_with_val_accuracy(stage):
    params, _ = stage
    out = layout.run_dir(params.paths, "judges")
    k = params.judges.members
    assert k == 3 and sorted(p.name for p in out.glob("*.pt")) == [f"judge-{i}.pt" for i in range(k)]
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["network"] == JUDGE_NET and metrics["split"] == "judge"
    assert [m["member"] for m in metrics["members"]] == ["judge-0", "judge-1", "judge-2"]
    assert [m["seed"] for m in metrics["members"]] == [params.seed + 1 + i for i in range(k)]
    parts, label_names, mask_names = joint_targets(params, "val")
    for i, m in enumerate(metrics["members"]):
        assert 0.0 <= m["val_accuracy"] <= 1.0
        assert m["meets_min_accuracy"] == (m["val_accuracy"] >= params.judges.min_accuracy)
        assert set(m["val_per_set"]) == set(params.featnets.sets)
        # The saved network is the one scored: its val accuracy, recomputed from the file.
        judge = load_featnet(layout.judge(params.paths, i))
        assert judge.identity == JUDGE_NET and judge.head.out_features == len(label_names)
        assert judge.seg_head.out_channels == len(mask_names) == len(JOINT_MASKS)
        for name, part in parts.items():
            again = held_out(judge, part)
            assert m["val_per_set"][name]["accuracy"] == pytest.approx(again["accuracy"])
            assert m["val_per_set"][name]["pixel_accuracy"] == pytest.approx(again["pixel_accuracy"])
    first, second = (load_featnet(layout.judge(params.paths, i)).state_dict() for i in (0, 1))
    assert any(not torch.equal(first[key], second[key]) for key in first)  # members are seeded apart
    recorded = json.loads((out / layout.PARAMS_FILE).read_text())
    assert recorded["judges"]["members"] == k and recorded["featnets"]["sets"] == list(params.featnets.sets)


@pytest.mark.slow
def test_joint_targets_offset_labels_and_masks_per_set(stage):
    params, _ = stage
    parts, label_names, mask_names = joint_targets(params, "val")
    assert mask_names == JOINT_MASKS
    shapes, faces = (SplitDataset(layout.split_dir(params.paths, s, "val")) for s in ("shapes", "faces"))
    n_labels = len(shapes.meta["label_names"])
    assert label_names[:n_labels] == [f"shapes:{n}" for n in shapes.meta["label_names"]]
    raw, item = faces[0], parts["faces"][0]
    assert int(item["label"]) == int(raw["label"]) + n_labels
    torch.testing.assert_close(item["mask"], raw["mask"].long() + len(MASK_NAMES))
    assert item["mask"].dtype == torch.long  # indexes the mirror table (a uint8 index would be a boolean mask)
