"""The recorder (and a tracker) in a Lightning ``Trainer``, through ``RecorderCallback``.

    pip install lightning
    python examples/lightning_callback.py

Two changes to an existing LightningModule: batches carry each sample's dataset index, and
``training_step`` returns the logits beside the loss. Then one callback does the rest.
"""
import lightning.pytorch as pl
import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from plain_loop import toy_dataset  # (x, label, index) items; use your own Dataset


class Classifier(pl.LightningModule):
    def __init__(self, num_ids: int):
        super().__init__()
        self.net = torch.nn.Linear(8, num_ids)

    # recipe:start
    def training_step(self, batch, batch_idx):
        images, labels, index = batch                      # 1. the batch carries each sample's index
        logits = self.net(images)
        loss = F.cross_entropy(logits, labels)
        return {"loss": loss, "logits": logits.detach()}   # 2. return the logits beside the loss
    # recipe:end

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=0.1)


def main(epochs=2, model=None, seed=0):
    """Fit on the toy set; returns (importance, recorder, forgetting tracker)."""
    torch.manual_seed(seed)
    dataset, num_ids = toy_dataset(num_ids=4), 4
    model = model if model is not None else Classifier(num_ids)
    # recipe:start
    from reidprune.dynamics.lightning import RecorderCallback
    from reidprune.dynamics.recorder import LogitRecorder
    from reidprune.dynamics.trackers import ForgettingTracker
    from reidprune.scores.entropy import entropy_scores

    recorder = LogitRecorder(num_samples=len(dataset), num_classes=num_ids)
    forgetting = ForgettingTracker(num_samples=len(dataset))                  # optional, same hook shape
    trainer = pl.Trainer(max_epochs=epochs, callbacks=[RecorderCallback([recorder, forgetting])],
                         accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(model, DataLoader(dataset, batch_size=8, shuffle=True))
    importance = entropy_scores(recorder.soft_labels().numpy())              # low = easy = prune first
    # recipe:end
    return importance, recorder, forgetting


if __name__ == "__main__":
    importance, recorder, _ = main(epochs=12)
    print("visits per sample:", recorder.counts.tolist()[:8], "importance:", importance[:8].round(3))
