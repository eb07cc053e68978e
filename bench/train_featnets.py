"""The `featnets` stage: train the suite's own perceptual network on the dataset labels.

Run: `python -m bench.train_featnets` (DVC stage `featnets`). Nothing can be downloaded here, so where LPIPS-VGG
weights are absent the suite uses a classifier of its own (see `bench.featnets`) as the autoencoders' perceptual
training loss. It learns one label space, the union of `featnets.sets`' classes (each set's labels offset past the
previous set's), on their train splits: it is part of the autoencoders' training, like LPIPS-VGG's ImageNet.
The evaluation networks are another stage (`bench.train_judges`), trained on a split of their own.

Writes `<runs>/featnets/`: `perceptual.pt` (identity, config and state dict), `metrics.json` (held-out accuracy,
overall and per set), `params.json`; checkpoints and dvclive curves under `<runs>/work/featnets/perceptual/`;
`meta.json` (with the plateau verdict of the loss, `bench.plateau`) under `<runs>/records/featnets/`.
"""

from __future__ import annotations

import torch
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from bench import layout
from bench.classifier import accuracy, classifier_loss
from bench.config import Params, load_params
from bench.dist import cleanup, setup
from bench.featnets import build_featnet, featnet_state
from bench.log import get_logger, setup_logging
from bench.loop import train
from bench.outputs import StageRecord, atomic_path, write_json
from bench.splits import fingerprint, open_split

log = get_logger(__name__)
EVAL_BATCH = 256  # accuracy is batch-size independent; this only bounds memory


class OffsetLabels(Dataset):
    """A split whose labels are shifted by `offset`, so several sets share one label space."""

    def __init__(self, split: Dataset, offset: int) -> None:
        self.split, self.offset = split, offset

    def __len__(self) -> int:
        return len(self.split)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        item = self.split[i]
        return {"image": item["image"], "label": item["label"] + self.offset}


def joint_splits(params: Params, split: str) -> tuple[dict[str, Dataset], int, list[str]]:
    """Each set's split with offset labels, the total number of classes, and the joint label names."""
    parts, names, offset = {}, [], 0
    for name in params.featnets.sets:
        s = open_split(params.paths, name, split)
        labels = s.meta["label_names"]
        if len(labels) < 2:
            raise ValueError(f"featnets.sets: '{name}' has {len(labels)} label(s); a classifier needs at least 2")
        parts[name] = OffsetLabels(s, offset)
        names += [f"{name}:{label}" for label in labels]
        offset += len(labels)
    return parts, offset, names


def flip_loss(model, batch, step):
    """Cross-entropy with random horizontal flips (labels are flip-invariant; draws from the loop's seeded RNG)."""
    flip = torch.rand(batch["image"].shape[0], device=batch["image"].device) < 0.5
    image = torch.where(flip[:, None, None, None], batch["image"].flip(-1), batch["image"])
    return classifier_loss(model, {**batch, "image": image}, step)


def main(params: Params) -> None:
    cfg = params.featnets
    dist = setup(params.runtime, params.seed)
    setup_logging(dist.rank)
    record = StageRecord()
    out = layout.run_dir(params.paths, "featnets")
    train_parts, num_classes, label_names = joint_splits(params, "train")
    eval_parts, _, _ = joint_splits(params, "eval")
    train_set = ConcatDataset(list(train_parts.values()))

    metrics, plateaus = {}, {}
    for role, arch, seed in (("perceptual", cfg.perceptual, params.seed),):
        model = build_featnet(arch, num_classes, params.data.resolution)
        result = train(
            model,
            flip_loss,
            train_set,
            cfg.train,
            layout.work_dir(params.paths, "featnets", role),
            seed=seed,
            dist=dist,
            signature={"arch": arch, "classes": label_names, "data": fingerprint(params.paths, cfg.sets, "train")},
            desc=f"featnets {role}",
        )
        net = result.model.eval()
        per_set = {name: accuracy(net, DataLoader(part, batch_size=EVAL_BATCH)) for name, part in eval_parts.items()}
        overall = sum(per_set[n] * len(p) for n, p in eval_parts.items()) / sum(len(p) for p in eval_parts.values())
        metrics[role] = {"network": arch, "eval_accuracy": overall, "eval_accuracy_per_set": per_set}
        plateaus[role] = result.plateau
        if dist.is_main:
            with atomic_path(layout.featnet(params.paths, role)) as tmp:
                torch.save(featnet_state(net.cpu()), tmp)
    if dist.is_main:
        write_json(out / layout.METRICS_FILE, metrics)
        record.write(
            out,
            layout.record_dir(params.paths, "featnets"),
            {"seed": params.seed, "data": {"resolution": params.data.resolution}, "featnets": cfg},
            world_size=dist.world_size,
            num_classes=num_classes,
            label_names=label_names,
            plateau=plateaus,
        )
    cleanup()


if __name__ == "__main__":
    main(load_params())
