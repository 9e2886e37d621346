"""The result of selection: what happens to every training sample."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from reidprune.errors import ReidPruneError

KEPT, RELABELLED, PRUNED, OUTLIER = "kept", "relabelled", "pruned", "outlier"
STATUSES = (KEPT, RELABELLED, PRUNED, OUTLIER)


@dataclass(frozen=True)
class Selection:
    """Per-sample decisions, index-aligned with the training split of a :class:`SampleTable`.

    Attributes
    ----------
    status:
        ``"kept"``, ``"relabelled"`` (kept with a corrected label), ``"pruned"`` (easy sample
        removed) or ``"outlier"`` (removed as an outlier).
    labels:
        Training label (0..C-1) to train on: the corrected label for relabelled samples,
        the assigned label otherwise.
    assigned:
        The label each sample had before selection.
    """

    status: np.ndarray
    labels: np.ndarray
    assigned: np.ndarray

    def __post_init__(self):
        if not (len(self.status) == len(self.labels) == len(self.assigned)):
            raise ReidPruneError("status, labels and assigned must have the same length")
        unknown = set(np.unique(self.status)) - set(STATUSES)
        if unknown:
            raise ReidPruneError(f"unknown status value(s) {sorted(unknown)}; use {STATUSES}")

    def __len__(self) -> int:
        return len(self.status)

    @property
    def keep_mask(self) -> np.ndarray:
        return (self.status == KEPT) | (self.status == RELABELLED)

    @property
    def kept_indices(self) -> np.ndarray:
        return np.flatnonzero(self.keep_mask)

    def counts(self) -> dict[str, int]:
        return {s: int((self.status == s).sum()) for s in STATUSES}

    @property
    def fraction_removed(self) -> float:
        return 1.0 - float(self.keep_mask.mean()) if len(self) else 0.0
