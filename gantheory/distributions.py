"""Toy target distributions: factories that return ``torch.distributions.Distribution`` objects.

Every factory returns a plain torch distribution with exact ``log_prob``, ``sample`` and
``rsample``, float64 by default. One-dimensional distributions have scalar events
(``event_shape == ()``, samples of shape ``(n,)``); d-dimensional ones have ``event_shape == (d,)``.
Any other torch distribution with ``log_prob`` and ``sample`` is accepted wherever these are.

The ring and grid are the mode-collapse benchmarks of Metz et al. 2017 (arXiv:1611.02163),
Srivastava et al. 2017 (VEEGAN, arXiv:1705.07761) and Lin et al. 2018 (PacGAN, arXiv:1712.04086).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch.distributions import (
    Categorical,
    Distribution,
    Independent,
    MixtureSameFamily,
    MultivariateNormal,
    Normal,
)

from gantheory import _validation as check

__all__ = [
    "GaussianMixture",
    "GaussianComponents",
    "as_gaussian_mixture",
    "gaussian",
    "mixture",
    "ring",
    "grid",
]


class GaussianMixture(MixtureSameFamily):
    """A finite mixture of Gaussians, sum_k w_k N(x; mu_k, Sigma_k), with a pathwise ``rsample``.

    ``rsample`` draws the component index k ~ Categorical(w) (no gradient) and then
    x = mu_k + L_k eps with eps ~ N(0, I) and L_k the Cholesky factor of Sigma_k, so gradients flow
    to the means and covariances but **not** to the weights (the choice of k is discrete).
    Use the exact divergences of :mod:`gantheory.divergences` when the weights must be learned.
    """

    has_rsample = True

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> torch.Tensor:
        sample_shape = torch.Size(sample_shape)
        n = sample_shape.numel()
        comps = as_gaussian_mixture(self)
        assert comps is not None  # a GaussianMixture is built from Gaussian components
        index = self.mixture_distribution.sample(torch.Size([n]))
        scale_tril = torch.linalg.cholesky(comps.covs)
        eps = torch.randn(n, comps.dim, dtype=comps.means.dtype, device=comps.means.device)
        x = comps.means[index] + (scale_tril[index] @ eps[:, :, None])[:, :, 0]
        return x.reshape(sample_shape + self.event_shape)


@dataclass(frozen=True)
class GaussianComponents:
    """The parameters of a Gaussian mixture in one shape: weights (K,), means (K, d), covs (K, d, d)."""

    weights: torch.Tensor
    means: torch.Tensor
    covs: torch.Tensor

    @property
    def dim(self) -> int:
        return int(self.means.shape[-1])

    @property
    def n_components(self) -> int:
        return int(self.weights.shape[0])


def _components_of_gaussian(dist: Distribution) -> tuple[torch.Tensor, torch.Tensor] | None:
    """Means (..., d) and covariances (..., d, d) of a (batched) Gaussian, or None."""
    if isinstance(dist, Normal) and len(dist.event_shape) == 0:
        return dist.loc[..., None], dist.scale[..., None, None] ** 2
    if isinstance(dist, Independent) and isinstance(dist.base_dist, Normal):
        if dist.reinterpreted_batch_ndims != 1 or len(dist.event_shape) != 1:
            return None
        return dist.base_dist.loc, torch.diag_embed(dist.base_dist.scale**2)
    if isinstance(dist, MultivariateNormal):
        return dist.loc, dist.covariance_matrix
    return None


def as_gaussian_mixture(dist: Distribution) -> GaussianComponents | None:
    """Read a Gaussian or a mixture of Gaussians as weights, means and covariances.

    Recognises ``Normal`` (scalar events), ``Independent(Normal, 1)``, ``MultivariateNormal`` and
    ``MixtureSameFamily`` over any of these (which includes every factory of this module).
    Returns ``None`` for anything else. The tensors keep their autograd graph.

    >>> c = as_gaussian_mixture(ring(n_modes=4))
    >>> c.weights.shape, c.means.shape, c.covs.shape
    (torch.Size([4]), torch.Size([4, 2]), torch.Size([4, 2, 2]))
    """
    if len(dist.batch_shape) != 0:
        return None
    if isinstance(dist, MixtureSameFamily):
        parts = _components_of_gaussian(dist.component_distribution)
        if parts is None:
            return None
        weights = dist.mixture_distribution.probs
        return GaussianComponents(weights, *parts)
    parts = _components_of_gaussian(dist)
    if parts is None:
        return None
    means, covs = parts
    return GaussianComponents(torch.ones(1, dtype=means.dtype, device=means.device), means[None], covs[None])


def _factory_options(dtype: torch.dtype, device: Any) -> dict[str, Any]:
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating torch.dtype, got {dtype!r}")
    return {"dtype": dtype, "device": device}


def gaussian(
    mean: Any,
    std: Any = None,
    *,
    cov: Any = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> Distribution:
    """A Gaussian N(mean, Sigma) in 1D or dD.

    Sigma is std**2 * I for a scalar ``std`` (isotropic), diag(std**2) for a vector ``std``
    (diagonal), or ``cov`` given as a full (d, d) covariance matrix. Give exactly one of ``std`` and
    ``cov``.

    Args:
        mean: a number (1D, scalar events) or a vector of shape (d,).
        std: a positive number, or a positive vector of shape (d,).
        cov: a symmetric positive definite matrix of shape (d, d).
        dtype, device: of the parameters (float64 by default).

    Returns:
        ``Normal`` (scalar mean), ``Independent(Normal, 1)`` (vector mean, std given) or
        ``MultivariateNormal`` (cov given).

    Raises:
        ValueError: non-finite values, std <= 0, a covariance that is not symmetric positive
            definite, or shapes that do not match the mean.
        TypeError: values that are not numbers.

    >>> gaussian(mean=[0.0, 1.0], std=2.0).sample((3,)).shape
    torch.Size([3, 2])
    """
    opts = _factory_options(dtype, device)
    mean_t = check.as_tensor("mean", mean, **opts)
    if mean_t.ndim > 1:
        raise ValueError(f"mean must be a number or a vector, got shape {tuple(mean_t.shape)}")
    if (std is None) == (cov is None):
        raise ValueError("give exactly one of std and cov")
    if cov is not None:
        if mean_t.ndim == 0:
            raise ValueError("cov needs a vector mean of shape (d,); for 1D give std")
        cov_t = _covariance("cov", cov, mean_t.shape[0], opts)
        return MultivariateNormal(mean_t, covariance_matrix=cov_t)
    std_t = check.positive("std", check.as_tensor("std", std, **opts))
    if mean_t.ndim == 0:
        if std_t.ndim != 0:
            raise ValueError(f"std must be a number for a 1D (scalar) mean, got shape {tuple(std_t.shape)}")
        return Normal(mean_t, std_t)
    if std_t.ndim == 0:
        std_t = std_t.expand(mean_t.shape).clone()
    if std_t.shape != mean_t.shape:
        raise ValueError(f"std must be a number or have the mean's shape {tuple(mean_t.shape)}, got {tuple(std_t.shape)}")
    return Independent(Normal(mean_t, std_t), 1)


def _covariance(name: str, cov: Any, d: int, opts: dict[str, Any]) -> torch.Tensor:
    cov_t = check.as_tensor(name, cov, **opts)
    if cov_t.shape[-2:] != (d, d):
        raise ValueError(f"{name} must have shape (..., {d}, {d}), got {tuple(cov_t.shape)}")
    if not torch.allclose(cov_t, cov_t.transpose(-1, -2), rtol=1e-10, atol=1e-12):
        raise ValueError(f"{name} must be symmetric, got {check._short(cov_t)}")
    if not bool((torch.linalg.eigvalsh(cov_t) > 0).all()):
        raise ValueError(f"{name} must be positive definite, got {check._short(cov_t)}")
    return cov_t


def mixture(
    means: Any,
    stds: Any = None,
    weights: Any = None,
    *,
    covs: Any = None,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> GaussianMixture:
    """A mixture of K Gaussians: p(x) = sum_k w_k N(x; mu_k, Sigma_k).

    Args:
        means: shape (K,) for a 1D mixture (scalar events) or (K, d).
        stds: shape (K,) (isotropic: Sigma_k = stds[k]**2 I) or (K, d) (diagonal); or a single
            number shared by every component.
        weights: shape (K,), non-negative, summing to 1; uniform when omitted.
        covs: instead of ``stds``, full covariances of shape (K, d, d).
        dtype, device: of the parameters (float64 by default).

    Returns:
        a :class:`GaussianMixture` (a ``MixtureSameFamily`` with a pathwise ``rsample``).

    Raises:
        ValueError: std <= 0, weights negative or not summing to 1 (to 1e-6), shapes that do
            not agree, non-finite values.

    >>> p = mixture(means=[-2.0, 2.0], stds=[0.5, 0.5], weights=[0.3, 0.7])
    >>> round(float(p.log_prob(torch.tensor(2.0)).exp()), 4)
    0.5585
    """
    opts = _factory_options(dtype, device)
    means_t = check.as_tensor("means", means, **opts)
    if means_t.ndim not in (1, 2) or means_t.shape[0] == 0:
        raise ValueError(f"means must have shape (K,) or (K, d), got {tuple(means_t.shape)}")
    k = means_t.shape[0]
    if weights is None:
        weights_t = torch.full((k,), 1.0 / k, **opts)
    else:
        weights_t = check.probability_vector("weights", check.as_tensor("weights", weights, **opts))
        if weights_t.shape[0] != k:
            raise ValueError(f"weights must have {k} entries (one per mean), got {weights_t.shape[0]}")
    if (stds is None) == (covs is None):
        raise ValueError("give exactly one of stds and covs")
    if covs is not None:
        if means_t.ndim == 1:
            raise ValueError("covs needs means of shape (K, d); for 1D give stds")
        covs_t = _covariance("covs", covs, means_t.shape[1], opts)
        if covs_t.shape[0] != k:
            raise ValueError(f"covs must have {k} matrices (one per mean), got shape {tuple(covs_t.shape)}")
        component: Distribution = MultivariateNormal(means_t, covariance_matrix=covs_t)
    else:
        stds_t = check.positive("stds", check.as_tensor("stds", stds, **opts))
        if stds_t.ndim == 0:
            stds_t = stds_t.expand(k).clone()
        if means_t.ndim == 1:
            if stds_t.shape != (k,):
                raise ValueError(f"stds must have shape ({k},) for 1D means, got {tuple(stds_t.shape)}")
            component = Normal(means_t, stds_t)
        else:
            if stds_t.shape == (k,):
                stds_t = stds_t[:, None].expand(means_t.shape).clone()
            if stds_t.shape != means_t.shape:
                raise ValueError(
                    f"stds must have shape ({k},) or {tuple(means_t.shape)}, got {tuple(stds_t.shape)}"
                )
            component = Independent(Normal(means_t, stds_t), 1)
    return GaussianMixture(Categorical(probs=weights_t), component)


def ring(
    n_modes: int = 8,
    radius: float = 2.0,
    std: float = 0.02,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> GaussianMixture:
    """``n_modes`` equally weighted isotropic Gaussians on a circle in 2D.

    Mode k sits at radius * (cos(2 pi k / n), sin(2 pi k / n)) for k = 0..n-1, each with
    covariance std**2 I (Metz et al. 2017; VEEGAN and PacGAN use radius 1 or 2, std 0.01 or 0.02).

    Raises:
        ValueError: n_modes < 1, radius or std not finite and positive.

    >>> ring(n_modes=8).sample((5,)).shape
    torch.Size([5, 2])
    """
    n_modes = check.positive_int("n_modes", n_modes)
    radius = check.positive_number("radius", radius)
    std = check.positive_number("std", std)
    angles = 2 * math.pi * torch.arange(n_modes, dtype=torch.float64) / n_modes
    means = radius * torch.stack([torch.cos(angles), torch.sin(angles)], dim=1)
    return mixture(means, torch.full((n_modes,), std, dtype=torch.float64), dtype=dtype, device=device)


def grid(
    n: int = 5,
    spacing: float = 2.0,
    std: float = 0.05,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> GaussianMixture:
    """An n x n grid of equally weighted isotropic Gaussians in 2D, centred on the origin.

    Modes at spacing * (i - (n - 1) / 2, j - (n - 1) / 2) for i, j = 0..n-1: with the defaults,
    {-4, -2, 0, 2, 4}^2 with std 0.05 (VEEGAN and PacGAN's 25-Gaussian grid).

    Raises:
        ValueError: n < 1, spacing or std not finite and positive.

    >>> grid().sample((5,)).shape
    torch.Size([5, 2])
    """
    n = check.positive_int("n", n)
    spacing = check.positive_number("spacing", spacing)
    std = check.positive_number("std", std)
    axis = spacing * (torch.arange(n, dtype=torch.float64) - (n - 1) / 2)
    xs, ys = torch.meshgrid(axis, axis, indexing="ij")
    means = torch.stack([xs.reshape(-1), ys.reshape(-1)], dim=1)
    return mixture(means, torch.full((n * n,), std, dtype=torch.float64), dtype=dtype, device=device)
