"""Train a model on (a selection of) the training split and evaluate it.

ReID: rank-1/5/10, mAP, mINP and (rank-1 + mAP)/2 on query vs gallery with cosine distance on
the BNNeck embeddings. Classification: top-1 accuracy on the test split.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.data.cache import image_rows
from reidprune.data.images import load_images
from reidprune.data.layouts import load_dataset
from reidprune.data.table import SampleTable
from reidprune.dynamics.dynamic_pruning import DynamicPruner
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.errors import ReidPruneError
from reidprune.eval.classify import top1_accuracy
from reidprune.eval.reid import evaluate_reid_features
from reidprune.export.manifest import check_manifest_matches, read_manifest
from reidprune.models.reid import build_model
from reidprune.pipeline.checks import check_evaluation_splits
from reidprune.models.names import check_input_size
from reidprune.validation.paths import output_lock
from reidprune.pipeline.loading import labels_from_manifest, load_training_images
from reidprune.pipeline.options import ReadOptions
from reidprune.run_key import run_key
from reidprune.presets import config_from_choices
from reidprune.train.config import TrainChoices, TrainConfig
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
                checkpoint: str | Path | None = None, run_key: str = "", progress: bool = True,
                dynamic: float = 0.0, dynamic_easy: str = "mean"):
    """Build and train a fresh model; returns (model, FitResult).

    ``dynamic`` > 0 prunes dynamically: each epoch that share of the samples the running soft label
    calls easy (``dynamic_easy``: entropy below the mean or the median) is skipped
    (:class:`~reidprune.dynamics.dynamic_pruning.DynamicPruner`).
    """
    torch.manual_seed(config.seed)
    model = build_model(config.backbone, num_classes, weights=config.weights, pretrained=config.pretrained)
    hooks, pruner = [], None
    if dynamic:
        recorder = LogitRecorder(len(labels), num_classes, device=resolve_device(config.device))
        hooks, pruner = [recorder], DynamicPruner(recorder, ratio=dynamic, seed=config.seed, easy=dynamic_easy)
    result = fit(model, images, labels, config, hooks=hooks, checkpoint=checkpoint, run_key=run_key,
                 progress=progress, pruner=pruner)
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
                         run_key: str = "", dynamic: float = 0.0,
                         dynamic_easy: str = "mean") -> tuple[dict, torch.nn.Module]:
    """Train on the kept rows (all when ``keep`` is None) with ``labels``; (metrics, model).

    With ``checkpoint``, training saves after every epoch and resumes from it (see ``fit``);
    ``dynamic``, ``dynamic_easy``: see :func:`train_model`.
    """
    index = np.arange(len(labels)) if keep is None else np.flatnonzero(keep)
    if len(index) == 0:
        raise ReidPruneError("nothing left to train on: the selection removed every sample")
    model, result = train_model(image_rows(train_images, index), labels[index], table.num_classes, config,
                                checkpoint=checkpoint, run_key=run_key, progress=progress, dynamic=dynamic,
                                dynamic_easy=dynamic_easy)
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


def train_folder(data: str | Path, out: str | Path, train: TrainChoices, read: ReadOptions = ReadOptions(), *,
                 echo: Callable[..., None], manifest: str | Path | None = None, dynamic: float = 0.0,
                 dynamic_easy: str = "mean") -> dict:
    """``reidprune train``: train on ``data`` (the rows a manifest keeps, with its corrected ids)
    and evaluate; writes ``out/model.pt`` and ``out/metrics.json`` and returns the metrics.

    Parameters
    ----------
    data: the dataset folder.
    out: the output folder (locked while training; ``out/checkpoint.ckpt`` resumes a run).
    train: the training options given; the preset's full training fills the rest.
    echo: prints the metrics.
    read: how the dataset is read.
    manifest: a ``manifest.csv`` from ``reidprune prune``, or None for every training image.
    dynamic, dynamic_easy: prune dynamically while training (see :func:`train_model`); 0 = off.
    """
    table = load_dataset(data, read.layout)
    progress = read.progress
    config, _ = config_from_choices(train, table.layout, scoring=False)
    check_input_size(config.backbone, config.height, config.width)
    check_evaluation_splits(table, config.mode)
    with output_lock(out):
        size = (config.height, config.width)
        train_rows, images, _ = load_training_images(table, size, read.skip_bad_images, progress)
        labels, keep = train_rows.label, None
        if manifest:
            rows = read_manifest(manifest)
            check_manifest_matches(rows, train_rows)
            keep = rows.keep_mask
            labels = labels_from_manifest(rows, train_rows.classes, keep)
        eval_images = EvalImages.load(table, size, progress=progress)
        out = Path(out)
        fingerprint = train_rows.fingerprint()
        dynamic_key = ([dynamic] + ([dynamic_easy] if dynamic_easy != "mean" else [])) if dynamic else []
        key = run_key([fingerprint, asdict(config), keep, labels] + dynamic_key)  # older runs keep their key
        metrics, model = retrain_and_evaluate(images, labels, keep, table, eval_images, config, progress=progress,
                                              checkpoint=out / "checkpoint.ckpt", run_key=key, dynamic=dynamic,
                                              dynamic_easy=dynamic_easy)
        save_model(out / "model.pt", model, config)
        write_json(out / "metrics.json", {**metrics, "config": asdict(config), "dynamic": dynamic,
                                          "dynamic_easy": dynamic_easy if dynamic else None,
                                          "dataset": str(table.root),
                                          "fingerprint": fingerprint, "manifest": manifest,
                                          "reidprune": __version__})
        (out / "checkpoint.ckpt").unlink(missing_ok=True)
    echo(format_metrics(metrics))
    echo(f"model and metrics written to {out}")
    return metrics


def evaluate_folder(data: str | Path, model_path: str | Path, read: ReadOptions = ReadOptions(), *,
                    echo: Callable[..., None], mode: str = TrainConfig.mode, device: str = TrainConfig.device) -> dict:
    """``reidprune evaluate``: a model from :func:`save_model` on ``data``'s query/gallery (or test) split.

    Parameters
    ----------
    data: the dataset folder.
    model_path: ``model.pt`` written by ``reidprune train``.
    read: how the dataset is read (its layout; progress bars).
    echo: prints the metrics.
    mode: ``"reid"`` (rank-k, mAP) or ``"classify"`` (top-1).
    device: where to run the model.
    """
    model, saved = load_model(model_path)
    table = load_dataset(data, read.layout)
    config = TrainConfig(mode=mode, backbone=saved["backbone"], height=saved["height"], width=saved["width"],
                         device=device)
    eval_images = EvalImages.load(table, (config.height, config.width), progress=read.progress)
    metrics = evaluate_model(model, table, eval_images, config)
    echo(format_metrics(metrics))
    return metrics


def format_metrics(metrics: dict) -> str:
    """The numeric metrics on one line: ``rank1=91.20  mAP=78.00  train_images=500``."""
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
    return "  ".join(f"{k}={v:.2f}" if isinstance(v, float) else f"{k}={v}" for k, v in shown.items())
