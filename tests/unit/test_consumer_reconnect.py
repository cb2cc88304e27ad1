"""The sync consumer reconnects within its poll's deadline, and still reconnects when that deadline
is shorter than a connect (``poll(0)``, iteration's 100 ms slices), and a search cut short by the
deadline goes on, at the next poll, from the first server it did not try (failover progresses).

In-memory brokers (``memory://name``) stand in for servers; a transport subclass makes one of them
"black-holed" (its connect takes the whole connect timeout).  Found by reviewing the change that
bounded reconnects by the poll deadline: both cases used to stop reading for good.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from pyflymq import FlyMQClient
from pyflymq_core.errors import ConnectionError
from pyflymq_transports.memory import MemoryTransport

_BLACK_HOLED: set[str] = set()
_SLOW_CONNECT_S: dict[str, float] = {}


class _Transport(MemoryTransport):
    def connect(self) -> None:
        host = self.address.host or ""
        if host in _BLACK_HOLED:
            time.sleep(self.options.connect_timeout or 5.0)
            raise ConnectionError(f"connect to {self.address} timed out")
        takes = _SLOW_CONNECT_S.get(host, 0.0)
        limit = self.options.connect_timeout
        if limit is not None and takes > limit:  # a connect slower than its timeout fails
            time.sleep(limit)
            raise ConnectionError(f"connect to {self.address} timed out")
        time.sleep(takes)
        super().connect()


@pytest.fixture(autouse=True)
def _reset() -> Iterator[None]:
    _BLACK_HOLED.clear()
    _SLOW_CONNECT_S.clear()
    yield
    _BLACK_HOLED.clear()
    _SLOW_CONNECT_S.clear()


def _poll_for(consumer: object, timeout_ms: float, seconds: float, until: bytes) -> list[bytes]:
    """Poll until ``until`` arrives or ``seconds`` pass."""
    got: list[bytes] = []
    deadline = time.monotonic() + seconds
    while until not in got and time.monotonic() < deadline:
        got.extend(m.value for m in consumer.poll(timeout_ms=timeout_ms))  # type: ignore[attr-defined]
    return got


def test_poll_zero_still_reconnects() -> None:
    client = FlyMQClient("memory://rc-zero", transport_factory=_Transport)
    client.create_topic("t", partitions=1)
    client.produce("t", b"before")
    consumer = client.consumer("t", auto_offset_reset="earliest")
    assert [m.value for m in consumer.poll(timeout_ms=2000)] == [b"before"]
    assert client._primary is not None
    client._primary.close("lost")
    with FlyMQClient("memory://rc-zero") as other:
        other.produce("t", b"after")
    assert _poll_for(consumer, 0, 2.0, until=b"after") == [b"after"]
    consumer.close()
    client.close()


def test_iteration_reconnects_over_a_connect_slower_than_its_slices() -> None:
    client = FlyMQClient("memory://rc-slow", transport_factory=_Transport)
    client.create_topic("t", partitions=1)
    client.produce("t", b"a")
    consumer = client.consumer("t", auto_offset_reset="earliest")
    records = iter(consumer)
    assert next(records).value == b"a"
    _SLOW_CONNECT_S["rc-slow"] = 0.15  # longer than the 100 ms slices iteration polls in
    assert client._primary is not None
    client._primary.close("lost")
    with FlyMQClient("memory://rc-slow") as other:
        other.produce("t", b"b")
    assert next(records).value == b"b"
    consumer.close()
    client.close()


def test_a_search_cut_short_by_the_deadline_goes_on_with_the_next_server() -> None:
    for name, values in (("rc-a", [b"a"]), ("rc-b", [b"b1", b"b2"])):  # two separate brokers
        with FlyMQClient(f"memory://{name}") as seed:
            seed.create_topic("t", partitions=1)
            for value in values:
                seed.produce("t", value)
    client = FlyMQClient(
        ["memory://rc-a", "memory://rc-b"],
        transport_factory=_Transport,
        connect_timeout_ms=2000,
        max_retries=0,
    )
    consumer = client.consumer("t", auto_offset_reset="earliest")
    assert [m.value for m in consumer.poll(timeout_ms=2000)] == [b"a"]
    _BLACK_HOLED.add("rc-a")
    assert client._primary is not None
    client._primary.close("a died")
    # Each poll(500) spends its time on the black-holed a; the next one must try b, not a again.
    got = _poll_for(consumer, 500, 6.0, until=b"b2")
    assert b"b2" in got  # read from b (its offset 1: the consumer's position carried over)
    assert client._primary is not None and client._primary.address.host == "rc-b"
    consumer.close()
    client.close()
