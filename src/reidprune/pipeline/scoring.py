"""Score a training split with one or more methods, sharing training runs where possible.

Runs and what rides on them:

* the **main run** (the configured ReID training, ``epochs`` long): our logit recorder for the
  first ``score_epochs`` epochs (entropy, soft labels, corrections, outliers), forgetting events,
  AUM margins and the moving-average loss over the whole run, and the supervised-prototype
  embeddings after its last epoch;
* **CE-only runs** (``models`` seeds, ``score_epochs`` long, as the paper's appendix A.2 asks
  for EL2N): EL2N and GraNd, both evaluated on the model after epoch ``score_epochs``;
* **AUM threshold runs** (two, each with a different N/(C+1) threshold samples in a fake class,
  Pleiss et al. 2020): AUM mislabel flags for every sample;
* **K-fold runs** for confident learning (out-of-sample probabilities);
* random needs no training.
"""
from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from reidprune.data.cache import image_rows
from reidprune.data.table import SampleTable
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.dynamics.topk import TopKLogitRecorder
from reidprune.dynamics.trackers import AUMTracker, ForgettingTracker, LossEMATracker
from reidprune.errors import ReidPruneError
from reidprune.models.reid import build_model
from reidprune.pipeline.options import ScoreOptions
from reidprune.scores.registry import CE_RUNS, FULL_RUN, MAIN_RUN
from reidprune.dynamics.probe_stop import ProbeMonitor, plan_probes, probes_wanted
from reidprune.dynamics.stopping import EpochAccuracy, ScoringMonitor
from reidprune.scores import aum as aum_mod
from reidprune.scores.confident import confident_learning_issues, kfold_indices
from reidprune.scores.el2n import average_over_models, el2n_scores
from reidprune.scores.entropy import soft_label_statistics, sparse_soft_label_stats
from reidprune.scores.forgetting import forgetting_scores
from reidprune.scores.grand import grand_scores
from reidprune.scores.ma_loss import ma_loss_scores
from reidprune.scores.neighbours import default_k, knn_entropy
from reidprune.scores.prototypes import prototype_scores
from reidprune.scores.random import random_scores
from reidprune.scores.store import MethodScores, ScoreSet
from reidprune.train.augment import normalize
from reidprune.train.config import TrainConfig
from reidprune.train.loop import fit, predict, resolve_device

def score_dataset(train: SampleTable, images: torch.Tensor, options: ScoreOptions,
                  workdir: str | Path | None = None, progress: bool = True, observers: tuple = ()) -> ScoreSet:
    """Score every sample of ``train`` (a training split) with ``options.methods``.

    ``images`` are the split's uint8 images (N x 3 x H x W, already at the input size).
    ``workdir`` holds per-run checkpoints: re-running with the same arguments resumes.
    ``observers``: extra training hooks (``update``) and epoch callbacks (``on_epoch_end``) of
    the main run, e.g. a benchmark's per-epoch recorder; they see the labels it trains with.
    """
    if len(images) != len(train):
        raise ReidPruneError(f"{len(images)} images for {len(train)} training samples")
    labels = train.label
    if (labels < 0).any():
        raise ReidPruneError("every training sample needs a label in 0..C-1")
    scores = ScoreSet.for_table(train, {"options": asdict(options), "num_classes": train.num_classes})
    ctx = _Context(train, images, options, Path(workdir) if workdir else None, progress, scores.fingerprint)
    ctx.observers = tuple(observers)
    methods = set(options.methods)
    if "random" in methods:
        scores.add(MethodScores("random", random_scores(len(train), options.seed), {"seed": options.seed},
                                {"epochs": 0, "seconds": 0.0, "runs": 0}))
    # AUM alone with flags: its threshold runs give every sample an AUM, no main run needed
    aum_alone = methods & set(MAIN_RUN) == {"aum"} and options.aum_flags and not _ce_rides_on_main(options, methods)
    if (methods & set(MAIN_RUN) and not aum_alone) or _ce_rides_on_main(options, methods):
        for result in _main_run(ctx, methods):
            scores.add(result)
    if methods & set(CE_RUNS) and not _ce_rides_on_main(options, methods):
        for result in _ce_runs(ctx, methods):
            scores.add(result)
    if aum_alone:
        scores.add(_aum_from_threshold_runs(ctx))
    elif "aum" in methods and options.aum_flags:
        _add_aum_flags(ctx, scores["aum"])
    if "confident" in methods:
        scores.add(_confident(ctx))
    scores.info["weights"] = ctx.weights
    return scores


