"""pytest plugin shipped with pyflymq: FlyMQ fixtures backed by the embedded broker or a real server.

Registered through the ``pytest11`` entry point, so installing pyflymq is enough.  By default the
fixtures start the embedded broker (on loopback TCP, an ephemeral port); ``--flymq-bootstrap
host:port`` points the same fixtures at a real FlyMQ server instead, so one test suite runs against
both.  See docs/testing.md.

This module is imported by every pytest run in an environment where pyflymq is installed, so it
imports only the standard library and pytest at module level; the broker and the client are
imported inside the fixtures that need them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from pyflymq_broker import Broker, BrokerConfig
    from pyflymq_broker.cluster_server import ClusterServer
    from pyflymq_broker.server import BrokerServer

__all__ = ["FlyMQTestOptions", "FlyMQTlsEndpoint"]

EMBEDDED_ONLY_MARKER = "flymq_embedded_only"


@dataclass(frozen=True)
class FlyMQTestOptions:
    """The ``--flymq-*`` command-line options."""

    bootstrap: str | None = None
    username: str | None = None
    #: Out of ``repr()``: pytest prints fixture values in failure reports.
    password: str | None = field(default=None, repr=False)
    tls: bool = False
    tls_ca_file: str | None = None

    @property
    def embedded(self) -> bool:
        """True when the fixtures use the embedded broker (no ``--flymq-bootstrap``)."""
        return not self.bootstrap

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ``FlyMQClient`` besides the bootstrap address."""
        kwargs: dict[str, Any] = {}
        if self.username is not None:
            kwargs["username"] = self.username
        if self.password is not None:
            kwargs["password"] = self.password
        if not self.embedded and (self.tls or self.tls_ca_file):
            kwargs["tls_enabled"] = True
            if self.tls_ca_file:
                kwargs["tls_ca_file"] = self.tls_ca_file
        return kwargs


@dataclass(frozen=True)
class FlyMQTlsEndpoint:
    """A TLS-serving broker: connect to ``address`` and verify it with ``ca_file``.

    ``cert_file``/``key_file`` are the server's (``None`` for a real server); ``server`` is the
    embedded :class:`~pyflymq_broker.server.BrokerServer` (``None`` for a real server).
    """

    address: str
    ca_file: str | None
    cert_file: str | None = None
    key_file: str | None = None
    server: BrokerServer | None = None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("flymq", "FlyMQ fixtures (pyflymq)")
    group.addoption(
        "--flymq-bootstrap",
        metavar="HOST:PORT",
        default=None,
        help="run the FlyMQ fixtures against this real server instead of the embedded broker",
    )
    group.addoption("--flymq-username", default=None, help="user name for flymq_client")
    group.addoption("--flymq-password", default=None, help="password for flymq_client")
    group.addoption(
        "--flymq-tls", action="store_true", default=False, help="the --flymq-bootstrap server speaks TLS"
    )
    group.addoption(
        "--flymq-tls-ca-file",
        metavar="PATH",
        default=None,
        help="CA bundle to verify the --flymq-bootstrap server (implies --flymq-tls)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        f"{EMBEDDED_ONLY_MARKER}: skip the test when --flymq-bootstrap points the FlyMQ fixtures at a "
        "real server (for tests that inspect or configure the embedded broker)",
    )


def pytest_runtest_setup(item: pytest.Item) -> None:
    bootstrap = item.config.getoption("flymq_bootstrap", default=None)
    if bootstrap and item.get_closest_marker(EMBEDDED_ONLY_MARKER) is not None:
        pytest.skip(f"needs the embedded FlyMQ broker; --flymq-bootstrap={bootstrap} is a real server")


def _skip_real(options: FlyMQTestOptions, fixture: str) -> None:
    if not options.embedded:
        pytest.skip(
            f"{fixture} is the embedded broker; --flymq-bootstrap={options.bootstrap} points the FlyMQ "
            "fixtures at a real server"
        )


def _random_suffix() -> str:
    return os.urandom(6).hex()


@pytest.fixture(scope="session")
def flymq_options(pytestconfig: pytest.Config) -> FlyMQTestOptions:
    """The parsed ``--flymq-*`` options."""
    return FlyMQTestOptions(
        bootstrap=pytestconfig.getoption("flymq_bootstrap") or None,
        username=pytestconfig.getoption("flymq_username"),
        password=pytestconfig.getoption("flymq_password"),
        tls=bool(pytestconfig.getoption("flymq_tls")),
        tls_ca_file=pytestconfig.getoption("flymq_tls_ca_file"),
    )


@pytest.fixture(scope="session")
def flymq_broker_config() -> BrokerConfig:
    """Configuration of the embedded brokers; override this fixture (session scope) to change it.

    Default: ``BrokerConfig()`` -- auth off, schema/dlq/delayed/transaction features on.
    """
    from pyflymq_broker import BrokerConfig

    return BrokerConfig()


@pytest.fixture(scope="session")
def flymq_server(
    flymq_options: FlyMQTestOptions, flymq_broker_config: BrokerConfig
) -> Iterator[BrokerServer]:
    """The embedded broker on loopback TCP (ephemeral port), shared by the whole session."""
    _skip_real(flymq_options, "flymq_server")
    from pyflymq_broker.server import BrokerServer

    server = BrokerServer(config=_own_state(flymq_broker_config, "server")).start()
    try:
        yield server
    finally:
        server.stop()
        server.broker.close()


