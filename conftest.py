"""Root conftest: doctests in gantheory/ get a fixed global torch seed (the library never seeds)."""

import pytest
import torch
from _pytest.doctest import DoctestItem


@pytest.fixture(autouse=True)
def _seed_doctests(request, doctest_namespace):
    """Seed only doctests, so that ordinary tests would still catch global-RNG use in the library."""
    if isinstance(request.node, DoctestItem):
        torch.manual_seed(0)
    doctest_namespace["torch"] = torch
