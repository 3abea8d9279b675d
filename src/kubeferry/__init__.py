"""kubeferry: carry k3s and a fitting kubectl across an air gap.

This module stays tiny on purpose: the kubectl wrapper imports the package on every call.
"""

import sys

__version__ = "0.2.0"

# httpx imports its own command line (click, rich, pygments: ~30-50 ms) whenever they are
# installed; kubeferry never uses it. Marking the module absent makes httpx skip it. It is set
# here, where every kubeferry import passes first, so it runs before any module imports httpx.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]
