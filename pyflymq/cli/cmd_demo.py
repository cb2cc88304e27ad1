"""``pyflymq demo``: the seed README's quick-start flows, run for real and narrated.

By default it starts the embedded broker on an ephemeral loopback port and talks to it over real TCP
(no server to install); ``--external`` (or an explicit ``--bootstrap``/``FLYMQ_BOOTSTRAP``) runs the
same flows against a running FlyMQ server, with unique topic names so nothing existing is touched.
Flows: topic creation, keyed produce and partitioning, fetch, consumer-group offsets and lag, a
transaction (commit and rollback), a schema, the dead-letter queue, delayed and TTL messages.
Exit code 0 when every flow worked.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TextIO

__all__ = ["register", "run"]


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser(
        "demo",
        help="run the README quick-start flows against an embedded broker (or --bootstrap)",
        description="Start the embedded FlyMQ broker on a free loopback port (or use a running server "
        "with --external / --bootstrap HOST:PORT) and run the quick-start flows: topic, keyed "
        "produce, fetch, consumer-group offsets, transaction, schema, dead-letter queue, delayed and "
        "TTL messages. Prints what happened; exit code 0 on success.",
    )
    parser.add_argument(
        "--external",
        action="store_true",
        help="use the server given by --bootstrap (default localhost:9092) instead of an embedded broker",
    )
    parser.add_argument(
        "--keep",
        action="store_true",
        help="keep the demo topics on an external server (default: delete them)",
    )
    parser.set_defaults(handler=run)


def _wants_external(args: argparse.Namespace) -> bool:
    from pyflymq.cli.options import DEFAULT_BOOTSTRAP

    return bool(args.external or os.environ.get("FLYMQ_BOOTSTRAP") or args.bootstrap != DEFAULT_BOOTSTRAP)


@contextmanager
def _server(args: argparse.Namespace, out: TextIO) -> Iterator[str]:
    """Yield the bootstrap address: the embedded broker's (started here) or --bootstrap."""
    if _wants_external(args):
        out.write(f"Using the FlyMQ server at {args.bootstrap}\n")
        yield str(args.bootstrap)
        return
    from pyflymq_broker.server import BrokerServer

    server = BrokerServer(port=0).start()
    out.write(f"Started the embedded FlyMQ broker on {server.address} (loopback TCP)\n")
    try:
        yield server.address
    finally:
        server.stop()
        out.write("Stopped the embedded broker\n")


def run(args: argparse.Namespace) -> int:
    """Run every flow; the exit code (errors propagate as FlyMQError: ``error:``/``hint:``, exit 1)."""
    from pyflymq import FlyMQClient
    from pyflymq.cli.options import client_options

    out = sys.stdout
    external = _wants_external(args)
    suffix = f"-{os.urandom(3).hex()}" if external else ""
    options = client_options(args)
    options.pop("bootstrap_servers", None)
    with _server(args, out) as address, FlyMQClient(address, **options) as client:
        out.write(f"Connected: {client!r}\n\n")
        demo = _Demo(client, suffix, out)
        for flow in demo.flows():
            flow()
        if external and not args.keep:
            demo.cleanup()
    out.write("\nAll flows completed.\n")
    return 0


