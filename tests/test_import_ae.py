"""Pretrained items (`autoencoders.pretrained`, the import_ae stage, `autoencoders.sources`): each format imports and
is recorded, later stages load it through the one loading path, and every bad input stops before any work with a
message naming the item, the file and the fix, writing nothing.

Run: .venv/bin/python -m pytest tests/test_import_ae.py -q
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch

from autoencoders import import_ae
from autoencoders import train as train_ae
from autoencoders.sources import load_autoencoder, read_item
from bench import layout
from bench.config import Params, parse_params
from tests.conftest import tiny_raw
from tests.pretrained_items import make_items, save_diffusers, save_module, save_release

RES = 32  # the tiny preset's data.resolution
MODULES = (
    "tiny_user_ae",
    "factory_linear",
    "factory_tensor",
    "factory_no_size",
    "factory_grid",
)  # user modules these tests import


@pytest.fixture(autouse=True)
def fresh_imports():
    """A user module is imported by name: forget it after each test, as a new stage process would."""
    yield
    for name in MODULES:
        sys.modules.pop(name, None)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> dict[str, dict]:
    return make_items(tmp_path_factory.mktemp("weights"), RES)


def with_items(tmp_path: Path, entries: dict[str, dict], res: int = RES) -> Params:
    """The tiny preset at `res` px plus `entries` as pretrained items (runs under tmp_path)."""
    raw = tiny_raw(tmp_path)
    raw["data"]["resolution"] = res
    ae = raw["autoencoders"]
    ae["variants"] = {k: v for k, v in ae["variants"].items() if k not in entries}  # "vmae": the release's weights
    ae["names"] = [n for n in ae["names"] if n not in entries] + list(entries)
    ae["pretrained"] = entries
    return parse_params(raw, source="params.yaml")


def test_every_format_is_imported_recorded_and_loaded(tmp_path, weights):
    params = with_items(tmp_path, weights)
    expected = {"vmae": (16, 8, None), "sd3-vae": (16, 8, 1.5305), "sd1-vae": (4, 8, 0.18215), "my-ae": (4, 4, None)}
    x = torch.zeros(2, 3, RES, RES)
    for name, (channels, f, scaling) in expected.items():
        import_ae.main(params, name)
        source = json.loads(layout.pretrained_record(params.paths, name).read_text())
        assert source["format"] == weights[name]["format"] and len(source["sha256"]) == 64
        assert (source["latent_channels"], source["downsample"]) == (channels, f)
        assert source["latent_grid"] == [RES // f] * 2 and source["input_range"] == [-1.0, 1.0]
        assert source["latent_factors"]["scaling_factor"] == scaling and source["latent_factors"]["applied"] is False
        item = read_item(name, params.autoencoders, params.paths)
        assert item.kind == "pretrained" and item.params == {"pretrained": weights[name]}
        model = load_autoencoder(item, image_size=RES)
        with torch.no_grad():
            assert model.encode(x).mean.shape == (2, channels, RES // f, RES // f)
            assert model.decode(model.encode(x).mode()).shape == x.shape


def test_files_changed_since_the_import_are_refused(tmp_path):
    folder = save_diffusers(tmp_path / "w" / "sd3-vae", "sd3")
    params = with_items(tmp_path, {"sd3-vae": {"format": "diffusers", "path": str(folder), "entry": None}})
    import_ae.main(params, "sd3-vae")
    save_diffusers(folder, "sd3", seed=1)  # the user replaces the weights
    with pytest.raises(ValueError, match=r"files under '.*sd3-vae' changed since import_ae@sd3-vae.*dvc repro"):
        load_autoencoder(read_item("sd3-vae", params.autoencoders, params.paths), image_size=RES)


def test_pretrained_items_skip_train_ae_and_trained_ones_skip_import_ae(tmp_path, weights):
    params = with_items(tmp_path, {"my-ae": weights["my-ae"]})
    with pytest.raises(ValueError, match=r"'my-ae' is a pretrained item.*skips train_ae"):
        train_ae.main(params, "my-ae")
    with pytest.raises(ValueError, match=r"'vmae' is a trained item.*train_ae@vmae"):
        import_ae.main(params, "vmae")
    with pytest.raises(FileNotFoundError, match=r"dvc repro import_ae@my-ae"):
        read_item("my-ae", params.autoencoders, params.paths)


# --- bad input: each stops before any work, naming the item, the file and the fix, and writes nothing ----------------
def fails(tmp_path: Path, entry: dict, error: type, *patterns: str, res: int = RES) -> None:
    """import_ae of item "bad" raises `error` with every pattern (and the item's name), before writing anything."""
    params = with_items(tmp_path, {"bad": entry}, res)
    with pytest.raises(error) as err:
        import_ae.main(params, "bad")
    message = str(err.value)
    for pattern in ("'bad'", *patterns):
        assert pattern in message, message
    assert not Path(params.paths.runs).exists()  # no output of this item or any other


def test_missing_path(tmp_path):
    entry = {"format": "diffusers", "path": str(tmp_path / "weights/sd3-vae"), "entry": None}
    fails(tmp_path, entry, FileNotFoundError, "weights/sd3-vae' does not exist", "config.json", "set")


def test_wrong_format_name_is_refused_by_the_loader(tmp_path):
    with pytest.raises(ValueError) as err:
        with_items(tmp_path, {"bad": {"format": "onnx", "path": "weights/x", "entry": None}})
    for pattern in ("params.yaml", "autoencoders.pretrained.bad.format", "'onnx'", "'diffusers', 'vmae-release'"):
        assert pattern in str(err.value)


def test_format_that_does_not_match_the_files(tmp_path):
    release = save_release(tmp_path / "w" / "vmaef8d16.pth", RES)
    folder = save_diffusers(tmp_path / "w" / "sd3-vae", "sd3")
    fails(
        tmp_path,
        {"format": "diffusers", "path": str(release), "entry": None},
        ValueError,
        "vmaef8d16.pth",
        "format: vmae-release",
    )
    fails(
        tmp_path,
        {"format": "vmae-release", "path": str(folder), "entry": None},
        ValueError,
        "sd3-vae",
        "format: diffusers",
    )
    fails(tmp_path, {"format": "module", "path": str(release), "entry": "m:f"}, ValueError, "vmaef8d16.pth", "folder")


def test_state_dict_whose_shapes_do_not_fit(tmp_path):
    folder = save_diffusers(tmp_path / "w" / "sd3-vae", "sd3")
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "latent_channels": 8}))  # the weights have 16
    entry = {"format": "diffusers", "path": str(folder), "entry": None}
    fails(
        tmp_path,
        entry,
        ValueError,
        "diffusion_pytorch_model.safetensors",
        "does not fit",
        "wrong shapes",
        "config.json describes",
    )
    path = save_release(tmp_path / "w" / "vmaef8d16.pth", RES)
    ckpt = torch.load(path, weights_only=False)
    ckpt["model"]["to_latent.weight"] = ckpt["model"]["to_latent.weight"][:30]  # 15 means + 15 log-variances
    torch.save(ckpt, path)
    entry = {"format": "vmae-release", "path": str(path), "entry": None}
    fails(tmp_path, entry, ValueError, "vmaef8d16.pth", "to_latent.weight: (30, 32) (model (32, 32))", "build the VMAE")


