"""core.Geo (udfs/jvm) against udfs.colocation.haversine_m."""
import numpy as np

from udfs.colocation import haversine_m


def test_haversine_agrees_with_the_reference_within_an_ulp(jvm):
    rng = np.random.default_rng(5)
    points = [(float(lat), float(lng), float(lat + d1), float(lng + d2))
              for lat, lng, d1, d2 in zip(rng.uniform(-85, 85, 2000), rng.uniform(-180, 180, 2000),
                                          rng.normal(0, 0.003, 2000), rng.normal(0, 0.003, 2000))]
    java = jvm.calls("Geo", "haversine", [list(p) for p in points])
    python = [haversine_m(*p) for p in points]
    assert all(abs(j - p) <= 2 * np.spacing(p) for j, p in zip(java, python))
    assert sum(j == p for j, p in zip(java, python)) >= 0.99 * len(points)
