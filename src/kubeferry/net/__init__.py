"""Network clients: the OCI distribution client lives here (http, download, hashes follow)."""
