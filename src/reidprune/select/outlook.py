"""What to expect from pruning a set, and which strategy to use, from what the benchmarks measured.

The literature (Sorscher et al., NeurIPS 2022; CCS, ICLR 2023) and our own sweeps agree that
the images per identity decide it: with few, every pruned image is a large share of its
identity and keeping only the hard ones loses to random; with many near-duplicates (video
tracks) a score can pick what to drop. Two real sets anchor the advice (their measurements, with commands, are in docs/results):

* CUHK03, ~10 images per identity, 2 cameras (``docs/results/cuhk03_sweeps.md``, 20 retraining epochs,
  3 seeds): random pruning was ahead of our score at every fraction from 10% to 50% and no score
  beat random by more than the seeds' spread; random itself cost nothing at 10% and 1.7-8.9 points
  at 20-50% against the full set;
* towncentre, ~32 images per identity from video tracks (``docs/results/towncentre_strategies.md``,
  8-16 paired seeds): pruning 10-30% cost 0.4-1.4 points against the full set, every interval
  including 0; the paper's rule was ahead of random by 1.0 at 50% pruned (95% interval +0.1 to
  +1.9) and 0.5 at 70% (-0.5 to +1.5), our redundancy strategy 0.2 behind it (8 seeds); pruning 50%
  cost about 3 points against the full set at equal epochs, 70% about 10.

Between them the boundary is an interpolation (stated in the message), not a fitted constant.
"""
from __future__ import annotations

from dataclasses import dataclass

#: the sets the advice rests on: (name, images per identity)
SCARCE = ("CUHK03", 10)
REDUNDANT = ("towncentre", 32)
#: halfway (geometrically) between the two anchors: below it a set is treated like CUHK03
BOUNDARY = (SCARCE[1] * REDUNDANT[1]) ** 0.5
#: the strategy for redundant sets: the best measured on towncentre (the paper's; +1.0 over random at 50%)
REDUNDANT_STRATEGY = "easy"


@dataclass(frozen=True)
class Outlook:
    strategy: str  # the strategy `--strategy auto` takes
    why: str  # one line: which measured set this set resembles and what was measured there
    expect: str  # one line: what pruning ``fraction`` is likely to cost


def outlook(images_per_identity: float, fraction: float, redundant_strategy: str = REDUNDANT_STRATEGY) -> Outlook:
    """The advice for a set with ``images_per_identity`` (mean) pruned by ``fraction``.

    Parameters
    ----------
    images_per_identity: training images / training identities.
    fraction: the share to be removed.
    redundant_strategy: the strategy measured best on the redundant anchor.
    """
    if images_per_identity < BOUNDARY:
        return Outlook(
            "random",
            f"{images_per_identity:.1f} images per identity, closer to {SCARCE[0]} ({SCARCE[1]}/id) than to "
            f"{REDUNDANT[0]} ({REDUNDANT[1]}/id): there random pruning was as good as any score at 10-50%, so the "
            "images to prune are drawn at random (purification still uses the soft labels); --strategy easy is "
            "the paper's rule",
            "little redundancy: on CUHK03 random pruning cost nothing at 10% (+1.1 points, within the seeds' spread) "
            "but 1.7 / 4.2 / 5.1 / 8.9 points at 20 / 30 / 40 / 50% (3 seeds, docs/results/cuhk03_sweeps.md)"
            + (f"; {fraction:.0%} is likely to cost accuracy, --fraction 0.1 is about free" if fraction > 0.1
               else ""))
    return Outlook(
        redundant_strategy,
        f"{images_per_identity:.1f} images per identity, closer to {REDUNDANT[0]} ({REDUNDANT[1]}/id, video tracks) "
        f"than to {SCARCE[0]}: there the score may choose what to drop (--strategy {redundant_strategy}, see "
        "docs/results/towncentre_strategies.md)",
        "redundant: on towncentre 10-30% pruned cost 0.4-1.4 points against the full set (not significant, 8 "
        "seeds); the paper's rule was 1.0 point ahead of random at 50% pruned (16 seeds, 95% interval +0.1 to +1.9) "
        "and 0.5 at 70% (not significant), and at equal epochs 50% pruned cost about 3 points against the full set, "
        "70% about 10 (docs/results/towncentre_strategies.md)" + (f"; expect a cost at {fraction:.0%}"
                                                                   if fraction >= 0.5 else ""))
