"""GraNd score (Paul et al., 2021, "Deep Learning on a Data Diet").

GraNd(x, y) = || grad_theta CE(f_theta(x), y) ||_2, the norm of the per-sample gradient of
the cross-entropy loss with respect to ALL trainable parameters theta, early in training;
Paul et al. take its expectation over initialisations, i.e. the mean over independently
seeded models (:func:`average_over_models`). Higher = larger gradient = harder = kept.

:func:`grand_scores` computes the exact per-sample gradients with ``torch.func``
(``functional_call`` + ``grad`` + ``vmap``). The model runs in eval mode: BatchNorm uses its
running statistics, so a sample's gradient does not depend on the other samples in its
batch (in train mode the batch statistics would couple them) and dropout is off.

:func:`grand_last_layer_scores` is a cheaper APPROXIMATION some libraries call GraNd: the
gradient with respect to the final linear classifier only, in closed form. For
z = W f + b and p = softmax(z), dCE/dW = (p - onehot(y)) f^T and dCE/db = p - onehot(y), so
its norm is ||p - onehot(y)|| * sqrt(||f||^2 + 1) (without the 1 when there is no bias):
EL2N scaled by the feature norm.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch.func import functional_call, grad, vmap

from reidprune.errors import ReidPruneError
from reidprune.scores.el2n import average_over_models
from reidprune.validation.arrays import as_logits, check_int, softmax

__all__ = ["grand_scores", "grand_last_layer_scores", "average_over_models"]


def _logits_of(output) -> torch.Tensor:
    """The logits from a forward output: a tensor, or a tuple/NamedTuple with the logits first."""
    if isinstance(output, torch.Tensor):
        return output
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], torch.Tensor):
        return output[0]
    raise ReidPruneError(
        f"the model returned {type(output).__name__}; it must return the logits or a tuple whose "
        "first element is the logits (in eval mode)")


def _check_images_labels(images, labels) -> tuple[torch.Tensor, torch.Tensor]:
    images = torch.as_tensor(images)
    labels = torch.as_tensor(np.asarray(labels))
    if images.dim() < 2 or images.shape[0] == 0:
        raise ReidPruneError(f"images must have shape (N, ...) with N >= 1, got {tuple(images.shape)}")
    if not images.is_floating_point():
        raise ReidPruneError(f"images must be floating point (normalised model inputs), got {images.dtype}")
    if labels.shape != (images.shape[0],) or labels.is_floating_point() or labels.dtype == torch.bool:
        raise ReidPruneError(
            f"labels must be an integer array of shape ({images.shape[0]},), got {labels.dtype} {tuple(labels.shape)}")
    if labels.min() < 0:
        raise ReidPruneError(f"labels must be >= 0, got {labels.min().item()}")
    return images, labels.long()


def grand_scores(model: torch.nn.Module, images, labels, batch_size: int = 32,
                 device: str | torch.device = "cpu") -> np.ndarray:
    """Exact GraNd: per-sample L2 norm of the CE gradient w.r.t. all trainable parameters.

    Parameters
    ----------
    model:
        The classifier. Its forward, in eval mode, must return the logits (N, C) or a
        tuple/NamedTuple whose first element is the logits. Parameters with
        ``requires_grad=False`` are treated as constants. The model is moved to ``device``
        and its train/eval mode is restored afterwards.
    images:
        float tensor or array (N, ...): model inputs (already normalised, not augmented);
        cast to the parameters' dtype.
    labels:
        int (N,): assigned labels in 0..C-1.
    batch_size:
        Samples per vmap call. Memory grows as batch_size x number of parameters (ResNet-50:
        about 100 MB per sample in fp32), so lower it for big models.
    device:
        Where to compute.

    Returns
    -------
    np.ndarray
        float64 (N,). Higher = harder = kept.
    """
    batch_size = check_int(batch_size, "batch_size", minimum=1)
    images, labels = _check_images_labels(images, labels)
    params = {name: p.detach() for name, p in model.named_parameters() if p.requires_grad}
    if not params:
        raise ReidPruneError("the model has no trainable parameters (all have requires_grad=False)")
    was_training = model.training
    model.to(device).eval()
    params = {name: p.to(device) for name, p in params.items()}
    dtype = next(iter(params.values())).dtype  # float64 arrays are fed at the model's precision

    def loss_of(theta: dict, image: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        logits = _logits_of(functional_call(model, theta, (image.unsqueeze(0),)))
        return F.cross_entropy(logits, label.unsqueeze(0))

    per_sample_grads = vmap(grad(loss_of), in_dims=(None, 0, 0))
    norms = []
    try:
        with torch.no_grad():
            num_classes = _logits_of(model(images[:1].to(device, dtype))).shape[-1]
        if labels.max() >= num_classes:
            raise ReidPruneError(
                f"labels go up to {labels.max().item()} but the model has {num_classes} outputs")
        for begin in range(0, len(images), batch_size):
            x = images[begin:begin + batch_size].to(device, dtype)
            y = labels[begin:begin + batch_size].to(device)
            grads = per_sample_grads(params, x, y)
            squared = sum(g.flatten(1).double().pow(2).sum(1) for g in grads.values())
            norms.append(squared.sqrt().cpu())
    finally:
        model.train(was_training)
    return torch.cat(norms).numpy()


def grand_last_layer_scores(features: np.ndarray, labels: np.ndarray, classifier_weight: np.ndarray,
                            classifier_bias: np.ndarray | None = None) -> np.ndarray:
    """Last-layer GraNd approximation: gradient norm w.r.t. the final linear classifier only.

    The caller supplies the classifier's input features and parameters, e.g. for a BNNeck
    model ``features`` = the BN-neck output and ``classifier_weight`` =
    ``model.classifier.weight`` (FastReID's classifier has no bias: pass None). The logits are
    recomputed as ``features @ classifier_weight.T + classifier_bias``.

    Parameters
    ----------
    features:
        float (N, D): input of the final linear layer for each sample (eval mode).
    labels:
        int (N,): assigned labels in 0..C-1.
    classifier_weight:
        float (C, D): weight of the final linear layer.
    classifier_bias:
        float (C,) or None: its bias; None when the layer has no bias (then the bias
        gradient is not part of the norm).

    Returns
    -------
    np.ndarray
        float64 (N,): ||p - onehot(y)|| * sqrt(||f||^2 + [bias]). Higher = kept.
    """
    features = np.asarray(features, dtype=np.float64)
    weight = np.asarray(classifier_weight, dtype=np.float64)
    if features.ndim != 2 or weight.ndim != 2 or weight.shape[1] != features.shape[1]:
        raise ReidPruneError(
            f"features must be (N, D) and classifier_weight (C, D); got {features.shape} and {weight.shape}")
    if not np.isfinite(features).all() or not np.isfinite(weight).all():
        raise ReidPruneError("features or classifier_weight contain NaN or infinity")
    logits = features @ weight.T
    if classifier_bias is not None:
        bias = np.asarray(classifier_bias, dtype=np.float64)
        if bias.shape != (weight.shape[0],):
            raise ReidPruneError(f"classifier_bias must have shape ({weight.shape[0]},), got {bias.shape}")
        logits = logits + bias
    logits, labels = as_logits(logits, labels)
    error = softmax(logits)
    error[np.arange(len(labels)), labels] -= 1.0
    input_sq = (features ** 2).sum(axis=1) + (0.0 if classifier_bias is None else 1.0)
    return np.sqrt((error ** 2).sum(axis=1) * input_sq)
