"""Losses of the ReID baseline: CE with label smoothing and batch-hard triplet."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def cross_entropy(logits: torch.Tensor, labels: torch.Tensor, smoothing: float = 0.1,
                  weights: torch.Tensor | None = None) -> torch.Tensor:
    """Mean cross-entropy with label smoothing; with ``weights``, the mean of each sample's loss times
    its weight (dynamic pruning's rescaling keeps the expected gradient)."""
    if weights is None:
        return F.cross_entropy(logits.float(), labels, label_smoothing=smoothing)
    return (F.cross_entropy(logits.float(), labels, label_smoothing=smoothing, reduction="none") * weights).mean()


def batch_hard_triplet(features: torch.Tensor, labels: torch.Tensor, margin: float = 0.3,
                       normalize: bool = False) -> torch.Tensor:
    """Hermans et al. 2017: for each anchor the farthest positive and the nearest negative.

    Euclidean distances on the pre-BN features, or on the features scaled to unit length when
    ``normalize`` (FastReID's ``NORM_FEAT``; distances then lie in [0, 2], so the loss stays on
    the scale of the margin). Anchors without a positive or a negative in the batch are left
    out; a batch with none returns 0.
    """
    features = features.float()
    if normalize:
        features = F.normalize(features, dim=1)
    dist = torch.cdist(features, features).clamp_min(1e-12)
    same = labels.unsqueeze(0) == labels.unsqueeze(1)
    eye = torch.eye(len(labels), dtype=torch.bool, device=labels.device)
    positive = same & ~eye
    hardest_pos = (dist * positive).amax(1)
    hardest_neg = dist.masked_fill(same, float("inf")).amin(1)
    valid = positive.any(1) & (~same).any(1)
    losses = F.relu(hardest_pos - hardest_neg + margin)
    return (losses * valid).sum() / valid.sum().clamp_min(1)
