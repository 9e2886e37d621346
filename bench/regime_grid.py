"""Regime grid (issue 26): does the default scoring run's mislabel detection hold from 2 to 30+
images per identity, and are its own estimates of its precision / recall / noise rate right?

Per cell (a dataset x a noise level x a noise kind x a seed): inject noise into the training
split, run the default scoring run (``--stop probes``: known-noise probes in the run, the window
and thresholds calibrated on them), and from the same run's per-epoch logits:

* ``default``: what `reidprune run` decides (the probes' window, delta and relabel rule);
* ``oracle``: the best fixed window [a, b] of epochs by true F1 (needs the truth: a ceiling);
* ``aum``: AUM < 0 over the epochs the default run trained (Pleiss et al.'s margin on the same
  logits, without its threshold runs);
* ``estimated``: the default run's own estimates, next to the truth.

Datasets: ``synth`` (a `reidprune synth` world, no mislabels of its own, 3% outliers),
``cuhk03``, ``cuhk03-4`` / ``cuhk03-2`` (4 / 2 training images per identity, half per camera),
``cuhk03-40ids`` (40 identities, all their images), ``towncentre``. Subsets are hard links made
by ``bench/subsample.py`` under ``bench-work/`` (git-ignored), never copies.

    python bench/regime_grid.py --sets synth,cuhk03-4 --noise 0.2 --kinds sym --seeds 0 \
        --out bench/results/regime_grid.json

Cells already in ``--out`` are skipped (resumable); ``--table`` prints the README table.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from cuhk03_dynamics import EpochDynamics  # noqa: E402 (same folder: per-epoch logit sums, counts, margins)
from subsample import shared_data, subsample_identities  # noqa: E402

from reidprune.atomic import write_json  # noqa: E402
from reidprune.data.images import load_images  # noqa: E402
from reidprune.data.layouts import load_dataset  # noqa: E402
from reidprune.data.noise import inject_pairwise_noise, inject_symmetric_noise, nearest_classes  # noqa: E402
from reidprune.data.synth import SynthConfig, generate_world, read_ground_truth  # noqa: E402
from reidprune.models.reid import build_model  # noqa: E402
from reidprune.pipeline.options import ScoreOptions, SelectOptions  # noqa: E402
from reidprune.pipeline.scoring import score_dataset  # noqa: E402
from reidprune.pipeline.selecting import decide  # noqa: E402
from reidprune.scores.neighbours import combine, neighbour_votes  # noqa: E402
from reidprune.train.config import cpu_scoring_config  # noqa: E402
from reidprune.train.loop import predict  # noqa: E402

WORK = HERE.parent / "bench-work"


class StopEmbeddings:
    """The BNNeck embeddings of the model at the default run's stop (for entropy_knn)."""

    def __init__(self, images, monitor_of):
        self.images, self.monitor_of, self.embeddings = images, monitor_of, None

    def on_epoch_end(self, epoch, model):
        monitor = self.monitor_of()
        if self.embeddings is None and monitor is not None and monitor.stop_epoch == epoch:
            _, self.embeddings = predict(model, self.images, 256, "cpu")


def detection(flagged, noisy, proposed, true_labels) -> dict:
    tp = int((flagged & noisy).sum())
    p = tp / max(1, int(flagged.sum()))
    r = tp / max(1, int(noisy.sum()))
    out = {"flagged": int(flagged.sum()), "precision": round(p, 4), "recall": round(r, 4),
           "f1": round(2 * p * r / (p + r), 4) if p + r else 0.0}
    if proposed is not None:
        hit = flagged & noisy
        out["correction"] = round(float((proposed[hit] == true_labels[hit]).mean()), 4) if hit.any() else None
    return out


def soft(sums, counts):
    mean = sums / np.maximum(counts, 1)[:, None]
    return torch.softmax(torch.as_tensor(mean, dtype=torch.float64), 1).numpy()


def dataset_root(name: str, seed: int) -> tuple[Path, np.ndarray | None]:
    """The folder of a grid dataset and, for the synthetic world, its outlier mask source."""
    if name == "synth":
        root = WORK / "synth"
        if not (root / "ground_truth.csv").exists():
            generate_world(root, SynthConfig(mislabel_rate=0.0, outlier_rate=0.03, seed=0), progress=False,
                           overwrite=True)
        return root, None
    if name in ("cuhk03", "towncentre"):
        return shared_data(name), None
    base, _, spec = name.partition("-")
    if spec.endswith("ids"):
        return subsample_identities(shared_data(base), WORK / name, identities=int(spec[:-3]), seed=0), None
    return subsample_identities(shared_data(base), WORK / name, per_identity=int(spec), seed=0), None


