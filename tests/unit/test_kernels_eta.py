"""The Numba ETA kernel agrees with its plain-Python reference (and the numpy variant)."""
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from udfs.kernels.eta import eta_batch, eta_batch_numpy, eta_batch_reference


def batch(rng, vehicles, max_stops):
    counts = rng.integers(0, max_stops + 1, vehicles)
    offsets = np.concatenate(([0], np.cumsum(counts))).astype(np.int64)
    n = int(offsets[-1])
    start = rng.integers(1_700_000_000_000, 1_800_000_000_000, vehicles).astype(np.int64)
    # about a third of the stops have a window that starts later than the van could arrive
    not_before = np.where(rng.random(n) < 0.35, np.repeat(start, counts) + rng.integers(0, 4 * 3_600_000, n), 0)
    return (52.5 + rng.normal(0, 0.05, vehicles), 13.4 + rng.normal(0, 0.05, vehicles), start, offsets,
            52.5 + rng.normal(0, 0.05, n), 13.4 + rng.normal(0, 0.05, n), not_before.astype(np.int64),
            np.where(rng.random(n) < 0.1, 0.0, rng.uniform(2, 20, n)))


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vehicles=st.integers(1, 12), max_stops=st.integers(0, 15),
       detour=st.floats(1.0, 2.0), dwell=st.floats(0, 600))
def test_numba_and_numpy_agree_with_the_reference(seed, vehicles, max_stops, detour, dwell):
    args = batch(np.random.default_rng(seed), vehicles, max_stops)
    expected = eta_batch_reference(*args, detour, dwell, 6.0)
    got = eta_batch(*args, detour, dwell, 6.0)
    assert np.abs(got - np.array(expected, dtype=np.int64)).max(initial=0) <= 1  # float rounding of a ms
    assert np.abs(eta_batch_numpy(*args, detour, dwell, 6.0) - got).max(initial=0) <= 2


def test_eta_of_a_known_leg():
    # 1 km north at 10 m/s, detour 1.0: 100 s; the second stop 1 km further plus 60 s dwell
    lat0, step = 52.0, 1000.0 / 111_194.93
    stops = (np.array([lat0 + step, lat0 + 2 * step]), np.array([13.0, 13.0]))
    start = (np.array([lat0]), np.array([13.0]), np.array([0], np.int64), np.array([0, 2]))
    eta = eta_batch(*start, *stops, np.zeros(2, np.int64), np.array([10.0, 0.0]), 1.0, 60.0, 5.0)
    assert abs(eta[0] - 100_000) <= 2
    assert abs(eta[1] - (100_000 + 60_000 + 200_000)) <= 3  # second leg at the 5 m/s fallback
    # the first stop's window opens at 10 min: the van waits there, then dwells, then drives on
    waited = eta_batch(*start, *stops, np.array([600_000, 0], np.int64), np.array([10.0, 0.0]), 1.0, 60.0, 5.0)
    assert abs(waited[0] - 100_000) <= 2
    assert abs(waited[1] - (600_000 + 60_000 + 200_000)) <= 3
