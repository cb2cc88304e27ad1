"""docs/observability.md against the code: counter names, and the OpenTelemetry recipe run for real.

The recipe needs ``opentelemetry-api`` and ``-sdk``, which pyflymq does not depend on: that test is
skipped without them (``pip install opentelemetry-sdk`` to run it).
"""

from __future__ import annotations

import collections
import re
from pathlib import Path
from typing import Any

import pytest

from pyflymq_core.plugins import reset_plugins

PAGE = Path(__file__).resolve().parents[2] / "docs" / "observability.md"


def _section(title: str) -> str:
    text = PAGE.read_text(encoding="utf-8")
    start = text.index(f"## {title}")
    end = text.find("\n## ", start + 1)
    return text[start : end if end >= 0 else len(text)]


def test_every_counter_is_documented(flymq_client: Any) -> None:
    section = _section("Client counters")
    documented = set(re.findall(r"`(\w+)`", section))
    assert set(flymq_client.metrics()) <= documented
    with flymq_client.producer() as producer:
        assert set(producer.metrics()) <= documented


def test_opentelemetry_recipe_records_every_request(
    flymq_memory_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Imported by name: opentelemetry is no dependency (nor known to mypy) of pyflymq.
    pytest.importorskip("opentelemetry.sdk")
    metrics = pytest.importorskip("opentelemetry.metrics")
    trace = pytest.importorskip("opentelemetry.trace")
    sdk_metrics = pytest.importorskip("opentelemetry.sdk.metrics")
    metrics_export = pytest.importorskip("opentelemetry.sdk.metrics.export")
    sdk_trace = pytest.importorskip("opentelemetry.sdk.trace")
    trace_export = pytest.importorskip("opentelemetry.sdk.trace.export")
    in_memory = pytest.importorskip("opentelemetry.sdk.trace.export.in_memory_span_exporter")

    from pyflymq import FlyMQClient
    from pyflymq_core.errors import FlyMQError

    spans = in_memory.InMemorySpanExporter()
    tracer_provider = sdk_trace.TracerProvider()
    tracer_provider.add_span_processor(trace_export.SimpleSpanProcessor(spans))
    reader = metrics_export.InMemoryMetricReader()
    # The recipe asks the global providers; set them for this test only.
    monkeypatch.setattr(trace, "get_tracer", tracer_provider.get_tracer)
    monkeypatch.setattr(metrics, "get_meter", sdk_metrics.MeterProvider(metric_readers=[reader]).get_meter)
    monkeypatch.setenv("PYFLYMQ_PLUGINS", "")
    reset_plugins()
    recipe = _section("OpenTelemetry recipe")
    source = re.search(r"```python\n(.*?)```", recipe, re.DOTALL)
    assert source is not None
    try:
        exec(compile(source.group(1), str(PAGE), "exec"), {"__name__": "otel_recipe"})
        with FlyMQClient(flymq_memory_url) as client:
            client.create_topic("otel", partitions=1)
            with client.producer(linger_ms=1) as producer:  # hooks on two threads, pipelined
                for i in range(10):
                    producer.send("otel", b"%d" % i)
            with pytest.raises(FlyMQError):
                client.fetch("no-such-topic", 0, 0, 1)
    finally:
        reset_plugins()
    finished = spans.get_finished_spans()
    names = collections.Counter(span.name for span in finished)
    assert names["flymq PRODUCE"] == 10 and names["flymq FETCH"] == 1
    assert all(span.end_time is not None and span.start_time <= span.end_time for span in finished)
    assert [span.name for span in finished if not span.status.is_ok] == ["flymq FETCH"]
    recorded = {
        metric.name
        for resource in reader.get_metrics_data().resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert recorded == {
        "messaging.client.operation.duration",
        "pyflymq.client.request.size",
        "pyflymq.client.errors",
    }
