"""The pytest plugin shipped with pyflymq (entry point ``pytest11``), driven through ``pytester``."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from pyflymq_broker.server import BrokerServer
from pyflymq_core.protocol import FrameParser, OpCode, decode_response, encode_request, encode_request_frame

pytest_plugins = ["pytester"]

RAW_HELPERS = """
import socket
from pyflymq_core.protocol import FrameParser, OpCode, decode_response, encode_request, encode_request_frame

def request(address, op, fields, ssl_context=None, server_hostname=None):
    host, port = address.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=5)
    if ssl_context is not None:
        sock = ssl_context.wrap_socket(sock, server_hostname=server_hostname)
    with sock:
        sock.sendall(encode_request_frame(op, encode_request(op, fields)))
        parser = FrameParser()
        frames = []
        while not frames:
            chunk = sock.recv(65536)
            assert chunk
            frames = parser.feed(chunk)
        return decode_response(op, frames[0].op, frames[0].flags, frames[0].payload)
"""


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    """Run pytest in-process; hypothesis' plugin is left out of inner runs (it costs seconds to load)."""
    return pytester.runpytest("-p", "no:hypothesispytest", *args)


@pytest.fixture
def real_server() -> Iterator[BrokerServer]:
    """Stands in for a "real" server given with --flymq-bootstrap (the tests only need an address)."""
    with BrokerServer() as server:
        yield server


def test_entry_point_is_declared() -> None:
    names = {ep.name: ep.value for ep in entry_points(group="pytest11")}
    assert names.get("flymq") == "pyflymq_broker.pytest_plugin"


def test_markers_and_options_are_registered(pytester: pytest.Pytester) -> None:
    result = run(pytester, "--markers")
    result.stdout.fnmatch_lines(["*flymq_embedded_only*"])
    result = run(pytester, "--help")
    result.stdout.fnmatch_lines(["*--flymq-bootstrap=HOST:PORT*", "*--flymq-tls-ca-file=PATH*"])


def test_embedded_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(RAW_HELPERS)
    pytester.makepyfile(
        """
        from conftest import request
        from pyflymq_broker import Broker, BrokerConfig
        from pyflymq_core.protocol import OpCode

        def test_bootstrap_is_the_embedded_server(flymq_bootstrap, flymq_server, flymq_broker, flymq_options):
            assert flymq_options.embedded
            assert flymq_bootstrap == flymq_server.address
            assert flymq_bootstrap.startswith("127.0.0.1:")
            assert isinstance(flymq_broker, Broker) and flymq_server.broker is flymq_broker
            # Reports where it really listens (CLUSTER_METADATA leader_addr); otherwise the defaults.
            assert flymq_broker.config.bind_addr == flymq_bootstrap
            assert flymq_broker.config.model_copy(update={"bind_addr": ":9092"}) == BrokerConfig()
            reply = request(flymq_bootstrap, OpCode.CREATE_TOPIC, {"topic": "a", "partitions": 1})
            assert reply == {"success": True}

        def test_session_scoped_state_is_shared(flymq_bootstrap):
            topics = request(flymq_bootstrap, OpCode.LIST_TOPICS, {})["topics"]
            assert topics == ["a"]

        def test_unique_topic(unique_topic):
            names = {unique_topic() for _ in range(50)}
            assert len(names) == 50 and all(n.startswith("t-") for n in names)
            assert unique_topic("orders").startswith("orders-")
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=3)


def test_memory_url_is_fresh_per_test_and_uses_the_config_override(pytester: pytest.Pytester) -> None:
    pytester.makeconftest(
        """
        import pytest
        from pyflymq_broker import BrokerConfig

        @pytest.fixture(scope="session")
        def flymq_broker_config():
            return BrokerConfig.upstream_defaults()
        """
    )
    pytester.makepyfile(
        """
        from pyflymq_broker import BrokerConfig
        from pyflymq_broker.memory_registry import get_memory_broker, memory_broker_names

        seen = []

        def test_one(flymq_memory_url):
            assert flymq_memory_url.startswith("memory://pytest-")
            name = flymq_memory_url.split("://", 1)[1]
            assert name in memory_broker_names()
            assert get_memory_broker(name).config == BrokerConfig.upstream_defaults()
            seen.append(name)

        def test_two(flymq_memory_url, flymq_broker):
            name = flymq_memory_url.split("://", 1)[1]
            assert name != seen[0] and seen[0] not in memory_broker_names()
            assert not flymq_broker.config.schema_enabled  # the same override
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=2)


def test_a_data_dir_override_gives_every_fixture_broker_its_own_state(pytester: pytest.Pytester) -> None:
    # Brokers opened on one directory at once shared and overwrote each other's state: a "fresh"
    # memory broker saw the previous test's topics, and topic folders collided.
    pytester.makeconftest(
        """
        import pytest
        from pyflymq_broker import BrokerConfig

        @pytest.fixture(scope="session")
        def flymq_broker_config(tmp_path_factory):
            return BrokerConfig(data_dir=str(tmp_path_factory.mktemp("state")))
        """
    )
    pytester.makepyfile(
        """
        from pyflymq import FlyMQClient

        def test_server(flymq_client):
            flymq_client.create_topic("from-server", 1)
            flymq_client.produce("from-server", b"s")

        def test_memory_one(flymq_memory_url):
            with FlyMQClient(flymq_memory_url) as client:
                assert client.list_topics() == []
                client.create_topic("events", 1)
                client.produce("events", b"one")

        def test_memory_two(flymq_memory_url):
            with FlyMQClient(flymq_memory_url) as client:
                assert client.list_topics() == []  # fresh, though persisted under the same root

        def test_cluster(flymq_cluster):
            with FlyMQClient(flymq_cluster.leader_address) as client:
                assert client.list_topics() == []

        def test_server_kept_its_own(flymq_client):
            assert flymq_client.list_topics() == ["from-server"]
        """
    )
    result = run(pytester, "-W", "error::ResourceWarning")
    result.assert_outcomes(passed=5)


