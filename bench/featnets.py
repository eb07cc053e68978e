"""The suite's own offline feature networks, and the loader that picks LPIPS or its stand-in.

This machine (like CI and many clusters) cannot download VGG or Inception weights, so the suite trains small
networks of its own on the datasets (through `bench.loop.train`) and uses them where the pretrained ones are absent:

- a perceptual network `percep-vgg-v1` (VGG-style: stages of two 3x3 conv + ReLU, max-pool between stages), a
  classifier trained by the `featnets` stage (`bench.classifier.classifier_loss`). `PerceptualDistance` turns it into an
  LPIPS-style distance that the autoencoders use as a TRAINING loss;
- judges `judge-resnet-v2` (a small residual net with BatchNorm, a different architecture on purpose, with a
  segmentation head), an ensemble trained by the `judges` stage (`bench.train_judges`) on a split of their own and
  used only for EVALUATION: multi-scale pooled features (FD/KID/PRC), class logits (IS) and a mid-level spatial
  map (sFD), through `bench.features`. The network used as a training loss is never the one used to judge.

`load_perceptual(weights_dir, own_path)` returns real LPIPS-VGG (`name == "lpips-vgg"`) when the torchvision
VGG16 file exists locally, else `PerceptualDistance` on the trained perceptual network (`name == "percep-own"`).
Both map images (B, 3, H, W) in [-1, 1] to distances (B,). Nothing here downloads.

Models are built by name from `FEATNETS` (`build_featnet`); a trained network travels as `featnet_state(model)`
(identity, config, state dict) and comes back with `load_featnet(path)`.
Try it: `python -c "from bench.featnets import build_featnet; print(build_featnet('judge-resnet-v2', 10, 64, 32))"`.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from bench.ckpt import load_checkpoint

SPATIAL_CHANNELS = 7  # channels kept for sFD, as ADM keeps 7 of mixed_6/conv's 192
VGG16_FILE = "vgg16-397923af.pth"  # torchvision's ImageNet VGG16, the trunk LPIPS-VGG expects
NORM_EPS = 1e-6  # under the square root of the channel norm: bounds the gradient where features are ~0


@dataclass(frozen=True)
class FeatNetConfig:
    widths: tuple[int, ...]  # channels per stage; stage i > 0 halves the resolution
    num_classes: int  # the dataset's labels
    input_size: int  # square resolution the network is trained and evaluated at


# ---------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------


def conv_relu(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU()]


class ResBlock(nn.Module):
    """ResNet basic block: two 3x3 conv + BN, identity (or 1x1 projection) shortcut, ReLU after the sum."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = nn.Identity()
        if stride != 1 or cin != cout:
            self.shortcut = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=stride, bias=False), nn.BatchNorm2d(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))  # (B, cout, H/s, W/s)
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))  # (B, cout, H/s, W/s)


# ---------------------------------------------------------------------------------------------
# Models
# ---------------------------------------------------------------------------------------------


class FeatNet(nn.Module):
    """A classifier on the dataset's labels; `forward(x)` maps (B, 3, S, S) in [-1, 1] to logits (B, K)."""

    def __init__(self, cfg: FeatNetConfig, identity: str) -> None:
        super().__init__()
        self.cfg, self.identity = cfg, identity

    def check_input(self, x: torch.Tensor) -> None:
        """Exactly (B, 3, input_size, input_size): the judge's spatial feature length depends on the size."""
        size = self.cfg.input_size
        if x.dim() != 4 or x.shape[1] != 3 or tuple(x.shape[2:]) != (size, size):
            raise ValueError(
                f"{self.identity} expects images (B, 3, {size}, {size}), got {tuple(x.shape)}: resize first"
            )

    def initialize_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):  # He init keeps activation scale through ReLU stacks trained from scratch
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):  # small logits at init: the first loss is ~log(K)
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)


