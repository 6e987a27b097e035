"""Hypothesis profiles.

Profiles: ``ci`` (derandomised, few examples; loaded when CI is set), ``dev`` (the default
locally) and ``thorough`` (``HYPOTHESIS_PROFILE=thorough``, many examples).
"""

import os

import torch
from hypothesis import HealthCheck, settings

# Many small tensor operations: one thread is much faster than two contending ones on 2 cores.
torch.set_num_threads(1)

_common = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("ci", max_examples=25, derandomize=True, print_blob=True, **_common)
settings.register_profile("dev", max_examples=40, **_common)
settings.register_profile("thorough", max_examples=500, **_common)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev"))