class _Context:
    def __init__(self, train, images, options, workdir, progress, fingerprint: str):
        self.train, self.images, self.options, self.workdir, self.progress = \
            train, images, options, workdir, progress
        self.labels = train.label
        self.C = train.num_classes
        self.device = resolve_device(options.train.device)
        self.fingerprint = fingerprint
        self.weights: dict | None = None  # which weights the runs started from
        self.observers: tuple = ()

    def checkpoint(self, run: str) -> Path | None:
        return None if self.workdir is None else self.workdir / f"{run}.ckpt"

    def fit(self, run: str, config: TrainConfig, labels, num_classes, index=None, hooks=(), callbacks=()):
        torch.manual_seed(config.seed)  # model initialisation depends only on the run's seed
        model = build_model(config.backbone, num_classes, weights=config.weights, pretrained=config.pretrained)
        self.weights = model.weights_info.as_dict()
        images = self.images if index is None else image_rows(self.images, index)
        result = fit(model, images, labels, config, hooks=hooks, callbacks=callbacks,
                     checkpoint=self.checkpoint(run), run_key=self.options.key(self.fingerprint, run),
                     progress=self.progress,
                     settings={"training images": self.fingerprint, "run": run, **asdict(self.options)})
        return model, result


def _ce_rides_on_main(options: ScoreOptions, methods: set[str]) -> bool:
    """A CE-only main run (classification mode) also gives EL2N / GraNd for one seed."""
    return options.train.mode == "classify" and options.models == 1 and bool(methods & set(CE_RUNS)) \
        and options.T <= options.train.epochs


