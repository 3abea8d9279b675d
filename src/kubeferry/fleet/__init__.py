"""The fleet: a mirror inside the air gap, and the organisation's registry (bundles, images,
registries.yaml)."""
