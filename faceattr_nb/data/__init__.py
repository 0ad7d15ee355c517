"""Data layer: CelebA reader, generated CelebA, face crops, loaders."""
