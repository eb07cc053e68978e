"""LightningDiT-style diffusion transformer that predicts rectified-flow velocities on autoencoder latents.

The LDMAE paper ("Latent Diffusion Models with Masked AutoEncoders", ICCV 2025) trains LightningDiT-B/1 on each
autoencoder's 16-channel latents. LightningDiT is DiT (Peebles & Xie, ICCV 2023) plus: RMSNorm in the blocks and the
final layer, SwiGLU FFN (hidden `int(2/3 * mlp_ratio * D)`), QK-norm, 2-D RoPE on top of the fixed sin-cos absolute
embedding, and `learn_sigma = False`. Conditioning is adaLN-Zero with shift on `c = t_emb + y_emb`; the timestep is
fed unscaled in [0, 1], as LightningDiT does. Each extra is a config flag so the plain DiT block remains available.

Guidance: `forward_with_cfg` guides all latent channels by default; `cfg_channels="first3"` reproduces the
DiT/LightningDiT legacy that guides only channels 0-2 (a leftover from 4-channel SD-VAE latents).

References:
- https://github.com/facebookresearch/DiT/blob/4961bcb01370bc5a552909b2f4c1b0f096e3f79e/models.py
- https://github.com/isno0907/ldmae/blob/e145f9885b931789b462a714269fa0bb4e27b6f5/LDMAE/models/lightningdit.py
- https://github.com/hustvl/LightningDiT/blob/main/models/lightningdit.py

Import only: build with `build_dit("DiT-B/1", input_size=32, in_channels=16, ...)`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F
from timm.layers import Mlp, SwiGLU
from torch import nn

from bench.layers import TimestepEmbedder, patchify, sincos_2d, unpatchify
from diffusion.rope import AxialRoPE2d

NORM_EPS = 1e-6  # DiT's LayerNorm and LightningDiT's RMSNorm epsilon


@dataclass(frozen=True)
class DiTConfig:
    """Architecture of one DiT. `num_classes` 0 or 1 means unconditional; otherwise the null class is
    `num_classes` (the last row of the label table) and is used for label dropout and guidance."""

    input_size: int  # latent grid side H = W
    patch_size: int
    in_channels: int  # latent channels; also the output channels (learn_sigma is False)
    hidden_size: int
    depth: int
    num_heads: int
    mlp_ratio: float
    num_classes: int
    class_dropout_prob: float  # probability of replacing a label by the null class during training
    qk_norm: bool
    use_rope: bool
    use_swiglu: bool
    use_rmsnorm: bool

    def __post_init__(self) -> None:
        if self.hidden_size % self.num_heads:
            raise ValueError(f"hidden_size {self.hidden_size} is not divisible by num_heads {self.num_heads}")
        if self.input_size % self.patch_size:
            raise ValueError(f"input_size {self.input_size} is not divisible by patch_size {self.patch_size}")
        if not 0.0 <= self.class_dropout_prob < 1.0:
            raise ValueError(f"class_dropout_prob must be in [0, 1), got {self.class_dropout_prob}")

    @property
    def conditional(self) -> bool:
        return self.num_classes > 1


def modulate(x: torch.Tensor, shift: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """adaLN: (B, T, D) tokens, (B, D) shift and scale."""
    return x * (1 + scale.unsqueeze(1)) + shift.unsqueeze(1)


class RMSNorm(nn.RMSNorm):
    """RMSNorm with a learnable gain, computed in fp32 and cast back (LightningDiT normalises `x.float()`).

    A bf16 input with an fp32 gain would miss torch's fused kernel; torch's RMSNorm equals timm's `RmsNorm`
    numerically and was ~25% faster forward + backward on this CPU.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x.float(), self.normalized_shape, self.weight, self.eps).to(x.dtype)


def make_norm(dim: int, rms: bool, affine: bool) -> nn.Module:
    """RMSNorm (LightningDiT) or DiT's LayerNorm (no affine in blocks, affine in QK-norm)."""
    return RMSNorm(dim, eps=NORM_EPS) if rms else nn.LayerNorm(dim, eps=NORM_EPS, elementwise_affine=affine)


