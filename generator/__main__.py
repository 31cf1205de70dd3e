"""Entry point for ``python -m generator``."""

import os
import sys

from generator.cli import main

status = main()
# Skip the interpreter's teardown: freeing the parsed spec object by object is slow on a big
# spec (docs/generator.md, Speed), and everything the run wrote is closed already.
for stream in (sys.stdout, sys.stderr):
    try:
        stream.flush()
    except OSError:  # e.g. a closed pipe; what the interpreter's own exit would report
        status = status or 120
os._exit(status)
