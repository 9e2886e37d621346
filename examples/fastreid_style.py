"""Train with FastReID on the pruned, relabelled set, read from `prune`'s list files.

    python examples/fastreid_style.py DATA OUT      # DATA: the dataset given to prune, OUT: its --out

Uses the real FastReID when installed, otherwise the stand-in in examples/standins (same dataset
API). A FastReID user adds the registered class between ``recipe:start`` and ``recipe:end`` (e.g.
in ``fastreid/data/datasets/pruned.py``, imported by ``fastreid/data/datasets/__init__.py``) and sets
``DATASETS.NAMES: ("PrunedDataset",)`` and ``DATASETS.TESTS: ("PrunedDataset",)`` in the config.
"""
import os
import sys

try:
    import fastreid  # noqa: F401
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "standins"))

import torch

# recipe:start
from fastreid.data.datasets import DATASET_REGISTRY
from fastreid.data.datasets.bases import ImageDataset


def read_list(list_file, root):
    """(img_path, pid, camid) tuples of a reidprune list file (paths relative to the dataset root)."""
    with open(list_file) as f:
        return [(os.path.join(root, path), int(pid), int(camid))
                for path, pid, camid in (line.rstrip("\n").rsplit(" ", 2) for line in f)]


@DATASET_REGISTRY.register()
class PrunedDataset(ImageDataset):
    dataset_name = "pruned"
    data_root = "/data/Market-1501"          # the DATA given to `reidprune prune` / `run`
    lists_dir = "market-pruned/lists"        # its --out folder + /lists

    def __init__(self, root="datasets", **kwargs):
        def train():  # kept images with corrected ids; FastReID prefixes training ids with the dataset name
            return [(path, f"{self.dataset_name}_{pid}", f"{self.dataset_name}_{camid}")
                    for path, pid, camid in read_list(os.path.join(self.lists_dir, "train.txt"), self.data_root)]

        def query():
            return read_list(os.path.join(self.lists_dir, "query.txt"), self.data_root)

        def gallery():
            return read_list(os.path.join(self.lists_dir, "gallery.txt"), self.data_root)

        super().__init__(train, query, gallery, **kwargs)
# recipe:end


def train_one_epoch(loader, num_classes, seed=0):
    """A stand-in for FastReID's trainer: a tiny linear model over the relabelled targets."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64 * 32, num_classes))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for batch in loader:
        loss = torch.nn.functional.cross_entropy(model(batch["images"]), batch["targets"])
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        losses.append(loss.item())
    return losses


def main(data, out):
    """Train one epoch on the kept set of `reidprune prune DATA --out OUT`; returns (dataset, losses)."""
    from fastreid.data import build_reid_train_loader

    PrunedDataset.data_root, PrunedDataset.lists_dir = data, os.path.join(out, "lists")
    loader, dataset = build_reid_train_loader(["PrunedDataset"], root="datasets", batch_size=8, height=64, width=32)
    return dataset, train_one_epoch(loader, dataset.num_classes)


if __name__ == "__main__":
    dataset, losses = main(sys.argv[1], sys.argv[2])
    print(f"{len(dataset)} training images of {dataset.num_classes} identities; losses: {losses}")
