"""Paper-scale autoencoder sizes (meta device) and the weight importers: the authors' VMAE release pickle (with its
`args` Namespace, and a malicious pickle refused) and a diffusers AutoencoderKL folder.

Run: .venv/bin/python -m pytest tests/test_pretrained.py -q
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import torch

from autoencoders import REGISTRY
from autoencoders.pretrained import load_diffusers_autoencoder, load_vmae_release, read_diffusers_arch
from autoencoders.vae import VAE
from autoencoders.vmae import VMAE
from bench.config import KLCfg
from tests.test_autoencoders import (  # noqa: F401  (one_thread is an autouse fixture)
    PAPER_CONV,
    PAPER_VIT,
    SIZE,
    TINY_CONV,
    TINY_VIT,
    VMAE_LOSS,
    TinyPerceptual,
    build,
    images,
    one_thread,
    section,
    variant,
)

# --- paper-scale sizes (built on the meta device: shapes only, no memory, no forward) -------------


def test_paper_scale_parameter_counts():
    with torch.device("meta"):
        det = REGISTRY["ae"](PAPER_CONV)
        prob = REGISTRY["vae"](PAPER_CONV, KLCfg(1e-6))
        vmae = VMAE(PAPER_VIT, VMAE_LOSS, TinyPerceptual(), 256)
    prob_n = sum(p.numel() for p in prob.parameters())
    assert prob_n == 83_819_683 and round(prob_n / 1e6, 1) == 83.8 and round(prob_n * 4 / 2**20, 1) == 319.7
    det_n = sum(p.numel() for p in det.parameters())
    assert prob_n - det_n == 512 * 16 * 9 + 16  # conv_out emits 16 instead of 32 channels
    assert abs(det_n / 1e6 - 83.8) < 0.1
    trainable = sum(p.numel() for n, p in vmae.named_parameters() if n != "mask_token")
    assert trainable == 10_798_196 and round(trainable / 1e6, 2) == 10.80
    with_pe = sum(t.numel() for k, t in vmae.state_dict().items() if k != "mask_token")
    assert with_pe == 11_191_412 and round(with_pe * 4 / 2**20, 2) == 42.69
    assert release_table(PAPER_VIT.depth) == {
        k: tuple(t.shape) for k, t in vmae.state_dict().items() if k != "mask_token"
    }


def release_table(depth: int) -> dict[str, tuple[int, ...]]:
    """`paper/vmae-release-checkpoint.md`: the released key -> shape table (306 tensors)."""
    block = {
        "norm1.weight": (192,), "norm1.bias": (192,), "attn.qkv.weight": (576, 192), "attn.qkv.bias": (576,),
        "attn.proj.weight": (192, 192), "attn.proj.bias": (192,), "norm2.weight": (192,), "norm2.bias": (192,),
        "mlp.fc1.weight": (768, 192), "mlp.fc1.bias": (768,), "mlp.fc2.weight": (192, 768), "mlp.fc2.bias": (192,),
    }  # fmt: skip
    table = {
        "pos_embed": (1, 1024, 192), "decoder_pos_embed": (1, 1024, 192), "to_latent.weight": (32, 192),
        "to_latent.bias": (32,), "from_latent.weight": (192, 16), "from_latent.bias": (192,),
        "patch_embed.proj.weight": (192, 3, 8, 8), "patch_embed.proj.bias": (192,), "norm.weight": (192,),
        "norm.bias": (192,), "decoder_embed.weight": (192, 192), "decoder_embed.bias": (192,),
        "decoder_norm.weight": (192,), "decoder_norm.bias": (192,), "decoder_pred.linear_pred.weight": (192, 192),
        "decoder_pred.linear_pred.bias": (192,), "decoder_pred.conv_smoother.weight": (3, 3, 3, 3),
        "decoder_pred.conv_smoother.bias": (3,),
    }  # fmt: skip
    for prefix in ("blocks", "decoder_blocks"):
        table |= {f"{prefix}.{i}.{k}": s for i in range(depth) for k, s in block.items()}
    assert len(table) == 306
    return table


# --- importers --------------------------------------------------------------------------------------


def _release_file(path: Path, state: dict) -> Path:
    args = argparse.Namespace(model="mae_for_ldmae_f8d16_prev", input_size=256, mask_ratio=0.0)
    torch.save({"model": state, "optimizer": {}, "epoch": 9, "scaler": {}, "args": args}, path)
    return path


def test_vmae_release_import(tmp_path, caplog):
    source, x = build("vmae", seed=0).eval(), images()
    final = {k: v for k, v in source.state_dict().items() if k != "mask_token"}  # decoder-tuned: no mask token
    model = build("vmae", seed=1).eval()
    with caplog.at_level("INFO", logger="autoencoders.pretrained"):
        notes = load_vmae_release(model, _release_file(tmp_path / "vmaef8d16.pth", final))
    assert len(notes) == 1 and "mask_token" in notes[0] and "mask_token" in caplog.text
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x), rtol=0, atol=0)
    half = build("vmae", seed=2)  # a stage-1 checkpoint at half resolution: mask token present, 2x2 tables
    half.set_image_size(SIZE // 2)
    notes = load_vmae_release(model, _release_file(tmp_path / "checkpoint-90.pth", half.state_dict()))
    assert [n.split(":")[0] for n in notes] == ["pos_embed", "decoder_pos_embed"]
    torch.testing.assert_close(model.mask_token, half.mask_token)
    with pytest.raises(ValueError, match="missing"):
        load_vmae_release(model, _release_file(tmp_path / "bad.pth", {"pos_embed": final["pos_embed"]}))


class _Exploit:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_vmae_release_import_refuses_code_in_pickle(tmp_path):
    marker, path = tmp_path / "pwned", tmp_path / "evil.pth"
    torch.save({"model": {}, "args": _Exploit(marker)}, path)
    with pytest.raises(ValueError, match="weights_only") as err:
        load_vmae_release(build("vmae"), path)
    assert str(path) in str(err.value)
    assert not marker.exists()


def test_diffusers_autoencoderkl_import(tmp_path):
    from diffusers import AutoencoderKL

    torch.manual_seed(0)
    ref = AutoencoderKL(
        down_block_types=("DownEncoderBlock2D",) * 2, up_block_types=("UpDecoderBlock2D",) * 2,
        block_out_channels=(8, 16), layers_per_block=1, norm_num_groups=4, latent_channels=4,
        use_quant_conv=False, use_post_quant_conv=False,
    ).eval()  # fmt: skip
    ref.save_pretrained(tmp_path / "vae")
    model = VAE(read_diffusers_arch(tmp_path / "vae"), KLCfg(weight=0.0)).eval()
    load_diffusers_autoencoder(model, tmp_path / "vae")
    x = images()
    with torch.no_grad():
        dist, post = ref.encode(x).latent_dist, model.encode(x)
        torch.testing.assert_close(post.mean, dist.mean)
        torch.testing.assert_close(post.logvar, dist.logvar)
        torch.testing.assert_close(model.decode(post.mean), ref.decode(dist.mean).sample)
    assert model.downsample == 2 and model.latent_channels == 4
