"""Where `lastmile bench` says a bounded run's time went (lastmile.bench.pipeline.timeline), from a job's
Flink REST details; which of repeated runs it reports, and how it records them."""
from __future__ import annotations

from lastmile.bench.pipeline import _median_run, record, records_by_task, timeline


def _vertex(name: str, end: int, read: int = 0, written: int = 0) -> dict:
    return {"name": name, "end-time": end, "metrics": {"read-records": read, "write-records": written}}


JOB = {"start-time": 10_000, "end-time": 40_000, "vertices": [
    _vertex("Source: positions[1] -> Calc[2]", 24_000, written=900),
    _vertex("Source: partner_events[6] -> Calc[7]", 31_500, written=300),
    _vertex("matcher: co-locations per H3 cell", 39_000, read=250, written=40),
    _vertex("eta: routes per vehicle", 40_000, read=120, written=9),
]}


def test_timeline_splits_the_run_at_the_job_and_its_last_source():
    assert timeline(JOB, client_started_ms=2_500, client_ended_ms=41_250) == {
        "before_job_s": 7.5, "sources_s": 21.5, "drain_s": 8.5, "after_job_s": 1.25}


def test_timeline_adds_up_to_the_client_run():
    parts = timeline(JOB, client_started_ms=2_500, client_ended_ms=41_250)
    assert sum(parts.values()) == (41_250 - 2_500) / 1000


def test_a_source_still_running_does_not_count_as_finished():
    # Flink reports -1 for a task without an end; the job's end is then the sources' end
    job = {**JOB, "vertices": [_vertex("Source: positions[1]", -1), _vertex("eta", 40_000)]}
    assert timeline(job, 9_000, 40_500) == {"before_job_s": 1.0, "sources_s": 30.0, "drain_s": 0.0,
                                            "after_job_s": 0.5}


def test_records_by_task_reads_each_tasks_counts():
    assert records_by_task(JOB)["matcher: co-locations per H3 cell"] == {"read": 250, "written": 40}
    assert len(records_by_task(JOB)) == 4


def test_the_median_run_is_reported_whole():
    runs = [{"events_per_s": 900, "cpu": 1}, {"events_per_s": 1200, "cpu": 2}, {"events_per_s": 1000, "cpu": 3}]
    assert _median_run(runs) == {"events_per_s": 1000, "cpu": 3}
    # an even count: the lower of the middle two, a run that happened rather than a mean of two
    assert _median_run(runs + [{"events_per_s": 1100, "cpu": 4}]) == {"events_per_s": 1000, "cpu": 3}


def test_a_recorded_row_names_every_pair_ratio(tmp_path):
    result = {"date": "2026-12-07", "machine": "2 cores (x), 8 GiB, Linux", "workload": {"events": 300_000},
              "versions": {"flink": "2.2.1", "python": "3.11.7"},
              "throughput": {"events_per_s": 20_000, "steady_events_per_s": 30_000, "cpu_s_per_1000_events": 0.08},
              "baseline": {"events_per_s": 16_000}, "speedup_vs_baseline": 1.25, "job_peak_rss_mib": 2000.0,
              "repeats": [{"throughput": {"events_per_s": 20_000}, "baseline": {"events_per_s": 16_000}},
                          {"throughput": {"events_per_s": 18_000}, "baseline": {"events_per_s": 20_000}}]}
    path = tmp_path / "BENCHMARKS.md"
    record(result, path, "a change")
    row = path.read_text().strip().splitlines()[-1]
    assert "a change; medians of 2 runs of each in turn (x baseline by pair: 1.25, 0.90)" in row
    assert "| 20,000 (30,000) | 0.08 | 2000.0 | 16,000 | 1.25 |" in row
