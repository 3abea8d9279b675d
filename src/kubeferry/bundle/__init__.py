"""The bundle (the \"source disk\"): plan, manifest, create, verify, install."""
