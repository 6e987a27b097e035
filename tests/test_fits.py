"""Fits by divergence: closed forms, invariances, local optima, an independent optimiser, errors."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, optimize, special, stats

import gantheory as gt
from gantheory.divergences import kl
from gantheory.fits import (
    DiagonalGaussian,
    FullCovarianceGaussian,
    GaussianMixtureFamily,
    IsotropicGaussian,
    fit,
)
from gantheory.io import to_jsonable

TWO_MODES = dict(means=[-2.0, 2.0], stds=[0.5, 0.5], weights=[0.6, 0.4])


def moments(p):
    c = gt.as_gaussian_mixture(p)
    mean = c.weights @ c.means
    centred = c.means - mean
    cov = torch.einsum("k,kij->ij", c.weights, c.covs + centred[:, :, None] * centred[:, None, :])
    return mean, cov


class Opaque(torch.nn.Module):
    """Hides a built-in family from fit's start table: fit starts from its current parameters."""

    def __init__(self, inner):
        super().__init__()
        self.inner = inner

    def forward(self):
        return self.inner()


# -- KL is moment matching ------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["isotropic", "diagonal", "full"])
def test_kl_fit_of_a_gaussian_is_moment_matching_2d(family):
    """argmin_q KL(p || q) over Gaussians matches E[x] and Cov[x], projected on the family:
    isotropic s^2 = tr(Sigma)/d, diagonal diag(Sigma), full Sigma (exact closed forms)."""
    p = gt.mixture(
        means=[[-2.0, 0.5], [1.5, 1.0], [0.0, -2.0]],
        covs=[[[0.3, 0.1], [0.1, 0.2]], [[0.5, -0.2], [-0.2, 0.4]], [[0.2, 0.0], [0.0, 0.6]]],
        weights=[0.5, 0.3, 0.2],
    )
    mean, cov = moments(p)
    family_module = {
        "isotropic": IsotropicGaussian,
        "diagonal": DiagonalGaussian,
        "full": FullCovarianceGaussian,
    }[family](2)
    # an opaque wrapper: fit treats it as a user's family and starts from its current
    # parameters, here far from the answer, so the optimiser (not the initialisation) gets there
    with torch.no_grad():
        family_module.loc.copy_(torch.tensor([3.0, -3.0]))
    result = fit(p, Opaque(family_module), "kl", n_starts=1)
    assert result.n_iter > 5
    result.params = family_module.summary()  # the family is left at the fit
    assert torch.allclose(result.params["mean"], mean, atol=1e-6, rtol=0)
    if family == "isotropic":
        assert abs(float(result.params["std"]) ** 2 - float(torch.trace(cov)) / 2) < 1e-6
    elif family == "diagonal":
        assert torch.allclose(result.params["std"] ** 2, torch.diagonal(cov), atol=1e-6, rtol=0)
    else:
        assert torch.allclose(result.params["cov"], cov, atol=1e-6, rtol=0)
    # and from the built-in starts (moments, then on modes): one minimum, every start in it
    result = fit(p, family_module, "kl", n_starts=3, generator=1)
    assert len(result.optima) == 1 and result.optima[0].starts == [0, 1, 2]


def test_kl_fit_is_moment_matching_1d():
    """1D: mean = sum w_k mu_k, std^2 = sum w_k (s_k^2 + mu_k^2) - mean^2, from a far start."""
    p = gt.mixture(**TWO_MODES)
    mean, cov = moments(p)
    family = IsotropicGaussian(1)
    with torch.no_grad():
        family.loc.fill_(4.0)
        family.raw_scale.fill_(-1.0)
    result = fit(p, Opaque(family), "kl", n_starts=1)
    assert result.n_iter > 5
    assert abs(float(family.summary()["mean"]) - float(mean)) < 1e-6
    assert abs(float(family.summary()["std"]) - math.sqrt(float(cov))) < 1e-6
    assert abs(float(mean) - (-0.4)) < 1e-12  # 0.6 * -2 + 0.4 * 2


# -- reverse KL seeks modes -----------------------------------------------------------------------


def test_reverse_kl_fit_lands_on_a_mode():
    """KL(q || p) to two separated modes: minima on each mode (mean within 0.05 of the
    component's, std within 0.05 of the component's), the heavier mode the global one, with
    value close to -log w (q sits on one component of weight w)."""
    p = gt.mixture(**TWO_MODES)
    result = fit(p, "isotropic", "reverse_kl", n_starts=3)
    on_modes = [o for o in result.optima if o.value < 1.5]
    assert len(on_modes) == 2
    for optimum, (m, w) in zip(on_modes, [(-2.0, 0.6), (2.0, 0.4)]):
        assert abs(float(optimum.params["mean"]) - m) < 0.05
        assert abs(float(optimum.params["std"]) - 0.5) < 0.05
        assert abs(optimum.value + math.log(w)) < 1e-3
        assert optimum.is_minimum and optimum.gradient < 1e-5
        # each optimum keeps its own distribution (not a view of the family's final parameters)
        assert float(optimum.distribution.mean) == float(optimum.params["mean"])
        assert float(optimum.distribution.stddev) == pytest.approx(float(optimum.params["std"]))
    assert result.optima[0] is on_modes[0]
    kl_fit = fit(p, "isotropic", "kl", n_starts=1)
    assert float(kl_fit.params["std"]) > 2.0  # the covering fit spreads over both modes


