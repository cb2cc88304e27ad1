"""What the sync and asyncio clients share: configuration, addresses, transport options, the value
seam, the metadata cache, and every *decision* of the request policy.  No I/O.

The two clients differ only in how they wait (threads and locks vs. the event loop).  Everything
they decide is here, once, so they cannot drift apart:

* :class:`RetryPolicy` — what a failed request leads to: re-send on a fresh connection (never
  written, or an idempotent read after a connection loss), follow a ``not leader`` answer once,
  re-send a keyless record a node refused as ``not partition leader`` to the same node, close an
  out-of-step connection, or fail with an error that says whether a write may have been applied.
  A peer's cluster (Raft) address is never dialed (see :mod:`pyflymq_core.client.cluster`).
* :class:`BootstrapPlan` — the failover order over the bootstrap servers, in rounds with backoff,
  which errors stop the search, and the final error naming every server tried and why.
* Authentication decisions (:class:`ClientBase` ``_auth_*`` methods): when to probe whether the
  server enforces authentication, what the probe's answer means, and the errors for operations a
  server without authentication cannot serve (FlyMQ 1.26 crashes on AUTH and user/ACL requests
  when authentication is off).
* Keyed-produce routing (``_route_target``): which partition leader a record should go to, or
  :class:`~pyflymq_core.errors.LeaderAddressUnknownError` before anything is sent when the
  metadata names that leader only by its cluster (Raft) address.
* Observation: every request, ordinary calls, the authentication probe, AUTH itself and keep-alive
  requests alike, is counted and shown to the lifecycle hooks by the client's
  :class:`~pyflymq_core.client.observer.RequestObserver` (``client.observer``).

The value seam: every produced value goes through :meth:`ClientBase._encode_value` and every
consumed value through :meth:`ClientBase._decode_value` (the call builders receive
``_value_encoder``/``_value_decoder``, ``None`` when there is nothing to do, so hot loops skip the
call).  With ``encryption_enabled`` the transform is AES-256-GCM from :mod:`pyflymq_serde.values`, so
no produce or consume variant can bypass encryption.  DLQ records are returned as stored (their
payload is replayed verbatim by the server).
"""

from __future__ import annotations

import itertools
import logging
import warnings
from collections.abc import Mapping
from typing import Any, Generic, NamedTuple, Protocol, TypeVar

from pyflymq_core import validation as v
from pyflymq_core.client import calls
from pyflymq_core.client.calls import Call, OutOfStepError, ValueDecoder, ValueEncoder, op_name
from pyflymq_core.client.cluster import (
    MetadataCache,
    RouteEntry,
    led_by_cluster_address,
    resolve_leader_address,
)
from pyflymq_core.client.connection import NotSentError
from pyflymq_core.client.observer import RequestObserver
from pyflymq_core.client.schema_guard import SchemaGuard
from pyflymq_core.config import ClientConfig
from pyflymq_core.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    ConnectionError,
    FeatureDisabledError,
    FlyMQError,
    LeaderAddressUnknownError,
    NotLeaderError,
    TimeoutError,
    TopicNotFoundError,
)
from pyflymq_core.models import AuthResult, ClusterMetadata, RecordMetadata
from pyflymq_core.protocol import OpCode
from pyflymq_transports.base import ServerAddress, TransportOptions, parse_address

__all__ = [
    "AUTH_STORE_OPS",
    "NEEDS_METADATA",
    "BootstrapPlan",
    "ClientBase",
    "ConnectionState",
    "RetryPolicy",
    "Step",
    "build_config",
    "cluster_address_error",
]

logger = logging.getLogger("pyflymq.client")

#: Opcodes that read the server's user/ACL store: they crash a server whose authentication is off.
AUTH_STORE_OPS = frozenset(int(op) for op in range(OpCode.USER_CREATE, OpCode.ROLE_LIST + 1))
_PRODUCE = int(OpCode.PRODUCE)
_client_ids = itertools.count(1)

