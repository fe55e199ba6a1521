"""Numeric kernels: numpy arrays in, arrays out, ``@njit(cache=True)``, each with a
plain-Python reference beside it and a property test that the two agree."""
