"""Feature extractors for the distribution metrics, built by name and registered with torch-fidelity.

Two extractors, both `torch_fidelity.FeatureExtractorBase` subclasses, both registered in torch-fidelity's
registry under their names (so `torch_fidelity.calculate_metrics(feature_extractor="judge", ...)` works), both
taking uint8 images (B, 3, H, W) in [0, 255] (torch-fidelity's input convention) and providing three features:

| feature           | "inception" (torch-fidelity's inception-v3-compat)        | "judge" (featnets.JudgeNet)          |
|-------------------|-----------------------------------------------------------|--------------------------------------|
| "pool"            | pool_3 (torch-fidelity's "2048"), (B, 2048)               | last-stage mean, (B, 256)            |
| "logits_unbiased" | fc without bias, (B, 1008), for IS                        | head logits (no bias), (B, K)        |
| "spatial"         | Mixed_6d.branch1x1 post-ReLU, channels 0..6, (B, 2023)    | stage 2, channels 0..6, (B, 7 S^2/16)|

Inception: input resized to 299 inside torch-fidelity (TF1-compatible bilinear), as ADM's graph does. Its sFID layer
is ADM's `mixed_6/conv:0`: TF scope mixed_6 is torch-fidelity's `Mixed_6d` (its weight converter maps
`mixed_6/conv/{conv2d_params,batchnorm}` to `Mixed_6d.branch1x1.{conv,bn}`), and the op named by the scope is the
ReLU after the batch norm: (B, 192, 17, 17). ADM keeps `[..., :7]` of the NHWC map and flattens per image, which is
what we do, read out with a forward hook so torch-fidelity's network runs unmodified. Weights are only ever read
from a local file; a missing file raises FileNotFoundError (never a download).

Judge: uint8 -> float x / 127.5 - 1 (the data stage's [-1, 1]), resized to the judge's training resolution with
bilinear + antialias when the input size differs (square images assumed).

Through `calculate_metrics`, pass `cache=False`: torch-fidelity's cache keys on the extractor name only, so two
different judges would share entries. The suite's own reference statistics (bench.metrics) carry `identity`.

Try it: `python -c "from bench.features import build_extractor; build_extractor('inception', weights_dir='weights')"`.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Iterable
from pathlib import Path

import torch
import torch.nn.functional as F
from torch_fidelity import FeatureExtractorBase, FeatureExtractorInceptionV3, register_feature_extractor
from torch_fidelity.registry import FEATURE_EXTRACTORS_REGISTRY
from torch_fidelity.version import __version__ as tf_version

from bench import layout
from bench.config import MetricsCfg, PathsCfg
from bench.featnets import SPATIAL_CHANNELS, JudgeNet, load_featnet
from bench.log import get_logger
from bench.metrics import INCEPTION, LOGITS, POOL, SPATIAL

JUDGE = layout.JUDGE
FEATURES = (POOL, LOGITS, SPATIAL)
DEFAULT_LAYER = {"isc": LOGITS, "fid": POOL, "kid": POOL, "prc": POOL}  # torch-fidelity metric -> feature
INCEPTION_FILE = "pt_inception-2015-12-05-6726825d.pth"  # pytorch-fid's PyTorch port of TF Inception 2015-12-05
# Torch hub cache names of that port when torch-fidelity or pytorch-fid downloaded it on a machine with internet.
INCEPTION_HUB_FILES = ("weights-inception-2015-12-05-6726825d.pth", INCEPTION_FILE)
TF_LAYER = {POOL: "2048", LOGITS: "logits_unbiased"}  # our names -> torch-fidelity inception-v3-compat names
log = get_logger(__name__)


def _check_uint8(x: torch.Tensor) -> None:
    if x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] != 3:
        raise ValueError(
            f"extractors take uint8 images (B, 3, H, W), got {x.dtype} {tuple(x.shape)}: use to_uint8_image"
        )


def _sha12(chunks: Iterable[bytes]) -> str:
    h = hashlib.sha256()
    for c in chunks:
        h.update(c)
    return h.hexdigest()[:12]


def _file_chunks(path: Path) -> Iterable[bytes]:
    with open(path, "rb") as f:
        yield from iter(lambda: f.read(1 << 20), b"")


def inception_candidates(weights_dir: str | Path | None) -> list[Path]:
    """Local places for the Inception weights: `<weights_dir>/pt_inception-...pth`, then the torch hub cache."""
    hub = Path(torch.hub.get_dir()) / "checkpoints"
    return ([Path(weights_dir) / INCEPTION_FILE] if weights_dir is not None else []) + [
        hub / f for f in INCEPTION_HUB_FILES
    ]


def find_inception_weights(weights_dir: str | Path | None) -> Path:
    """The first existing candidate; FileNotFoundError naming where to put the file otherwise."""
    candidates = inception_candidates(weights_dir)
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(
        f"Inception-v3 weights not found at {candidates[0]} (also looked in: {', '.join(map(str, candidates[1:]))}). "
        f"Place {INCEPTION_FILE} (the pytorch-fid / torch-fidelity release file) at {candidates[0]}, "
        f"or evaluate with the judge extractor (build_extractor('{JUDGE}', ...)); nothing is downloaded."
    )


class _SuiteExtractor(FeatureExtractorBase):
    """Shared torch-fidelity plumbing of both extractors: feature names, default layers, no compilation."""

    identity = ""  # network and weights fingerprint, recorded in metrics.json and reference files

    @staticmethod
    def get_provided_features_list() -> tuple[str, ...]:
        return FEATURES

    @staticmethod
    def get_default_feature_layer_for_metric(metric: str) -> str:
        return DEFAULT_LAYER[metric]

    @staticmethod
    def can_be_compiled() -> bool:
        return False

    @staticmethod
    def get_dummy_input_for_compile() -> torch.Tensor:
        return torch.zeros(1, 3, 32, 32, dtype=torch.uint8)


class InceptionExtractor(_SuiteExtractor):
    """torch-fidelity's `inception-v3-compat` from a local file, plus ADM's sFID spatial features."""

    def __init__(
        self,
        name: str,
        features_list: list[str],
        feature_extractor_weights_path: str | Path | None = None,
        weights_dir: str | Path | None = None,
        feature_extractor_internal_dtype: str | None = None,
        **kwargs,
    ) -> None:
        """Args: features_list: subset of FEATURES; feature_extractor_weights_path: the weights file, else looked up
        in `weights_dir` and the torch hub cache; other kwargs (torch-fidelity's) are ignored."""
        super().__init__(name, features_list)
        path = Path(feature_extractor_weights_path) if feature_extractor_weights_path else None
        if path is not None and not path.is_file():
            raise FileNotFoundError(f"no Inception weights at {path}: place {INCEPTION_FILE} there")
        path = path or find_inception_weights(weights_dir)
        # "768" is the first output after Mixed_6d: the forward then stops as soon as the hook has fired.
        inner = [TF_LAYER[f] for f in features_list if f != SPATIAL] or ["768"]
        self.net = FeatureExtractorInceptionV3(
            "inception-v3-compat",
            inner,
            feature_extractor_weights_path=str(path),
            feature_extractor_internal_dtype=feature_extractor_internal_dtype,
        )
        self._spatial: torch.Tensor | None = None
        self.net.Mixed_6d.branch1x1.register_forward_hook(self._keep_spatial)
        # torch-fidelity's version too: its resize and layer code shape the features as much as the weights do
        self.identity = f"{name}:inception-v3-compat@{_sha12(_file_chunks(path))}/torch-fidelity-{tf_version}"

    def _keep_spatial(self, module, args, output: torch.Tensor) -> None:
        self._spatial = output[:, :SPATIAL_CHANNELS]  # (B, 7, 17, 17), ADM's mixed_6/conv[..., :7]

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Args: x uint8 (B, 3, H, W). Returns: the requested features, in `features_list` order."""
        _check_uint8(x)
        inner = self.net.convert_features_tuple_to_dict(self.net(x))
        spatial, self._spatial = self._spatial, None
        feats = {f: inner[TF_LAYER[f]] for f in self.features_list if f != SPATIAL}
        if SPATIAL in self.features_list:
            feats[SPATIAL] = spatial.permute(0, 2, 3, 1).flatten(1).float()  # (B, 17 * 17 * 7), NHWC order
        return tuple(feats[f] for f in self.features_list)


class JudgeExtractor(_SuiteExtractor):
    """The suite's judge network (bench.featnets.JudgeNet) as a torch-fidelity feature extractor."""

    def __init__(
        self,
        name: str,
        features_list: list[str],
        judge_network: JudgeNet | None = None,
        feature_extractor_weights_path: str | Path | None = None,
        **kwargs,
    ) -> None:
        """Args: features_list: subset of FEATURES; judge_network: a JudgeNet (copied, so the caller's stays as it
        is), or feature_extractor_weights_path: the featnets stage's judge file; other kwargs are ignored."""
        super().__init__(name, features_list)
        if (judge_network is None) == (feature_extractor_weights_path is None):
            raise ValueError("give the judge as exactly one of judge_network= or feature_extractor_weights_path=")
        judge = (
            copy.deepcopy(judge_network) if judge_network is not None else load_featnet(feature_extractor_weights_path)
        )
        if not isinstance(judge, JudgeNet):
            raise ValueError(f"the judge extractor needs a JudgeNet, got {getattr(judge, 'identity', type(judge))}")
        self.judge = judge.eval().requires_grad_(False)
        sd = self.judge.state_dict()
        digest = _sha12(k.encode() + sd[k].detach().cpu().contiguous().numpy().tobytes() for k in sorted(sd))
        self.identity = f"{name}:{judge.identity}@{digest}"

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Args: x uint8 (B, 3, H, W). Returns: the requested features, in `features_list` order."""
        _check_uint8(x)
        h = x.float() / 127.5 - 1  # (B, 3, H, W) in [-1, 1]
        size = self.judge.cfg.input_size
        if tuple(h.shape[2:]) != (size, size):
            h = F.interpolate(h, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
        feats = self.judge.features(h)
        return tuple(feats[f] for f in self.features_list)


EXTRACTORS: dict[str, type[_SuiteExtractor]] = {INCEPTION: InceptionExtractor, JUDGE: JudgeExtractor}


def register_extractors() -> None:
    """Register "inception" and "judge" in torch-fidelity's registry (idempotent; torch-fidelity refuses repeats)."""
    for name, cls in EXTRACTORS.items():
        if name not in FEATURE_EXTRACTORS_REGISTRY:
            register_feature_extractor(name, cls)


def build_extractor(name: str, features: tuple[str, ...] = FEATURES, **kwargs) -> _SuiteExtractor:
    """Build an extractor by name, in eval mode, frozen.

    Args:
        name: "inception" or "judge".
        features: which of FEATURES to compute.
        **kwargs: "inception": `weights_dir` or `feature_extractor_weights_path`; "judge": `judge_network` or
            `feature_extractor_weights_path`.

    Returns:
        The extractor; `extractor.identity` names network and weights for metadata and reference files.
    """
    if name not in EXTRACTORS:
        raise ValueError(f"unknown feature extractor {name!r}; choose one of {sorted(EXTRACTORS)}")
    register_extractors()
    return EXTRACTORS[name](name, list(features), **kwargs).eval().requires_grad_(False)


@torch.no_grad()
def extract_features(extractor: FeatureExtractorBase, batches: Iterable[torch.Tensor]) -> dict[str, torch.Tensor]:
    """Run an extractor over batches.

    Args:
        extractor: from `build_extractor` (any torch-fidelity extractor works).
        batches: uint8 (B_i, 3, H, W) tensors (float [-1, 1] images: `bench.images.to_uint8_image` first).

    Returns:
        feature name -> (N, D) float32 on CPU, N = sum of B_i, in input order.
    """
    device = next(extractor.parameters()).device
    parts: dict[str, list[torch.Tensor]] = {f: [] for f in extractor.get_requested_features_list()}
    for batch in batches:
        feats = extractor.convert_features_tuple_to_dict(extractor(batch.to(device)))
        for f, v in feats.items():
            parts[f].append(v.float().cpu())
    if not any(parts.values()):
        raise ValueError("extract_features got no batches")
    return {f: torch.cat(v) for f, v in parts.items()}


def suite_extractors(
    metrics: MetricsCfg, paths: PathsCfg, device: torch.device, members: int
) -> dict[str, _SuiteExtractor]:
    """The evaluation extractors in use, by name: "judge-0" .. "judge-{members-1}" always (the judge ensemble of
    the judges stage), "inception" per `metrics.inception`.

    The reference, eval_ae, eval_gen and validate_metrics stages all build their extractors here, so references,
    reconstructions and samples are seen by the same networks.

    Raises:
        FileNotFoundError: a judge has not been trained, or `inception: required` and its weights are absent.
    """
    out: dict[str, _SuiteExtractor] = {}
    for k in range(members):
        judge = load_featnet(layout.judge(paths, k))
        out[layout.judge_name(k)] = build_extractor(JUDGE, judge_network=judge).to(device)
    if metrics.inception != "off":
        try:
            weights = find_inception_weights(paths.weights)
        except FileNotFoundError:
            if metrics.inception == "required":
                raise
            log.info("no local Inception-v3 weights: metrics use the judges only (labelled [judge])")
        else:
            out[INCEPTION] = build_extractor(INCEPTION, feature_extractor_weights_path=weights).to(device)
    return out


register_extractors()  # like torch-fidelity's own registry: importing the module makes the names usable
