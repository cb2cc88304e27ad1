"""Broker behaviour beyond the transcripts: framing, logs, FETCH, groups, config, threads."""

from __future__ import annotations

import struct
import threading
from typing import Any

import pytest

from pyflymq_broker import Broker, BrokerConfig
from pyflymq_broker.direct import DirectClient
from pyflymq_core.protocol import OpCode, encode_frame, encode_header, encode_request, fnv1a_32

TEXT = "raw_unflagged"


def produce(client: DirectClient, topic: str, value: bytes, key: bytes = b"") -> dict[str, Any]:
    return client.call(OpCode.PRODUCE, topic=topic, key=key, value=value, partition=-1)


def fetch(
    client: DirectClient, topic: str, offset: int = 0, max_messages: int = 10, **extra: Any
) -> dict[str, Any]:
    return client.call(
        OpCode.FETCH, topic=topic, partition=0, offset=offset, max_messages=max_messages, **extra
    )


@pytest.fixture
def client() -> DirectClient:
    return DirectClient(Broker())


# --- framing ----------------------------------------------------------------------------------


def test_feed_accepts_any_chunking_and_answers_in_order() -> None:
    broker = Broker()
    session = broker.open_session("127.0.0.1:1")
    frames = b"".join(
        encode_frame(
            OpCode.PRODUCE,
            1,
            encode_request(OpCode.PRODUCE, {"topic": "t", "key": b"", "value": v, "partition": -1}),
        )
        for v in (b"a", b"b", b"c")
    )
    out = bytearray()
    for i in range(len(frames)):
        result = session.feed(frames[i : i + 1])
        assert not result.close
        out += result.output
    offsets = []
    pos = 0
    while pos < len(out):
        length = struct.unpack(">I", out[pos + 4 : pos + 8])[0]
        payload = out[pos + 8 : pos + 8 + length]
        offsets.append(struct.unpack(">Q", payload[2 + 1 + 4 : 2 + 1 + 4 + 8])[0])
        pos += 8 + length
    assert offsets == [0, 1, 2]


def test_bad_header_after_good_frames_answers_them_then_closes() -> None:
    session = Broker().open_session()
    good = encode_frame(OpCode.LIST_TOPICS, 1, b"")
    result = session.feed(good + good + b"\x00\x01\x08\x01\x00\x00\x00\x00")
    assert result.close
    assert result.output == encode_frame(OpCode.LIST_TOPICS, 1, b"\x00\x00\x00\x00") * 2
    assert session.feed(good) == (b"", True)  # a closed session stays closed


@pytest.mark.parametrize(
    "header",
    [
        encode_header(8, 1, 0)[:1] + b"\x02" + encode_header(8, 1, 0)[2:],
        encode_header(1, 1, 32 * 1024 * 1024 + 1),
    ],
)
def test_wrong_version_or_oversize_closes_silently(header: bytes) -> None:
    result = Broker().open_session().feed(header)
    assert result == (b"", True)


def test_truncated_frame_waits_and_exact_limit_is_accepted() -> None:
    session = Broker().open_session()
    assert session.feed(encode_header(OpCode.LIST_TOPICS, 1, 32 * 1024 * 1024)) == (b"", False)
    assert session.feed(b"\x00" * 1000) == (b"", False)


def test_handle_never_raises_on_garbage(client: DirectClient) -> None:
    for op in range(256):
        resp_op, _, _ = client.session.handle(op, 0x01, b"\xff" * 7)
        assert 0 <= resp_op <= 0xFF
    assert client.call(OpCode.LIST_TOPICS) == {"topics": []}


def test_gzip_flag_short_payloads_use_go_texts(client: DirectClient) -> None:
    assert client.call_raw(OpCode.LIST_TOPICS, b"", flags=0x03)["message"] == "EOF"
    assert client.call_raw(OpCode.LIST_TOPICS, b"\x1f\x8b", flags=0x03)["message"] == "unexpected EOF"
    assert client.call_raw(OpCode.LIST_TOPICS, b"x" * 20, flags=0x03)["message"] == "gzip: invalid header"


# --- produce / consume / fetch ----------------------------------------------------------------


def test_keyed_and_round_robin_partitioning(client: DirectClient) -> None:
    client.call(OpCode.CREATE_TOPIC, topic="p4", partitions=4)
    assert [produce(client, "p4", b"x")["partition"] for _ in range(6)] == [0, 1, 2, 3, 0, 1]
    for key in (b"user-42", b"a", b"hello"):
        assert produce(client, "p4", b"v", key)["partition"] == fnv1a_32(key) % 4
    # keyed produces do not advance the round-robin counter
    assert produce(client, "p4", b"x")["partition"] == 2


