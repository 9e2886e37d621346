"""Stand-in for ``fastreid.data``: ``build_reid_train_loader`` (the real one reads a cfg)."""
import numpy as np
import torch
from torch.utils.data import DataLoader

from fastreid.data.common import CommDataset
from fastreid.data.datasets import DATASET_REGISTRY


def build_reid_train_loader(names, root, batch_size, height=256, width=128):
    """As FastReID: every name in cfg.DATASETS.NAMES built from the registry, train sets combined and
    relabelled by CommDataset (pids are strings "<dataset_name>_<pid>")."""
    items = []
    for name in names:
        items.extend(DATASET_REGISTRY.get(name)(root=root).train)

    def transform(img):
        array = np.asarray(img.resize((width, height)), dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1)

    dataset = CommDataset(items, transform, relabel=True)
    return DataLoader(dataset, batch_size=batch_size, shuffle=True), dataset
