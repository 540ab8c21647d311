"""`python -m goldenlayers.cli ...` (what the tests and benchmarks run)."""

import sys

from goldenlayers.cli.main import main

sys.exit(main())
