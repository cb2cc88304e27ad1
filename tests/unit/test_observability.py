"""Observability: the shipped metrics plugin, the ``pyflymq`` logger hierarchy, and that DEBUG logs of
a full client flow contain neither payloads nor secrets."""

from __future__ import annotations

import io
import logging
import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pyflymq_core.errors import AuthenticationError, OffsetOutOfRangeError
from pyflymq_core.metrics_plugin import LatencyHistogram, MetricsPlugin, format_ops, op_label
from pyflymq_core.observability import (
    LOGGERS,
    disable_metrics,
    disable_request_logging,
    enable_metrics,
    enable_request_logging,
    get_logger,
    log_to_stderr,
)
from pyflymq_core.plugins import get_lifecycle
from pyflymq_core.protocol import OpCode


@pytest.fixture
def metrics() -> Iterator[MetricsPlugin]:
    plugin = enable_metrics()
    try:
        yield plugin
    finally:
        disable_metrics(plugin)


# --------------------------------------------------------------------------- histogram


def test_histogram_percentiles_are_bucket_upper_bounds() -> None:
    histogram = LatencyHistogram((1.0, 10.0, 100.0))
    for value in (0.5, 0.7, 5.0, 50.0):
        histogram.record(value)
    assert histogram.counts == [2, 1, 1, 0]
    assert histogram.percentile(50) == 1.0
    assert histogram.percentile(75) == 10.0
    assert histogram.percentile(100) == 50.0  # capped at the largest sample
    histogram.record(1234.0)  # overflow bucket reports the largest sample
    assert histogram.percentile(100) == 1234.0
    assert histogram.as_dict()["count"] == 5 and histogram.as_dict()["buckets_ms"][-1] == "+Inf"
    with pytest.raises(ValueError):
        histogram.percentile(0)
    assert LatencyHistogram().percentile(50) is None


def test_bucket_bounds_are_validated() -> None:
    with pytest.raises(ValueError):
        MetricsPlugin(buckets_ms=(5.0, 1.0))
    with pytest.raises(ValueError):
        MetricsPlugin(buckets_ms=())


def test_op_label() -> None:
    assert op_label(int(OpCode.PRODUCE)) == "PRODUCE"
    assert op_label(0xEE) == "0xEE"


# --------------------------------------------------------------------------- metrics plugin


def test_metrics_count_requests_errors_latency_per_opcode(
    metrics: MetricsPlugin, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    topic = unique_topic("metrics")
    assert get_lifecycle().active
    for i in range(3):
        flymq_client.produce(topic, f"m{i}".encode())
    assert flymq_client.consume(topic, 0).value == b"m0"
    with pytest.raises(OffsetOutOfRangeError):
        flymq_client.consume(topic, 99)

    mine = metrics.for_client(flymq_client)
    produce, consume = mine["ops"]["PRODUCE"], mine["ops"]["CONSUME"]
    assert (produce["requests"], produce["errors"]) == (3, 0)
    assert produce["bytes_sent"] > 3 * len(topic)
    assert produce["latency"]["count"] == 3 and produce["latency"]["p99_ms"] is not None
    assert (consume["requests"], consume["errors"]) == (2, 1)
    assert consume["error_types"] == {"OffsetOutOfRangeError": 1}
    assert mine["requests"] == 5 and mine["errors"] == 1

    total = metrics.snapshot()
    assert total["ops"]["PRODUCE"]["requests"] >= 3
    copy = metrics.op_stats("PRODUCE")
    assert copy is not None and copy.requests == total["ops"]["PRODUCE"]["requests"]
    assert metrics.op_stats(int(OpCode.PRODUCE)) is not None and metrics.op_stats("NOPE") is None
    assert "PRODUCE" in metrics.render_text().splitlines()[1] or "PRODUCE" in metrics.render_text()

    # The client's own counters agree with the plugin.
    assert flymq_client.metrics()["errors"] >= 1


def test_metrics_are_per_client_and_stop_when_unregistered(
    flymq_bootstrap: str, flymq_options: Any, unique_topic: Callable[..., str]
) -> None:
    from pyflymq import FlyMQClient

    topic = unique_topic("metrics-two")
    plugin = enable_metrics(MetricsPlugin())
    try:
        with FlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs()) as a:
            with FlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs()) as b:
                a.produce(topic, b"x")
                b.produce(topic, b"y")
                b.produce(topic, b"z")
                assert plugin.for_client(a)["ops"]["PRODUCE"]["requests"] == 1
                assert plugin.for_client(b)["ops"]["PRODUCE"]["requests"] == 2
                assert plugin.snapshot()["ops"]["PRODUCE"]["requests"] == 3
            assert plugin.snapshot()["connects"] == 2
        assert plugin.snapshot()["clients_closed"] == 2
    finally:
        disable_metrics(plugin)
    with FlyMQClient(flymq_bootstrap, **flymq_options.client_kwargs()) as c:
        c.produce(topic, b"unobserved")
    assert plugin.snapshot()["ops"]["PRODUCE"]["requests"] == 3
    plugin.reset()
    assert plugin.snapshot() == {"requests": 0, "errors": 0, "connects": 0, "clients_closed": 0, "ops": {}}


