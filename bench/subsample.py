"""Scarce variants of the shared real sets for the benchmarks: hard links under bench-work/.

    python bench/subsample.py cuhk03 --per-identity 4       # -> bench-work/cuhk03-4
    python bench/subsample.py cuhk03 --identities 40        # -> bench-work/cuhk03-40ids
"""
from __future__ import annotations

import argparse
from pathlib import Path

from reidprune.data.subsample import subsample

HERE = Path(__file__).resolve().parent


def shared_data(name: str) -> Path:
    """../shared/data/NAME beside the checkout (also from a git worktree elsewhere)."""
    for folder in HERE.parents:
        if (folder / "shared" / "data" / name).is_dir():
            return folder / "shared" / "data" / name
    return HERE.parent.parent / "shared" / "data" / name


def subsample_identities(source: Path, out: Path, per_identity: int | None = None, identities: int | None = None,
                         seed: int = 0) -> Path:
    return subsample(source, out, per_identity=per_identity, identities=identities, seed=seed)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("name", help="a folder of ../shared/data (cuhk03, towncentre)")
    parser.add_argument("--per-identity", type=int)
    parser.add_argument("--identities", type=int)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    suffix = f"{args.per_identity}" if args.per_identity else f"{args.identities}ids"
    out = HERE.parent / "bench-work" / f"{args.name}-{suffix}"
    print(subsample(shared_data(args.name), out, args.per_identity, args.identities, args.seed))


if __name__ == "__main__":
    main()
