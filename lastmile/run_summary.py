"""What the coordination job's tables hold after a run, for the person at the terminal:
``lastmile run`` prints it (a table), ``lastmile run --json`` returns it."""
from __future__ import annotations

from lastmile.config import Config


def summary(config: Config) -> dict:
    """What the tables hold now: co-locations (current), by partner pair, and dead letters by reason."""
    from lastmile.clickhouse import http_client

    client = http_client(config)
    q = lambda sql: client.query(sql).result_rows  # noqa: E731
    total, same, mean_m = q("SELECT count(), countIf(same_recipient), round(avg(distance_m), 1) "
                            "FROM colocations_current")[0]
    return {
        "colocations": total, "same_recipient": same, "mean_distance_m": mean_m if total else None,
        "by_partner_pair": {f"{a} + {b}": n for a, b, n in q(
            "SELECT partner_a, partner_b, count() AS n FROM colocations_current GROUP BY partner_a, partner_b "
            "ORDER BY n DESC LIMIT 10")},
        "accepted": {t: q(f"SELECT count() FROM {t} FINAL")[0][0]
                     for t in ("delivery_tasks", "shipment_status", "vehicle_positions", "capacity_offers")},
        "dead_letters": {f"{stage}/{reason}": n for stage, reason, n in q(
            "SELECT stage, reason, count() AS n FROM dead_letters FINAL GROUP BY stage, reason ORDER BY n DESC")},
        "eta": dict(zip(("updates", "shipments", "vehicles"), q(
            "SELECT count(), uniqExact(partner_id, shipment_id), uniqExact(partner_id, vehicle_id) "
            "FROM eta_predictions FINAL")[0])),
        "proposals": dict(zip(("proposals", "deliveries", "km_separate", "km_saved"), q(
            "SELECT count(), sum(length(shipments)), round(sum(km_separate), 1), round(sum(km_saved), 1) "
            "FROM consolidation_proposals FINAL")[0])),
    }


def print_summary(result: dict, seconds: float) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    console.print(f"[bold]coordination job[/bold] finished in {seconds:.1f} s: {result['colocations']:,} "
                  f"co-located pairs ({result['same_recipient']:,} same recipient, mean "
                  f"{result['mean_distance_m'] or 0} m apart)")
    table = Table(title="co-locations by partner pair (top 10)")
    table.add_column("partners")
    table.add_column("pairs", justify="right")
    for pair, n in result["by_partner_pair"].items():
        table.add_row(pair, f"{n:,}")
    console.print(table)
    eta, proposals = result["eta"], result["proposals"]
    console.print(f"ETA updates: {eta['updates']:,} for {eta['shipments']:,} shipments on {eta['vehicles']:,} vans")
    console.print(f"consolidation proposals: {proposals['proposals']:,} covering {proposals['deliveries'] or 0:,} "
                  f"deliveries; at most {proposals['km_saved'] or 0:,} km saved of {proposals['km_separate'] or 0:,} km "
                  f"driven separately to them, from their depots (`lastmile report`: the km saved on the routes driven)")
    console.print("accepted events: " + ", ".join(f"{t} {n:,}" for t, n in result["accepted"].items()))
    console.print("dead letters: " + (", ".join(f"{r} {n:,}" for r, n in result["dead_letters"].items()) or "none"))
