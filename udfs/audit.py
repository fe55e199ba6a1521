"""Why a consolidation was proposed: its decision replayed from the inputs it was made from.

The job writes each proposal's kernel inputs to ``audit_log`` exactly as it digested them
(udfs.consolidation ``_proposal``: canonical JSON of the deliveries, the candidate offers
with the room left on them, the partners' depots, the parameters and the time of the
decision). :func:`explain` checks them against the proposal's digest and id, and replays
them through the kernel's specification (udfs.kernels.consolidation.plan_groups_reference,
which the numba and JVM kernels are held to), tracing what was checked of every candidate:
the room it has for the other partners' parcels (volume and stops), whether a tour reaches
every stop before its window and the offer end, and the kilometres compared. ``lastmile
audit PROPOSAL_ID`` prints it.
"""
from __future__ import annotations

import hashlib
import json
import math

import numpy as np

from udfs.kernels.consolidation import plan_groups_reference

#: What a candidate must pass to serve a group, in the order the kernel checks it.
CONSTRAINTS = (
    "room: the other partners' parcels fit the offer's spare volume (litres) and spare stops",
    "on time: a tour from the offer's depot, leaving at the decision or when the offer starts, reaches every "
    "stop before its window ends and before the offer ends (the shortest open tour, else by deadline)",
    "saving: of the candidates that pass, the one whose tour saves the most km against every partner driving "
    "its own deliveries; none if no tour saves any",
)


class AuditError(ValueError):
    """The audit log does not match the proposal it is said to explain."""


def proposal_id_of(kernel_version: str, inputs_digest: str) -> str:
    """How a proposal's id follows from its kernel and inputs (udfs.consolidation ``_proposal``)."""
    return hashlib.sha256(f"{kernel_version}\x1f{inputs_digest}".encode()).hexdigest()[:32]


def explain(inputs: str, proposal: dict | None = None) -> dict:
    """The decision made from ``inputs`` (the audit log's canonical JSON), replayed.

    ``proposal``: the row of ``consolidation_proposals`` it should explain (``proposal_id``,
    ``inputs_digest``, ``kernel_version``, ``assigned_offer``, ``km_separate``,
    ``km_consolidated``); an :class:`AuditError` when the inputs are not the ones it was made
    from. The result says whether the replay makes the same decision (``same_decision``).
    """
    digest = hashlib.sha256(inputs.encode()).hexdigest()
    given = json.loads(inputs)
    if proposal is not None:
        if digest != proposal["inputs_digest"]:
            raise AuditError(f"the audit log's inputs digest to {digest}, the proposal says {proposal['inputs_digest']}")
        if proposal_id_of(given["kernel_version"], digest) != proposal["proposal_id"]:
            raise AuditError("the inputs and kernel version do not give the proposal's id")
    deliveries, candidates, own = given["deliveries"], given["candidates"], given["own_start"]
    partners = sorted({d[0] for d in deliveries})
    index = {p: i for i, p in enumerate(partners)}
    f64 = lambda values: np.array(values, dtype=np.float64)  # noqa: E731
    i64 = lambda values: np.array(values, dtype=np.int64)  # noqa: E731
    params = given["params"]
    trace: list[dict] = []
    chosen, km_separate, km_consolidated, order = plan_groups_reference(
        i64([0, len(deliveries)]), f64([d[2] for d in deliveries]), f64([d[3] for d in deliveries]),
        i64([d[4] for d in deliveries]), i64([d[5] for d in deliveries]), f64([d[6] for d in deliveries]),
        i64([index[d[0]] for d in deliveries]), f64([own.get(d[0], [math.nan])[0] for d in deliveries]),
        f64([own.get(d[0], [math.nan, math.nan])[1] for d in deliveries]), i64([given["decided_at"]]),
        i64([0, len(candidates)]), i64([index.get(c[0], -1) for c in candidates]), f64([c[2] for c in candidates]),
        f64([c[3] for c in candidates]), i64([c[4] for c in candidates]), i64([c[5] for c in candidates]),
        f64([c[6] for c in candidates]), i64([c[7] for c in candidates]), params["detour"], params["speed_mps"],
        params["dwell_s"], trace=trace)
    checked = trace[0]["candidates"]
    separate = trace[0]["km_separate"]
    rows = []
    for i, c in enumerate(candidates):
        seen = checked[i]
        km = seen["km_consolidated"]
        rows.append({"offer_key": c[1], "partner_id": c[0], "spare_volume_l": c[6], "spare_stops": c[7],
                     "needs_volume_l": round(seen["needs_volume_l"], 3), "needs_stops": seen["needs_stops"],
                     "room": seen["room"], "on_time": seen["on_time"],
                     "km_consolidated": None if km is None else round(km, 3),
                     "km_saved": None if km is None or separate is None else round(separate - km, 3),
                     "chosen": i == chosen[0]})
    offer = candidates[chosen[0]][1] if chosen[0] >= 0 else None
    out = {"kernel_version": given["kernel_version"], "inputs_digest": digest, "decided_at": given["decided_at"],
           "params": params, "deliveries": len(deliveries), "partners": partners,
           "km_separate": None if separate is None else round(separate, 3), "candidates": rows,
           "chosen_offer": offer, "constraints": list(CONSTRAINTS),
           "tour": [f"{deliveries[int(r)][0]}:{deliveries[int(r)][1]}" for r in order] if offer else []}
    if proposal is not None:
        out["proposal_id"] = proposal["proposal_id"]
        out["same_decision"] = (offer == proposal["assigned_offer"]
                                and math.isclose(round(km_separate[0], 3), proposal["km_separate"], abs_tol=1e-3)
                                and math.isclose(round(km_consolidated[0], 3), proposal["km_consolidated"],
                                                 abs_tol=1e-3))
    return out
