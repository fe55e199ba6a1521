"""Shipment statuses as the delivery model reads them (all of them: udfs.contracts.rules.STATUSES).

A status that puts a shipment on a van opens its stop, a final one closes it; the others
(CREATED, PICKED_UP) change nothing for ETAs, so only the tracked ones reach the Registry.
A module of its own, without the kernels udfs.eta loads: the Intake imports it.
"""
OPEN_STATUSES = ("OUT_FOR_DELIVERY",)
FINAL_STATUSES = ("DELIVERED", "FAILED_ATTEMPT", "RETURNED", "CANCELLED")
TRACKED_STATUSES = OPEN_STATUSES + FINAL_STATUSES