class Attention(nn.Module):
    """Multi-head self-attention with optional per-head QK-norm and RoPE (applied after the norm)."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        self.num_heads = cfg.num_heads
        head_dim = cfg.hidden_size // cfg.num_heads
        self.qkv = nn.Linear(cfg.hidden_size, 3 * cfg.hidden_size)
        self.q_norm = make_norm(head_dim, cfg.use_rmsnorm, affine=True) if cfg.qk_norm else nn.Identity()
        self.k_norm = make_norm(head_dim, cfg.use_rmsnorm, affine=True) if cfg.qk_norm else nn.Identity()
        self.proj = nn.Linear(cfg.hidden_size, cfg.hidden_size)

    def forward(self, x: torch.Tensor, rope: AxialRoPE2d | None) -> torch.Tensor:
        b, t, d = x.shape
        qkv = self.qkv(x).reshape(b, t, 3, self.num_heads, d // self.num_heads)  # (B, T, 3, heads, Dh)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # (B, heads, T, Dh) each
        q, k = self.q_norm(q).to(v.dtype), self.k_norm(k).to(v.dtype)  # (B, heads, T, Dh); autocast may upcast norms
        if rope is not None:
            q, k = rope(q), rope(k)  # (B, heads, T, Dh)
        x = F.scaled_dot_product_attention(q, k, v)  # (B, heads, T, Dh)
        return self.proj(x.transpose(1, 2).reshape(b, t, d))  # (B, T, D)


class DiTBlock(nn.Module):
    """Pre-norm transformer block with adaLN-Zero (shift, scale, gate for attention and for the FFN)."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.norm1 = make_norm(d, cfg.use_rmsnorm, affine=False)
        self.attn = Attention(cfg)
        self.norm2 = make_norm(d, cfg.use_rmsnorm, affine=False)
        hidden = int(d * cfg.mlp_ratio)
        if cfg.use_swiglu:
            # 2/3 keeps the parameter count of the GELU MLP (three matrices instead of two).
            self.mlp = SwiGLU(d, int(2 / 3 * hidden))
        else:
            self.mlp = Mlp(d, hidden, act_layer=partial(nn.GELU, approximate="tanh"))
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 6 * d))

    def forward(self, x: torch.Tensor, c: torch.Tensor, rope: AxialRoPE2d | None) -> torch.Tensor:
        shift1, scale1, gate1, shift2, scale2, gate2 = self.adaLN_modulation(c).chunk(6, dim=1)  # (B, D) each
        x = x + gate1.unsqueeze(1) * self.attn(modulate(self.norm1(x), shift1, scale1), rope)  # (B, T, D)
        x = x + gate2.unsqueeze(1) * self.mlp(modulate(self.norm2(x), shift2, scale2))  # (B, T, D)
        return x


class FinalLayer(nn.Module):
    """adaLN (shift, scale) then a linear map from tokens to patches of velocity."""

    def __init__(self, cfg: DiTConfig) -> None:
        super().__init__()
        d = cfg.hidden_size
        self.norm_final = make_norm(d, cfg.use_rmsnorm, affine=False)
        self.linear = nn.Linear(d, cfg.patch_size**2 * cfg.in_channels)
        self.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(d, 2 * d))

    def forward(self, x: torch.Tensor, c: torch.Tensor) -> torch.Tensor:
        shift, scale = self.adaLN_modulation(c).chunk(2, dim=1)  # (B, D) each
        return self.linear(modulate(self.norm_final(x), shift, scale))  # (B, T, p*p*C)


