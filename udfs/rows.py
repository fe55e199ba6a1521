"""ClickHouse rows of accepted partner events and of matches (column order = ``COLUMNS``).

Privacy: coordinates become resolution-10 H3 cells; recipient keys are not written.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from udfs.h3cells import cell
from udfs.records import DEAD_LETTER_COLUMNS, Source

if TYPE_CHECKING:  # the kernels they import are not needed to write rows (the Intake's)
    from udfs.colocation import Match
    from udfs.consolidation import Proposal

_SOURCE = ("source_topic", "source_partition", "source_offset", "schema_version")
COLUMNS = {
    "delivery_tasks": ("event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "dest_h3",
                       "window_start", "window_end", "parcel_count", "volume_l", "weight_kg", "retailer_id",
                       "service_level", *_SOURCE),
    "shipment_status": ("event_id", "partner_id", "shipment_id", "event_time", "ingested_at", "status",
                        "vehicle_id", "stop_sequence", "h3_cell", "reason", *_SOURCE),
    "vehicle_positions": ("event_id", "partner_id", "vehicle_id", "event_time", "ingested_at", "h3_cell",
                          "speed_mps", "load_volume_l", "capacity_volume_l", *_SOURCE),
    "capacity_offers": ("event_id", "partner_id", "vehicle_id", "event_time", "ingested_at", "depot_h3",
                        "available_from", "available_to", "spare_volume_l", "spare_stops", *_SOURCE),
    "colocations": ("match_id", "partner_a", "shipment_a", "partner_b", "shipment_b", "h3_cell", "distance_m",
                    "overlap_start", "overlap_end", "same_recipient", "detected_at", "version", "retracted"),
    "eta_predictions": ("partner_id", "shipment_id", "vehicle_id", "predicted_at", "eta", "model_version",
                        "inputs_digest"),
    "consolidation_proposals": ("proposal_id", "partners", "shipments", "assigned_partner", "km_separate",
                                "km_consolidated", "km_saved", "kernel_version", "inputs_digest", "created_at",
                                "assigned_offer", "tour"),
    "dead_letters": DEAD_LETTER_COLUMNS,
    # the metres each van drove per ETA interval (udfs.pings.driven_m): the km-driven KPI
    "vehicle_km": ("partner_id", "vehicle_id", "interval_at", "metres", "pings"),
    # each automated decision with what it was made from (lastmile audit): the pipeline's alone
    "audit_log": ("decision_id", "kind", "created_at", "kernel_version", "inputs_digest", "inputs"),
}


def event_row(stream: str, r: dict, source: Source, ingested_at: int) -> tuple:
    """The row of an accepted partner record (internal form, with its writer's ``schema_version``:
    udfs.contracts.intake.versioned) for the table named like its stream."""
    src = (source.topic, source.partition, source.offset, r["schema_version"])
    if stream == "vehicle_positions":
        return (r["event_id"], r["partner_id"], r["vehicle_id"], r["event_time"], ingested_at, cell(r["lat"], r["lng"]),
                r["speed_mps"], r["load_volume_l"], r["capacity_volume_l"], *src)
    if stream == "shipment_status":
        where = cell(r["lat"], r["lng"]) if r["lat"] is not None else None
        return (r["event_id"], r["partner_id"], r["shipment_id"], r["event_time"], ingested_at, r["status"],
                r["vehicle_id"], r["stop_sequence"], where, r["reason"], *src)
    if stream == "delivery_tasks":
        return (r["event_id"], r["partner_id"], r["shipment_id"], r["event_time"], ingested_at,
                cell(r["dest_lat"], r["dest_lng"]), r["window_start"], r["window_end"], r["parcel_count"],
                r["volume_l"], r["weight_kg"], r["retailer_id"], r["service_level"], *src)
    if stream == "capacity_offers":
        return (r["event_id"], r["partner_id"], r["vehicle_id"], r["available_from"], ingested_at,
                cell(r["depot_lat"], r["depot_lng"]), r["available_from"], r["available_to"], r["spare_volume_l"],
                r["spare_stops"], *src)
    raise ValueError(f"no table for stream {stream!r}")


def match_row(m: Match) -> tuple:
    return (m.match_id, m.partner_a, m.shipment_a, m.partner_b, m.shipment_b, m.h3_cell, m.distance_m,
            m.overlap_start, m.overlap_end, m.same_recipient, m.detected_at, m.version, int(m.retracted))


def audit_row(p: Proposal) -> tuple:
    """The ``audit_log`` row of a proposal: its kernel's inputs, as digested."""
    return (p.proposal_id, "proposal", p.created_at, p.kernel_version, p.inputs_digest, p.inputs)


def proposal_row(p: Proposal) -> tuple:
    return (p.proposal_id, list(p.partners), list(p.shipments), p.assigned_partner, p.km_separate,
            p.km_consolidated, p.km_saved, p.kernel_version, p.inputs_digest, p.created_at, p.offer_key,
            list(p.tour))
