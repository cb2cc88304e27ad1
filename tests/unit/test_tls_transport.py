"""The sync TLS transport's own paths against the embedded TLS broker: per-call timeouts on a
non-blocking TLS socket, a large write that must wait for the peer, the end of the stream, and
``peer_closed`` on an idle connection (what the client checks before reusing one)."""

from __future__ import annotations

import builtins
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pyflymq_broker.server import BrokerServer
from pyflymq_core.protocol import (
    FrameParser,
    OpCode,
    decode_response,
    encode_request,
    encode_request_frame,
)
from pyflymq_transports.base import ServerAddress, TransportOptions
from pyflymq_transports.tls import TlsTransport


@pytest.fixture(scope="module")
def tls_material(tmp_path_factory: pytest.TempPathFactory) -> Any:
    pytest.importorskip("cryptography")
    from pyflymq_broker.tls_testing import generate_tls_material

    return generate_tls_material(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def server(tls_material: Any) -> Iterator[BrokerServer]:
    with BrokerServer(tls_cert_file=tls_material.cert_file, tls_key_file=tls_material.key_file) as srv:
        yield srv


@pytest.fixture
def transport(server: BrokerServer, tls_material: Any) -> Iterator[TlsTransport]:
    connected = TlsTransport(
        ServerAddress("127.0.0.1", server.port, "tls"), TransportOptions(tls_ca_file=tls_material.ca_file)
    )
    connected.connect()
    yield connected
    connected.close()


def _answer(transport: TlsTransport, op: int) -> dict[str, Any]:
    parser = FrameParser()
    frames: list[Any] = []
    while not frames:
        frames = parser.feed(transport.recv_timeout(1 << 16, 5.0))
    return decode_response(op, frames[0].op, frames[0].flags, frames[0].payload)


def test_a_read_with_nothing_to_read_times_out_and_the_connection_stays_usable(
    transport: TlsTransport,
) -> None:
    started = time.monotonic()
    with pytest.raises(builtins.TimeoutError):
        transport.recv_timeout(1024, 0.2)
    assert 0.15 <= time.monotonic() - started < 3.0
    assert not transport.peer_closed()  # an idle, healthy connection
    transport.send_timeout(encode_request_frame(OpCode.LIST_TOPICS, b""), 5.0)
    assert _answer(transport, OpCode.LIST_TOPICS) == {"topics": []}


def test_a_large_write_completes_while_the_server_reads_it(transport: TlsTransport) -> None:
    value = b"x" * (8 << 20)  # far beyond the socket buffers: the write must wait for the reader
    fields = {"topic": "big", "key": b"", "value": value, "partition": -1}
    transport.send_timeout(encode_request_frame(OpCode.PRODUCE, encode_request(OpCode.PRODUCE, fields)), 30.0)
    answer = _answer(transport, OpCode.PRODUCE)
    assert answer["topic"] == "big" and answer["value_size"] == len(value)


def test_the_end_of_the_stream_reads_as_empty_and_counts_as_closed(
    transport: TlsTransport, server: BrokerServer
) -> None:
    server.stop()
    deadline = time.monotonic() + 5
    while transport.recv_timeout(1024, 5.0):  # drains anything in flight, then the end
        assert time.monotonic() < deadline
    assert transport.peer_closed()
