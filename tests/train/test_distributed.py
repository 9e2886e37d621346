"""Two ranks under torchrun with gloo on the CPU: merged hook state = the sum of the ranks' parts."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from reidprune.dynamics.topk import TopKLogitRecorder
from reidprune.train.distributed import shard_batches

JOB = Path(__file__).with_name("ddp_job.py")


def test_shards_cover_every_batch_with_equal_step_counts():
    batches = [np.array([i]) for i in range(5)]
    shards = [shard_batches(batches, r, 2) for r in range(2)]
    assert [len(s) for s in shards] == [3, 3]
    assert [int(b[0]) for b in shards[0]] == [0, 2, 4] and [int(b[0]) for b in shards[1]] == [1, 3, 0]
    assert shard_batches(batches, 0, 1) == batches


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                             str(JOB), str(out)], capture_output=True, text=True, timeout=900, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    return [torch.load(out / f"rank{r}.pt", weights_only=False) for r in range(2)]


def test_merged_sums_equal_the_sum_of_each_ranks_contributions(ranks):
    a, b = ranks[0]["full"], ranks[1]["full"]
    n = len(a["spy_counts"])
    assert torch.equal(a["recorder"]["counts"], a["spy_counts"] + b["spy_counts"])
    assert torch.allclose(a["recorder"]["sums"], a["spy_sums"] + b["spy_sums"], atol=1e-4)
    # every sample recorded once per epoch (3 epochs), each by exactly one rank
    assert torch.equal(a["recorder"]["counts"], torch.full((n,), 3))
    assert ((a["spy_counts"] > 0) & (b["spy_counts"] > 0)).any()  # both ranks did record
    for name, keys in (("forgetting", ("forgets", "num_correct", "counts", "last_correct")),
                       ("aum", ("margin_sums", "counts")), ("ema", ("ema", "counts")), ("recorder", ("sums",))):
        for key in keys:  # every rank ends with the same merged state
            assert torch.equal(a[name][key], b[name][key]), (name, key)
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key


def test_merged_topk_recorder_equals_one_process_fed_every_ranks_batches(ranks):
    a, b = ranks[0]["full"], ranks[1]["full"]
    n, c = a["spy_sums"].shape
    replay = TopKLogitRecorder(n, c, k=2)
    for epoch in range(1, 4):  # each sample is presented once an epoch, on one rank
        for ids, logits, labels in [batch[1:] for rank in (a, b) for batch in rank["spy_batches"] if batch[0] == epoch]:
            replay.update(ids, logits, labels)
        replay.end_epoch()
    expected = replay.state_dict()
    for key, value in expected.items():
        if isinstance(value, torch.Tensor):
            for rank in (a, b):  # the spare row (last) is scratch
                assert torch.allclose(rank["topk"][key][:-1].double(), value[:-1].double(), atol=1e-5), key
    assert torch.equal(a["topk"]["counts"][:-1], torch.full((n,), 3))


def test_per_sample_state_comes_from_the_rank_that_presented_it_last(ranks):
    local0, local1 = ranks[0]["hand"]["local_ema"], ranks[1]["hand"]["local_ema"]
    merged = ranks[0]["hand"]["ema"]
    assert torch.equal(merged, torch.stack([local0[0], local1[1], local1[2], torch.tensor(0.0)]))
    assert ranks[0]["hand"]["counts"].tolist() == [1, 2, 1, 0]
    assert torch.equal(merged, ranks[1]["hand"]["ema"])


def test_resumed_run_matches_the_uninterrupted_one(ranks):
    for rank in ranks:
        full, resumed = rank["full"], rank["resumed"]
        for name in ("recorder", "forgetting", "aum", "ema", "topk"):
            for key, value in full[name].items():
                if isinstance(value, torch.Tensor):
                    assert torch.allclose(value.double(), resumed[name][key].double(), atol=1e-5), (name, key)
        for key in full["model"]:
            assert torch.allclose(full["model"][key].double(), resumed["model"][key].double(), atol=1e-5), key
