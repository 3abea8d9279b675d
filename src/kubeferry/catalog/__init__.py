"""The k3s catalog (`k3s-versions.json`): rules, the file, the upstream lists."""