@pytest.fixture(scope="session")
def flymq_broker(flymq_options: FlyMQTestOptions, request: pytest.FixtureRequest) -> Broker:
    """The :class:`~pyflymq_broker.Broker` behind ``flymq_server`` (embedded only)."""
    _skip_real(flymq_options, "flymq_broker")
    server: BrokerServer = request.getfixturevalue("flymq_server")
    return server.broker


@pytest.fixture(scope="session")
def flymq_bootstrap(flymq_options: FlyMQTestOptions, request: pytest.FixtureRequest) -> str:
    """``host:port`` of the server under test: the embedded broker's, or ``--flymq-bootstrap``."""
    if flymq_options.bootstrap:
        return flymq_options.bootstrap
    server: BrokerServer = request.getfixturevalue("flymq_server")
    return server.address


@pytest.fixture
def flymq_client(flymq_bootstrap: str, flymq_options: FlyMQTestOptions) -> Iterator[Any]:
    """A connected ``pyflymq.FlyMQClient`` to ``flymq_bootstrap``, closed after the test."""
    from pyflymq import FlyMQClient

    client = FlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs())
    try:
        yield client
    finally:
        client.close()


@pytest.fixture
def flymq_memory_url(flymq_broker_config: BrokerConfig) -> Iterator[str]:
    """A ``memory://<unique>`` URL served by a fresh in-process broker (no sockets), for one test."""
    from pyflymq_broker.memory_registry import drop_memory_broker, get_memory_broker

    name = f"pytest-{_random_suffix()}"
    broker = get_memory_broker(name, _own_state(flymq_broker_config, name))
    try:
        yield f"memory://{name}"
    finally:
        drop_memory_broker(name)
        broker.close()


@pytest.fixture
def flymq_cluster(flymq_broker_config: BrokerConfig) -> Iterator[ClusterServer]:
    """A simulated three-node FlyMQ 1.26 cluster on loopback TCP, fresh for one test.

    ``.addresses`` maps ``node1``..``node3`` to ``host:port``; ``.leader_address`` is the Raft
    leader's (``node1``).  Each node leads partition 0 of every topic itself and names the others'
    partitions by a Raft address where nothing listens, as a real 1.26.11 cluster does (see
    docs/broker.md).  Always the embedded broker: a real cluster cannot be handed out per test.
    """
    from pyflymq_broker.cluster_server import ClusterServer
    from pyflymq_broker.multinode import BrokerCluster

    cluster = BrokerCluster.local(3, base=_own_state(flymq_broker_config, f"cluster-{_random_suffix()}"))
    try:
        with ClusterServer(cluster) as servers:
            yield servers
    finally:
        cluster.close()


@pytest.fixture(scope="session")
def flymq_tls_bootstrap(
    flymq_options: FlyMQTestOptions,
    flymq_broker_config: BrokerConfig,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[FlyMQTlsEndpoint]:
    """A TLS broker: embedded, with a test CA generated for the session; or the real TLS server."""
    if not flymq_options.embedded:
        if not (flymq_options.tls or flymq_options.tls_ca_file):
            pytest.skip(f"--flymq-bootstrap={flymq_options.bootstrap} is not TLS (no --flymq-tls)")
        assert flymq_options.bootstrap is not None
        yield FlyMQTlsEndpoint(flymq_options.bootstrap, flymq_options.tls_ca_file)
        return
    pytest.importorskip(
        "cryptography", reason="flymq_tls_bootstrap needs cryptography: pip install 'pyflymq[crypto]'"
    )
    from pyflymq_broker.server import BrokerServer
    from pyflymq_broker.tls_testing import generate_tls_material

    material = generate_tls_material(tmp_path_factory.mktemp("flymq-tls"))
    server = BrokerServer(
        config=_own_state(flymq_broker_config, "tls"),
        tls_cert_file=material.cert_file,
        tls_key_file=material.key_file,
    ).start()
    try:
        yield FlyMQTlsEndpoint(
            server.address, material.ca_file, material.cert_file, material.key_file, server=server
        )
    finally:
        server.stop()
        server.broker.close()


def _own_state(config: BrokerConfig, label: str) -> BrokerConfig:
    """``config`` for one fixture's broker: with a ``data_dir``, a subdirectory of its own.

    Brokers opened on one directory at once would share (and overwrite) each other's state, and a
    "fresh" fixture would start with what the others wrote.
    """
    if config.data_dir is None:
        return config
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # parallel workers get a subdirectory each too
    if worker:
        label = f"{worker}-{label}"
    return config.model_copy(update={"data_dir": os.path.join(config.data_dir, label)})


@pytest.fixture
def unique_topic() -> Callable[..., str]:
    """A factory of fresh topic names: ``unique_topic()`` -> ``"t-1f2e3d4c5b6a"``."""

    def make(prefix: str = "t") -> str:
        return f"{prefix}-{_random_suffix()}"

    return make