def test_bootstrap_option_points_fixtures_at_a_real_server(
    pytester: pytest.Pytester, real_server: BrokerServer
) -> None:
    pytester.makeconftest(RAW_HELPERS)
    pytester.makepyfile(
        f"""
        import pytest
        from conftest import request
        from pyflymq_core.protocol import OpCode

        def test_bootstrap(flymq_bootstrap, flymq_options):
            assert flymq_bootstrap == "{real_server.address}"
            assert not flymq_options.embedded
            assert flymq_options.username == "alice" and flymq_options.password == "secret"
            assert flymq_options.client_kwargs() == {{"username": "alice", "password": "secret"}}
            reply = request(flymq_bootstrap, OpCode.CREATE_TOPIC, {{"topic": "real", "partitions": 1}})
            assert reply == {{"success": True}}

        def test_broker_is_skipped(flymq_broker):
            raise AssertionError("must be skipped")

        def test_server_is_skipped(flymq_server):
            raise AssertionError("must be skipped")

        @pytest.mark.flymq_embedded_only
        def test_marker_skips():
            raise AssertionError("must be skipped")

        def test_tls_endpoint_skipped_without_tls(flymq_tls_bootstrap):
            raise AssertionError("must be skipped")
        """
    )
    result = run(
        pytester,
        f"--flymq-bootstrap={real_server.address}",
        "--flymq-username=alice",
        "--flymq-password=secret",
        "-rs",
    )
    result.assert_outcomes(passed=1, skipped=4)
    result.stdout.fnmatch_lines(
        [
            f"*flymq_broker is the embedded broker; --flymq-bootstrap={real_server.address}*",
            "*needs the embedded FlyMQ broker*",
            "*is not TLS (no --flymq-tls)*",
        ]
    )
    # The "real" server received what the inner test sent.
    with socket.create_connection(("127.0.0.1", real_server.port), timeout=5) as sock:
        sock.sendall(encode_request_frame(OpCode.LIST_TOPICS, encode_request(OpCode.LIST_TOPICS, {})))
        reply = FrameParser().feed(sock.recv(65536))[0]
    assert decode_response(OpCode.LIST_TOPICS, reply.op, reply.flags, reply.payload) == {"topics": ["real"]}


def test_real_tls_server_options(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        def test_tls(flymq_tls_bootstrap, flymq_options):
            assert flymq_tls_bootstrap.address == "db.example:9093"
            assert flymq_tls_bootstrap.ca_file == "/etc/ca.pem"
            assert flymq_tls_bootstrap.server is None
            kwargs = flymq_options.client_kwargs()
            assert kwargs == {"tls_enabled": True, "tls_ca_file": "/etc/ca.pem"}
        """
    )
    result = run(pytester, "--flymq-bootstrap=db.example:9093", "--flymq-tls-ca-file=/etc/ca.pem")
    result.assert_outcomes(passed=1)


def test_embedded_tls_endpoint(pytester: pytest.Pytester) -> None:
    pytest.importorskip("cryptography")
    pytester.makeconftest(RAW_HELPERS)
    pytester.makepyfile(
        """
        import os, ssl
        from conftest import request
        from pyflymq_core.protocol import OpCode

        def test_tls(flymq_tls_bootstrap, flymq_bootstrap):
            endpoint = flymq_tls_bootstrap
            assert endpoint.address != flymq_bootstrap
            assert endpoint.server is not None and endpoint.server.tls
            assert all(os.path.exists(p) for p in (endpoint.ca_file, endpoint.cert_file, endpoint.key_file))
            context = ssl.create_default_context(cafile=endpoint.ca_file)
            reply = request(endpoint.address, OpCode.LIST_TOPICS, {}, context, "localhost")
            assert reply == {"topics": []}
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_servers_stop_at_session_end(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import threading

        def test_start(flymq_server):
            assert any(t.name == "pyflymq-broker" for t in threading.enumerate())
        """
    )
    before = sum(t.name == "pyflymq-broker" for t in threading.enumerate())
    run(pytester).assert_outcomes(passed=1)
    assert sum(t.name == "pyflymq-broker" for t in threading.enumerate()) == before


def test_client_fixture(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pyflymq_core.client.sync_client")
    pytester.makepyfile(
        """
        def test_client(flymq_client, unique_topic):
            topic = unique_topic()
            flymq_client.create_topic(topic, partitions=1)
            meta = flymq_client.produce(topic, b"hello")
            assert flymq_client.consume(topic, meta.offset).decode() == "hello"
        """
    )
    result = run(pytester)
    result.assert_outcomes(passed=1)


def test_own_state_gives_parallel_workers_their_own_subdirectories(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from pyflymq_broker import BrokerConfig
    from pyflymq_broker.pytest_plugin import _own_state

    assert _own_state(BrokerConfig(), "server").data_dir is None  # in memory stays in memory
    base = BrokerConfig(data_dir=str(tmp_path))
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    assert _own_state(base, "server").data_dir == str(tmp_path / "server")
    monkeypatch.setenv("PYTEST_XDIST_WORKER", "gw1")
    assert _own_state(base, "server").data_dir == str(tmp_path / "gw1-server")
