"""The keyed ``FlyMQClient.produce`` fast path (issue 4): on a standalone server a keyed record
skips the Call/layout machinery like a keyless one, with the same bytes, results, counters and
error handling; in a cluster, under observers, or for keys it cannot encode simply, the general
path (routing, hooks, validation) still runs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from pyflymq import FlyMQClient
from pyflymq_core.client import calls
from pyflymq_core.client.sync_client import _fast_produce_frame
from pyflymq_core.errors import ConnectionError, InvalidArgumentError, NotLeaderError, TopicNotFoundError
from pyflymq_core.models import RecordMetadata
from pyflymq_core.protocol import OpCode, ProduceTemplate, encode_request_frame, partition_for_key
from tests.integration.fake_server import CLOSE, Error, FakeConn, FakeServer, MiniBroker, Reply
from tests.unit.lifecycle_recorder import recording
from tests.unit.test_client_sync import FAST, Follower

PARTITIONS = 3


def _fresh_topic() -> str:
    """A topic no test produced to yet (the validated-topic cache is process-wide)."""
    return f"keyed-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, ...]]:
    """The arguments of every generic ``calls.produce`` Call built (none on the fast path)."""
    seen: list[tuple[Any, ...]] = []
    original = calls.produce

    def spy(*args: Any, **kwargs: Any) -> Any:
        seen.append(args)
        return original(*args, **kwargs)

    monkeypatch.setattr(calls, "produce", spy)
    return seen


@pytest.fixture
def standalone() -> Iterator[tuple[FakeServer, FlyMQClient, str]]:
    """A client that knows its server is standalone and has validated a 3-partition topic."""
    topic = _fresh_topic()
    with FakeServer() as srv, FlyMQClient(srv.address, **FAST) as client:
        client.create_topic(topic, PARTITIONS)
        client.produce(topic, b"first", key="warm-up")  # CLUSTER_METADATA says: standalone
        assert client._metadata.standalone
        yield srv, client, topic


# --------------------------------------------------------------------------- the frame (no I/O)

TOPIC = "frames"


@pytest.mark.parametrize("key", [None, b"", "", b"k", "user-123", "ключ-\u2603", "esc-\udcff", b"\x00" * 70])
@pytest.mark.parametrize("value", [b"", b"v" * 100])
def test_fast_frames_are_what_the_general_path_sends(key: bytes | str | None, value: bytes) -> None:
    template = ProduceTemplate(TOPIC)
    expected = encode_request_frame(OpCode.PRODUCE, calls.produce(TOPIC, value, key).payload)
    assert _fast_produce_frame(template, value, key, True) == expected
    if not key:  # nothing to route: the same frame in a cluster
        assert _fast_produce_frame(template, value, key, False) == expected


@pytest.mark.parametrize(
    "key",
    [
        "\ud800",  # a lone surrogate: the general path refuses it with a hint
        bytearray(b"k"),  # accepted (copied) by the general path only
        memoryview(b"k"),
        12345,  # refused with InvalidArgumentTypeError by the general path
    ],
)
def test_keys_the_general_path_must_judge_take_it(key: Any) -> None:
    assert _fast_produce_frame(ProduceTemplate(TOPIC), b"v", key, True) is None


def test_keyed_records_in_a_cluster_take_the_general_path() -> None:
    assert _fast_produce_frame(ProduceTemplate(TOPIC), b"v", "k", False) is None
    assert _fast_produce_frame(ProduceTemplate(TOPIC), b"v", b"k", False) is None


def test_key_and_value_share_the_size_limit() -> None:
    template = ProduceTemplate(TOPIC)
    value = b"\x00" * (template.max_value - 2)
    assert _fast_produce_frame(template, value, b"kk", True) is not None
    assert _fast_produce_frame(template, value, b"kkk", True) is None
    assert _fast_produce_frame(template, value + b"\x00\x00\x00", None, True) is None
    with pytest.raises(InvalidArgumentError, match="32 MiB"):  # and the general path refuses it
        calls.produce(TOPIC, value, b"kkk")


# --------------------------------------------------------------------------- standalone: the fast path


@pytest.mark.parametrize("key", [b"user-1", "user-1", "ключ-\u2603", "esc-\udcff"])
def test_keyed_fast_path_returns_the_key_partition_and_builds_no_call(
    standalone: tuple[FakeServer, FlyMQClient, str], built: list[tuple[Any, ...]], key: bytes | str
) -> None:
    srv, client, topic = standalone
    key_bytes = key if isinstance(key, bytes) else key.encode("utf-8", "surrogateescape")
    partition = partition_for_key(key_bytes, PARTITIONS)
    requests = client.metrics()["requests"]
    first = client.produce(topic, b"a", key=key)
    second = client.produce(topic, b"bb", key=key)
    assert built == []
    assert first.partition == second.partition == partition
    assert second == RecordMetadata(
        topic=topic,
        partition=partition,
        offset=first.offset + 1,
        timestamp=second.timestamp,
        key_size=len(key_bytes),
        value_size=2,
    )
    assert type(second) is RecordMetadata and second.model_fields_set == first.model_fields_set
    assert client.metrics()["requests"] == requests + 2
    produced = [fields for _, op, fields in srv.requests if op == OpCode.PRODUCE][-2:]
    assert produced == [
        {"topic": topic, "key": key_bytes, "value": b"a", "partition": -1},
        {"topic": topic, "key": key_bytes, "value": b"bb", "partition": -1},
    ]
    assert srv.ops().count(OpCode.CLUSTER_METADATA) == 1
    assert len(srv.connections) == 1


def test_an_empty_key_is_produced_without_a_key(
    standalone: tuple[FakeServer, FlyMQClient, str], built: list[tuple[Any, ...]]
) -> None:
    srv, client, topic = standalone
    meta = client.produce(topic, b"v", key="")
    assert built == [] and meta.key_size == -1
    assert [f for _, op, f in srv.requests if op == OpCode.PRODUCE][-1]["key"] == b""


def test_keys_the_fast_path_does_not_take_still_work(
    standalone: tuple[FakeServer, FlyMQClient, str], built: list[tuple[Any, ...]]
) -> None:
    srv, client, topic = standalone
    meta = client.produce(topic, b"v", key=bytearray(b"user-1"))
    assert len(built) == 1 and meta.partition == partition_for_key(b"user-1", PARTITIONS)
    sent = srv.ops().count(OpCode.PRODUCE)
    with pytest.raises(InvalidArgumentError, match="UTF-8"):
        client.produce(topic, b"v", key="\ud800")
    assert srv.ops().count(OpCode.PRODUCE) == sent  # refused before sending


def test_keyed_fast_path_refuses_oversized_records_before_sending(
    standalone: tuple[FakeServer, FlyMQClient, str],
) -> None:
    srv, client, topic = standalone
    template = calls.produce_template(topic)
    assert template is not None
    sent = srv.ops().count(OpCode.PRODUCE)
    with pytest.raises(InvalidArgumentError, match="32 MiB"):
        client.produce(topic, b"\x00" * template.max_value, key="k")
    assert srv.ops().count(OpCode.PRODUCE) == sent


def test_keyed_fast_path_steps_aside_for_lifecycle_observers(
    standalone: tuple[FakeServer, FlyMQClient, str], built: list[tuple[Any, ...]]
) -> None:
    _, client, topic = standalone
    with recording() as recorder:
        client.produce(topic, b"2", key="k")
        client.produce(topic, b"3", key=b"k")
    assert recorder.events.count(("before", OpCode.PRODUCE)) == 2
    assert recorder.events.count(("after", (OpCode.PRODUCE, OpCode.PRODUCE, None))) == 2
    assert len(built) == 2


def _failing_broker(broker: MiniBroker) -> Any:
    """``broker``, except a produce of ``b"missing"`` fails and one of ``b"lost"`` drops the connection."""

    def handler(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
        if op == OpCode.PRODUCE and fields["value"] == b"missing":
            return Error(f"topic not found: {fields['topic']}")
        if op == OpCode.PRODUCE and fields["value"] == b"lost":
            return CLOSE
        return broker(conn, op, fields)

    return handler


def test_keyed_fast_path_errors_are_counted_and_typed() -> None:
    topic = _fresh_topic()
    with FakeServer(_failing_broker(MiniBroker())) as srv, FlyMQClient(srv.address, **FAST) as client:
        client.create_topic(topic, PARTITIONS)
        client.produce(topic, b"ok", key="k")  # learns: standalone
        before = client.metrics()
        with pytest.raises(TopicNotFoundError):
            client.produce(topic, b"missing", key="k")
        with pytest.raises(ConnectionError, match="may or may not have been applied"):
            client.produce(topic, b"lost", key="k")
        assert srv.ops().count(OpCode.PRODUCE) == 3  # neither was re-sent
        after = client.metrics()
        assert after["requests"] - before["requests"] == 2
        assert after["errors"] - before["errors"] == 2
        assert client.produce(topic, b"next", key="k").offset == 1  # reconnects


# --------------------------------------------------------------------------- a cluster: routed as before


def test_keyed_produce_in_a_cluster_still_goes_to_the_leader(built: list[tuple[Any, ...]]) -> None:
    topic = _fresh_topic()
    with (
        FakeServer() as leader,
        FakeServer(Follower(leader.address, metadata_leader=leader.address)) as follower,
        FlyMQClient(follower.address, **FAST) as client,
    ):
        # Validated (template cached); refused as "not partition leader" for the same partition
        # twice (re-sent to the same node once: the round-robin did not move on), never redirected.
        with pytest.raises(NotLeaderError, match="refused 2 time"):
            client.produce(topic, b"keyless")
        assert calls.produce_template(topic) is not None
        built.clear()
        for i in range(3):
            assert client.produce(topic, f"v{i}".encode(), key="user-123").offset == i
        assert not client._metadata.standalone
        assert len(built) == 3  # the general path, which routes
        assert follower.ops().count(OpCode.PRODUCE) == 2  # only the keyless one
        assert follower.ops().count(OpCode.CLUSTER_METADATA) == 1
        assert leader.ops().count(OpCode.PRODUCE) == 3
