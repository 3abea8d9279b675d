"""`python -m kubeferry` runs the command line."""

from kubeferry.cli import main

raise SystemExit(main())
