"""``AsyncFlyMQClient`` and ``connect_async()``: the asyncio client.

The same operations as :class:`~pyflymq_core.client.sync_client.FlyMQClient`, as coroutines, built
from the same :mod:`pyflymq_core.client.calls` (what to send, how to read the answer): each public
method is a one-line shell ``return await self._execute(calls.xxx(...))``.  What differs is only the
I/O — an :class:`~pyflymq_core.client.async_connection.AsyncConnection` (one reader task, a FIFO of
futures) over an asyncio transport from the plugin registry — and the policy is the sync client's:

* **Bootstrap with failover**: servers are tried in order (starting with the last one that worked) in
  ``1 + max_retries`` rounds ``retry_delay_ms`` apart; the error names every server and why.
* **Authentication on every (re)connect** when credentials were given, never otherwise (the probe
  with LIST_GROUPS first: AUTH crashes a server whose authentication is off).
* **Retries**: only idempotent reads are re-sent after a connection loss; a request provably never
  written is re-sent on a fresh connection; a write whose answer was lost fails saying so.
* **Cluster routing** of keyed produces to the partition leader; ``not leader`` followed once; a
  keyless record refused as ``not partition leader`` re-sent to the same node; a peer's cluster
  (Raft) address never dialed.
* **Keep-alive** task for idle connections (the server drops them after 5 minutes).
* **Timeouts**: ``request_timeout_ms`` bounds every response; ``asyncio.timeout()`` /
  ``asyncio.wait_for()`` around any call work too — a cancelled call's response is read and dropped,
  the connection stays in step.

Pipelining: any number of tasks may await calls on one client at the same time; their requests share
the connection.  A client belongs to the event loop it first connected on.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import TYPE_CHECKING, Any, TypeVar

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.async_connection import AsyncConnection
from pyflymq_core.client.base import AUTH_STORE_OPS, NEEDS_METADATA, ClientBase, RetryPolicy, build_config
from pyflymq_core.client.calls import Call
from pyflymq_core.client.cluster import RouteEntry
from pyflymq_core.config import ClientConfig
from pyflymq_core.errors import (
    ConfigurationError,
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
from pyflymq_core.protocol import Frame, OpCode
from pyflymq_transports.base import AsyncTransport, ServerAddress, TransportOptions

if TYPE_CHECKING:
    from pyflymq_core.aio.consumer import AsyncConsumer
    from pyflymq_core.aio.producer import AsyncProducer
    from pyflymq_core.aio.transaction import AsyncTransaction
    from pyflymq_core.config import ConsumerConfig, ProducerConfig

__all__ = ["AsyncFlyMQClient", "AsyncTransportFactory", "connect_async"]

logger = logging.getLogger("pyflymq.client")

T = TypeVar("T")

#: ``factory(address, options) -> AsyncTransport``: what the registry returns per URL scheme.
AsyncTransportFactory = Callable[[ServerAddress, TransportOptions], AsyncTransport]


class AsyncFlyMQClient(ClientBase[AsyncConnection]):
    """An asyncio FlyMQ client.

    Constructed like :class:`FlyMQClient` (``AsyncFlyMQClient("a:9092,b:9092", request_timeout_ms=500,
    username=..., password=...)``, ``config=ClientConfig(...)``); ``transport_factory`` replaces the
    plugin lookup of asyncio transports (a test seam).  Construction does no I/O: connect with
    ``await client.connect()``, ``async with AsyncFlyMQClient(...) as client``, or
    ``client = await connect_async(...)``; any call also connects on first use.
    """

    def __init__(
        self,
        bootstrap_servers: str | Iterable[str] | ClientConfig | None = None,
        *,
        config: ClientConfig | None = None,
        username: str | None = None,
        password: str | None = None,
        transport_factory: AsyncTransportFactory | None = None,
        **options: Any,
    ) -> None:
        super().__init__(
            build_config(bootstrap_servers, config, username, password, options), transport_factory
        )
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connect_lock: asyncio.Lock | None = None
        self._closing: asyncio.Event | None = None
        self._keepalive: asyncio.Task[None] | None = None

    # ================================================================== lifecycle

    async def connect(self) -> AsyncFlyMQClient:
        """Connect to the bootstrap servers now (idempotent); returns the client."""
        await self._primary_connection()
        return self

    async def close(self) -> None:
        """Close every connection (idempotent).  In-flight requests fail with ConnectionError."""
        if self._closed:
            return
        self._closed = True
        if self._closing is not None:
            self._closing.set()
        keepalive, self._keepalive = self._keepalive, None
        if keepalive is not None and keepalive is not asyncio.current_task():
            keepalive.cancel()
        connections = self._connections()
        self._primary = None
        self._pool.clear()
        for conn in connections:
            await conn.close()
        if self._lifecycle.active:
            self._lifecycle.client_closed(self)
        logger.debug("async client %s closed", self._id)

    async def __aenter__(self) -> AsyncFlyMQClient:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # ================================================================== connections

    def _bind_loop(self) -> asyncio.AbstractEventLoop:
        """The client's loop: the running one at first use; calls from another loop are refused."""
        loop = asyncio.get_running_loop()
        if self._loop is None:
            self._loop = loop
            self._connect_lock = asyncio.Lock()
            self._closing = asyncio.Event()
            if self._closed:
                self._closing.set()
        elif loop is not self._loop:
            raise ConfigurationError(
                "this AsyncFlyMQClient belongs to another event loop",
                hint="Create one client per event loop (e.g. inside the coroutine that asyncio.run runs).",
            )
        return loop

    def _new_transport(self, address: ServerAddress) -> AsyncTransport:
        factory: AsyncTransportFactory | None = self._transport_factory
        if factory is None:
            from pyflymq_core.plugins import get_registry

            factory = get_registry().async_transports.get(address.scheme)
        return factory(address, self._transport_options)

    async def _open(self, address: ServerAddress) -> AsyncConnection:
        """Connect to one server and authenticate (when credentials were given), unless ``close()``
        comes first: then the attempt is cancelled and the call fails at once (a connect or a TLS
        handshake can take up to ``connect_timeout_ms``), and no connection outlives the client."""
        closing = self._closing
        assert closing is not None  # _bind_loop ran: every path here starts at _primary_connection
        opening = asyncio.ensure_future(self._open_now(address))
        closed = asyncio.ensure_future(closing.wait())
        try:
            await asyncio.wait((opening, closed), return_when=asyncio.FIRST_COMPLETED)
        except BaseException:  # the caller was cancelled: nothing it started may outlive it
            if opening.done():
                await _discard_opened(opening)
            raise
        finally:
            closed.cancel()
            if not opening.done():
                opening.cancel()  # _open_now closes what it opened
                await asyncio.wait((opening,))
        if opening.cancelled():  # close() won the race
            raise self._interrupted_error()
        conn = opening.result()  # or its error
        if self._closed:
            await conn.close("the client was closed while connecting")
            raise self._interrupted_error()
        return conn

    async def _open_now(self, address: ServerAddress) -> AsyncConnection:
        transport = self._new_transport(address)
        conn = AsyncConnection(transport)
        try:
            await conn.open()
        except FlyMQError:
            await transport.close()
            raise
        except OSError as exc:
            await transport.close()
            raise ConnectionError(f"cannot connect to {address}: {exc}") from exc
        except BaseException:
            await asyncio.shield(transport.close())
            raise
        try:
            if self._credentials is not None:
                await self._login(conn, *self._credentials)
        except BaseException:
            await conn.close("authentication failed")
            raise
        self._connected(conn, address)
        return conn

    async def _connect_bootstrap(self) -> AsyncConnection:
        """Connect to the first bootstrap server that answers (:class:`BootstrapPlan` decides)."""
        plan = self._bootstrap_plan()
        for round_index in range(plan.rounds):
            for address in plan.order:
                if self._closed:
                    raise self._interrupted_error()
                try:
                    conn = await self._open(address)
                except FlyMQError as exc:
                    if plan.failed(address, exc):
                        continue
                    raise
                self._last_good = plan.index(address)
                return conn
            delay = plan.pause(round_index)
            if delay is not None:
                assert self._closing is not None
                try:
                    await asyncio.wait_for(self._closing.wait(), delay)
                except asyncio.TimeoutError:
                    continue
                raise self._interrupted_error()
        raise plan.exhausted()

    async def _primary_connection(self) -> AsyncConnection:
        """The live bootstrap connection, reconnecting (with failover) when it was lost."""
        conn = self._primary
        if conn is not None and not conn.closed:
            return conn
        self._bind_loop()
        if self._closed:
            raise self._closed_error()
        assert self._connect_lock is not None
        async with self._connect_lock:
            if self._closed:
                raise self._closed_error()
            conn = self._primary
            if conn is not None and not conn.closed:
                return conn
            if conn is not None:
                logger.warning("connection to %s lost (%s); reconnecting", conn.label, conn.close_reason)
                self._reconnects += 1
            conn = self._primary = await self._connect_bootstrap()
            self._start_keepalive()
            return conn

    async def _connection_to(self, address: ServerAddress) -> AsyncConnection:
        """A pooled connection to a specific server (a partition or metadata leader)."""
        primary = await self._primary_connection()
        if address == primary.address:
            return primary
        conn = self._pool.get(address)
        if conn is not None and not conn.closed:
            return conn
        assert self._connect_lock is not None
        async with self._connect_lock:
            if self._closed:
                raise self._closed_error()
            conn = self._pool.get(address)
            if conn is None or conn.closed:
                conn = self._pool[address] = await self._open(address)
            return conn

    # ================================================================== keep-alive

    def _start_keepalive(self) -> None:
        interval_ms = self._config.keepalive_interval_ms
        if interval_ms <= 0 or self._keepalive is not None or self._loop is None:
            return
        self._keepalive = self._loop.create_task(
            _keepalive_loop(weakref.ref(self), interval_ms / 1000.0), name=f"pyflymq-keepalive-{self._id}"
        )

    async def _keepalive_tick(self, idle_after: float) -> None:
        """A LIST_TOPICS on every connection idle for ``idle_after`` s (no authentication needed)."""
        for conn in self._keepalive_due(idle_after):
            try:
                await self._attempt(conn, calls.list_topics())
                logger.debug("keep-alive sent on %s", conn.label)
            except FlyMQError as exc:
                logger.info("keep-alive on %s failed (%s); the next call reconnects", conn.label, exc)

    # ================================================================== authentication helpers

    async def _probe_auth(self, conn: AsyncConnection) -> bool:
        """Whether the server behind ``conn`` enforces authentication (LIST_GROUPS probe)."""
        if self._auth_probe_due(conn):
            try:
                await self._attempt(conn, calls.auth_probe())
            except FlyMQError as exc:
                self._auth_probed(conn, exc)
            else:
                self._auth_probed(conn, None)
        return self._auth_enforced(conn)

    async def _login(self, conn: AsyncConnection, username: str, password: str) -> AuthResult:
        """AUTH on ``conn`` — only after the probe said the server enforces authentication."""
        if not await self._probe_auth(conn):
            return self._login_skipped(conn)
        result = await self._attempt(conn, calls.authenticate(username, password))
        conn.username = result.username
        return result

    # ================================================================== request execution

    async def _route(self, call: Call[Any]) -> AsyncConnection:
        if self._routed(call):
            return await self._route_keyed(call)
        return await self._primary_connection()

    async def _route_keyed(self, call: Call[Any]) -> AsyncConnection:
        """The partition leader's connection for a keyed produce (the bootstrap one in doubt)."""
        primary = await self._primary_connection()
        target = self._route_target(call, primary.address)
        if target is NEEDS_METADATA:
            assert call.topic is not None
            entry = await self._refresh_metadata(call.topic, primary)
            target = None if entry is None else self._leader_of(call, entry, primary.address)
        if target is None:
            return primary
        try:
            return await self._connection_to(target)
        except (ConnectionError, TimeoutError) as exc:
            self._leader_unreachable(target, exc, primary)
            return primary

    async def _attempt(self, conn: AsyncConnection, call: Call[T]) -> T:
        """One observed attempt of ``call`` on ``conn`` (counters, lifecycle hooks; no policy)."""
        started, frame = await self._answer(conn, call)
        return self.observer.completed(started, call, frame)

    async def _answer(self, conn: AsyncConnection, call: Call[Any]) -> tuple[float, Frame]:
        """Send ``call`` on ``conn`` and wait for its answer, observed but not completed: the
        observation start time and the answer frame, whose server error :meth:`RequestObserver.completed`
        raises.  The consumer uses it to size its next FETCH by the answer's bytes."""
        observer = self.observer
        started = observer.start(call)
        try:
            return started, await conn.request(call.op, call.payload, self._request_timeout, call.compress)
        except FlyMQError as exc:
            observer.end(started, call, None, exc)
            raise

    async def _execute(self, call: Call[T], conn: AsyncConnection | None = None) -> T:
        """Send ``call`` and return its result: the policy loop of the sync client (attempts on
        (re)routed connections, steps decided by :class:`RetryPolicy`), awaiting instead of blocking."""
        if self._closed:
            raise self._closed_error()
        if self._loop is not None and asyncio.get_running_loop() is not self._loop:
            self._bind_loop()  # raises the explanatory error
        policy: RetryPolicy | None = None
        while True:
            if conn is None or conn.closed:
                conn = await self._route(call)
            if call.op in AUTH_STORE_OPS and not await self._probe_auth(conn):
                raise self._auth_store_refused(conn, call)
            try:
                return await self._attempt(conn, call)
            except FlyMQError as exc:
                if policy is None:
                    policy = self._retry_policy(call)
                step = policy.after(exc, conn)
                if step.refresh:
                    assert call.topic is not None
                    await self._refresh_metadata(call.topic, await self._primary_connection())
                    step = policy.after(exc, conn)
                if step.error is not None:
                    if step.close:
                        await conn.close(str(exc))
                    if step.error is exc:
                        raise
                    raise step.error from exc
                conn = None if step.target is None else await self._connection_to(step.target)

    async def _refresh_metadata(self, topic: str, primary: AsyncConnection) -> RouteEntry | None:
        """Read ``topic``'s CLUSTER_METADATA on ``primary`` into the routing cache: the topic's entry,
        or ``None`` when the layout stays unknown (the failure is logged; routing then uses the
        bootstrap connection, and the retry policy decides with what it knows)."""
        try:
            metadata = await self._execute(calls.cluster_metadata(topic), primary)
        except FlyMQError as exc:
            return self._store_metadata(topic, None, exc)
        return self._store_metadata(topic, metadata, None)

    # ================================================================== high-level producer / consumer

    def producer(self, config: ProducerConfig | None = None, **options: Any) -> AsyncProducer:
        """An :class:`~pyflymq_core.aio.producer.AsyncProducer` on this client (``async with`` it, or
        ``await producer.close()``)."""
        from pyflymq_core.aio.producer import AsyncProducer

        return AsyncProducer(self, config, **options)

    def consumer(
        self,
        topics: str | Iterable[str] | None = None,
        group_id: str | None = None,
        *,
        config: ConsumerConfig | None = None,
        **options: Any,
    ) -> AsyncConsumer:
        """An :class:`~pyflymq_core.aio.consumer.AsyncConsumer` of ``topics`` for ``group_id``:
        ``client.consumer("my-topic", "my-group")`` or ``client.consumer(topics=[...], group_id=...)``."""
        from pyflymq_core.aio.consumer import AsyncConsumer

        return AsyncConsumer(self, topics, group_id, config=config, **options)

    # ================================================================== produce / consume

    async def produce(
        self,
        topic: str,
        value: bytes | str,
        key: bytes | str | None = None,
        *,
        partition: int | None = None,
    ) -> RecordMetadata:
        """Write one record; returns where it went (see :meth:`FlyMQClient.produce`)."""
        if partition is not None:
            raise v.partition_refused("produce")
        return await self._execute(
            calls.produce(topic, value, key, encode_value=self._value_encoder, compress=self._compress)
        )

    async def consume(self, topic: str, offset: int = 0, partition: int = 0) -> ConsumedMessage:
        """Read the record at ``offset`` (``OffsetOutOfRangeError`` at or past the end)."""
        return await self._execute(calls.consume(topic, offset, partition, decode_value=self._value_decoder))

    async def consume_zero_copy(self, topic: str, offset: int = 0, partition: int = 0) -> ConsumedMessage:
        """CONSUME_ZERO_COPY; values >= 64 KiB are unwrapped from the server's record framing."""
        return await self._execute(
            calls.consume(topic, offset, partition, zero_copy=True, decode_value=self._value_decoder)
        )

    async def fetch(
        self,
        topic: str,
        partition: int = 0,
        offset: int = 0,
        max_messages: int = 10,
        filter: str | None = None,
    ) -> FetchResult:
        """Read up to ``max_messages`` records from ``offset``; continue from ``result.next_offset``."""
        return await self._execute(
            calls.fetch(topic, partition, offset, max_messages, filter, decode_value=self._value_decoder)
        )

    async def fetch_binary(
        self,
        topic: str,
        partition: int = 0,
        offset: int = 0,
        max_messages: int = 10,
        filter: str | None = None,
    ) -> FetchResult:
        """FETCH_BINARY: identical to :meth:`fetch` on this server version."""
        return await self._execute(
            calls.fetch(
                topic, partition, offset, max_messages, filter, binary=True, decode_value=self._value_decoder
            )
        )

    # ================================================================== topics and metadata

    async def create_topic(self, topic: str, partitions: int = 1) -> None:
        """Create a topic (no error if it exists; its partition count then stays unchanged)."""
        await self._execute(calls.create_topic(topic, partitions))
        self._metadata.invalidate(topic)

    async def delete_topic(self, topic: str) -> None:
        """Delete a topic and its data (no error if missing; group offsets stay)."""
        await self._execute(calls.delete_topic(topic))
        self._metadata.invalidate(topic)

    async def list_topics(self) -> list[str]:
        """Topic names, sorted (names starting with ``__`` are hidden by the server)."""
        return await self._execute(calls.list_topics())

    async def cluster_metadata(self, topic: str | None = None) -> ClusterMetadata:
        """CLUSTER_METADATA for one topic or all (``TopicNotFoundError`` for an unknown topic)."""
        metadata = await self._execute(calls.cluster_metadata(topic))
        self._metadata.put_metadata(metadata)
        return metadata

    async def get_topic_metadata(self, topic: str) -> TopicMetadata:
        """Partitions and leaders of ``topic``."""
        metadata = await self.cluster_metadata(topic)
        found = metadata.topic(topic)
        if found is None:
            raise TopicNotFoundError(f"topic not found: {topic}", topic=topic)
        return found

    get_metadata = get_topic_metadata

    # ================================================================== consumer groups

    async def subscribe(self, topic: str, group_id: str, partition: int = 0, mode: str = "commit") -> int:
        """Start offset for ``mode``: ``earliest``, ``latest`` or ``commit``."""
        return await self._execute(calls.subscribe(topic, group_id, partition, mode))

    async def commit_offset(self, topic: str, group_id: str, partition: int, offset: int) -> None:
        """Store ``offset`` — the *next* offset to read — for the group."""
        await self._execute(calls.commit_offset(topic, group_id, partition, offset))

    async def get_committed_offset(self, topic: str, group_id: str, partition: int = 0) -> int:
        """The group's committed offset (0 when this partition was never committed)."""
        return await self._execute(calls.get_committed_offset(topic, group_id, partition))

    async def reset_offset(
        self, topic: str, group_id: str, partition: int = 0, mode: str = "earliest", offset: int | None = None
    ) -> None:
        """Move the group's offset to ``earliest``, ``latest`` or ``offset`` (with ``offset=N``)."""
        await self._execute(calls.reset_offset(topic, group_id, partition, mode, offset))

    async def list_groups(self) -> list[GroupInfo]:
        """Every (topic, group) with its members and offsets (admin when auth is on)."""
        return await self._execute(calls.list_groups())

    async def describe_group(self, topic: str, group_id: str) -> GroupInfo:
        """One group of one topic."""
        return await self._execute(calls.describe_group(topic, group_id))

    async def delete_group(self, topic: str, group_id: str) -> None:
        """Delete the group's offsets for ``topic``."""
        await self._execute(calls.delete_group(topic, group_id))

    async def get_lag(self, topic: str, group_id: str, partition: int = 0) -> ConsumerLag:
        """Committed vs latest offset of one partition."""
        return await self._execute(calls.get_lag(topic, group_id, partition))

    async def seek_to_timestamp(self, topic: str, group_id: str, partition: int, timestamp_ms: int) -> int:
        """Not possible with FlyMQ 1.26 (no timestamps are stored); raises like the sync client."""
        raise UnsupportedOperationError(
            "seek_to_timestamp is not supported: the FlyMQ server stores no timestamps with messages "
            "and does not implement SEEK_TO_TIMESTAMP (opcode 0x66)",
            hint="Track the offsets you need yourself (e.g. commit them per time bucket) and use "
            "reset_offset(..., mode='offset', offset=N).",
            opcode=int(OpCode.SEEK_TO_TIMESTAMP),
        )

    # ================================================================== schemas

    async def register_schema(self, name: str, schema_type: str, schema: Any) -> SchemaRegistration:
        """Register a new version of schema ``name`` (``json``, ``avro`` or ``protobuf``)."""
        registration = await self._execute(calls.register_schema(name, schema_type, schema))
        self._schemas.forget(name)
        return registration

    async def get_schema(self, name: str, version: int = 0) -> SchemaInfo:
        """A schema version (0 = latest)."""
        return await self._execute(calls.get_schema(name, version))

    async def list_schemas(self, name_filter: str = "") -> list[SchemaInfo]:
        """Every schema version (optionally only those of ``name_filter``)."""
        return await self._execute(calls.list_schemas(name_filter))

    async def validate_schema(self, name: str, message: bytes | str) -> ValidationResult:
        """Validate ``message`` against the latest version of ``name`` on the server."""
        return await self._execute(calls.validate_schema(name, message))

    async def delete_schema(self, name: str, version: int) -> None:
        """Delete one version (>= 1) of schema ``name``."""
        await self._execute(calls.delete_schema(name, version))
        self._schemas.forget(name)

    async def produce_with_schema(
        self, topic: str, data: bytes | str, schema_name: str, *, validate: bool = True
    ) -> RecordMetadata:
        """Produce a keyless record that must match the latest version of ``schema_name``.

        Validated locally first, as by :meth:`FlyMQClient.produce_with_schema` (the server validates
        only when its schema feature is on, and only partly: SEMANTICS_NOTES #28);
        ``validate=False`` leaves validation to the server.  The reply always says partition 0.
        """
        call, raw = self._schema_produce_call(topic, data, schema_name)
        if validate:
            cached = self._schemas.cached(schema_name)
            try:
                self._schemas.check(cached or await self._fetch_schema(schema_name), raw)
            except SchemaValidationError as refused:
                if cached is None:
                    raise
                # The cached copy (kept 30 s) may predate a new version: judge by the latest.
                try:
                    latest = await self._fetch_schema(schema_name)
                except FlyMQError:
                    raise refused from None  # no second opinion: the refusal stands
                self._schemas.check(latest, raw)
        return await self._execute(call)

    async def _fetch_schema(self, name: str) -> SchemaInfo:
        """The latest version of ``name`` from the registry, cached for local validation."""
        try:
            return self._schemas.remember(await self.get_schema(name))
        except SchemaNotFoundError as exc:
            raise self._schemas.not_registered(name, exc) from None

    async def produce_object(
        self, topic: str, obj: Any, key: bytes | str | None = None, *, serializer: Any = "json"
    ) -> RecordMetadata:
        """Serialise ``obj`` with a codec (``"json"``/``"avro"``/..., a codec object, or a pydantic
        model class) and produce it (see :meth:`FlyMQClient.produce_object`)."""
        from pyflymq_serde import resolve_codec

        return await self.produce(topic, resolve_codec(serializer).serialize(obj), key=key)

    async def consume_object(
        self, topic: str, offset: int = 0, partition: int = 0, *, deserializer: Any = "json"
    ) -> Any:
        """Consume one record and deserialise its value with a codec (see :meth:`produce_object`)."""
        from pyflymq_serde import resolve_codec

        message = await self.consume(topic, offset, partition)
        return resolve_codec(deserializer).deserialize(message.value)

    # ================================================================== DLQ, delayed, TTL

    async def fetch_dlq(self, topic: str, max_messages: int = 10) -> list[DLQMessage]:
        """Dead-letter records of ``topic`` (always from the start)."""
        return await self._execute(calls.fetch_dlq(topic, max_messages))

    async def replay_dlq(self, topic: str, message_id: str) -> None:
        """Re-produce a dead-letter record to its original topic (the record stays in the DLQ)."""
        await self._execute(calls.replay_dlq(topic, message_id))

    async def purge_dlq(self, topic: str) -> None:
        """Delete every dead-letter record of ``topic``."""
        await self._execute(calls.purge_dlq(topic))

    async def produce_delayed(self, topic: str, value: bytes | str, delay_ms: int) -> RecordMetadata:
        """Deliver ``value`` after ``delay_ms`` (see :meth:`FlyMQClient.produce_delayed`)."""
        return await self._execute(
            calls.produce_delayed(
                topic, value, delay_ms, encode_value=self._value_encoder, compress=self._compress
            )
        )

    async def produce_with_ttl(self, topic: str, value: bytes | str, ttl_ms: int) -> RecordMetadata:
        """Produce with a TTL (recorded, not enforced by FlyMQ 1.26)."""
        return await self._execute(
            calls.produce_with_ttl(
                topic, value, ttl_ms, encode_value=self._value_encoder, compress=self._compress
            )
        )

    # ================================================================== transactions

    def begin_transaction(self) -> AsyncTransaction:
        """A client-side transaction: produces are buffered and sent at ``await txn.commit()``."""
        self._check_open()
        from pyflymq_core.aio.transaction import AsyncTransaction

        return AsyncTransaction(self)

    def transaction(self) -> AsyncTransaction:
        """``async with client.transaction() as txn:`` — commits on success, rolls back on exception."""
        return self.begin_transaction()

    # ================================================================== authentication and users

    async def authenticate(self, username: str, password: str) -> AuthResult:
        """Authenticate the connection (and every future reconnect) as ``username``."""
        conn = await self._primary_connection()
        if not await self._probe_auth(conn):
            raise self._nothing_to_authenticate(conn)
        result = await self._execute(calls.authenticate(username, password), conn)
        conn.username = result.username
        self._credentials = (username, password)
        for other in list(self._pool.values()):  # keep every connection on the same identity
            if not other.closed:
                await self._execute(calls.authenticate(username, password), other)
                other.username = result.username
        return result

    async def whoami(self) -> WhoAmI:
        """The identity of the bootstrap connection."""
        return await self._execute(calls.whoami())

    async def create_user(self, username: str, password: str, roles: Iterable[str] | None = None) -> UserInfo:
        """Create a user with ``roles``."""
        return await self._execute(calls.create_user(username, password, roles))

    async def get_user(self, username: str) -> UserInfo:
        """A user, with the permissions its roles grant."""
        return await self._execute(calls.get_user(username))

    async def list_users(self) -> list[UserInfo]:
        """Every user."""
        return await self._execute(calls.list_users())

    async def update_user(
        self, username: str, *, roles: Iterable[str] | None = None, enabled: bool | None = None
    ) -> None:
        """Change roles and/or the enabled flag (what is not given is read back and kept)."""
        if roles is None or enabled is None:
            current = await self.get_user(username)
            roles = current.roles if roles is None else roles
            enabled = current.enabled if enabled is None else enabled
        await self._execute(calls.update_user(username, roles, enabled))

    async def delete_user(self, username: str) -> None:
        """Delete a user (not your own account)."""
        await self._execute(calls.delete_user(username))

    async def change_password(self, username: str, new_password: str, old_password: str = "") -> None:
        """Change a password: your own with ``old_password``, anyone's as admin."""
        await self._execute(calls.change_password(username, new_password, old_password))

    async def set_acl(
        self,
        topic: str,
        *,
        public: bool = False,
        allowed_users: Iterable[str] = (),
        allowed_roles: Iterable[str] = (),
    ) -> None:
        """Replace the ACL of ``topic``."""
        await self._execute(
            calls.set_acl(topic, public=public, allowed_users=allowed_users, allowed_roles=allowed_roles)
        )

    async def get_acl(self, topic: str) -> AclInfo:
        """The ACL of ``topic``."""
        return await self._execute(calls.get_acl(topic))

    async def delete_acl(self, topic: str) -> None:
        """Remove the ACL of ``topic``."""
        await self._execute(calls.delete_acl(topic))

    async def list_acls(self) -> AclList:
        """Every ACL plus the server's ``default_public`` setting."""
        return await self._execute(calls.list_acls())

    async def list_roles(self) -> list[RoleInfo]:
        """The roles and their permissions."""
        return await self._execute(calls.list_roles())

    async def audit_query(
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
        """Audit events, newest first (times in Unix **seconds**, 0 = open)."""
        query = calls.audit_fields(
            start_time, end_time, event_types, user, resource, result, search, limit, offset
        )
        return await self._execute(calls.audit_query(query))

    async def audit_export(
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
        """Export audit events as ``json`` or ``csv`` (at most 100 events)."""
        query = calls.audit_fields(start_time, end_time, event_types, user, resource, result, search, 0, 0)
        return await self._execute(calls.audit_export(query, export_format))

    # ================================================================== introspection

    async def connection(self) -> AsyncConnection:
        """The live bootstrap :class:`AsyncConnection`, for pipelining with ``submit()`` (advanced)."""
        return await self._primary_connection()


async def _discard_opened(opening: asyncio.Future[AsyncConnection]) -> None:
    """Close the connection a finished connect made (its caller is gone), or take its error (so
    asyncio does not log it as never retrieved)."""
    if opening.cancelled():
        return
    error = opening.exception()
    if error is None:
        await asyncio.shield(opening.result().close("the connecting call was cancelled"))


async def _keepalive_loop(ref: weakref.ref[AsyncFlyMQClient], interval: float) -> None:
    """Tick about every ``interval / 2`` s while the client lives; holds only a weak reference."""
    period = max(0.05, interval / 2.0)
    while True:
        await asyncio.sleep(period)
        client = ref()
        if client is None or client.closed:
            return
        try:
            await client._keepalive_tick(interval)
        except Exception:
            logger.warning("keep-alive tick failed; the next call will reconnect if needed", exc_info=True)
        finally:
            del client


async def connect_async(servers: str | Iterable[str] = "localhost:9092", **options: Any) -> AsyncFlyMQClient:
    """``client = await connect_async("localhost:9092")`` — an :class:`AsyncFlyMQClient`, connected."""
    client = AsyncFlyMQClient(servers, **options)
    try:
        await client.connect()
    except BaseException:
        await client.close()
        raise
    return client
