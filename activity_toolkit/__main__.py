"""``python -m activity_toolkit``: the command line."""

from __future__ import annotations

import sys

from activity_toolkit.cli import main

sys.exit(main())
