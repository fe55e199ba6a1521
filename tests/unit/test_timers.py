"""udfs.flink.timers: a timer pending for a key is registered with Flink once."""
from udfs.flink.timers import Timers


class _TimerService:
    def __init__(self):
        self.registered = []

    def register_event_time_timer(self, ts):
        self.registered.append(ts)


class _Context:
    def __init__(self):
        self.service = _TimerService()

    def timer_service(self):
        return self.service


def test_a_pending_timer_is_registered_once_per_key_and_again_after_it_fired():
    ctx, timers = _Context(), Timers()
    for key, ts in [("a", 10), ("a", 10), ("b", 10), ("a", 20), ("a", 10)]:
        timers.register(ctx, key, ts)
    assert ctx.service.registered == [10, 10, 20]
    assert len(timers) == 3
    timers.fired("a", 10)
    timers.register(ctx, "a", 10)  # a new timer at a time that already fired for this key
    timers.register(ctx, "a", 20)
    assert ctx.service.registered == [10, 10, 20, 10]
    timers.fired("a", 10)
    timers.fired("a", 20)
    timers.fired("b", 10)
    timers.fired("c", 5)  # a timer restored from a checkpoint, never registered here
    assert len(timers) == 0


def test_the_earliest_pending_timer_of_a_key():
    ctx, timers = _Context(), Timers()
    assert timers.earliest("a") is None
    for ts in (30, 10, 20):
        timers.register(ctx, "a", ts)
    assert timers.earliest("a") == 10 and timers.earliest("b") is None
    timers.fired("a", 10)
    assert timers.earliest("a") == 20
    timers.fired("a", 20)
    timers.fired("a", 30)
    assert timers.earliest("a") is None
