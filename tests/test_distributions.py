import math

import pytest
import torch
from torch.distributions import MultivariateNormal, Normal

import gantheory as gt


def test_gaussian_shapes_and_kinds():
    assert isinstance(gt.gaussian(0.0, 1.0), Normal)
    assert gt.gaussian(0.0, 1.0).sample((3,)).shape == (3,)
    iso = gt.gaussian([0.0, 1.0], 2.0)
    assert iso.event_shape == (2,) and iso.sample((4,)).shape == (4, 2)
    diag = gt.gaussian([0.0, 1.0], [1.0, 3.0])
    assert torch.allclose(diag.variance, torch.tensor([1.0, 9.0], dtype=torch.float64))
    full = gt.gaussian([0.0, 0.0], cov=[[2.0, 0.5], [0.5, 1.0]])
    assert isinstance(full, MultivariateNormal)
    assert gt.gaussian(0.0, 1.0).mean.dtype == torch.float64
    assert gt.gaussian(0.0, 1.0, dtype=torch.float32).mean.dtype == torch.float32


def test_mixture_log_prob_is_exact():
    p = gt.mixture([-1.0, 2.0], [0.5, 2.0], weights=[0.25, 0.75])
    x = torch.linspace(-5, 5, 11, dtype=torch.float64)
    expected = torch.log(
        0.25 * torch.exp(-0.5 * ((x + 1) / 0.5) ** 2) / (0.5 * math.sqrt(2 * math.pi))
        + 0.75 * torch.exp(-0.5 * ((x - 2) / 2.0) ** 2) / (2.0 * math.sqrt(2 * math.pi))
    )
    assert torch.allclose(p.log_prob(x), expected, rtol=1e-14, atol=0)


def test_ring_and_grid_modes():
    ring = gt.as_gaussian_mixture(gt.ring(n_modes=8, radius=2.0, std=0.02))
    assert torch.allclose(ring.means.norm(dim=1), torch.full((8,), 2.0, dtype=torch.float64))
    angles = torch.atan2(ring.means[:, 1], ring.means[:, 0]) % (2 * math.pi)
    assert torch.allclose(angles.sort().values, 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8, atol=1e-12)
    grid = gt.as_gaussian_mixture(gt.grid())
    assert sorted(set(grid.means[:, 0].tolist())) == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert grid.n_components == 25
    assert torch.allclose(grid.covs, torch.eye(2, dtype=torch.float64) * 0.05**2, rtol=1e-15, atol=0)


def test_mixture_rsample_is_pathwise_and_has_the_right_moments():
    means = torch.tensor([[-2.0, 0.0], [2.0, 0.0]], dtype=torch.float64, requires_grad=True)
    p = gt.mixture(means, [0.5, 0.5])
    torch.manual_seed(0)
    x = p.rsample((20000,))
    x.mean(0).sum().backward()
    # d mean(x) / d means = the weights (1/2 each), exactly, for every draw.
    assert torch.allclose(means.grad, torch.full((2, 2), 0.5, dtype=torch.float64), atol=0.02)
    assert torch.allclose(x.detach().var(0), torch.tensor([4.25, 0.25], dtype=torch.float64), rtol=0.05)


@pytest.mark.parametrize(
    "call, message",
    [
        (lambda: gt.gaussian(0.0, -1.0), "std must be > 0"),
        (lambda: gt.gaussian(0.0, 0.0), "std must be > 0"),
        (lambda: gt.gaussian(float("nan"), 1.0), "mean must be finite"),
        (lambda: gt.gaussian([0.0, 0.0], [1.0, 2.0, 3.0]), "std must be a number or have the mean's shape"),
        (lambda: gt.gaussian([0.0, 0.0], cov=[[1.0, 2.0], [2.0, 1.0]]), "cov must be positive definite"),
        (lambda: gt.gaussian([0.0, 0.0], cov=[[1.0, 0.5], [0.0, 1.0]]), "cov must be symmetric"),
        (lambda: gt.mixture([0.0, 1.0], [1.0, 1.0], weights=[0.5, 0.6]), "weights must sum to 1"),
        (lambda: gt.mixture([0.0, 1.0], [1.0, 1.0], weights=[1.5, -0.5]), "weights must be >= 0"),
        (lambda: gt.mixture([0.0, 1.0], [1.0, 1.0], weights=[1.0]), "weights must have 2 entries"),
        (lambda: gt.mixture([0.0, 1.0], [1.0, -1.0]), "stds must be > 0"),
        (lambda: gt.mixture([[0.0, 1.0]], [[1.0, 1.0, 1.0]]), "stds must have shape"),
        (lambda: gt.ring(n_modes=0), "n_modes must be >= 1"),
        (lambda: gt.ring(std=0.0), "std must be a finite number > 0"),
        (lambda: gt.grid(spacing=float("inf")), "spacing must be a finite number > 0"),
    ],
)
def test_bad_parameters_raise_value_errors_naming_the_argument(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_bad_types_raise_type_errors():
    with pytest.raises(TypeError, match="mean must be"):
        gt.gaussian("zero", 1.0)
    with pytest.raises(TypeError, match="n_modes must be an int"):
        gt.ring(n_modes=2.5)
    with pytest.raises(TypeError, match="dtype must be a floating"):
        gt.gaussian(0.0, 1.0, dtype=torch.int64)


def test_as_gaussian_mixture_reads_every_gaussian_kind():
    assert gt.as_gaussian_mixture(gt.gaussian(1.0, 2.0)).covs.item() == 4.0
    assert gt.as_gaussian_mixture(gt.gaussian([0.0, 1.0], [1.0, 2.0])).covs[0, 1, 1].item() == 4.0
    assert gt.as_gaussian_mixture(torch.distributions.Uniform(0.0, 1.0)) is None
