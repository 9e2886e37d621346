"""reidprune: prune, purify and export object re-identification datasets."""

__version__ = "0.1.0"
