"""Exception hierarchy of pyflymq.

Every error the SDK raises is a :class:`FlyMQError` carrying a human message (``str(e)``) and a
``hint`` that tells the user what to do about it.  The hierarchy is grouped by what a caller can do:

.. code-block:: text

    FlyMQError
    ├── ConnectionError            (also builtins.ConnectionError)   retriable
    ├── TimeoutError               (also builtins.TimeoutError)      retriable
    ├── ConfigurationError         (also ValueError)
    ├── InvalidArgumentError       (also ValueError)
    │   └── InvalidArgumentTypeError   (also TypeError)
    ├── MissingExtraError          (also ImportError)
    ├── BufferFullError                                              retriable
    ├── ProtocolError
    ├── ServerError                (server text the SDK has no specific type for)
    ├── NotLeaderError                                               retriable
    │   └── LeaderAddressUnknownError   (not retriable)
    ├── UnsupportedOperationError
    ├── FeatureDisabledError
    ├── AlreadyExistsError
    ├── NotFoundError
    │   ├── TopicNotFoundError
    │   ├── PartitionNotFoundError
    │   ├── GroupNotFoundError
    │   ├── UserNotFoundError
    │   └── SchemaNotFoundError    (also SchemaError)
    ├── OffsetOutOfRangeError
    ├── PartitionFullError
    ├── SecurityError
    │   ├── AuthenticationError
    │   └── AuthorizationError
    ├── SchemaError
    │   ├── SchemaNotFoundError
    │   ├── SchemaCompatibilityError
    │   └── SchemaValidationError
    ├── TransactionError
    └── DecryptionError

Errors built from a server answer keep the original text in ``server_message`` (``None`` when the
error was detected locally), so nothing the server said is lost even when the message is rephrased.

This module is on the fast import path: it must only import the standard library.
"""

from __future__ import annotations

import builtins
from collections.abc import Sequence
from typing import Any, ClassVar

__all__ = [
    "AlreadyExistsError",
    "AuthenticationError",
    "AuthorizationError",
    "BufferFullError",
    "ConfigurationError",
    "ConnectionError",
    "ConsumerClosedError",
    "DecryptionError",
    "DeliveryError",
    "FeatureDisabledError",
    "FlyMQError",
    "GroupNotFoundError",
    "HandlerFailedError",
    "InvalidArgumentError",
    "InvalidArgumentTypeError",
    "LeaderAddressUnknownError",
    "LocatedError",
    "MissingExtraError",
    "NotFoundError",
    "NotLeaderError",
    "OffsetOutOfRangeError",
    "PartitionFullError",
    "PartitionNotFoundError",
    "ProducerClosedError",
    "ProtocolError",
    "SchemaCompatibilityError",
    "SchemaError",
    "SchemaNotFoundError",
    "SchemaValidationError",
    "SecurityError",
    "SerializationError",
    "ServerError",
    "TimeoutError",
    "TopicNotFoundError",
    "TransactionError",
    "UnsupportedOperationError",
    "UserNotFoundError",
]


def _restore(cls: type[FlyMQError], args: tuple[Any, ...], state: dict[str, Any]) -> FlyMQError:
    """Rebuild a pickled FlyMQError without calling its (keyword-rich) ``__init__``."""
    obj = cls.__new__(cls, *args)
    obj.args = args
    obj.__dict__.update(state)
    return obj


