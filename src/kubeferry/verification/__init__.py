"""Verification: sums files, the bundle manifest against the files, (later) signatures."""
