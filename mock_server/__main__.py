"""Entry point for ``python -m mock_server``."""

import sys

from mock_server.serve import main

sys.exit(main())
