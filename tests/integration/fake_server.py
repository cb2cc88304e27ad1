"""A tiny scripted FlyMQ server for client tests that need the server to misbehave on purpose.

Built only from :mod:`pyflymq_core.protocol` (the same layouts the real server's transcripts were
checked against): it answers like a cluster follower (``not partition leader ... leader_addr=...``),
never answers (timeouts), drops connections (reconnect / re-authentication), or records exactly what
a client sent (validation tests: "nothing was sent").  The embedded broker covers normal behaviour.

``handler(conn, op, fields)`` returns the response fields (a dict), :class:`Error`, :data:`NO_REPLY`
or :data:`CLOSE`.  The default handler is :class:`MiniBroker`, a minimal in-memory log;
:class:`ClusterNode` is one node of a multi-node FlyMQ 1.26 cluster (peers named by their cluster
(Raft) address), and :class:`SilentPort` stands for such a Raft port (accepts, never answers).
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pyflymq_core.errors import ProtocolError
from pyflymq_core.protocol import (
    FrameParser,
    OpCode,
    decode_request,
    decompress_payload,
    encode_frame,
    encode_response,
    partition_for_key,
)


@dataclass(frozen=True)
class Error:
    """Answer with an error frame."""

    message: str
    encoding: str = "raw_unflagged"


class _Marker:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


NO_REPLY = _Marker("NO_REPLY")
CLOSE = _Marker("CLOSE")

Reply = dict[str, Any] | Error | _Marker
Handler = Callable[["FakeConn", int, dict[str, Any]], Reply]


@dataclass
class FakeConn:
    """Server-side state of one client connection."""

    id: int
    sock: socket.socket
    username: str | None = None
    closed: bool = False
    state: dict[str, Any] = field(default_factory=dict)


class MiniBroker:
    """Just enough of a broker for client plumbing tests (not a conformance reference)."""

    def __init__(self, *, auth: dict[str, str] | None = None, leader_addr: str = ":9092") -> None:
        self.auth = auth  # None = authentication disabled
        self.leader_addr = leader_addr
        self.topics: dict[str, list[list[tuple[bytes, bytes]]]] = {}
        self.rr: dict[str, int] = {}
        self.lock = threading.Lock()
        self.crashed = False

    def partitions(self, topic: str, count: int = 1) -> list[list[tuple[bytes, bytes]]]:
        return self.topics.setdefault(topic, [[] for _ in range(count)])

    def __call__(self, conn: FakeConn, op: int, f: dict[str, Any]) -> Reply:
        with self.lock:
            return self._handle(conn, op, f)

    def _handle(self, conn: FakeConn, op: int, f: dict[str, Any]) -> Reply:
        if op == OpCode.AUTH:
            if self.auth is None:
                self.crashed = True  # the real server panics (nil pointer)
                return CLOSE
            if self.auth.get(f["username"]) == f["password"]:
                conn.username = f["username"]
                return {"success": True, "username": f["username"], "roles": ["admin"], "error": ""}
            return {"success": False, "username": "", "roles": [], "error": "invalid username or password"}
        if self.auth is not None and conn.username is None and op in (OpCode.LIST_GROUPS, OpCode.PRODUCE):
            return Error("authentication required")
        if op == OpCode.WHOAMI:
            return {
                "success": conn.username is not None,
                "username": conn.username or "",
                "roles": [],
                "error": "",
            }
        if op == OpCode.LIST_GROUPS:
            return {"groups": []}
        if op == OpCode.CREATE_TOPIC:
            self.partitions(f["topic"], f["partitions"] or 1)
            return {"success": True}
        if op == OpCode.LIST_TOPICS:
            return {"topics": sorted(t for t in self.topics if not t.startswith("__"))}
        if op == OpCode.PRODUCE:
            parts = self.partitions(f["topic"])
            if f["key"]:
                index = partition_for_key(f["key"], len(parts)) or 0
            else:
                index = self.rr.get(f["topic"], 0) % len(parts)
                self.rr[f["topic"]] = index + 1
            refusal = self.refuse(index)
            if refusal is not None:
                return refusal
            parts[index].append((f["key"], f["value"]))
            return {
                "topic": f["topic"],
                "partition": index,
                "offset": len(parts[index]) - 1,
                "timestamp": int(time.time() * 1000),
                "key_size": len(f["key"]) or -1,
                "value_size": len(f["value"]),
            }
        if op in (OpCode.PRODUCE_WITH_TTL, OpCode.PRODUCE_DELAYED, OpCode.PRODUCE_TX):
            # keyless produces; transactions behave like the server's default (coordinator off)
            meta = self._handle(conn, OpCode.PRODUCE, {"topic": f["topic"], "key": b"", "value": f["data"]})
            assert isinstance(meta, dict)
            return {**meta, "partition": 0, "key_size": -1}
        if op == OpCode.BEGIN_TX:
            self.rr["__txn"] = self.rr.get("__txn", 0) + 1
            return {"txn_id": f"txn-{self.rr['__txn']}", "success": True}
        if op in (OpCode.COMMIT_TX, OpCode.ABORT_TX):
            return {"txn_id": f["txn_id"], "success": True}
        if op in (OpCode.CONSUME, OpCode.CONSUME_ZERO_COPY):
            found = self.topics.get(f["topic"])
            if found is None:
                return Error("topic not found")
            if not 0 <= f["partition"] < len(found):
                return Error(f"partition {f['partition']} out of range")
            log = found[f["partition"]]
            if f["offset"] >= len(log):
                return Error("EOF")
            key, value = log[f["offset"]]
            return {"key": key, "value": value}
        if op in (OpCode.FETCH, OpCode.FETCH_BINARY):
            found = self.topics.get(f["topic"])
            if found is None:
                return Error(f"topic not found: {f['topic']}")
            log = found[f["partition"]]
            start = f["offset"]
            items = log[start : start + (f["max_messages"] or 10)]
            messages = [{"offset": start + i, "key": k, "value": v} for i, (k, v) in enumerate(items)]
            return {
                "message_count": len(messages),
                "next_offset": start + len(messages),
                "messages": messages,
            }
        if op == OpCode.CLUSTER_METADATA:
            names = [f["topic"]] if f.get("topic") else sorted(self.topics)
            if f.get("topic") and f["topic"] not in self.topics:
                return Error(f"topic not found: {f['topic']}", "coded")
            return {
                "cluster_id": self.cluster_id,
                "topics": [
                    {
                        "topic": name,
                        "partitions": [self.partition_metadata(i) for i in range(len(self.topics[name]))],
                    }
                    for name in names
                ],
            }
        return Error(f"unknown opcode: {op}")

    # -- what a cluster node changes (see ClusterNode) --------------------------------------------

    cluster_id = "standalone"

    def refuse(self, partition: int) -> Reply | None:
        """The answer to a produce that picked ``partition``, when this node does not write it."""
        return None

    def partition_metadata(self, partition: int) -> dict[str, Any]:
        """One partition of a CLUSTER_METADATA answer."""
        return {
            "partition": partition,
            "leader_id": "fake",
            "leader_addr": self.leader_addr,
            "epoch": 1,
            "state": "online",
            "replicas": ["fake"],
            "isr": ["fake"],
        }


class ClusterNode(MiniBroker):
    """One node of a multi-node FlyMQ 1.26 cluster, as the real server's transcript shows it
    (``tests/transcripts/cluster.jsonl``, scenario ``cluster3_metadata_and_non_leader``).

    ``cluster_id`` is the node id; partition ``p`` is led by the ring ``[this node, *peers]`` at
    ``p mod len(ring)``, so the node leads partition 0 (every node claims it) and names each other
    partition's leader only by that peer's cluster (Raft) address, in ``leader_id`` *and*
    ``leader_addr``.  A produce (keyed: FNV-1a; keyless: the per-topic round-robin, which moves on
    even when it refuses) to a partition it does not lead answers
    ``not partition leader: partition=<p> leader_addr=<peer cluster address>``.  Topics are
    auto-created with 6 partitions, as in cluster mode.
    """

    def __init__(self, node_id: str, client_addr: str, peers: list[str]) -> None:
        super().__init__(leader_addr=client_addr)
        self.node_id = node_id
        self.peers = list(peers)
        self.cluster_id = node_id

    def partitions(self, topic: str, count: int = 6) -> list[list[tuple[bytes, bytes]]]:
        return super().partitions(topic, count)

    def leader_of(self, partition: int) -> str | None:
        """The cluster address of the peer leading ``partition`` (``None``: this node)."""
        ring: list[str | None] = [None, *self.peers]
        return ring[partition % len(ring)]

    def refuse(self, partition: int) -> Reply | None:
        peer = self.leader_of(partition)
        if peer is None:
            return None
        return Error(f"not partition leader: partition={partition} leader_addr={peer}")

    def partition_metadata(self, partition: int) -> dict[str, Any]:
        ring = [self.node_id, *self.peers]
        shift = partition % len(ring)
        members = ring[shift:] + ring[:shift]
        leader = members[0]
        return {
            "partition": partition,
            "leader_id": leader,
            "leader_addr": self.leader_addr if leader == self.node_id else leader,
            "epoch": 1,
            "state": "online",
            "replicas": members,
            "isr": members,
        }


class FakeServer:
    """A threaded TCP server on 127.0.0.1 (ephemeral port) speaking FlyMQ frames."""

    def __init__(self, handler: Handler | None = None) -> None:
        self.handler: Handler = handler or MiniBroker()
        self.requests: list[tuple[int, int, dict[str, Any]]] = []
        self.connections: list[FakeConn] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def ops(self) -> list[int]:
        """Opcodes received so far, in order."""
        with self._lock:
            return [op for _, op, _ in self.requests]

    def start(self) -> FakeServer:
        thread = threading.Thread(target=self._accept, name="fake-flymq-accept", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def stop(self) -> None:
        self._stop.set()
        self._listener.close()
        self.drop_connections()

    def drop_connections(self) -> None:
        """Close every client connection from the server side (like a restart or idle timeout)."""
        with self._lock:
            conns = list(self.connections)
        for conn in conns:
            _hard_close(conn)

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                sock, _ = self._listener.accept()
            except OSError:
                return
            conn = FakeConn(id=len(self.connections), sock=sock)
            with self._lock:
                self.connections.append(conn)
            thread = threading.Thread(
                target=self._serve, args=(conn,), name=f"fake-flymq-{conn.id}", daemon=True
            )
            thread.start()

    def _serve(self, conn: FakeConn) -> None:
        parser = FrameParser(max_payload=32 * 1024 * 1024)
        sock = conn.sock
        try:
            while not conn.closed:
                data = sock.recv(65536)
                if not data:
                    return
                try:
                    frames = parser.feed(data)
                except ProtocolError:
                    return  # bad framing: the real server closes silently too
                for frame in frames:
                    payload = decompress_payload(frame.flags, frame.payload)
                    try:
                        fields = decode_request(frame.op, payload)
                    except ProtocolError as exc:
                        fields = {"_decode_error": exc.server_text or str(exc)}
                    with self._lock:
                        self.requests.append((conn.id, frame.op, fields))
                    if "_decode_error" in fields:
                        reply: Reply = Error(fields["_decode_error"])
                    else:
                        reply = self.handler(conn, frame.op, fields)
                    if reply is NO_REPLY:
                        continue
                    if reply is CLOSE:
                        _hard_close(conn)
                        return
                    if isinstance(reply, Error):
                        resp = encode_response(
                            frame.op, {"error_encoding": reply.encoding, "message": reply.message}
                        )
                    else:
                        assert isinstance(reply, dict)
                        resp = encode_response(frame.op, reply)
                    sock.sendall(encode_frame(*resp))
        except OSError:
            return
        finally:
            _hard_close(conn)


def _hard_close(conn: FakeConn) -> None:
    if conn.closed:
        return
    conn.closed = True
    with contextlib.suppress(OSError):  # already disconnected by the peer: nothing to shut down
        conn.sock.shutdown(socket.SHUT_RDWR)
    conn.sock.close()


class SilentPort(FakeServer):
    """A server that accepts connections, reads what arrives and never answers — like a FlyMQ
    node's cluster (Raft) port, which reads a FlyMQ frame as a ~16 MiB length and waits.  Tests
    assert nothing dialed it (:attr:`accepted`)."""

    def __init__(self) -> None:
        super().__init__(_never_answer)

    def __enter__(self) -> SilentPort:
        self.start()
        return self

    @property
    def accepted(self) -> int:
        """How many connections were made to it."""
        with self._lock:
            return len(self.connections)


def _never_answer(conn: FakeConn, op: int, fields: dict[str, Any]) -> Reply:
    return NO_REPLY
