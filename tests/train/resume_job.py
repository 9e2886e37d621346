"""A small scoring job for the kill-and-resume tests: python resume_job.py WORKDIR OUT.npz."""
import sys

import numpy as np
import torch

from reidprune.data.table import make_table
from reidprune.pipeline.scoring import ScoreOptions, score_dataset
from reidprune.train.config import cpu_quick_config
from reidprune.train.loop import TrainingInterrupted


def tiny_world(num_classes=8, per_class=16, size=(32, 16), seed=0):
    gen = torch.Generator().manual_seed(seed)
    protos = torch.randint(0, 256, (num_classes, 3, *size), generator=gen, dtype=torch.uint8)
    labels = np.repeat(np.arange(num_classes), per_class)
    noise = torch.randint(0, 80, (len(labels), 3, *size), generator=gen, dtype=torch.uint8)
    images = (protos[labels].to(torch.int16) * 3 // 4 + noise).clamp(0, 255).to(torch.uint8)
    paths = [f"/virtual/{c:04d}_c1_{i:03d}.jpg" for i, c in enumerate(labels)]
    table = make_table("/virtual", "market1501", paths, labels + 1, np.ones(len(labels)), ["train"] * len(labels),
                       pixels=images.permute(0, 2, 3, 1).numpy())
    return table, images


if __name__ == "__main__":
    workdir, out = sys.argv[1], sys.argv[2]
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 8
    table, images = tiny_world()
    config = cpu_quick_config(epochs=epochs, batch_size=16, height=32, width=16)
    options = ScoreOptions(("entropy", "forgetting", "aum", "ma_loss"), config)
    try:
        scores = score_dataset(table, images, options, workdir=workdir, progress=False)
    except TrainingInterrupted as exc:
        print(exc, flush=True)
        sys.exit(130)
    scores.save(out)
