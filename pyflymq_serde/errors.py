"""The error type the codecs raise, defined in :mod:`pyflymq_core.errors` and re-exported here.

A codec that cannot turn a value into bytes (or bytes back into a value) raises
:class:`SerializationError`; a value that is well-formed but violates a schema raises
``pyflymq_core.errors.SchemaValidationError`` instead.  The class lives in the core so that
``pyflymq.exceptions`` can export it without importing any codec.
"""

from __future__ import annotations

from pyflymq_core.errors import SerializationError

__all__ = ["SerializationError"]