class PerceptualNet(FeatNet):
    """VGG-style classifier whose stage outputs (post-ReLU, pre-pool, like VGG's relu{k}_2) feed the distance."""

    def __init__(self, cfg: FeatNetConfig, identity: str) -> None:
        super().__init__(cfg, identity)
        stages, cin = [], 3
        for i, w in enumerate(cfg.widths):
            pool = [nn.MaxPool2d(2)] if i > 0 else []
            stages.append(nn.Sequential(*pool, *conv_relu(cin, w), *conv_relu(w, w)))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.head = nn.Linear(cin, cfg.num_classes)
        self.initialize_weights()

    def stage_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Args: x (B, 3, H, W) in [-1, 1]. Returns: per stage i, (B, widths[i], H / 2**i, W / 2**i), >= 0.

        Any size works (the network is fully convolutional), as LPIPS-VGG is used away from its training size:
        VMAE's phase 1 compares half-resolution images.
        """
        if x.dim() != 4 or x.shape[1] != 3 or min(x.shape[2:]) < 2 ** (len(self.stages) - 1):
            raise ValueError(f"{self.identity} expects images (B, 3, H, W) with H, W >= {2 ** (len(self.stages) - 1)}")
        feats = []
        for stage in self.stages:
            x = stage(x)  # (B, w_i, H / 2**i, W / 2**i)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stage_features(x)[-1]  # (B, w_last, H / 2**(n-1), W / 2**(n-1))
        return self.head(h.mean(dim=(2, 3)))  # (B, K)


class JudgeNet(FeatNet):
    """Residual network for evaluation only: a classifier with a dense segmentation head, read at three scales.

    Stem, then one `ResBlock` per stage (stride 1, then 2): at S = 32 and four stages, maps of 32, 16, 8 and 4 px.
    Stages 1..3 each go through a 1x1 "neck" (conv + BN + ReLU) to `NECK` channels; those neck maps are both what
    the metrics read and what the two training heads see:
    - the class head reads the concatenated global means of the three necks (so it cannot ignore any scale);
    - the segmentation head reads the three necks upsampled to stage 1's grid and predicts the generator's
      part / object mask at every pixel. Dense supervision makes the features encode where the eyes, mouth or each
      object are and what they look like, not only the one label (hair colour, main object class) a global
      classifier needs: the v1 judge, trained on labels alone, ranked visibly broken samples best.

    `features(x)` gives, for x (B, 3, S, S) in [-1, 1]:
    - "pool": (B, 3 * NECK) the three necks' global means: multi-scale, and 96 dimensions, well below the 500
      samples an FD is estimated from here (v1 used 256 channels of one 4x4 map at VMAE's patch stride);
    - "logits_unbiased": (B, K) the class logits (the head has no bias; torch-fidelity's IS feature name);
    - "spatial": (B, 7 * 4 * 4) the first 7 channels of the stride-4 neck averaged to a 4x4 grid, flattened in
      (H, W, C) order as ADM flattens its NHWC map (112 dimensions where v1 had 448 for 500 samples).
    `segment(x)` gives (B, M, S/2, S/2) mask logits.
    """

    NECK = 32
    SPATIAL_GRID = 4

    def __init__(self, cfg: FeatNetConfig, identity: str, num_masks: int = 0) -> None:
        super().__init__(cfg, identity)
        if len(cfg.widths) != 4:
            raise ValueError(f"the judge has 4 stages, got widths {cfg.widths}")
        w0 = cfg.widths[0]
        self.stem = nn.Sequential(nn.Conv2d(3, w0, 3, padding=1, bias=False), nn.BatchNorm2d(w0), nn.ReLU())
        cins = (w0, *cfg.widths[:-1])
        self.stages = nn.ModuleList(
            ResBlock(c, w, 1 if i == 0 else 2) for i, (c, w) in enumerate(zip(cins, cfg.widths, strict=True))
        )
        self.necks = nn.ModuleList(
            nn.Sequential(nn.Conv2d(w, self.NECK, 1, bias=False), nn.BatchNorm2d(self.NECK), nn.ReLU())
            for w in cfg.widths[1:]
        )
        self.head = nn.Linear(3 * self.NECK, cfg.num_classes, bias=False)
        self.seg_head = nn.Conv2d(3 * self.NECK, num_masks, 1) if num_masks > 0 else None
        self.initialize_weights()

    def necks_of(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Args: x (B, 3, S, S). Returns: [(B, NECK, S/2, S/2), (B, NECK, S/4, S/4), (B, NECK, S/8, S/8)]."""
        self.check_input(x)
        h = self.stem(x)  # (B, w0, S, S)
        out = []
        for i, stage in enumerate(self.stages):
            h = stage(h)  # (B, w_i, S / 2**i, S / 2**i)
            if i > 0:
                out.append(self.necks[i - 1](h))
        return out

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        necks = self.necks_of(x)
        pool = torch.cat([n.mean(dim=(2, 3)) for n in necks], dim=1)  # (B, 3 * NECK)
        grid = F.adaptive_avg_pool2d(necks[1][:, :SPATIAL_CHANNELS], self.SPATIAL_GRID)  # (B, 7, 4, 4)
        spatial = grid.permute(0, 2, 3, 1).flatten(1)  # (B, 4 * 4 * 7)
        return {"pool": pool, "logits_unbiased": self.head(pool), "spatial": spatial}

    def segment(self, x: torch.Tensor) -> torch.Tensor:
        """Args: x (B, 3, S, S). Returns: (B, M, S/2, S/2) mask logits on stage 1's grid (the judge was built with
        num_masks = M > 0); compare with the mask subsampled to that grid (`mask[:, ::2, ::2]`): predicting at half
        resolution halves the cost of the judges' training, and the features it shapes are those of stages 1-3."""
        if self.seg_head is None:
            raise ValueError(f"{self.identity} was built without a segmentation head (num_masks = 0)")
        necks = self.necks_of(x)
        size = necks[0].shape[2:]
        up = [F.interpolate(n, size=size, mode="bilinear", align_corners=False) for n in necks]  # (B, NECK, S/2, S/2)
        return self.seg_head(torch.cat(up, dim=1))  # (B, M, S/2, S/2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["logits_unbiased"]  # (B, K)


# ---------------------------------------------------------------------------------------------
# Distances (training losses; inputs in [-1, 1], outputs (B,))
# ---------------------------------------------------------------------------------------------


class FrozenDistance(nn.Module):
    """A fixed network: parameters frozen, and `train()` never leaves eval mode (no dropout/BN updates when an
    autoencoder holding this as a submodule switches itself to training)."""

    name = ""
    scale = 1.0  # training-loss multiplier; only the own distance is ever built with another

    def train(self, mode: bool = True) -> FrozenDistance:
        return super().train(False)


class PerceptualDistance(FrozenDistance):
    """LPIPS-style distance on the own perceptual network (`name = "percep-own"`), differentiable in its inputs.

    d(x, y) = sum over stages of mean over positions of || f(x)/|f(x)| - f(y)/|f(y)| ||^2, features normalised
    over channels at each position, equal stage weights (no learned heads: there are no human judgements here),
    times `scale` (1 for the metric; `autoencoders.percep_own_scale` when it is a training loss).
    """

    name = "percep-own"

    def __init__(self, net: PerceptualNet, scale: float = 1.0) -> None:
        super().__init__()
        if not isinstance(net, PerceptualNet):
            raise ValueError(f"PerceptualDistance needs a PerceptualNet, got {type(net).__name__}")
        if not scale > 0:
            raise ValueError(f"PerceptualDistance scale must be > 0, got {scale}")
        self.net = net.requires_grad_(False).eval()
        self.scale = scale

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y (B, 3, H, W) in [-1, 1], H, W >= 8. Returns: (B,) distances, 0 where x == y."""
        d = x.new_zeros(x.shape[0])
        for fx, fy in zip(self.net.stage_features(x), self.net.stage_features(y), strict=True):
            fx = fx * torch.rsqrt(fx.square().sum(1, keepdim=True) + NORM_EPS)  # (B, C, h, w), unit norm over C
            fy = fy * torch.rsqrt(fy.square().sum(1, keepdim=True) + NORM_EPS)
            d = d + (fx - fy).square().sum(1).mean(dim=(1, 2))  # (B,)
        return self.scale * d


class LPIPSDistance(FrozenDistance):
    """`lpips.LPIPS(net="vgg", version="0.1")` with its trunk read from a local torchvision VGG16 file.

    Built with `pretrained=False, pnet_rand=True` (nothing loaded, nothing downloaded), then loaded strictly with
    the linear heads the lpips package ships and the local trunk: lpips's own head loading is `strict=False` and
    silently keeps random heads when keys differ (as they do with `use_dropout=False`). Dropout stays off because
    the module never leaves eval mode.
    """

    name = "lpips-vgg"

    def __init__(self, vgg16_path: str | Path) -> None:
        super().__init__()
        import lpips  # imported here: it is only needed where the VGG file exists

        with warnings.catch_warnings():  # lpips passes torchvision's deprecated `pretrained=False`
            warnings.simplefilter("ignore", UserWarning)
            self.lpips = lpips.LPIPS(net="vgg", version="0.1", pretrained=False, pnet_rand=True, verbose=False)
        heads = torch.load(
            Path(lpips.__file__).parent / "weights" / "v0.1" / "vgg.pth", map_location="cpu", weights_only=True
        )
        vgg = torch.load(vgg16_path, map_location="cpu", weights_only=True)
        # lpips keeps torchvision's `features` modules in slices: "net.slice1.0.weight" is "features.0.weight".
        trunk = {f"net.{k}": vgg.get(f"features.{k.split('.', 1)[1]}") for k in self.lpips.net.state_dict()}
        if any(v is None for v in trunk.values()):
            raise ValueError(f"{vgg16_path} is not torchvision's VGG16 state dict: place {VGG16_FILE} there")
        heads |= {"lins." + k[3:]: v for k, v in heads.items()}  # "lin0.*" is also registered as "lins.0.*"
        state = {k: v for k, v in self.lpips.state_dict().items() if k.startswith("scaling_layer.")}  # constants
        self.lpips.load_state_dict({**state, **heads, **trunk}, strict=True)
        self.requires_grad_(False).eval()

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Args: x, y (B, 3, H, W) in [-1, 1]. Returns: (B,) LPIPS distances."""
        return self.lpips(x, y).flatten()


# ---------------------------------------------------------------------------------------------
# Registry, files, and the perceptual loader
# ---------------------------------------------------------------------------------------------

FEATNETS: dict[str, tuple[type[FeatNet], tuple[int, ...]]] = {}
PERCEPTUAL_NET = "percep-vgg-v1"
JUDGE_NET = "judge-resnet-v2"  # v2: three-scale neck features, segmentation head (v1: one global mean)


def register_featnet(name: str, cls: type[FeatNet], widths: tuple[int, ...]) -> None:
    if name in FEATNETS:
        raise ValueError(f"feature network {name!r} is already registered")
    if not issubclass(cls, FeatNet):
        raise ValueError(f"{cls.__name__} must subclass FeatNet")
    FEATNETS[name] = (cls, widths)


register_featnet(PERCEPTUAL_NET, PerceptualNet, (16, 32, 64, 128))
register_featnet(JUDGE_NET, JudgeNet, (16, 32, 64, 128))


def build_featnet(name: str, num_classes: int, input_size: int, num_masks: int = 0) -> FeatNet:
    """Build a registered network (random init); `model.identity == name` is what metadata records.

    `num_masks` > 0 gives the judge a segmentation head over that many mask ids (the perceptual network has none).
    """
    if name not in FEATNETS:
        raise ValueError(f"unknown feature network {name!r}; choose one of {sorted(FEATNETS)}")
    if num_classes < 2 or input_size < 16:
        raise ValueError(f"need num_classes >= 2 and input_size >= 16, got {num_classes}, {input_size}")
    cls, widths = FEATNETS[name]
    if cls is JudgeNet:
        return JudgeNet(FeatNetConfig(widths, num_classes, input_size), name, num_masks)
    if num_masks:
        raise ValueError(f"{name} has no segmentation head: build it with num_masks = 0")
    return cls(FeatNetConfig(widths, num_classes, input_size), name)


def featnet_state(model: FeatNet) -> dict[str, Any]:
    """Everything needed to rebuild `model`: identity, config and state dict (loadable with weights_only=True)."""
    return {"identity": model.identity, "config": asdict(model.cfg), "state_dict": model.state_dict()}


def featnet_from_state(state: dict[str, Any]) -> FeatNet:
    name, cfg = state["identity"], state["config"]
    seg = state["state_dict"].get("seg_head.weight")  # the mask count is the head's shape (older files: no head)
    model = build_featnet(name, cfg["num_classes"], cfg["input_size"], 0 if seg is None else int(seg.shape[0]))
    if tuple(cfg["widths"]) != model.cfg.widths:
        raise ValueError(f"{name} was saved with widths {cfg['widths']}, the registry now has {model.cfg.widths}")
    model.load_state_dict(state["state_dict"], strict=True)
    return model.eval()


def load_featnet(path: str | Path) -> FeatNet:
    """Read a network written as `torch.save(featnet_state(model), path)` by the featnets stage."""
    if not Path(path).is_file():
        raise FileNotFoundError(
            f"no feature network at {path}: run the stage that trains it (`dvc repro judges` for the judges, "
            "`dvc repro featnets` for the perceptual network)"
        )
    return featnet_from_state(load_checkpoint(path))


def vgg16_candidates(weights_dir: str | Path) -> list[Path]:
    """Where a local VGG16 may be: the project's weights folder, then the torch hub cache ($TORCH_HOME/hub)."""
    return [Path(weights_dir) / VGG16_FILE, Path(torch.hub.get_dir()) / "checkpoints" / VGG16_FILE]


def load_perceptual(
    weights_dir: str | Path, own_path: str | Path | None = None, own_scale: float = 1.0
) -> FrozenDistance:
    """The perceptual distance for training losses and the LPIPS metric: LPIPS-VGG if VGG16 is local, else own.

    Args:
        weights_dir: the project's weights folder (`paths.weights`).
        own_path: the featnets stage's perceptual network file, used when no VGG16 file exists.
        own_scale: multiplies the own distance only (training losses pass `autoencoders.percep_own_scale`;
            metrics keep 1). LPIPS-VGG is never rescaled.

    Returns:
        A module `(x, y) -> (B,)` for images in [-1, 1]; its `name` ("lpips-vgg" or "percep-own") goes into
        metadata and metric keys.
    """
    candidates = vgg16_candidates(weights_dir)
    for path in candidates:
        if path.is_file():
            return LPIPSDistance(path)
    if own_path is not None and Path(own_path).is_file():
        net = load_featnet(own_path)
        if not isinstance(net, PerceptualNet):
            raise ValueError(f"{own_path} holds {net.identity}, not a perceptual network")
        return PerceptualDistance(net, own_scale)
    raise FileNotFoundError(
        f"no perceptual network: place torchvision's {VGG16_FILE} at {candidates[0]} for LPIPS-VGG (also looked in "
        f"{candidates[1]}), or run the featnets stage to train the own one (expected at {own_path})"
    )
