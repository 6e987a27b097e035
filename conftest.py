"""Root conftest: doctests in gantheory/ get a fixed global torch seed (the library never seeds)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def _seed_doctests(doctest_namespace):
    torch.manual_seed(0)
    doctest_namespace["torch"] = torch
