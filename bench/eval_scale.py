"""ReID evaluation at MSMT17 size from features, in query blocks: time and peak memory.

11,659 queries x 82,161 gallery images, 2048-d features (MSMT17's test split with a
ResNet-50 feature). Features are random but shaped like a ReID test set: 3,060 identities,
15 cameras, every image its identity's centre plus noise (so ranks and mAP are neither 0
nor 1 and queries have true matches in other cameras). The full Q x G matrix (3.8 GB in
float32, 7.7 GB in float64) is never built: see ``reidprune.eval.reid.evaluate_reid_features``.

    nice -n 19 python bench/eval_scale.py                      # CPU -> bench/results/eval_scale_cpu.json
    python bench/eval_scale.py --device cuda --memory-mb 8192  # GPU -> bench/results/eval_scale_cuda.json

On a shared CPU the wall time depends on the other processes: ``process_cpu_seconds`` (CPU
time of this process, all threads) is the steadier figure. Memory is the process's resident set (``resource.getrusage`` peak, and the RSS just before
the evaluation, after the features exist); on CUDA also ``torch.cuda.max_memory_allocated``.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

from reidprune import __version__
from reidprune.atomic import write_json
from reidprune.eval.reid import (
    BYTES_PER_DISTANCE_CPU, BYTES_PER_DISTANCE_TORCH, evaluate_reid_features, query_block_size,
)

HERE = Path(__file__).resolve().parent
MIB = 2**20


def make_features(num_images: int, pids: np.ndarray, centres: np.ndarray, noise: float,
                  rng: np.random.Generator, chunk: int = 4096) -> np.ndarray:
    """float32 ``centre[pid] + noise * N(0, 1)``, filled in chunks (no float64 copy)."""
    out = np.empty((num_images, centres.shape[1]), dtype=np.float32)
    for start in range(0, num_images, chunk):
        rows = slice(start, min(start + chunk, num_images))
        out[rows] = rng.standard_normal((rows.stop - rows.start, centres.shape[1]), dtype=np.float32)
        out[rows] *= noise
        out[rows] += centres[pids[rows]]
    return out


def current_rss_mib() -> float:
    with open("/proc/self/statm") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / MIB


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=11_659)
    parser.add_argument("--gallery", type=int, default=82_161)
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--ids", type=int, default=3_060)
    parser.add_argument("--cameras", type=int, default=15)
    parser.add_argument("--noise", type=float, default=2.8, help="feature noise per dimension (centres ~ N(0,1))")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--memory-mb", type=float, default=512, help="working-memory budget of a query block")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    out = args.out or HERE / "results" / f"eval_scale_{torch.device(args.device).type}.json"
    if args.threads:
        torch.set_num_threads(args.threads)

    rng = np.random.default_rng(args.seed)
    centres = rng.standard_normal((args.ids, args.dim), dtype=np.float32)
    query_pids = rng.integers(0, args.ids, args.queries)
    gallery_pids = rng.integers(0, args.ids, args.gallery)
    query_camids = rng.integers(0, args.cameras, args.queries)
    gallery_camids = rng.integers(0, args.cameras, args.gallery)
    query = make_features(args.queries, query_pids, centres, args.noise, rng)
    gallery = make_features(args.gallery, gallery_pids, centres, args.noise, rng)
    del centres
    device = torch.device(args.device)
    rss_before = current_rss_mib()
    peak_before = peak_rss_mib()
    if device.type == "cuda":
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()

    began, cpu_began = time.perf_counter(), time.process_time()
    metrics = evaluate_reid_features(query, gallery, query_pids, gallery_pids, query_camids, gallery_camids,
                                     device=device, memory_budget_mb=args.memory_mb)
    if device.type == "cuda":
        torch.cuda.synchronize()
    seconds, cpu_seconds = time.perf_counter() - began, time.process_time() - cpu_began

    result = {
        "benchmark": "eval_scale", "version": __version__,
        "shape": {"queries": args.queries, "gallery": args.gallery, "dim": args.dim, "ids": args.ids,
                  "cameras": args.cameras},
        "device": str(device), "memory_budget_mb": args.memory_mb,
        "query_block_rows": query_block_size(
            args.gallery, args.memory_mb,
            BYTES_PER_DISTANCE_CPU if device.type == "cpu" else BYTES_PER_DISTANCE_TORCH),
        "seconds": round(seconds, 2),
        "process_cpu_seconds": round(cpu_seconds, 2),
        "features_mib": round((query.nbytes + gallery.nbytes) / MIB, 1),
        "rss_before_eval_mib": round(rss_before, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "peak_rss_before_eval_mib": round(peak_before, 1),
        "eval_rss_increase_mib": round(peak_rss_mib() - rss_before, 1),
        "full_matrix_float32_mib": round(args.queries * args.gallery * 4 / MIB, 1),
        "metrics_percent": metrics.as_dict(),
        "machine": {"platform": platform.platform(), "python": sys.version.split()[0],
                    "torch": torch.__version__, "torch_threads": torch.get_num_threads(),
                    "cpu_count": os.cpu_count(),
                    "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None},
        "command": " ".join(["python", "bench/eval_scale.py", *(argv if argv is not None else sys.argv[1:])]),
    }
    if device.type == "cuda":
        result["cuda_peak_allocated_mib"] = round(torch.cuda.max_memory_allocated(device) / MIB, 1)
    write_json(out, result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
