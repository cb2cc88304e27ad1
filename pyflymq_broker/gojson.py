"""Go ``encoding/json`` behaviour where it leaks onto the wire.

The server echoes Go's JSON error texts in schema errors (``invalid character 'o' in literal null
(expecting 'u')``, ``json: cannot unmarshal array into Go value of type map[string]interface {}``)
and exports audit events with ``json.MarshalIndent``. This module reproduces the syntax checker
(same states, same messages), the decode rules that matter (numbers are float64, invalid UTF-8
becomes U+FFFD, ``null`` into a map is a nil map) and the encoder's escaping.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

__all__ = [
    "GoJSONError",
    "GoNumber",
    "go_type_name",
    "marshal",
    "quote_char",
    "syntax_error",
    "unmarshal",
    "unmarshal_object",
]

MAP_TYPE = "map[string]interface {}"


class GoJSONError(ValueError):
    """A decode failure carrying Go's error text (``str(err)`` is that text)."""


class GoNumber(str):
    """A JSON number kept as its literal text (for struct fields typed int/uint in Go)."""

    __slots__ = ()


def quote_char(c: int) -> str:
    """Go's ``quoteChar``: how the scanner shows an offending byte."""
    if c == 0x27:
        return "'\\''"
    if c == 0x22:
        return "'\"'"
    return "'" + _go_quote_rune(c) + "'"


def _go_quote_rune(r: int) -> str:
    """``strconv.Quote(string(rune(r)))`` without the surrounding double quotes."""
    special = {0x07: "\\a", 0x08: "\\b", 0x0C: "\\f", 0x0A: "\\n", 0x0D: "\\r", 0x09: "\\t", 0x0B: "\\v"}
    if r in special:
        return special[r]
    if r == 0x5C:
        return "\\\\"
    ch = chr(r)
    if r == 0x20 or (r != 0x7F and r >= 0x20 and ch.isprintable()):
        return ch
    if r < 0x20 or r == 0x7F:
        return f"\\x{r:02x}"
    return f"\\u{r:04x}"


# --- the scanner --------------------------------------------------------------------------------

_SPACE = b" \t\r\n"
_OBJ_KEY, _OBJ_VALUE, _ARR_VALUE = 0, 1, 2
_MAX_DEPTH = 10000