def replay_default(npz: Path) -> dict:
    """The default run's decisions, replayed from a cell's saved per-epoch logits with the current code:
    the calibrated stop sees exactly the cumulative soft labels it saw in the run."""
    from reidprune.dynamics.probe_stop import ProbeMonitor
    from reidprune.dynamics.recorder import LogitRecorder
    from reidprune.select.calibration import probe_delta, relabel_pays, repeated_pair_share, separates
    from reidprune.select.purify import purify

    d = np.load(npz)
    S, K, probe, trained, noisy = d["sums"], d["counts"], d["probe"].astype(bool), d["trained"], d["noisy"]
    true, flipped, outlier = d["true"], d["flipped"].astype(bool), d["outlier"].astype(bool)
    n, c = S.shape[1:]
    recorder = LogitRecorder(n, c)
    if "similar" in d.files:
        similar = d["similar"].astype(bool)
    else:  # cells run before the file kept it: the draw does not depend on which classes are similar
        from reidprune.data.noise import choose_probes

        again, _, similar = choose_probes(noisy, c, int(probe.sum()), 0, nearest=(np.arange(c) + 1) % c)
        assert np.array_equal(again, probe), "the probes cannot be drawn again"
    monitor = ProbeMonitor(recorder, trained, noisy, probe, similar=similar)
    for e in range(len(S)):
        recorder.sums += torch.as_tensor(S[e])
        recorder.counts += torch.as_tensor(K[e]).long()
        recorder.end_epoch()
        monitor.on_epoch_end(e + 1)
        if monitor.stop_epoch is not None:
            break
    best = monitor.finish()
    soft_labels = torch.softmax(recorder.mean_logits().double(), 1).numpy()
    predicted, top = soft_labels.argmax(1), soft_labels.max(1)
    predicted = np.where(predicted != trained, monitor.proposed, predicted)  # as pipeline.scoring does
    judged = ~probe
    able = separates(best.separation)  # else nothing is flagged, relabelled or removed
    delta = probe_delta(top[probe])
    quality = {**best.as_dict(), "delta": delta,
               "relabel_pays": relabel_pays(best.precision, best.correction, best.probes, best.judged_why)}
    done = purify(predicted, top, noisy, delta, quality=quality, judged=judged)  # as `reidprune run` decides
    flagged, outliers, relabel = done.mislabeled, done.outliers, done.relabel
    out = detection(flagged[judged], flipped[judged], predicted[judged], true[judged])
    out.update({"window": [1, best.epoch], "separates": able, "epochs_trained": int(monitor.stop_epoch or len(S)),
                "relabelled": int((flagged & ~outliers).sum()) if relabel else 0, "outliers": int(outliers.sum()),
                "outliers_of_clean": round(float((outliers & ~outlier)[judged].sum()
                                                 / max(1, (~outlier & judged).sum())), 4),
                "outliers_true": int((outliers & outlier).sum()) if outlier.any() else None})
    estimated = {**best.as_dict(), "delta": delta, "relabel_pays": relabel,
                 "repeated_pairs": round(repeated_pair_share(noisy[judged], predicted[judged],
                                                             (predicted != noisy)[judged])[0], 3)}
    for kind, mask in (("random", probe & ~similar), ("similar", similar)):
        if mask.any():
            estimated[f"recall_{kind}"] = float((predicted[mask] != trained[mask]).mean())
    trained_epochs = out["epochs_trained"]  # AUM over the epochs the default run trains, as run_cell scores it
    aum = d["margins"][:trained_epochs].sum(0) / np.maximum(K[:trained_epochs].sum(0), 1)
    keys = ("probes", "noise_rate", "noise_rate_upper", "separation", "precision", "recall", "correction", "f1",
            "delta", "relabel_pays", "recall_random", "recall_similar", "judged_by", "judged_why", "repeated_pairs")
    return {"default": out, "estimated": {k: estimated[k] for k in keys if k in estimated},
            "aum_same_run": detection((aum < 0)[judged], flipped[judged], None, true[judged]),
            "aum_best": aum_at_best_length(d["margins"], K, judged, flipped),
            "history": [e.as_dict() for e in monitor.judged()]}


def aum_at_best_length(margins: np.ndarray, counts: np.ndarray, judged: np.ndarray, flipped: np.ndarray) -> dict:
    """AUM < 0 over the first T epochs, at the T (1..cap) with the best true F1: an oracle for AUM's run length."""
    best = None
    for epochs in range(1, len(margins) + 1):
        aum = margins[:epochs].sum(0) / np.maximum(counts[:epochs].sum(0), 1)
        found = dict(detection((aum < 0)[judged], flipped[judged], None, None), epochs=epochs)
        if best is None or found["f1"] > best["f1"]:
            best = found
    return best


