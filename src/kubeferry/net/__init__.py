"""The network: the one place that opens sockets (http, the OCI client), downloads, digests."""

import sys

# httpx imports its own command line (click, rich, pygments: ~30-50 ms) whenever they are
# installed; kubeferry never uses it. Marking the module absent makes httpx skip it. It is set
# here, in the package every network module belongs to, so that it runs before any of them
# imports httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
