"""Backbones by name, BNNeck head, last stride 1, local weight files, losses."""
import pytest
import torch
from torchvision.models import resnet18

from reidprune.errors import ReidPruneError
from reidprune.models.losses import batch_hard_triplet, cross_entropy
from reidprune.models.reid import build_model


@pytest.mark.parametrize("name, dim", [("small", 128), ("resnet18", 512)])
def test_forward_shapes(name, dim):
    model = build_model(name, num_classes=7).eval()
    out = model(torch.zeros(2, 3, 64, 32))
    assert out.logits.shape == (2, 7) and out.features.shape == (2, dim) and out.embeddings.shape == (2, dim)


@pytest.mark.parametrize("name", ["resnet18", "resnet50"])
def test_last_stride_is_one(name):
    trunk = build_model(name, 3).backbone
    # 64x32 input: strides 2 (conv1) x 2 (maxpool) x 2 x 2 = 16 with last stride 1 -> 4x2 (not 2x1)
    assert trunk(torch.zeros(1, 3, 64, 32)).shape[-2:] == (4, 2)


def test_unknown_backbone_names_the_choices():
    with pytest.raises(ReidPruneError, match="resnet50"):
        build_model("vgg", 3)


def test_torchvision_state_dict_loads_through_weights_option(tmp_path):
    reference = resnet18(weights=None)
    torch.nn.init.constant_(reference.conv1.weight, 0.5)
    path = tmp_path / "r18.pth"
    torch.save(reference.state_dict(), path)
    model = build_model("resnet18", 5, weights=path)
    assert torch.equal(model.backbone.conv1.weight, reference.conv1.weight)
    assert torch.equal(model.backbone.layer4[1].conv2.weight, reference.layer4[1].conv2.weight)


@pytest.mark.parametrize("name, factory", [("resnet18", "resnet18"), ("resnet50", "resnet50")])
def test_resnet_trunk_keeps_torchvision_names(name, factory):
    import torchvision.models as tvm

    reference = getattr(tvm, factory)(weights=None)
    expected = {k for k in reference.state_dict() if not k.startswith("fc.")}
    trunk = build_model(name, 3).backbone
    assert set(trunk.state_dict()) == expected
    trunk.load_state_dict({k: v for k, v in reference.state_dict().items() if k in expected})  # strict
    assert torch.equal(trunk.layer3[0].conv1.weight, reference.layer3[0].conv1.weight)


def test_weights_saved_from_the_older_sequential_trunk_still_load(tmp_path):
    reference = resnet18(weights=None)
    torch.nn.init.constant_(reference.layer2[0].conv1.weight, 0.75)
    stages = ["conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"]
    older = {f"backbone.body.{stages.index(k.split('.')[0])}.{k.split('.', 1)[1]}": v
             for k, v in reference.state_dict().items() if not k.startswith("fc.")}
    path = tmp_path / "older.pth"
    torch.save(older, path)
    model = build_model("resnet18", 5, weights=path)
    assert torch.equal(model.backbone.layer2[0].conv1.weight, reference.layer2[0].conv1.weight)


def test_weight_file_errors(tmp_path):
    with pytest.raises(ReidPruneError, match="does not exist"):
        build_model("resnet18", 5, weights=tmp_path / "missing.pth")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ReidPruneError, match="cannot read weight file"):
        build_model("resnet18", 5, weights=bad)
    other = tmp_path / "other.pth"
    torch.save({"something.else": torch.zeros(3)}, other)
    with pytest.raises(ReidPruneError, match="no parameter"):
        build_model("resnet18", 5, weights=other)


def test_batch_hard_triplet_by_hand():
    # 1-D features: a0=0, a1=1 (id 0); b0=3, b1=5 (id 1); margin 0.3
    feats = torch.tensor([[0.0], [1.0], [3.0], [5.0]])
    labels = torch.tensor([0, 0, 1, 1])
    # a0: pos 1, neg 3 -> relu(1-3+.3)=0; a1: pos 1, neg 2 -> 0; b0: pos 2, neg 2 -> .3; b1: pos 2, neg 4 -> 0
    assert batch_hard_triplet(feats, labels, 0.3).item() == pytest.approx(0.3 / 4)


def test_batch_hard_triplet_normalized_by_hand():
    # unit length: a0=(1,0), a1=(0,1) (id 0); b0=(1,0), b1=(-1,0) (id 1) after scaling; margin 0.3
    feats = torch.tensor([[2.0, 0.0], [0.0, 3.0], [5.0, 0.0], [-1.0, 0.0]])
    labels = torch.tensor([0, 0, 1, 1])
    r2 = 2 ** 0.5
    # a0: pos r2, neg 0 -> r2+.3; a1: pos r2, neg r2 -> .3; b0: pos 2, neg 0 -> 2.3; b1: pos 2, neg r2 -> 2-r2+.3
    expected = ((r2 + 0.3) + 0.3 + 2.3 + (2 - r2 + 0.3)) / 4
    assert batch_hard_triplet(feats, labels, 0.3, normalize=True).item() == pytest.approx(expected, abs=1e-5)
    assert batch_hard_triplet(feats * 7, labels, 0.3, normalize=True).item() == pytest.approx(expected, abs=1e-5)


def test_label_smoothing_cross_entropy_by_hand():
    logits = torch.zeros(1, 4)
    # uniform prediction: CE = log 4 whatever the smoothing
    assert cross_entropy(logits, torch.tensor([2]), 0.1).item() == pytest.approx(torch.log(torch.tensor(4.0)).item())


def test_the_torch_free_backbone_names_are_the_built_ones():
    """models/names.py (read by --help and the size check) and models/backbones.py name the same backbones,
    and each halves its input as often as the size check assumes."""
    import torch

    from reidprune.models.backbones import BACKBONES, build_backbone
    from reidprune.models.names import BACKBONE_HALVINGS, BACKBONE_NAMES

    assert set(BACKBONE_NAMES) == set(BACKBONES)
    for name in ("small", "mobilenetv2", "resnet18"):
        backbone = build_backbone(name).eval()
        with torch.no_grad():
            out = backbone(torch.zeros(1, 3, 64, 64))
        assert out.shape[-1] == 64 // 2 ** BACKBONE_HALVINGS[name], name
