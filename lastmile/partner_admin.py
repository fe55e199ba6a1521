"""`lastmile partners add | remove | list`: a partner's accounts and rights on a secure stack
(`lastmile up --secure`, docs/security.md).

``add P`` creates P's topics, its Kafka SCRAM account with ACLs (write its four ingest topics,
read its inbox and its dead letters, consumer groups named ``P.*``; nothing else) and quotas
(bytes per second it may produce and fetch), and its read-only ClickHouse
account that sees only its own rows (lastmile/stack/clickhouse_users.py). It returns the
passwords, which are printed once and kept nowhere: the stack keeps a ClickHouse password's
SHA-256 only, Kafka its salted SCRAM form. ``remove P`` deletes both accounts and every ACL of
P's principal; requests after that are refused.
"""
from __future__ import annotations

import time

from lastmile import credentials, topics
from lastmile.config import Config
from lastmile.errors import StackError
from lastmile.stack import clickhouse, clickhouse_users
from udfs.contracts.topics import STREAMS

RESERVED = {credentials.PIPELINE_USER, "controller", "default", "admin", "analyst"}
SCRAM_ITERATIONS = 8192


def _secure(config: Config) -> None:
    if not credentials.stack(config.home):
        raise StackError(f"the stack in {config.home} is not secure: partners' accounts need `lastmile up --secure` "
                         "(docs/security.md)")


def _checked(partner_id: str) -> str:
    try:
        topics.check_partner_id(partner_id)
    except ValueError as e:
        raise StackError(str(e)) from None
    if partner_id in RESERVED:
        raise StackError(f"{partner_id!r} is reserved for the stack's own accounts")
    return partner_id


def _done(futures: dict, what: str) -> None:
    """Wait for an admin call's futures; a refusal or a broker that does not answer is one line."""
    from confluent_kafka import KafkaException

    for future in futures.values():
        try:
            future.result(timeout=30)
        except KafkaException as e:
            raise StackError(f"Kafka refused to {what}: {e.args[0].str() if e.args else e}") from None
        except TimeoutError:
            raise StackError(f"Kafka did not answer within 30 s ({what})") from None


def _admin(config: Config):
    from confluent_kafka.admin import AdminClient

    return AdminClient({**config.kafka_client(), "log_level": 0})


def acls(partner_id: str) -> list:
    """What P's principal may do on Kafka, and nothing more."""
    from confluent_kafka.admin import AclBinding, AclOperation, AclPermissionType, ResourcePatternType, ResourceType

    principal = f"User:{partner_id}"

    def allow(kind, name: str, operation, pattern=ResourcePatternType.LITERAL) -> AclBinding:
        return AclBinding(kind, name, pattern, principal, "*", operation, AclPermissionType.ALLOW)

    out = []
    for stream in STREAMS:
        for operation in (AclOperation.WRITE, AclOperation.DESCRIBE):
            out.append(allow(ResourceType.TOPIC, topics.partner_topic(partner_id, stream), operation))
    for topic in (topics.inbox_topic(partner_id), topics.dead_letters_topic(partner_id)):
        for operation in (AclOperation.READ, AclOperation.DESCRIBE):
            out.append(allow(ResourceType.TOPIC, topic, operation))
    out.append(allow(ResourceType.GROUP, f"{partner_id}.", AclOperation.READ, ResourcePatternType.PREFIXED))
    return out


# bytes per second a partner may produce and fetch (Kafka quotas of its principal), by default
PRODUCE_BYTES_S = 4 << 20
FETCH_BYTES_S = 16 << 20


def quotas(config: Config, action: str, partner_id: str, *values: float) -> dict:
    """Set, remove or describe P's Kafka quotas (udfs/jvm ``tools.PartnerQuotas``: the Python
    admin client has no quota calls). ``describe`` returns them."""
    import json
    import os
    import tempfile

    from lastmile.stack import flink

    fd, path = tempfile.mkstemp(prefix="lastmile-admin-", suffix=".properties")  # owner-only: it holds a password
    try:
        with os.fdopen(fd, "w") as f:
            for key, value in config.kafka_java_client().items():
                f.write(f"{key}={value.replace(chr(92), chr(92) * 2)}\n")
        printed = flink.run_tool(config, "PartnerQuotas", path, action, partner_id, *(str(int(v)) for v in values),
                                 what=f"Kafka quotas of {partner_id}")
    finally:
        os.unlink(path)
    return json.loads(printed) if action == "describe" else {}


