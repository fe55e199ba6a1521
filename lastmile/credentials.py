"""Secrets of a secure local stack (`lastmile up --secure`), kept only under
``LASTMILE_HOME/secrets`` with owner-only permissions, never in the repository, a log or a repr.

- ``stack.json``: the pipeline's own accounts (Kafka SCRAM, ClickHouse), the broker's
  controller account and the analysts' read-only ClickHouse account; every ``lastmile`` command on that home uses them (through
  :meth:`lastmile.config.Config.from_env`) unless the environment names others.
- ``partners.json``: each partner added (`lastmile partners add`) with its ClickHouse password's
  salted SHA-256 only. A partner's passwords are printed once and kept nowhere else.
"""
from __future__ import annotations

import json
import os
import pathlib
import secrets

PIPELINE_USER = "lastmile"
MECHANISM = "SCRAM-SHA-512"


def folder(home: pathlib.Path) -> pathlib.Path:
    return home / "secrets"


def new_password() -> str:
    return secrets.token_urlsafe(24)


def write_owner_only(path: pathlib.Path, text: str) -> None:
    """``text`` to ``path``, readable by its owner only: written to a new file (created so) that
    replaces the old one, whatever mode that had."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def write_private(path: pathlib.Path, data: dict) -> None:
    """``data`` as JSON in the secrets folder (owner-only, like the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o700)
    write_owner_only(path, json.dumps(data, indent=1))


def read(path: pathlib.Path) -> dict:
    return json.loads(path.read_text()) if path.is_file() else {}


def stack(home: pathlib.Path) -> dict:
    """The secure stack's accounts, or ``{}`` for a stack made without ``--secure``."""
    return read(folder(home) / "stack.json")


def create_stack(home: pathlib.Path) -> dict:
    """New accounts for a secure stack (kept if there are some already)."""
    existing = stack(home)
    if existing:
        return existing
    made = {"kafka": {"username": PIPELINE_USER, "password": new_password(), "mechanism": MECHANISM,
                      "security_protocol": "SASL_PLAINTEXT"},
            "controller": {"username": "controller", "password": new_password()},
            "clickhouse": {"username": PIPELINE_USER, "password": new_password()},
            "analyst": {"username": "analyst", "password": new_password()}}
    write_private(folder(home) / "stack.json", made)
    return made


def stack_settings(home: pathlib.Path, given: set[str]) -> dict:
    """Config values of a secure stack's pipeline accounts, for the fields not in ``given``."""
    accounts = stack(home)
    if not accounts:
        return {}
    kafka, clickhouse = accounts["kafka"], accounts["clickhouse"]
    out = {"kafka_security_protocol": kafka["security_protocol"], "kafka_sasl_mechanism": kafka["mechanism"],
           "kafka_username": kafka["username"], "kafka_password": kafka["password"]}
    if "clickhouse_user" not in given:
        out.update({"clickhouse_user": clickhouse["username"], "clickhouse_password": clickhouse["password"]})
    return {k: v for k, v in out.items() if k not in given}


def partners(home: pathlib.Path) -> dict:
    """Partner id -> ``{"clickhouse_sha256": ...}`` of the partners added to a secure stack."""
    return read(folder(home) / "partners.json")


def set_partner(home: pathlib.Path, partner_id: str, entry: dict | None) -> None:
    """Record (or, with ``None``, forget) a partner of a secure stack."""
    known = partners(home)
    if entry is None:
        known.pop(partner_id, None)
    else:
        known[partner_id] = entry
    write_private(folder(home) / "partners.json", known)


def inbox_key(home: pathlib.Path) -> str:
    """The key of the inboxes' counterpart tokens for this home, made on first use (every
    stack, secure or not: a partner must not be able to name the other party of a match)."""
    path = folder(home) / "inbox.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        os.chmod(path.parent, 0o700)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it meanwhile
            return path.read_text().strip()
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()
