"""Issue 12 item 5's treatment of Fig. 7's inputs: majority cell labels with a purity cut, one-scale normalisation,
the raw reference projected to the latents' dimension, and what a cell can see of the segments.

References: scipy.stats.mode per cell (smallest id on ties, as `cell_labels`), `downsample_mask` for the centre rule,
numpy's eigendecomposition of the covariance for the PCA projection, closed forms for the normalisations.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats

from bench.compression import cell_labels, downsample_mask
from bench.latent_features import normalise, project, segment_sizes


def test_majority_labels_match_scipy_mode_per_cell_and_the_purity_cut():
    rng = np.random.default_rng(0)
    mask = rng.integers(0, 4, (24, 24))
    mask[:8, :8] = 2  # one pure cell
    labels, share = cell_labels(mask, 3, 3, "majority", purity=0.0)
    for i in range(3):
        for j in range(3):
            block = mask[8 * i : 8 * i + 8, 8 * j : 8 * j + 8].reshape(-1)
            mode = scipy.stats.mode(block)
            assert labels[i, j] == mode.mode and share[i, j] == pytest.approx(mode.count / 64)
    assert labels[0, 0] == 2 and share[0, 0] == 1.0
    cut, _ = cell_labels(mask, 3, 3, "majority", purity=0.5)
    assert (cut == np.where(share >= 0.5, labels, -1)).all() and cut[0, 0] == 2 and (cut == -1).sum() == 8


def test_centre_rule_is_the_releases_nearest_resize_with_its_share():
    mask = np.zeros((8, 8), np.int64)
    mask[:, 4:] = 5
    mask[6, 6] = 7  # the centre pixel of cell (1, 1) of a 2x2 grid (PIL: floor(1.5 * 4)): one pixel of 16
    labels, share = cell_labels(mask, 2, 2, "centre", purity=0.9)  # purity only cuts majority cells
    assert (labels == downsample_mask(mask, 2, 2)).all() and labels[1, 1] == 7
    assert share[1, 1] == pytest.approx(1 / 16) and share[0, 0] == 1.0
    assert cell_labels(mask, 2, 2, "majority", purity=0.5)[0][1, 1] == 5  # the majority ignores one odd pixel


def test_bad_grids_and_rules_are_named():
    with pytest.raises(ValueError, match="integer multiple"):
        cell_labels(np.zeros((10, 8)), 2, 2, "majority", 0.5)
    with pytest.raises(ValueError, match="rule must be one of"):
        cell_labels(np.zeros((8, 8)), 2, 2, "mode", 0.5)


def test_global_normalisation_keeps_a_dead_channel_dead():
    rng = np.random.default_rng(1)
    feats = np.stack([rng.normal(3.0, 2.0, (50, 4, 4)), rng.normal(-1.0, 1e-3, (50, 4, 4))], axis=-1)
    per_channel, _, _ = normalise(feats, "channel")
    one_scale, mean, scale = normalise(feats, "global")
    assert per_channel.reshape(-1, 2).std(0) == pytest.approx([1.0, 1.0])  # the dead channel blown up to unit std
    stds = feats.reshape(-1, 2).std(0)
    assert scale == pytest.approx(np.full(2, np.sqrt(np.mean(stds**2))))  # one scale: root mean variance
    assert (one_scale.reshape(-1, 2) ** 2).mean(0).sum() == pytest.approx(2.0)  # mean variance 1 over channels
    assert one_scale[..., 1].std() < 1e-3 and mean == pytest.approx(feats.reshape(-1, 2).mean(0))
    with pytest.raises(ValueError, match="normalise must be"):
        normalise(feats, "pixel")


def test_projection_keeps_the_top_principal_variances():
    rng = np.random.default_rng(2)
    feats = rng.normal(size=(30, 4, 4, 12)) * np.linspace(3, 0.1, 12)  # distinct variances
    out = project(feats, 5, seed=0)
    assert out.shape == (30, 4, 4, 5)
    flat = feats.reshape(-1, 12)
    top = np.sort(np.linalg.eigvalsh(np.cov(flat.T)))[::-1][:5]
    assert np.var(out.reshape(-1, 5), axis=0, ddof=1) == pytest.approx(top, rel=1e-8)
    with pytest.raises(ValueError, match="cannot project"):
        project(feats, 13, seed=0)


def test_segment_sizes_say_which_parts_can_own_a_cell():
    masks = np.zeros((2, 8, 8), np.int64)
    masks[:, :4, :4] = 1  # 16 px: exactly one 4x4 cell
    masks[:, 6, 6] = 2  # 1 px: can never own a cell
    labels = np.stack([cell_labels(m, 2, 2, "majority", 0.5)[0] for m in masks])
    out = segment_sizes(masks, labels, unlabelled=(), cell=16, min_cells=1)
    assert out["cell_pixels"] == 16 and out["segments_owning_a_cell"] == pytest.approx(2 / 3)  # 0 and 1 of 0, 1, 2
    assert out["segment_pixels_median"] == 16 and out["segments_per_image"] == 2 and out["cells_labelled"] == 1
    assert segment_sizes(masks, labels, unlabelled=(0,), cell=16, min_cells=2)["segments_per_image"] == 1
