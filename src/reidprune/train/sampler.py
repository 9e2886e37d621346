"""Batch orders that depend only on (seed, epoch), so a resumed run replays them exactly."""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError


def _epoch_rng(seed: int, epoch: int) -> np.random.Generator:
    return np.random.default_rng([seed, epoch, 0x5EED])


class IdentitySampler:
    """P x K batches: ``batch_size // instances`` identities, ``instances`` images each.

    Each epoch every identity's images are shuffled and cut into groups of K; an identity with
    fewer than K images (or a last group short of K) is filled by drawing its images again with
    replacement. Groups are shuffled and packed into batches of distinct identities. An epoch has
    ``len(labels) // batch_size`` batches (FastReID's convention, so a pruned set trains
    proportionally faster); samples not reached in one epoch are reached in others.
    """

    def __init__(self, labels: np.ndarray, batch_size: int = 64, instances: int = 4, seed: int = 0):
        labels = np.asarray(labels)
        if batch_size % instances:
            raise ReidPruneError(f"batch size {batch_size} must be a multiple of instances {instances}")
        self.ids_per_batch = batch_size // instances
        self.classes = np.unique(labels)
        if len(self.classes) < 2:
            raise ReidPruneError("P x K sampling needs at least 2 identities in the training set")
        self.ids_per_batch = min(self.ids_per_batch, len(self.classes))
        self.labels, self.batch_size, self.instances, self.seed = labels, batch_size, instances, seed
        self.members = [np.flatnonzero(labels == c) for c in self.classes]
        # with fewer identities than P the batch shrinks; count batches of the size actually drawn
        self.num_batches = max(1, len(labels) // (self.ids_per_batch * instances))

    def __len__(self) -> int:
        return self.num_batches

    def batches(self, epoch: int) -> list[np.ndarray]:
        rng = _epoch_rng(self.seed, epoch)
        batches: list[np.ndarray] = []
        while len(batches) < self.num_batches:
            groups = self._groups(rng)
            batches.extend(self._pack(groups, rng))
        return batches[: self.num_batches]

    def _groups(self, rng: np.random.Generator) -> list[tuple[int, np.ndarray]]:
        k = self.instances
        groups = []
        for cls, members in enumerate(self.members):
            order = rng.permutation(members)
            if len(order) % k:
                order = np.concatenate([order, rng.choice(members, k - len(order) % k)])
            groups += [(cls, order[i:i + k]) for i in range(0, len(order), k)]
        return [groups[i] for i in rng.permutation(len(groups))]

    def _pack(self, groups, rng) -> list[np.ndarray]:
        """Greedy packing of groups into batches of distinct identities."""
        batches, pending = [], list(groups)
        while len(pending) >= self.ids_per_batch:
            batch, used, rest = [], set(), []
            for cls, idx in pending:
                if len(batch) < self.ids_per_batch and cls not in used:
                    batch.append(idx)
                    used.add(cls)
                else:
                    rest.append((cls, idx))
            if len(batch) < self.ids_per_batch:
                break
            batches.append(np.concatenate(batch))
            pending = rest
        return batches


class ShuffleSampler:
    """Ordinary shuffled batches (classification mode); every sample once per epoch."""

    def __init__(self, num_samples: int, batch_size: int = 64, seed: int = 0):
        if num_samples < 1:
            raise ReidPruneError("cannot sample from an empty training set")
        self.num_samples, self.batch_size, self.seed = num_samples, batch_size, seed
        self.num_batches = -(-num_samples // batch_size)
        if self.num_batches > 1 and num_samples % batch_size == 1:
            self.num_batches -= 1  # a last batch of one joins the one before: BatchNorm cannot train on one

    def __len__(self) -> int:
        return self.num_batches

    def batches(self, epoch: int) -> list[np.ndarray]:
        order = _epoch_rng(self.seed, epoch).permutation(self.num_samples)
        batches = [order[i:i + self.batch_size] for i in range(0, self.num_samples, self.batch_size)]
        if len(batches) > self.num_batches:
            batches[-2:] = [np.concatenate(batches[-2:])]
        return batches