def _main_run(ctx: _Context, methods: set[str]) -> list[MethodScores]:
    opts, n, device = ctx.options, len(ctx.train), ctx.device
    if opts.recorder_topk:
        recorder = TopKLogitRecorder(n, ctx.C, opts.recorder_topk, device, every=opts.every, stop=opts.T)
    else:
        recorder = LogitRecorder(n, ctx.C, device, every=opts.every, stop=opts.T)
    forgetting = ForgettingTracker(n, device)
    aum = AUMTracker(n, device)
    ma = LossEMATracker(n, decay=opts.ma_decay, device=device)
    accuracy = EpochAccuracy(device)
    hooks = {"entropy": recorder, "forgetting": forgetting, "aum": aum, "ma_loss": ma}
    active = [h for name, h in hooks.items() if name in methods]
    # forgetting, AUM, the moving-average loss and prototypes need the whole run; the others
    # only its first T epochs, so without them the run stops there
    config = opts.train if methods & set(FULL_RUN) else opts.train.replace(epochs=opts.T)
    ours = bool(methods & {"entropy", "entropy_knn"})
    probes, trained_labels, similar = None, ctx.labels, None
    if ours and opts.stop == "probes":
        probes, trained_labels, similar = _choose_probes(ctx)
    callbacks = []
    monitor = probe_monitor = None
    ends_training = opts.T == config.epochs and not opts.train_to_cap
    if ours:
        active += [recorder] if "entropy" not in methods else []
        if not opts.recorder_topk:  # the diagnostics need the full soft labels
            active.append(accuracy)
            rule = opts.stop_rule if opts.stop == "auto" else None
            monitor = ScoringMonitor(recorder, accuracy, trained_labels, rule, ends_training=ends_training)
            callbacks.append(monitor)
        if probes is not None:
            probe_monitor = ProbeMonitor(recorder, trained_labels, ctx.labels, probes, ends_training=ends_training,
                                         similar=similar)
            callbacks.append(probe_monitor)
    # after the monitors: an adaptive stop before epoch T takes EL2N / GraNd at the stop
    snapshot = _CESnapshot(ctx, opts.T, "grand" in methods, probe_monitor or monitor) \
        if _ce_rides_on_main(opts, methods) else None
    if snapshot:
        callbacks.append(snapshot)
    active += [o for o in ctx.observers if hasattr(o, "update")]
    callbacks += [o for o in ctx.observers if hasattr(o, "on_epoch_end")]
    model, result = ctx.fit("main", config, trained_labels, ctx.C, hooks=active, callbacks=callbacks)
    E, secs = result.epochs, result.seconds
    best = probe_monitor.finish() if probe_monitor is not None else None
    if best is not None:
        T = best.epoch
    else:
        T = min(monitor.stop_epoch or opts.T, E) if monitor else opts.T
    shared = {"runs": 1, "shared_run": "main"}
    out = []
    if snapshot is not None:
        taken = snapshot.taken_at or T
        params = {"score_epochs": taken, "models": 1, "loss": "cross-entropy"}
        cost = {"epochs": taken, "seconds": secs * taken / E, **shared}
        if "el2n" in methods:
            out.append(MethodScores("el2n", snapshot.el2n, params, cost))
        if "grand" in methods:
            out.append(MethodScores("grand", snapshot.grand, {**params, "parameters": "all"}, dict(cost)))
    if ours:
        paid = E if best is not None else T  # the probes' run trains past its best window to see it
        result_entropy = _entropy_result(recorder, T, opts.every, {"epochs": paid, "seconds": secs * paid / E, **shared},
                                         ctx.labels)
        if monitor is not None:
            result_entropy.params.update(monitor.params(opts.stop, opts.T))
        if probe_monitor is not None:
            extras = result_entropy.extras
            extras["predicted"], probe_extras, params = probe_monitor.verdict(
                best, extras["max_score"], extras["predicted"], opts.T, E)
            extras.update(probe_extras)
            result_entropy.params.update(params)
        if "entropy" in methods:
            out.append(result_entropy)
        if "entropy_knn" in methods:
            knn = _entropy_knn_result(ctx, model, result_entropy)
            if probe_monitor is not None:
                knn.extras.update({k: result_entropy.extras[k] for k in ("probe", "probe_label", "probe_similar")})
            out.append(knn)
    if "forgetting" in methods:
        forgets, ever_correct = forgetting.forgets.cpu().numpy(), forgetting.ever_correct.cpu().numpy()
        out.append(MethodScores(
            "forgetting", forgetting_scores(forgets, ever_correct, opts.seed),
            {"epochs": E, "seed": opts.seed}, {"epochs": E, "seconds": secs, **shared},
            {"forgets": forgets, "ever_correct": ever_correct}))
    if "aum" in methods:
        margins = aum.aum().cpu().numpy()
        out.append(MethodScores("aum", aum_mod.aum_scores(margins), {"epochs": E},
                                {"epochs": E, "seconds": secs, **shared}, {"aum": margins}))
    if "ma_loss" in methods:
        ema = ma.ema_loss().numpy()
        out.append(MethodScores("ma_loss", ma_loss_scores(ema), {"decay": opts.ma_decay, "epochs": E},
                                {"epochs": E, "seconds": secs, **shared}))
    if "prototypes" in methods:
        began = time.perf_counter()
        _, embeddings = predict(model, ctx.images, opts.train.eval_batch_size, device)
        out.append(MethodScores(
            "prototypes", prototype_scores(embeddings, ctx.labels), {"epochs": E, "feature": "bnneck"},
            {"epochs": E, "seconds": secs + time.perf_counter() - began, **shared}))
    return out


