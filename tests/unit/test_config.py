import dataclasses
import pathlib

import pytest

from lastmile.config import Config
from lastmile.errors import ConfigError


def test_defaults_match_the_documented_endpoints():
    config = Config.from_env({})
    assert config.kafka_bootstrap == "127.0.0.1:9092"
    assert config.clickhouse_url == "http://127.0.0.1:8123"
    assert config.home == pathlib.Path(".lastmile").absolute()
    assert (config.kafka_host, config.kafka_port, config.kafka_controller_port) == ("127.0.0.1", 9092, 9093)
    assert (config.clickhouse_host, config.clickhouse_http_port, config.clickhouse_native_port) == ("127.0.0.1", 8123, 9000)


def test_environment_is_read_and_typed():
    config = Config.from_env({
        "LASTMILE_KAFKA_BOOTSTRAP": "kafka-1.internal:19092,kafka-2.internal:19092",
        "LASTMILE_CLICKHOUSE_URL": "https://ch.internal:8443",
        "LASTMILE_HOME": "/tmp/somewhere",
        "LASTMILE_COLOCATION_RADIUS_M": "120.5",
        "LASTMILE_PARALLELISM": "4",
    })
    assert config.kafka_host == "kafka-1.internal"
    assert config.kafka_port == 19092
    assert config.clickhouse_secure and config.clickhouse_http_port == 8443
    assert config.home == pathlib.Path("/tmp/somewhere")
    assert config.colocation_radius_m == 120.5
    assert config.parallelism == 4


def test_flags_override_environment_and_none_means_unset():
    config = Config.from_env({"LASTMILE_PARALLELISM": "4"}, parallelism=3, colocation_radius_m=None)
    assert config.parallelism == 3
    assert config.colocation_radius_m == 150.0


def test_config_is_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().parallelism = 9  # type: ignore[misc]


@pytest.mark.parametrize("env, needle", [
    ({"LASTMILE_KAFKA_BOOTSTRAP": "no-port"}, "LASTMILE_KAFKA_BOOTSTRAP"),
    ({"LASTMILE_KAFKA_BOOTSTRAP": "host:99999"}, "LASTMILE_KAFKA_BOOTSTRAP"),
    ({"LASTMILE_CLICKHOUSE_URL": "ftp://x"}, "LASTMILE_CLICKHOUSE_URL"),
    ({"LASTMILE_PARALLELISM": "two"}, "LASTMILE_PARALLELISM"),
    ({"LASTMILE_PARALLELISM": "0"}, "parallelism"),
    ({"LASTMILE_COLOCATION_RADIUS_M": "-5"}, "radius"),
    ({"LASTMILE_COLOCATION_RADIUS_M": "nan"}, "radius"),
    ({"LASTMILE_CLICKHOUSE_DATABASE": "x; DROP"}, "LASTMILE_CLICKHOUSE_DATABASE"),
    ({"LASTMILE_KAFKA_OUTPUT_COMPRESSION": "brotli"}, "LASTMILE_KAFKA_OUTPUT_COMPRESSION"),
    ({"LASTMILE_SPEED_TTL_DAYS": "0"}, "speed_ttl_days"),
    ({"LASTMILE_MAX_PARTITION_LAG_S": "-1"}, "max_partition_lag_s"),
])
def test_bad_values_raise_one_readable_config_error(env, needle):
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_describe_masks_the_password():
    assert Config(clickhouse_password="s3cret").describe()["clickhouse_password"] == "***"
