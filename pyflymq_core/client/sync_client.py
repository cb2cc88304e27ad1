"""``FlyMQClient`` and ``connect()``: the seed's client API over pluggable transports.

A thin shell over :mod:`pyflymq_core.client.calls` (what to send, how to read the answer) and
:class:`~pyflymq_core.client.connection.Connection` (pipelined I/O).  What this module adds is policy:

* **Bootstrap with failover**: servers are tried in order (starting with the last one that worked),
  in ``1 + max_retries`` rounds ``retry_delay_ms`` apart; the error names every server and why it
  failed (``ConnectionError.servers_tried``).
* **Authentication on every (re)connect** when credentials were given, and never otherwise (AUTH
  crashes a server whose authentication is off).  Before the first AUTH on a connection the client
  probes with LIST_GROUPS whether the server enforces authentication at all (SEMANTICS_NOTES #1); on a
  server without authentication the credentials are not sent (logged at WARNING).
* **Retries**: only idempotent reads are re-sent after a connection loss; a write whose answer was
  lost fails with ``ConnectionError`` saying it may or may not have been applied.  A request that
  was provably never written (dead idle connection) is re-sent on a fresh connection.
* **Cluster routing**: keyed produces go to the partition leader (FNV-1a against CLUSTER_METADATA);
  ``not leader`` answers are followed once, to the reported address; a keyless record refused as
  ``not partition leader`` is re-sent to the same node; a peer's cluster (Raft) address is never
  dialed (:class:`~pyflymq_core.errors.LeaderAddressUnknownError` instead).
* **Keep-alive** of idle connections (the server drops them after 5 minutes).

Thread-safe: any number of threads may share one client; their requests are pipelined.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.base import AUTH_STORE_OPS, NEEDS_METADATA, ClientBase, RetryPolicy, build_config
from pyflymq_core.client.calls import Call, complete
from pyflymq_core.client.cluster import RouteEntry
from pyflymq_core.client.connection import Connection
from pyflymq_core.client.keepalive import KeepAlive
from pyflymq_core.client.transactions import Transaction
from pyflymq_core.config import ClientConfig, ConsumerConfig, ProducerConfig
from pyflymq_core.errors import (
    ConnectionError,
    FlyMQError,
    SchemaNotFoundError,
    SchemaValidationError,
    TimeoutError,
    TopicNotFoundError,
    UnsupportedOperationError,
)
from pyflymq_core.models import (
    AclInfo,
    AclList,
    AuditExport,
    AuditQueryResult,
    AuthResult,
    ClusterMetadata,
    ConsumedMessage,
    ConsumerLag,
    DLQMessage,
    FetchResult,
    GroupInfo,
    RecordMetadata,
    RoleInfo,
    SchemaInfo,
    SchemaRegistration,
    TopicMetadata,
    UserInfo,
    ValidationResult,
    WhoAmI,
)
from pyflymq_core.protocol import OpCode, ProduceTemplate
from pyflymq_transports.base import ServerAddress, Transport, TransportOptions

if TYPE_CHECKING:
    from pyflymq_core.consumer.consumer import HighLevelConsumer
    from pyflymq_core.producer import Producer

__all__ = ["FlyMQClient", "TransportFactory", "connect"]

logger = logging.getLogger("pyflymq.client")

_monotonic = time.monotonic
#: With a deadline (a ``poll``), the first connect of a call may take this long even when less time
#: is left: ``poll(0)``, or iteration's 100 ms slices over a slow (TLS, long-distance) link, must
#: still be able to reconnect.
DEADLINE_CONNECT_FLOOR_S = 1.0

T = TypeVar("T")

#: ``factory(address, options) -> Transport``: what the plugin registry returns per URL scheme.
TransportFactory = Callable[[ServerAddress, TransportOptions], Transport]

_PRODUCE = int(OpCode.PRODUCE)
_produce_template = calls.produce_template
_record_metadata = calls.record_metadata


def _fast_produce_frame(
    template: ProduceTemplate, value: bytes, key: bytes | str | None, standalone: bool
) -> bytes | None:
    """The request frame of :meth:`FlyMQClient.produce`'s fast path, or ``None`` when the record
    needs the general path: a key that needs routing (non-empty, in a cluster or before the client
    knows the server is standalone), a key that is neither ``bytes`` nor ``str``, or one that is
    not encodable, and records beyond the request size limit — there the general path decides, and
    refuses with a hint.  Keys are encoded as :func:`pyflymq_core.validation.check_produce` does
    (``str``: UTF-8 with ``surrogateescape``; an empty key is no key)."""
    if key is None:
        return template.frame(value) if len(value) <= template.max_value else None
    if type(key) is str:
        try:
            key = key.encode("utf-8", "surrogateescape")
        except UnicodeEncodeError:
            return None
    elif type(key) is not bytes:
        return None
    if (key and not standalone) or len(key) + len(value) > template.max_value:
        return None
    return template.frame_keyed(key, value)


class FlyMQClient(ClientBase[Connection]):
    """A thread-safe FlyMQ client.

    ``FlyMQClient("localhost:9092")``, ``FlyMQClient("a:9092,b:9092")``, ``FlyMQClient(["a:9092"])``,
    ``FlyMQClient(config=ClientConfig(...))``, plus any :class:`ClientConfig` option as a keyword
    (``request_timeout_ms=5000``, ``tls_enabled=True``, ...) and ``username``/``password``.
    ``transport_factory`` replaces the plugin lookup (a test seam).  Connects on construction.
    """

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] | ClientConfig | None = None,
        *,
        config: ClientConfig | None = None,
        username: str | None = None,
        password: str | None = None,
        transport_factory: TransportFactory | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            build_config(bootstrap_servers, config, username, password, options), transport_factory
        )
        self._lock = threading.RLock()
        #: Produced values go out as given (no encryption, no compression): the produce fast path.
        self._plain_values = self._value_encoder is None and not self._compress
        self._closing = threading.Event()
        self._primary = self._connect_bootstrap()
        self._keepalive: KeepAlive | None = None
        interval_ms = self._config.keepalive_interval_ms
        if interval_ms > 0:
            self._keepalive = KeepAlive(self, interval_ms / 1000.0, name=f"pyflymq-keepalive-{self._id}")
            self._keepalive.start()

    # ================================================================== lifecycle

    def close(self) -> None:
        """Close every connection (idempotent).  In-flight requests fail with ConnectionError."""
        if self._closed:
            return
        self._closed = True
        self._closing.set()
        if self._keepalive is not None:
            self._keepalive.stop()
        with self._lock:
            connections = self._connections_unlocked()
            self._primary = None
            self._pool.clear()
        for conn in connections:
            conn.close()
        if self._lifecycle.active:
            self._lifecycle.client_closed(self)
        logger.debug("client %s closed", self._id)

    def __enter__(self) -> FlyMQClient:
        self._check_open()  # a closed client stays closed: a with block on it could do nothing
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ================================================================== connections

    def _new_transport(self, address: ServerAddress, time_left: float | None = None) -> Transport:
        factory: TransportFactory | None = self._transport_factory
        if factory is None:
            from pyflymq_core.plugins import get_registry

            factory = get_registry().transports.get(address.scheme)
        options = self._transport_options
        if time_left is not None and (options.connect_timeout is None or time_left < options.connect_timeout):
            options = dataclasses.replace(options, connect_timeout=time_left)
        return factory(address, options)

    def _open(self, address: ServerAddress, time_left: float | None = None) -> Connection:
        """Connect to one server and authenticate (when credentials were given); the connect takes
        at most ``time_left`` s when given (less than ``connect_timeout_ms``)."""
        transport = self._new_transport(address, time_left)
        try:
            transport.connect()
        except FlyMQError:
            transport.close()
            raise
        except OSError as exc:
            transport.close()
            raise ConnectionError(f"cannot connect to {address}: {exc}") from exc
        conn = Connection(transport)
        try:
            if self._credentials is not None:
                self._login(conn, *self._credentials)
        except BaseException:
            conn.close("authentication failed")
            raise
        self._connected(conn, address)
        return conn

    def _connect_bootstrap(self, deadline: float | None = None) -> Connection:
        """Connect to the first bootstrap server that answers (:class:`BootstrapPlan` decides).

        With a ``deadline`` (a consumer's ``poll`` timeout) the search stops there with
        :meth:`BootstrapPlan.out_of_time`, after at least one attempt (so ``poll(0)`` and short
        slices still reconnect), and the next call goes on from the first server not tried.
        """
        plan = self._bootstrap_plan()
        attempted = False
        for round_index in range(plan.rounds):
            for address in plan.order:
                if self._closed:
                    raise self._interrupted_error()
                time_left = self._attempt_time(deadline, first=not attempted)
                if time_left is not None and time_left <= 0:
                    self._last_good = plan.index(address)  # the next call starts with it
                    raise plan.out_of_time()
                attempted = True
                try:
                    conn = self._open(address, time_left)
                except FlyMQError as exc:
                    if plan.failed(address, exc):
                        continue
                    raise
                self._last_good = plan.index(address)
                return conn
            delay = plan.pause(round_index)
            if delay is None:
                break
            if deadline is not None and _monotonic() + delay >= deadline:
                raise plan.out_of_time()
            if self._closing.wait(delay):
                raise self._interrupted_error()
        raise plan.exhausted()

    def _attempt_time(self, deadline: float | None, *, first: bool) -> float | None:
        """How long the next connect may take: ``None`` without a deadline; the time left before
        it, but for the first attempt of a call at least :data:`DEADLINE_CONNECT_FLOOR_S` (within
        ``connect_timeout_ms``), so a deadline shorter than a connect never rules out reconnecting."""
        if deadline is None:
            return None
        time_left = deadline - _monotonic()
        if first:
            limit = self._transport_options.connect_timeout
            floor = DEADLINE_CONNECT_FLOOR_S if limit is None else min(limit, DEADLINE_CONNECT_FLOOR_S)
            time_left = max(time_left, floor)
        return time_left

    @contextlib.contextmanager
    def _connecting(self, deadline: float | None) -> Iterator[None]:
        """The client lock for a (re)connect: waited for at most until ``deadline``, since another
        thread may hold it for a whole failover search."""
        lock = self._lock
        if deadline is None:
            lock.acquire()
        elif not lock.acquire(timeout=max(0.0, deadline - _monotonic())):
            raise ConnectionError(
                "not connected: another thread is still reconnecting to FlyMQ",
                hint="The connection was lost; the next call tries again.",
            )
        try:
            yield
        finally:
            lock.release()

    def _connections_unlocked(self) -> list[Connection]:
        return super()._connections()

    def _connections(self) -> list[Connection]:
        """Snapshot of every connection (bootstrap + pooled), taken under the lock."""
        with self._lock:
            return self._connections_unlocked()

    def _primary_connection(self, deadline: float | None = None) -> Connection:
        """The live bootstrap connection, reconnecting (with failover) when it was lost; with a
        ``deadline`` (``time.monotonic()``), only until then."""
        conn = self._primary
        if conn is not None and not conn.closed:
            return conn
        with self._connecting(deadline):
            if self._closed:
                raise self._closed_error()
            conn = self._primary
            if conn is not None and not conn.closed:
                return conn
            if conn is not None:
                logger.warning("connection to %s lost (%s); reconnecting", conn.label, conn.close_reason)
            self._reconnects += 1
            conn = self._primary = self._connect_bootstrap(deadline)
            return conn

    def _connection_to(self, address: ServerAddress, deadline: float | None = None) -> Connection:
        """A pooled connection to a specific server (a partition or metadata leader)."""
        primary = self._primary_connection(deadline)
        if address == primary.address:
            return primary
        conn = self._pool.get(address)
        if conn is not None and not conn.closed:
            return conn
        with self._connecting(deadline):
            if self._closed:
                raise self._closed_error()
            conn = self._pool.get(address)
            if conn is None or conn.closed:
                conn = self._pool[address] = self._open(address, self._attempt_time(deadline, first=True))
            return conn

    # ================================================================== authentication helpers

    def _probe_auth(self, conn: Connection) -> bool:
        """Whether the server behind ``conn`` enforces authentication (LIST_GROUPS probe)."""
        if self._auth_probe_due(conn):
            try:
                self._attempt(conn, calls.auth_probe())
            except FlyMQError as exc:
                self._auth_probed(conn, exc)
            else:
                self._auth_probed(conn, None)
        return self._auth_enforced(conn)

    def _login(self, conn: Connection, username: str, password: str) -> AuthResult:
        """AUTH on ``conn`` — only after the probe said the server enforces authentication."""
        if not self._probe_auth(conn):
            return self._login_skipped(conn)
        result = self._attempt(conn, calls.authenticate(username, password))
        conn.username = result.username
        return result

    # ================================================================== request execution

    def _route(self, call: Call[Any]) -> Connection:
        if self._routed(call):
            return self._route_keyed(call)
        return self._primary_connection()

    def _route_keyed(self, call: Call[Any]) -> Connection:
        """The partition leader's connection for a keyed produce (the bootstrap one in doubt)."""
        primary = self._primary_connection()
        target = self._route_target(call, primary.address)
        if target is NEEDS_METADATA:
            assert call.topic is not None
            entry = self._refresh_metadata(call.topic, primary)
            target = None if entry is None else self._leader_of(call, entry, primary.address)
        if target is None:
            return primary
        try:
            return self._connection_to(target)
        except (ConnectionError, TimeoutError) as exc:
            self._leader_unreachable(target, exc, primary)
            return primary

    def _attempt(self, conn: Connection, call: Call[T]) -> T:
        """One observed attempt of ``call`` on ``conn`` (counters, lifecycle hooks; no policy)."""
        observer = self.observer
        started = observer.start(call)
        try:
            frame = conn.request(call.op, call.payload, self._request_timeout, call.compress)
        except FlyMQError as exc:
            observer.end(started, call, None, exc)
            raise
        return observer.completed(started, call, frame)

    def _execute(self, call: Call[T], conn: Connection | None = None) -> T:
        """Send ``call`` and return its result, applying the retry and redirect policy.

        The common case (live bootstrap connection, no routing, no observers, no error) takes the
        short path below; anything else goes through :meth:`_execute_policy`.
        """
        if self._closed:
            raise self._closed_error()
        if conn is None:
            conn = self._primary
            if (
                conn is None
                or conn._closed
                or (call.key and call.op == _PRODUCE and not self._metadata.standalone)
            ):
                return self._execute_policy(call, None, None)
        if self._lifecycle.active or call.op in AUTH_STORE_OPS:
            return self._execute_policy(call, conn, None)
        observer = self.observer
        observer.sent()
        try:
            return complete(call, conn.request(call.op, call.payload, self._request_timeout, call.compress))
        except FlyMQError as exc:
            observer.failed()
            return self._execute_policy(call, conn, exc)

    def _execute_policy(self, call: Call[T], conn: Connection | None, failure: FlyMQError | None) -> T:
        """The policy loop: attempts on (re)routed connections, steps decided by :class:`RetryPolicy`.

        ``failure`` is the error of a first attempt made (and counted) by :meth:`_execute`.
        """
        policy: RetryPolicy | None = None
        while True:
            if failure is None:
                # Connecting and probing are outside the try: their errors are not request failures.
                if conn is None or conn.closed:
                    conn = self._route(call)
                if call.op in AUTH_STORE_OPS and not self._probe_auth(conn):
                    raise self._auth_store_refused(conn, call)
                try:
                    return self._attempt(conn, call)
                except FlyMQError as exc:
                    failure = exc
            assert conn is not None
            if policy is None:
                policy = self._retry_policy(call)
            step = policy.after(failure, conn)
            if step.refresh:
                assert call.topic is not None
                self._refresh_metadata(call.topic, self._primary_connection())
                step = policy.after(failure, conn)
            if step.error is not None:
                if step.close:
                    conn.close(str(failure))
                if step.error is failure:
                    raise failure
                raise step.error from failure
            conn = None if step.target is None else self._connection_to(step.target)
            failure = None

    def _refresh_metadata(self, topic: str, primary: Connection) -> RouteEntry | None:
        """Read ``topic``'s CLUSTER_METADATA on ``primary`` into the routing cache: the topic's entry,
        or ``None`` when the layout stays unknown (the failure is logged; routing then uses the
        bootstrap connection, and the retry policy decides with what it knows)."""
        try:
            metadata = self._execute(calls.cluster_metadata(topic), primary)
        except FlyMQError as exc:
            return self._store_metadata(topic, None, exc)
        return self._store_metadata(topic, metadata, None)

    def _keepalive_tick(self, idle_after: float) -> None:
        """Called by the keep-alive timer: a LIST_TOPICS on every connection idle for ``idle_after`` s."""
        for conn in self._keepalive_due(idle_after):
            try:
                self._attempt(conn, calls.list_topics())
                logger.debug("keep-alive sent on %s", conn.label)
            except FlyMQError as exc:
                logger.info("keep-alive on %s failed (%s); the next call reconnects", conn.label, exc)

    # ================================================================== high-level producer / consumer

    def producer(self, config: ProducerConfig | None = None, **options: Any) -> Producer:
        """A batching, retrying :class:`~pyflymq_core.producer.Producer` on this client (use it as a
        context manager, or ``flush()``/``close()`` it): ``client.producer(linger_ms=10)``."""
        from pyflymq_core.producer import Producer

        return Producer(self, config, **options)

    def consumer(
        self,
        topics: str | Iterable[str] | None = None,
        group_id: str | None = None,
        *,
        config: ConsumerConfig | None = None,
        **options: Any,
    ) -> HighLevelConsumer:
        """A polling consumer of ``topics`` for ``group_id``: ``client.consumer("my-topic", "my-group")``
        or ``client.consumer(topics=[...], group_id=..., auto_commit=True)``."""
        from pyflymq_core.consumer.consumer import HighLevelConsumer

        return HighLevelConsumer(self, topics, group_id, config=config, **options)

    # ================================================================== produce / consume

    def produce(
        self,
        topic: str,
        value: bytes | str,
        key: bytes | str | None = None,
        *,
        partition: int | None = None,
    ) -> RecordMetadata:
        """Write one record; returns where it went (``RecordMetadata``).

        ``value``/``key`` may be ``str`` (UTF-8) or bytes.  Records with the same key go to the same
        partition.  The server chooses the partition itself (FNV-1a of the key, else round-robin), so
        ``partition=`` is refused rather than silently ignored.
        """
        if type(topic) is str and type(value) is bytes and partition is None:
            # The fast path (issue 4): a bytes record to an already validated topic, without a key
            # or with one that needs no routing (a standalone server), over the live bootstrap
            # connection, with nothing to transform or observe.  The frame and the reply go
            # through the topic's ProduceTemplate instead of a Call; anything else (first use of a
            # topic, keys in a cluster, errors, observers, encryption, compression) takes the
            # general path below, which makes the same checks and decisions.
            template = _produce_template(topic)
            conn = self._primary
            if (
                template is not None
                and self._plain_values
                and conn is not None
                and not conn._closed
                and not self._closed
                and not self._lifecycle.active
                and (request := _fast_produce_frame(template, value, key, self._metadata.standalone))
                is not None
            ):
                observer = self.observer
                observer.sent()
                try:
                    frame = conn.request_frame(_PRODUCE, request, self._request_timeout)
                    if frame[0] == _PRODUCE:
                        fields = template.decode_reply(frame[2])
                        if fields is not None:
                            return _record_metadata(fields)
                    return complete(calls.produce(topic, value, key), frame)
                except FlyMQError as exc:
                    observer.failed()
                    return self._execute_policy(calls.produce(topic, value, key), conn, exc)
        if partition is not None:
            raise v.partition_refused("produce")
        return self._execute(calls.produce(topic, value, key, self._value_encoder, self._compress))

    def consume(self, topic: str, offset: int = 0, partition: int = 0) -> ConsumedMessage:
        """Read the record at ``offset`` (``OffsetOutOfRangeError`` at or past the end)."""
        return self._execute(calls.consume(topic, offset, partition, decode_value=self._value_decoder))

    def consume_zero_copy(self, topic: str, offset: int = 0, partition: int = 0) -> ConsumedMessage:
        """CONSUME_ZERO_COPY; values >= 64 KiB are unwrapped from the server's record framing."""
        return self._execute(
            calls.consume(topic, offset, partition, zero_copy=True, decode_value=self._value_decoder)
        )

    def fetch(
        self,
        topic: str,
        partition: int = 0,
        offset: int = 0,
        max_messages: int = 10,
        filter: str | None = None,
    ) -> FetchResult:
        """Read up to ``max_messages`` records from ``offset``; continue from ``result.next_offset``.

        ``filter``: ``$.a.b`` (JSON path exists), else a case-insensitive substring, else a regular
        expression, matched on key or value by the server.
        """
        return self._execute(
            calls.fetch(topic, partition, offset, max_messages, filter, decode_value=self._value_decoder)
        )

    def fetch_binary(
        self,
        topic: str,
        partition: int = 0,
        offset: int = 0,
        max_messages: int = 10,
        filter: str | None = None,
    ) -> FetchResult:
        """FETCH_BINARY: identical to :meth:`fetch` on this server version."""
        return self._execute(
            calls.fetch(
                topic, partition, offset, max_messages, filter, binary=True, decode_value=self._value_decoder
            )
        )

    # ================================================================== topics and metadata

    def create_topic(self, topic: str, partitions: int = 1) -> None:
        """Create a topic (no error if it exists; its partition count then stays unchanged)."""
        self._execute(calls.create_topic(topic, partitions))
        self._metadata.invalidate(topic)

    def delete_topic(self, topic: str) -> None:
        """Delete a topic and its data (no error if missing; group offsets stay)."""
        self._execute(calls.delete_topic(topic))
        self._metadata.invalidate(topic)

    def list_topics(self) -> list[str]:
        """Topic names, sorted (names starting with ``__`` are hidden by the server)."""
        return self._execute(calls.list_topics())

    def cluster_metadata(self, topic: str | None = None) -> ClusterMetadata:
        """CLUSTER_METADATA for one topic or all (``TopicNotFoundError`` for an unknown topic)."""
        metadata = self._execute(calls.cluster_metadata(topic))
        self._metadata.put_metadata(metadata)
        return metadata

    def get_topic_metadata(self, topic: str) -> TopicMetadata:
        """Partitions and leaders of ``topic``."""
        metadata = self.cluster_metadata(topic)
        found = metadata.topic(topic)
        if found is None:
            raise TopicNotFoundError(f"topic not found: {topic}", topic=topic)
        return found

    get_metadata = get_topic_metadata

    # ================================================================== consumer groups

    def subscribe(self, topic: str, group_id: str, partition: int = 0, mode: str = "commit") -> int:
        """Start offset for ``mode``: ``earliest``, ``latest`` or ``commit`` (the group's committed
        offset, else the earliest).  Note: ``latest`` answers 1 on an empty partition (server quirk)."""
        return self._execute(calls.subscribe(topic, group_id, partition, mode))

    def commit_offset(self, topic: str, group_id: str, partition: int, offset: int) -> None:
        """Store ``offset`` — the *next* offset to read (FETCH's ``next_offset``) — for the group."""
        self._execute(calls.commit_offset(topic, group_id, partition, offset))

    def get_committed_offset(self, topic: str, group_id: str, partition: int = 0) -> int:
        """The group's committed offset (0 when this partition was never committed)."""
        return self._execute(calls.get_committed_offset(topic, group_id, partition))

    def reset_offset(
        self, topic: str, group_id: str, partition: int = 0, mode: str = "earliest", offset: int | None = None
    ) -> None:
        """Move the group's offset to ``earliest``, ``latest`` or ``offset`` (with ``offset=N``)."""
        self._execute(calls.reset_offset(topic, group_id, partition, mode, offset))

    def list_groups(self) -> list[GroupInfo]:
        """Every (topic, group) with its members and offsets (admin when auth is on)."""
        return self._execute(calls.list_groups())

    def describe_group(self, topic: str, group_id: str) -> GroupInfo:
        """One group of one topic (groups are keyed by topic + group id)."""
        return self._execute(calls.describe_group(topic, group_id))

    def delete_group(self, topic: str, group_id: str) -> None:
        """Delete the group's offsets for ``topic``."""
        self._execute(calls.delete_group(topic, group_id))

    def get_lag(self, topic: str, group_id: str, partition: int = 0) -> ConsumerLag:
        """Committed vs latest offset of one partition."""
        return self._execute(calls.get_lag(topic, group_id, partition))

    def seek_to_timestamp(self, topic: str, group_id: str, partition: int, timestamp_ms: int) -> int:
        """Not possible with FlyMQ 1.26: no per-message timestamp is stored (0x66 is not implemented)."""
        raise UnsupportedOperationError(
            "seek_to_timestamp is not supported: the FlyMQ server stores no timestamps with messages "
            "and does not implement SEEK_TO_TIMESTAMP (opcode 0x66)",
            hint="Track the offsets you need yourself (e.g. commit them per time bucket) and use "
            "reset_offset(..., mode='offset', offset=N).",
            opcode=int(OpCode.SEEK_TO_TIMESTAMP),
        )

    # ================================================================== schemas

    def register_schema(self, name: str, schema_type: str, schema: Any) -> SchemaRegistration:
        """Register a new version of schema ``name`` (``json``, ``avro`` or ``protobuf``)."""
        registration = self._execute(calls.register_schema(name, schema_type, schema))
        self._schemas.forget(name)
        return registration

    def get_schema(self, name: str, version: int = 0) -> SchemaInfo:
        """A schema version (0 = latest)."""
        return self._execute(calls.get_schema(name, version))

    def list_schemas(self, name_filter: str = "") -> list[SchemaInfo]:
        """Every schema version (optionally only those of ``name_filter``)."""
        return self._execute(calls.list_schemas(name_filter))

    def validate_schema(self, name: str, message: bytes | str) -> ValidationResult:
        """Validate ``message`` against the latest version of ``name`` on the server."""
        return self._execute(calls.validate_schema(name, message))

    def delete_schema(self, name: str, version: int) -> None:
        """Delete one version (>= 1) of schema ``name``."""
        self._execute(calls.delete_schema(name, version))
        self._schemas.forget(name)

    def produce_with_schema(
        self, topic: str, data: bytes | str, schema_name: str, *, validate: bool = True
    ) -> RecordMetadata:
        """Produce a keyless record that must match the latest version of ``schema_name``.

        The record is validated locally first (jsonschema / fastavro / protobuf wire format) and
        ``SchemaValidationError`` lists the violations before anything is sent; the server validates
        again when its schema feature is on. ``validate=False`` leaves validation to the server.
        The reply always says partition 0 (server quirk).
        """
        call, raw = self._schema_produce_call(topic, data, schema_name)
        if validate:
            cached = self._schemas.cached(schema_name)
            try:
                self._schemas.check(cached or self._fetch_schema(schema_name), raw)
            except SchemaValidationError as refused:
                if cached is None:
                    raise
                # The cached copy (kept 30 s) may predate a new version: judge by the latest.
                try:
                    latest = self._fetch_schema(schema_name)
                except FlyMQError:
                    raise refused from None  # no second opinion: the refusal stands
                self._schemas.check(latest, raw)
        return self._execute(call)

    def _fetch_schema(self, name: str) -> SchemaInfo:
        """The latest version of ``name`` from the registry, cached for local validation."""
        try:
            return self._schemas.remember(self.get_schema(name))
        except SchemaNotFoundError as exc:
            raise self._schemas.not_registered(name, exc) from None

    def produce_object(
        self, topic: str, obj: Any, key: bytes | str | None = None, *, serializer: Any = "json"
    ) -> RecordMetadata:
        """Serialise ``obj`` with a codec (a name such as ``"json"``/``"avro"``, a codec object, or
        a pydantic model class) and produce it."""
        from pyflymq_serde import resolve_codec

        return self.produce(topic, resolve_codec(serializer).serialize(obj), key=key)

    def consume_object(
        self, topic: str, offset: int = 0, partition: int = 0, *, deserializer: Any = "json"
    ) -> Any:
        """Consume one record and deserialise its value with a codec (see :meth:`produce_object`)."""
        from pyflymq_serde import resolve_codec

        message = self.consume(topic, offset, partition)
        return resolve_codec(deserializer).deserialize(message.value)

    # ================================================================== DLQ, delayed, TTL

    def fetch_dlq(self, topic: str, max_messages: int = 10) -> list[DLQMessage]:
        """Dead-letter records of ``topic`` (always from the start; empty when the DLQ is off)."""
        return self._execute(calls.fetch_dlq(topic, max_messages))

    def replay_dlq(self, topic: str, message_id: str) -> None:
        """Re-produce a dead-letter record to its original topic (the record stays in the DLQ)."""
        self._execute(calls.replay_dlq(topic, message_id))

    def purge_dlq(self, topic: str) -> None:
        """Delete every dead-letter record of ``topic``."""
        self._execute(calls.purge_dlq(topic))

    def produce_delayed(self, topic: str, value: bytes | str, delay_ms: int) -> RecordMetadata:
        """Deliver ``value`` after ``delay_ms`` (held in server memory; written at once when the
        server's delayed feature is off).  Delayed messages cannot be cancelled (0x31 unimplemented)."""
        return self._execute(
            calls.produce_delayed(
                topic, value, delay_ms, encode_value=self._value_encoder, compress=self._compress
            )
        )

    def produce_with_ttl(self, topic: str, value: bytes | str, ttl_ms: int) -> RecordMetadata:
        """Produce with a TTL.  FlyMQ 1.26 never expires messages: the TTL is recorded, not enforced."""
        return self._execute(
            calls.produce_with_ttl(
                topic, value, ttl_ms, encode_value=self._value_encoder, compress=self._compress
            )
        )

    # ================================================================== transactions

    def begin_transaction(self) -> Transaction:
        """A client-side transaction: produces are buffered and sent at ``commit()``."""
        self._check_open()
        return Transaction(self)

    def transaction(self) -> Transaction:
        """``with client.transaction() as txn:`` — commits on success, rolls back on exception."""
        return self.begin_transaction()

    # ================================================================== authentication and users

    def authenticate(self, username: str, password: str) -> AuthResult:
        """Authenticate the connection (and every future reconnect) as ``username``.

        Raises ``AuthenticationError`` on bad credentials (the previous identity, if any, is kept
        by the server), and ``FeatureDisabledError`` on a server without authentication.
        """
        conn = self._primary_connection()
        if not self._probe_auth(conn):
            raise self._nothing_to_authenticate(conn)
        result = self._execute(calls.authenticate(username, password), conn)
        conn.username = result.username
        with self._lock:
            self._credentials = (username, password)
            pooled = list(self._pool.values())
        for other in pooled:  # keep every connection on the same identity
            if not other.closed:
                self._execute(calls.authenticate(username, password), other)
                other.username = result.username
        return result

    def whoami(self) -> WhoAmI:
        """The identity of the bootstrap connection."""
        return self._execute(calls.whoami())

    def create_user(self, username: str, password: str, roles: Iterable[str] | None = None) -> UserInfo:
        """Create a user with ``roles`` (admin, producer, consumer, guest, ...)."""
        return self._execute(calls.create_user(username, password, roles))

    def get_user(self, username: str) -> UserInfo:
        """A user, with the permissions its roles grant."""
        return self._execute(calls.get_user(username))

    def list_users(self) -> list[UserInfo]:
        """Every user."""
        return self._execute(calls.list_users())

    def update_user(
        self, username: str, *, roles: Iterable[str] | None = None, enabled: bool | None = None
    ) -> None:
        """Change roles and/or the enabled flag.  The server overwrites both on every update, so
        whatever is not given is read from the server first and sent back unchanged."""
        if roles is None or enabled is None:
            current = self.get_user(username)
            roles = current.roles if roles is None else roles
            enabled = current.enabled if enabled is None else enabled
        self._execute(calls.update_user(username, roles, enabled))

    def delete_user(self, username: str) -> None:
        """Delete a user (not your own account)."""
        self._execute(calls.delete_user(username))

    def change_password(self, username: str, new_password: str, old_password: str = "") -> None:
        """Change a password: your own with ``old_password``, anyone's as admin."""
        self._execute(calls.change_password(username, new_password, old_password))

    def set_acl(
        self,
        topic: str,
        *,
        public: bool = False,
        allowed_users: Iterable[str] = (),
        allowed_roles: Iterable[str] = (),
    ) -> None:
        """Replace the ACL of ``topic``."""
        self._execute(
            calls.set_acl(topic, public=public, allowed_users=allowed_users, allowed_roles=allowed_roles)
        )

    def get_acl(self, topic: str) -> AclInfo:
        """The ACL of ``topic`` (``exists=False`` when the server default applies)."""
        return self._execute(calls.get_acl(topic))

    def delete_acl(self, topic: str) -> None:
        """Remove the ACL of ``topic``."""
        self._execute(calls.delete_acl(topic))

    def list_acls(self) -> AclList:
        """Every ACL plus the server's ``default_public`` setting."""
        return self._execute(calls.list_acls())

    def list_roles(self) -> list[RoleInfo]:
        """The roles and their permissions."""
        return self._execute(calls.list_roles())

    def audit_query(
        self,
        *,
        start_time: int = 0,
        end_time: int = 0,
        event_types: Iterable[str] = (),
        user: str = "",
        resource: str = "",
        result: str = "",
        search: str = "",
        limit: int = 100,
        offset: int = 0,
    ) -> AuditQueryResult:
        """Audit events, newest first.  ``start_time``/``end_time`` are Unix **seconds** (0 = open)."""
        query = calls.audit_fields(
            start_time, end_time, event_types, user, resource, result, search, limit, offset
        )
        return self._execute(calls.audit_query(query))

    def audit_export(
        self,
        export_format: str = "json",
        *,
        start_time: int = 0,
        end_time: int = 0,
        event_types: Iterable[str] = (),
        user: str = "",
        resource: str = "",
        result: str = "",
        search: str = "",
    ) -> AuditExport:
        """Export audit events as ``json`` or ``csv`` (the server caps an export at 100 events)."""
        query = calls.audit_fields(start_time, end_time, event_types, user, resource, result, search, 0, 0)
        return self._execute(calls.audit_export(query, export_format))

    # ================================================================== introspection

    def connection(self) -> Connection:
        """The live bootstrap :class:`Connection`, for pipelining with ``submit()`` (advanced)."""
        return self._primary_connection()


def connect(servers: str | Iterable[str] = "localhost:9092", **options: Any) -> FlyMQClient:
    """Connect to FlyMQ: ``client = connect("localhost:9092")`` (any :class:`FlyMQClient` option)."""
    return FlyMQClient(servers, **options)
