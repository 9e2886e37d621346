"""The recipes in examples/ run, and the README shows exactly their recipe lines."""
import importlib
import re
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch

from reidprune.data.layouts import load_dataset
from reidprune.data.synth import SynthConfig, generate_world
from reidprune.export.id_lists import read_id_list, write_id_lists
from reidprune.select.selection import Selection

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
README = ROOT / "README.md"


def _example(name):
    for folder in (EXAMPLES, EXAMPLES / "standins"):
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
    return importlib.import_module(name)


def _recipe(path: Path) -> str:
    """The example's ``# recipe:start`` ... ``# recipe:end`` regions, dedented, one blank line apart."""
    regions = re.findall(r"# recipe:start\n(.*?)\n\s*# recipe:end", path.read_text(), re.S)
    assert regions, f"no recipe region in {path}"
    return "\n\n".join(textwrap.dedent(r).strip("\n") for r in regions) + "\n"


@pytest.mark.parametrize("document, heading, example", [
    ("README.md", "### The recorder in your own training loop", "plain_loop.py"),
    ("README.md", "### The recorder in a Lightning Trainer", "lightning_callback.py"),
    ("docs/recipes.md", "### Training with torchreid on the pruned set", "torchreid_style.py"),
    ("docs/recipes.md", "### Training with FastReID on the pruned set", "fastreid_style.py"),
])
def test_docs_show_the_recipe_lines_of_each_example(document, heading, example):
    text = (ROOT / document).read_text()
    section = text[text.index(heading):]
    assert f"examples/{example}" in section[:section.find("```")]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    assert code == _recipe(EXAMPLES / example)


def test_plain_loop_records_every_sample_every_epoch():
    importance, recorder = _example("plain_loop").main()
    assert importance.shape == (32,)
    assert np.all((importance >= 0) & (importance <= np.log2(4) + 1e-9))
    assert recorder.counts.tolist() == [12] * 32  # every sample once per epoch for 12 epochs


def test_lightning_trainer_drives_the_recorder_for_two_epochs():
    pytest.importorskip("lightning")
    example = _example("lightning_callback")
    seen = []

    class Capturing(example.Classifier):  # keeps every step's (index, logits) to check the recorder against
        def training_step(self, batch, batch_idx):
            out = super().training_step(batch, batch_idx)
            seen.append((batch[2].clone(), out["logits"].clone()))
            return out

    importance, recorder, forgetting = example.main(epochs=2, model=Capturing(4))
    assert recorder.counts.tolist() == [2] * 32 and len(seen) == 2 * 4  # 2 epochs x 4 batches of 8
    sums = torch.zeros(32, 4)
    for index, logits in seen:
        sums.index_add_(0, index, logits)
    expected = torch.softmax((sums / 2).double(), 1).float()
    assert torch.allclose(recorder.soft_labels(), expected, atol=1e-6)
    assert importance.shape == (32,) and forgetting.counts.tolist() == [2] * 32


@pytest.fixture(scope="module")
def pruned(tmp_path_factory):
    """A tiny synthetic world and `prune`-style lists: rows 0 and 5 pruned, row 1 relabelled to pid 3."""
    tmp = tmp_path_factory.mktemp("recipes")
    config = SynthConfig(num_train_ids=3, num_test_ids=2, images_per_id=4, test_images_per_id=4,
                         num_distractors=0, num_cameras=2, tracklet_length=2, mislabel_rate=0.0, outlier_rate=0.0)
    data = generate_world(tmp / "world", config, progress=False)
    table = load_dataset(data, "market1501")
    train = table.split_table("train")
    assert train.classes.tolist() == [1, 2, 3] and len(train) == 12
    status = np.array(["kept"] * 12, dtype=object)
    status[[0, 5]], status[1] = "pruned", "relabelled"
    labels = train.label.copy()
    labels[1] = 2
    write_id_lists(tmp / "out" / "lists", train, Selection(status.astype(str), labels, train.label), table)
    expected = [(str(data / p), int(pid), int(cam)) for p, pid, cam in
                zip(train.relative_paths(), train.classes[labels], train.camid)]
    expected = [row for i, row in enumerate(expected) if i not in (0, 5)]
    assert expected[0][1] == 3  # the relabelled row carries its corrected id
    return data, tmp / "out", table, expected


def test_torchreid_style_dataset_loads_the_lists(pruned):
    data, out, table, expected = pruned
    datamanager, losses = _example("torchreid_style").main(str(data), str(out))
    dataset = datamanager.train_set
    relabel = {1: 0, 2: 1, 3: 2}
    assert dataset.train == [(p, relabel[pid], cam) for p, pid, cam in expected]
    assert datamanager.num_train_pids == 3 and len(dataset) == 10
    assert len(dataset.query) == len(table.rows("query")) and len(dataset.gallery) == len(table.rows("gallery"))
    assert dataset.query == read_id_list(out / "lists" / "query.txt", root=data)
    assert len(losses) == 2 and all(np.isfinite(losses))  # 10 images in batches of 8
    assert dataset[0]["img"].shape == (3, 64, 32)


def test_fastreid_style_dataset_loads_the_lists(pruned):
    data, out, table, expected = pruned
    dataset, losses = _example("fastreid_style").main(str(data), str(out))
    assert dataset.img_items == [(p, f"pruned_{pid}", f"pruned_{cam}") for p, pid, cam in expected]
    assert dataset.num_classes == 3 and dataset.pid_dict == {"pruned_1": 0, "pruned_2": 1, "pruned_3": 2}
    assert dataset[0]["targets"] == 2 and dataset[0]["images"].shape == (3, 64, 32)
    assert len(losses) == 2 and all(np.isfinite(losses))


def test_an_epoch_callback_stops_a_lightning_trainer():
    """`should_stop` is part of the epoch-callback protocol: the Lightning callback sets trainer.should_stop."""
    pytest.importorskip("lightning")
    import lightning.pytorch as pl
    from torch.utils.data import DataLoader

    from reidprune.dynamics.lightning import RecorderCallback
    from reidprune.dynamics.recorder import LogitRecorder

    example = _example("lightning_callback")
    dataset = _example("plain_loop").toy_dataset(num_ids=4)

    class StopAfterTwo:
        def __init__(self):
            self.epochs, self.should_stop = [], False

        def on_epoch_end(self, epoch, model):
            self.epochs.append(epoch)
            self.should_stop = epoch >= 2

    recorder, stopper = LogitRecorder(len(dataset), 4), StopAfterTwo()
    trainer = pl.Trainer(max_epochs=6, callbacks=[RecorderCallback(recorder, epoch_callbacks=[stopper])],
                         accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False)
    trainer.fit(example.Classifier(4), DataLoader(dataset, batch_size=8))
    assert stopper.epochs == [1, 2] and recorder.counts.tolist() == [2] * len(dataset)
