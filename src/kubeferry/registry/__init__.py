"""The organisation's registry: a bundle as one OCI artifact, airgap images pushed,
registries.yaml documents."""