class FlyMQError(Exception):
    """Base class of every error raised by pyflymq.

    ``str(e)`` is the message only; the actionable advice lives in ``e.hint`` (a class-level default
    applies when none is given).  ``retriable`` tells generic retry code whether repeating the same
    call later (possibly on another connection) can succeed.
    """

    default_hint: ClassVar[str | None] = (
        "See the error message; enable DEBUG logging for the 'pyflymq' logger for details."
    )
    retriable: ClassVar[bool] = False

    message: str
    hint: str | None
    server_message: str | None

    def __init__(self, message: str, *, hint: str | None = None, server_message: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint if hint is not None else self.default_hint
        self.server_message = server_message

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        parts = [repr(self.message)]
        if self.hint is not None:
            parts.append(f"hint={self.hint!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep hint and subclass attributes across pickling (multiprocessing, logging handlers).
        return (_restore, (type(self), self.args, dict(self.__dict__)))


# --------------------------------------------------------------------------- local / client-side errors


class LocatedError(FlyMQError):
    """Base of the errors about one place in a topic.

    ``topic``, ``partition`` and ``offset`` say where (each ``None`` when unknown or not relevant),
    so handlers can log, skip (``seek(partition, offset + 1)``) or dead-letter the record without
    parsing the message.
    """

    topic: str | None
    partition: int | None
    offset: int | None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint, server_message=server_message)
        self.topic = topic
        self.partition = partition
        self.offset = offset


class ConnectionError(FlyMQError, builtins.ConnectionError):
    """The SDK could not reach any server, or the connection broke mid-request.

    ``servers_tried`` lists ``(address, reason)`` for each address attempted, when known.
    """

    default_hint = (
        "Check that the FlyMQ server is running and reachable at the given address. "
        "Start a local one with: pyflymq broker"
    )
    retriable = True

    servers_tried: list[tuple[str, str]]

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        servers_tried: list[tuple[str, str]] | None = None,
    ) -> None:
        tried = list(servers_tried) if servers_tried else []
        if hint is None and tried:
            addresses = ", ".join(addr for addr, _ in tried)
            hint = (
                f"Check that the FlyMQ server is running and reachable at {addresses}. "
                "Start a local one with: pyflymq broker"
            )
        super().__init__(message, hint=hint, server_message=server_message)
        self.servers_tried = tried


class TimeoutError(FlyMQError, builtins.TimeoutError):
    """An operation did not complete in time."""

    default_hint = (
        "The server did not answer in time. Check server load and network latency, "
        "or raise the request timeout in the client configuration."
    )
    retriable = True


class ConfigurationError(FlyMQError, ValueError):
    """Invalid client, producer, consumer or broker configuration."""

    default_hint = (
        "Check the configuration values passed (the option tables: docs/client.md, "
        "docs/producer.md and docs/consumer.md)."
    )


class InvalidArgumentError(FlyMQError, ValueError):
    """An argument is outside what the protocol (or the server) accepts.

    Raised by :mod:`pyflymq_core.validation` before anything is sent, and for server answers that
    reject an argument.
    """

    default_hint = "Check the arguments of the call against the API documentation."


class InvalidArgumentTypeError(InvalidArgumentError, TypeError):
    """An argument has the wrong type (e.g. a float partition, an int message value).

    Also a :class:`TypeError`, so code written against the usual Python convention catches it.
    """

    default_hint = "Check the argument types against the API documentation."


class MissingExtraError(FlyMQError, ImportError):
    """A feature needs an optional dependency that is not installed."""

    extra: str

    def __init__(
        self,
        message: str,
        *,
        extra: str = "all",
        hint: str | None = None,
        server_message: str | None = None,
    ) -> None:
        if hint is None:
            hint = f"Install the optional dependency with: pip install 'pyflymq[{extra}]'"
        super().__init__(message, hint=hint, server_message=server_message)
        self.extra = extra

    @classmethod
    def for_feature(cls, feature: str, extra: str, *, module: str | None = None) -> MissingExtraError:
        """Build the standard error for ``feature`` needing ``pyflymq[extra]``."""
        what = f" (module {module!r} is not installed)" if module else ""
        return cls(f"{feature} requires the optional extra {extra!r}{what}", extra=extra)


class BufferFullError(FlyMQError):
    """The producer's send buffer is full and the record could not be queued in time."""

    default_hint = (
        "The producer is sending faster than the server acknowledges. Call flush(), "
        "raise the buffer size in ProducerConfig, or slow down."
    )
    retriable = True


