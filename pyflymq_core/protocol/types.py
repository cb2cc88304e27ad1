"""Declarative wire types, and the compiler that turns a layout into fast encode/decode functions.

A layout is written once (see ``layouts.py``) as a tuple of :class:`Field`. From it this module
generates Python source for an encoder and a decoder — consecutive fixed-size integers are packed
with one precompiled ``struct.Struct`` — so the declarative form costs about what a hand-written
``struct`` codec costs, and encoding and decoding cannot drift apart.

Decoding is strict about what it needs and lenient about what follows: a length that runs past the
end raises :class:`ProtocolError` (server text ``invalid binary format``), a payload shorter than the
layout's minimum raises ``buffer too small``, trailing bytes are ignored (as the server does).
Strings decode as UTF-8 with ``surrogateescape`` so any byte string round-trips exactly.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from pyflymq_core.errors import ProtocolError

BUFFER_TOO_SMALL = "buffer too small"
INVALID_BINARY_FORMAT = "invalid binary format"


class _Overrun(Exception):
    """Internal: a length or count points past the end of the buffer."""


class _TooSmall(Exception):
    """Internal: an optional trailing field is present but shorter than its smallest encoding."""


@dataclass(frozen=True)
class Int:
    """A fixed-size big-endian integer; ``code`` is its ``struct`` letter."""

    code: str
    is_bool: bool = False

    @property
    def size(self) -> int:
        """Encoded size in bytes (fixed for an integer)."""
        return struct.calcsize(">" + self.code)

    @property
    def min_size(self) -> int:
        """Smallest encoding in bytes: a shorter payload is ``buffer too small``, as on the server."""
        return self.size


@dataclass(frozen=True)
class Str:
    """Length-prefixed UTF-8 text; ``len_code`` is the prefix's ``struct`` letter (H, B or I)."""

    len_code: str

    @property
    def min_size(self) -> int:
        """Smallest encoding in bytes: a shorter payload is ``buffer too small``, as on the server."""
        return struct.calcsize(">" + self.len_code)

    @property
    def max_len(self) -> int:
        """Longest encodable text in bytes (the length prefix's limit); longer is refused before sending."""
        return int(2 ** (8 * self.min_size) - 1)


@dataclass(frozen=True)
class Bytes:
    """``u32`` length-prefixed raw bytes."""

    @property
    def min_size(self) -> int:
        """Smallest encoding in bytes: a shorter payload is ``buffer too small``, as on the server."""
        return 4


@dataclass(frozen=True)
class ListOf:
    """``u32`` count followed by that many items."""

    item: WireType

    @property
    def min_size(self) -> int:
        """Smallest encoding in bytes: a shorter payload is ``buffer too small``, as on the server."""
        return 4


@dataclass(frozen=True)
class Pairs:
    """A ``map<str,str>`` kept as ``[[key, value], ...]`` in wire order (audit event details)."""

    @property
    def min_size(self) -> int:
        """Smallest encoding in bytes: a shorter payload is ``buffer too small``, as on the server."""
        return 4


@dataclass(frozen=True)
class Struct:
    """A sequence of fields, decoded to a dict."""

    fields: tuple[Field, ...]

    @property
    def min_size(self) -> int:
        """Smallest encoding in bytes: a shorter payload is ``buffer too small``, as on the server."""
        return sum(
            f.type.min_size
            for f in self.fields
            if f.presence == "required" and f.when is None and f.counted_by is None
        )


@dataclass(frozen=True)
class Sized:
    """A struct preceded by its ``u32`` encoded length (audit events, the export's embedded query)."""

    inner: Struct

    @property
    def min_size(self) -> int:
        """Smallest encoding in bytes: a shorter payload is ``buffer too small``, as on the server."""
        return 4


WireType = Int | Str | Bytes | ListOf | Pairs | Struct | Sized

U8 = Int("B")
BOOL = Int("B", is_bool=True)
U16 = Int("H")
U32 = Int("I")
U64 = Int("Q")
I32 = Int("i")
I64 = Int("q")
STR = Str("H")
STR8 = Str("B")
TEXT32 = Str("I")
BYTES = Bytes()
PAIRS = Pairs()

Presence = Literal["required", "optional", "lenient"]


