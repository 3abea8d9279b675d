"""The fleet: content carried through the organisation's registry, and registry configuration."""