class ProtocolError(FlyMQError):
    """A malformed frame or payload (sent or received).

    ``server_text`` is the real server's decode error text (``"buffer too small"`` or
    ``"invalid binary format"``) when the failure corresponds to one, else ``None``.
    """

    default_hint = (
        "The bytes on the wire do not match the FlyMQ protocol. Check that the address points to a "
        "FlyMQ server (version 1.26.x) and report a bug if it does."
    )

    server_text: str | None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        server_text: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, server_message=server_message)
        self.server_text = server_text


class DecryptionError(LocatedError):
    """A record could not be decrypted with the configured key."""

    default_hint = (
        "Check that the consumer uses the same encryption key as the producer, "
        "and that the record was written encrypted."
    )


# --------------------------------------------------------------------------- server-reported errors


class ServerError(FlyMQError):
    """The server reported an error the SDK has no more specific type for.

    ``server_message`` always holds the server's text exactly as received.
    """

    default_hint = "The server rejected the request; see the server message and the server log."

    server_message: str

    def __init__(self, message: str, *, hint: str | None = None, server_message: str | None = None) -> None:
        super().__init__(
            message, hint=hint, server_message=message if server_message is None else server_message
        )


class NotLeaderError(FlyMQError):
    """A cluster write reached a node that is not the leader (the server does not forward).

    Parsed from ``not leader: leader_id=<id> leader_addr=<addr>``, ``not leader: leader_addr=<addr>``,
    ``not leader: no leader elected`` and ``not partition leader: partition=<p> leader_addr=<addr>`` /
    ``leader=<node-id>``.  Any field may be ``None`` when the text does not carry it.
    ``partition_leader`` tells the two families apart: ``True`` for ``not partition leader`` (a
    produce to a partition this node does not lead; FlyMQ 1.26 names that leader by its cluster
    (Raft) address, which is not a client endpoint), ``False`` for ``not leader`` (the metadata
    leader, named by its client address).
    """

    default_hint = (
        "This node is not the leader for the request. Retry against the leader "
        "(the client does this automatically when the leader address is known), "
        "or wait for a leader election to finish."
    )
    retriable = True

    leader_addr: str | None
    leader_id: str | None
    partition: int | None
    partition_leader: bool

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        leader_addr: str | None = None,
        leader_id: str | None = None,
        partition: int | None = None,
        partition_leader: bool = False,
    ) -> None:
        super().__init__(message, hint=hint, server_message=server_message)
        self.leader_addr = leader_addr
        self.leader_id = leader_id
        self.partition = partition
        self.partition_leader = partition_leader


class LeaderAddressUnknownError(NotLeaderError):
    """A write needs a leader the client cannot reach: the server named it only by its cluster
    (Raft) address, which speaks Raft, not the client protocol.

    In a multi-node FlyMQ 1.26 cluster each node's CLUSTER_METADATA lists itself (node id, client
    address) as the leader of the partitions it leads, and every other partition's leader only by
    that peer's cluster address (``leader_id == leader_addr``); its ``not partition leader`` answers
    name the same cluster address.  The server does not forward requests, so a keyed record whose
    partition is led elsewhere cannot be written through this node, and pyflymq never dials a
    cluster address (the Raft port would read the request as garbage and hang).  Raised before
    anything is sent; not retriable: the same request meets the same layout.  ``leader_addr`` is
    the cluster address, ``partition`` the partition, ``topic`` the topic (when known).
    """

    default_hint = (
        "FlyMQ 1.26 reports other cluster nodes by their cluster (Raft) address, not their client "
        "address, and does not forward requests. Produce keyless records (each node accepts those "
        "on a partition it leads), use keys whose partition the bootstrap node leads itself (see "
        "client.get_metadata(topic): partitions whose leader_id is a node id), or use a standalone "
        "or single-node server."
    )
    retriable = False

    topic: str | None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        leader_addr: str | None = None,
        leader_id: str | None = None,
        partition: int | None = None,
        topic: str | None = None,
    ) -> None:
        super().__init__(
            message,
            hint=hint,
            server_message=server_message,
            leader_addr=leader_addr,
            leader_id=leader_id,
            partition=partition,
            partition_leader=True,
        )
        self.topic = topic