@dataclass(frozen=True)
class Field:
    """One named field.

    ``presence``: ``optional`` trailing fields are encoded only when given and decoded only when bytes
    remain; ``lenient`` ones are also dropped (as the server does) when they do not fit. ``when``
    makes a field conditional on an earlier field's value (RESET_OFFSET's offset). ``count_of`` marks
    a count that belongs to a later list (FETCH's ``message_count``); ``counted_by`` is that list.
    """

    name: str
    type: WireType
    presence: Presence = "required"
    when: tuple[str, Any] | None = None
    count_of: str | None = None
    counted_by: str | None = None


def F(name: str, type_: WireType, **kw: Any) -> Field:
    """Shorthand used by the layout table."""
    return Field(name, type_, **kw)


def S(*fields: Field) -> Struct:
    """Shorthand for a nested struct."""
    return Struct(tuple(fields))


Encoder = Callable[[Mapping[str, Any]], bytes]
Decoder = Callable[[bytes], dict[str, Any]]


@dataclass
class CompiledLayout:
    """The generated functions for one layout, plus its name for error messages."""

    name: str
    struct: Struct
    encode: Encoder
    decode: Decoder
    min_size: int
    source: str = field(repr=False, default="")


class _Gen:
    """Emits Python source lines; keeps the precompiled helpers the source refers to."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.namespace: dict[str, Any] = {"_Overrun": _Overrun, "_TooSmall": _TooSmall}
        self._counter = 0
        self._structs: dict[str, str] = {}
        self.pending: dict[str, list[str]] = {}
        self.flushed: set[str] = set()

    def part(self, parts: str, expr: str) -> None:
        """Queue an expression for ``parts``; queued parts are written in one ``extend``."""
        self.pending.setdefault(parts, []).append(expr)

    def flush(self, indent: int, parts: str) -> None:
        queued = self.pending.pop(parts, [])
        if len(queued) == 1:
            self.emit(indent, f"{parts}_append({queued[0]})")
        elif queued:
            self.emit(indent, f"{parts}_extend(({', '.join(queued)}))")
            self.flushed.add(parts)
        if queued:
            self.flushed.add(parts)

    def var(self, prefix: str) -> str:
        self._counter += 1
        return f"{prefix}{self._counter}"

    def emit(self, indent: int, line: str) -> None:
        self.lines.append("    " * indent + line)

    def struct_fn(self, fmt: str, kind: str) -> str:
        key = f"{kind}:{fmt}"
        name = self._structs.get(key)
        if name is None:
            name = f"_{kind}{len(self._structs)}"
            compiled = struct.Struct(">" + fmt)
            self.namespace[name] = compiled.pack if kind == "pack" else compiled.unpack_from
            self._structs[key] = name
        return name


# --- decoding -------------------------------------------------------------------------------------


def _fixed_runs(fields: tuple[Field, ...]) -> list[list[Field]]:
    """Group consecutive plain integer fields so each group is one ``unpack_from`` call."""
    runs: list[list[Field]] = []
    current: list[Field] = []
    for f in fields:
        plain = isinstance(f.type, Int) and f.presence == "required" and f.when is None
        if plain:
            current.append(f)
            continue
        if current:
            runs.append(current)
            current = []
        runs.append([f])
    if current:
        runs.append(current)
    return runs


def _gen_decode_struct(g: _Gen, st: Struct, indent: int, end: str) -> str:
    """Emit code that decodes ``st`` at ``pos`` and return the name of the resulting dict."""
    values: dict[str, str] = {}
    late: list[tuple[Field, str]] = []
    out = g.var("d")
    counts: dict[str, str] = {}
    runs = _fixed_runs(st.fields)
    prefetched: dict[str, str] = {}
    for index, run in enumerate(runs):
        first = run[0]
        if isinstance(first.type, Int) and first.presence == "required" and first.when is None:
            fmt = "".join(f.type.code for f in run if isinstance(f.type, Int))
            names = [g.var("v") for _ in run]
            # Read the next string/bytes field's length prefix in the same unpack.
            following = runs[index + 1][0] if index + 1 < len(runs) else None
            if (
                following is not None
                and isinstance(following.type, (Str, Bytes))
                and following.presence == "required"
                and following.when is None
            ):
                length_var = g.var("n")
                fmt += following.type.len_code if isinstance(following.type, Str) else "I"
                prefetched[following.name] = length_var
                names_and_len = [*names, length_var]
            else:
                names_and_len = names
            size = struct.calcsize(">" + fmt)
            fn = g.struct_fn(fmt, "unpack")
            target = ", ".join(names_and_len) + ("," if len(names_and_len) == 1 else "")
            g.emit(indent, f"{target} = {fn}(buf, pos)")
            g.emit(indent, f"pos += {size}")
            for f, n in zip(run, names, strict=False):
                if isinstance(f.type, Int) and f.type.is_bool:
                    g.emit(indent, f"{n} = {n} == 1")
                values[f.name] = n
                if f.count_of:
                    counts[f.count_of] = n
            continue
        f = first
        if f.name in prefetched and isinstance(f.type, (Str, Bytes)):
            values[f.name] = _gen_decode_sized_body(g, f.type, indent, end, prefetched[f.name])
            continue
        if f.presence == "required" and f.when is None:
            values[f.name] = _gen_decode_value(g, f.type, indent, end, counts.get(f.name))
            continue
        # optional / conditional fields go into the dict after it is built
        n = g.var("o")
        late.append((f, n))
        if f.when is not None:
            ref = values[f.when[0]]
            g.emit(indent, f"{n}_present = {ref} == {f.when[1]!r}")
            g.emit(indent, f"if {n}_present:")
            v = _gen_decode_value(g, f.type, indent + 1, end, None)
            g.emit(indent + 1, f"{n} = {v}")
        elif f.presence == "optional":
            g.emit(indent, f"{n}_present = pos < {end}")
            g.emit(indent, f"if {n}_present:")
            g.emit(indent + 1, f"if {end} - pos < {f.type.min_size}:")
            g.emit(indent + 2, "raise _TooSmall")
            v = _gen_decode_value(g, f.type, indent + 1, end, None)
            g.emit(indent + 1, f"{n} = {v}")
        else:  # lenient: only a string is ever lenient (FETCH's filter)
            if not isinstance(f.type, Str):
                raise TypeError("only strings can be lenient")
            lfn = g.struct_fn(f.type.len_code, "unpack")
            size = f.type.min_size
            g.emit(indent, f"{n}_present = False")
            g.emit(indent, f"if pos + {size} <= {end}:")
            g.emit(indent + 1, f"{n}_len, = {lfn}(buf, pos)")
            g.emit(indent + 1, f"if pos + {size} + {n}_len <= {end}:")
            g.emit(indent + 2, f"pos += {size}")
            g.emit(indent + 2, f"{n} = str(buf[pos:pos + {n}_len], 'utf-8', 'surrogateescape')")
            g.emit(indent + 2, f"pos += {n}_len")
            g.emit(indent + 2, f"{n}_present = True")
    items = ", ".join(f"{name!r}: {var}" for name, var in values.items())
    g.emit(indent, f"{out} = {{{items}}}")
    for f, n in late:
        g.emit(indent, f"if {n}_present:")
        g.emit(indent + 1, f"{out}[{f.name!r}] = {n}")
    return out


def _gen_decode_sized_body(g: _Gen, t: Str | Bytes, indent: int, end: str, length: str) -> str:
    """Emit the body of a string/bytes field whose length is already in variable ``length``."""
    n = g.var("v")
    g.emit(indent, f"{n}_end = pos + {length}")
    g.emit(indent, f"if {n}_end > {end}:")
    g.emit(indent + 1, "raise _Overrun")
    if isinstance(t, Str):
        g.emit(indent, f"{n} = str(buf[pos:{n}_end], 'utf-8', 'surrogateescape')")
    else:
        g.emit(indent, f"{n} = buf[pos:{n}_end]")
    g.emit(indent, f"pos = {n}_end")
    return n


def _gen_decode_value(g: _Gen, t: WireType, indent: int, end: str, count_var: str | None) -> str:
    if isinstance(t, Int):
        n = g.var("v")
        fn = g.struct_fn(t.code, "unpack")
        g.emit(indent, f"{n}, = {fn}(buf, pos)")
        g.emit(indent, f"pos += {t.size}")
        if t.is_bool:
            g.emit(indent, f"{n} = {n} == 1")
        return n
    if isinstance(t, (Str, Bytes)):
        code = t.len_code if isinstance(t, Str) else "I"
        size = struct.calcsize(">" + code)
        fn = g.struct_fn(code, "unpack")
        length = g.var("n")
        g.emit(indent, f"{length}, = {fn}(buf, pos)")
        g.emit(indent, f"pos += {size}")
        return _gen_decode_sized_body(g, t, indent, end, length)
    if isinstance(t, (ListOf, Pairs)):
        n = g.var("lst")
        cnt = count_var
        if cnt is None:
            cnt = g.var("cnt")
            fn = g.struct_fn("I", "unpack")
            g.emit(indent, f"{cnt}, = {fn}(buf, pos)")
            g.emit(indent, "pos += 4")
        item_min = 4 if isinstance(t, Pairs) else max(1, t.item.min_size)
        g.emit(indent, f"if {cnt} * {item_min} > {end} - pos:")
        g.emit(indent + 1, "raise _Overrun")
        g.emit(indent, f"{n} = []")
        g.emit(indent, f"{n}_append = {n}.append")
        g.emit(indent, f"for _ in range({cnt}):")
        if isinstance(t, Pairs):
            k = _gen_decode_value(g, STR, indent + 1, end, None)
            v = _gen_decode_value(g, STR, indent + 1, end, None)
            g.emit(indent + 1, f"{n}_append([{k}, {v}])")
        else:
            item = _gen_decode_value(g, t.item, indent + 1, end, None)
            g.emit(indent + 1, f"{n}_append({item})")
        return n
    if isinstance(t, Struct):
        return _gen_decode_struct(g, t, indent, end)
    # Sized: decode the inner struct inside its own bound
    n = g.var("sz")
    fn = g.struct_fn("I", "unpack")
    g.emit(indent, f"{n}_len, = {fn}(buf, pos)")
    g.emit(indent, "pos += 4")
    g.emit(indent, f"{n}_end = pos + {n}_len")
    g.emit(indent, f"if {n}_end > {end}:")
    g.emit(indent + 1, "raise _Overrun")
    inner = _gen_decode_struct(g, t.inner, indent, f"{n}_end")
    g.emit(indent, f"if pos > {n}_end:")
    g.emit(indent + 1, "raise _Overrun")
    g.emit(indent, f"pos = {n}_end")
    return inner


# --- encoding -------------------------------------------------------------------------------------


def _gen_encode_struct(g: _Gen, st: Struct, src: str, indent: int, parts: str) -> None:
    """Emit code appending the encoding of dict ``src`` to list ``parts``."""
    counted: dict[str, str] = {f.count_of: f.name for f in st.fields if f.count_of}
    for run in _fixed_runs(st.fields):
        first = run[0]
        if isinstance(first.type, Int) and first.presence == "required" and first.when is None:
            fmt = "".join(f.type.code for f in run if isinstance(f.type, Int))
            fn = g.struct_fn(fmt, "pack")
            args = []
            for f in run:
                if f.count_of:
                    args.append(f"len({src}[{f.count_of!r}])")
                elif isinstance(f.type, Int) and f.type.is_bool:
                    args.append(f"1 if {src}[{f.name!r}] else 0")
                else:
                    args.append(f"{src}[{f.name!r}]")
            g.part(parts, f"{fn}({', '.join(args)})")
            continue
        f = first
        inner_indent = indent
        if f.when is not None or f.presence != "required":
            g.flush(indent, parts)
            if f.when is not None:
                g.emit(indent, f"if {src}[{f.when[0]!r}] == {f.when[1]!r}:")
            else:
                g.emit(indent, f"if {src}.get({f.name!r}) is not None:")
            inner_indent += 1
        _gen_encode_value(g, f.type, f"{src}[{f.name!r}]", inner_indent, parts, f.name in counted)
        if inner_indent != indent:
            g.flush(inner_indent, parts)


def _gen_encode_value(g: _Gen, t: WireType, expr: str, indent: int, parts: str, counted: bool) -> None:
    if isinstance(t, Int):
        fn = g.struct_fn(t.code, "pack")
        val = f"1 if {expr} else 0" if t.is_bool else expr
        g.part(parts, f"{fn}({val})")
        return
    if isinstance(t, Str):
        n = g.var("s")
        fn = g.struct_fn(t.len_code, "pack")
        g.emit(indent, f"{n} = {expr}.encode('utf-8', 'surrogateescape')")
        g.emit(indent, f"if len({n}) > {t.max_len}:")
        g.emit(indent + 1, f"raise _TooLong(len({n}), {t.max_len})")
        g.part(parts, f"{fn}(len({n}))")
        g.part(parts, n)
        return
    if isinstance(t, Bytes):
        n = g.var("b")
        fn = g.struct_fn("I", "pack")
        g.emit(indent, f"{n} = {expr}")
        g.part(parts, f"{fn}(len({n}))")
        g.part(parts, n)
        return
    if isinstance(t, (ListOf, Pairs)):
        n = g.var("it")
        seq = g.var("seq")
        g.emit(indent, f"{seq} = {expr}")
        if not counted:
            fn = g.struct_fn("I", "pack")
            g.part(parts, f"{fn}(len({seq}))")
        g.flush(indent, parts)
        g.emit(indent, f"for {n} in {seq}:")
        if isinstance(t, Pairs):
            g.emit(indent + 1, f"{n}_k, {n}_v = {n}")
            _gen_encode_value(g, STR, f"{n}_k", indent + 1, parts, False)
            _gen_encode_value(g, STR, f"{n}_v", indent + 1, parts, False)
        else:
            _gen_encode_value(g, t.item, n, indent + 1, parts, False)
        g.flush(indent + 1, parts)
        return
    if isinstance(t, Struct):
        n = g.var("st")
        g.emit(indent, f"{n} = {expr}")
        _gen_encode_struct(g, t, n, indent, parts)
        return
    # Sized: encode the inner struct separately to learn its length
    n = g.var("sized")
    src = g.var("src")
    g.emit(indent, f"{src} = {expr}")
    g.flush(indent, parts)
    g.emit(indent, f"{n} = []")
    g.emit(indent, f"{n}_append = {n}.append")
    g.emit(indent, f"{n}_extend = {n}.extend")
    _gen_encode_struct(g, t.inner, src, indent, n)
    g.flush(indent, n)
    g.emit(indent, f"{n}_bytes = b''.join({n})")
    fn = g.struct_fn("I", "pack")
    g.part(parts, f"{fn}(len({n}_bytes))")
    g.part(parts, f"{n}_bytes")


class _TooLong(Exception):
    def __init__(self, got: int, limit: int) -> None:
        super().__init__(f"string of {got} bytes exceeds the field's limit of {limit}")


def compile_layout(name: str, st: Struct) -> CompiledLayout:
    """Generate, compile and wrap the encoder and decoder of one layout.

    Error translation lives inside the generated functions (no extra wrapper call on the hot path).
    """
    g = _Gen()
    g.namespace.update(
        _TooLong=_TooLong,
        _TooSmall=_TooSmall,
        _struct_error=struct.error,
        _missing=lambda exc: ProtocolError(f"{name}: missing field {exc.args[0]!r}"),
        _unencodable=lambda exc: ProtocolError(f"{name}: cannot encode fields: {exc}"),
        _decode_error=lambda text: _decode_error(name, text),
        BUFFER_TOO_SMALL=BUFFER_TOO_SMALL,
        INVALID_BINARY_FORMAT=INVALID_BINARY_FORMAT,
    )
    body: list[str] = []
    g.lines = body
    _gen_encode_struct(g, st, "f", 2, "parts")
    if "parts" in g.flushed:
        g.flush(2, "parts")
        ret = "b''.join(parts)"
        head = [
            "        parts = []",
            "        parts_append = parts.append",
            "        parts_extend = parts.extend",
        ]
    else:  # flat layout: one join over a tuple, no list at all
        queued = g.pending.pop("parts", [])
        ret = f"b''.join(({', '.join(queued)},))" if queued else "b''"
        head = []
    encode_src = [
        "def _encode(f):",
        "    try:",
        *head,
        *body,
        f"        return {ret}",
        "    except KeyError as exc:",
        "        raise _missing(exc) from None",
        "    except (_struct_error, TypeError, AttributeError, ValueError, _TooLong) as exc:",
        "        raise _unencodable(exc) from exc",
    ]
    g.lines = []
    min_size = st.min_size
    g.emit(0, "def _decode(buf):")
    g.emit(1, "end = len(buf)")
    g.emit(1, f"if end < {min_size}:")
    g.emit(2, "raise _decode_error(BUFFER_TOO_SMALL)")
    g.emit(1, "pos = 0")
    g.emit(1, "try:")
    result = _gen_decode_struct(g, st, 2, "end")
    g.emit(2, f"return {result}")
    g.emit(1, "except (_Overrun, _struct_error):")
    g.emit(2, "raise _decode_error(INVALID_BINARY_FORMAT) from None")
    g.emit(1, "except _TooSmall:")
    g.emit(2, "raise _decode_error(BUFFER_TOO_SMALL) from None")
    source = "\n".join(encode_src + g.lines) + "\n"
    exec(compile(source, f"<pyflymq layout {name}>", "exec"), g.namespace)
    encode: Encoder = g.namespace["_encode"]
    decode: Decoder = g.namespace["_decode"]
    return CompiledLayout(name, st, encode, decode, min_size, source)


def _decode_error(name: str, server_text: str) -> ProtocolError:
    err = ProtocolError(f"{name}: {server_text}")
    err.server_text = server_text
    return err
