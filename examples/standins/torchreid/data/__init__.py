"""Stand-in for ``torchreid.data``: ImageDataset, register_image_dataset, ImageDataManager.

As in torchreid, the TRAINING pids of an ImageDataset must already be 0..N-1 (a dataset's
``__init__`` relabels them; torchreid's softmax head has ``num_train_pids`` outputs), and
query/gallery keep their original pids.
"""
import numpy as np
import torch
from PIL import Image
from torch.utils.data import DataLoader

_REGISTRY = {}


class ImageDataset(torch.utils.data.Dataset):
    """``train``, ``query``, ``gallery``: lists of ``(img_path, pid, camid)``."""

    def __init__(self, train, query, gallery, transform=None, mode="train", **kwargs):
        self.train, self.query, self.gallery = list(train), list(query), list(gallery)
        self.transform, self.mode = transform, mode
        self.num_train_pids = len({pid for _, pid, _ in self.train})
        self.num_train_cams = len({camid for _, _, camid in self.train})
        pids = sorted({pid for _, pid, _ in self.train})
        if pids != list(range(self.num_train_pids)):
            raise ValueError(f"training pids must be 0..{self.num_train_pids - 1} (relabel them), got {pids[:5]}...")
        self.data = {"train": self.train, "query": self.query, "gallery": self.gallery}[mode]

    def __len__(self):
        return len(self.data)

    def __getitem__(self, index):
        img_path, pid, camid = self.data[index]
        img = Image.open(img_path).convert("RGB")
        if self.transform is not None:
            img = self.transform(img)
        return {"img": img, "pid": pid, "camid": camid, "impath": img_path}


def register_image_dataset(name, dataset):
    if name in _REGISTRY:
        raise ValueError(f"the dataset {name!r} is already registered")
    _REGISTRY[name] = dataset


def _to_tensor(height, width):
    def transform(img):
        array = np.asarray(img.resize((width, height)), dtype=np.float32) / 255.0
        return torch.from_numpy(array).permute(2, 0, 1)
    return transform


class ImageDataManager:
    """Builds the registered dataset ``sources`` under ``root``; ``train_loader`` yields dicts."""

    def __init__(self, root="", sources=None, height=256, width=128, batch_size_train=32, **kwargs):
        dataset = _REGISTRY[sources](root=root, transform=_to_tensor(height, width), mode="train")
        self.num_train_pids, self.train_set = dataset.num_train_pids, dataset
        self.train_loader = DataLoader(dataset, batch_size=batch_size_train, shuffle=True, drop_last=False)
