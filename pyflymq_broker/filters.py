"""The server-side FETCH filter (spec §8.6), applied to each scanned record.

1. ``$.a.b`` and the value starts with ``{``: the record matches when the value decodes as a JSON
   object in which the dotted path of object keys exists;
2. otherwise (or when the path is absent) a case-insensitive substring of the value or the key;
3. for filters not starting with ``$.``, a regular expression searched in the value or the key;
   an invalid expression never matches (the server skips it silently).

The server uses Go's RE2. Python's ``re`` agrees on the common syntax; constructs RE2 rejects
(look-around, back-references) are treated as invalid here too, while RE2-only syntax such as
``\\pL`` does not compile in Python and therefore never matches (a documented deviation).
"""

from __future__ import annotations

import functools
import re

from pyflymq_broker import gojson

__all__ = ["RecordFilter"]

_NOT_RE2 = re.compile(r"\(\?<?[=!]|\\[1-9]|\(\?P=")


@functools.lru_cache(maxsize=256)
def _compile(pattern: str) -> re.Pattern[str] | None:
    if _NOT_RE2.search(pattern):
        return None
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError):
        return None


class RecordFilter:
    """A compiled FETCH filter; ``RecordFilter("")`` matches everything."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower = text.lower()
        self._path: list[str] | None = text[2:].split(".") if text.startswith("$.") else None
        self._regex = None if self._path is not None or not text else _compile(text)

    def matches(self, key: bytes, value: bytes) -> bool:
        """Whether a record passes the filter, tried as the server does.

        A ``$.path`` is looked up in a JSON object value first; otherwise (or when it is missing)
        the text matches key or value as a case-insensitive substring, then as a regular expression.
        """
        if not self.text:
            return True
        if self._path is not None and value[:1] == b"{" and self._json_path_exists(value):
            return True
        value_text = value.decode("utf-8", "surrogateescape")
        key_text = key.decode("utf-8", "surrogateescape")
        if self._lower in value_text.lower() or self._lower in key_text.lower():
            return True
        if self._regex is not None:
            return bool(self._regex.search(value_text) or self._regex.search(key_text))
        return False

    def _json_path_exists(self, value: bytes) -> bool:
        assert self._path is not None
        try:
            node = gojson.unmarshal_object(value)
        except gojson.GoJSONError:
            return False
        current: object = node
        for part in self._path:
            if not isinstance(current, dict) or part not in current:
                return False
            current = current[part]
        return True
