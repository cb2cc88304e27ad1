"""Client-side partition assignment: deterministic, no duplicates, no gaps."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pyflymq_core.config import ConsumerConfig
from pyflymq_core.consumer.assignment import (
    TopicPartition,
    assign_partitions,
    assigned_partitions,
    check_partitions_exist,
    not_assigned_error,
    owner_of,
    partition_specs,
    subscription_topics,
    topic_partition,
)
from pyflymq_core.errors import ConfigurationError, InvalidArgumentError, PartitionNotFoundError
from pyflymq_core.models import ClusterMetadata, PartitionMetadata, TopicMetadata


def test_default_is_every_partition_and_explicit_lists_keep_existing_ones() -> None:
    assert assign_partitions("t", 4) == [0, 1, 2, 3]
    assert assign_partitions("t", 4, partitions=[3, 1, 9]) == [1, 3]


@given(
    topics=st.lists(st.text(min_size=1, max_size=12), min_size=1, max_size=5, unique=True),
    partitions=st.integers(min_value=1, max_value=40),
    members=st.integers(min_value=1, max_value=9),
)
def test_static_members_split_every_topic_without_duplicates_or_gaps(
    topics: list[str], partitions: int, members: int
) -> None:
    for topic in topics:
        shares = [
            assign_partitions(topic, partitions, member_index=i, member_count=members) for i in range(members)
        ]
        flat = [p for share in shares for p in share]
        assert sorted(flat) == list(range(partitions))
        if partitions >= members:
            assert all(share for share in shares)  # nobody idles when there is enough to share


def test_the_owner_is_stable_across_processes() -> None:
    # FNV-1a, not Python's randomised hash(): these values must never change between releases.
    assert [owner_of("orders", p, 2) for p in range(8)] == [0, 1, 0, 1, 0, 1, 0, 1]
    assert [owner_of("orders", p, 3) for p in range(6)] == [2, 0, 1, 2, 0, 1]


def test_single_partition_topics_spread_over_members() -> None:
    owners = {owner_of(f"topic-{i}", 0, 4) for i in range(40)}
    assert owners == {0, 1, 2, 3}


def test_config_checks_membership_options() -> None:
    with pytest.raises(ConfigurationError, match="member_index and member_count"):
        ConsumerConfig(member_index=0)
    with pytest.raises(ConfigurationError, match="must be below member_count"):
        ConsumerConfig(member_index=2, member_count=2)
    with pytest.raises(ConfigurationError, match="either partitions or member_index"):
        ConsumerConfig(member_index=0, member_count=2, partitions=[0])


def test_a_partition_the_topic_does_not_have_is_an_error_with_a_hint() -> None:
    check_partitions_exist("t", 4, None)
    check_partitions_exist("t", 4, [0, 3])
    with pytest.raises(PartitionNotFoundError) as info:
        check_partitions_exist("orders", 2, [1, 5, 2])
    error = info.value
    assert (error.topic, error.partition) == ("orders", 2)
    assert "partitions 2, 5 of 'orders' do not exist" in str(error) and "2 partitions (0..1)" in str(error)
    assert error.hint is not None and "between 0 and 1" in error.hint


def _metadata(partitions: int, *, standalone: bool) -> ClusterMetadata:
    return ClusterMetadata(
        cluster_id="standalone" if standalone else "node-1",
        topics=[
            TopicMetadata(
                topic="t",
                partitions=[
                    PartitionMetadata(
                        partition=p,
                        leader_id=f"n{p}",
                        leader_addr=f"host{p}:9092" if p else "",
                        epoch=1,
                        state="online",
                        replicas=[],
                        isr=[],
                    )
                    for p in range(partitions)
                ],
            )
        ],
    )


def test_assigned_partitions_come_with_their_leaders_in_a_cluster() -> None:
    cluster = _metadata(3, standalone=False)
    assert assigned_partitions("t", cluster) == [
        (TopicPartition("t", 0), None),  # no leader address reported: the bootstrap connection
        (TopicPartition("t", 1), "host1:9092"),
        (TopicPartition("t", 2), "host2:9092"),
    ]
    assert assigned_partitions("t", _metadata(3, standalone=True), partitions=[2]) == [
        (TopicPartition("t", 2), None)
    ]
    assert assigned_partitions("other", cluster) is None  # not there (yet)
    with pytest.raises(PartitionNotFoundError):
        assigned_partitions("t", cluster, partitions=[3])


def test_subscription_topics_are_validated_deduplicated_and_ordered() -> None:
    assert subscription_topics("orders") == ["orders"]
    assert subscription_topics(["b", "a", "b"]) == ["b", "a"]
    with pytest.raises(InvalidArgumentError, match="needs topics"):
        subscription_topics(None)
    with pytest.raises(InvalidArgumentError, match="at least one topic"):
        subscription_topics([])
    with pytest.raises(InvalidArgumentError):
        subscription_topics(["ok", ""])  # the client's topic-name rules


@pytest.mark.parametrize("topics", [None, []])
def test_both_consumers_refuse_missing_topics_the_same_way(topics: list[str] | None) -> None:
    from pyflymq_core.aio.consumer import AsyncConsumer
    from pyflymq_core.consumer.consumer import HighLevelConsumer

    for consumer_class in (HighLevelConsumer, AsyncConsumer):
        with pytest.raises(InvalidArgumentError):
            consumer_class(None, topics)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- partition arguments


def test_partition_arguments_name_one_topic_partition() -> None:
    assert topic_partition(2, None, ["orders"]) == TopicPartition("orders", 2)
    assert topic_partition(2, "other", ["orders", "other"]) == TopicPartition("other", 2)
    assert topic_partition(("a", 1), None, ["a", "b"]) == TopicPartition("a", 1)
    assert topic_partition(TopicPartition("b", 0), None, ["a", "b"]) == TopicPartition("b", 0)
    with pytest.raises(InvalidArgumentError, match="reads 2 topics; name the topic"):
        topic_partition(0, None, ["a", "b"])
    for bad in (True, 1.5, "0"):
        with pytest.raises(InvalidArgumentError, match="partition must be an int"):
            topic_partition(bad, None, ["a"])  # type: ignore[arg-type]


def test_one_or_many_partition_arguments() -> None:
    assert partition_specs(3) == [3]
    assert partition_specs(("t", 1)) == [("t", 1)]  # one (topic, partition), not two arguments
    assert partition_specs(TopicPartition("t", 1)) == [TopicPartition("t", 1)]
    assert partition_specs((0, 1)) == [0, 1]
    assert partition_specs([("t", 0), 2]) == [("t", 0), 2]


def test_a_partition_not_read_says_which_are() -> None:
    error = not_assigned_error(TopicPartition("t", 5), {TopicPartition("t", 1), TopicPartition("t", 0)})
    assert "partition 5 of 't' is not assigned" in str(error)
    assert "TopicPartition(topic='t', partition=0), TopicPartition(topic='t', partition=1)" in str(error)
    assert error.hint
