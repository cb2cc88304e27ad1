"""The ``memory://`` transport: real protocol bytes to an in-process broker, no sockets."""

from __future__ import annotations

import asyncio
import builtins
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from pyflymq_broker import Broker, BrokerConfig
from pyflymq_broker.memory_registry import (
    drop_memory_broker,
    get_memory_broker,
    memory_broker_names,
    register_memory_broker,
    reset_memory_brokers,
)
from pyflymq_core.errors import ConfigurationError, ConnectionError, TimeoutError
from pyflymq_core.plugins import get_registry
from pyflymq_core.protocol import (
    FrameParser,
    OpCode,
    decode_response,
    encode_request,
    encode_request_frame,
)
from pyflymq_transports.base import TransportOptions, parse_address
from pyflymq_transports.memory import AsyncMemoryTransport, MemoryTransport


@pytest.fixture(autouse=True)
def _fresh_registry() -> Iterator[None]:
    reset_memory_brokers()
    yield
    reset_memory_brokers()


def frame(op: int, fields: dict[str, Any]) -> bytes:
    return encode_request_frame(op, encode_request(op, fields))


def produce(topic: str, value: bytes, partition: int = 0) -> bytes:
    return frame(OpCode.PRODUCE, {"topic": topic, "key": b"", "value": value, "partition": partition})


def fetch(topic: str, offset: int = 0) -> bytes:
    return frame(
        OpCode.FETCH, {"topic": topic, "partition": 0, "offset": offset, "max_messages": 100, "filter": ""}
    )


def create(topic: str, partitions: int = 1) -> bytes:
    return frame(OpCode.CREATE_TOPIC, {"topic": topic, "partitions": partitions})


class Replies:
    """Reads whole reply frames from a sync memory transport and decodes them."""

    def __init__(self, transport: MemoryTransport) -> None:
        self.transport = transport
        self.parser = FrameParser()
        self.frames: list[Any] = []

    def read(self, ops: list[int], timeout: float = 2.0) -> list[dict[str, Any]]:
        while len(self.frames) < len(ops):
            chunk = self.transport.recv_timeout(65536, timeout)
            assert chunk, "the broker closed the connection"
            self.frames += self.parser.feed(chunk)
        frames, self.frames = self.frames[: len(ops)], self.frames[len(ops) :]
        return [decode_response(op, f.op, f.flags, f.payload) for op, f in zip(ops, frames, strict=True)]


def connect(url: str, **extra: Any) -> MemoryTransport:
    transport = MemoryTransport(parse_address(url), TransportOptions(extra=extra))
    transport.connect()
    return transport


def test_round_trip_and_pipelining() -> None:
    transport = connect("memory://orders")
    replies = Replies(transport)
    transport.sendall(create("orders") + produce("orders", b"a") + produce("orders", b"b") + fetch("orders"))
    created, first, second, fetched = replies.read(
        [OpCode.CREATE_TOPIC, OpCode.PRODUCE, OpCode.PRODUCE, OpCode.FETCH]
    )
    assert created == {"success": True}
    assert (first["offset"], second["offset"]) == (0, 1)
    assert [m["value"] for m in fetched["messages"]] == [b"a", b"b"]
    transport.close()
    transport.close()  # idempotent


def test_requests_split_across_writes_are_answered_once_complete() -> None:
    transport = connect("memory://split")
    data = create("split")
    transport.sendall(data[:5])
    with pytest.raises(TimeoutError):
        transport.recv_timeout(1024, 0.05)
    transport.sendall(data[5:])
    assert Replies(transport).read([OpCode.CREATE_TOPIC]) == [{"success": True}]


def test_truncated_frame_times_out_with_the_pyflymq_error() -> None:
    transport = connect("memory://truncated")
    transport.sendall(create("x")[:-1])
    transport.settimeout(0.05)
    started = time.monotonic()
    with pytest.raises(TimeoutError) as info:
        transport.recv(1024)
    assert isinstance(info.value, builtins.TimeoutError)
    assert time.monotonic() - started >= 0.04


def test_same_name_shares_one_broker_and_names_are_isolated() -> None:
    first = connect("memory://shared")
    first.sendall(create("t") + produce("t", b"v"))
    Replies(first).read([OpCode.CREATE_TOPIC, OpCode.PRODUCE])

    second = connect("memory://shared")
    second.sendall(fetch("t"))
    assert [m["value"] for m in Replies(second).read([OpCode.FETCH])[0]["messages"]] == [b"v"]

    other = connect("memory://other")
    other.sendall(frame(OpCode.LIST_TOPICS, {}))
    assert Replies(other).read([OpCode.LIST_TOPICS]) == [{"topics": []}]
    assert memory_broker_names() == ["other", "shared"]


def test_bad_magic_closes_silently_after_earlier_replies() -> None:
    transport = connect("memory://framing")
    transport.sendall(create("ok") + b"\x00" * 8)
    replies = Replies(transport)
    assert replies.read([OpCode.CREATE_TOPIC]) == [{"success": True}]
    assert transport.recv_timeout(1024, 0.05) == b""
    assert transport.peer_closed()
    with pytest.raises(ConnectionError):
        transport.sendall(create("again"))


