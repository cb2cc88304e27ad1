"""Replay every golden transcript against the embedded broker and compare its answers.

Each scenario runs on a fresh :class:`~pyflymq_broker.Broker` built from the scenario's server
profile (``tests/transcripts/profiles/<profile>.json``; ``raft-single`` names a ``cluster_addr``
and so runs the broker in single-node cluster mode), with one
:class:`~pyflymq_broker.Session` per transcript ``connection``. The ``cluster-3node`` profile runs
on a fresh :class:`~pyflymq_broker.multinode.BrokerCluster` of its three node profiles, with the
Raft leader the capture elected (``role_map``); each step goes to the node its ``node_role`` names,
and each connection stays on the node of its first step. Requests are sent as the exact
bytes captured (``payload_hex`` behind a rebuilt header, or ``raw_hex``), re-encoded only where a
``from_previous`` substitution applies (the transaction id the broker itself handed out).
``sleep_before_ms`` advances an injected clock: nothing sleeps. Responses are decoded with the
protocol core and compared field by field after masking the ``volatile`` paths and sorting the
``unordered`` lists.

Where the real server crashed (``server_exited``), the broker answers with an error frame instead
(a documented deviation, docs/broker.md); the test asserts that error frame. Steps after a crash
would describe a dead server and are not replayed (every crash is currently the last step).

Not replayed:

* ``tls_port_plaintext_client`` step 1: a plaintext client on a TLS port fails the TLS handshake,
  which is the TLS server's job, not the state machine's (step 2 is replayed).

Paths that are both ``volatile`` and ``unordered`` are compared as multisets (stricter than
masking them); audit-export ``data`` is compared with event ids and timestamps masked.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pyflymq_broker import Broker, BrokerConfig, Session
from pyflymq_broker.multinode import BrokerCluster
from pyflymq_core.protocol import decode_request, decode_response, encode_header, encode_request

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "transcripts"
PROFILES = TRANSCRIPTS / "profiles"
MULTI_NODE_PROFILES = {"cluster-3node"}
SKIPPED_STEPS = {
    ("tls_port_plaintext_client", 1): "a plaintext client on the TLS port fails the TLS handshake "
    "(transport layer, not the broker state machine)",
}
MASK = "<volatile>"
AUDIT_EXPORT = 0x81


def _load() -> dict[str, list[dict[str, Any]]]:
    scenarios: dict[str, list[dict[str, Any]]] = {}
    for path in sorted(TRANSCRIPTS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                step = json.loads(line)
                scenarios.setdefault(step["scenario"], []).append(step)
    for steps in scenarios.values():
        steps.sort(key=lambda s: s["step"])
    return scenarios


SCENARIOS = _load()


class FakeClock:
    """Injected broker clock: starts at the capture's epoch, moves only when told to."""

    def __init__(self, start: float = 1_795_843_493.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@dataclass
class Connection:
    session: Session
    node_id: str
    pending: bytearray = field(default_factory=bytearray)
    closed: bool = False

    def next_frame(self) -> tuple[int, int, bytes] | None:
        if len(self.pending) < 8:
            return None
        op, flags = self.pending[2], self.pending[3]
        length = int.from_bytes(self.pending[4:8], "big")
        if len(self.pending) < 8 + length:
            return None
        payload = bytes(self.pending[8 : 8 + length])
        del self.pending[: 8 + length]
        return op, flags, payload


# --- comparison helpers -----------------------------------------------------------------------


def _hexify(value: Any) -> Any:
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {k: _hexify(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_hexify(v) for v in value]
    return value


def _parse_path(path: str) -> list[str]:
    """``a.b[*].c`` -> ``["a", "b", "*", "c"]``."""
    parts: list[str] = []
    for piece in path.split("."):
        if piece.endswith("[*]"):
            parts.extend([piece[:-3], "*"])
        else:
            parts.append(piece)
    return parts


def _apply(value: Any, parts: list[str], fn: Any) -> Any:
    """Apply ``fn`` to every node the path reaches; returns the (possibly replaced) value."""
    if not parts:
        return fn(value)
    head, rest = parts[0], parts[1:]
    if head == "*":
        if isinstance(value, list):
            return [_apply(v, rest, fn) for v in value]
        return value
    if isinstance(value, dict) and head in value:
        value = dict(value)
        value[head] = _apply(value[head], rest, fn)
    return value


def _canonical(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


def normalize(fields: dict[str, Any], volatile: list[str], unordered: list[str]) -> dict[str, Any]:
    """Mask volatile paths (deepest first) and sort unordered lists (deepest first)."""
    result: Any = _hexify(fields)
    both = set(volatile) & set(unordered)
    for path in sorted(set(volatile) - both, key=lambda p: -len(_parse_path(p))):
        result = _apply(result, _parse_path(path), lambda _v: MASK)
    for path in sorted(unordered, key=lambda p: -len(_parse_path(p))):
        result = _apply(
            result, _parse_path(path), lambda v: sorted(v, key=_canonical) if isinstance(v, list) else v
        )
    assert isinstance(result, dict)
    return result


def _export_rows(fmt: str, data_hex: str) -> Any:
    """Audit export data with the per-run values (ids, timestamps) masked."""
    text = bytes.fromhex(data_hex).decode("utf-8")
    if fmt == "csv":
        rows = list(csv.reader(io.StringIO(text)))
        return [rows[0]] + [[MASK, MASK, *row[2:]] for row in rows[1:]]
    parsed = json.loads(text)
    if parsed is None:
        return None
    return [{**event, "id": MASK, "timestamp": MASK} for event in parsed]


# --- replay -----------------------------------------------------------------------------------


def _request_bytes(step: dict[str, Any], responses: dict[int, dict[str, Any]]) -> bytes:
    request = step["request"]
    if "raw_hex" in request:
        return bytes.fromhex(request["raw_hex"])
    op, flags = request["op"], request["flags"]
    payload = bytes.fromhex(request["payload_hex"])
    substitutions = request.get("from_previous") or {}
    if substitutions:
        fields = decode_request(op, payload)
        for name, source in substitutions.items():
            fields[name] = responses[source["step"]][source["field"]]
        payload = encode_request(op, fields)
    return encode_header(op, flags, len(payload)) + payload


def _expected_fields(step: dict[str, Any]) -> dict[str, Any]:
    return normalize(step["response"]["fields"], step["volatile"], step["unordered"])


def _nodes(steps: list[dict[str, Any]], clock: FakeClock) -> dict[str, Broker]:
    """The scenario's server(s) by node id: one broker, or every node of a multi-node cluster."""
    profile = steps[0]["server_profile"]
    counter = iter(range(1, 1_000_000))

    def ids() -> str:
        return f"00000000-0000-4000-8000-{next(counter):012d}"

    if profile in MULTI_NODE_PROFILES:
        cluster = BrokerCluster.from_json_files(
            sorted(PROFILES.glob(f"{profile}.node*.json")),
            leader=steps[0]["role_map"]["leader"]["node_id"],  # the node the capture's election chose
            clock=clock,
            id_factory=ids,
        )
        return {node.config.node_id: node for node in cluster.nodes}
    broker = Broker(BrokerConfig.from_json_file(PROFILES / f"{profile}.json"), clock=clock, id_factory=ids)
    return {broker.config.node_id: broker}


def _node_id(step: dict[str, Any], nodes: dict[str, Broker]) -> str:
    """The node a step talks to: its ``node_role`` in a multi-node capture, else the only one."""
    if "node_role" in step:
        node_id: str = step["role_map"][step["node_role"]]["node_id"]
        return node_id
    (only,) = nodes
    return only


def replay(scenario: str) -> Iterator[str]:
    """Run the scenario; yields a description of each checked exchange (for the assertion text)."""
    steps = SCENARIOS[scenario]
    clock = FakeClock()
    nodes = _nodes(steps, clock)
    connections: dict[int, Connection] = {}
    responses: dict[int, dict[str, Any]] = {}
    crashed_at: int | None = None
    for step in steps:
        where = f"{scenario}#{step['step']} ({step['description'][:80]})"
        if crashed_at is not None:
            # The real server died at ``crashed_at``: what it answered afterwards (connection
            # refused, closed sockets) describes a dead process, not the broker. No current
            # transcript has such steps; future ones are not replayed.
            return
        if (scenario, step["step"]) in SKIPPED_STEPS:
            continue
        clock.advance(step.get("sleep_before_ms", 0) / 1000.0)
        index = step["connection"]
        node_id = _node_id(step, nodes)
        conn = connections.get(index)
        if conn is None:
            conn = connections[index] = Connection(
                nodes[node_id].open_session(client_addr=f"127.0.0.1:{50000 + index}"), node_id
            )
        assert conn.node_id == node_id, f"{where}: connection {index} moved from {conn.node_id} to {node_id}"
        request = step["request"]
        action = request.get("client_action")
        if action in ("close", "shutdown_write"):
            conn.session.close()
            conn.closed = True
        elif action != "wait":
            assert not conn.closed, f"{where}: the transcript sends on a connection the broker closed"
            result = conn.session.feed(_request_bytes(step, responses))
            conn.pending += result.output
            if result.close:
                conn.closed = True
            if request.get("client_action_after_send"):
                conn.session.close()
                conn.closed = True
        expected = step["response"]
        if expected.get("server_exited"):
            frame = conn.next_frame()
            assert frame is not None, (
                f"{where}: the real server crashed; the broker must answer an error frame"
            )
            assert frame[0] == 0xFF, (
                f"{where}: expected an error frame instead of a crash, got op {frame[0]:#x}"
            )
            crashed_at = step["step"]
            yield f"{where}: error frame instead of crash"
            continue
        if expected.get("client_closed"):
            continue
        if expected.get("closed"):
            assert conn.closed, f"{where}: the server closed the connection; the broker did not"
            assert not conn.pending, f"{where}: the server sent nothing before closing"
            yield where
            continue
        if expected.get("no_response"):
            assert not conn.closed, f"{where}: the connection must stay open"
            assert not conn.pending, f"{where}: the server sent nothing"
            yield where
            continue
        frame = conn.next_frame()
        assert frame is not None, f"{where}: no response from the broker"
        op, flags, payload = frame
        req_op = request["op"] if request.get("op") is not None else _previous_op(steps, step)
        actual = decode_response(req_op, op, flags, payload)
        responses[step["step"]] = actual
        assert (op, flags) == (expected["op"], expected["flags"]), (
            f"{where}: op/flags {op:#x}/{flags:#x}, expected {expected['op']:#x}/{expected['flags']:#x}; "
            f"got {_hexify(actual)}"
        )
        got = normalize(actual, step["volatile"], step["unordered"])
        want = _expected_fields(step)
        if req_op == AUDIT_EXPORT and "data" in step["volatile"] and op == AUDIT_EXPORT:
            got["data"] = _export_rows(actual["format"], actual["data"].hex())
            want["data"] = _export_rows(expected["fields"]["format"], expected["fields"]["data"])
        assert got == want, f"{where}:\n  got  {got}\n  want {want}"
        yield where


def _previous_op(steps: list[dict[str, Any]], step: dict[str, Any]) -> int:
    """For ``wait`` steps (pipelining): the opcode of the matching frame in the raw request."""
    first = next(s for s in steps if s["connection"] == step["connection"] and "raw_hex" in s["request"])
    raw = bytes.fromhex(first["request"]["raw_hex"])
    ops: list[int] = []
    pos = 0
    while pos + 8 <= len(raw):
        ops.append(raw[pos + 2])
        pos += 8 + int.from_bytes(raw[pos + 4 : pos + 8], "big")
    index: int = step["step"] - first["step"]
    return ops[index]


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_broker_matches_transcript(scenario: str) -> None:
    checked = list(replay(scenario))
    assert checked, f"{scenario}: no exchange was checked"


def test_multi_node_scenarios_check_every_step_on_every_node() -> None:
    for name, steps in SCENARIOS.items():
        if steps[0]["server_profile"] in MULTI_NODE_PROFILES:
            checked = list(replay(name))
            assert len(checked) == len(steps), f"{name}: {len(steps) - len(checked)} steps not checked"
            assert {s["node_role"] for s in steps} == {"leader", "follower-a", "follower-b"}


def test_every_transcript_file_was_loaded() -> None:
    files = {p.stem for p in TRANSCRIPTS.glob("*.jsonl")}
    areas = {"topics", "produce_consume", "fetch", "consumer_groups", "schemas", "auth", "audit", "framing"}
    assert areas <= files
    assert len(SCENARIOS) >= 60
    profiles = {steps[0]["server_profile"] for steps in SCENARIOS.values()}
    assert {"raft-single", "cluster-3node"} <= profiles