def test_format_ops_table() -> None:
    plugin = MetricsPlugin()
    plugin.pyflymq_after_response(
        client=object(), op=int(OpCode.FETCH), resp_op=None, elapsed_s=0.002, error=None
    )
    lines = format_ops(plugin.snapshot()["ops"]).splitlines()
    assert lines[0].split()[:3] == ["op", "requests", "errors"]
    assert lines[1].split()[:5] == ["FETCH", "1", "0", "2.00", "2.00"]


# --------------------------------------------------------------------------- logging


def test_logger_hierarchy() -> None:
    assert get_logger("client").name == "pyflymq.client"
    assert get_logger("pyflymq.consumer").name == "pyflymq.consumer"
    assert all(name.startswith("pyflymq.") for name in LOGGERS)
    stream = io.StringIO()
    handler = log_to_stderr(logging.INFO, stream=stream)
    root = logging.getLogger("pyflymq")
    try:
        get_logger("client").info("hello %s", "world")
        get_logger("client").debug("not shown")
    finally:
        root.removeHandler(handler)
        root.setLevel(logging.NOTSET)
    assert "INFO pyflymq.client: hello world" in stream.getvalue() and "not shown" not in stream.getvalue()


def test_debug_logs_of_a_client_flow_hold_no_payload_or_secret(caplog: pytest.LogCaptureFixture) -> None:
    """Everything logged at DEBUG (client, connection, transport, producer, consumer, broker) while an
    authenticated client produces, consumes, fails to authenticate and encrypts values."""
    from pyflymq import generate_key
    from pyflymq_broker import BrokerConfig
    from pyflymq_broker.config import AuthSettings

    password = "pw-" + os.urandom(8).hex()
    wrong_password = "wrong-" + os.urandom(8).hex()
    payload = "payload-" + os.urandom(8).hex()
    key = generate_key()
    config = BrokerConfig(auth=AuthSettings(enabled=True, admin_username="admin", admin_password=password))
    caplog.set_level(logging.DEBUG)
    request_log = enable_request_logging()
    try:
        _secret_flow(password, wrong_password, payload, key, config)
    finally:
        disable_request_logging(request_log)
    text = caplog.text
    requests = [r.getMessage() for r in caplog.records if r.name == "pyflymq.request"]
    assert any(m.startswith("PRODUCE: sending") for m in requests), requests
    assert any(
        m.startswith("CLUSTER_METADATA: failed after") and m.endswith("TopicNotFoundError") for m in requests
    )
    assert any(r.name == "pyflymq.client" and r.levelno == logging.INFO for r in caplog.records)
    for secret in (password, wrong_password, payload, key):
        assert secret not in text


def _secret_flow(password: str, wrong_password: str, payload: str, key: str, config: Any) -> None:
    from pyflymq import FlyMQClient
    from pyflymq_broker.server import BrokerServer

    with BrokerServer(config=config) as server:
        with FlyMQClient(server.address, username="admin", password=password) as client:
            client.produce("secrets", payload.encode(), key=f"key-{payload}")
            assert client.consume("secrets", 0).decode() == payload
            assert client.fetch("secrets", 0, 0, 10)[0].decode() == payload
            with client.producer(linger_ms=1) as producer:
                producer.send("secrets", payload.encode()).get(timeout_ms=5000)
            with client.consumer("secrets", "g", auto_offset_reset="earliest") as consumer:
                assert consumer.poll(timeout_ms=2000)
        with FlyMQClient(
            server.address, username="admin", password=password, encryption_enabled=True, encryption_key=key
        ) as encrypted:
            encrypted.produce("secrets", payload.encode())
        with pytest.raises(AuthenticationError) as failure:
            FlyMQClient(server.address, username="admin", password=wrong_password, max_retries=0)
    assert wrong_password not in str(failure.value)


# --------------------------------------------------------------------------- docs recipe


class _FakeSpan:
    def __init__(self, name: str, attributes: dict[str, Any], start_time: int | None) -> None:
        self.name, self.attributes, self.start_time = name, attributes, start_time
        self.end_time: int | None = None
        self.status: Any = None
        self.exceptions: list[BaseException] = []
        self.ended = False

    def set_status(self, status: Any) -> None:
        self.status = status

    def record_exception(self, error: BaseException) -> None:
        self.exceptions.append(error)

    def end(self, end_time: int | None = None) -> None:
        self.ended, self.end_time = True, end_time


