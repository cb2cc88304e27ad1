"""Public exception types of pyflymq (re-exported from :mod:`pyflymq_core.errors`).

Usage, as in the README::

    from pyflymq.exceptions import FlyMQError, TopicNotFoundError

Every exception carries ``e.hint`` with advice. ``ConnectionError`` and ``TimeoutError`` shadow the
builtins inside this module on purpose; they also subclass the builtin types, so ``except OSError``
and ``except builtins.TimeoutError`` still catch them.
"""

from pyflymq_core.errors import *  # noqa: F403 - this module is the public face of that one
from pyflymq_core.errors import __all__ as __all__
