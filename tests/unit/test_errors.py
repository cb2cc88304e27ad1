"""The exception hierarchy: types, hints, attributes, pickling, and the public re-export."""

from __future__ import annotations

import builtins
import pickle

import pytest

import pyflymq.exceptions as public
import pyflymq_core.errors as errors
from pyflymq_core.errors import (
    AuthenticationError,
    AuthorizationError,
    ConfigurationError,
    ConnectionError,
    DecryptionError,
    FlyMQError,
    InvalidArgumentError,
    InvalidArgumentTypeError,
    MissingExtraError,
    NotFoundError,
    NotLeaderError,
    PartitionFullError,
    ProtocolError,
    SchemaError,
    SchemaNotFoundError,
    SchemaValidationError,
    SecurityError,
    ServerError,
    TimeoutError,
    TopicNotFoundError,
)

ALL_TYPES = [getattr(errors, name) for name in errors.__all__]


def test_all_public_types_derive_from_flymqerror() -> None:
    assert ALL_TYPES, "errors.__all__ is empty"
    for exc_type in ALL_TYPES:
        assert issubclass(exc_type, FlyMQError), exc_type


@pytest.mark.parametrize("exc_type", ALL_TYPES, ids=lambda t: t.__name__)
def test_every_type_has_a_default_hint_and_str_is_the_message(exc_type: type[FlyMQError]) -> None:
    exc = exc_type("something went wrong")
    assert str(exc) == "something went wrong"
    assert exc.message == "something went wrong"
    assert isinstance(exc.hint, str) and exc.hint.strip()
    assert exc.hint not in str(exc)
    assert exc_type.__name__ in repr(exc)
    assert "something went wrong" in repr(exc)


@pytest.mark.parametrize("exc_type", ALL_TYPES, ids=lambda t: t.__name__)
def test_explicit_hint_overrides_default(exc_type: type[FlyMQError]) -> None:
    exc = exc_type("boom", hint="do this instead")
    assert exc.hint == "do this instead"
    assert repr(exc).endswith("hint='do this instead')")


@pytest.mark.parametrize("exc_type", ALL_TYPES, ids=lambda t: t.__name__)
def test_pickle_round_trip_keeps_message_hint_and_attributes(exc_type: type[FlyMQError]) -> None:
    exc = exc_type("boom", hint="h", server_message="raw text")
    setattr(exc, "extra_attribute", 42)  # noqa: B010 - an attribute mypy does not know about
    clone = pickle.loads(pickle.dumps(exc))
    assert type(clone) is exc_type
    assert (clone.message, clone.hint, clone.server_message) == ("boom", "h", "raw text")
    assert getattr(clone, "extra_attribute") == 42  # noqa: B009
    assert str(clone) == "boom"


def test_builtin_compatibility() -> None:
    assert issubclass(ConnectionError, builtins.ConnectionError)
    assert issubclass(ConnectionError, OSError)
    assert issubclass(TimeoutError, builtins.TimeoutError)
    assert issubclass(ConfigurationError, ValueError)
    assert issubclass(InvalidArgumentError, ValueError)
    assert issubclass(InvalidArgumentTypeError, TypeError)
    assert issubclass(InvalidArgumentTypeError, InvalidArgumentError)
    assert issubclass(MissingExtraError, ImportError)
    with pytest.raises(OSError):
        raise ConnectionError("refused")
    with pytest.raises(builtins.TimeoutError):
        raise TimeoutError("slow")


def test_grouping_bases() -> None:
    assert issubclass(AuthenticationError, SecurityError)
    assert issubclass(AuthorizationError, SecurityError)
    assert not issubclass(AuthorizationError, AuthenticationError)
    assert issubclass(TopicNotFoundError, NotFoundError)
    assert issubclass(SchemaNotFoundError, NotFoundError)
    assert issubclass(SchemaNotFoundError, SchemaError)
    assert issubclass(SchemaValidationError, SchemaError)
    # The catch-all for unknown server text must not swallow specific types.
    assert not issubclass(TopicNotFoundError, ServerError)


def test_retriable_flags() -> None:
    assert ConnectionError.retriable and TimeoutError.retriable and NotLeaderError.retriable
    assert not TopicNotFoundError.retriable and not AuthenticationError.retriable
    assert not ServerError.retriable


