"""gantheory: the theory of generative adversarial networks, exactly, on 1D and 2D toy distributions.

>>> import gantheory as gt
>>> p_data = gt.ring(n_modes=8, radius=2.0, std=0.02)
>>> p_data.sample((4,)).shape
torch.Size([4, 2])
"""

from gantheory.distributions import (
    GaussianComponents,
    GaussianMixture,
    as_gaussian_mixture,
    gaussian,
    grid,
    mixture,
    ring,
)

__all__ = [
    "GaussianComponents",
    "GaussianMixture",
    "as_gaussian_mixture",
    "gaussian",
    "grid",
    "mixture",
    "ring",
]
