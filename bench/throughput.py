"""Training throughput: model only vs the full input pipeline, hook overhead, and the image cache.

Three measurements, each one command:

* ``gpu`` (needs CUDA): model-only throughput (normalised batches already on the device)
  against the full pipeline (``fit``: batch source, augmentation on the device, forward,
  backward, step, every recorder and tracker) on the same model and batch, and the same
  ``fit`` without hooks (their overhead). ResNet-50 at 256x128, batch 64 by default::

      python bench/throughput.py gpu --out bench/results/throughput_gpu.json

* ``market`` (needs CUDA): a full scoring run (entropy, forgetting, AUM, moving-average
  loss) of a synthetic world at Market-1501 size (751 identities, 12,936 crops, 256x128,
  ResNet-50, 12 epochs), wall time per epoch, through the on-disk image cache::

      python bench/throughput.py market --out bench/results/market_size_gpu.json

* ``cpu``: the input path of today's loop (uint8 tensor in RAM, decoded by every command,
  per-image augmentation loop) against the cached path (memory-mapped cache, batched
  augmentation) for the small CNN at 64x32: decode time, input time per epoch and whole
  epoch time. ``nice -n 19 python bench/throughput.py cpu --out bench/results/throughput_cpu.json``
"""
from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.dynamics.recorder import LogitRecorder
from reidprune.dynamics.trackers import AUMTracker, ForgettingTracker, LossEMATracker
from reidprune.models.reid import build_model
from reidprune.train import loop
from reidprune.train.augment import augment, normalize, step_generator
from reidprune.train.config import cpu_quick_config, paper_scoring_config

HERE = Path(__file__).resolve().parent


