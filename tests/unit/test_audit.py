"""udfs.audit: a proposal's decision replayed from the inputs the job logged for it."""
import json

import pytest
from test_consolidation import DAY, HOUR, member, offer  # noqa: I100 (tests/unit is on sys.path)

from udfs.audit import AuditError, explain
from udfs.consolidation import LEAD_MS, Neighbourhood
from udfs.rows import COLUMNS, audit_row, proposal_row


def _decided():
    """Three partners' deliveries to one block and four offers: pc's van too small, pd's gone by
    the windows' end, pa's depot nearer than pb's."""
    n = Neighbourhood()
    a, b, c = member("pa", "A1"), member("pb", "B1", north_m=40), member("pc", "C1", north_m=-30, volume=80.0)
    n.link(a, b)
    n.link(a, c)
    late = offer("pd")._replace(offer_key="pd:van-1", available_to=DAY + 9 * HOUR)
    offers = [offer("pa"), offer("pb", lat=52.60), offer("pc", spare_volume=20.0, lat=52.51), late]
    n.link(a, member("pd", "D1", north_m=10))
    [p] = n.decide(a.window_start - LEAD_MS, {o.offer_key: o for o in offers})
    return p


def _row(p) -> dict:
    return dict(zip(COLUMNS["consolidation_proposals"], proposal_row(p)))


def test_a_proposal_is_explained_by_every_candidate_and_what_was_checked_of_it():
    p = _decided()
    decision_id, kind, created_at, kernel, digest, inputs = audit_row(p)
    assert (decision_id, kind, created_at, kernel, digest) == (p.proposal_id, "proposal", p.created_at,
                                                              p.kernel_version, p.inputs_digest)
    found = explain(inputs, _row(p))
    assert found["same_decision"] and found["chosen_offer"] == p.offer_key == "pa:van-9"
    assert found["partners"] == ["pa", "pb", "pc", "pd"] and found["deliveries"] == 4
    by_offer = {c["offer_key"]: c for c in found["candidates"]}
    assert set(by_offer) == {"pa:van-9", "pb:van-9", "pc:van-9", "pd:van-1"}
    # pc's van takes the three others' parcels (90 l) into 20 l: no room
    assert by_offer["pc:van-9"]["needs_volume_l"] == 90.0 and not by_offer["pc:van-9"]["room"]
    assert by_offer["pc:van-9"]["on_time"] is None
    # pd's offer ends at 09:00, before the first window opens at 10:00: room, not on time
    assert by_offer["pd:van-1"]["room"] and by_offer["pd:van-1"]["on_time"] is False
    # pa and pb pass; pa's tour is the shorter one, and it is chosen
    assert by_offer["pa:van-9"]["on_time"] and by_offer["pb:van-9"]["on_time"]
    assert by_offer["pa:van-9"]["km_saved"] > by_offer["pb:van-9"]["km_saved"] > 0
    assert [c["offer_key"] for c in found["candidates"] if c["chosen"]] == ["pa:van-9"]
    assert found["km_separate"] == p.km_separate and by_offer["pa:van-9"]["km_consolidated"] == p.km_consolidated
    assert sorted(found["tour"]) == list(p.shipments)


def test_inputs_that_are_not_the_ones_a_proposal_was_made_from_are_refused():
    p = _decided()
    inputs = json.loads(p.inputs)
    inputs["candidates"][0][6] += 1  # more room than there was
    forged = json.dumps(inputs, sort_keys=True, separators=(",", ":"))
    with pytest.raises(AuditError, match="digest"):
        explain(forged, _row(p))
    with pytest.raises(AuditError, match="id"):
        explain(p.inputs, {**_row(p), "proposal_id": "0" * 32})
    # a replay that decides otherwise says so
    assert not explain(p.inputs, {**_row(p), "assigned_offer": "pb:van-9"})["same_decision"]