FACTORIES = {
    "factory_linear": "import torch\n\ndef build(image_size):\n    return torch.nn.Linear(2, 2)\n",
    "factory_tensor": (
        "import torch\n\nclass AE(torch.nn.Module):\n    latent_channels, downsample = 4, 4\n"
        "    def encode(self, x):\n        return x[:, :1]\n    def decode(self, z):\n        return z\n\n"
        "def build(image_size):\n    return AE()\n"
    ),
    "factory_no_size": "def build():\n    return None\n",
    "factory_grid": (  # downsamples by 2, says 8
        "import torch\nfrom bench.posterior import Posterior\n\nclass AE(torch.nn.Module):\n"
        "    latent_channels, downsample = 2, 8  # wrong\n"
        "    def encode(self, x):\n        return Posterior(x[:, :2, ::2, ::2], None)\n"
        "    def decode(self, z):\n        return z\n\ndef build(image_size):\n    return AE()\n"
    ),
}


@pytest.mark.parametrize(
    "module, patterns",
    [
        ("factory_linear", ["factory_linear.py", "gave a Linear", "implement autoencoders.base.LatentAutoencoder"]),
        ("factory_tensor", ["factory_tensor.py", "encode returned a Tensor", "Posterior"]),
        ("factory_no_size", ["factory_no_size.py", "must accept the keyword image_size"]),
    ],
)
def test_factory_that_does_not_return_the_interface(tmp_path, module, patterns):
    folder = tmp_path / "w" / "mine"
    folder.mkdir(parents=True)
    (folder / f"{module}.py").write_text(FACTORIES[module])
    fails(tmp_path, {"format": "module", "path": str(folder), "entry": f"{module}:build"}, ValueError, *patterns)


