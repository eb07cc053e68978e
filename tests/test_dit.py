"""Tests for `diffusion.dit` and `diffusion.rope`: shapes, adaLN-Zero, guidance, label dropout, RoPE."""

from __future__ import annotations

import pytest
import torch

from diffusion.dit import DIT_MODELS, DiT, DiTConfig, build_dit
from diffusion.rope import AxialRoPE2d, apply_rope, rope_angles
from diffusion.train import make_loss
from tests.conftest import tiny_params

LATENT = 16  # latent channels of the paper's f8d16 autoencoders
CLASSES = 10

LIGHTNING = dict(qk_norm=True, use_rope=True, use_swiglu=True, use_rmsnorm=True)


def tiny(num_classes: int = CLASSES, dropout: float = 0.1, input_size: int = 8, **overrides) -> DiT:
    flags = {**LIGHTNING, **overrides}
    return build_dit(
        "DiT-XT/1",
        input_size=input_size,
        in_channels=LATENT,
        num_classes=num_classes,
        class_dropout_prob=dropout,
        **flags,
    )


def perturb(model: DiT, seed: int = 0) -> DiT:
    """Move every weight away from the zero init, so outputs depend on inputs, labels and time."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.05 * torch.randn(p.shape, generator=g))
    return model.eval()


def inputs(batch: int = 2, size: int = 8, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, LATENT, size, size, generator=g)
    t = torch.rand(batch, generator=g)
    y = torch.randint(0, CLASSES, (batch,), generator=g)
    return x, t, y


def test_dit_b1_shape_params_and_zero_init():
    model = build_dit(
        "DiT-B/1", input_size=8, in_channels=LATENT, num_classes=1000, class_dropout_prob=0.1, **LIGHTNING
    )
    n_params = sum(p.numel() for p in model.parameters())
    assert 125e6 < n_params < 135e6  # LightningDiT-B/1 is ~130 M
    assert model.blocks[0].mlp.fc1_g.out_features == int(2 / 3 * 4 * 768) == 2048  # SwiGLU width
    x, t, _ = inputs()
    y = torch.tensor([3, 999])
    with torch.no_grad():
        v = model(x, t, y)
    assert v.shape == x.shape
    assert torch.count_nonzero(v) == 0  # adaLN-Zero + zero final layer


@pytest.mark.parametrize("num_classes", [0, 1, CLASSES])
@pytest.mark.parametrize("use_rope", [True, False])
def test_zero_output_at_init_for_random_inputs(num_classes, use_rope):
    model = tiny(num_classes=num_classes, use_rope=use_rope).train()
    x, t, y = inputs(batch=3)
    v = model(x, t, y if num_classes > 1 else None)
    assert v.shape == x.shape
    assert torch.count_nonzero(v) == 0


@pytest.mark.parametrize("flags", [LIGHTNING, dict(qk_norm=False, use_rope=False, use_swiglu=False, use_rmsnorm=False)])
def test_patch_size_two_and_plain_dit_blocks(flags):
    cfg = DiTConfig(
        input_size=8,
        patch_size=2,
        in_channels=LATENT,
        hidden_size=64,
        depth=1,
        num_heads=2,
        mlp_ratio=4.0,
        num_classes=CLASSES,
        class_dropout_prob=0.1,
        **flags,
    )
    model = perturb(DiT(cfg))
    x, t, y = inputs()
    with torch.no_grad():
        v = model(x, t, y)
    assert v.shape == x.shape and torch.isfinite(v).all()
    with torch.no_grad():
        assert (model(x + 1, t, y) - v).abs().max() > 1e-3  # the perturbed model reads its input


@pytest.mark.parametrize("cfg_channels", ["all", "first3"])
def test_cfg_scale_one_equals_conditional(cfg_channels):
    model = perturb(tiny())
    x, t, y = inputs()
    with torch.no_grad():
        cond = model(x, t, y)
        guided = model.forward_with_cfg(x, t, y, 1.0, cfg_channels)
    torch.testing.assert_close(guided, cond, rtol=1e-5, atol=1e-5)


def test_first3_guides_only_three_channels_and_all_differs():
    model = perturb(tiny())
    x, t, y = inputs()
    with torch.no_grad():
        cond = model(x, t, y)
        first3 = model.forward_with_cfg(x, t, y, 4.0, "first3")
        full = model.forward_with_cfg(x, t, y, 4.0, "all")
    torch.testing.assert_close(first3[:, 3:], cond[:, 3:], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(first3[:, :3], full[:, :3], rtol=1e-5, atol=1e-5)
    assert (full[:, 3:] - cond[:, 3:]).abs().max() > 1e-3
    with pytest.raises(ValueError):
        model.forward_with_cfg(x, t, y, 4.0, "first4")


def test_label_dropout_only_in_train_mode():
    model = tiny(dropout=0.5)
    y = torch.randint(0, CLASSES, (4000,))
    model.train()
    dropped = model.drop_labels(y)
    frac = (dropped == CLASSES).float().mean().item()
    assert 0.45 < frac < 0.55  # 4000 draws: std of the fraction is ~0.008
    kept = dropped != CLASSES
    assert torch.equal(dropped[kept], y[kept])
    model.eval()
    assert torch.equal(model.drop_labels(y), y)
    # Eval forward is deterministic; train forward with dropout is not (for a perturbed model).
    perturb(model)
    x, t, yy = inputs(batch=64)
    with torch.no_grad():
        assert torch.equal(model(x, t, yy), model(x, t, yy))
        model.train()
        torch.manual_seed(0)
        a = model(x, t, yy)
        torch.manual_seed(1)
        b = model(x, t, yy)
    assert not torch.equal(a, b)


def test_unconditional_model_has_no_label_table_and_rejects_cfg():
    model = tiny(num_classes=1)
    assert model.y_embedder is None
    x, t, y = inputs()
    with pytest.raises(ValueError):
        model.forward_with_cfg(x, t, y, 2.0)


def test_state_dict_round_trip_excludes_fixed_tables():
    a, b = perturb(tiny(), seed=1), tiny()
    keys = a.state_dict().keys()
    assert not any("pos_embed" in k or "rope" in k for k in keys)
    b.load_state_dict(a.state_dict(), strict=True)
    x, t, y = inputs()
    with torch.no_grad():
        torch.testing.assert_close(a(x, t, y), b.eval()(x, t, y))


def test_bad_config_and_unknown_size_raise():
    with pytest.raises(ValueError):
        DiTConfig(7, 2, LATENT, 64, 1, 2, 4.0, 0, 0.0, True, True, True, True)  # 7 is not divisible by p = 2
    with pytest.raises(ValueError):
        DiTConfig(8, 1, LATENT, 65, 1, 2, 4.0, 0, 0.0, True, True, True, True)  # 65 is not divisible by 2 heads
    with pytest.raises(ValueError):
        build_dit("DiT-XXL/1")
    assert {"DiT-B/1", "DiT-S/1", "DiT-T/1", "DiT-XT/1"} <= set(DIT_MODELS)


def _scores(q, k, pq, pk, head_dim):
    """Dot product of q rotated at 2-D position pq with k rotated at pk."""
    rows = torch.tensor([pq[0], pk[0]], dtype=torch.float64)
    cols = torch.tensor([pq[1], pk[1]], dtype=torch.float64)
    ang = rope_angles(rows, cols, head_dim)  # (2, Dh) float64
    qr = apply_rope(q[None, None, None], ang.cos()[:1], ang.sin()[:1])
    kr = apply_rope(k[None, None, None], ang.cos()[1:], ang.sin()[1:])
    return (qr * kr).sum()


def test_rope_scores_depend_only_on_relative_offset():
    g = torch.Generator().manual_seed(0)
    head_dim = 32
    for _ in range(5):
        q, k = torch.randn(head_dim, generator=g, dtype=torch.float64), torch.randn(head_dim, generator=g).double()
        p = torch.randint(0, 16, (2,), generator=g).tolist()
        d = torch.randint(-8, 8, (2,), generator=g).tolist()
        s = torch.randint(-8, 8, (2,), generator=g).tolist()
        base = _scores(q, k, p, [p[0] + d[0], p[1] + d[1]], head_dim)
        moved = _scores(q, k, [p[0] + s[0], p[1] + s[1]], [p[0] + s[0] + d[0], p[1] + s[1] + d[1]], head_dim)
        torch.testing.assert_close(base, moved, rtol=1e-9, atol=1e-9)
        # ...and the offset matters (RoPE is not a no-op), along either axis.
        assert not torch.isclose(base, _scores(q, k, p, [p[0] + d[0] + 1, p[1] + d[1]], head_dim))
        assert not torch.isclose(base, _scores(q, k, p, [p[0] + d[0], p[1] + d[1] + 1], head_dim))


def test_rope_grid_is_row_major_with_rows_in_first_half():
    head_dim, side = 16, 4
    rope = AxialRoPE2d(head_dim, side)
    token = 2 * side + 3  # row 2, column 3
    ang = rope_angles(torch.tensor([2.0]), torch.tensor([3.0]), head_dim)[0]
    torch.testing.assert_close(rope.cos[token], ang.cos().float())
    # First half rotates with the row only: frequency 0 of the row axis has angle = row.
    torch.testing.assert_close(ang[:2], torch.tensor([2.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(ang[head_dim // 2 : head_dim // 2 + 2], torch.tensor([3.0, 3.0], dtype=torch.float64))
    # A rotation preserves norms.
    x = torch.randn(1, 2, side * side, head_dim)
    torch.testing.assert_close(rope(x).norm(dim=-1), x.norm(dim=-1))


def test_compiled_loss_runs_the_compiled_forward_with_eager_loss_and_gradients(tmp_path, single_thread):
    """`runtime.compile_dit`: the loss calls torch.compile(model), and the loss and the gradients reaching the
    trained module's parameters equal the eager ones. `aot_eager` traces forward and backward as inductor does
    but runs them without generating code, so the test needs no C++ compiler; a counting backend proves the
    compiled graph, not the plain module, was called."""
    params = tiny_params(tmp_path)
    model = perturb(tiny(), seed=3)  # eval mode: no label dropout, so both runs see the same labels
    g = torch.Generator().manual_seed(1)
    batch = {"latent": torch.randn(4, LATENT, 8, 8, generator=g), "label": torch.randint(0, CLASSES, (4,), generator=g)}
    graphs = []

    def counting_backend(gm, example_inputs):
        graphs.append(gm)
        return torch._dynamo.lookup_backend("aot_eager")(gm, example_inputs)

    def loss_and_grads(loss_fn):
        model.zero_grad(set_to_none=True)
        torch.manual_seed(0)  # the same t and noise in both runs
        loss = loss_fn(model, batch, 0)["loss"]
        loss.backward()
        return loss.detach(), [p.grad.clone() for p in model.parameters()]

    eager_loss, eager_grads = loss_and_grads(make_loss(params, conditional=True))
    compiled_fn = make_loss(params, conditional=True, compiled=torch.compile(model, backend=counting_backend))
    compiled_loss, compiled_grads = loss_and_grads(compiled_fn)
    assert graphs, "the compiled forward was never traced: the loss called the plain module"
    torch.testing.assert_close(compiled_loss, eager_loss, rtol=1e-5, atol=1e-6)
    for a, b in zip(compiled_grads, eager_grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)

    other = make_loss(params, conditional=True, compiled=torch.compile(tiny(), backend="eager"))
    with pytest.raises(ValueError, match="torch.compile\\(model\\) of the module being trained"):
        other(model, batch, 0)
