"""Paper-scale autoencoder sizes (meta device) and the weight importers: the authors' VMAE release pickle (with its
`args` Namespace, sizes read from its tensors, and a malicious pickle refused) and diffusers AutoencoderKL folders
in both layouts (with and without quant convs), checked against diffusers' own encode / decode.

Run: .venv/bin/python -m pytest tests/test_pretrained.py -q
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest
import torch

from autoencoders import REGISTRY
from autoencoders.pretrained import (
    INFERENCE_OBJECTIVE,
    build_vmae_release,
    latent_factors,
    load_diffusers,
    load_vmae_release,
    read_diffusers_config,
    read_release_state_dict,
    release_arch,
)
from autoencoders.vmae import VMAE
from bench.config import KLCfg
from tests.pretrained_items import LAYOUTS, RELEASE_TINY, save_diffusers, save_release
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


@pytest.mark.parametrize("layout", ["sd3", "sd1"])
def test_diffusers_import_matches_diffusers_in_both_layouts(tmp_path, layout):
    """SD3 / FLUX (no quant convs) and SD 1.x / SDXL (quant and post-quant convs) load strictly into diffusers' own
    class and encode / decode exactly as diffusers does, at its own input range ([-1, 1], the suite's)."""
    from diffusers import AutoencoderKL

    folder = save_diffusers(tmp_path / layout, layout)
    ref = AutoencoderKL.from_pretrained(folder).eval()
    model = load_diffusers(folder)
    quant, channels, scaling, shift = LAYOUTS[layout]
    assert (model.vae.quant_conv is not None) == quant and (model.vae.post_quant_conv is not None) == quant
    assert model.latent_channels == channels and model.downsample == 8
    x = images()
    with torch.no_grad():
        dist, post = ref.encode(x).latent_dist, model.encode(x)
        torch.testing.assert_close(post.mean, dist.mean, rtol=0, atol=0)
        torch.testing.assert_close(post.logvar, dist.logvar, rtol=0, atol=0)
        torch.testing.assert_close(model.decode(post.mean), ref.decode(dist.mean).sample, rtol=0, atol=0)
    cfg, weights = read_diffusers_config(folder)
    assert latent_factors(cfg) == {"scaling_factor": scaling, "shift_factor": shift}  # recorded, never applied
    assert weights.name == "diffusion_pytorch_model.safetensors"
    assert load_diffusers(weights).latent_channels == channels  # a weights file beside its config.json


def test_vmae_release_sizes_are_read_from_the_checkpoint(tmp_path):
    path = save_release(tmp_path / "vmaef8d16.pth", image_size=SIZE)
    model = build_vmae_release(path)
    assert model.arch == RELEASE_TINY and model.image_size == SIZE
    ref = VMAE(RELEASE_TINY, INFERENCE_OBJECTIVE, None, SIZE)
    state = read_release_state_dict(path)
    ref.load_state_dict({**state, "mask_token": ref.mask_token}, strict=True)
    x = images()
    with torch.no_grad():
        torch.testing.assert_close(model.decode(model.encode(x).mode()), ref.decode(ref.encode(x).mode()))
    assert release_arch(release_table_state(), "paper")[0] == PAPER_VIT  # the real release's sizes, from its shapes


def release_table_state() -> dict[str, torch.Tensor]:
    """Meta tensors with the real release's names and shapes (`release_table`)."""
    return {k: torch.empty(s, device="meta") for k, s in release_table(PAPER_VIT.depth).items()}
