"""`lastmile audit PROPOSAL_ID`: why a consolidation was proposed.

Reads the proposal (``consolidation_proposals``) and the inputs it was made from
(``audit_log``) with the pipeline's account, checks them against the proposal's digest and id,
and replays the decision (udfs.audit.explain): every candidate offer considered, what was
checked of it (room, time windows), the kilometres compared, the one chosen.
"""
from __future__ import annotations

from lastmile.clickhouse import http_client
from lastmile.config import Config
from lastmile.errors import LastmileError
from udfs.audit import AuditError, explain


def audit(config: Config, proposal_id: str) -> dict:
    """The replayed decision of ``proposal_id``; a LastmileError (one line) when it or its inputs are missing
    or do not match."""
    client = http_client(config)
    found = client.query(
        "SELECT proposal_id, assigned_partner, assigned_offer, km_separate, km_consolidated, km_saved, kernel_version, "
        "inputs_digest, toUnixTimestamp64Milli(created_at), shipments FROM consolidation_proposals FINAL "
        "WHERE proposal_id = {id:String}", parameters={"id": proposal_id}).result_rows
    if not found:
        raise LastmileError(f"no proposal {proposal_id!r} in {config.clickhouse_database}.consolidation_proposals")
    names = ("proposal_id", "assigned_partner", "assigned_offer", "km_separate", "km_consolidated", "km_saved",
             "kernel_version", "inputs_digest", "created_at", "shipments")
    proposal = dict(zip(names, found[0]))
    logged = client.query("SELECT inputs FROM audit_log FINAL WHERE kind = 'proposal' AND decision_id = {id:String}",
                          parameters={"id": proposal_id}).result_rows
    if not logged:
        raise LastmileError(f"proposal {proposal_id} has no audit_log row (made before the audit log existed?)")
    try:
        out = explain(logged[0][0], proposal)
    except AuditError as exc:
        raise LastmileError(f"proposal {proposal_id}: {exc}") from None
    out["proposal"] = proposal
    return out
