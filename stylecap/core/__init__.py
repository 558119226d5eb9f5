"""The small core every plugin builds on: hooks, registries, pipeline, checkpoints, image I/O."""
