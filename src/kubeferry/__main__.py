"""`python -m kubeferry` runs the command line."""

import sys

try:
    from kubeferry.cli import main

    code = main()
except KeyboardInterrupt:  # Ctrl-C while the modules were still loading: no traceback
    sys.stderr.write("kubeferry: interrupted\n")
    code = 130
raise SystemExit(code)
