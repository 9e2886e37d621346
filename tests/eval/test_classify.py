"""Top-1 accuracy on hand-made scores and predictions."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from reidprune.errors import ReidPruneError
from reidprune.eval.classify import top1_accuracy


def test_scores_use_argmax():
    logits = np.array([[0.1, 0.9, 0.0], [2.0, 1.0, -1.0], [0.0, 0.2, 3.0], [5.0, 0.0, 4.0]])
    # argmax per row: 1, 0, 2, 0; labels 1, 0, 1, 2 -> rows 0 and 1 are right -> 2/4.
    assert top1_accuracy(logits, np.array([1, 0, 1, 2])) == 0.5


def test_tied_scores_predict_the_lowest_class():
    # Row [0, 0] predicts class 0: right for label 0, wrong for label 1.
    assert top1_accuracy(np.array([[0.0, 0.0]]), np.array([0])) == 1.0
    assert top1_accuracy(np.array([[0.0, 0.0]]), np.array([1])) == 0.0


def test_predictions_are_compared_directly():
    # 3 of 4 predictions equal the label.
    assert top1_accuracy(np.array([0, 2, 2, 1]), np.array([0, 2, 1, 1])) == 0.75
    assert top1_accuracy([3, 3], [3, 3]) == 1.0


def test_accepts_torch_tensors():
    logits = torch.tensor([[0.2, 0.8], [0.7, 0.3], [0.4, 0.6]])
    # argmax 1, 0, 1 against labels 1, 1, 1 -> 2/3.
    assert top1_accuracy(logits, torch.tensor([1, 1, 1])) == pytest.approx(2 / 3)


@pytest.mark.parametrize(
    "scores, labels, message",
    [
        (np.array([0, 1, 2]), np.array([0, 1]), "got 3 predictions but 2 labels"),
        (np.zeros((2, 4)), np.array([0, 1, 2]), "got 2 predictions but 3 labels"),
        (np.array([], dtype=np.int64), np.array([], dtype=np.int64), "no samples"),
        ([], [], "no samples"),
        (np.zeros((2, 3)), np.array([0, 3]), "label 3 is outside 0..2"),
        (np.zeros((1, 3)), np.array([-1]), "label -1 is outside 0..2"),
        (np.array([0.0, 1.0]), np.array([0, 1]), "predictions must hold integer"),
        (np.array([0, 1]), np.array([0.0, 1.0]), "labels must hold integer"),
        (np.zeros((2, 2, 2)), np.array([0, 1]), "N x C scores or N class predictions"),
        (np.array([[np.nan, 1.0]]), np.array([0]), "NaN"),
        (np.zeros((2, 0)), np.array([0, 1]), "0 classes"),
    ],
)
def test_invalid_inputs_raise(scores, labels, message):
    with pytest.raises(ReidPruneError, match=message):
        top1_accuracy(scores, labels)
