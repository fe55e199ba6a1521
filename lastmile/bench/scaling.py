"""`lastmile bench --scaling`: the coordination job on the standalone cluster with one and with
two TaskManagers (one slot each: parallelism 1 and 2) on the same workload in one run, and how
evenly the keyed stages' records spread over their subtasks (the skew a hot cell would show).

Uses the pipeline benchmark's workload, stack and measurement (lastmile/bench/pipeline.py):
events/s from the start of `lastmile run --bounded --jobmanager` to the job's end (its last
row in ClickHouse), each run into a database of its own, both checked against the truth.
"""
from __future__ import annotations

from lastmile.config import Config

KEYED = ("registry", "matcher", "disclosure", "consolidator", "tracker", "profiles", "routes", "eta")


def subtask_records(config: Config, job: dict) -> dict[str, list[int]]:
    """Records each subtask of the keyed stages of ``job`` read (their keys' share of the work)."""
    from lastmile.stack import flink

    out = {}
    for vertex in job["vertices"]:
        name = vertex["name"]
        if vertex["parallelism"] < 2 or not any(k in name.lower() for k in KEYED):
            continue
        detail = flink.rest_json(config, f"/jobs/{job['jid']}/vertices/{vertex['id']}")
        out[name[:60]] = [s["metrics"]["read-records"] for s in detail["subtasks"]]
    return out


def run(events: int, say=lambda _m: None, progress: bool = False, hotspot_share: float = 0.0) -> dict:
    from lastmile.bench import pipeline
    from lastmile.stack import flink

    config, env = pipeline.bench_stack()
    workload = pipeline.Workload(events=events, hotspot_share=hotspot_share)
    _, truth = pipeline.load_fresh(config, workload, say, progress)
    result: dict = {**pipeline.header(), "events": events, "hotspot_share": hotspot_share, "runs": {}}
    try:
        for taskmanagers in (1, 2):
            cluster = config.with_overrides(flink_taskmanagers=taskmanagers)
            flink.down(cluster, say=lambda _m: None)
            flink.up(cluster, say=lambda _m: None)
            measured = pipeline.throughput(cluster, {**env, "LASTMILE_PARALLELISM": str(taskmanagers)}, workload, say,
                                           cluster=True, database=f"lastmile_tm{taskmanagers}")
            job = pipeline.finished_job(cluster)
            result["runs"][taskmanagers] = {
                "events_per_s": measured["events_per_s"], "steady_events_per_s": measured["steady_events_per_s"],
                "seconds": measured["seconds"], "cpu_s": measured["cpu_s"],
                "colocations_equal_truth": measured.pop("_pairs") == truth,
                "subtask_records": subtask_records(cluster, job) if job else {}}
            flink.down(cluster, say=lambda _m: None)
    finally:
        flink.down(config, say=lambda _m: None)
    one, two = result["runs"][1]["events_per_s"], result["runs"][2]["events_per_s"]
    result["speedup_2_over_1"] = round(two / one, 2) if one else None
    return result


def print_report(result: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    hot = f", {result['hotspot_share']:.0%} of the deliveries to one block" if result["hotspot_share"] else ""
    table = Table(title=f"the job on the standalone cluster, {result['events']:,} events{hot}")
    for column in ("TaskManagers", "events/s", "steady events/s", "seconds", "CPU s", "= truth"):
        table.add_column(column, justify="right")
    for n, r in result["runs"].items():
        table.add_row(str(n), f"{r['events_per_s']:,}", f"{r['steady_events_per_s']:,}", f"{r['seconds']:.1f}",
                      f"{r['cpu_s']:.1f}", "yes" if r["colocations_equal_truth"] else "NO")
    console.print(table)
    console.print(f"2 TaskManagers over 1: {result['speedup_2_over_1']}x")
    skew = Table(title="records read per subtask, keyed stages (2 TaskManagers)")
    for column in ("stage", "subtasks", "max / mean"):
        skew.add_column(column, justify="left" if column == "stage" else "right")
    for name, counts in result["runs"][2]["subtask_records"].items():
        mean = sum(counts) / len(counts) if counts else 0
        skew.add_row(name, " / ".join(f"{c:,}" for c in counts), f"{max(counts) / mean:.2f}" if mean else "-")
    console.print(skew)
