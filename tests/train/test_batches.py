"""Batch sources serve the sampler's rows in order, whichever path serves them."""
import numpy as np
import torch

from reidprune.train.batches import BatchSource, _prefetch


def test_cpu_source_and_prefetch_thread_serve_the_same_rows_in_order():
    images = torch.arange(20, dtype=torch.uint8).view(20, 1, 1, 1).expand(20, 3, 2, 2).contiguous()
    batches = [np.array([3, 1]), np.array([19, 0, 7]), np.array([5])]
    served = list(BatchSource(images, torch.device("cpu")).iterate(batches))
    streamed = list(_prefetch(images, batches))
    for (ids, pixels), (ids2, pixels2), batch in zip(served, streamed, batches):
        assert ids.tolist() == batch.tolist() == ids2.tolist()
        assert pixels[:, 0, 0, 0].tolist() == batch.tolist() and torch.equal(pixels, pixels2)
    assert len(served) == len(streamed) == 3


def test_prefetch_stops_cleanly_when_the_consumer_leaves_early():
    """Closing the stream early ends the producer thread (it must not hang on its full queue)."""
    import threading

    images = torch.zeros(100, 3, 2, 2, dtype=torch.uint8)
    stream = _prefetch(images, [np.array([i]) for i in range(100)])
    ids, _ = next(stream)
    assert ids.tolist() == [0]
    closer = threading.Thread(target=stream.close, daemon=True)
    closer.start()
    closer.join(timeout=10)
    assert not closer.is_alive(), "closing the prefetch stream hung"
    assert not any(t.name == "reidprune-prefetch" and t.is_alive() for t in threading.enumerate())