def test_connection_error_hint_and_servers_tried() -> None:
    plain = ConnectionError("cannot connect")
    assert plain.servers_tried == []
    assert "running and reachable" in (plain.hint or "")
    assert "pyflymq broker" in (plain.hint or "")
    tried = [("localhost:9092", "connection refused"), ("10.0.0.2:9092", "timed out")]
    exc = ConnectionError("no server reachable", servers_tried=tried)
    assert exc.servers_tried == tried
    assert exc.servers_tried is not tried  # defensive copy
    assert "localhost:9092" in (exc.hint or "") and "10.0.0.2:9092" in (exc.hint or "")


def test_topic_not_found_hint_names_the_topic_like_the_readme() -> None:
    exc = TopicNotFoundError("topic not found: nonexistent-topic", topic="nonexistent-topic")
    assert exc.topic == "nonexistent-topic"
    assert exc.hint is not None
    assert 'client.create_topic("nonexistent-topic", partitions)' in exc.hint
    assert "pyflymq topics create nonexistent-topic" in exc.hint
    odd = TopicNotFoundError("topic not found", topic='a"b')
    assert "create_topic('a\"b', partitions)" in (odd.hint or "")
    generic = TopicNotFoundError("topic not found")
    assert generic.topic is None and "create_topic" in (generic.hint or "")


def test_missing_extra() -> None:
    exc = MissingExtraError.for_feature("Avro serialization", "avro", module="fastavro")
    assert exc.extra == "avro"
    assert exc.hint == "Install the optional dependency with: pip install 'pyflymq[avro]'"
    assert "fastavro" in str(exc)
    with pytest.raises(ImportError):
        raise exc


def test_attributes_of_context_carrying_types() -> None:
    leader = NotLeaderError("not leader", leader_addr="h:1", leader_id="n1", partition=3)
    assert (leader.leader_addr, leader.leader_id, leader.partition) == ("h:1", "n1", 3)
    proto = ProtocolError("short", server_text="buffer too small")
    assert proto.server_text == "buffer too small"
    assert ProtocolError("x").server_text is None
    full = PartitionFullError("partition is full", topic="t", partition=2)
    assert (full.topic, full.partition) == ("t", 2)
    assert "87,381" in (full.hint or "") and "partitions" in (full.hint or "")
    bad = DecryptionError("tag mismatch", topic="t", partition=0, offset=5)
    assert (bad.topic, bad.partition, bad.offset) == ("t", 0, 5)
    validation = SchemaValidationError("invalid", errors=["a", "b"])
    assert validation.errors == ["a", "b"]
    assert SchemaValidationError("invalid").errors == []


def test_server_error_keeps_text() -> None:
    exc = ServerError("weird: thing")
    assert exc.server_message == "weird: thing"
    assert str(exc) == "weird: thing"
    assert FlyMQError("local").server_message is None


def test_public_module_reexports_everything() -> None:
    assert sorted(public.__all__) == sorted(errors.__all__)
    for name in errors.__all__:
        assert getattr(public, name) is getattr(errors, name)


def test_readme_example_catches_by_public_names() -> None:
    from pyflymq.exceptions import ConnectionError as PublicConnectionError
    from pyflymq.exceptions import TopicNotFoundError as PublicTopicNotFound

    with pytest.raises(PublicTopicNotFound) as info:
        raise TopicNotFoundError("topic not found: x", topic="x")
    assert info.value.hint
    with pytest.raises(PublicConnectionError):
        raise ConnectionError("down")


@pytest.mark.parametrize(
    "exc_type",
    [
        errors.DecryptionError,
        errors.OffsetOutOfRangeError,
        errors.PartitionFullError,
        errors.PartitionNotFoundError,
        errors.SerializationError,
    ],
    ids=lambda t: t.__name__,
)
def test_located_errors_say_where(exc_type: type[errors.LocatedError]) -> None:
    exc = exc_type("bad record", topic="orders", partition=2, offset=41)
    assert isinstance(exc, errors.LocatedError)
    assert (exc.topic, exc.partition, exc.offset) == ("orders", 2, 41)
    restored = pickle.loads(pickle.dumps(exc))
    assert (restored.topic, restored.partition, restored.offset) == ("orders", 2, 41)
    assert str(restored) == "bad record"


def test_partition_not_found_is_still_a_not_found_error() -> None:
    exc = errors.PartitionNotFoundError("no partition 9", topic="t", partition=9)
    assert isinstance(exc, NotFoundError)
    assert exc.offset is None


def test_serialization_error_keeps_codec_direction_and_is_a_value_error() -> None:
    exc = errors.SerializationError("not JSON", codec="json", direction="deserialize", topic="t", offset=3)
    assert isinstance(exc, ValueError)
    assert (exc.codec, exc.direction, exc.topic, exc.partition, exc.offset) == (
        "json",
        "deserialize",
        "t",
        None,
        3,
    )
