"""The schema registry and the server's message validators (spec §9.1-9.6).

Registration works whatever ``schema.enabled`` says; only PRODUCE_WITH_SCHEMA consults the switch.
Schemas are keyed by a free-form name, versioned 1, 2, 3... per name, and always registered with
compatibility ``backward`` (a JSON schema's new required fields must exist in the previous version's
properties). Validation uses the latest version; an unknown name always validates.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyflymq_broker import avro, gojson
from pyflymq_broker.errors import BrokerError

__all__ = ["SchemaRegistry", "SchemaVersion", "validate_protobuf_wire"]

#: Types accepted by REGISTER_SCHEMA (the request's type string; ``proto`` is stored as protobuf).
REGISTER_TYPES = ("json", "avro", "protobuf", "proto")


@dataclass(frozen=True)
class SchemaVersion:
    """One registered version; ``definition`` keeps the request's raw bytes, as the server does."""

    name: str
    version: int
    type: str
    #: The definition as the server holds it: a Go string, i.e. the request's raw bytes.
    definition: bytes

    @property
    def id(self) -> str:
        """The server's schema id ``<name>-v<version>`` (LIST_SCHEMAS reports it as the name)."""
        return f"{self.name}-v{self.version}"

    @property
    def definition_text(self) -> str:
        """The definition as text; undecodable bytes survive the round trip (surrogateescape)."""
        return self.definition.decode("utf-8", "surrogateescape")


class SchemaRegistry:
    """Versions per name plus the validator (which caches parsed Avro schemas by id)."""

    def __init__(self) -> None:
        self._schemas: dict[str, dict[int, SchemaVersion]] = {}
        self._latest: dict[str, int] = {}
        self._avro_cache: dict[str, avro.AvroSchema] = {}

    # --- registry -----------------------------------------------------------------------------

    def register(self, name: str, type_: str, definition: bytes) -> int:
        """Register a new version; returns its number. Errors carry the server's texts."""
        stored_type = "protobuf" if type_ == "proto" else type_
        problem = _definition_problem(stored_type, definition)
        if problem is not None:
            raise BrokerError.flagged(f"failed to register schema: invalid schema definition: {problem}")
        version = 1
        latest = self._latest.get(name)
        if latest is not None:
            version = latest + 1
            previous = self._schemas.get(name, {}).get(latest)
            # The server dereferences the previous version unconditionally (and crashes when it
            # was deleted); the broker skips the check in that case.
            if previous is not None:
                problem = _compatibility_problem(previous, definition)
                if problem is not None:
                    raise BrokerError.flagged(
                        f"failed to register schema: schema compatibility check failed: {problem}"
                    )
        self._schemas.setdefault(name, {})[version] = SchemaVersion(name, version, stored_type, definition)
        self._latest[name] = version
        return version

    def get(self, name: str, version: int) -> SchemaVersion:
        """One version, or the server's flagged ``schema not found`` error."""
        found = self._schemas.get(name, {}).get(version)
        if found is None:
            raise BrokerError.flagged(f"schema not found: {name} v{version}")
        return found

    def latest(self, name: str) -> SchemaVersion | None:
        """The version the ``latest`` pointer names (``None`` when none is registered).

        Deleting the latest version leaves the server's pointer on it (it then crashes on use); the
        broker treats such a name as having no latest schema.
        """
        version = self._latest.get(name)
        if version is None:
            return None
        return self._schemas.get(name, {}).get(version)

    def get_latest(self, name: str) -> SchemaVersion:
        """The latest version, or the server's flagged ``no schema found for topic`` error."""
        found = self.latest(name)
        if found is None:
            raise BrokerError.flagged(f"no schema found for topic: {name}")
        return found

    def versions(self, name: str) -> list[SchemaVersion]:
        """Every version of ``name``, or of every name when ``name`` is empty (LIST_SCHEMAS)."""
        if name == "":
            return [s for versions in self._schemas.values() for s in versions.values()]
        return list(self._schemas.get(name, {}).values())

    def delete(self, name: str, version: int) -> None:
        """Remove one version; the name goes with its last version."""
        versions = self._schemas.get(name)
        if versions is None or version not in versions:
            raise BrokerError.flagged(f"failed to delete schema: schema not found: {name} v{version}")
        del versions[version]
        if not versions:
            del self._schemas[name]
            del self._latest[name]

    def restore(self, entry: SchemaVersion, latest: int) -> None:
        """Install a version loaded from persistent storage."""
        self._schemas.setdefault(entry.name, {})[entry.version] = entry
        self._latest[entry.name] = max(latest, self._latest.get(entry.name, 0))

    def latest_pointers(self) -> dict[str, int]:
        """Name -> latest version, for persistence (the pointer can outlive its version)."""
        return dict(self._latest)

    # --- validation ---------------------------------------------------------------------------

    def validate(self, name: str, message: bytes) -> list[str]:
        """The error list of validating ``message`` against the latest version (empty = valid)."""
        schema = self.latest(name)
        if schema is None:
            return []
        if schema.type == "json":
            return _validate_json(schema, message)
        if schema.type == "avro":
            return self._validate_avro(schema, message)
        if schema.type == "protobuf":
            if not message:
                return ["empty message"]
            problem = validate_protobuf_wire(message)
            return [] if problem is None else [f"invalid Protobuf wire format: {problem}"]
        return [f"unsupported schema type: {schema.type}"]

    def _validate_avro(self, schema: SchemaVersion, message: bytes) -> list[str]:
        if not message:
            return ["empty message"]
        # Cached by id and never invalidated, like the server's cache: re-registering a name
        # whose versions were all deleted reuses the old parsed schema for the same id.
        parsed = self._avro_cache.get(schema.id)
        if parsed is None:
            try:
                parsed = avro.parse_schema(schema.definition_text)
            except avro.AvroError as exc:
                return [f"invalid Avro schema: {exc}"]
            self._avro_cache[schema.id] = parsed
        try:
            avro.decode_prefix(parsed, message)
        except avro.AvroError as exc:
            return [f"Avro validation failed: {exc}"]
        return []


