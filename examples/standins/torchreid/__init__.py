"""Stand-in for torchreid (KaiyangZhou/deep-person-reid): only ``torchreid.data``'s dataset API."""
from torchreid import data  # noqa: F401