#: ``_route_target`` answer: the topic's partition layout must be fetched first.
NEEDS_METADATA = ServerAddress("", 0, "needs-metadata")
#: Re-sends of one keyless record refused as ``not partition leader`` when the topic's partition
#: count is unknown (each refusal must also name a partition not refused before).
KEYLESS_RESENDS_UNKNOWN_LAYOUT = 64


class ConnectionState(Protocol):
    """What the policy reads and records on a connection (sync or asyncio)."""

    address: ServerAddress
    label: str
    close_reason: str | None
    username: str | None
    auth_enabled: bool | None

    @property
    def closed(self) -> bool:
        """Whether the connection is unusable (a new one must be opened)."""
        ...

    @property
    def in_flight(self) -> int:
        """Requests written and not yet answered (an idle connection may be kept alive)."""
        ...

    def idle_for(self) -> float:
        """Seconds since the last request or response (drives keep-alive)."""
        ...


ConnT = TypeVar("ConnT", bound=ConnectionState)
T = TypeVar("T")


def build_config(
    bootstrap_servers: Any,
    config: ClientConfig | None,
    username: str | None,
    password: str | None,
    options: Mapping[str, Any],
) -> ClientConfig:
    """The effective :class:`ClientConfig` from the constructor arguments.

    ``config`` is the base; ``bootstrap_servers``, ``username``, ``password`` and keyword options
    override it.  A :class:`ClientConfig` passed as the first argument is taken as ``config``.
    """
    if isinstance(bootstrap_servers, ClientConfig):
        if config is not None:
            raise ConfigurationError("pass the ClientConfig once (either positionally or as config=)")
        config, bootstrap_servers = bootstrap_servers, None
    if config is not None and not isinstance(config, ClientConfig):
        raise ConfigurationError(
            f"config must be a ClientConfig, got {type(config).__name__}",
            hint="Build it with pyflymq.ClientConfig(...), or pass the options as keywords.",
        )
    changes = dict(options)
    if bootstrap_servers is not None:
        changes["bootstrap_servers"] = bootstrap_servers
    if username is not None:
        changes["username"] = username
    if password is not None:
        changes["password"] = password
    if config is None:
        return ClientConfig(**changes)
    return config.with_options(**changes) if changes else config


# --------------------------------------------------------------------------- the retry policy


class Step(NamedTuple):
    """What the request loop does after a failed attempt, decided by :meth:`RetryPolicy.after`.

    ``error is None``: send the call again — to ``target`` when given (a reported leader, or the
    same node), else on a freshly routed connection; with ``refresh`` set, first re-read the call
    topic's CLUSTER_METADATA and ask :meth:`RetryPolicy.after` again (it then knows the layout).
    Otherwise raise ``error`` (chained to the failure when it is a different object), after closing
    the connection first when ``close`` is set (out of step).
    """

    error: FlyMQError | None
    target: ServerAddress | None = None
    close: bool = False
    refresh: bool = False


_RESEND = Step(None)
_REFRESH = Step(None, refresh=True)


def cluster_address_error(
    what: str,
    node: str,
    address: str,
    *,
    partition: int | None = None,
    topic: str | None = None,
    leader_id: str | None = None,
    server_message: str | None = None,
) -> LeaderAddressUnknownError:
    """The error of a write whose leader ``node`` names only by the cluster (Raft) ``address``:
    nothing was written, and the address is not dialed (it speaks Raft, not the client protocol)."""
    where = "the leader" if partition is None else f"the leader of partition {partition}"
    return LeaderAddressUnknownError(
        f"{what}: {node} names {where} only by the cluster address {address}. FlyMQ 1.26 names "
        "other nodes by their cluster (Raft) address, not their client address, and does not forward "
        "requests, so the record cannot be written through this node; nothing was written (pyflymq "
        "never dials a cluster address)",
        hint=(
            "Produce keyless records (each node accepts those on a partition it leads), or use keys "
            f"that map to a partition {node} leads itself (client.get_metadata("
            f"{'topic' if topic is None else repr(topic)}) lists those with a node id as leader_id; "
            "every node leads partition 0), or use a standalone or single-node server. "
            "Bootstrapping to another node does not help: FlyMQ 1.26 nodes name each other's "
            "partitions by cluster address too."
        ),
        server_message=server_message,
        leader_addr=address,
        leader_id=leader_id,
        partition=partition,
        topic=topic,
    )


