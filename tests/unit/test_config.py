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
    ({"LASTMILE_KAFKA_SECURITY_PROTOCOL": "TLS"}, "LASTMILE_KAFKA_SECURITY_PROTOCOL"),
    ({"LASTMILE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT"}, "LASTMILE_KAFKA_USERNAME"),
    ({"LASTMILE_KAFKA_SASL_MECHANISM": "GSSAPI"}, "LASTMILE_KAFKA_SASL_MECHANISM"),
    ({"LASTMILE_SPEED_TTL_DAYS": "0"}, "speed_ttl_days"),
    ({"LASTMILE_MAX_PARTITION_LAG_S": "-1"}, "max_partition_lag_s"),
    ({"LASTMILE_INBOX_NAMED_PARTNERS": "acme,Bad Co"}, "LASTMILE_INBOX_NAMED_PARTNERS"),
    ({"LASTMILE_INBOX_SAME_RECIPIENT_PARTNERS": "x"}, "LASTMILE_INBOX_SAME_RECIPIENT_PARTNERS"),
])
def test_bad_values_raise_one_readable_config_error(env, needle):
    with pytest.raises(ConfigError) as info:
        Config.from_env(env)
    message = str(info.value)
    assert needle in message and "\n" not in message


def test_describe_masks_the_password():
    assert Config(clickhouse_password="s3cret").describe()["clickhouse_password"] == "***"


def test_kafka_clients_get_the_security_settings_and_no_repr_shows_the_password():
    config = Config.from_env({"LASTMILE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "LASTMILE_KAFKA_USERNAME": "p-1",
                              "LASTMILE_KAFKA_PASSWORD": 'se"cret', "LASTMILE_KAFKA_SSL_CA": "/etc/ca.pem"})
    assert config.kafka_client() == {"bootstrap.servers": config.kafka_bootstrap, "security.protocol": "SASL_SSL",
                                     "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": "p-1",
                                     "sasl.password": 'se"cret', "ssl.ca.location": "/etc/ca.pem"}
    java = config.kafka_java_client()
    assert java["sasl.jaas.config"] == ('org.apache.flink.kafka.shaded.org.apache.kafka.common.security.scram.'
                                        'ScramLoginModule required username="p-1" password="se\\"cret";')
    assert java["ssl.truststore.type"] == "PEM" and java["security.protocol"] == "SASL_SSL"
    assert 'se"cret' not in repr(config) and "cret" not in repr(config.job_settings())
    assert dict(config.job_settings().kafka.client)["sasl.jaas.config"] == java["sasl.jaas.config"]
    assert Config.from_env({}).kafka_client() == {"bootstrap.servers": "127.0.0.1:9092"}


def test_a_secure_stack_s_accounts_are_used_unless_the_environment_names_others(tmp_path):
    from lastmile import credentials

    made = credentials.create_stack(tmp_path)
    config = Config.from_env({}, home=tmp_path)
    assert (config.kafka_security_protocol, config.kafka_username) == ("SASL_PLAINTEXT", "lastmile")
    assert config.kafka_password == made["kafka"]["password"]
    assert config.clickhouse_password == made["clickhouse"]["password"]
    own = Config.from_env({"LASTMILE_KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "LASTMILE_KAFKA_USERNAME": "p-2",
                           "LASTMILE_KAFKA_PASSWORD": "x", "LASTMILE_CLICKHOUSE_USER": "p-2"}, home=tmp_path)
    assert (own.kafka_username, own.clickhouse_user, own.clickhouse_password) == ("p-2", "p-2", "")
    assert oct((tmp_path / "secrets" / "stack.json").stat().st_mode & 0o777) == "0o600"


@pytest.mark.parametrize("name", ["a b", "x</user><admin>", "", "a" * 65, "-lead"])
def test_clickhouse_user_names_are_checked_before_they_reach_users_xml(name):
    from lastmile.stack import clickhouse_users

    with pytest.raises(ConfigError):
        clickhouse_users.writer(name, "0" * 64)


def test_partners_agree_to_be_named_or_share_same_recipient_one_by_one_and_may_withdraw(tmp_path):
    """lastmile partners share: kept under the home, added to by the environment's lists, read by
    the job's settings; nobody is in either list until they agree."""
    from lastmile import sharing

    env = {"LASTMILE_HOME": str(tmp_path), "LASTMILE_INBOX_KEY": "k"}
    assert Config.from_env(env).job_settings().sharing == sharing.Sharing()
    sharing.agree(tmp_path, "acme", named=True, same_recipient=True)
    sharing.agree(tmp_path, "bolt-de", named=True)
    sharing.agree(tmp_path, "acme", same_recipient=False)
    settings = Config.from_env({**env, "LASTMILE_INBOX_NAMED_PARTNERS": " cargo-1, dpd "}).job_settings()
    assert settings.sharing == sharing.Sharing(frozenset({"acme", "bolt-de", "cargo-1", "dpd"}), frozenset())
    assert settings.sharing.as_text() == "named=acme,bolt-de,cargo-1,dpd;same_recipient="
    with pytest.raises(ValueError):
        sharing.agree(tmp_path, "Not An Id", named=True)