def run_cell(name: str, noise: float, kind: str, seed: int, cap: int) -> dict:
    root, _ = dataset_root(name, seed)
    train = load_dataset(root, "market1501").split_table("train")
    true = train.label.copy()
    config = cpu_scoring_config(epochs=cap, seed=seed, device="cpu")
    images, _ = load_images(train, size=(config.height, config.width), progress=False)
    if kind == "sym":
        noisy, flipped = inject_symmetric_noise(true, noise, train.num_classes, seed)
    else:
        torch.manual_seed(seed)
        start = build_model(config.backbone, train.num_classes, pretrained=True)
        _, emb = predict(start, images, 256, "cpu")
        noisy, flipped = inject_pairwise_noise(true, noise, nearest_classes(emb, true, train.num_classes), seed)
    outlier = np.zeros(len(train), bool)
    if name == "synth":
        truth = read_ground_truth(root)
        kinds = dict(zip(truth["path"].tolist(), truth["kind"].tolist()))
        outlier = np.array([kinds[p] in ("two_people", "occlusion", "truncation") for p in train.relative_paths()])
    table = train.with_labels(noisy)
    epochs = EpochDynamics(len(train), train.num_classes)
    holder = {}
    stop_emb = StopEmbeddings(images, lambda: holder.get("monitor"))
    options = ScoreOptions(("entropy",), config, stop="probes", seed=seed, train_to_cap=True)
    began = time.perf_counter()
    scores = _score(table, images, options, [epochs, stop_emb], holder)
    seconds = time.perf_counter() - began
    ours = scores["entropy"]
    cal = ours.params["calibration"]
    probe = ours.extras["probe"].astype(bool)
    judged = ~probe  # the truth is scored on the non-probe samples only
    decision = decide(scores, SelectOptions(fraction=0.0, max_outlier_fraction=1.0))
    predicted = decision.predicted
    e_stop = int(ours.params["stopped_at"]) + 0
    trained_epochs = int(holder["monitor"].stop_epoch or cap)
    relabelled = decision.selection.counts().get("relabelled", 0)
    default = detection(decision.mislabeled[judged], flipped[judged], predicted[judged], true[judged])
    default.update({"window": [1, e_stop], "epochs_trained": trained_epochs, "relabelled": int(relabelled),
                    "outliers": int(decision.outliers.sum()),
                    "outliers_of_clean": round(float((decision.outliers & ~outlier)[judged].sum()
                                                     / max(1, (~outlier & judged).sum())), 4),
                    "outliers_true": int((decision.outliers & outlier).sum()) if outlier.any() else None})
    # the oracle: the best window [a, b] by true F1, from the same run's per-epoch logits
    best = None
    S, K = np.stack(epochs.sums), np.stack(epochs.counts)
    train_labels = np.where(probe, ours.extras["probe_label"], noisy)
    for b in range(len(S)):
        for a in range(b + 1):
            p = soft(S[a:b + 1].sum(0), K[a:b + 1].sum(0))
            arg = p.argmax(1)
            d = detection((arg != noisy)[judged], flipped[judged], arg[judged], true[judged])
            if best is None or d["f1"] > best["f1"]:
                best = dict(d, window=[a + 1, b + 1])
    M = np.stack(epochs.margins)
    dyn = WORK / "dynamics" / f"{name}_{kind}{noise:g}_s{seed}.npz"
    dyn.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(dyn, sums=S.astype(np.float32), counts=K, margins=M, probe=probe,
                        similar=ours.extras.get("probe_similar", np.zeros_like(probe)),
                        trained=train_labels, noisy=noisy, true=true, flipped=flipped, outlier=outlier,
                        embeddings=stop_emb.embeddings if stop_emb.embeddings is not None else np.zeros(0))
    aum = M[:trained_epochs].sum(0) / np.maximum(K[:trained_epochs].sum(0), 1)
    aum_d = detection((aum < 0)[judged], flipped[judged], None, true[judged])
    cell = {"set": name, "noise": noise, "kind": kind, "seed": seed, "train_images": len(train),
            "identities": int(train.num_classes), "images_per_id": round(len(train) / train.num_classes, 1),
            "seconds": round(seconds, 1), "default": default, "oracle": best, "aum_same_run": aum_d,
            "estimated": {k: cal[k] for k in ("probes", "noise_rate", "precision", "recall", "correction", "f1",
                                             "delta", "relabel_pays")},
            "true_noise_rate": round(float(flipped[judged].mean()), 4),
            "history": cal["history"]}
    if stop_emb.embeddings is not None:
        s = soft(S[:e_stop].sum(0), K[:e_stop].sum(0))
        k = max(1, int(np.median(np.bincount(noisy, minlength=train.num_classes))) // 2)
        mixed = combine(s, neighbour_votes(stop_emb.embeddings, noisy, train.num_classes, k=k), 0.3)
        arg = mixed.argmax(1)
        cell["entropy_knn"] = detection((arg != noisy)[judged], flipped[judged], arg[judged], true[judged])
    cell["dynamics"] = str(dyn.relative_to(HERE.parent))
    return cell


def _relabel(train, labels):
    import dataclasses
    return dataclasses.replace(train, label=np.asarray(labels, dtype=np.int64))


def _score(table, images, options, observers, holder):
    """score_dataset, keeping a handle on its probe monitor (for the stop embeddings)."""
    import reidprune.pipeline.scoring as scoring

    original = scoring.ProbeMonitor

    class Kept(original):
        def __init__(self, *a, **k):
            super().__init__(*a, **k)
            holder["monitor"] = self

    scoring.ProbeMonitor = Kept
    try:
        return score_dataset(table, images, options, progress=False, observers=tuple(observers))
    finally:
        scoring.ProbeMonitor = original


#: which cells the rules were designed on (looked at while choosing them), and which were held out:
#: (set, noise, kind, seed) -> role; a cell not listed was run after the last change and held out
ROLES = {
    **{(name, 0.2, "sym", 0): "design" for name in ("cuhk03-4", "towncentre", "cuhk03-2", "cuhk03-40ids", "cuhk03")},
    ("synth", 0.2, "pair", 0): "design",
    # held out when first run, then looked at: they showed the pair-wise limits (the structured-errors warning)
    ("cuhk03-4", 0.2, "pair", 0): "seen", ("towncentre", 0.2, "pair", 0): "seen",
    # the clean-data tie-break was designed on towncentre as shipped (a new user's run)
    ("towncentre", 0.0, "sym", 0): "design",
    # held out when first run; the separating-windows rule was then designed on it
    ("cuhk03-4", 0.4, "sym", 0): "seen",
    # held out for the look-alike rule; the not-random-kind rule (session 6) was then designed on it
    ("cuhk03", 0.2, "pair", 0): "seen",
}


def role(cell: dict) -> str:
    """A cell's role: its own ``role`` (cells run as a later held-out test), else :data:`ROLES`, else held out."""
    return cell.get("role") or ROLES.get((cell["set"], cell["noise"], cell["kind"], cell["seed"]), "held out")


def write_page_tables(page: Path, cells: list[dict]) -> None:
    """Replace the table after each ``<!-- cells: ROLE -->`` marker of ``page`` with the cells of that role."""
    out, skip = [], False
    for line in page.read_text().splitlines():
        if skip and line.startswith("|"):
            continue
        skip = False
        out.append(line)
        if line.startswith("<!-- cells: "):
            wanted = line[len("<!-- cells: "):-len(" -->")]
            out.append(table([c for c in cells if role(c) == wanted]))
            skip = True
    page.write_text("\n".join(out) + "\n")


def table(cells: list[dict]) -> str:
    """The README table: truth and estimates side by side, and the issue's checks per cell."""
    head = ("| set | img/id | noise | default F1 (P / R) | corr. | oracle F1 [window] | AUM F1 (best @epochs) | knn F1 | "
            "estimated P / R / noise (R random, similar) | true P / R / noise | outliers (of clean) | "
            "window / trained | checks |")
    lines = [head, "|" + "---|" * 13]
    for c in cells:
        d, o, e = c["default"], c["oracle"], c["estimated"]
        knn = c.get("entropy_knn", {}).get("f1")
        kinds = ", ".join(f"{e[k]:.2f}" for k in ("recall_random", "recall_similar") if k in e)
        clean = c["noise"] == 0  # no truth to score F1 against: the flags and outliers say it
        best = c.get("aum_best")
        aum_best = f" ({best['f1']:.3f} @{best['epochs']})" if best else ""
        lines.append(
            f"| {c['set']} | {c['images_per_id']} | {c['noise']:.0%} {c['kind']} s{c['seed']} | "
            + (f"{d['flagged']} flagged | - | - | {c['aum_same_run']['flagged']} flagged | - | " if clean else
               f"{d['f1']:.3f} ({d['precision']:.2f} / {d['recall']:.2f}) | {d.get('correction') or 0:.2f} | "
               f"{o['f1']:.3f} {o['window']} | {c['aum_same_run']['f1']:.3f}{aum_best} | "
               f"{'' if knn is None else f'{knn:.3f}'} | ")
            + 
            f"{e['precision']:.2f} / {e['recall']:.2f} / {e['noise_rate']:.2f} ({kinds}) | "
            f"{d['precision']:.2f} / {d['recall']:.2f} / {c['true_noise_rate']:.2f} | "
            f"{d['outliers']} ({d['outliers_of_clean']:.1%}) | {d['window'][1]} / {d['epochs_trained']} | "
            f"{checks(c)} |")
    return "\n".join(lines)


def check_marks(cell: dict) -> dict:
    """Which of issue 26's per-cell targets hold: F1 >= 0.9 x oracle and >= AUM, outliers < 2% of the
    clean images, estimates within 0.05 (P, R, noise rate); a target that does not apply is left out."""
    d, o, e = cell["default"], cell["oracle"], cell["estimated"]
    if cell["noise"] == 0:  # a clean set: no wrong labels to find; the run must leave it alone
        return {"flags < 2%": d["flagged"] < 0.02 * cell["train_images"], "outliers": d["outliers_of_clean"] < 0.02,
                "est noise": abs(e["noise_rate"] - cell["true_noise_rate"]) <= 0.05}
    marks = {"0.9 oracle": d["f1"] >= 0.9 * o["f1"], ">= AUM": d["f1"] >= cell["aum_same_run"]["f1"],
             ">= AUM best": d["f1"] >= cell["aum_best"]["f1"] if "aum_best" in cell else None,
             "outliers": d["outliers_of_clean"] < 0.02,
             "est P": abs(e["precision"] - d["precision"]) <= 0.05 if d["flagged"] else None,
             "est R": abs(e["recall"] - d["recall"]) <= 0.05 if d["flagged"] else None,
             "est noise": abs(e["noise_rate"] - cell["true_noise_rate"]) <= 0.05}
    return {name: ok for name, ok in marks.items() if ok is not None}


def checks(cell: dict) -> str:
    return " ".join(("+" if ok else "-") + name for name, ok in check_marks(cell).items())


def totals(cells: list[dict]) -> str:
    """How many cells meet each of :func:`checks`' targets (the page's "against the issue's targets" counts)."""
    held, met = {}, {}
    for cell in cells:
        for name, ok in check_marks(cell).items():
            held[name] = held.get(name, 0) + 1
            met[name] = met.get(name, 0) + ok
    return "\n".join(f"{name}: {met[name]} of {held[name]}" for name in held)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sets", default="synth")
    parser.add_argument("--noise", default="0.2")
    parser.add_argument("--kinds", default="sym")
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--cap", type=int, default=10, help="epochs trained (the default run's cap is 12)")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "regime_grid.json")
    parser.add_argument("--table", action="store_true", help="print the Markdown table of --out and exit")
    parser.add_argument("--totals", action="store_true", help="print how many cells meet each target and exit")
    parser.add_argument("--page", type=Path, default=None,
                        help="rewrite the tables of this Markdown page (after its '<!-- cells: ROLE -->' lines) and exit")
    parser.add_argument("--replay", action="store_true",
                        help="recompute every cell's default decisions from its saved logits (bench-work/dynamics) "
                             "with the current code, without training")
    args = parser.parse_args(argv)
    done = json.loads(args.out.read_text()) if args.out.exists() else {"cells": []}
    if args.table:
        print(table(done["cells"]))
        return
    if args.totals:
        print(f"{len(done['cells'])} cells\n" + totals(done["cells"]))
        return
    if args.page:
        write_page_tables(args.page, done["cells"])
        return
    if args.replay:
        for cell in done["cells"]:
            cell.update(replay_default(HERE.parent / cell["dynamics"]))
        write_json(args.out, done)
        print(table(done["cells"]))
        return
    torch.set_num_threads(max(1, torch.get_num_threads()))
    have = {(c["set"], c["noise"], c["kind"], c["seed"]) for c in done["cells"]}
    for name in args.sets.split(","):
        for noise in (float(v) for v in args.noise.split(",")):
            for kind in args.kinds.split(","):
                for seed in (int(v) for v in args.seeds.split(",")):
                    if (name, noise, kind, seed) in have:
                        continue
                    cell = run_cell(name, noise, kind, seed, args.cap)
                    cell["command"] = "python bench/regime_grid.py " + " ".join(sys.argv[1:] if argv is None else argv)
                    done["cells"].append(cell)
                    done["machine"] = {"cpu": platform.processor() or platform.machine(),
                                       "threads": torch.get_num_threads()}
                    write_json(args.out, done)
                    print(table([cell]).splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()