def _keyless_refused_error(
    call: Call[Any], exc: NotLeaderError, refused: list[int | None], node: str
) -> NotLeaderError:
    """A keyless record the node kept refusing: its round-robin found no partition it leads."""
    picked = ", ".join("?" if p is None else str(p) for p in refused)
    named = f" (naming their leader as {exc.leader_addr})" if exc.leader_addr else ""
    return NotLeaderError(
        f"{call.describe()} was refused {len(refused)} time(s) by {node}: its round-robin picked "
        f"partition(s) {picked}, which it does not lead{named}, and FlyMQ does not forward requests; "
        "the record was not written",
        hint=(
            "Produce it again: every attempt moves the node's round-robin on. In a multi-node FlyMQ "
            "1.26 cluster a node accepts writes only for the partitions it leads itself "
            "(client.get_metadata(topic) lists those with a node id as leader_id); concurrent "
            "producers on the same node share its round-robin."
        ),
        server_message=exc.server_message,
        leader_addr=exc.leader_addr,
        leader_id=exc.leader_id,
        partition=exc.partition,
        partition_leader=True,
    )


class RetryPolicy:
    """The retry and redirect decisions for one call, across its attempts (sans-IO).

    * Never written (:class:`NotSentError`, the connection was found dead first): always safe to
      send again — up to ``max_retries + 1`` times.
    * Connection lost after writing: only idempotent reads are re-sent (``max_retries`` times); a
      write fails saying it may or may not have been applied (never silently re-sent).
    * Timeout: a write's error says it may have been applied; nothing is re-sent.
    * ``not leader`` with a leader address: followed once (the topic's routing entry is dropped).
    * ``not partition leader`` (FlyMQ 1.26 names the leader by its cluster address there):

      - keyless record: the node's round-robin picked a partition it does not lead and the record
        was not written; it is re-sent to the *same* node (the round-robin moves on), once per
        partition — it stops at a partition refused before, or after as many attempts as the topic
        has partitions (when known) — then fails with a :class:`NotLeaderError` saying so;
      - keyed record: the topic's metadata is re-read first; a leader the metadata lists only by
        its cluster (Raft) address ends the call with :class:`LeaderAddressUnknownError`, any other
        address is followed once.

      Neither counts against ``max_retries`` (nothing was written; like the redirect).
    * An address the metadata lists as a cluster (Raft) address is never dialed.
    * A response that does not answer the request: the connection is closed.
    """

    __slots__ = ("attempts", "call", "max_retries", "metadata", "redirected", "refreshed", "refused")

    def __init__(self, call: Call[Any], max_retries: int, metadata: MetadataCache) -> None:
        self.call = call
        self.max_retries = max_retries
        self.metadata = metadata
        self.attempts = 0
        self.redirected = False
        self.refreshed = False
        #: Partitions that refused this keyless record, in order.
        self.refused: list[int | None] = []

    def after(self, exc: FlyMQError, conn: ConnectionState) -> Step:
        """The next step after attempt failed with ``exc`` on ``conn``."""
        call = self.call
        if isinstance(exc, NotSentError):
            self.attempts += 1
            if self.attempts > self.max_retries + 1:
                return Step(exc)
            logger.info("%s not sent (%s); reconnecting", call.describe(), exc)
            return _RESEND
        if isinstance(exc, OutOfStepError):
            return Step(exc, close=True)
        if isinstance(exc, NotLeaderError):
            return self._not_leader(exc, conn)
        if isinstance(exc, TimeoutError):
            if call.write:
                return Step(
                    TimeoutError(
                        f"{call.describe()}: {exc}; the request was sent, so it may or may not have been "
                        "applied (it is not retried automatically)",
                        hint=exc.hint,
                    )
                )
            return Step(exc)
        if isinstance(exc, ConnectionError):
            if call.idempotent and self.attempts < self.max_retries:
                self.attempts += 1
                logger.warning(
                    "%s failed (%s); retrying (%d/%d)", call.describe(), exc, self.attempts, self.max_retries
                )
                return _RESEND
            if call.write:
                return Step(
                    ConnectionError(
                        f"{call.describe()} failed: {exc}. The request was sent, so it may or may not have "
                        "been applied; it was not retried automatically",
                        hint="Check whether the write happened (e.g. fetch the topic) before retrying it.",
                    )
                )
        return Step(exc)

    def _not_leader(self, exc: NotLeaderError, conn: ConnectionState) -> Step:
        """``not leader`` / ``not partition leader``: re-send, follow, refresh first, or fail."""
        call = self.call
        address = exc.leader_addr
        if not exc.retriable:
            return Step(exc)
        if exc.partition_leader and call.topic is not None:
            if not call.key:
                return self._keyless_refused(exc, conn)
            if address and not self.refreshed and not self.metadata.cluster_address(address):
                # Learn the topic's layout before following: the address may be a cluster address.
                self.refreshed = True
                self.metadata.invalidate(call.topic)
                return _REFRESH
        if address and self.metadata.cluster_address(address):
            return Step(
                cluster_address_error(
                    f"{call.describe()} was refused",
                    conn.label,
                    address,
                    partition=exc.partition,
                    topic=call.topic,
                    leader_id=exc.leader_id,
                    server_message=exc.server_message,
                )
            )
        if self.redirected or not address:
            return Step(exc)
        self.redirected = True
        if call.topic is not None:
            self.metadata.invalidate(call.topic)
        target = resolve_leader_address(address, conn.address)
        logger.info("%s: %s is not the leader; retrying once on %s", call.describe(), conn.label, target)
        return Step(None, target)

    def _keyless_refused(self, exc: NotLeaderError, conn: ConnectionState) -> Step:
        """A keyless record refused as ``not partition leader``: same node again, or give up."""
        call = self.call
        assert call.topic is not None
        refused = self.refused
        entry = self.metadata.get(call.topic)
        count = None if entry is None else entry.partition_count
        limit = count or KEYLESS_RESENDS_UNKNOWN_LAYOUT
        again = exc.partition not in refused and len(refused) + 1 < limit
        refused.append(exc.partition)
        if not again:
            return Step(_keyless_refused_error(call, exc, refused, conn.label))
        logger.info(
            "%s: %s does not lead partition %s (round-robin); re-sending to the same node",
            call.describe(),
            conn.label,
            "?" if exc.partition is None else exc.partition,
        )
        return Step(None, conn.address)