def add(config: Config, partner_id: str, produce_bytes_s: float = PRODUCE_BYTES_S,
        fetch_bytes_s: float = FETCH_BYTES_S) -> dict:
    """Create P's topics and accounts; returns the credentials (the only time they are shown)."""
    from confluent_kafka.admin import ScramCredentialInfo, ScramMechanism, UserScramCredentialUpsertion

    _secure(config)
    _checked(partner_id)
    topics.ensure_partner_topics(config, partner_id)
    admin = _admin(config)
    kafka_password, clickhouse_password = credentials.new_password(), credentials.new_password()
    info = ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, SCRAM_ITERATIONS)
    _done(admin.alter_user_scram_credentials([UserScramCredentialUpsertion(partner_id, info, kafka_password.encode())]),
          f"create {partner_id}'s account")
    _done(admin.create_acls(acls(partner_id)), f"grant {partner_id}'s rights")
    quotas(config, "set", partner_id, produce_bytes_s, fetch_bytes_s)
    credentials.set_partner(config.home, partner_id,
                            {"clickhouse_sha256": clickhouse_users.sha256_hex(clickhouse_password),
                             "added_at": int(time.time())})
    clickhouse.reload_users(config)
    _wait_for_clickhouse(config, partner_id, present=True)
    return {"partner_id": partner_id,
            "kafka": {"username": partner_id, "password": kafka_password, "mechanism": credentials.MECHANISM,
                      "security_protocol": config.kafka_protocol, "bootstrap": config.kafka_bootstrap,
                      "produce_bytes_s": int(produce_bytes_s), "fetch_bytes_s": int(fetch_bytes_s)},
            "clickhouse": {"username": partner_id, "password": clickhouse_password, "url": config.clickhouse_url,
                           "database": config.clickhouse_database}}


def remove(config: Config, partner_id: str) -> None:
    """Revoke P at once: its Kafka account and ACLs, its ClickHouse account. Its topics and
    rows stay (the pipeline's data); `lastmile partners add P` gives it new passwords."""
    from confluent_kafka.admin import (
        AclBindingFilter,
        AclOperation,
        AclPermissionType,
        ResourcePatternType,
        ResourceType,
        ScramMechanism,
        UserScramCredentialDeletion,
    )

    _secure(config)
    _checked(partner_id)
    admin = _admin(config)
    every = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, f"User:{partner_id}", None,
                             AclOperation.ANY, AclPermissionType.ANY)
    _done(admin.delete_acls([every]), f"revoke {partner_id}'s rights")
    quotas(config, "remove", partner_id)
    known = set(kafka_users(admin))
    if partner_id in known:
        _done(admin.alter_user_scram_credentials([UserScramCredentialDeletion(partner_id, ScramMechanism.SCRAM_SHA_512)]),
              f"delete {partner_id}'s account")
    was_known = partner_id in credentials.partners(config.home)
    credentials.set_partner(config.home, partner_id, None)
    clickhouse.reload_users(config)
    if not was_known and partner_id not in known:
        raise StackError(f"no partner {partner_id!r} on this stack")
    _wait_for_clickhouse(config, partner_id, present=False)


def listed(config: Config) -> list[dict]:
    """The partners of the stack: id and when added."""
    _secure(config)
    return [{"partner_id": p, "added_at": e.get("added_at")} for p, e in sorted(credentials.partners(config.home).items())]


def kafka_users(admin) -> list[str]:
    """The SCRAM accounts Kafka has (the pipeline's and the partners')."""
    from confluent_kafka import KafkaException

    described = admin.describe_user_scram_credentials()
    try:
        users = described.result(timeout=30) if hasattr(described, "result") else {
            name: f.result(timeout=30) for name, f in described.items()}
    except KafkaException as e:
        raise StackError(f"Kafka refused to list its accounts: {e.args[0].str() if e.args else e}") from None
    return sorted(users)


def _wait_for_clickhouse(config: Config, user: str, present: bool, timeout_s: float = 30) -> None:
    """Until the server has read users.xml again: ``user`` is one of its accounts (or no longer is)."""
    from lastmile.clickhouse import http_client

    client = http_client(config)
    try:
        deadline = time.monotonic() + timeout_s
        while (client.query("SELECT count() FROM system.users WHERE name = {u:String}",
                            parameters={"u": user}).result_rows[0][0] > 0) != present:
            if time.monotonic() > deadline:
                raise StackError(f"ClickHouse did not {'add' if present else 'drop'} {user}'s account within "
                                 f"{timeout_s:.0f} s")
            time.sleep(0.3)
    finally:
        client.close()
