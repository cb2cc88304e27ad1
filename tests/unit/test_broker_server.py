"""The embedded broker's TCP/TLS server and the ``pyflymq broker`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pyflymq import FlyMQClient
from pyflymq.cli import main as cli_main
from pyflymq.cli.cmd_broker import add_arguments
from pyflymq_broker import Broker, BrokerConfig, Session
from pyflymq_broker.cli import build_config
from pyflymq_broker.server import BrokerServer, make_server_ssl_context
from pyflymq_core.errors import ConfigurationError
from pyflymq_core.protocol import (
    Frame,
    FrameParser,
    OpCode,
    decode_response,
    encode_request,
    encode_request_frame,
)

ROOT = Path(__file__).resolve().parents[2]


def frame(op: int, fields: dict[str, Any]) -> bytes:
    return encode_request_frame(op, encode_request(op, fields))


def produce(topic: str, value: bytes, partition: int = 0) -> bytes:
    return frame(OpCode.PRODUCE, {"topic": topic, "key": b"", "value": value, "partition": partition})


def fetch(topic: str, offset: int = 0, max_messages: int = 1000) -> bytes:
    fields = {"topic": topic, "partition": 0, "offset": offset, "max_messages": max_messages, "filter": ""}
    return frame(OpCode.FETCH, fields)


def create(topic: str, partitions: int = 1) -> bytes:
    return frame(OpCode.CREATE_TOPIC, {"topic": topic, "partitions": partitions})


def read_frames(sock: socket.socket, count: int, parser: FrameParser | None = None) -> list[Frame]:
    parser = parser or FrameParser()
    frames: list[Frame] = []
    while len(frames) < count:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed after {len(frames)} of {count} replies"
        frames += parser.feed(chunk)
    assert len(frames) == count
    return frames


def decode(op: int, f: Frame) -> dict[str, Any]:
    return decode_response(op, f.op, f.flags, f.payload)


def read_until_eof(sock: socket.socket, timeout: float = 5.0) -> bytes:
    sock.settimeout(timeout)
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


@pytest.fixture
def server() -> Iterator[BrokerServer]:
    with BrokerServer() as srv:
        yield srv


def connect(srv: BrokerServer) -> socket.socket:
    return socket.create_connection(("127.0.0.1", srv.port), timeout=5)


# --------------------------------------------------------------------------- TCP server


def test_binds_loopback_on_an_ephemeral_port(server: BrokerServer) -> None:
    host, port = server.address.rsplit(":", 1)
    assert host == "127.0.0.1"
    assert int(port) == server.port > 0
    assert server.url == f"flymq://{server.address}"
    assert not server.tls


def test_concurrent_connections_with_pipelined_requests_in_order(server: BrokerServer) -> None:
    count = 200
    results: dict[int, list[int]] = {}
    errors: list[BaseException] = []

    def client(n: int) -> None:
        try:
            topic = f"conn-{n}"
            with connect(server) as sock:
                sock.sendall(create(topic) + b"".join(produce(topic, b"%d" % i) for i in range(count)))
                replies = read_frames(sock, count + 1)
                assert decode(OpCode.CREATE_TOPIC, replies[0]) == {"success": True}
                results[n] = [decode(OpCode.PRODUCE, f)["offset"] for f in replies[1:]]
                sock.sendall(fetch(topic))
                messages = decode(OpCode.FETCH, read_frames(sock, 1)[0])["messages"]
                assert [m["value"] for m in messages] == [b"%d" % i for i in range(count)]
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert results == {n: list(range(count)) for n in range(6)}


def test_connections_share_the_broker(server: BrokerServer) -> None:
    with connect(server) as a, connect(server) as b:
        a.sendall(create("shared") + produce("shared", b"hello"))
        read_frames(a, 2)
        b.sendall(fetch("shared"))
        assert decode(OpCode.FETCH, read_frames(b, 1)[0])["messages"][0]["value"] == b"hello"
    assert server.broker is not None


def test_bad_magic_closes_silently_after_earlier_replies(server: BrokerServer) -> None:
    with connect(server) as sock:
        sock.sendall(create("framing") + b"\x00\x01\x01\x00\x00\x00\x00\x00")
        data = read_until_eof(sock)
    frames = FrameParser().feed(data)
    assert [f.op for f in frames] == [OpCode.CREATE_TOPIC]
    assert decode(OpCode.CREATE_TOPIC, frames[0]) == {"success": True}


@pytest.mark.parametrize(
    "header",
    [
        bytes.fromhex("af02080000000000"),  # wrong version
        bytes.fromhex("af01080002000001"),  # 32 MiB + 1 payload
    ],
    ids=["version", "oversize"],
)
def test_framing_violations_close_without_reply(server: BrokerServer, header: bytes) -> None:
    with connect(server) as sock:
        sock.sendall(header)
        assert read_until_eof(sock) == b""


def test_truncated_frame_waits_then_closes_on_eof(server: BrokerServer) -> None:
    with connect(server) as sock:
        sock.sendall(create("never")[:-1])
        sock.settimeout(0.2)
        with pytest.raises(socket.timeout):
            sock.recv(1024)
        sock.shutdown(socket.SHUT_WR)
        assert read_until_eof(sock) == b""
    with connect(server) as sock:  # the half-sent request created nothing
        sock.sendall(frame(OpCode.LIST_TOPICS, {}))
        assert decode(OpCode.LIST_TOPICS, read_frames(sock, 1)[0]) == {"topics": []}


def test_byte_by_byte_writes(server: BrokerServer) -> None:
    with connect(server) as sock:
        for byte in create("slow"):
            sock.sendall(bytes([byte]))
        assert decode(OpCode.CREATE_TOPIC, read_frames(sock, 1)[0]) == {"success": True}


def test_stop_closes_client_connections() -> None:
    srv = BrokerServer().start()
    sock = connect(srv)
    sock.sendall(create("x"))
    read_frames(sock, 1)
    assert srv.connection_count == 1
    srv.stop()
    assert read_until_eof(sock) == b""
    sock.close()
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", srv.port), timeout=1).close()
    srv.stop()  # idempotent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def leader_addr(srv: BrokerServer) -> str:
    with connect(srv) as sock:
        sock.sendall(create("meta") + frame(OpCode.CLUSTER_METADATA, {"topic": "meta"}))
        reply = decode(OpCode.CLUSTER_METADATA, read_frames(sock, 2)[1])
    return str(reply["topics"][0]["partitions"][0]["leader_addr"])


def test_cluster_metadata_reports_the_bound_address(server: BrokerServer) -> None:
    assert leader_addr(server) == server.address  # not the configured ":9092"
    port = free_port()
    with BrokerServer(config=BrokerConfig(bind_addr=f":{port}"), port=port) as srv:
        assert leader_addr(srv) == f":{port}"  # already this port: verbatim, as the real server


def test_port_in_use_is_a_configuration_error(server: BrokerServer) -> None:
    with pytest.raises(ConfigurationError):
        BrokerServer(port=server.port).start()


def test_broker_or_config_not_both() -> None:
    with pytest.raises(ConfigurationError):
        BrokerServer(Broker(BrokerConfig()), config=BrokerConfig())
    with pytest.raises(ConfigurationError):
        BrokerServer(tls_cert_file="cert.pem")


class SpyBroker(Broker):
    """Counts ticks and closed sessions."""

    def __init__(self, config: BrokerConfig) -> None:
        super().__init__(config)
        self.ticks = 0
        self.closed_sessions = 0

    def tick(self, now: float | None = None) -> None:
        self.ticks += 1
        super().tick(now)

    def session_closed(self, session: Session) -> None:
        self.closed_sessions += 1
        super().session_closed(session)


def wait_until(predicate: Any, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.01)


def test_ticks_periodically_and_closes_sessions_on_disconnect() -> None:
    broker = SpyBroker(BrokerConfig())
    with BrokerServer(broker, tick_interval=0.02) as srv:
        wait_until(lambda: broker.ticks >= 3)
        sock = connect(srv)
        sock.sendall(create("t"))
        read_frames(sock, 1)
        sock.close()
        wait_until(lambda: broker.closed_sessions == 1)
        wait_until(lambda: srv.connection_count == 0)


def test_idle_connections_are_closed() -> None:
    with BrokerServer(tick_interval=0.02, idle_timeout=0.2) as srv, connect(srv) as sock:
        started = time.monotonic()
        assert read_until_eof(sock) == b""
        assert time.monotonic() - started >= 0.15


def test_state_machine_failure_closes_only_that_connection(caplog: pytest.LogCaptureFixture) -> None:
    class FailingBroker(Broker):
        def handle_request(
            self, session: Session, op: int, flags: int, payload: bytes
        ) -> tuple[int, int, bytes]:
            if b"boom" in payload:
                raise RuntimeError("boom")
            return super().handle_request(session, op, flags, payload)

    with BrokerServer(FailingBroker(BrokerConfig())) as srv, caplog.at_level(logging.ERROR, "pyflymq.broker"):
        with connect(srv) as bad:
            bad.sendall(create("boom"))
            assert read_until_eof(bad) == b""
        with connect(srv) as good:
            good.sendall(create("fine"))
            assert decode(OpCode.CREATE_TOPIC, read_frames(good, 1)[0]) == {"success": True}
    assert any("boom" in (r.exc_text or "") or r.exc_info for r in caplog.records)


def test_call_runs_on_the_server_thread(server: BrokerServer) -> None:
    assert server.call(threading.current_thread) is not threading.current_thread()
    assert server.call(lambda: server.broker) is server.broker


def test_async_api() -> None:
    async def scenario() -> dict[str, Any]:
        async with BrokerServer() as srv:
            reader, writer = await asyncio.open_connection("127.0.0.1", srv.port)
            writer.write(create("aio"))
            parser = FrameParser()
            frames: list[Frame] = []
            while not frames:
                frames = parser.feed(await reader.read(65536))
            writer.close()
            await writer.wait_closed()
            return decode(OpCode.CREATE_TOPIC, frames[0])

    assert asyncio.run(scenario()) == {"success": True}


def test_async_serve_until_request_stop() -> None:
    async def scenario() -> bool:
        srv = BrokerServer()
        task = asyncio.ensure_future(srv.serve())
        while srv._port is None:
            await asyncio.sleep(0.01)
        _, writer = await asyncio.open_connection("127.0.0.1", srv.port)
        srv.request_stop()
        await asyncio.wait_for(task, 5)
        writer.close()
        return srv.running

    assert asyncio.run(scenario()) is False


# --------------------------------------------------------------------------- TLS


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("cryptography")
    from pyflymq_broker.tls_testing import generate_tls_material

    return generate_tls_material(tmp_path_factory.mktemp("tls"))


def test_tls_round_trip_with_generated_ca(tls_material: Any) -> None:
    context = ssl.create_default_context(cafile=tls_material.ca_file)
    with BrokerServer(tls_cert_file=tls_material.cert_file, tls_key_file=tls_material.key_file) as srv:
        assert srv.tls and srv.url.startswith("flymqs://")
        for hostname in ("127.0.0.1", "localhost"):
            with (
                socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw,
                context.wrap_socket(raw, server_hostname=hostname) as sock,
            ):
                assert sock.version() in ("TLSv1.2", "TLSv1.3")
                sock.sendall(create(f"secure-{hostname}") + produce(f"secure-{hostname}", b"v"))
                replies = read_frames(sock, 2)
                assert decode(OpCode.CREATE_TOPIC, replies[0]) == {"success": True}
                assert decode(OpCode.PRODUCE, replies[1])["offset"] == 0


def test_tls_listener_refuses_plaintext_and_untrusted_clients(tls_material: Any) -> None:
    with BrokerServer(tls_cert_file=tls_material.cert_file, tls_key_file=tls_material.key_file) as srv:
        with connect(srv) as plain:
            plain.sendall(create("plain"))
            data = read_until_eof(plain)
            assert not data.startswith(b"\xaf\x01")
        with (
            socket.create_connection(("127.0.0.1", srv.port), timeout=5) as raw,
            pytest.raises(ssl.SSLCertVerificationError),
        ):
            ssl.create_default_context().wrap_socket(raw, server_hostname="localhost")


def test_server_ssl_context_matches_the_real_server(tls_material: Any) -> None:
    context = make_server_ssl_context(tls_material.cert_file, tls_material.key_file, tls_material.ca_file)
    assert context.minimum_version == ssl.TLSVersion.TLSv1_2
    assert context.verify_mode == ssl.CERT_NONE  # client certificates are not requested
    tls12 = [c for c in context.get_ciphers() if c["protocol"] == "TLSv1.2"]
    assert tls12 and all(
        "ECDHE" in c["name"] and ("GCM" in c["name"] or "CHACHA" in c["name"]) for c in tls12
    )
    with pytest.raises(ConfigurationError):
        make_server_ssl_context(tls_material.ca_file + ".missing", tls_material.key_file)


# --------------------------------------------------------------------------- pyflymq broker


def parse_broker_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def test_build_config_defaults_switches_and_files(tmp_path: Path) -> None:
    assert build_config(parse_broker_args()) == BrokerConfig()
    upstream = build_config(parse_broker_args("--upstream-defaults", "--data-dir", str(tmp_path)))
    assert not (upstream.schema_enabled or upstream.dlq_enabled)
    assert not (upstream.delayed_enabled or upstream.transaction_enabled)
    assert upstream.data_dir == str(tmp_path)
    config_file = tmp_path / "flymq.json"
    config_file.write_text(json.dumps({"bind_addr": "127.0.0.1:0", "schema": {"enabled": True}, "x": 1}))
    loaded = build_config(parse_broker_args("--config", str(config_file)))
    assert loaded.schema_enabled and not loaded.dlq_enabled  # server defaults for what the file omits


def test_an_empty_data_dir_means_in_memory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config_file = tmp_path / "flymq.json"
    config_file.write_text(json.dumps({"data_dir": ""}))
    assert BrokerConfig.from_json_file(config_file).data_dir is None
    monkeypatch.chdir(tmp_path)
    broker = Broker(BrokerConfig(data_dir=""))
    Session(broker, "127.0.0.1:5000").feed(create("mem"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["flymq.json"]  # nothing written to the cwd


def test_broker_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["broker", "--help"]) == 0
    out = capsys.readouterr().out
    for option in (
        "--host",
        "--port",
        "--config",
        "--data-dir",
        "--tls-cert",
        "--tls-key",
        "--upstream-defaults",
        "--nodes",
        "--leader",
    ):
        assert option in out


def test_broker_command_reports_bad_options(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert cli_main(["broker", "--port", "0", "--tls-cert", str(tmp_path / "c.pem")]) == 1
    assert "--tls-key" in capsys.readouterr().err
    assert cli_main(["broker", "--config", str(tmp_path / "missing.json")]) == 1
    assert "missing.json" in capsys.readouterr().err
    # The client's TLS options would be ignored and the broker would serve plain TCP: refused.
    assert cli_main(["broker", "--port", "0", "--tls-cert-file", "c.pem", "--tls-key-file", "k.pem"]) == 2
    err = capsys.readouterr().err
    assert (
        "--tls-cert-file, --tls-key-file configure a client's connection" in err and "--tls-cert PATH" in err
    )


def start_broker_process(*args: str) -> tuple[subprocess.Popen[str], str]:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "pyflymq", "broker", "--port", "0", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline().strip()
    if not line:
        proc.kill()
        raise AssertionError(f"no address printed; stderr: {proc.communicate()[1]}")
    return proc, line


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_broker_subprocess_prints_address_and_stops_on_signal(sig: signal.Signals) -> None:
    proc, address = start_broker_process("-v")
    try:
        host, port = address.rsplit(":", 1)
        assert host == "127.0.0.1" and int(port) > 0
        with socket.create_connection((host, int(port)), timeout=5) as sock:
            sock.sendall(create("cli") + produce("cli", b"v"))
            replies = read_frames(sock, 2)
            assert decode(OpCode.PRODUCE, replies[1])["offset"] == 0
            proc.send_signal(sig)
            assert proc.wait(10) == 0
            assert read_until_eof(sock) == b""
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert proc.returncode == 0


def test_broker_subprocess_serves_a_simulated_cluster(tmp_path: Path) -> None:
    proc, first = start_broker_process("--nodes", "3", "--leader", "node2", "--data-dir", str(tmp_path))
    try:
        assert proc.stdout is not None
        lines = [first] + [proc.stdout.readline().strip() for _ in range(2)]
        nodes = dict(reversed(line.split()) for line in lines)
        assert list(nodes) == ["node2", "node1", "node3"]  # the Raft leader first
        with FlyMQClient(nodes["node3"]) as follower:
            follower.create_topic("cli-cluster", partitions=3)  # 'not leader' followed to node2
            metadata = follower.cluster_metadata("cli-cluster")
            assert metadata.cluster_id == "node3"
            assert metadata.topics[0].partitions[0].leader_addr == nodes["node3"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["node1", "node2", "node3"]  # one state each


def test_broker_command_rejects_an_unknown_leader(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_main(["broker", "--port", "0", "--nodes", "2", "--leader", "node7"]) == 1
    assert "node7" in capsys.readouterr().err


def test_broker_subprocess_data_dir_survives_a_restart(tmp_path: Path) -> None:
    data_dir = str(tmp_path / "state")
    for round_ in range(2):
        proc, address = start_broker_process("--data-dir", data_dir)
        try:
            host, port = address.rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                if round_ == 0:
                    sock.sendall(create("kept") + produce("kept", b"persisted"))
                    read_frames(sock, 2)
                else:
                    sock.sendall(fetch("kept"))
                    messages = decode(OpCode.FETCH, read_frames(sock, 1)[0])["messages"]
                    assert [m["value"] for m in messages] == [b"persisted"]
            proc.terminate()
            assert proc.wait(10) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.communicate()


def test_broker_subprocess_with_tls(tls_material: Any) -> None:
    proc, address = start_broker_process(
        "--tls-cert", tls_material.cert_file, "--tls-key", tls_material.key_file
    )
    try:
        host, port = address.rsplit(":", 1)
        context = ssl.create_default_context(cafile=tls_material.ca_file)
        with (
            socket.create_connection((host, int(port)), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
        ):
            sock.sendall(frame(OpCode.LIST_TOPICS, {}))
            assert decode(OpCode.LIST_TOPICS, read_frames(sock, 1)[0]) == {"topics": []}
        proc.terminate()
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate()


# --------------------------------------------------------------------------- with the pyflymq client


def test_flymq_client_over_tcp_and_tls(server: BrokerServer, tls_material: Any) -> None:
    from pyflymq import FlyMQClient

    with FlyMQClient(server.address) as client:
        client.create_topic("orders", partitions=3)
        metas = [client.produce("orders", b"v%d" % i, key=f"user-{i % 2}") for i in range(6)]
        assert len({m.partition for m in metas[0::2]}) == 1  # same key, same partition
        assert client.consume("orders", metas[0].offset, partition=metas[0].partition).decode() == "v0"
    with (
        BrokerServer(tls_cert_file=tls_material.cert_file, tls_key_file=tls_material.key_file) as srv,
        FlyMQClient(srv.address, tls_enabled=True, tls_ca_file=tls_material.ca_file) as client,
    ):
        client.create_topic("secure", partitions=1)
        assert client.produce("secure", b"s").offset == 0
        assert client.list_topics() == ["secure"]