# --------------------------------------------------------------------------- bootstrap and failover


class BootstrapPlan:
    """The failover search over the bootstrap list (sans-IO): the clients connect, this decides.

    Servers are tried in order starting with the last one that worked, in ``rounds`` rounds
    ``delay`` seconds apart.  Authentication and configuration errors end the search at once
    (another server would refuse the same credentials); anything else is recorded and the next
    server is tried.  :meth:`exhausted` is the error naming every server and why it failed.
    """

    def __init__(self, servers: list[ServerAddress], last_good: int, max_retries: int, delay: float) -> None:
        self.servers = servers
        self.order = servers[last_good:] + servers[:last_good]
        self.rounds = 1 + max_retries
        self.delay = delay
        self.reasons: dict[str, str] = {}
        #: The specific advice of the failures (TLS verification, handshake), when they gave one.
        self.hints: dict[str, str] = {}

    def failed(self, address: ServerAddress, exc: FlyMQError) -> bool:
        """Record that ``address`` failed with ``exc``; ``False`` when the search must stop (re-raise)."""
        if isinstance(exc, (AuthenticationError, AuthorizationError, ConfigurationError)):
            return False
        if isinstance(exc, (ConnectionError, TimeoutError)):
            self.reasons[str(address)] = str(exc)
            if exc.hint and exc.hint != ConnectionError.default_hint:
                self.hints[str(address)] = exc.hint
        else:
            self.reasons[str(address)] = f"{type(exc).__name__}: {exc}"
        logger.warning("cannot use %s: %s", address, exc)
        return True

    def index(self, address: ServerAddress) -> int:
        """The position of the server that answered (the next search starts there)."""
        return self.servers.index(address)

    def pause(self, round_index: int) -> float | None:
        """Seconds to wait after round ``round_index`` failed (``None`` after the last round)."""
        if round_index + 1 >= self.rounds:
            return None
        logger.info(
            "no FlyMQ server reachable (round %d of %d); retrying in %.3g s",
            round_index + 1,
            self.rounds,
            self.delay,
        )
        return self.delay

    def exhausted(self) -> ConnectionError:
        """The error once every round failed."""
        rounds = self.rounds
        return self._error(
            f"could not connect to any FlyMQ server ({rounds} round{'s' if rounds != 1 else ''})"
        )

    def out_of_time(self) -> ConnectionError:
        """The error when the caller's deadline (a ``poll`` timeout) ends the search early."""
        return self._error("no FlyMQ server connected within the time left")

    def _error(self, what: str) -> ConnectionError:
        tried = [(str(a), self.reasons.get(str(a), "not tried")) for a in self.servers]
        detail = "; ".join(f"{addr}: {why}" for addr, why in tried)
        # One specific piece of advice shared by every failure (a TLS set-up problem, say) beats
        # the generic "is the server running?".
        hints = set(self.hints.values())
        specific = hints.pop() if len(hints) == 1 and len(self.hints) == len(self.reasons) else None
        return ConnectionError(f"{what}: {detail}", servers_tried=tried, hint=specific)


