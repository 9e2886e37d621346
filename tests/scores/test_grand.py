"""GraNd against plain autograd, one sample at a time."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from reidprune.errors import ReidPruneError
from reidprune.scores.grand import grand_last_layer_scores, grand_scores


class Output(NamedTuple):
    logits: torch.Tensor
    features: torch.Tensor


class TinyNet(nn.Module):
    """Conv -> BN -> ReLU -> global pool -> Linear on 3x8x4 inputs."""

    def __init__(self, num_classes: int = 5, named_output: bool = False):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.bn = nn.BatchNorm2d(4)
        self.fc = nn.Linear(4, num_classes)
        self.named_output = named_output

    def features(self, x):
        return F.relu(self.bn(self.conv(x))).mean(dim=(2, 3))

    def forward(self, x):
        f = self.features(x)
        return Output(self.fc(f), f) if self.named_output else self.fc(f)


def make_model(**kwargs) -> TinyNet:
    torch.manual_seed(0)
    model = TinyNet(**kwargs)
    with torch.no_grad():  # non-trivial running statistics, as after some training
        model.bn.running_mean.uniform_(-0.5, 0.5)
        model.bn.running_var.uniform_(0.5, 2.0)
        model.bn.weight.uniform_(0.5, 1.5)
        model.bn.bias.uniform_(-0.2, 0.2)
    return model


def data(n: int = 7):
    g = torch.Generator().manual_seed(1)
    return torch.randn(n, 3, 8, 4, generator=g), torch.randint(0, 5, (n,), generator=g)


def loop_reference(model, images, labels, params):
    """Gradient norm of each sample separately, with torch.autograd.grad, in eval mode."""
    model.eval()
    norms = []
    for x, y in zip(images, labels):
        output = model(x.unsqueeze(0))
        logits = output if isinstance(output, torch.Tensor) else output[0]
        grads = torch.autograd.grad(F.cross_entropy(logits, y.unsqueeze(0)), params)
        norms.append(torch.sqrt(sum(g.double().pow(2).sum() for g in grads)).item())
    return np.array(norms)


@pytest.mark.parametrize("named_output", [False, True])
def test_grand_matches_per_sample_autograd(named_output):
    model = make_model(named_output=named_output)
    images, labels = data()
    model.train()
    scores = grand_scores(model, images, labels.numpy(), batch_size=3)
    assert model.training  # mode restored
    expected = loop_reference(model, images, labels, list(model.parameters()))
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-7)
    assert scores.shape == (7,) and scores.dtype == np.float64


def test_grand_ignores_frozen_parameters():
    model = make_model()
    model.conv.weight.requires_grad_(False)
    images, labels = data()
    scores = grand_scores(model, images.numpy().astype(np.float64), labels)  # numpy float64 input
    trainable = [p for p in model.parameters() if p.requires_grad]
    np.testing.assert_allclose(scores, loop_reference(model, images, labels, trainable), rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("with_bias", [True, False])
def test_last_layer_matches_autograd_restricted_to_classifier(with_bias):
    model = make_model()
    if not with_bias:
        model.fc.bias = None
    model.eval()
    images, labels = data()
    with torch.no_grad():
        features = model.features(images)
    params = [model.fc.weight] + ([model.fc.bias] if with_bias else [])
    expected = loop_reference(model, images, labels, params)
    scores = grand_last_layer_scores(features.numpy(), labels.numpy(), model.fc.weight.detach().numpy(),
                                     model.fc.bias.detach().numpy() if with_bias else None)
    np.testing.assert_allclose(scores, expected, rtol=1e-5)


def test_grand_validates():
    model = make_model()
    images, labels = data()
    with pytest.raises(ReidPruneError, match="outputs"):
        grand_scores(model, images, labels + 5)
    with pytest.raises(ReidPruneError, match="labels"):
        grand_scores(model, images, labels[:3])
    with pytest.raises(ReidPruneError, match="batch_size"):
        grand_scores(model, images, labels, batch_size=0)
    with pytest.raises(ReidPruneError, match="classifier_weight"):
        grand_last_layer_scores(np.zeros((2, 3)), np.array([0, 1]), np.zeros((2, 4)))