def machine() -> dict:
    info = {"platform": platform.platform(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
            "torch_threads": torch.get_num_threads(), "reidprune": __version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name()
    return info


def hooks_for(n: int, c: int, device) -> list:
    return [LogitRecorder(n, c, device), ForgettingTracker(n, device), AUMTracker(n, device),
            LossEMATracker(n, device=device)]


def model_only(config, num_classes: int, steps: int, device) -> float:
    """Images per second of forward + backward + step on normalised batches already on ``device``."""
    torch.manual_seed(0)
    model = build_model(config.backbone, num_classes).to(device)
    x = torch.randn(config.batch_size, 3, config.height, config.width, device=device)
    if config.channels_last and device.type == "cuda":
        model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    y = torch.arange(config.batch_size, device=device) % num_classes
    optimizer, _ = loop.make_optimizer(model, config, 100)
    net = torch.compile(model) if config.compile else model
    for step in range(steps + 5):
        if step == 5:
            _sync(device)
            began = time.perf_counter()
        out = loop._forward(net, x, config, device)
        loss = loop._loss(out, y, config)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    _sync(device)
    return steps * config.batch_size / (time.perf_counter() - began)


def pipeline(config, images, labels, num_classes: int, with_hooks: bool, device) -> float:
    """Images per second of ``fit`` for one epoch (a warm-up epoch first)."""
    torch.manual_seed(0)
    model = build_model(config.backbone, num_classes)
    hooks = hooks_for(len(labels), num_classes, device) if with_hooks else []
    loop.fit(model, images, labels, config.replace(epochs=1), hooks=hooks, progress=False)  # warm-up
    _sync(device)
    result = loop.fit(model, images, labels, config.replace(epochs=1), hooks=hooks, progress=False)
    return result.iterations * config.batch_size / result.seconds


def _sync(device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def synthetic_set(n: int, c: int, height: int, width: int, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    labels = np.arange(n) % c
    images = torch.randint(0, 256, (n, 3, height, width), generator=gen, dtype=torch.uint8)
    return images, labels


def run_gpu(args) -> dict:
    device = torch.device("cuda")
    config = paper_scoring_config(backbone=args.backbone, batch_size=args.batch, height=args.height,
                                  width=args.width, compile=args.compile, device="cuda")
    images, labels = synthetic_set(args.images, args.ids, args.height, args.width)
    model_ips = model_only(config, args.ids, args.steps, device)
    full_ips = pipeline(config, images, labels, args.ids, True, device)
    bare_ips = pipeline(config, images, labels, args.ids, False, device)
    return {"config": config.as_dict(), "images": args.images, "identities": args.ids,
            "model_only_images_per_s": model_ips, "pipeline_images_per_s": full_ips,
            "pipeline_without_hooks_images_per_s": bare_ips,
            "pipeline_over_model_only": full_ips / model_ips,
            "hook_overhead_fraction_of_step": bare_ips / full_ips - 1.0,
            "targets": {"pipeline_over_model_only": ">= 0.9", "hook_overhead_fraction_of_step": "<= 0.02"}}


def run_market(args) -> dict:
    from reidprune.data.cache import cached_images
    from reidprune.data.layouts import load_dataset
    from reidprune.data.synth import SynthConfig, generate_world
    from reidprune.pipeline.scoring import ScoreOptions, score_dataset

    with tempfile.TemporaryDirectory() as tmp:
        per_id = math.ceil(12_936 / 751)
        world = generate_world(Path(tmp) / "world", SynthConfig(num_train_ids=751, num_test_ids=10,
                                                                 images_per_id=per_id, seed=0))
        table = load_dataset(world, "auto")
        train = table.split_table("train")
        train = train.select(np.arange(min(12_936, len(train))))
        began = time.perf_counter()
        images, _ = cached_images(train, (256, 128), progress=False, directory=Path(tmp) / "cache")
        decode = time.perf_counter() - began
        config = paper_scoring_config(device="cuda", compile=args.compile)
        options = ScoreOptions(("entropy", "forgetting", "aum", "ma_loss"), config, aum_flags=False)
        began = time.perf_counter()
        scores = score_dataset(train, images, options, progress=False)
        total = time.perf_counter() - began
    seconds = scores["entropy"].cost["seconds"] * config.epochs / options.T
    return {"images": len(train), "identities": train.num_classes, "epochs": config.epochs,
            "decode_to_cache_s": decode, "fit_seconds": seconds, "seconds_per_epoch": seconds / config.epochs,
            "score_dataset_seconds": total, "target": "12 epochs < 180 s on one H100"}


def legacy_augment(images, config, gen):
    """The augmentation of the loop before the batched rewrite (per-image crop and erasing loops)."""
    from torchvision.transforms.v2 import functional as TF

    b, _, h, w = images.shape
    flips = torch.rand(b, generator=gen) < config.flip
    offsets = torch.randint(0, 2 * config.pad + 1, (b, 2), generator=gen) if config.pad else None
    out = images.clone()
    if flips.any():
        out[flips] = TF.horizontal_flip(out[flips])
    if offsets is not None:
        padded = TF.pad(out, [config.pad] * 4, fill=0)
        out = torch.stack([TF.crop(padded[i], int(offsets[i, 0]), int(offsets[i, 1]), h, w) for i in range(b)])
    x = normalize(out)
    lo, hi = config.erase_area
    rlo, rhi = (math.log(r) for r in config.erase_ratio)
    for i in torch.nonzero(torch.rand(b, generator=gen) < config.erasing).flatten().tolist():
        for _ in range(10):
            u = torch.rand(4, generator=gen).tolist()
            area = h * w * (lo + (hi - lo) * u[0])
            ratio = math.exp(rlo + (rhi - rlo) * u[1])
            eh, ew = int(round(math.sqrt(area * ratio))), int(round(math.sqrt(area / ratio)))
            if 0 < eh < h and 0 < ew < w:
                top, left = int(u[2] * (h - eh + 1)), int(u[3] * (w - ew + 1))
                x[i] = TF.erase(x[i], top, left, eh, ew, torch.zeros(3, eh, ew))
                break
    return x


def run_cpu(args) -> dict:
    from reidprune.data.cache import cached_images
    from reidprune.data.images import load_images
    from reidprune.data.layouts import load_dataset
    from reidprune.data.synth import SynthConfig, generate_world
    from reidprune.train.sampler import IdentitySampler

    torch.set_num_threads(args.threads)
    config = cpu_quick_config(device="cpu")
    with tempfile.TemporaryDirectory() as tmp:
        world = generate_world(Path(tmp) / "world", SynthConfig(num_train_ids=args.ids, num_test_ids=5,
                                                                 images_per_id=args.per_id, seed=0))
        train = load_dataset(world, "auto").split_table("train")
        size = (config.height, config.width)
        began = time.perf_counter()
        in_ram, _ = load_images(train, size, progress=False)
        decode_today = time.perf_counter() - began
        began = time.perf_counter()
        cached_images(train, size, progress=False, directory=Path(tmp) / "cache")
        decode_first = time.perf_counter() - began
        began = time.perf_counter()
        mapped, _ = cached_images(train, size, progress=False, directory=Path(tmp) / "cache")
        open_cached = time.perf_counter() - began
        labels = train.label
        batches = IdentitySampler(labels, config.batch_size, config.instances, 0).batches(1)

        def input_epoch(images, aug) -> float:
            began = time.perf_counter()
            for step, batch in enumerate(batches):
                aug(images[torch.from_numpy(batch)], config.augment, step_generator(0, 1, step))
            return time.perf_counter() - began

        input_today = min(input_epoch(in_ram, legacy_augment) for _ in range(args.repeats))
        input_cached = min(input_epoch(mapped, augment) for _ in range(args.repeats))
        epochs = {}
        for name, images, aug in (("today", in_ram, legacy_augment), ("cached", mapped, augment)):
            loop.augment = aug  # the loop's augmentation, swapped for this measurement only
            times = []
            for _ in range(args.repeats):
                torch.manual_seed(0)
                model = build_model(config.backbone, train.num_classes)
                times.append(loop.fit(model, images, labels, config.replace(epochs=1),
                                      hooks=hooks_for(len(labels), train.num_classes, "cpu"),
                                      progress=False).seconds)
            epochs[name] = min(times)
        loop.augment = augment
    n_epochs = config.epochs
    per_command_today = decode_today + n_epochs * epochs["today"]
    per_command_cached = open_cached + n_epochs * epochs["cached"]
    return {"images": len(train), "identities": train.num_classes, "size": list(size), "backbone": config.backbone,
            "batches_per_epoch": len(batches), "repeats_min_of": args.repeats,
            "decode_in_ram_s": decode_today, "decode_to_cache_first_time_s": decode_first,
            "open_cache_later_s": open_cached,
            "input_per_epoch_s": {"today": input_today, "cached": input_cached,
                                  "speedup": input_today / input_cached},
            "epoch_s": {**epochs, "speedup": epochs["today"] / epochs["cached"]},
            f"score_command_{n_epochs}_epochs_s": {"today": per_command_today, "cached_reuse": per_command_cached,
                                                   "speedup": per_command_today / per_command_cached},
            "target": "cached input path >= 2x faster per epoch than today's (small CNN)"}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("gpu", "market", "cpu"))
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--backbone", default="resnet50")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--height", type=int, default=256)
    parser.add_argument("--width", type=int, default=128)
    parser.add_argument("--images", type=int, default=12_936, help="gpu: synthetic uint8 set size")
    parser.add_argument("--ids", type=int, default=None, help="identities (gpu: 751, cpu: 100)")
    parser.add_argument("--per-id", type=int, default=20, help="cpu: training images per identity")
    parser.add_argument("--steps", type=int, default=100, help="gpu: timed model-only steps")
    parser.add_argument("--compile", action="store_true")
    parser.add_argument("--threads", type=int, default=1, help="cpu: torch threads")
    parser.add_argument("--repeats", type=int, default=2, help="cpu: repeats, the fastest is kept")
    parser.add_argument("--note", default="", help="free text stored with the result (e.g. machine load)")
    args = parser.parse_args(argv)
    if args.what in ("gpu", "market") and not torch.cuda.is_available():
        sys.exit(f"{args.what} needs a CUDA GPU; none is available here")
    args.ids = args.ids or (751 if args.what == "gpu" else 100)
    result = {"gpu": run_gpu, "market": run_market, "cpu": run_cpu}[args.what](args)
    result.update({"machine": machine(), "note": args.note, "command": " ".join(sys.argv)})
    write_json(args.out, result)
    print(json_summary(result))


def json_summary(result: dict) -> str:
    import json

    return json.dumps({k: v for k, v in result.items() if k not in ("config", "machine")}, indent=1, default=str)


if __name__ == "__main__":
    main()