class UnsupportedOperationError(FlyMQError):
    """The server has no handler for the opcode (``unknown opcode: N``)."""

    default_hint = (
        "This FlyMQ server version defines the operation but has no handler for it; "
        "it cannot be used against this server."
    )

    opcode: int | None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        opcode: int | None = None,
    ) -> None:
        super().__init__(message, hint=hint, server_message=server_message)
        self.opcode = opcode


class FeatureDisabledError(FlyMQError):
    """The feature exists but is switched off (or failed to start) on the server."""

    default_hint = "Enable the feature in the server configuration (e.g. audit, DLQ, schema registry)."


class AlreadyExistsError(FlyMQError):
    """The object to create already exists."""

    default_hint = "Use a different name, or update/delete the existing object first."


class NotFoundError(FlyMQError):
    """Base class of the ``*NotFoundError`` types."""

    default_hint = "Check the name; list the existing objects to see what the server has."


class TopicNotFoundError(NotFoundError):
    """The topic does not exist (reads never auto-create topics)."""

    default_hint = (
        "Create the topic first with client.create_topic(<topic>, partitions) "
        "or use the CLI: pyflymq topics create <topic>"
    )

    topic: str | None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        topic: str | None = None,
    ) -> None:
        if hint is None and topic is not None:
            quoted = f'"{topic}"' if '"' not in topic and "\\" not in topic else repr(topic)
            hint = (
                f"Create the topic first with client.create_topic({quoted}, partitions) "
                f"or use the CLI: pyflymq topics create {topic}"
            )
        super().__init__(message, hint=hint, server_message=server_message)
        self.topic = topic


class PartitionNotFoundError(LocatedError, NotFoundError):
    """The partition number is not below the topic's partition count."""

    default_hint = "Use a partition number between 0 and the topic's partition count - 1 (see get_metadata)."


class GroupNotFoundError(NotFoundError):
    """No consumer group with that id has stored offsets for that topic."""

    default_hint = (
        "Consumer groups are keyed by topic + group id: pass the topic the group consumed, "
        "and make sure the group has committed at least once."
    )

    group: str | None
    topic: str | None

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        group: str | None = None,
        topic: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, server_message=server_message)
        self.group = group
        self.topic = topic


class UserNotFoundError(NotFoundError):
    """The user does not exist."""

    default_hint = "Check the username; list users with client.list_users()."


class OffsetOutOfRangeError(LocatedError):
    """The requested offset is at or past the end of the partition."""

    default_hint = (
        "Read from an offset below the partition's next offset (FETCH returns next_offset), "
        "or subscribe with mode 'earliest'/'latest'."
    )


class PartitionFullError(LocatedError):
    """A produce was answered ``EOF``: the partition stopped accepting records.

    FlyMQ 1.26.x never rolls a partition's first segment, so a partition refuses new records once its
    1 MiB index holds 87,381 entries.
    """

    default_hint = (
        "This partition is full on this FlyMQ server version (about 87,381 records per partition). "
        "Use a topic with more partitions, or a new topic."
    )


class SecurityError(FlyMQError):
    """Base class of authentication and authorization failures."""

    default_hint = "Check the credentials and permissions of the connecting user."


class AuthenticationError(SecurityError):
    """Bad or missing credentials, or a disabled account."""

    default_hint = (
        "Pass valid credentials, e.g. connect(..., username=..., password=...), "
        "and check that the account is enabled."
    )


class AuthorizationError(SecurityError):
    """The authenticated user lacks the permission for this operation."""

    default_hint = (
        "The user is authenticated but not allowed to do this. Ask an administrator for the "
        "needed role or topic ACL."
    )


