"""Global-index sharding and per-index seeding, so results do not depend on world size or batch size.

Sampling (diffusion) and the latent-noise sweep of eval_ae (autoencoders) both draw per-image noise this way, so it
lives below both. Every generated image has a global index `i` in `0 .. num_samples - 1`. Rank `r` of `W` processes
owns the indices `r, r + W, r + 2W, ...`: the same strided arithmetic as DiT's `sample_ddp.py` (`index = i *
world_size + rank + total`), minus its padding of the sample count to a multiple of the global batch, so no image is
made twice and none is dropped. The initial noise and (random) class label of image `i` are drawn from generators
seeded with `(base_seed, i)` alone, so image `i` is the same whichever process or batch produces it (unlike DiT and
LightningDiT, which seed per rank and draw a whole batch at once).

References:
- https://github.com/facebookresearch/DiT/blob/796c29e532f47bba17c5b9c5eb39b9354b8b7c64/sample_ddp.py
- https://github.com/isno0907/ldmae/blob/e145f9885b931789b462a714269fa0bb4e27b6f5/LDMAE/inference.py

Use: `idx = shard_indices(n, rank, world)`, then for each batch `b` of `idx`:
`z = sample_noise(b, (C, H, W), seed).to(device)`, `y = sample_labels(b, num_classes, seed).to(device)`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

# Independent random streams per image: the label stream never shifts when the latent shape changes.
_NOISE_STREAM = 0
_LABEL_STREAM = 1


def shard_indices(num_samples: int, rank: int, world_size: int) -> list[int]:
    """Global sample indices owned by one process (strided split).

    Args:
        num_samples: total number of samples N; indices are `0 .. N - 1`.
        rank: this process's rank, `0 <= rank < world_size`.
        world_size: number of processes.

    Returns:
        Sorted indices `rank, rank + world_size, ...` below N; the shards of all ranks partition `0 .. N - 1`.
    """
    if num_samples < 0:
        raise ValueError(f"num_samples must be >= 0, got {num_samples}")
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f"need 0 <= rank < world_size and world_size >= 1, got rank={rank}, world_size={world_size}")
    return list(range(rank, num_samples, world_size))


def index_generator(base_seed: int, index: int, stream: int) -> torch.Generator:
    """A CPU generator that depends only on `(base_seed, index, stream)`.

    numpy's `SeedSequence` hashes the tuple, so nearby seeds and indices give unrelated streams (a sum such as
    `base_seed * K + index` would make seed 1 / image 0 collide with seed 0 / image K).

    Args:
        base_seed: the run's sampling seed.
        index: global sample index (>= 0).
        stream: which quantity is drawn (noise or label).

    Returns:
        A seeded `torch.Generator` on the CPU.
    """
    if base_seed < 0 or index < 0:
        raise ValueError(f"base_seed and index must be >= 0, got {base_seed}, {index}")
    seq = np.random.SeedSequence(entropy=base_seed, spawn_key=(index, stream))
    seed = int(seq.generate_state(1, dtype=np.uint64)[0])
    return torch.Generator(device="cpu").manual_seed(seed)


def sample_noise(indices: Sequence[int], shape: Sequence[int], base_seed: int) -> torch.Tensor:
    """Initial Gaussian noise of the given images, one generator per image.

    Args:
        indices: global sample indices, length B.
        shape: per-sample shape, e.g. `(C, H, W)`.
        base_seed: the run's sampling seed.

    Returns:
        (B, *shape) float32 CPU tensor of N(0, 1) noise; row b depends only on `(base_seed, indices[b])`.
    """
    rows = [torch.randn(tuple(shape), generator=index_generator(base_seed, i, _NOISE_STREAM)) for i in indices]
    return torch.stack(rows) if rows else torch.empty((0, *shape))


def sample_labels(indices: Sequence[int], num_classes: int, base_seed: int) -> torch.Tensor:
    """Uniform random class labels of the given images (as LightningDiT's `randint`, but per index).

    Args:
        indices: global sample indices, length B.
        num_classes: number of real classes K (labels are in `0 .. K - 1`).
        base_seed: the run's sampling seed.

    Returns:
        (B,) int64 CPU tensor; entry b depends only on `(base_seed, indices[b])`.
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be >= 1, got {num_classes}")
    labels = [
        int(torch.randint(num_classes, (1,), generator=index_generator(base_seed, i, _LABEL_STREAM))) for i in indices
    ]
    return torch.tensor(labels, dtype=torch.int64)
