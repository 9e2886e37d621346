"""The recorder in a plain PyTorch loop (README: "The recorder in your own training loop").

    python examples/plain_loop.py

runs it on a toy dataset; with your own data, your model, loader, loss and optimiser replace the
toy ones and the lines between ``recipe:start`` and ``recipe:end`` stay as they are.
"""
import torch
from torch.utils.data import DataLoader, TensorDataset


def score(dataset, loader, model, criterion, optimizer, num_ids, device="cpu"):
    """Train 12 epochs recording logits; returns (importance per sample, the recorder)."""
    # recipe:start
    from reidprune.dynamics.recorder import LogitRecorder
    from reidprune.scores.entropy import entropy_scores

    recorder = LogitRecorder(num_samples=len(dataset), num_classes=num_ids, device=device)
    for epoch in range(12):
        for images, labels, index in loader:           # your loader also yields each sample's index
            logits = model(images.to(device))
            loss = criterion(logits, labels.to(device)); optimizer.zero_grad(); loss.backward(); optimizer.step()
            recorder.update(index.to(device), logits)   # fp32 running sums + visit counts, index_add_, no host sync
        recorder.end_epoch()
    importance = entropy_scores(recorder.soft_labels().numpy())   # low = easy = prune first
    # recipe:end
    return importance, recorder


def toy_dataset(n=32, num_ids=4, seed=0):
    """n feature vectors of num_ids separable classes, each item (x, label, index)."""
    gen = torch.Generator().manual_seed(seed)
    labels = torch.arange(n) % num_ids
    x = torch.randn(n, 8, generator=gen) + 3 * torch.nn.functional.one_hot(labels, 8).float()
    return TensorDataset(x, labels, torch.arange(n))


def main():
    torch.manual_seed(0)
    num_ids = 4
    dataset = toy_dataset(num_ids=num_ids)
    model = torch.nn.Linear(8, num_ids)
    loader = DataLoader(dataset, batch_size=8, shuffle=True)
    return score(dataset, loader, model, torch.nn.CrossEntropyLoss(), torch.optim.SGD(model.parameters(), lr=0.1),
                 num_ids)


if __name__ == "__main__":
    importance, recorder = main()
    print("importance (soft-label entropy, bits) of the first 8 samples:", importance[:8].round(3))
