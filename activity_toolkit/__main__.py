"""``python -m activity_toolkit``: the command line."""

from __future__ import annotations

import sys

from activity_toolkit.cli import main

if __name__ == "__main__":  # not when a spawned worker imports it
    sys.exit(main())