def test_recv_in_one_thread_send_in_another() -> None:
    transport = connect("memory://duplex")
    assert transport.full_duplex
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(transport.recv_timeout(65536, 5.0)))
    reader.start()
    time.sleep(0.05)
    transport.send_timeout(create("duplex"), 1.0)
    reader.join(5.0)
    assert not reader.is_alive()
    assert FrameParser().feed(received[0])[0].op == OpCode.CREATE_TOPIC


def test_close_wakes_a_blocked_reader_and_later_use_fails() -> None:
    transport = connect("memory://closing")
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(transport.recv_timeout(1024, 5.0)))
    reader.start()
    time.sleep(0.05)
    transport.close()
    reader.join(5.0)
    assert received == [b""]
    with pytest.raises(ConnectionError):
        transport.sendall(create("x"))
    with pytest.raises(ConnectionError):
        transport.recv(10)


def test_unconnected_transport_refuses_io() -> None:
    transport = MemoryTransport(parse_address("memory://never"), TransportOptions())
    with pytest.raises(ConnectionError):
        transport.sendall(create("x"))


def test_broker_config_option_and_conflicts() -> None:
    upstream = BrokerConfig.upstream_defaults()
    connect("memory://configured", broker_config=upstream)
    assert get_memory_broker("configured").config == upstream
    with pytest.raises(ConfigurationError):
        connect("memory://configured", broker_config=BrokerConfig())
    with pytest.raises(ConfigurationError):
        connect("memory://bad-config", broker_config={"schema_enabled": False})
    drop_memory_broker("configured")
    connect("memory://configured", broker_config=BrokerConfig())


def test_registered_broker_is_served() -> None:
    broker = Broker(BrokerConfig())
    register_memory_broker("mine", broker)
    register_memory_broker("mine", broker)  # same broker again: fine
    assert get_memory_broker("mine") is broker
    with pytest.raises(ConfigurationError):
        register_memory_broker("mine", Broker(BrokerConfig()))
    transport = connect("memory://mine")
    transport.sendall(create("a"))
    Replies(transport).read([OpCode.CREATE_TOPIC])
    assert broker.topics.names() == ["a"]
    transport.close()


def test_closing_ends_group_membership() -> None:
    transport = connect("memory://groups")
    replies = Replies(transport)
    subscribe = frame(OpCode.SUBSCRIBE, {"topic": "g", "group_id": "grp", "partition": 0, "mode": "earliest"})
    describe = frame(OpCode.DESCRIBE_GROUP, {"topic": "g", "group_id": "grp"})
    transport.sendall(create("g") + subscribe + describe)
    members = replies.read([OpCode.CREATE_TOPIC, OpCode.SUBSCRIBE, OpCode.DESCRIBE_GROUP])[2]["members"]
    assert members == 1
    transport.close()
    observer = connect("memory://groups")
    observer.sendall(describe)
    assert Replies(observer).read([OpCode.DESCRIBE_GROUP])[0]["members"] == 0


def test_memory_scheme_is_registered_for_sync_and_async() -> None:
    registry = get_registry()
    assert registry.transport_for_url("memory://x") is MemoryTransport
    assert registry.transport_for_url("memory://x", asynchronous=True) is AsyncMemoryTransport


def test_async_round_trip_and_close() -> None:
    async def scenario() -> tuple[list[dict[str, Any]], bytes]:
        transport = AsyncMemoryTransport(parse_address("memory://aio"), TransportOptions())
        await transport.connect()
        parser = FrameParser()
        await transport.write(create("aio") + produce("aio", b"x"))
        frames: list[Any] = []
        while len(frames) < 2:
            frames += parser.feed(await transport.read(65536))
        decoded = [
            decode_response(op, f.op, f.flags, f.payload)
            for op, f in zip([OpCode.CREATE_TOPIC, OpCode.PRODUCE], frames, strict=True)
        ]
        pending = asyncio.ensure_future(transport.read(1024))
        await asyncio.sleep(0.01)
        assert not pending.done()  # nothing to read: waits, as on a socket
        await transport.close()
        return decoded, await asyncio.wait_for(pending, 1.0)

    decoded, after_close = asyncio.run(scenario())
    assert decoded[0] == {"success": True}
    assert decoded[1]["offset"] == 0
    assert after_close == b""


def test_async_bad_magic_gives_eof() -> None:
    async def scenario() -> bytes:
        transport = AsyncMemoryTransport(parse_address("memory://aio-framing"), TransportOptions())
        await transport.connect()
        await transport.write(b"\x00" * 8)
        data = await asyncio.wait_for(transport.read(1024), 1.0)
        with pytest.raises(ConnectionError):
            await transport.write(create("x"))
        return data

    assert asyncio.run(scenario()) == b""


def test_flymq_client_over_memory_url() -> None:
    from pyflymq import FlyMQClient

    with FlyMQClient("memory://client-demo") as client:
        client.create_topic("events", partitions=2)
        first = client.produce("events", b"e1", key="k")
        second = client.produce("events", b"e2", key="k")
        assert second.partition == first.partition and second.offset == first.offset + 1
        assert client.consume("events", first.offset, partition=first.partition).decode() == "e1"
    assert get_memory_broker("client-demo").topics.names() == ["events"]