class _Demo:
    """The flows, each printing what the server answered."""

    def __init__(self, client: Any, suffix: str, out: TextIO) -> None:
        self.client = client
        self.out = out
        self.orders = f"demo-orders{suffix}"
        self.events = f"demo-events{suffix}"
        self.users = f"demo-users{suffix}"
        self.group = f"demo-group{suffix}"
        self.schema = f"demo-user-schema{suffix}"
        self.topics: list[str] = []

    def say(self, text: str = "") -> None:
        self.out.write(text + "\n")

    def flows(self) -> list[Callable[[], None]]:
        return [
            self.topics_and_keys,
            self.consumer_group,
            self.transaction,
            self.schema_registry,
            self.dead_letter_queue,
            self.delayed_and_ttl,
        ]

    def topics_and_keys(self) -> None:
        c = self.client
        self.say("== Topics and key-based partitioning")
        c.create_topic(self.orders, partitions=3)
        self.topics.append(self.orders)
        count = c.get_topic_metadata(self.orders).partition_count
        self.say(f"created topic {self.orders!r} with {count} partitions")
        for key, order_id in (("user-123", 1), ("user-123", 2), ("user-789", 3)):
            meta = c.produce(self.orders, json.dumps({"id": order_id}).encode(), key=key)
            self.say(
                f"produced order {order_id} key={key} -> partition {meta.partition} @ offset {meta.offset}"
            )
        for partition in range(3):
            result = c.fetch(self.orders, partition=partition, offset=0, max_messages=10)
            for m in result:
                where = f"{self.orders}[{partition}] @ {m.offset}"
                self.say(f"fetched {where}: key={m.decode_key()} value={m.decode()}")
        self.say()

    def consumer_group(self) -> None:
        c = self.client
        self.say("== Consumer-group offsets")
        c.create_topic(self.events)
        self.topics.append(self.events)
        for i in range(5):
            c.produce(self.events, f"event-{i}".encode())
        start = c.subscribe(self.events, self.group, partition=0, mode="commit")
        batch = c.fetch(self.events, partition=0, offset=start, max_messages=3)
        self.say(f"group {self.group!r} starts at offset {start}; read {[m.decode() for m in batch]}")
        c.commit_offset(self.events, self.group, 0, batch.next_offset)
        committed = c.get_committed_offset(self.events, self.group, 0)
        lag = c.get_lag(self.events, self.group, 0)
        self.say(f"committed next offset {committed}; lag {lag.lag} (latest {lag.latest_offset})")
        resumed = c.subscribe(self.events, self.group, partition=0, mode="commit")
        self.say(f"a restarted consumer of the group resumes at offset {resumed}")
        self.say()

    def transaction(self) -> None:
        c = self.client
        self.say("== Transactions (buffered by the client, sent at commit)")
        with c.transaction() as txn:
            txn.produce(self.events, b"txn message 1")
            txn.produce(self.events, b"txn message 2")
        assert txn.result is not None
        mode = "coordinator on" if txn.result.coordinator else "coordinator off"
        self.say(f"committed transaction {txn.result.txn_id} with {len(txn.result.records)} records ({mode})")
        rolled = c.begin_transaction()
        rolled.produce(self.events, b"never written")
        rolled.rollback()
        self.say(f"rolled back a transaction: state {rolled.state!r}, nothing was sent")
        self.say()

    def schema_registry(self) -> None:
        c = self.client
        self.say("== Schema registry")
        schema = {
            "type": "object",
            "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
            "required": ["name"],
        }
        registration = c.register_schema(self.schema, "json", json.dumps(schema))
        self.say(f"registered {registration.name!r} version {registration.version} ({registration.type})")
        meta = c.produce_with_schema(
            self.users, json.dumps({"name": "Alice", "age": 30}).encode(), self.schema
        )
        self.topics.append(self.users)
        self.say(f"produced a valid user to {meta.topic!r} @ offset {meta.offset}")
        verdict = c.validate_schema(self.schema, b'{"age": "thirty"}')
        self.say(f"validating {{'age': 'thirty'}}: valid={verdict.valid} errors={verdict.errors}")
        self.say()

    def dead_letter_queue(self) -> None:
        from pyflymq_core.errors import FeatureDisabledError

        c = self.client
        self.say("== Dead-letter queue")
        record = {
            "id": "demo-dlq-1",
            "original_topic": self.events,
            "original_offset": 0,
            "payload": base64.b64encode(b"a message that failed processing").decode(),
            "reason": "processing_error",
            "error_message": "handler raised ValueError",
            "retry_count": 3,
            "first_failed_at": "2026-01-01T00:00:00Z",
            "last_failed_at": "2026-01-01T00:00:05Z",
        }
        c.produce(f"{self.events}.dlq", json.dumps(record).encode())
        self.topics.append(f"{self.events}.dlq")
        messages = c.fetch_dlq(self.events, max_messages=10)
        if not messages:
            self.say("the server returned no DLQ records (its DLQ feature is off)")
            self.say()
            return
        for msg in messages:
            self.say(
                f"failed message {msg.id}: error={msg.error!r} retries={msg.retries} data={msg.decode()!r}"
            )
            c.replay_dlq(self.events, msg.id)
            self.say(f"replayed {msg.id} to {self.events!r}")
        try:
            c.purge_dlq(self.events)
            self.say("purged the DLQ")
        except FeatureDisabledError as exc:
            self.say(f"purge refused: {exc}")
        self.say()

    def delayed_and_ttl(self) -> None:
        c = self.client
        self.say("== Delayed and TTL messages")
        delayed = c.produce_delayed(self.events, b"Delayed message", delay_ms=5000)
        self.say(f"delayed message accepted (offset {delayed.offset}; 0 while held back by the server)")
        ttl = c.produce_with_ttl(self.events, b"Expiring message", ttl_ms=60000)
        self.say(
            f"TTL message written @ offset {ttl.offset} (FlyMQ records the TTL but never expires messages)"
        )

    def cleanup(self) -> None:
        for topic in self.topics:
            self.client.delete_topic(topic)
        self.say(f"deleted the demo topics: {', '.join(self.topics)}")