_X = np.linspace(-12.0, 12.0, 60_001)  # Simpson's rule, h = 4e-4: error ~1e-12 here
_LOG_P = special.logsumexp(
    [
        math.log(0.6) + stats.norm.logpdf(_X, -2.0, 0.5),
        math.log(0.4) + stats.norm.logpdf(_X, 2.0, 0.5),
    ],
    axis=0,
)


def _reference_objective(name):
    """D(p, N(m, s^2)), theta = (m, log s), by Simpson's rule on a fine grid with numpy and
    scipy.stats (independent of gantheory's quadrature and of torch)."""

    def value(theta):
        log_q = stats.norm.logpdf(_X, theta[0], math.exp(theta[1]))
        if name == "reverse_kl":
            integrand = np.exp(log_q) * (log_q - _LOG_P)
        else:
            log_m = np.logaddexp(_LOG_P, log_q) - math.log(2.0)
            integrand = 0.5 * np.exp(_LOG_P) * (_LOG_P - log_m) + 0.5 * np.exp(log_q) * (
                log_q - log_m
            )
        return integrate.simpson(integrand, x=_X)

    return value


@pytest.mark.parametrize("name", ["reverse_kl", "jsd"])
def test_fit_matches_an_independent_high_precision_optimisation(name):
    """Our fitted (mean, std) equal those of scipy's Nelder-Mead on a scipy.quad objective, to 1e-4."""
    p = gt.mixture(**TWO_MODES)
    result = fit(p, "isotropic", name, n_starts=3)
    objective = _reference_objective(name)
    for optimum in result.optima[:2]:
        ours = np.array([float(optimum.params["mean"]), float(optimum.params["std"])])
        start = np.array([round(ours[0]), math.log(0.7)])  # a nearby round start, not our answer
        ref = optimize.minimize(
            objective,
            start,
            method="Nelder-Mead",
            options={"xatol": 1e-9, "fatol": 1e-14, "maxiter": 4000},
        )
        theirs = np.array([ref.x[0], math.exp(ref.x[1])])
        assert np.abs(ours - theirs).max() < 1e-4, (ours, theirs)
        assert abs(optimum.value - ref.fun) < 1e-8


# -- a Gaussian target is recovered exactly ---------------------------------------------------------

# total variation is left out: |p - q| has a kink at q = p where gradient methods do not converge
EVERY_DIVERGENCE = [
    "kl",
    "reverse_kl",
    "jsd",
    "mmd",
    "squared_hellinger",
    "pearson",
    "neyman",
    "jeffrey",
]


@pytest.mark.parametrize("name", EVERY_DIVERGENCE)
def test_fit_to_a_gaussian_in_the_family_recovers_it(name):
    """D(p, q) = 0 iff q = p: when p is in the family every divergence must give p back."""
    p = gt.gaussian(mean=[0.7, -1.2], std=0.8)
    result = fit(p, "isotropic", name, n_starts=2, generator=3)
    target = torch.tensor([0.7, -1.2], dtype=torch.float64)
    assert torch.allclose(result.params["mean"], target, atol=1e-4, rtol=0)
    assert abs(float(result.params["std"]) - 0.8) < 1e-4
    assert abs(result.value) < 1e-6


@given(
    mean=st.floats(-3, 3),
    std=st.floats(0.2, 3),
    name=st.sampled_from(["kl", "reverse_kl", "mmd"]),
)
def test_fit_recovers_any_1d_gaussian(mean, std, name):
    p = gt.gaussian(mean, std)
    result = fit(p, "isotropic", name, n_starts=1, check_minima=False)
    assert abs(float(result.params["mean"]) - mean) < 1e-5 * (1 + std)
    assert abs(float(result.params["std"]) - std) < 1e-5 * (1 + std)


def test_mixture_family_recovers_a_mixture_target():
    p = gt.mixture(means=[-1.5, 1.0], stds=[0.4, 0.7], weights=[0.3, 0.7])
    result = fit(p, GaussianMixtureFamily(2), "kl", n_starts=2, check_minima=False)
    assert torch.allclose(
        result.params["weights"], torch.tensor([0.3, 0.7], dtype=torch.float64), atol=1e-4
    )
    assert torch.allclose(
        result.params["means"][:, 0], torch.tensor([-1.5, 1.0], dtype=torch.float64), atol=1e-4
    )
    stds = result.params["covs"][:, 0, 0].sqrt()
    assert torch.allclose(stds, torch.tensor([0.4, 0.7], dtype=torch.float64), atol=1e-4)
    assert result.value < 1e-8


