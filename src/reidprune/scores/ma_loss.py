"""Moving-average loss score (RoCL, Zhou et al., 2020), used as a static pruning metric.

The score is the exponential moving average of each sample's cross-entropy loss over
training, as recorded by :class:`reidprune.dynamics.trackers.LossEMATracker` (decay 0.9, the
first presentation initialises the average; see that class for why). High average loss =
hard = more important = kept.
"""
from __future__ import annotations

import numpy as np

from reidprune.errors import ReidPruneError


def ma_loss_scores(ema: np.ndarray) -> np.ndarray:
    """Importance = the moving-average loss itself (validated copy).

    Parameters
    ----------
    ema:
        float (N,): per-sample EMA of the cross-entropy loss (``LossEMATracker.ema_loss()``).

    Returns
    -------
    np.ndarray
        float64 (N,). Higher = harder = kept.
    """
    ema = np.array(ema, dtype=np.float64)
    if ema.ndim != 1:
        raise ReidPruneError(f"ema must be 1-D (N,), got shape {ema.shape}")
    if not np.isfinite(ema).all():
        raise ReidPruneError("ema contains NaN or infinity; lower the learning rate or disable mixed precision")
    if (ema < 0).any():
        raise ReidPruneError(
            f"ema contains negative values (min {ema.min():.4g}); a cross-entropy loss is never negative")
    return ema
