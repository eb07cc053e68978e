"""The `judges` stage: train the ensemble of evaluation networks the distribution metrics are computed with.

Run: `python -m bench.train_judges` (DVC stage `judges`). Where Inception-v3 weights are absent, every FD, sFD, IS,
KID and precision/recall of the suite comes from its own judges (`bench.featnets.JudgeNet`), so the judges are an
instrument and are treated as one:
- an ensemble: `judges.members` networks, member k trained with seed `seed + 1 + k`; every metric is computed by
  each member, and the spread across members enters the metric's confidence interval (`bench.uncertainty`);
- a split of their own: they learn the `judge` split of `featnets.sets`, disjoint from the autoencoders' and DiTs'
  train split and from the eval split, so the reference statistics (train and eval splits) are computed on images
  no judge has seen; held-out accuracy is read on the `val` split, never on eval;
- dense supervision: beside the class label (offset per set into one label space, as the perceptual network's),
  each pixel's part or object id from the generator's mask (offset per set likewise), weighted `judges.seg_weight`;
- augmentation by horizontal flips only (with left/right parts swapped in the mask); never the disturbances the
  `validate_metrics` stage tests them with: a metric taught the test proves nothing.

Writes `<runs>/judges/`: `judge-<k>.pt` per member (identity, config, state dict), `metrics.json` (per member:
val-split class accuracy overall and per set, pixel accuracy of the masks, whether it reaches
`judges.min_accuracy`), `params.json`; checkpoints and dvclive curves under `<runs>/work/judges/judge-<k>/`;
`meta.json` (with each member's plateau verdict, `bench.plateau`) under `<runs>/records/judges/`.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from bench import layout
from bench.config import Params, load_params
from bench.dist import cleanup, setup
from bench.featnets import JudgeNet, build_featnet, featnet_state
from bench.log import get_logger, setup_logging
from bench.loop import train
from bench.outputs import StageRecord, atomic_path, write_json
from bench.splits import fingerprint, open_split

log = get_logger(__name__)
EVAL_BATCH = 256  # accuracy is batch-size independent; this only bounds memory
TRAIN_SPLIT, CHECK_SPLIT = "judge", "val"


class OffsetTargets(Dataset):
    """A split whose labels and mask ids are shifted past the previous sets', so several sets share one space."""

    def __init__(self, split: Dataset, label_offset: int, mask_offset: int) -> None:
        self.split, self.label_offset, self.mask_offset = split, label_offset, mask_offset

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.split[i]
        out = {"image": item["image"], "label": item["label"] + self.label_offset}  # (3, S, S) in [-1, 1]
        if "mask" in item:
            out["mask"] = item["mask"].long() + self.mask_offset  # (S, S)
        return out


def joint_targets(params: Params, split: str) -> tuple[dict[str, Dataset], list[str], list[str]]:
    """Each set's split with offset targets, the joint label names and the joint mask names ("set:name").

    Raises:
        ValueError: a set has fewer than 2 labels, or no masks while `judges.seg_weight` > 0.
    """
    parts, labels, masks = {}, [], []
    for name in params.featnets.sets:
        s = open_split(params.paths, name, split)
        label_names, mask_names = s.meta["label_names"], s.meta["mask_names"]
        if len(label_names) < 2:
            raise ValueError(f"featnets.sets: '{name}' has {len(label_names)} label(s); the judges need at least 2")
        if params.judges.seg_weight > 0 and not mask_names:
            raise ValueError(
                f"featnets.sets: '{name}' has no segmentation masks, but judges.seg_weight = "
                f"{params.judges.seg_weight}: use sets with masks (embedded, ADE20K, CelebAMask-HQ) or set it to 0"
            )
        parts[name] = OffsetTargets(s, len(labels), len(masks))
        labels += [f"{name}:{x}" for x in label_names]
        masks += [f"{name}:{x}" for x in mask_names]
    return parts, labels, masks


def mirror_ids(mask_names: list[str]) -> torch.Tensor:
    """(M,) int64: the id each mask id becomes in the mirrored image ("set:l_eye" <-> "set:r_eye"; others fixed)."""
    index = {n: i for i, n in enumerate(mask_names)}
    out = []
    for n in mask_names:
        set_name, part = n.split(":", 1)
        twin = {"l_": "r_", "r_": "l_"}.get(part[:2])
        out.append(index.get(f"{set_name}:{twin}{part[2:]}", index[n]) if twin else index[n])
    return torch.tensor(out, dtype=torch.long)


