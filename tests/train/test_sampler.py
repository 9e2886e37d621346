"""P x K and shuffle samplers: batch structure and determinism per (seed, epoch)."""
import numpy as np
import pytest

from reidprune.errors import ReidPruneError
from reidprune.train.sampler import IdentitySampler, ShuffleSampler


def test_pk_batches_have_p_identities_with_k_images_each():
    labels = np.repeat(np.arange(20), 8)  # 160 images
    sampler = IdentitySampler(labels, batch_size=16, instances=4, seed=3)
    batches = sampler.batches(epoch=1)
    assert len(batches) == 160 // 16
    for batch in batches:
        ids, counts = np.unique(labels[batch], return_counts=True)
        assert len(ids) == 4 and (counts == 4).all()


def test_pk_same_seed_and_epoch_same_order_other_epoch_differs():
    labels = np.repeat(np.arange(10), 6)
    a = IdentitySampler(labels, 8, 4, seed=1)
    b = IdentitySampler(labels, 8, 4, seed=1)
    assert all(np.array_equal(x, y) for x, y in zip(a.batches(5), b.batches(5)))
    assert not all(np.array_equal(x, y) for x, y in zip(a.batches(5), a.batches(6)))


def test_identity_with_one_image_is_drawn_with_replacement():
    labels = np.array([0] + [1] * 4 + [2] * 4 + [3] * 4)
    sampler = IdentitySampler(labels, batch_size=8, instances=4, seed=0)
    seen = np.concatenate([b for e in range(1, 6) for b in sampler.batches(e)])
    assert (seen == 0).sum() % 4 == 0 and (seen == 0).sum() > 0  # the lone image fills a whole group


def test_pk_rejects_bad_arguments():
    with pytest.raises(ReidPruneError, match="multiple of instances"):
        IdentitySampler(np.arange(10), batch_size=10, instances=4)
    with pytest.raises(ReidPruneError, match="at least 2 identities"):
        IdentitySampler(np.zeros(10), batch_size=8, instances=4)


def test_shuffle_sampler_visits_every_sample_once_per_epoch():
    sampler = ShuffleSampler(10, batch_size=4, seed=0)
    batches = sampler.batches(2)
    assert [len(b) for b in batches] == [4, 4, 2]
    assert sorted(np.concatenate(batches).tolist()) == list(range(10))


def test_shuffle_never_ends_with_a_batch_of_one():
    # BatchNorm cannot train on a single sample: 9 = 4 + 4 + 1 becomes 4 + 5
    sampler = ShuffleSampler(9, batch_size=4, seed=0)
    batches = sampler.batches(1)
    assert [len(b) for b in batches] == [4, 5] and len(sampler) == 2
    assert sorted(np.concatenate(batches).tolist()) == list(range(9))
