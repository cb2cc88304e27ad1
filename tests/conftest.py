"""Root test configuration: kept minimal on purpose (fixtures live next to the tests using them)."""

from __future__ import annotations

import os

# Hermetic by default: only pyflymq's built-in plugins load, whatever else is installed in the
# environment.  Export PYFLYMQ_PLUGINS before running pytest to test with other plugins.
os.environ.setdefault("PYFLYMQ_PLUGINS", "")