def test_topic_auto_create_and_delete_keeps_group_offsets(client: DirectClient) -> None:
    produce(client, "auto", b"x")
    client.call(OpCode.COMMIT, topic="auto", group_id="g", partition=0, offset=1)
    assert client.call(OpCode.DELETE_TOPIC, topic="auto") == {"success": True}
    assert client.call(OpCode.GET_OFFSET, topic="auto", group_id="g", partition=0) == {"offset": 1}
    assert produce(client, "auto", b"again")["offset"] == 0  # a recreated topic starts at 0


def test_list_topics_hides_internal_names_but_metadata_shows_them(client: DirectClient) -> None:
    for name in ("b", "__internal", "a"):
        client.call(OpCode.CREATE_TOPIC, topic=name, partitions=1)
    assert client.call(OpCode.LIST_TOPICS) == {"topics": ["a", "b"]}
    listed = client.call(OpCode.CLUSTER_METADATA, topic="")["topics"]
    assert sorted(t["topic"] for t in listed) == ["__internal", "a", "b"]


def test_consume_zero_copy_returns_the_stored_record_for_large_values(client: DirectClient) -> None:
    value = bytes(range(256)) * 256  # 65536 bytes
    produce(client, "big", value, key=b"k1")
    produce(client, "big", b"small", key=b"k2")
    large = client.call(OpCode.CONSUME_ZERO_COPY, topic="big", partition=0, offset=0)
    assert large["key"] == b"k1"
    assert large["value"] == struct.pack(">I", 2) + b"k1" + struct.pack(">I", len(value)) + value
    small = client.call(OpCode.CONSUME_ZERO_COPY, topic="big", partition=0, offset=1)
    assert small == {"key": b"k2", "value": b"small"}
    assert client.call(OpCode.CONSUME, topic="big", partition=0, offset=0) == {"key": b"k1", "value": value}


def test_fetch_scans_at_most_1000_records(client: DirectClient) -> None:
    for i in range(1200):
        produce(client, "many", b"hit" if i in (5, 1100) else b"miss")
    first = fetch(client, "many", filter="hit")
    assert [m["offset"] for m in first["messages"]] == [5]
    assert first["next_offset"] == 1000
    second = fetch(client, "many", offset=first["next_offset"], filter="hit")
    assert [m["offset"] for m in second["messages"]] == [1100]
    assert second["next_offset"] == 1200
    assert fetch(client, "many", max_messages=2000)["message_count"] == 1000


def test_fetch_filters(client: DirectClient) -> None:
    values = [b'{"a": {"b": 1}}', b'{"a": 2}', b"plain A.B text", b"[1]", b"xyz-123"]
    for v in values:
        produce(client, "f", v, key=b"key-" + v[:1])

    def offsets(text: str) -> list[int]:
        return [m["offset"] for m in fetch(client, "f", filter=text)["messages"]]

    assert offsets("$.a.b") == [0]
    assert offsets("$.a") == [0, 1]
    assert offsets("a.b") == [2]  # substring, case-insensitive ("." is also a regex wildcard)
    assert offsets(r"^xyz-\d+$") == [4]
    assert offsets("KEY-[") == [3]  # invalid regex: substring of the key still matches
    assert offsets("(?=x)") == []  # look-ahead is not RE2: never a regex match


def test_record_limit_reproduces_the_storage_eof() -> None:
    client = DirectClient(Broker(BrokerConfig(partition_record_limit=2)))
    produce(client, "t", b"1")
    produce(client, "t", b"2")
    assert produce(client, "t", b"3") == {"error_encoding": TEXT, "message": "EOF"}
    assert fetch(client, "t")["message_count"] == 2


def test_negative_partitions_answer_errors_instead_of_crashing(client: DirectClient) -> None:
    client.call(OpCode.CREATE_TOPIC, topic="t", partitions=1)
    client.call(OpCode.COMMIT, topic="t", group_id="g", partition=0, offset=0)
    expected = {"error_encoding": TEXT, "message": "partition -1 not found"}
    assert client.call(OpCode.FETCH, topic="t", partition=-1, offset=0, max_messages=1) == expected
    assert client.call(OpCode.SUBSCRIBE, topic="t", group_id="g", partition=-1, mode="earliest") == expected
    assert client.call(OpCode.GET_LAG, topic="t", group_id="g", partition=-1) == expected
    assert client.call(OpCode.RESET_OFFSET, topic="t", group_id="g", partition=-1, mode="latest") == expected
    assert client.call(OpCode.CREATE_TOPIC, topic="n", partitions=-3) == {
        "error_encoding": TEXT,
        "message": "invalid partition count: -3",
    }
    assert client.call(OpCode.LIST_TOPICS) == {"topics": ["t"]}