def _fake_opentelemetry(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[Any]]:
    """Just enough of opentelemetry-api for the recipe in docs/observability.md."""
    import types

    recorded: dict[str, list[Any]] = {"spans": [], "durations": [], "errors": [], "sizes": []}

    class Tracer:
        def start_span(
            self, name: str, kind: Any = None, attributes: Any = None, start_time: int | None = None
        ) -> _FakeSpan:
            span = _FakeSpan(name, dict(attributes or {}), start_time)
            recorded["spans"].append(span)
            return span

    class Instrument:
        def __init__(self, key: str) -> None:
            self.key = key

        def record(self, value: float, attributes: Any = None) -> None:
            recorded[self.key].append((value, attributes))

        def add(self, value: int, attributes: Any = None) -> None:
            recorded[self.key].append((value, attributes))

    class Meter:
        def create_histogram(self, name: str, unit: str = "") -> Instrument:
            return Instrument("durations")

        def create_counter(self, name: str, unit: str = "") -> Instrument:
            return Instrument("errors" if name.endswith(".errors") else "sizes")

    class StatusCode:
        ERROR = "ERROR"

    class Status:
        def __init__(self, code: str, description: str = "") -> None:
            self.code, self.description = code, description

    otel = types.ModuleType("opentelemetry")
    trace = types.ModuleType("opentelemetry.trace")
    metrics = types.ModuleType("opentelemetry.metrics")
    trace.get_tracer = lambda name: Tracer()  # type: ignore[attr-defined]
    trace.SpanKind = types.SimpleNamespace(CLIENT="CLIENT")  # type: ignore[attr-defined]
    trace.Status = Status  # type: ignore[attr-defined]
    trace.StatusCode = StatusCode  # type: ignore[attr-defined]
    metrics.get_meter = lambda name: Meter()  # type: ignore[attr-defined]
    otel.trace = trace  # type: ignore[attr-defined]
    otel.metrics = metrics  # type: ignore[attr-defined]
    for name, module in (
        ("opentelemetry", otel),
        ("opentelemetry.trace", trace),
        ("opentelemetry.metrics", metrics),
    ):
        monkeypatch.setitem(sys.modules, name, module)
    return recorded


def test_opentelemetry_recipe_in_the_docs_works(
    monkeypatch: pytest.MonkeyPatch, flymq_client: Any, unique_topic: Callable[..., str]
) -> None:
    from pyflymq_core.plugins import get_plugin_manager

    docs = (Path(__file__).resolve().parents[2] / "docs" / "observability.md").read_text(encoding="utf-8")
    section = docs.split("## OpenTelemetry recipe", 1)[1]
    recipe = section.split("```python\n", 1)[1].split("```", 1)[0]
    recorded = _fake_opentelemetry(monkeypatch)
    namespace: dict[str, Any] = {"__name__": "otel_recipe"}
    exec(compile(recipe, "docs/observability.md", "exec"), namespace)
    manager = get_plugin_manager()
    plugins = [p for p in manager.get_plugins() if isinstance(p, namespace["OpenTelemetryPlugin"])]
    assert len(plugins) == 1
    try:
        topic = unique_topic("otel")
        flymq_client.produce(topic, b"traced")
        with pytest.raises(OffsetOutOfRangeError):
            flymq_client.consume(topic, 5)
    finally:
        manager.unregister(plugins[0])
    spans = {span.name: span for span in recorded["spans"]}
    assert spans["flymq PRODUCE"].ended and spans["flymq PRODUCE"].status is None
    assert spans["flymq PRODUCE"].attributes["messaging.system"] == "flymq"
    produce = spans["flymq PRODUCE"]
    assert produce.start_time is not None and produce.end_time is not None
    assert 0 <= produce.end_time - produce.start_time < 10**10  # the request's own duration
    assert [attributes["messaging.operation.name"] for _, attributes in recorded["sizes"]] == [
        "PRODUCE",
        "CONSUME",
    ]
    failed = spans["flymq CONSUME"]
    assert (
        failed.ended
        and failed.status.code == "ERROR"
        and isinstance(failed.exceptions[0], OffsetOutOfRangeError)
    )
    assert len(recorded["durations"]) == 2
    assert recorded["errors"] == [
        (
            1,
            {
                "messaging.system": "flymq",
                "messaging.operation.name": "CONSUME",
                "error.type": "OffsetOutOfRangeError",
            },
        )
    ]
