"""``python -m pyflymq ...``: same as the ``pyflymq`` console script."""

from __future__ import annotations

import sys

from pyflymq.cli import main

if __name__ == "__main__":
    sys.exit(main())