def test_entry_that_cannot_be_imported(tmp_path):
    folder = save_module(tmp_path / "w" / "my-ae")
    entry = {"format": "module", "path": str(folder), "entry": "my_models.ae:build"}
    fails(tmp_path, entry, ValueError, "cannot import 'my_models.ae'", "my-ae'", "package (or module file) inside path")
    entry = {"format": "module", "path": str(folder), "entry": "tiny_user_ae:make"}
    fails(tmp_path, entry, ValueError, "tiny_user_ae.py' has no function 'make'", "fix entry")
    entry = {"format": "module", "path": str(folder), "entry": "json:loads"}  # a name taken by another module
    fails(tmp_path, entry, ValueError, "outside", "rename your package")
    with pytest.raises(ValueError, match=r"autoencoders.pretrained.bad.*entry: package.module:factory"):
        with_items(tmp_path, {"bad": {"format": "module", "path": str(folder), "entry": None}})


def test_latent_grid_that_does_not_fit_the_data_resolution(tmp_path):
    path = save_release(tmp_path / "w" / "vmaef8d16.pth", image_size=2 * RES)  # tables for 64 px
    fails(
        tmp_path,
        {"format": "vmae-release", "path": str(path), "entry": None},
        ValueError,
        "vmaef8d16.pth",
        "set data.resolution to 64",
    )
    folder = tmp_path / "w" / "mine"
    folder.mkdir(parents=True)
    (folder / "factory_grid.py").write_text(FACTORIES["factory_grid"])
    entry = {"format": "module", "path": str(folder), "entry": "factory_grid:build"}
    fails(tmp_path, entry, ValueError, "factory_grid.py", "encodes to (1, 2, 16, 16), not (1, 2, 4, 4)", "fix the two")
    sys.modules.pop("factory_grid")
    (folder / "factory_grid.py").write_text(FACTORIES["factory_grid"].replace("2, 8  # wrong", "2, 3  # wrong"))
    fails(tmp_path, entry, ValueError, "factory_grid.py", "not a multiple of its downsampling factor 3", "set data")


def test_params_name_every_item_once(tmp_path, weights):
    raw = tiny_raw(tmp_path)
    raw["autoencoders"]["pretrained"] = {"my-ae": weights["my-ae"]}  # not in names: it would still be imported
    with pytest.raises(ValueError, match=r"entries \['my-ae'\] are not in autoencoders.names"):
        parse_params(raw)
    raw["autoencoders"]["names"] += ["my-ae"]
    raw["autoencoders"]["pretrained"] = {"vmae": weights["vmae"], "my-ae": weights["my-ae"]}
    with pytest.raises(ValueError, match=r"items \['vmae'\] are under both variants \(trained\) and pretrained"):
        parse_params(raw)
    raw["autoencoders"]["pretrained"] = {"my-ae": {**weights["my-ae"], "path": ""}}
    with pytest.raises(ValueError, match=r"autoencoders.pretrained.my-ae.*path is empty: name the weights"):
        parse_params(raw)