class SchemaError(FlyMQError):
    """Schema registry error: bad definition, incompatible change, not found, or validation failure."""

    default_hint = "Check the schema name, type ('json', 'avro', 'protobuf') and definition."


class SchemaNotFoundError(SchemaError, NotFoundError):
    """No schema with that name / version."""

    default_hint = "Register the schema first, or list schemas to check the name and version."


class SchemaCompatibilityError(SchemaError):
    """A new schema version is not compatible with the previous one."""

    default_hint = (
        "The new version breaks compatibility with the registered one (e.g. a new required field). "
        "Make new fields optional, or register under a new name."
    )


class SchemaValidationError(SchemaError):
    """A message does not conform to its schema; ``errors`` lists each violation."""

    default_hint = "Fix the message so it matches the registered schema (see e.errors)."

    errors: list[str]

    def __init__(
        self,
        message: str,
        *,
        hint: str | None = None,
        server_message: str | None = None,
        errors: list[str] | None = None,
    ) -> None:
        super().__init__(message, hint=hint, server_message=server_message)
        self.errors = list(errors) if errors else []


class TransactionError(FlyMQError):
    """A transaction could not be begun, used, committed or aborted."""

    default_hint = (
        "The transaction is unknown or no longer active (committed, aborted or timed out). "
        "Begin a new transaction."
    )


# --------------------------------------------------------------------------- high-level clients


class ProducerClosedError(ConnectionError):
    """``send()`` on a closed producer, or a record abandoned by ``close(timeout)``."""

    default_hint = "Create a new producer; close() waits for queued records unless its timeout expires."


class DeliveryError(FlyMQError):
    """Records the application never heard about failed (raised by ``flush()``/``close()``).

    A failure handed to an ``on_error`` callback, or seen through the record's future
    (``get()``/``exception()``), counts as reported; every other failure is raised here once, so a
    fire-and-forget ``send()`` loop followed by ``flush()`` cannot lose records silently.
    ``futures`` holds the failed records' futures (each with its own ``exception()``).
    """

    default_hint = (
        "Inspect the failed futures (error.futures[i].exception()) or pass on_error= to send() to "
        "handle failures per record; records may be sent again."
    )

    futures: list[Any]

    def __init__(
        self,
        message: str,
        *,
        futures: Sequence[Any] = (),
        hint: str | None = None,
        server_message: str | None = None,
    ) -> None:
        super().__init__(message, hint=hint, server_message=server_message)
        self.futures = list(futures)


class ConsumerClosedError(FlyMQError):
    """The consumer was closed."""

    default_hint = "Create a new consumer."


class HandlerFailedError(FlyMQError):
    """A record failed the handler after every retry and could not be dead-lettered."""

    default_hint = "Fix the handler or the record; with dead_letter=True failed records go to <topic>.dlq."


class SerializationError(LocatedError, ValueError):
    """A codec could not serialize a value or deserialize a record.

    A value that is well-formed but violates a schema raises :class:`SchemaValidationError`
    instead, so callers can tell "garbage" from "valid data of the wrong shape".  ``codec`` names
    the codec; ``direction`` is ``"serialize"`` or ``"deserialize"``; for a consumed record
    ``topic``/``partition``/``offset`` say which one.
    """

    default_hint = (
        "Check that producer and consumer use the same codec (and schema) for this topic, and that the "
        "value has the type the codec expects."
    )

    codec: str
    direction: str

    def __init__(
        self,
        message: str,
        *,
        codec: str = "unknown",
        direction: str = "serialize",
        hint: str | None = None,
        server_message: str | None = None,
        topic: str | None = None,
        partition: int | None = None,
        offset: int | None = None,
    ) -> None:
        super().__init__(
            message, hint=hint, server_message=server_message, topic=topic, partition=partition, offset=offset
        )
        self.codec = codec
        self.direction = direction
