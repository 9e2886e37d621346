"""Train with torchreid on the pruned, relabelled set, read from `prune`'s list files.

    python examples/torchreid_style.py DATA OUT      # DATA: the dataset given to prune, OUT: its --out

Uses the real torchreid when installed, otherwise the stand-in in examples/standins (same dataset
API). The only lines a torchreid user adds are between ``recipe:start`` and ``recipe:end``; the rest
is the usual torchreid script (models, engine), here reduced to a small loop on the CPU.
(The materialised copy, ``prune --materialize``, needs no code at all: it is a Market-1501 folder
that torchreid's built-in ``market1501`` dataset reads when placed where torchreid looks for it.)
"""
import os
import sys

try:
    import torchreid
except ImportError:
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "standins"))
    import torchreid

import torch

# recipe:start
from torchreid.data import ImageDataset


def read_list(list_file, root):
    """(img_path, pid, camid) tuples of a reidprune list file (paths relative to the dataset root)."""
    with open(list_file) as f:
        return [(os.path.join(root, path), int(pid), int(camid))
                for path, pid, camid in (line.rstrip("\n").rsplit(" ", 2) for line in f)]


class PrunedDataset(ImageDataset):
    data_root = "/data/Market-1501"          # the DATA given to `reidprune prune` / `run`
    lists_dir = "market-pruned/lists"        # its --out folder + /lists

    def __init__(self, root="", **kwargs):
        train = read_list(os.path.join(self.lists_dir, "train.txt"), self.data_root)  # kept images, corrected ids
        relabel = {pid: label for label, pid in enumerate(sorted({pid for _, pid, _ in train}))}
        train = [(path, relabel[pid], camid) for path, pid, camid in train]  # torchreid trains on 0..N-1
        query = read_list(os.path.join(self.lists_dir, "query.txt"), self.data_root)
        gallery = read_list(os.path.join(self.lists_dir, "gallery.txt"), self.data_root)
        super().__init__(train, query, gallery, **kwargs)


torchreid.data.register_image_dataset("pruned", PrunedDataset)
# recipe:end


def train_one_epoch(datamanager, seed=0):
    """A stand-in for torchreid's engine: a tiny linear model, softmax over num_train_pids."""
    torch.manual_seed(seed)
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 64 * 32, datamanager.num_train_pids))
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for batch in datamanager.train_loader:
        loss = torch.nn.functional.cross_entropy(model(batch["img"]), batch["pid"])
        optimizer.zero_grad(); loss.backward(); optimizer.step()
        losses.append(loss.item())
    return losses


def main(data, out):
    """Train one epoch on the kept set of `reidprune prune DATA --out OUT`; returns (datamanager, losses)."""
    PrunedDataset.data_root, PrunedDataset.lists_dir = data, os.path.join(out, "lists")
    # recipe:start
    datamanager = torchreid.data.ImageDataManager(root="", sources="pruned", height=64, width=32, batch_size_train=8)
    # recipe:end
    return datamanager, train_one_epoch(datamanager)


if __name__ == "__main__":
    manager, losses = main(sys.argv[1], sys.argv[2])
    print(f"{len(manager.train_set)} training images of {manager.num_train_pids} identities; losses: {losses}")