# -- optima, saddles, determinism -----------------------------------------------------------------


def test_stationary_points_are_classified_by_the_hessian():
    """D = (m^2 - 1)^2 + (s - 1)^2 with theta = (m, log s): a saddle at m = 0 (Hessian eigenvalue
    d2/dm2 = -4), minima at m = +-1 (eigenvalues 8 in m, 2 in log s). Start 0 sits on the saddle
    (its gradient is exactly 0), the noisy starts roll off to the minima."""

    def double_well(p, q):
        return (q.loc**2 - 1) ** 2 + (q.scale - 1) ** 2

    family = IsotropicGaussian(1)
    result = fit(gt.gaussian(0.0, 1.0), Opaque(family), double_well, n_starts=6, generator=2)
    assert len(result.saddles) == 1
    saddle = result.saddles[0]
    assert saddle.starts == [0] and not saddle.is_minimum
    assert saddle.min_eigenvalue == pytest.approx(-4.0, abs=1e-10)
    wells = sorted(float(o.params["inner.loc"]) for o in result.optima)
    assert wells == pytest.approx([-1.0, 1.0], abs=1e-6)
    for optimum in result.optima:
        assert optimum.is_minimum and optimum.min_eigenvalue == pytest.approx(2.0, abs=1e-6)
        assert optimum.value == pytest.approx(0.0, abs=1e-12)


def test_the_same_seed_gives_the_same_fit():
    p = gt.mixture(**TWO_MODES)
    a = fit(p, "isotropic", "jsd", n_starts=5, generator=11)
    b = fit(p, "isotropic", "jsd", n_starts=5, generator=torch.Generator().manual_seed(11))
    assert a.to_dict() == b.to_dict()
    json.dumps(to_jsonable(a))  # the result serialises


def test_custom_family_and_callable_divergence():
    """A user's module (forward returns a distribution) and a user's divergence (p, q) -> tensor."""

    class Shifted(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.shift = torch.nn.Parameter(torch.tensor(0.0, dtype=torch.float64))

        def forward(self):
            return torch.distributions.Normal(self.shift, torch.tensor(1.0, dtype=torch.float64))

    def closed_form_kl(p, q):
        return torch.distributions.kl_divergence(p, q)

    result = fit(gt.gaussian(1.25, 1.0), Shifted(), closed_form_kl, n_starts=3)
    assert abs(float(result.params["shift"]) - 1.25) < 1e-8
    assert result.divergence == "closed_form_kl" and math.isnan(result.error)


def test_lbfgs_failure_falls_back_to_adam():
    calls = {"n": 0}

    def flaky(p, q):
        """NaN at the first evaluation that L-BFGS makes (with gradients), exact KL after."""
        value = kl(p, q).value
        if torch.is_grad_enabled():
            calls["n"] += 1
            if calls["n"] == 1:
                return value * math.nan
        return value

    result = fit(
        gt.gaussian(0.5, 2.0), "isotropic", flaky, n_starts=1, adam_steps=1500, adam_lr=0.02
    )
    assert result.optimizer == "adam"
    assert (
        abs(float(result.params["mean"]) - 0.5) < 1e-3
        and abs(float(result.params["std"]) - 2.0) < 1e-3
    )


# -- bad input ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        (
            dict(p_data=[0.0, 1.0], family="isotropic"),
            TypeError,
            "p_data must be a torch.distributions",
        ),
        (dict(family="spherical"), ValueError, "family must be one of"),
        (dict(family=object()), TypeError, "family must be a torch.nn.Module"),
        (dict(divergence="kld"), ValueError, "divergence must be one of"),
        (dict(divergence=3), TypeError, "divergence must be a name or a callable"),
        (dict(family=IsotropicGaussian(2)), ValueError, "dimension 2, p_data has 1"),
        (dict(n_starts=0), ValueError, "n_starts must be >= 1"),
        (dict(tol=-1.0), ValueError, "tol must be a finite number > 0"),
        (dict(generator="seed"), TypeError, "generator must be a torch.Generator or an int"),
        (dict(optimizer="sgd"), ValueError, "optimizer must be one of"),
    ],
)
def test_bad_input_raises_a_clear_error(kwargs, error, match):
    arguments = dict(p_data=gt.gaussian(0.0, 1.0), family="isotropic", divergence="kl")
    arguments.update(kwargs)
    with pytest.raises(error, match=match):
        fit(
            arguments.pop("p_data"),
            arguments.pop("family"),
            arguments.pop("divergence"),
            **arguments,
        )