def _definition_problem(type_: str, definition: bytes) -> str | None:
    if type_ == "json":
        try:
            gojson.unmarshal_object(definition)
        except gojson.GoJSONError as exc:
            return f"invalid JSON schema: {exc}"
        return None
    if not definition:
        return "schema definition cannot be empty"
    return None


def _compatibility_problem(previous: SchemaVersion, definition: bytes) -> str | None:
    if previous.type != "json":
        return None
    try:
        old = gojson.unmarshal_object(previous.definition) or {}
        new = gojson.unmarshal_object(definition) or {}
    except gojson.GoJSONError as exc:
        return str(exc)
    required = new.get("required")
    old_props = old.get("properties")
    props = old_props if isinstance(old_props, dict) else {}
    if isinstance(required, list):
        for field_name in required:
            if isinstance(field_name, str) and field_name not in props:
                return f"new required field '{field_name}' not in old schema"
    return None


def _validate_json(schema: SchemaVersion, message: bytes) -> list[str]:
    try:
        definition = gojson.unmarshal_object(schema.definition) or {}
    except gojson.GoJSONError as exc:
        return [f"invalid schema definition: {exc}"]
    try:
        data = gojson.unmarshal_object(message)
    except gojson.GoJSONError as exc:
        return [f"invalid JSON message: {exc}"]
    return _validate_object(definition, data or {}, "")


def _validate_object(schema: dict[str, object], data: dict[str, object], path: str) -> list[str]:
    errors: list[str] = []
    required = schema.get("required")
    if isinstance(required, list):
        for field_name in required:
            if isinstance(field_name, str) and field_name not in data:
                errors.append(f"missing required field: {_join(path, field_name)}")
    props = schema.get("properties")
    properties = props if isinstance(props, dict) else {}
    additional = schema.get("additionalProperties")
    # The server iterates a Go map here, so the order of these errors is random there.
    for field_name, value in data.items():
        field_path = _join(path, field_name)
        if field_name not in properties:
            if additional is False:
                errors.append(f"unexpected field: {field_path}")
            continue
        prop = properties[field_name]
        if not isinstance(prop, dict):
            continue
        expected = prop.get("type")
        if isinstance(expected, str):
            actual = _json_type(value)
            if actual != expected and not (expected == "number" and actual == "integer"):
                errors.append(f"type mismatch at {field_path}: expected {expected}, got {actual}")
        nested = prop.get("properties")
        if isinstance(value, dict) and isinstance(nested, dict):
            errors.extend(
                _validate_object({"properties": nested, "required": prop.get("required")}, value, field_path)
            )
    return errors


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, str):
        return "string"
    if isinstance(value, float):
        # Go: f == float64(int64(f)); int64() of an out-of-range float is the minimum int64.
        if value.is_integer() and -(2**63) <= value < 2**63:
            return "integer"
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "unknown"


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    """Go ``decodeVarint`` over ``data[pos:]``: (value, bytes used) or (0, -1)."""
    value = 0
    shift = 0
    for i in range(len(data) - pos):
        if i >= 10:
            return 0, -1
        b = data[pos + i]
        if b < 0x80:
            return (value | (b << shift)) & 0xFFFFFFFFFFFFFFFF, i + 1
        value |= (b & 0x7F) << shift
        shift += 7
    return 0, -1


def validate_protobuf_wire(data: bytes) -> str | None:
    """The server's protobuf wire-format scan; the problem text, or ``None`` when well formed."""
    pos = 0
    while pos < len(data):
        tag, n = _varint(data, pos)
        if n <= 0:
            return f"invalid varint at position {pos}"
        pos += n
        wire = tag & 0x7
        if wire == 0:
            _, n = _varint(data, pos)
            if n <= 0:
                return f"invalid varint value at position {pos}"
            pos += n
        elif wire == 1:
            if pos + 8 > len(data):
                return f"truncated 64-bit value at position {pos}"
            pos += 8
        elif wire == 2:
            length, n = _varint(data, pos)
            if n <= 0:
                return f"invalid length at position {pos}"
            pos += n
            # Go converts the uint64 length to int (wrapping to a negative number above 2^63-1).
            signed = length - (1 << 64) if length >= 1 << 63 else length
            if pos + signed > len(data):
                return f"truncated length-delimited value at position {pos}"
            if signed < 0:
                # pos+int(length) wrapped: Go then moves pos backwards; stop to stay bounded.
                return f"truncated length-delimited value at position {pos}"
            pos += signed
        elif wire == 5:
            if pos + 4 > len(data):
                return f"truncated 32-bit value at position {pos}"
            pos += 4
        elif wire in (3, 4):
            continue
        else:
            return f"unknown wire type {wire} at position {pos}"
    return None
