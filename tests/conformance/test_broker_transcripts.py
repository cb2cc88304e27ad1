"""Replay every golden transcript against the embedded broker and compare its answers.

Each scenario runs on a fresh :class:`~pyflymq_broker.Broker` built from the scenario's server
profile (``tests/transcripts/profiles/<profile>.json``; ``raft-single`` names a ``cluster_addr``
and so runs the broker in single-node cluster mode), with one
:class:`~pyflymq_broker.Session` per transcript ``connection``. Requests are sent as the exact
bytes captured (``payload_hex`` behind a rebuilt header, or ``raw_hex``), re-encoded only where a
``from_previous`` substitution applies (the transaction id the broker itself handed out).
``sleep_before_ms`` advances an injected clock: nothing sleeps. Responses are decoded with the
protocol core and compared field by field after masking the ``volatile`` paths and sorting the
``unordered`` lists.

Where the real server crashed (``server_exited``), the broker answers with an error frame instead
(a documented deviation, docs/broker.md); the test asserts that error frame. Steps after a crash
would describe a dead server and are not replayed (every crash is currently the last step).

Not replayed (listed so the skip is visible in the report):

* profile ``cluster-3node``: multi-node clusters are not simulated (three nodes that each believe
  they lead partition 0, unreplicated logs, ``not leader`` redirects);
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
from pyflymq_core.protocol import decode_request, decode_response, encode_header, encode_request

TRANSCRIPTS = Path(__file__).resolve().parent.parent / "transcripts"
PROFILES = TRANSCRIPTS / "profiles"
NOT_SIMULATED_PROFILES = {"cluster-3node"}
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


def replay(scenario: str) -> Iterator[str]:
    """Run the scenario; yields a description of each checked exchange (for the assertion text)."""
    steps = SCENARIOS[scenario]
    profile = steps[0]["server_profile"]
    clock = FakeClock()
    counter = iter(range(1, 1_000_000))
    broker = Broker(
        BrokerConfig.from_json_file(PROFILES / f"{profile}.json"),
        clock=clock,
        id_factory=lambda: f"00000000-0000-4000-8000-{next(counter):012d}",
    )
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
        conn = connections.get(index)
        if conn is None:
            conn = connections[index] = Connection(
                broker.open_session(client_addr=f"127.0.0.1:{50000 + index}")
            )
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


REPLAYABLE = [
    name for name, steps in SCENARIOS.items() if steps[0]["server_profile"] not in NOT_SIMULATED_PROFILES
]
NOT_REPLAYED = [name for name in SCENARIOS if name not in REPLAYABLE]


@pytest.mark.parametrize("scenario", REPLAYABLE)
def test_broker_matches_transcript(scenario: str) -> None:
    checked = list(replay(scenario))
    assert checked, f"{scenario}: no exchange was checked"


@pytest.mark.parametrize("scenario", NOT_REPLAYED)
def test_multi_node_profiles_are_not_simulated(scenario: str) -> None:
    pytest.skip(
        f"{scenario}: profile {SCENARIOS[scenario][0]['server_profile']} (multi-node cluster) "
        "is not simulated"
    )


def test_every_transcript_file_was_loaded() -> None:
    files = {p.stem for p in TRANSCRIPTS.glob("*.jsonl")}
    areas = {"topics", "produce_consume", "fetch", "consumer_groups", "schemas", "auth", "audit", "framing"}
    assert areas <= files
    assert len(REPLAYABLE) >= 60
    raft_single = {name for name, steps in SCENARIOS.items() if steps[0]["server_profile"] == "raft-single"}
    assert len(raft_single) >= 3 and raft_single <= set(REPLAYABLE)