class _Scan:
    """Go's scanner state machine (encoding/json/scanner.go), byte by byte."""

    def __init__(self) -> None:
        self.stack: list[int] = []
        self.step: Callable[[int], None] = self.begin_value
        self.end_top = False
        self.err: str | None = None

    def fail(self, c: int, context: str) -> None:
        self.err = "invalid character " + quote_char(c) + " " + context
        self.step = self.error_state

    def error_state(self, c: int) -> None:
        return

    def push(self, kind: int) -> None:
        self.stack.append(kind)
        if len(self.stack) > _MAX_DEPTH:
            self.err = "exceeded max depth"
            self.step = self.error_state

    def begin_value_or_empty(self, c: int) -> None:
        if c in _SPACE:
            return
        if c == 0x5D:  # ]
            self.end_value(c)
            return
        self.begin_value(c)

    def begin_value(self, c: int) -> None:
        if c in _SPACE:
            return
        if c == 0x7B:  # {
            self.step = self.begin_string_or_empty
            self.push(_OBJ_KEY)
        elif c == 0x5B:  # [
            self.step = self.begin_value_or_empty
            self.push(_ARR_VALUE)
        elif c == 0x22:
            self.step = self.in_string
        elif c == 0x2D:  # -
            self.step = self.neg
        elif c == 0x30:
            self.step = self.zero
        elif 0x31 <= c <= 0x39:
            self.step = self.one
        elif c == 0x74:
            self.step = self._literal("true", 1)
        elif c == 0x66:
            self.step = self._literal("false", 1)
        elif c == 0x6E:
            self.step = self._literal("null", 1)
        else:
            self.fail(c, "looking for beginning of value")

    def begin_string_or_empty(self, c: int) -> None:
        if c in _SPACE:
            return
        if c == 0x7D:  # }
            self.stack[-1] = _OBJ_VALUE
            self.end_value(c)
            return
        self.begin_string(c)

    def begin_string(self, c: int) -> None:
        if c in _SPACE:
            return
        if c == 0x22:
            self.step = self.in_string
            return
        self.fail(c, "looking for beginning of object key string")

    def end_value(self, c: int) -> None:
        if not self.stack:
            self.step = self.end_top_state
            self.end_top = True
            self.end_top_state(c)
            return
        if c in _SPACE:
            self.step = self.end_value
            return
        top = self.stack[-1]
        if top == _OBJ_KEY:
            if c == 0x3A:  # :
                self.stack[-1] = _OBJ_VALUE
                self.step = self.begin_value
                return
            self.fail(c, "after object key")
        elif top == _OBJ_VALUE:
            if c == 0x2C:
                self.stack[-1] = _OBJ_KEY
                self.step = self.begin_string
                return
            if c == 0x7D:
                self.stack.pop()
                self.end_value_after_pop()
                return
            self.fail(c, "after object key:value pair")
        else:
            if c == 0x2C:
                self.step = self.begin_value
                return
            if c == 0x5D:
                self.stack.pop()
                self.end_value_after_pop()
                return
            self.fail(c, "after array element")

    def end_value_after_pop(self) -> None:
        if not self.stack:
            self.step = self.end_top_state
            self.end_top = True
        else:
            self.step = self.end_value

    def end_top_state(self, c: int) -> None:
        if c not in _SPACE:
            self.fail(c, "after top-level value")

    def in_string(self, c: int) -> None:
        if c == 0x22:
            self.step = self.end_value
        elif c == 0x5C:
            self.step = self.in_string_esc
        elif c < 0x20:
            self.fail(c, "in string literal")

    def in_string_esc(self, c: int) -> None:
        if c in b'bfnrt\\/"':
            self.step = self.in_string
        elif c == 0x75:
            self.step = self._hex(4)
        else:
            self.fail(c, "in string escape code")

    def _hex(self, remaining: int) -> Callable[[int], None]:
        def state(c: int) -> None:
            if c in b"0123456789abcdefABCDEF":
                self.step = self.in_string if remaining == 1 else self._hex(remaining - 1)
            else:
                self.fail(c, "in \\u hexadecimal character escape")

        return state

    def neg(self, c: int) -> None:
        if c == 0x30:
            self.step = self.zero
        elif 0x31 <= c <= 0x39:
            self.step = self.one
        else:
            self.fail(c, "in numeric literal")

    def one(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        self.zero(c)

    def zero(self, c: int) -> None:
        if c == 0x2E:
            self.step = self.dot
        elif c in b"eE":
            self.step = self.exp
        else:
            self.end_value(c)

    def dot(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            self.step = self.dot0
        else:
            self.fail(c, "after decimal point in numeric literal")

    def dot0(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        if c in b"eE":
            self.step = self.exp
            return
        self.end_value(c)

    def exp(self, c: int) -> None:
        if c in b"+-":
            self.step = self.exp_sign
            return
        self.exp_sign(c)

    def exp_sign(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            self.step = self.exp0
        else:
            self.fail(c, "in exponent of numeric literal")

    def exp0(self, c: int) -> None:
        if 0x30 <= c <= 0x39:
            return
        self.end_value(c)

    def _literal(self, word: str, index: int) -> Callable[[int], None]:
        expected = ord(word[index])

        def state(c: int) -> None:
            if c == expected:
                self.step = self.end_value if index + 1 == len(word) else self._literal(word, index + 1)
            else:
                self.fail(c, f"in literal {word} (expecting {quote_char(expected)})")

        return state


def syntax_error(data: bytes) -> str | None:
    """Go's ``checkValid``: the syntax error text for ``data``, or ``None`` when it is valid JSON."""
    scan = _Scan()
    for c in data:
        scan.step(c)
        if scan.err is not None:
            return scan.err
    if scan.end_top:
        return None
    scan.step(0x20)
    if scan.err is not None or not scan.end_top:
        return "unexpected end of JSON input"
    return None


# --- decoding -----------------------------------------------------------------------------------

_SURROGATE = re.compile("[\ud800-\udfff]")


def _clean(value: Any) -> Any:
    """Lone surrogates (from ``\\ud800`` escapes) become U+FFFD, as Go decodes them."""
    if isinstance(value, str) and not isinstance(value, GoNumber):
        return _SURROGATE.sub("\ufffd", value)
    if isinstance(value, dict):
        return {_clean(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean(v) for v in value]
    return value


def _float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise GoJSONError(f"json: cannot unmarshal number {text} into Go value of type float64")
    return value


def unmarshal(data: bytes, *, raw_numbers: bool = False) -> Any:
    """Decode like ``json.Unmarshal(data, &v)`` with ``v interface{}``.

    Numbers become ``float`` (Go's float64), or :class:`GoNumber` literals with ``raw_numbers``.
    """
    err = syntax_error(data)
    if err is not None:
        raise GoJSONError(err)
    text = data.decode("utf-8", "replace")
    number: Callable[[str], Any] = GoNumber if raw_numbers else _float
    try:
        value = json.loads(text, parse_int=number, parse_float=number)
    except RecursionError:
        raise GoJSONError("exceeded max depth") from None
    except ValueError as exc:
        if isinstance(exc, GoJSONError):
            raise
        raise GoJSONError(f"invalid JSON: {exc}") from exc
    return _clean(value)


def go_type_name(value: Any) -> str:
    """The JSON kind Go names in an UnmarshalTypeError."""
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float, GoNumber)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "null"


def unmarshal_object(data: bytes) -> dict[str, Any] | None:
    """Decode into ``map[string]interface{}``: ``None`` for ``null``, an error for non-objects."""
    value = unmarshal(data)
    if value is None:
        return None
    if not isinstance(value, dict):
        raise GoJSONError(f"json: cannot unmarshal {go_type_name(value)} into Go value of type {MAP_TYPE}")
    return value


# --- encoding -----------------------------------------------------------------------------------

_SHORT = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f"}
_HTML = {"<": "\\u003c", ">": "\\u003e", "&": "\\u0026", "\u2028": "\\u2028", "\u2029": "\\u2029"}


def _encode_string(s: str) -> str:
    out = ['"']
    for ch in s:
        code = ord(ch)
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif ch in _HTML:
            out.append(_HTML[ch])
        elif code < 0x20:
            out.append(f"\\u{code:04x}")
        elif 0xD800 <= code <= 0xDFFF:  # surrogate-escaped invalid byte or lone surrogate
            out.append("\ufffd")
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def marshal(value: Any, indent: str | None = None, _level: int = 0) -> str:
    """``json.Marshal`` (``indent=None``) or ``json.MarshalIndent(v, "", indent)``.

    Mappings keep their iteration order: callers sort keys where Go would (maps) and keep field
    order where Go would (structs). ``None`` is ``null``.
    """
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if not value.is_integer() else str(int(value))
    if isinstance(value, str):
        return _encode_string(value)
    if isinstance(value, Mapping):
        items = list(value.items())
        if not items:
            return "{}"
        if indent is None:
            return "{" + ",".join(_encode_string(str(k)) + ":" + marshal(v) for k, v in items) + "}"
        inner = "\n" + indent * (_level + 1)
        parts = [inner + _encode_string(str(k)) + ": " + marshal(v, indent, _level + 1) for k, v in items]
        return "{" + ",".join(parts) + "\n" + indent * _level + "}"
    if isinstance(value, Sequence):
        if not value:
            return "[]"
        if indent is None:
            return "[" + ",".join(marshal(v) for v in value) + "]"
        inner = "\n" + indent * (_level + 1)
        parts = [inner + marshal(v, indent, _level + 1) for v in value]
        return "[" + ",".join(parts) + "\n" + indent * _level + "]"
    raise TypeError(f"cannot marshal {type(value).__name__} as JSON")
