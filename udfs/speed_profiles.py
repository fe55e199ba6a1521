"""Learned travel speeds per H3 cell and hour of week, from consecutive vehicle pings.

Resolution 9 (cells ~0.1 km², edge ~200 m): fine enough to tell a ring road from the
streets beside it, coarse enough that a city's vans cross each cell-hour often
enough to learn from. Every segment also teaches the cell's resolution-7 parent
(a district, ~5 km²), and both levels keep an all-hours estimate beside the one
per hour of the week. An hour of the week only repeats once a week, so most cells
have not seen most hours yet; what an hour does to a district's streets (rush hour
costs a third) is learned apart, as the district's *hour factor*: the running median
of segment speed over the cell's usual (all-hours) speed, which does not depend on
which of its streets the vans happened to drive in that hour. A lookup takes the
cell's speed in that hour; else the cell's usual speed times the district's factor
for the hour; else the district's speed in that hour, or at any hour: where the
van drives matters more than when (a congested centre is three times slower than
the ring road). Nothing learned at all: the city default.

Learning (:func:`learn`) and lookup (:class:`SpeedTable`) are separate because in
the job they live in different operators: estimates are keyed state per
(cell, hour); only estimates that moved are published to the ETA operator.
"""
from __future__ import annotations

import bisect
import dataclasses
import math
import struct

import h3.api.basic_int as h3i

from udfs.geo import haversine_m

PROFILE_RESOLUTION = 9
PARENT_RESOLUTION = 7
ANY_HOUR = 168  # the hour key of all-hours estimates
# (district, HOUR_FACTOR + hour): how much faster or slower than usual its streets are in
# that hour of the week, the running median of segment speed / the cell's all-hours speed
HOUR_FACTOR = 200
FACTOR_LIMITS = (0.4, 1.6)
DEFAULT_SPEED_MPS = 7.0  # ~25 km/h: where and when nothing has been learned yet
PUBLISH_CHANGE = 0.05  # publish an estimate again once it moved by 5 %
MIN_OBSERVATIONS = 5
MAX_GAP_MS = 10 * 60_000  # pings further apart say nothing about one street's speed
MAX_SPEED_MPS = 40.0  # 144 km/h: above that, the GPS jumped
# A parked van's pings scatter by GPS noise (~5 m, now and then 15 m and more), and vans
# wait at stops for many pings: below 30 m and 1 m/s it was parked, not travelling.
MIN_MOVE_M = 30.0
MIN_SPEED_MPS = 1.0
HOUR = 3_600_000
DAY_MS = 24 * HOUR
# An estimate no segment taught for this long is forgotten (forget_stale): four weeks of a
# weekly profile, so state is bounded by time, not only by the map.
SPEED_TTL_MS = 28 * DAY_MS
NEVER = -(2 ** 63)
WEEK_START_OFFSET_H = 72  # 1970-01-01 was a Thursday: shift so hour 0 is Monday 00:00 UTC


