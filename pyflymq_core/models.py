"""Typed results of the client calls (pydantic v2 models).

Every model validates when a user builds one (``RecordMetadata(topic=..., ...)``).  The client builds
them from decoded server responses, whose types the protocol layer already guarantees, through
:func:`fast_model` — a direct ``__dict__`` fill that skips validation.  Why: on the fetch path a
validated ``ConsumedMessage`` costs ~2.6 µs and ``model_construct`` ~5.7 µs on the reference machine,
against a budget of 3 µs per consumed message for decoding *and* building; the direct fill costs
~0.9 µs.  The result is an ordinary model instance (equality, ``model_dump``, ``repr``, pickling all
work; ``tests/unit/test_models.py`` checks that it equals the validated construction).

Server quirks the models document rather than hide:

* ``RecordMetadata.timestamp`` is the server clock when the reply was built (no timestamp is stored);
  for PRODUCE_WITH_SCHEMA / DELAYED / TTL / TX the server always reports ``partition=0`` and
  ``key_size=-1``, and delayed / transactional writes report ``offset=0`` as a placeholder.
* ``ConsumedMessage.key`` is ``None`` for a record without a key: the wire cannot tell an empty key
  from no key.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterator
from itertools import repeat
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DESERIALIZED",
    "DESERIALIZED_KEY",
    "AclInfo",
    "AclList",
    "AuditEvent",
    "AuditExport",
    "AuditQueryResult",
    "AuthResult",
    "ClusterMetadata",
    "ConsumedMessage",
    "ConsumerLag",
    "DLQMessage",
    "FetchResult",
    "GroupInfo",
    "GroupOffset",
    "PartitionMetadata",
    "RecordMetadata",
    "RoleInfo",
    "SchemaInfo",
    "SchemaRegistration",
    "TopicMetadata",
    "TransactionResult",
    "UserInfo",
    "ValidationResult",
    "WhoAmI",
    "fast_model",
    "fast_models",
    "fields_set",
]

M = TypeVar("M", bound=BaseModel)

_new = object.__new__
_object_setattr = object.__setattr__


def _slot_setter(name: str) -> Callable[[Any, Any], None]:
    """The raw descriptor setter of a BaseModel slot, falling back to ``object.__setattr__``."""
    descriptor = BaseModel.__dict__.get(name)
    setter = getattr(descriptor, "__set__", None)
    if setter is not None:
        return setter  # type: ignore[no-any-return]
    return lambda obj, value: _object_setattr(obj, name, value)


_set_dict = _slot_setter("__dict__")
_set_fields_set = _slot_setter("__pydantic_fields_set__")
_set_extra = _slot_setter("__pydantic_extra__")
_set_private = _slot_setter("__pydantic_private__")


def fast_model(cls: type[M]) -> Callable[[dict[str, Any]], M]:
    """A builder of ``cls`` instances from a complete, already-typed field dict (no validation).

    The dict becomes the instance's ``__dict__`` (no copy): pass a fresh dict holding exactly the
    model's fields.  For decoded server data only — user input goes through the normal constructor.
    Frozen models share one ``fields_set`` (pydantic copies it before changing it, and a frozen
    instance never changes it); other models get their own.
    """
    shared = fields_set(cls)
    frozen = bool(cls.model_config.get("frozen"))

    def build(values: dict[str, Any]) -> M:
        obj = _new(cls)
        _set_dict(obj, values)
        _set_fields_set(obj, shared if frozen else set(shared))
        _set_extra(obj, None)
        _set_private(obj, None)
        return obj

    return build


_drain = deque[object](maxlen=0).extend  # runs a map() to its end in C


def fast_models(cls: type[M], dicts: list[dict[str, Any]], shared: set[str]) -> list[M]:
    """:func:`fast_model` for many dicts at once, for the hot paths that decode a batch (a FETCH
    answer, the acknowledgements behind a producer's ``on_success`` callbacks): each step runs as
    a C-level ``map`` over the whole batch (about 0.35 µs per instance on the reference machine,
    against 1.1 µs for a Python-level call that does the same).  ``shared`` is :func:`fields_set`
    of ``cls``, which must be frozen (every instance gets that one set)."""
    count = len(dicts)
    objects: list[M] = list(map(_new, repeat(cls, count)))
    _drain(map(_set_dict, objects, dicts))
    _drain(map(_set_fields_set, objects, repeat(shared, count)))
    _drain(map(_set_extra, objects, repeat(None, count)))
    _drain(map(_set_private, objects, repeat(None, count)))
    return objects


def fields_set(cls: type[BaseModel]) -> set[str]:
    """A ``__pydantic_fields_set__`` value naming every field of ``cls`` (for direct construction)."""
    return set(cls.model_fields)


class _Result(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


# --------------------------------------------------------------------------- produce / consume


class RecordMetadata(_Result):
    """Where a produced record went (Kafka's RecordMetadata)."""

    topic: str
    partition: int
    offset: int
    timestamp: int = Field(description="server clock (ms) when the reply was built; not stored")
    key_size: int = -1
    value_size: int = 0


class ConsumedMessage(_Result):
    """One record read back: ``decode()`` the value, ``decode_key()`` the key; ``data`` aliases ``value``.

    ``deserialized`` / ``deserialized_key``: the objects a consumer created with ``deserializer=`` /
    ``key_deserializer=`` decoded the value / key into (``None`` otherwise, and ``None`` for the key
    of a keyless record); ``value`` and ``key`` stay the raw bytes.  They are a derived view of the
    record, not model fields: outside equality, hashing and ``model_dump()``, kept by pickling and
    ``model_copy()``.  Why not fields: a record read without a deserializer then costs nothing
    more (the consumer stores them in the instance ``__dict__`` only when it decoded something, see
    :data:`DESERIALIZED` / :data:`DESERIALIZED_KEY`; the class attributes are the ``None`` default).
    """

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes

    deserialized: ClassVar[Any] = None
    deserialized_key: ClassVar[Any] = None

    @property
    def data(self) -> bytes:
        """The value (the name the reactive API and DLQ records use)."""
        return self.value

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        # Fetched messages share the decoder's dict, whose key order differs: show declared order.
        values = self.__dict__
        for name in type(self).model_fields:
            yield name, values[name]
        for name in (DESERIALIZED, DESERIALIZED_KEY):
            if values.get(name) is not None:
                yield name, values[name]

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The value as text."""
        return self.value.decode(encoding, errors)

    def decode_key(self, encoding: str = "utf-8", errors: str = "strict") -> str | None:
        """The key as text, ``None`` when the record has no key."""
        return None if self.key is None else self.key.decode(encoding, errors)


#: The ``__dict__`` keys under which a consumer stores a record's deserialized value and key.
DESERIALIZED = "deserialized"
DESERIALIZED_KEY = "deserialized_key"


class FetchResult(_Result):
    """A batch from FETCH: iterate it, ``len()`` it, and continue from ``next_offset``.

    With a filter the batch may be shorter than asked (even empty) while more data exists: the server
    scans at most 1,000 records per call; keep fetching from ``next_offset``.
    """

    topic: str
    partition: int
    messages: list[ConsumedMessage]
    next_offset: int

    def __iter__(self) -> Iterator[ConsumedMessage]:  # type: ignore[override]
        return iter(self.messages)

    def __len__(self) -> int:
        return len(self.messages)

    def __getitem__(self, index: int) -> ConsumedMessage:
        return self.messages[index]


# --------------------------------------------------------------------------- cluster metadata


class PartitionMetadata(_Result):
    """One partition as CLUSTER_METADATA reports it (``leader_addr`` may lack a host: ``":9092"``)."""

    partition: int
    leader_id: str
    leader_addr: str
    epoch: int
    state: str
    replicas: list[str]
    isr: list[str]


class TopicMetadata(_Result):
    """A topic and its partitions."""

    topic: str
    partitions: list[PartitionMetadata]

    @property
    def partition_count(self) -> int:
        """Number of partitions."""
        return len(self.partitions)


class ClusterMetadata(_Result):
    """CLUSTER_METADATA: ``cluster_id`` is ``"standalone"`` or the answering node's id."""

    cluster_id: str
    topics: list[TopicMetadata]

    @property
    def standalone(self) -> bool:
        """Whether the server runs without a cluster."""
        return self.cluster_id == "standalone"

    def topic(self, name: str) -> TopicMetadata | None:
        """The entry for ``name``, if present."""
        for entry in self.topics:
            if entry.topic == name:
                return entry
        return None


# --------------------------------------------------------------------------- consumer groups


class GroupOffset(_Result):
    """A committed offset of one partition."""

    partition: int
    offset: int


class GroupInfo(_Result):
    """A consumer group of one topic (groups are keyed by topic + group id on the server)."""

    topic: str
    group_id: str
    members: int
    offsets: list[GroupOffset]


class ConsumerLag(_Result):
    """GET_LAG for one partition (``latest_offset`` is 1 on an empty partition: a server quirk)."""

    topic: str
    group_id: str
    partition: int
    current_offset: int
    committed_offset: int
    latest_offset: int
    lag: int


# --------------------------------------------------------------------------- schemas


class SchemaRegistration(_Result):
    """The answer to REGISTER_SCHEMA."""

    name: str
    type: str
    version: int


class SchemaInfo(_Result):
    """A schema version; ``definition`` is ``None`` in ``list_schemas`` results (not sent)."""

    id: str
    name: str
    version: int
    type: str
    definition: str | None = None
    compatibility: str | None = None


class ValidationResult(_Result):
    """VALIDATE_SCHEMA: truthy when valid; ``errors`` lists each violation."""

    valid: bool
    errors: list[str] = Field(default_factory=list)

    def __bool__(self) -> bool:
        return self.valid


# --------------------------------------------------------------------------- DLQ


class DLQMessage(_Result):
    """A dead-letter record: ``data`` is the original payload, ``error`` why it failed."""

    id: str
    data: bytes
    error: str
    retries: int

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        """The payload as text."""
        return self.data.decode(encoding, errors)


# --------------------------------------------------------------------------- transactions


class TransactionResult(_Result):
    """A committed client-side transaction.

    ``records`` holds the server's answer to each PRODUCE_TX in order.  With the server's transaction
    coordinator on (``coordinator=True``) the offsets are placeholders (0): the records are written
    at commit.  With it off (the server default) the records were written immediately.  Either way
    ``partition`` is a placeholder (0): the server does not say which partition of a multi-partition
    topic a transactional record went to.
    """

    txn_id: str
    records: list[RecordMetadata]
    coordinator: bool


# --------------------------------------------------------------------------- security


class AuthResult(_Result):
    """A successful AUTH: who the connection now is."""

    success: bool
    username: str
    roles: list[str]


class WhoAmI(_Result):
    """WHOAMI: ``authenticated`` is False for an anonymous connection (or a server without auth)."""

    authenticated: bool
    username: str
    roles: list[str]


class UserInfo(_Result):
    """A user; ``created_at``/``updated_at`` are Unix **seconds** (0 in the create reply)."""

    username: str
    roles: list[str]
    permissions: list[str]
    enabled: bool
    created_at: int
    updated_at: int


class AclInfo(_Result):
    """A topic ACL; ``default_public`` is only meaningful when ``exists`` is False (server quirk)."""

    topic: str
    exists: bool
    public: bool
    allowed_users: list[str]
    allowed_roles: list[str]
    default_public: bool | None = None


class AclList(_Result):
    """ACL_LIST: the ACLs plus the server-wide ``default_public`` setting."""

    acls: list[AclInfo]
    default_public: bool

    def __iter__(self) -> Iterator[AclInfo]:  # type: ignore[override]
        return iter(self.acls)

    def __len__(self) -> int:
        return len(self.acls)


class RoleInfo(_Result):
    """A role and the permissions it grants."""

    name: str
    permissions: list[str]
    description: str


class AuditEvent(_Result):
    """An audit event; ``timestamp`` is Unix **milliseconds**."""

    id: str
    timestamp: int
    type: str
    user: str
    client_ip: str
    resource: str
    action: str
    result: str
    node_id: str
    details: dict[str, str]


class AuditQueryResult(_Result):
    """A page of audit events (newest first)."""

    events: list[AuditEvent]
    total_count: int
    has_more: bool

    def __iter__(self) -> Iterator[AuditEvent]:  # type: ignore[override]
        return iter(self.events)

    def __len__(self) -> int:
        return len(self.events)


class AuditExport(_Result):
    """AUDIT_EXPORT: ``format`` echoes the request (even when the server fell back to JSON)."""

    format: str
    data: bytes
