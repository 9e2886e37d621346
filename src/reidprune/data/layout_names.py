"""The names of the dataset layouts and their aliases, for :mod:`reidprune.data.layouts`.

Apart from the layouts package (which imports numpy) so that the command line's ``--help``
lists them without loading anything.
"""

# Canonical name -> the other names it answers to (case-insensitive).
ALIASES = {
    "market1501": ("market", "market-1501", "duke", "dukemtmc", "dukemtmc-reid", "cuhk03",
                   "cuhk03-np"),
    "msmt17": ("msmt",),
    "veri776": ("veri", "veri-776"),
    "cifar100": ("cifar", "cifar-100"),
    "cub200": ("cub", "cub-200-2011"),
    "folders": ("imagefolder",),
}

# Layouts of classification sets (one label per image, a test split, no cameras): trained with
# CE only unless the mode is given.
CLASSIFICATION_LAYOUTS = ("cifar100", "cub200")


def layout_names() -> str:
    """Every name ``layout=`` accepts, canonical ones first with their aliases in brackets."""
    return ", ".join(f"{name} ({', '.join(aliases)})" if aliases else name for name, aliases in ALIASES.items())