# --- consumer groups --------------------------------------------------------------------------


def test_members_count_the_latest_subscription_of_open_connections() -> None:
    broker = Broker()
    admin = DirectClient(broker)
    admin.call(OpCode.CREATE_TOPIC, topic="t", partitions=1)
    a, b = DirectClient(broker, "10.0.0.1:1"), DirectClient(broker, "10.0.0.2:2")

    def members(group: str) -> int:
        return int(admin.call(OpCode.DESCRIBE_GROUP, topic="t", group_id=group)["members"])

    for c in (a, b):
        c.call(OpCode.SUBSCRIBE, topic="t", group_id="g1", partition=0, mode="earliest")
    assert members("g1") == 2
    a.call(OpCode.SUBSCRIBE, topic="t", group_id="g2", partition=0, mode="earliest")
    a.close()
    # only a's latest group (g2) forgets it; g1 keeps counting the closed connection, as upstream
    assert (members("g1"), members("g2")) == (2, 0)
    b.close()
    b.close()  # idempotent
    assert members("g1") == 1
    # a failed subscribe still registers the member and creates the group
    c = DirectClient(broker, "10.0.0.3:3")
    assert c.call(OpCode.SUBSCRIBE, topic="missing", group_id="g", partition=0, mode="earliest")[
        "message"
    ] == ("topic not found: missing")
    assert admin.call(OpCode.DESCRIBE_GROUP, topic="missing", group_id="g")["members"] == 1


def test_commit_with_a_slash_fails_like_the_offsets_file_write(client: DirectClient) -> None:
    reply = client.call(OpCode.COMMIT, topic="a/b", group_id="g", partition=0, offset=3)
    assert reply == {
        "error_encoding": TEXT,
        "message": "open data/__consumer_offsets/a/b_g.json: no such file or directory",
    }
    # the value was kept in memory; committing it again changes nothing and succeeds
    assert client.call(OpCode.GET_OFFSET, topic="a/b", group_id="g", partition=0) == {"offset": 3}
    assert client.call(OpCode.COMMIT, topic="a/b", group_id="g", partition=0, offset=3) == {"success": True}


def test_group_keys_are_topic_colon_group(client: DirectClient) -> None:
    client.call(OpCode.COMMIT, topic="a:b", group_id="c", partition=0, offset=7)
    assert client.call(OpCode.GET_OFFSET, topic="a", group_id="b:c", partition=0) == {"offset": 7}


# --- config and threads -----------------------------------------------------------------------


def test_config_from_server_json_uses_upstream_defaults() -> None:
    config = BrokerConfig.from_server_config(
        {
            "NODE_ID": "n1",
            "bind_addr": "h:1",
            "unknown": {"x": 1},
            "dlq": {"enabled": True, "topic_suffix": "-dead"},
        }
    )
    assert config.node_id == "n1" and config.bind_addr == "h:1"
    assert config.dlq_enabled and config.dlq_topic_suffix == "-dead"
    assert not config.schema_enabled and not config.delayed_enabled and not config.transaction_enabled
    assert config.audit_enabled and not config.auth.enabled
    assert BrokerConfig().schema_enabled and BrokerConfig().transaction_enabled
    with pytest.raises(ValueError, match="must be a boolean"):
        BrokerConfig.from_server_config({"auth": {"enabled": "yes"}})
    tls = BrokerConfig.from_server_config(
        {"security": {"tls_enabled": True, "tls_cert_file": "c", "tls_key_file": "k"}}
    )
    assert tls.tls_files() == ("c", "k")
    assert BrokerConfig().tls_files() == (None, None)
    off = BrokerConfig().model_copy(update=BrokerConfig.upstream_feature_defaults())
    assert not off.dlq_enabled


def test_metadata_reports_bind_addr_verbatim() -> None:
    client = DirectClient(Broker(BrokerConfig(node_id="n", bind_addr=":9092")))
    client.call(OpCode.CREATE_TOPIC, topic="t", partitions=2)
    partitions = client.call(OpCode.CLUSTER_METADATA, topic="t")["topics"][0]["partitions"]
    assert [(p["partition"], p["leader_id"], p["leader_addr"]) for p in partitions] == [
        (0, "n", ":9092"),
        (1, "n", ":9092"),
    ]


def test_concurrent_producers_get_contiguous_offsets() -> None:
    broker = Broker()
    results: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        c = DirectClient(broker)
        got = [produce(c, "t", b"x")["offset"] for _ in range(200)]
        with lock:
            results.extend(got)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1600))
