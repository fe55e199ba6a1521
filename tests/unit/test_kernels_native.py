"""The C entry points (what Flink operators call) give exactly what the Numba kernels give."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from test_kernels_consolidation import batch as consolidation_batch
from test_kernels_eta import batch as eta_batch_args

from udfs.kernels import consolidation, eta, native


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), vehicles=st.integers(1, 8), max_stops=st.integers(0, 12))
def test_eta_entry_point_equals_the_kernel(seed, vehicles, max_stops):
    args = eta_batch_args(np.random.default_rng(seed), vehicles, max_stops)
    assert np.array_equal(native.eta_batch(*args, 1.3, 120.0, 6.0), eta.eta_batch(*args, 1.3, 120.0, 6.0))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), groups=st.integers(1, 6), max_size=st.integers(1, 10))
def test_consolidation_entry_points_equal_the_kernels(seed, groups, max_size):
    args = consolidation_batch(np.random.default_rng(seed), groups, max_size)
    got = native.plan_groups(consolidation.GroupBatch(**args), detour=1.3, speed_mps=7.0, dwell_s=180.0)
    expected = consolidation.plan_groups(**args, detour=1.3, speed_mps=7.0, dwell_s=180.0)
    for a, b in zip(got, expected):
        assert np.array_equal(a, b, equal_nan=True)
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 30))
    a, b = rng.integers(0, n, 2 * n), rng.integers(0, n, 2 * n)
    assert np.array_equal(native.components(n, a, b), consolidation.components(n, a, b))


def test_components_entry_point_refuses_unknown_nodes():
    with pytest.raises(ValueError, match="node numbers"):
        native.components(2, np.array([0]), np.array([2]))
