"""Train a model on (a selection of) the training split and evaluate it.

ReID: rank-1/5/10, mAP, mINP and (rank-1 + mAP)/2 on query vs gallery with cosine distance on
the BNNeck embeddings. Classification: top-1 accuracy on the test split.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from reidprune.data.cache import image_rows
from reidprune.data.images import load_images
from reidprune.data.table import SampleTable
from reidprune.errors import ReidPruneError
from reidprune.eval.classify import top1_accuracy
from reidprune.eval.reid import evaluate_reid_features
from reidprune.models.reid import build_model
from reidprune.train.config import TrainConfig
from reidprune.train.loop import fit, predict, resolve_device


@dataclass
class EvalImages:
    """Decoded evaluation images of a table at one input size."""

    query: torch.Tensor | None = None
    gallery: torch.Tensor | None = None
    test: torch.Tensor | None = None

    @classmethod
    def load(cls, table: SampleTable, size: tuple[int, int], progress: bool = True) -> "EvalImages":
        out = cls()
        for split in ("query", "gallery", "test"):
            rows = table.split_table(split)
            if len(rows):
                images, _ = load_images(rows, size=size, progress=progress)
                setattr(out, split, images)
        return out


def train_model(images: torch.Tensor, labels: np.ndarray, num_classes: int, config: TrainConfig,
                checkpoint: str | Path | None = None, run_key: str = "", progress: bool = True):
    """Build and train a fresh model; returns (model, FitResult)."""
    torch.manual_seed(config.seed)
    model = build_model(config.backbone, num_classes, weights=config.weights, pretrained=config.pretrained)
    result = fit(model, images, labels, config, checkpoint=checkpoint, run_key=run_key, progress=progress)
    return model, result


def evaluate_model(model: torch.nn.Module, table: SampleTable, eval_images: EvalImages,
                   config: TrainConfig) -> dict:
    """Metrics of a trained model on the table's query/gallery (ReID) or test split (classify)."""
    device = resolve_device(config.device)
    if config.mode == "classify":
        if eval_images.test is None:
            raise ReidPruneError("classification evaluation needs a 'test' split")
        test = table.split_table("test")
        logits, _ = predict(model, eval_images.test, config.eval_batch_size, device)
        return {"top1": top1_accuracy(logits, test.label)}
    if eval_images.query is None or eval_images.gallery is None:
        raise ReidPruneError("ReID evaluation needs 'query' and 'gallery' splits")
    query, gallery = table.split_table("query"), table.split_table("gallery")
    _, qf = predict(model, eval_images.query, config.eval_batch_size, device)
    _, gf = predict(model, eval_images.gallery, config.eval_batch_size, device)
    # In query blocks (bounded memory), float32, on the training device.
    metrics = evaluate_reid_features(qf, gf, query.pid, gallery.pid, query.camid, gallery.camid, device=device)
    return metrics.as_dict(percent=True)


def retrain_and_evaluate(train_images: torch.Tensor, labels: np.ndarray, keep: np.ndarray | None,
                         table: SampleTable, eval_images: EvalImages, config: TrainConfig,
                         progress: bool = True, checkpoint: str | Path | None = None,
                         run_key: str = "") -> tuple[dict, torch.nn.Module]:
    """Train on the kept rows (all when ``keep`` is None) with ``labels``; (metrics, model).

    With ``checkpoint``, training saves after every epoch and resumes from it (see ``fit``).
    """
    index = np.arange(len(labels)) if keep is None else np.flatnonzero(keep)
    if len(index) == 0:
        raise ReidPruneError("nothing left to train on: the selection removed every sample")
    model, result = train_model(image_rows(train_images, index), labels[index], table.num_classes, config,
                                checkpoint=checkpoint, run_key=run_key, progress=progress)
    metrics = evaluate_model(model, table, eval_images, config)
    metrics.update({"train_images": int(len(index)), "seconds": round(result.seconds, 2),
                    "iterations": result.iterations})
    return metrics, model


def save_model(path: str | Path, model: torch.nn.Module, config: TrainConfig) -> None:
    """A state dict plus what is needed to rebuild the model (loadable with weights_only=True)."""
    from reidprune.atomic import atomic_path

    state = {"state_dict": model.state_dict(), "backbone": config.backbone, "height": config.height,
             "width": config.width, "num_classes": int(model.classifier.out_features), "format": "reidprune-model/1"}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_model(path: str | Path):
    """(model, saved dict) from :func:`save_model`'s file."""
    from reidprune.train.checkpoint import load_checkpoint

    saved = load_checkpoint(path)
    if saved is None:
        raise ReidPruneError(f"model file {path} does not exist")
    if not isinstance(saved, dict) or saved.get("format") != "reidprune-model/1":
        raise ReidPruneError(f"{path} is not a model written by `reidprune train`")
    model = build_model(saved["backbone"], saved["num_classes"])
    model.load_state_dict(saved["state_dict"])
    return model, saved
