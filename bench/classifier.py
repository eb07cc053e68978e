"""Classifier training loss and held-out accuracy of the featnets stage's perceptual network.

Split from `bench.featnets` (the networks themselves): these are what `bench.loop.train` and the stage call.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from bench.featnets import FeatNet


def classifier_loss(model: FeatNet, batch: dict[str, Any], step: int = 0) -> dict[str, torch.Tensor]:
    """Cross-entropy on the dataset labels.

    Args:
        model: a `FeatNet`.
        batch: {"image": (B, 3, S, S) float in [-1, 1], "label": (B,) int64 in [0, K)}.
        step: unused (the `bench.loop` loss signature).

    Returns:
        {"loss": scalar cross-entropy, "acc": scalar batch accuracy in [0, 1] (no gradient)}.
    """
    logits = model(batch["image"])  # (B, K)
    label = batch["label"].long()
    return {"loss": F.cross_entropy(logits, label), "acc": (logits.argmax(1) == label).float().mean().detach()}


@torch.no_grad()
def accuracy(model: FeatNet, loader) -> float:
    """Held-out top-1 accuracy in [0, 1] over an iterable of batches shaped as in `classifier_loss`."""
    was_training, device = model.training, next(model.parameters()).device
    model.eval()
    correct = total = 0
    for batch in loader:
        pred = model(batch["image"].to(device)).argmax(1).cpu()
        correct += int((pred == batch["label"].long()).sum())
        total += len(pred)
    model.train(was_training)
    if total == 0:
        raise ValueError("accuracy() got an empty loader: check the eval split")
    return correct / total