def _warn_ignored_settings(config: ClientConfig, servers: list[ServerAddress]) -> None:
    """Settings that do nothing in this configuration.  Each would otherwise leave the data in
    plaintext without a word to a user who clearly asked for protection, so the client says so (a
    ``UserWarning`` and a log line) rather than refuse: a key kept in a disabled configuration is
    legitimate."""
    ignored: list[str] = []
    if config.encryption_key is not None and not config.encryption_enabled:
        ignored.append(
            "encryption_key is set but encryption_enabled is False: values are produced and read "
            "unencrypted (pass encryption_enabled=True to encrypt)"
        )
    if config.uses_tls_options and not any(server.scheme == "flymqs" for server in servers):
        ignored.append(
            "TLS options are set (tls_ca_file, tls_cert_file, tls_key_file or "
            "tls_insecure_skip_verify) but TLS is off: the connection is plain TCP (pass "
            "tls_enabled=True or flymqs:// addresses to use TLS)"
        )
    for text in ignored:
        logger.warning("%s", text)
        warnings.warn(text, UserWarning, stacklevel=4)


# --------------------------------------------------------------------------- the shared client state


class ClientBase(Generic[ConnT]):
    """Configuration-derived state and the policy decisions common to every client flavour."""

    def __init__(self, config: ClientConfig, transport_factory: Any = None) -> None:
        self._config = config
        self._id = next(_client_ids)
        self._transport_factory = transport_factory
        self._request_timeout = config.request_timeout
        self._max_retries = config.max_retries
        default_scheme = "flymqs" if config.tls_enabled else "flymq"
        self._servers: list[ServerAddress] = [
            parse_address(server, default_scheme=default_scheme) for server in config.bootstrap_servers
        ]
        _warn_ignored_settings(config, self._servers)
        self._transport_options = TransportOptions(
            connect_timeout=config.connect_timeout,
            tls_ca_file=config.tls_ca_file,
            tls_cert_file=config.tls_cert_file,
            tls_key_file=config.tls_key_file,
            tls_insecure_skip_verify=config.tls_insecure_skip_verify,
            tls_server_hostname=config.tls_server_hostname,
        )
        self._metadata = MetadataCache(config.metadata_max_age_ms / 1000.0)
        self._schemas = SchemaGuard()
        self._compress = config.compression == "gzip"
        self._closed = False
        self._primary: ConnT | None = None
        self._pool: dict[ServerAddress, ConnT] = {}
        self._last_good = 0
        self._credentials: tuple[str, str] | None = None
        if config.username is not None and config.password is not None:
            self._credentials = (config.username, config.password.get_secret_value())
        self._auth_disabled_warned = False
        self._reconnects = 0
        from pyflymq_core.plugins import get_lifecycle

        self._lifecycle = get_lifecycle()
        #: Counts every request and shows it to the lifecycle hooks; the producers and consumers,
        #: which write their own frames, report them here too.
        self.observer = RequestObserver(self, self._lifecycle)
        #: ``None`` while the value seam is the identity (skips a call per message on hot paths).
        self._value_encoder: ValueEncoder | None = None
        self._value_decoder: ValueDecoder | None = None
        if config.encryption_enabled:
            # The transform comes from pyflymq_serde (AES-256-GCM, FlyMQ's format; extra "crypto").
            from pyflymq_serde.values import value_transform_from_config

            transform = value_transform_from_config(config)
            if transform.enabled:
                self._value_encoder = transform.encode
                self._value_decoder = transform.decode

    # -- configuration and state ------------------------------------------------------------------

    @property
    def config(self) -> ClientConfig:
        """The configuration this client runs with (immutable)."""
        return self._config

    @property
    def bootstrap_servers(self) -> list[ServerAddress]:
        """The parsed bootstrap list."""
        return list(self._servers)

    @property
    def closed(self) -> bool:
        """Whether ``close()`` was called."""
        return self._closed

    @property
    def connected_server(self) -> str | None:
        """``host:port`` of the current bootstrap connection (``None`` when not connected)."""
        conn = self._primary
        return None if conn is None or conn.closed else str(conn.address)

    def _connections(self) -> list[ConnT]:
        """Every connection (bootstrap + pooled)."""
        return [c for c in (self._primary, *self._pool.values()) if c is not None]

    def metrics(self) -> dict[str, Any]:
        """Client-side counters: requests, errors, reconnects, open connections, in-flight requests."""
        connections = [c for c in self._connections() if not c.closed]
        return {
            "requests": self.observer.requests,
            "errors": self.observer.errors,
            "reconnects": self._reconnects,
            "connections": len(connections),
            "in_flight": sum(c.in_flight for c in connections),
            "connected_server": self.connected_server,
        }

    def __repr__(self) -> str:
        conn = self._primary
        where = conn.label if conn is not None and not conn.closed else "not connected"
        state = "closed" if self._closed else where
        return f"<{type(self).__name__} #{self._id} {state}>"

    @staticmethod
    def _closed_error() -> ConnectionError:
        """The error of any call on a closed client."""
        return ConnectionError("the client is closed", hint="Create a new client.")

    def _check_open(self) -> None:
        """Refuse to build a producer, consumer or transaction on a closed client: it could never
        send anything, and would only find out at its first request."""
        if self._closed:
            raise self._closed_error()

    @staticmethod
    def _interrupted_error() -> ConnectionError:
        """The error of a bootstrap interrupted by ``close()``."""
        return ConnectionError("the client was closed while connecting")

    def _bootstrap_plan(self) -> BootstrapPlan:
        """A fresh failover search over the bootstrap list."""
        return BootstrapPlan(self._servers, self._last_good, self._max_retries, self._config.retry_delay)

    def _retry_policy(self, call: Call[Any]) -> RetryPolicy:
        """The retry and redirect decisions for one call."""
        return RetryPolicy(call, self._max_retries, self._metadata)

    def _connected(self, conn: ConnT, address: ServerAddress) -> None:
        """A connection to ``address`` is open (and authenticated when credentials were given)."""
        logger.info("connected to %s%s", conn.label, f" as {conn.username!r}" if conn.username else "")
        if self._lifecycle.active:
            self._lifecycle.client_connected(self, str(address))

    # -- authentication -------------------------------------------------------------------------

    def _auth_probe_due(self, conn: ConnT) -> bool:
        """Whether it is still unknown if the server behind ``conn`` enforces authentication."""
        return conn.username is None and conn.auth_enabled is None

    def _auth_probed(self, conn: ConnT, error: FlyMQError | None) -> None:
        """Record the LIST_GROUPS probe's outcome: refused = enforced, answered = off."""
        if error is None:
            conn.auth_enabled = False
        elif isinstance(error, (AuthenticationError, AuthorizationError)):
            conn.auth_enabled = True
        else:
            raise error

    def _auth_enforced(self, conn: ConnT) -> bool:
        """Whether the server enforces authentication (after the probe, if one was due)."""
        return conn.username is not None or bool(conn.auth_enabled)

    def _login_skipped(self, conn: ConnT) -> AuthResult:
        """Credentials given, but the server has authentication off: do not send them (warned once)."""
        if not self._auth_disabled_warned:
            self._auth_disabled_warned = True
            logger.warning(
                "%s has authentication disabled: credentials are not sent (AUTH would crash it)",
                conn.label,
            )
        return AuthResult(success=False, username="", roles=[])

    def _auth_store_refused(self, conn: ConnT, call: Call[Any]) -> FeatureDisabledError:
        """The error of a user/ACL/role request to a server without authentication."""
        return FeatureDisabledError(
            f"{op_name(call.op)} needs authentication to be enabled on the server, and {conn.label} "
            "has it disabled (FlyMQ 1.26 crashes on user, ACL and role requests in that mode)",
            hint="Enable auth in the server configuration to manage users, ACLs and roles.",
        )

    def _nothing_to_authenticate(self, conn: ConnT) -> FeatureDisabledError:
        """The error of ``authenticate()`` on a server without authentication."""
        return FeatureDisabledError(
            f"{conn.label} has authentication disabled; there is nothing to authenticate against",
            hint="Enable auth in the server configuration, or connect without credentials.",
        )

    # -- routing --------------------------------------------------------------------------------

    def _routed(self, call: Call[Any]) -> bool:
        """Whether ``call`` may have to go to another node than the bootstrap one (a keyed produce)."""
        return call.op == _PRODUCE and bool(call.key) and not self._metadata.standalone

    def _route_target(self, call: Call[Any], primary: ServerAddress) -> ServerAddress | None:
        """The partition leader a keyed produce should go to; ``None`` = the bootstrap connection,
        :data:`NEEDS_METADATA` = fetch the topic's layout first (the clients' ``_refresh_metadata``), then
        ask :meth:`_leader_of`."""
        assert call.topic is not None
        entry = self._metadata.get(call.topic)
        if entry is None:
            return NEEDS_METADATA
        return self._leader_of(call, entry, primary)

    def _store_metadata(
        self, topic: str, metadata: ClusterMetadata | None, error: FlyMQError | None
    ) -> RouteEntry | None:
        """Cache a CLUSTER_METADATA answer about ``topic`` (``error``: it failed); the topic's entry
        (an "unknown topic" one for ``TopicNotFoundError``), ``None`` after any other failure."""
        if error is not None:
            if isinstance(error, TopicNotFoundError):
                return self._metadata.put_unknown(topic)
            logger.info("no cluster metadata for %r (%s); the bootstrap connection is used", topic, error)
            return None
        assert metadata is not None
        self._metadata.put_metadata(metadata)
        return self._metadata.get(topic) or self._metadata.put_unknown(topic)

    def _leader_of(self, call: Call[Any], entry: RouteEntry, primary: ServerAddress) -> ServerAddress | None:
        """The leader of the key's partition, unless it is the bootstrap server (or unknown).

        Raises :class:`LeaderAddressUnknownError` when the metadata names that leader only by its
        cluster (Raft) address: the server would refuse the record, and that address is not a
        client endpoint.  Nothing has been sent then."""
        if entry.cluster_id == "standalone":
            return None
        assert call.key is not None
        partition = entry.partition_for_key(call.key)
        if partition is None:
            return None
        leader = partition.leader_addr
        address = resolve_leader_address(leader, primary)
        if address == primary:
            return None
        if led_by_cluster_address(partition) and self._metadata.cluster_address(leader):
            raise cluster_address_error(
                f"cannot produce the keyed record to {call.topic!r} (its key maps to partition "
                f"{partition.partition})",
                str(primary),
                leader,
                partition=partition.partition,
                topic=call.topic,
                leader_id=partition.leader_id,
            )
        return address

    def _schema_produce_call(
        self, topic: str, data: bytes | str, schema_name: str
    ) -> tuple[Call[RecordMetadata], bytes]:
        """PRODUCE_WITH_SCHEMA's call and the record's bytes (what local validation checks).  Built
        before anything else, so every argument is checked before anything (even GET_SCHEMA) is
        sent."""
        raw = v.to_bytes(data, "data")
        call = calls.produce_with_schema(
            topic, raw, schema_name, encode_value=self._value_encoder, compress=self._compress
        )
        return call, raw

    def _leader_unreachable(self, address: ServerAddress, exc: FlyMQError, primary: ConnT) -> None:
        logger.warning("partition leader %s unreachable (%s); sending to %s", address, exc, primary.label)

    def _read_address(self, leader: str | None, primary: ConnT) -> ServerAddress | None:
        """Where the consumers read a partition whose leader reported ``leader`` as its address:
        that leader, or ``None`` for the bootstrap connection ``primary`` (a standalone server,
        an unknown leader, a leader known only by its cluster (Raft) address, or the bootstrap
        server itself).  FlyMQ serves reads from the local
        node (SEMANTICS_NOTES #19), so the leader is the node that has the records."""
        metadata = self._metadata
        if leader is None or metadata.standalone or metadata.cluster_address(leader):
            return None  # a cluster (Raft) address is not a client endpoint: read where we are
        address = resolve_leader_address(leader, primary.address)
        return None if address == primary.address else address

    def _leader_unreadable(
        self, address: ServerAddress, exc: FlyMQError, primary: ConnT, partition: object
    ) -> None:
        """A consumer reads ``partition`` through ``primary`` for now: its leader is unreachable."""
        logger.info(
            "leader %s of %s unreachable (%s); reading from %s", address, partition, exc, primary.label
        )

    # -- keep-alive -----------------------------------------------------------------------------

    def _keepalive_due(self, idle_after: float) -> list[ConnT]:
        """The open connections idle for ``idle_after`` s with nothing in flight (the server drops a
        connection idle for 5 minutes)."""
        if self._closed:
            return []
        return [
            c for c in self._connections() if not c.closed and not c.in_flight and c.idle_for() >= idle_after
        ]

    # -- the value seam -------------------------------------------------------------------------

    def _encode_value(self, topic: str, value: bytes) -> bytes:
        """Seam applied to every produced value (encryption when configured)."""
        encoder = self._value_encoder
        return value if encoder is None else encoder(topic, value)

    def _decode_value(self, topic: str, partition: int, offset: int, value: bytes) -> bytes:
        """Seam applied to every consumed value (decryption when configured)."""
        decoder = self._value_decoder
        return value if decoder is None else decoder(topic, partition, offset, value)
