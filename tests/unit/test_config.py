"""ClientConfig / ProducerConfig / ConsumerConfig: the seed's defaults, normalisation, and clear errors."""

from __future__ import annotations

import warnings

import pytest

from pyflymq import ClientConfig, ConsumerConfig, ProducerConfig
from pyflymq_core.errors import ConfigurationError


def test_client_defaults_match_the_seed_table() -> None:
    cfg = ClientConfig()
    assert cfg.bootstrap_servers == ("localhost:9092",)
    assert cfg.connect_timeout_ms == 10_000
    assert cfg.request_timeout_ms == 30_000
    assert cfg.max_retries == 3
    assert cfg.retry_delay_ms == 1_000
    assert cfg.tls_enabled is False
    assert cfg.tls_ca_file is None and cfg.tls_cert_file is None and cfg.tls_key_file is None
    assert cfg.tls_insecure_skip_verify is False
    assert cfg.keepalive_interval_ms == 60_000
    assert cfg.compression == "none"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("localhost:9092", ("localhost:9092",)),
        ("node1:9092,node2:9092, node3:9092", ("node1:9092", "node2:9092", "node3:9092")),
        (["a:1", "b:2"], ("a:1", "b:2")),
        (("a:1,b:2", "c:3"), ("a:1", "b:2", "c:3")),
    ],
)
def test_bootstrap_servers_accepts_string_comma_list_and_list(
    given: object, expected: tuple[str, ...]
) -> None:
    assert ClientConfig(bootstrap_servers=given).bootstrap_servers == expected


@pytest.mark.parametrize("bad", ["", " , ", [], [1], 9092])
def test_bootstrap_servers_rejects_empty_or_non_strings(bad: object) -> None:
    with pytest.raises(ConfigurationError, match="bootstrap_servers"):
        ClientConfig(bootstrap_servers=bad)


def test_errors_name_every_bad_option_and_are_value_errors() -> None:
    with pytest.raises(ValueError) as info:
        ClientConfig(request_timeout_ms=0, max_retries=-1, bogus=1)
    err = info.value
    assert isinstance(err, ConfigurationError)
    text = str(err)
    assert "request_timeout_ms" in text and "max_retries" in text and "bogus" in text
    assert err.hint


def test_password_and_encryption_key_never_show() -> None:
    key = "ab" * 32
    cfg = ClientConfig(username="alice", password="s3cret-pw", encryption_enabled=True, encryption_key=key)
    for text in (repr(cfg), str(cfg), str(cfg.model_dump())):
        assert "s3cret-pw" not in text
        assert key not in text
    assert cfg.password is not None and cfg.password.get_secret_value() == "s3cret-pw"


def test_secret_not_echoed_in_validation_errors() -> None:
    with pytest.raises(ConfigurationError) as info:
        ClientConfig(encryption_enabled=True, encryption_key="not-hex-" * 8)
    assert "not-hex-" not in str(info.value)
    assert "64 hexadecimal" in str(info.value)


def test_username_requires_password_and_vice_versa() -> None:
    with pytest.raises(ConfigurationError, match="together"):
        ClientConfig(username="alice")
    with pytest.raises(ConfigurationError, match="together"):
        ClientConfig(password="x")


def test_tls_key_without_cert_is_rejected() -> None:
    with pytest.raises(ConfigurationError, match="tls_cert_file"):
        ClientConfig(tls_enabled=True, tls_key_file="client.key")


def test_plain_scheme_with_tls_enabled_is_a_contradiction() -> None:
    with pytest.raises(ConfigurationError, match="flymq://"):
        ClientConfig(bootstrap_servers="flymq://h:1", tls_enabled=True)


@pytest.mark.parametrize("name", ["lz4", "snappy", "zstd"])
def test_unimplemented_compressions_are_refused(name: str) -> None:
    with pytest.raises(ConfigurationError, match="only gzip"):
        ClientConfig(compression=name)


def test_compression_gzip_and_none() -> None:
    assert ClientConfig(compression="GZIP").compression == "gzip"
    assert ClientConfig(compression=None).compression == "none"


def test_config_is_immutable_and_with_options_revalidates() -> None:
    cfg = ClientConfig()
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error type
        cfg.max_retries = 5
    changed = cfg.with_options(max_retries=5, bootstrap_servers="x:1,y:2")
    assert changed.max_retries == 5 and changed.bootstrap_servers == ("x:1", "y:2")
    with pytest.raises(ConfigurationError):
        cfg.with_options(max_retries=-2)


def test_model_validate_also_raises_configuration_error() -> None:
    with pytest.raises(ConfigurationError):
        ClientConfig.model_validate({"connect_timeout_ms": "soon"})


