"""The README's ten-line recorder example runs as written in a plain PyTorch loop."""
import re
from pathlib import Path

import numpy as np
import torch

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_recorder_example_runs():
    text = README.read_text()
    section = text[text.index("### The recorder in your own training loop"):]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    torch.manual_seed(0)
    num_ids, n = 4, 32
    labels = torch.arange(n) % num_ids
    images = torch.randn(n, 8) + 3 * torch.nn.functional.one_hot(labels, 8).float()
    dataset = torch.utils.data.TensorDataset(images, labels, torch.arange(n))
    model = torch.nn.Linear(8, num_ids)
    namespace = {
        "dataset": dataset, "num_ids": num_ids, "device": "cpu", "model": model,
        "loader": torch.utils.data.DataLoader(dataset, batch_size=8, shuffle=True),
        "criterion": torch.nn.CrossEntropyLoss(), "optimizer": torch.optim.SGD(model.parameters(), lr=0.1),
    }
    exec(compile(code, str(README), "exec"), namespace)
    importance = namespace["importance"]
    assert importance.shape == (n,)
    assert np.all((importance >= 0) & (importance <= np.log2(num_ids) + 1e-9))
    assert namespace["recorder"].counts.tolist() == [12] * n  # every sample once per epoch for 12 epochs