def _choose_probes(ctx: _Context) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The probes (:func:`~reidprune.dynamics.probe_stop.plan_probes`); a pretrained backbone's
    features before training say which identities look alike."""
    opts = ctx.options
    count = probes_wanted(ctx.labels, ctx.C, opts.probe_fraction)
    embeddings = None
    if opts.train.pretrained or opts.train.weights:
        torch.manual_seed(opts.train.seed)
        model = build_model(opts.train.backbone, ctx.C, weights=opts.train.weights, pretrained=opts.train.pretrained)
        _, embeddings = predict(model, ctx.images, opts.train.eval_batch_size, ctx.device)
    return plan_probes(ctx.labels, ctx.C, count, opts.seed, embeddings)


def _entropy_result(recorder: LogitRecorder | TopKLogitRecorder, T: int, every: int, cost: dict,
                    labels: np.ndarray) -> MethodScores:
    """Our score. Samples the window never recorded (possible with ``every > 1``: one P x K epoch
    skips a few) have no soft label: they are kept (highest importance) and never flagged."""
    if isinstance(recorder, TopKLogitRecorder):
        return _sparse_entropy_result(recorder, T, every, cost, labels)
    mean = recorder.mean_logits(allow_missing=True).numpy()
    recorded, importance, predicted, max_score = soft_label_statistics(mean, labels)
    return MethodScores(
        "entropy", importance, {"score_epochs": T, "every": every, "unrecorded": int((~recorded).sum())}, cost,
        {"mean_logits": mean.astype(np.float32), "predicted": predicted, "max_score": max_score,
         "visits": recorder.counts.cpu().numpy()})


def _entropy_knn_result(ctx: _Context, model, ours: MethodScores) -> MethodScores:
    """Our soft label mixed with a neighbour vote in the embedding of the model at the stop."""
    opts, began = ctx.options, time.perf_counter()
    _, embeddings = predict(model, ctx.images, opts.train.eval_batch_size, ctx.device)
    k = min(opts.knn_k, len(ctx.labels) - 1) if opts.knn_k else default_k(ctx.labels, ctx.C)
    mixed, importance, predicted, max_score = knn_entropy(ours.extras["mean_logits"], embeddings, ctx.labels,
                                                          ctx.C, k, opts.knn_weight)
    cost = dict(ours.cost, seconds=ours.cost["seconds"] + time.perf_counter() - began)
    params = {k: v for k, v in ours.params.items() if k != "diagnostics"}
    params.update({"knn_k": k, "knn_weight": opts.knn_weight, "feature": "bnneck"})
    return MethodScores("entropy_knn", importance, params, cost,
                        {"soft_labels": mixed.astype(np.float32), "predicted": predicted, "max_score": max_score})


def _sparse_entropy_result(recorder: TopKLogitRecorder, T: int, every: int, cost: dict,
                           labels: np.ndarray) -> MethodScores:
    """Our score from the top-k recorder: the extras hold its k slots, not N x C mean logits."""
    sparse = recorder.summary(allow_missing=True)
    recorded = sparse.visits > 0
    entropy, top, predicted = sparse_soft_label_stats(
        sparse.index, np.where(recorded[:, None], sparse.mean, 0.0), np.where(recorded, sparse.rest_logit, 0.0),
        sparse.num_classes, np.where(recorded, sparse.rest_spread, 0.0))
    if not recorded.all():
        entropy[~recorded] = entropy[recorded].max() + 1.0
    return MethodScores(
        "entropy", entropy, {"score_epochs": T, "every": every, "unrecorded": int((~recorded).sum()),
                             "recorder_topk": recorder.k}, cost,
        {"topk_index": sparse.index.astype(np.int32), "topk_mean_logits": sparse.mean.astype(np.float32),
         "rest_logit": sparse.rest_logit, "rest_spread": sparse.rest_spread,
         "predicted": np.where(recorded, predicted, labels),
         "max_score": np.where(recorded, top, np.nan), "visits": sparse.visits})


class _CESnapshot:
    """After epoch T of a CE-only run: EL2N from an evaluation pass, and GraNd."""

    def __init__(self, ctx: _Context, epoch: int, want_grand: bool, monitor: ScoringMonitor | None = None):
        self.ctx, self.epoch, self.want_grand, self.monitor = ctx, epoch, want_grand, monitor
        self.el2n: np.ndarray | None = None
        self.grand: np.ndarray | None = None
        self.taken_at: int | None = None

    def on_epoch_end(self, epoch: int, model) -> None:
        stopped_here = self.monitor is not None and self.monitor.stop_epoch == epoch and self.monitor.ends_training
        if self.el2n is not None or (epoch != self.epoch and not stopped_here):
            return
        ctx = self.ctx
        self.taken_at = epoch
        logits, _ = predict(model, ctx.images, ctx.options.train.eval_batch_size, ctx.device)
        self.el2n = el2n_scores(logits, ctx.labels)
        if self.want_grand:
            self.grand = grand_scores(model, normalize(ctx.images[:]), ctx.labels, device=ctx.device)

    def state_dict(self) -> dict:
        return {"el2n": torch.as_tensor(self.el2n) if self.el2n is not None else torch.empty(0),
                "grand": torch.as_tensor(self.grand) if self.grand is not None else torch.empty(0),
                "taken_at": self.taken_at or 0}

    def load_state_dict(self, state: dict) -> None:
        self.el2n = state["el2n"].numpy() if state["el2n"].numel() else None
        self.grand = state["grand"].numpy() if state["grand"].numel() else None
        self.taken_at = int(state.get("taken_at", 0)) or None


def _ce_runs(ctx: _Context, methods: set[str]) -> list[MethodScores]:
    opts = ctx.options
    el2n, grand, seconds = [], [], 0.0
    for k in range(opts.models):
        config = opts.train.replace(mode="classify", epochs=opts.T, seed=opts.train.seed + 1000 + k,
                                    label_smoothing=0.0)
        snap = _CESnapshot(ctx, opts.T, "grand" in methods)
        _, result = ctx.fit(f"ce{k}", config, ctx.labels, ctx.C, callbacks=[snap])
        seconds += result.seconds
        el2n.append(snap.el2n)
        grand.append(snap.grand)
    cost = {"epochs": opts.T * opts.models, "seconds": seconds, "runs": opts.models, "shared_run": "ce"}
    params = {"score_epochs": opts.T, "models": opts.models, "loss": "cross-entropy"}
    out = []
    if "el2n" in methods:
        out.append(MethodScores("el2n", average_over_models(el2n), params, cost))
    if "grand" in methods:
        out.append(MethodScores("grand", average_over_models(grand), {**params, "parameters": "all"}, cost))
    return out


def _aum_threshold_runs(ctx: _Context) -> tuple[np.ndarray, float, dict]:
    """Two runs with disjoint threshold samples, so every sample gets a flag (Pleiss et al. 2020).

    Returns each sample's AUM (from the run where it kept its own label), the threshold (99th
    percentile of the threshold samples' AUM) and the runs' cost.
    """
    opts, n = ctx.options, len(ctx.train)
    first_labels, first_mask = aum_mod.make_threshold_labels(ctx.labels, ctx.C, opts.seed)
    rng = np.random.default_rng(opts.seed + 1)
    second_mask = np.zeros(n, dtype=bool)
    second_mask[rng.choice(np.flatnonzero(~first_mask), int(first_mask.sum()), replace=False)] = True
    second_labels = np.where(second_mask, ctx.C, ctx.labels)
    values, threshold_values, seconds = [], [], 0.0
    for run, (labels, mask) in enumerate(((first_labels, first_mask), (second_labels, second_mask))):
        tracker = AUMTracker(n, ctx.device)
        _, result = ctx.fit(f"aum{run}", opts.train, labels, ctx.C + 1, hooks=[tracker])
        seconds += result.seconds
        values.append(tracker.aum().cpu().numpy())
        threshold_values.append(values[-1][mask])
    aum_values = np.where(first_mask, values[1], values[0])
    threshold = float(np.percentile(np.concatenate(threshold_values), 99.0))
    return aum_values, threshold, {"epochs": 2 * opts.train.epochs, "seconds": seconds, "runs": 2}


def _add_aum_flags(ctx: _Context, method: MethodScores) -> None:
    aum_values, threshold, cost = _aum_threshold_runs(ctx)
    method.extras["threshold_aum"] = aum_values
    method.extras["mislabeled"] = aum_values <= threshold
    method.params["threshold"] = threshold
    method.params["threshold_percentile"] = 99.0
    method.cost["threshold_runs"] = cost


def _aum_from_threshold_runs(ctx: _Context) -> MethodScores:
    aum_values, threshold, cost = _aum_threshold_runs(ctx)
    return MethodScores(
        "aum", aum_mod.aum_scores(aum_values),
        {"epochs": ctx.options.train.epochs, "threshold": threshold, "threshold_percentile": 99.0,
         "source": "threshold runs"},
        dict(cost, threshold_runs=cost),
        {"aum": aum_values, "threshold_aum": aum_values, "mislabeled": aum_values <= threshold})


def _confident(ctx: _Context) -> MethodScores:
    opts, n = ctx.options, len(ctx.train)
    probs = np.zeros((n, ctx.C))
    seconds = 0.0
    config = opts.train.replace(epochs=opts.T)
    for k, (train_idx, hold_idx) in enumerate(kfold_indices(ctx.labels, opts.folds, opts.seed)):
        model, result = ctx.fit(f"fold{k}", config, ctx.labels[train_idx], ctx.C, index=train_idx)
        seconds += result.seconds
        logits, _ = predict(model, image_rows(ctx.images, hold_idx), config.eval_batch_size, ctx.device)
        probs[hold_idx] = torch.softmax(torch.as_tensor(logits, dtype=torch.float64), 1).numpy()
    issues, suggested = confident_learning_issues(ctx.labels, probs)
    importance = 1.0 - probs[np.arange(n), ctx.labels]  # low self-confidence = hard = kept
    return MethodScores("confident", importance, {"folds": opts.folds, "score_epochs": opts.T},
                        {"epochs": opts.T * (opts.folds - 1), "seconds": seconds,
                         "runs": opts.folds},
                        {"mislabeled": issues, "suggested": suggested, "pred_probs": probs.astype(np.float32)})
