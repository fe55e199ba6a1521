"""Partner SDK logic that needs no broker: address pseudonymization and record preparation."""
import hashlib
import hmac
import time

import pytest
from samples import valid

from lastmile.errors import ConfigError
from lastmile.partner import PartnerClient, event_time_of, normalize_address, recipient_key
from udfs.contracts import wire
from udfs.contracts.errors import ContractViolation
from udfs.contracts.schemas import default_registry

KEY = b"ecosystem-test-key"


@pytest.mark.parametrize("a, b", [
    ("Hauptstraße 5, 10115 Berlin", "hauptstrasse 5 10115 berlin"),
    ("Hauptstr. 5,  10115 BERLIN", "Hauptstrasse 5 10115 Berlin"),
    ("Karl-Marx-Platz 1", "karl marx platz 1"),
    ("Karl-Marx-Pl. 1", "Karl Marx Platz 1"),
    ("Ｍｕｓｔｅｒｗｅｇ １", "musterweg 1"),  # full-width forms (NFKC)
])
def test_spellings_of_one_address_normalize_alike(a, b):
    assert normalize_address(a) == normalize_address(b)


def test_different_addresses_stay_different():
    assert normalize_address("Hauptstr. 5") != normalize_address("Hauptstr. 50")


def test_recipient_key_is_the_hmac_of_the_normalized_address():
    key = recipient_key("Hauptstr. 5, Berlin", KEY)
    assert key == hmac.new(KEY, b"hauptstrasse 5 berlin", hashlib.sha256).hexdigest()
    assert len(key) == 64 and key == key.lower()
    assert recipient_key("Hauptstr. 5, Berlin", b"another key") != key
    assert "haupt" not in key


def test_recipient_key_needs_the_ecosystem_key():
    with pytest.raises(ConfigError):
        recipient_key("x", b"")


def _offline_client() -> PartnerClient:
    """A client that never talks to a broker: prepare() is pure."""
    return PartnerClient("acme", ecosystem_key=KEY, create_topics=False,
                         producer_options={"bootstrap.servers": "127.0.0.1:1"})


def test_prepare_refuses_a_broken_record_with_its_reason():
    client = _offline_client()
    with pytest.raises(ContractViolation) as info:
        client.prepare("delivery_tasks", valid("delivery_tasks", dest_lat=0.0, dest_lng=0.0, event_time=None))
    assert info.value.reason == "wrong_type"
    import time

    now = int(time.time() * 1000)
    with pytest.raises(ContractViolation) as info:
        client.prepare("delivery_tasks", valid("delivery_tasks", now_ms=now, partner="someone-else"))
    assert info.value.reason == "partner_mismatch"


def test_prepare_can_write_an_older_version_that_readers_upgrade():
    import time

    client = _offline_client()
    record = valid("delivery_tasks", now_ms=int(time.time() * 1000))
    del record["retailer_id"], record["service_level"]
    payload = client.prepare("delivery_tasks", record, version=1)
    assert payload[2:10] == default_registry().get("DeliveryTask", 1).fingerprint
    decoded, writer = wire.decode(payload)
    assert writer.version == 1 and decoded == {**record, "retailer_id": None, "service_level": None}


def test_kafka_timestamps_are_event_times_never_ahead_of_the_sender_s_clock():
    """A broker refuses a timestamp over an hour ahead: an offer announced for next week is
    stamped with the sender's clock (it once lost the offer, and a current one in its batch)."""
    now = 1_767_225_600_000
    week = 7 * 86_400_000
    assert event_time_of({"event_time": now - 5}, now) == now - 5
    assert event_time_of({"available_from": now + week, "available_to": now + week + 1}, now) == now
    assert event_time_of({"available_from": now - week}, now) == now - week
    assert event_time_of({"event_time": True}, now) is None
    assert event_time_of({"event_time": now + week}) <= int(time.time() * 1000)  # the machine's clock by default