def hour_of_week(ts_ms: int) -> int:
    """0 = Monday 00:00-01:00 UTC ... 167 = Sunday 23:00-24:00 UTC."""
    return int((ts_ms // HOUR + WEEK_START_OFFSET_H) % 168)


Ping = tuple  # (ts_ms, lat, lng) or (ts_ms, lat, lng, reported speed m/s or None)


def segment_speed(prev: Ping, cur: Ping) -> tuple[int, int, float] | None:
    """(cell, hour of week, m/s) of the travel between two pings of one vehicle, attributed
    to the midpoint; None for gaps, GPS jumps and parked vans. When the pings carry the
    device's speed, a segment with either end standing still straddles a stop (the van
    drove part of the time): it would teach a speed far below the street's, so it is skipped."""
    dt = cur[0] - prev[0]
    if dt <= 0 or dt > MAX_GAP_MS:
        return None
    for ping in (prev, cur):
        if len(ping) > 3 and ping[3] is not None and ping[3] < MIN_SPEED_MPS:
            return None
    metres = haversine_m(prev[1], prev[2], cur[1], cur[2])
    if metres < MIN_MOVE_M:
        return None
    speed = metres / (dt / 1000.0)
    if speed > MAX_SPEED_MPS or speed < MIN_SPEED_MPS:
        return None
    cell = h3i.latlng_to_cell((prev[1] + cur[1]) / 2, (prev[2] + cur[2]) / 2, PROFILE_RESOLUTION)
    return cell, hour_of_week((prev[0] + cur[0]) // 2), speed


@dataclasses.dataclass
class RobustSpeed:
    """A running median estimate of speed that a few wild observations cannot drag far.

    The first observations are kept and their median used; after that each new
    observation moves the estimate a small fixed fraction up or down (stochastic
    approximation of the median), so state stays O(1) per cell-hour.
    """

    estimate: float = 0.0
    count: int = 0
    warmup: tuple[float, ...] = ()
    published: float = 0.0  # last value published to lookups (0: never)
    learned_at: int = NEVER  # the end of the last interval that taught it (forget_stale)

    WARMUP = 5
    RATE = 0.03

    def __getstate__(self) -> tuple:
        """Pickled as plain values (keyed state, written per batch of segments)."""
        return self.estimate, self.count, self.warmup, self.published, self.learned_at

    def __setstate__(self, state) -> None:
        self.learned_at = NEVER  # state written before estimates were dated
        if isinstance(state, dict):  # pickled as the dataclass's fields, before the plain form
            self.__dict__.update(state)
            return
        self.estimate, self.count, self.warmup, self.published, *dated = state
        if dated:
            self.learned_at = dated[0]

    def update(self, speed: float) -> None:
        self.count += 1
        if self.count <= self.WARMUP:
            self.warmup = tuple(sorted((*self.warmup, speed)))
            self.estimate = self.warmup[len(self.warmup) // 2]
            return
        self.warmup = ()
        step = max(self.estimate, 0.5) * self.RATE
        if speed > self.estimate:
            self.estimate += step
        elif speed < self.estimate:
            self.estimate = max(0.0, self.estimate - step)


def profile_keys(cell: int, hour: int) -> tuple[tuple[int, int], ...]:
    """The (cell, hour) estimates a segment in a resolution-9 cell teaches, in lookup order."""
    parent = h3i.cell_to_parent(cell, PARENT_RESOLUTION)
    return (cell, hour), (cell, ANY_HOUR), (parent, hour), (parent, ANY_HOUR)


def learn(estimate: RobustSpeed | None, speed: float) -> tuple[RobustSpeed, float | None]:
    """Add one observed speed to a cell-hour's estimate; also the value to publish now, if any:
    the estimate once it rests on ``MIN_OBSERVATIONS`` segments, then whenever it moved by
    ``PUBLISH_CHANGE`` since it was last published."""
    estimate = estimate if estimate is not None else RobustSpeed()
    estimate.update(speed)
    if estimate.count < MIN_OBSERVATIONS:
        return estimate, None
    if estimate.published and abs(estimate.estimate - estimate.published) < PUBLISH_CHANGE * estimate.published:
        return estimate, None
    estimate.published = max(estimate.estimate, 0.1)
    return estimate, estimate.published


class SpeedTable:
    """Published speeds per (cell, hour of week), any level; lookups fall back level by level."""

    def __init__(self, default_mps: float = DEFAULT_SPEED_MPS):
        self.default_mps = default_mps
        self.speeds: dict[tuple[int, int], float] = {}
        self._parents: dict[int, int] = {}  # lookups run per leg and position: parents once per cell

    def put(self, key: tuple[int, int], mps: float) -> None:
        self.speeds[key] = mps

    def speed(self, cell: int, hour: int) -> float:
        """m/s at a resolution-9 cell in an hour of the week: the cell's in that hour; else
        the cell's usual speed times its district's factor for the hour; else the district's
        in that hour, or at any hour; else the default."""
        speeds = self.speeds
        known = speeds.get((cell, hour))
        if known is not None and known == known:  # NaN: forgotten (forget_stale)
            return known
        parent = self._parents.get(cell)
        if parent is None:
            parent = self._parents[cell] = h3i.cell_to_parent(cell, PARENT_RESOLUTION)
        usual = speeds.get((cell, ANY_HOUR))
        if usual is not None and usual == usual:
            factor = speeds.get((parent, HOUR_FACTOR + hour), 1.0)
            factor = factor if factor == factor else 1.0
            return usual * min(max(factor, FACTOR_LIMITS[0]), FACTOR_LIMITS[1])
        return _known(speeds.get((parent, hour))) or _known(speeds.get((parent, ANY_HOUR))) or self.default_mps


def _known(mps: float | None) -> float | None:
    """A speed a lookup may use: ``None`` for an absent or forgotten one."""
    return mps if mps is not None and mps == mps else None


_MASK64 = (1 << 64) - 1
_GOLDEN_GAMMA = 0x9E3779B97F4A7C15
_DOUBLE, _DOUBLE_BITS = struct.Struct("<d"), struct.Struct("<Q")


def _mix64(z: int) -> int:
    """SplitMix64's finalizer (Stafford's Mix13) of a 64-bit unsigned ``z``."""
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def learning_order(segment: tuple[int, int, float]) -> tuple[int, int, int, float]:
    """The sort key of a segment ``(cell, hour, m/s)`` in :func:`learn_interval`: a 64-bit mix of
    the cell, the hour and the speed, compared as an unsigned number; ties (in practice equal
    segments) by cell, hour and speed.

    Each of the three is folded in as ``h = mix64((h ^ x) + 0x9E3779B97F4A7C15)`` from ``h = 0``
    (``x`` as unsigned 64 bits, ``mix64`` SplitMix64's finalizer). The speed enters as its IEEE-754
    bits shifted right by 20, a relative grid of 2**-32: a segment speed computed one ulp apart
    (libm's sin, cos and asin and the JVM port's differ in the last ulp on ~0.1 % of segments)
    almost never moves in the order. Plain integer arithmetic, so the JVM port
    (core.SpeedProfiles.learningHash) computes the same order."""
    cell, hour, speed = segment
    h = _mix64(((cell & _MASK64) + _GOLDEN_GAMMA) & _MASK64)
    h = _mix64((((h ^ hour) & _MASK64) + _GOLDEN_GAMMA) & _MASK64)
    h = _mix64(((h ^ (_DOUBLE_BITS.unpack(_DOUBLE.pack(speed))[0] >> 20)) + _GOLDEN_GAMMA) & _MASK64)
    return h, cell, hour, speed


def learn_interval(estimates: dict, segments) -> tuple[dict, dict]:
    """Learn one district's segments of one event-time interval into ``estimates`` (by
    :func:`profile_keys` key); returns ``(estimates that changed, speeds to publish)``.

    In a fixed order, not in the order the vans' batches arrived: the running median
    depends on the order it sees speeds in, and a replay interleaves batches differently
    from the live run. The order is a hash's (:func:`learning_order`: the same in every
    process and on the JVM), not sorted by speed: fed in ascending order, the running
    median would drift upwards.
    """
    changed, published = {}, {}

    def teach(key, value):
        estimate, mps = learn(estimates.get(key), value)
        estimates[key] = changed[key] = estimate
        if mps is not None:
            published[key] = mps

    for cell, hour, speed in sorted(segments, key=learning_order):
        keys = profile_keys(cell, hour)
        usual = estimates.get(keys[1])  # the cell at any hour, before this segment
        if usual is not None and usual.count >= MIN_OBSERVATIONS and usual.estimate > 0:
            teach((keys[2][0], HOUR_FACTOR + hour), speed / usual.estimate)
        for key in keys:
            teach(key, speed)
    return changed, published


def forget_stale(estimates: dict, learned_upto: int) -> dict:
    """Remove from ``estimates`` those last taught at or before ``learned_upto`` (the profiles'
    time to live); returns what to publish: ``{key: nan}`` for each removed one that lookups had,
    by key order. A lookup then falls back as if it had never been learned."""
    stale = sorted(key for key, estimate in estimates.items() if estimate.learned_at <= learned_upto)
    return {key: math.nan for key in stale if estimates.pop(key).published}


def day_after(ts: int) -> int:
    """The first whole day (UTC) at or after ``ts``: when the profiles forget (on whole days)."""
    return -(-ts // DAY_MS) * DAY_MS


class CausalSpeeds:
    """The speeds an ETA may use: only those learned before its interval began.

    Speeds are published per *version*, the end of the event-time interval whose
    segments taught them, and per *part* (the district that learned them; the parts of
    a version hold different keys). The ETA of a van's interval I looks up versions up
    to the end of I-1 (:meth:`table`): an ETA issued at event time t never uses what
    was learned at or after t, whichever order versions and lookups come in (in a
    replay, later intervals' speeds reach the ETA operator long before its own timers
    fire). Versions wait in ``pending`` until no lookup can ask for an older view, then
    join ``base`` (:meth:`fold`, driven by the watermark). A version that arrives after
    a lookup past it (speeds of a late batch) is seen by the lookups from then on.
    Every step costs O(log n) plus what it applies, however many versions a backlog holds.
    """

    def __init__(self, default_mps: float = DEFAULT_SPEED_MPS):
        self.default_mps = default_mps
        self.base: dict[tuple[int, int], float] = {}
        self.base_upto = NEVER
        self.pending: dict[tuple[int, int], dict[tuple[int, int], float]] = {}  # (version, part) -> speeds
        self._keys: list[tuple[int, int]] = []  # of pending, sorted
        self._view: SpeedTable | None = None
        self._view_upto = NEVER

    @classmethod
    def restored(cls, base: dict, base_upto: int, pending: dict, default_mps: float = DEFAULT_SPEED_MPS):
        speeds = cls(default_mps)
        speeds.base, speeds.base_upto, speeds.pending = dict(base), base_upto, dict(pending)
        speeds._keys = sorted(speeds.pending)
        return speeds

    def receive(self, version: int, part: int, published: dict) -> dict:
        """Speeds published for ``version`` by ``part``; returns all of that part's for the version
        (what to keep in state)."""
        key = (version, part)
        entries = self.pending.get(key)
        if entries is None:
            entries = self.pending[key] = {}
            bisect.insort(self._keys, key)
        entries.update(published)
        if self._view is not None and version <= self._view_upto:
            for name, mps in published.items():
                self._view.put(name, mps)
        return entries

    def table(self, upto: int) -> SpeedTable:
        """Lookups over the versions up to ``upto`` (or a later view, once one was asked for)."""
        if self._view is None:
            self._view = SpeedTable(self.default_mps)
            self._view.speeds.update(self.base)
            self._view_upto = self.base_upto
            self._apply_pending(NEVER, self.base_upto)  # published late, after the fold they missed
        if upto > self._view_upto:
            self._apply_pending(self._view_upto, upto)
            self._view_upto = upto
        return self._view

    def _position(self, version: int) -> int:
        """Index in ``_keys`` after every key of ``version`` and before."""
        return bisect.bisect_right(self._keys, (version, math.inf))

    def _apply_pending(self, after: int, upto: int) -> None:
        assert self._view is not None  # built before anything is applied to it
        for key in self._keys[self._position(after):self._position(upto)]:
            for name, mps in self.pending[key].items():
                self._view.put(name, mps)

    def fold(self, upto: int) -> tuple[dict, list[tuple[int, int]]]:
        """Move the versions up to ``upto`` into ``base``: the caller knows no lookup will ask
        for an older view. Returns the base entries that changed and the (version, part)
        keys gone from ``pending``."""
        end = self._position(upto)
        if not end:
            return {}, []
        self.table(upto)  # the view has them before they leave pending
        gone, self._keys = self._keys[:end], self._keys[end:]
        changed: dict = {}
        for key in gone:
            changed.update(self.pending.pop(key))
        for name, mps in changed.items():
            if mps == mps:
                self.base[name] = mps
            else:  # forgotten: gone from the base, so the state shrinks too
                self.base.pop(name, None)
        self.base_upto = max(self.base_upto, upto)
        return changed, gone


class SpeedProfile:
    """Learning and lookup in one place, one segment at a time (tests; the job splits them
    across operators with the same :func:`learn_interval`)."""

    def __init__(self, default_mps: float = DEFAULT_SPEED_MPS):
        self.table = SpeedTable(default_mps)
        self.estimates: dict[tuple[int, int], RobustSpeed] = {}

    def observe(self, cell: int, hour: int, speed: float) -> None:
        for key, mps in learn_interval(self.estimates, [(cell, hour, speed)])[1].items():
            self.table.put(key, mps)

    def speed(self, cell: int, hour: int) -> float:
        return self.table.speed(cell, hour)