class DiT(nn.Module):
    """Velocity network `v(x_t, t, y)` for rectified flow on latents (see the module docstring)."""

    def __init__(self, config: DiTConfig) -> None:
        super().__init__()
        self.config = config
        d, p = config.hidden_size, config.patch_size
        self.grid = config.input_size // p
        self.x_embedder = nn.Linear(p * p * config.in_channels, d)  # patch embedding as a linear map on patchify
        self.t_embedder = TimestepEmbedder(d)
        # One extra row for the null class, so guidance works even when trained without label dropout.
        self.y_embedder = nn.Embedding(config.num_classes + 1, d) if config.conditional else None
        # Fixed tables, rebuilt from the config: non-persistent so checkpoints hold learnt weights only.
        self.register_buffer("pos_embed", sincos_2d(d, self.grid).unsqueeze(0), persistent=False)  # (1, T, D)
        self.rope = AxialRoPE2d(d // config.num_heads, self.grid) if config.use_rope else None
        self.blocks = nn.ModuleList([DiTBlock(config) for _ in range(config.depth)])
        self.final_layer = FinalLayer(config)
        self.initialize_weights()

    def initialize_weights(self) -> None:
        """DiT initialisation; every deviation from xavier-uniform weights and zero biases is listed."""
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        for block in self.blocks:
            if isinstance(block.mlp, SwiGLU):
                # LightningDiT fuses gate and value into one (2h x D) Linear: xavier bound of the fused shape.
                h, d = block.mlp.fc1_g.weight.shape
                fused = nn.init.xavier_uniform_(torch.empty(2 * h, d))
                block.mlp.fc1_g.weight.data.copy_(fused[:h])
                block.mlp.fc1_x.weight.data.copy_(fused[h:])
            # adaLN-Zero: zero modulation makes every block the identity at init (gates are 0).
            nn.init.zeros_(block.adaLN_modulation[-1].weight)
            nn.init.zeros_(block.adaLN_modulation[-1].bias)
        if self.y_embedder is not None:
            # Label table ~ N(0, 0.02), as DiT (nn.Embedding's default N(0, 1) would swamp the time embedding).
            nn.init.normal_(self.y_embedder.weight, std=0.02)
        # Timestep MLP ~ N(0, 0.02) weights, as DiT.
        nn.init.normal_(self.t_embedder.mlp[0].weight, std=0.02)
        nn.init.normal_(self.t_embedder.mlp[2].weight, std=0.02)
        # Zero final modulation and output projection: the model predicts v = 0 at init.
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].weight)
        nn.init.zeros_(self.final_layer.adaLN_modulation[-1].bias)
        nn.init.zeros_(self.final_layer.linear.weight)
        nn.init.zeros_(self.final_layer.linear.bias)

    def drop_labels(self, y: torch.Tensor) -> torch.Tensor:
        """Replace each label by the null class with probability `class_dropout_prob` (train mode only)."""
        if not self.training or self.config.class_dropout_prob == 0:
            return y
        drop = torch.rand(y.shape[0], device=y.device) < self.config.class_dropout_prob  # (B,)
        return torch.where(drop, torch.full_like(y, self.config.num_classes), y)

    def forward(self, x: torch.Tensor, t: torch.Tensor, y: torch.Tensor | None = None) -> torch.Tensor:
        """Predict the velocity.

        Args:
            x: (B, C, H, W) noisy latents x_t.
            t: (B,) times in [0, 1] (0 = noise, 1 = data).
            y: (B,) int64 labels in [0, num_classes] (num_classes = null); ignored (may be None) if unconditional.

        Returns:
            (B, C, H, W) velocity.
        """
        p, cfg = self.config.patch_size, self.config
        h = self.x_embedder(patchify(x, p)) + self.pos_embed  # (B, T, D), T = H * W / p^2
        c = self.t_embedder(t)  # (B, D)
        if self.y_embedder is not None:
            if y is None:
                raise ValueError("a class-conditional DiT needs labels y; pass the null class to drop them")
            c = c + self.y_embedder(self.drop_labels(y))  # (B, D)
        for block in self.blocks:
            h = block(h, c, self.rope)  # (B, T, D)
        h = self.final_layer(h, c)  # (B, T, p * p * C)
        return unpatchify(h, p, (self.grid, self.grid), cfg.in_channels)  # (B, C, H, W)

    def forward_with_cfg(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        y: torch.Tensor,
        cfg_scale: float,
        cfg_channels: Literal["all", "first3"] = "all",
    ) -> torch.Tensor:
        """Classifier-free guided velocity `uncond + w * (cond - uncond)`; cond and uncond run as one batch.

        Args:
            x: (B, C, H, W) noisy latents.
            t: (B,) times.
            y: (B,) real class labels.
            cfg_scale: guidance scale w (1 returns the conditional velocity).
            cfg_channels: "all" guides every channel; "first3" guides channels 0-2 and returns the conditional
                velocity elsewhere (DiT/LightningDiT legacy).

        Returns:
            (B, C, H, W) guided velocity.
        """
        if self.y_embedder is None:
            raise ValueError("classifier-free guidance needs a class-conditional model (num_classes > 1)")
        if cfg_channels not in ("all", "first3"):
            raise ValueError(f"cfg_channels must be 'all' or 'first3', got {cfg_channels!r}")
        null = torch.full_like(y, self.config.num_classes)  # (B,)
        v = self.forward(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))  # (2B, C, H, W)
        cond, uncond = v.chunk(2)  # (B, C, H, W) each
        guided = uncond + cfg_scale * (cond - uncond)  # (B, C, H, W)
        if cfg_channels == "first3":
            guided = torch.cat([guided[:, :3], cond[:, 3:]], dim=1)  # (B, C, H, W)
        return guided


def _sized(depth: int, hidden_size: int, num_heads: int, patch_size: int, **kwargs) -> DiT:
    return DiT(
        DiTConfig(
            depth=depth, hidden_size=hidden_size, num_heads=num_heads, patch_size=patch_size, mlp_ratio=4.0, **kwargs
        )
    )


def dit_b_1(**kwargs) -> DiT:
    return _sized(12, 768, 12, 1, **kwargs)


def dit_s_1(**kwargs) -> DiT:
    return _sized(12, 384, 6, 1, **kwargs)


def dit_t_1(**kwargs) -> DiT:
    """Small CPU size (DESIGN.md sizing table: 256 wide x 6)."""
    return _sized(6, 256, 4, 1, **kwargs)


def dit_xt_1(**kwargs) -> DiT:
    """Tiny size for unit tests."""
    return _sized(2, 64, 2, 1, **kwargs)


DIT_MODELS = {"DiT-B/1": dit_b_1, "DiT-S/1": dit_s_1, "DiT-T/1": dit_t_1, "DiT-XT/1": dit_xt_1}


def build_dit(name: str, **kwargs) -> DiT:
    """Build a registered size. kwargs: the non-size `DiTConfig` fields (input_size, in_channels, num_classes,
    class_dropout_prob, qk_norm, use_rope, use_swiglu, use_rmsnorm)."""
    if name not in DIT_MODELS:
        raise ValueError(f"unknown DiT size {name!r}; choose one of {sorted(DIT_MODELS)}")
    return DIT_MODELS[name](**kwargs)
