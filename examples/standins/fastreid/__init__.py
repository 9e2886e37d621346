"""Stand-in for FastReID (JDAI-CV/fast-reid): only the dataset registry, ImageDataset and CommDataset."""
