"""kubeferry: carry k3s and a fitting kubectl across an air gap.

This module stays tiny on purpose: the kubectl wrapper imports the package on every call.
"""

__version__ = "0.2.0"