def test_producer_defaults_match_the_seed_table() -> None:
    cfg = ProducerConfig()
    assert (cfg.batch_size, cfg.linger_ms, cfg.max_batch_messages, cfg.acks, cfg.retries) == (
        16_384,
        0,
        1_000,
        "all",
        3,
    )
    assert cfg.max_retries == 3 and cfg.retry_backoff_ms == 100 and cfg.max_in_flight == 20
    assert cfg.buffer_memory == 32 * 1024 * 1024 and cfg.max_block_ms == 60_000


def test_producer_retries_and_max_retries_are_one_setting() -> None:
    assert ProducerConfig(retries=7).max_retries == 7
    assert ProducerConfig(max_retries=2).retries == 2
    assert ProducerConfig(retries=4, max_retries=4).retries == 4
    with pytest.raises(ConfigurationError, match="same setting"):
        ProducerConfig(retries=1, max_retries=2)


def test_producer_acks_normalised_and_validated() -> None:
    assert ProducerConfig(acks=1).acks == "1"
    assert ProducerConfig(acks="ALL").acks == "all"
    with pytest.raises(ConfigurationError, match="acks"):
        ProducerConfig(acks="most")
    with pytest.raises(ConfigurationError):
        ProducerConfig(acks=True)


def test_seed_producer_batching_example_validates() -> None:
    cfg = ProducerConfig(batch_size=16384, linger_ms=100, max_batch_messages=100)
    assert cfg.linger_ms == 100 and cfg.max_batch_messages == 100


def test_consumer_defaults_match_the_seed_table() -> None:
    cfg = ConsumerConfig()
    assert cfg.group_id is None
    assert cfg.auto_offset_reset == "latest"
    assert cfg.enable_auto_commit is True
    assert cfg.auto_commit_interval_ms == 5_000
    assert cfg.max_poll_records == 500
    assert cfg.member_index is None and cfg.member_count is None and cfg.partitions is None


def test_consumer_reset_aliases_and_errors() -> None:
    assert ConsumerConfig(auto_offset_reset="EARLIEST").auto_offset_reset == "earliest"
    assert ConsumerConfig(auto_offset_reset="smallest").auto_offset_reset == "earliest"
    with pytest.raises(ConfigurationError, match="auto_offset_reset"):
        ConsumerConfig(auto_offset_reset="middle")


def test_consumer_static_membership_rules() -> None:
    assert ConsumerConfig(member_index=1, member_count=2).member_index == 1
    with pytest.raises(ConfigurationError, match="together"):
        ConsumerConfig(member_index=0)
    with pytest.raises(ConfigurationError, match="below member_count"):
        ConsumerConfig(member_index=2, member_count=2)
    with pytest.raises(ConfigurationError, match="either partitions"):
        ConsumerConfig(member_index=0, member_count=2, partitions=[0])


def test_consumer_partitions_and_group_id_checks() -> None:
    assert ConsumerConfig(partitions=[2, 0]).partitions == (2, 0)
    assert ConsumerConfig(partitions=3).partitions == (3,)
    with pytest.raises(ConfigurationError, match="duplicates"):
        ConsumerConfig(partitions=[1, 1])
    with pytest.raises(ConfigurationError, match="non-negative"):
        ConsumerConfig(partitions=[-1])
    with pytest.raises(ConfigurationError, match="'/'"):
        ConsumerConfig(group_id="a/b")
    assert ConsumerConfig(group_id="").group_id is None


def test_seed_encryption_config_example() -> None:
    key = "0f" * 32
    cfg = ClientConfig(bootstrap_servers="localhost:9092", encryption_enabled=True, encryption_key=key)
    assert cfg.encryption_enabled


def test_settings_that_would_silently_leave_data_in_plaintext_are_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from pyflymq import AsyncFlyMQClient  # constructing it does no I/O

    key = "ab" * 32
    with pytest.warns(UserWarning, match="encryption_enabled is False"):
        AsyncFlyMQClient("localhost:9092", encryption_key=key)
    with pytest.warns(UserWarning, match="TLS is off"):
        AsyncFlyMQClient("localhost:9092", tls_ca_file="ca.pem")
    assert "values are produced and read unencrypted" in caplog.text
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # consistent settings: not a word
        AsyncFlyMQClient("localhost:9092", encryption_key=key, encryption_enabled=True)
        AsyncFlyMQClient("flymqs://localhost:9092", tls_ca_file="ca.pem")
        AsyncFlyMQClient("localhost:9092", tls_enabled=True, tls_ca_file="ca.pem")


def test_empty_username_and_password_mean_no_credentials() -> None:
    # e.g. FLYMQ_USERNAME= and FLYMQ_PASSWORD= left empty in an environment file
    config = ClientConfig(username="", password="")
    assert config.username is None and config.password is None
    with pytest.raises(ConfigurationError, match="given together"):
        ClientConfig(password="secret")