def judge_loss(seg_weight: float, mirror: torch.Tensor):
    """The `bench.loop` loss of a judge: class cross-entropy + seg_weight * per-pixel mask cross-entropy.

    Random horizontal flips (from the loop's seeded RNG) mirror image and mask together, with left/right part ids
    swapped; labels are flip-invariant.
    """

    def loss(model: JudgeNet, batch: dict[str, Any], step: int) -> dict[str, torch.Tensor]:
        image = batch["image"]  # (B, 3, S, S)
        flip = torch.rand(image.shape[0], device=image.device) < 0.5
        image = torch.where(flip[:, None, None, None], image.flip(-1), image)
        logits = model(image)  # (B, K)
        label = batch["label"].long()
        cls = F.cross_entropy(logits, label)
        seg = logits.new_zeros(())
        if seg_weight > 0:
            mask = batch["mask"]  # (B, S, S) joint mask ids, mirrored with the image (left/right parts swapped)
            mask = torch.where(flip[:, None, None], mirror.to(mask.device)[mask.flip(-1)], mask)
            seg = F.cross_entropy(model.segment(image), mask[:, ::2, ::2])  # on stage 1's grid
        return {
            "loss": cls + seg_weight * seg,
            "cls": cls.detach(),
            "seg": seg.detach(),
            "acc": (logits.argmax(1) == label).float().mean().detach(),
        }

    return loss


@torch.no_grad()
def held_out(model: JudgeNet, part: Dataset) -> dict[str, float]:
    """Class accuracy and mask pixel accuracy of one set's held-out split, in [0, 1]."""
    model.eval()
    correct = pixels = hits = total = 0
    device = next(model.parameters()).device
    for batch in DataLoader(part, batch_size=EVAL_BATCH):
        image = batch["image"].to(device)
        correct += int((model(image).argmax(1).cpu() == batch["label"]).sum())
        total += len(batch["label"])
        if model.seg_head is not None and "mask" in batch:
            mask = batch["mask"][:, ::2, ::2].to(device)
            hits += int((model.segment(image).argmax(1) == mask).sum())  # on stage 1's grid
            pixels += mask.numel()
    return {"accuracy": correct / total, "pixel_accuracy": hits / pixels if pixels else float("nan")}


def main(params: Params) -> None:
    cfg = params.judges
    dist = setup(params.runtime, params.seed)
    setup_logging(dist.rank)
    record = StageRecord()
    train_parts, label_names, mask_names = joint_targets(params, TRAIN_SPLIT)
    check_parts, _, _ = joint_targets(params, CHECK_SPLIT)
    train_set = ConcatDataset(list(train_parts.values()))
    mirror = mirror_ids(mask_names)
    num_masks = len(mask_names) if cfg.seg_weight > 0 else 0

    members, plateaus = [], {}
    for k in range(cfg.members):
        model = build_featnet(cfg.network, len(label_names), params.data.resolution, num_masks)
        result = train(
            model,
            judge_loss(cfg.seg_weight, mirror),
            train_set,
            cfg.train,
            layout.work_dir(params.paths, "judges", layout.judge_name(k)),
            seed=params.seed + 1 + k,
            dist=dist,
            signature={
                "arch": cfg.network,
                "classes": label_names,
                "masks": mask_names,
                "seg_weight": cfg.seg_weight,
                "data": fingerprint(params.paths, params.featnets.sets, TRAIN_SPLIT),
            },
            desc=f"judges {layout.judge_name(k)}",
        )
        net = result.model.eval()
        plateaus[layout.judge_name(k)] = result.plateau
        per_set = {name: held_out(net, part) for name, part in check_parts.items()}
        n = {name: len(part) for name, part in check_parts.items()}
        acc = sum(per_set[s]["accuracy"] * n[s] for s in n) / sum(n.values())
        members.append(
            {
                "member": layout.judge_name(k),
                "seed": params.seed + 1 + k,
                "val_accuracy": acc,
                "val_per_set": per_set,
                "meets_min_accuracy": acc >= cfg.min_accuracy,
            }
        )
        if acc < cfg.min_accuracy:
            log.warning(
                "%s val accuracy %.3f < judges.min_accuracy %.2f: its metrics are weak evidence; train longer "
                "(judges.train.steps)", layout.judge_name(k), acc, cfg.min_accuracy,
            )  # fmt: skip
        if dist.is_main:
            with atomic_path(layout.judge(params.paths, k)) as tmp:
                torch.save(featnet_state(net.cpu()), tmp)
    if dist.is_main:
        out = layout.run_dir(params.paths, "judges")
        write_json(out / layout.METRICS_FILE, {"network": cfg.network, "split": TRAIN_SPLIT, "members": members})
        record.write(
            out,
            layout.record_dir(params.paths, "judges"),
            {
                "seed": params.seed,
                "data": {"resolution": params.data.resolution},
                "featnets": {"sets": params.featnets.sets},
                "judges": cfg,
            },
            world_size=dist.world_size,
            label_names=label_names,
            mask_names=mask_names,
            plateau=plateaus,
        )
    cleanup()


if __name__ == "__main__":
    main(load_params())
