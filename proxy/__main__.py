"""Entry point for ``python -m proxy``."""

import sys

from proxy.serve import main

sys.exit(main())
