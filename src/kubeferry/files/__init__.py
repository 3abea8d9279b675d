"""Files inside a target: opened without following links, regular only, written atomically,
copied while hashed."""
