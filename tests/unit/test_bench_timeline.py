"""Where `lastmile bench` says a bounded run's time went (lastmile.bench.pipeline.timeline), from a job's
Flink REST details."""
from __future__ import annotations

from lastmile.bench.pipeline import records_by_task, timeline


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
