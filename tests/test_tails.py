"""Tests of gantheory._tails: the tail exponent of power integrands, their Gaussian envelopes, and the
bounds on what an integrand puts outside the mesh, against brute force and scipy's quad."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

import gantheory as gt
from gantheory import _quadrature as quad
from gantheory import _tails as tails


def _rotation(angle):
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s], [s, c]], dtype=torch.float64)


def _random_mixture(draw_stds, draw_angles, means):
    covs = [(_rotation(a) @ torch.diag(torch.tensor(s, dtype=torch.float64) ** 2) @ _rotation(a).T).tolist()
            for s, a in zip(draw_stds, draw_angles)]
    return gt.as_gaussian_mixture(gt.mixture(means, covs=covs))


mixtures_2d = st.integers(1, 3).flatmap(
    lambda k: st.tuples(
        st.lists(st.tuples(st.floats(0.2, 3.0), st.floats(0.2, 3.0)), min_size=k, max_size=k),
        st.lists(st.floats(0.0, math.pi), min_size=k, max_size=k),
        st.lists(st.tuples(st.floats(-2, 2), st.floats(-2, 2)), min_size=k, max_size=k),
    )
)


@given(a=mixtures_2d, b=mixtures_2d, gamma=st.sampled_from([1.5, 2.0, 3.0]))
def test_power_exponent_is_the_minimum_over_directions(a, b, gamma):
    """λ = min_u [γ min_i uᵀA_iu + (1 − γ) min_j uᵀB_ju], against 20,000 directions."""
    ca, cb = _random_mixture(*a), _random_mixture(*b)
    lam = tails.power_exponent(ca, cb, gamma)
    t = torch.linspace(0, math.pi, 20001, dtype=torch.float64)
    u = torch.stack([torch.cos(t), torch.sin(t)], 1)
    qa = torch.einsum("nd,kde,ne->nk", u, torch.linalg.inv(ca.covs), u).min(1).values
    qb = torch.einsum("nd,kde,ne->nk", u, torch.linalg.inv(cb.covs), u).min(1).values
    brute = float((gamma * qa + (1 - gamma) * qb).min())
    scale = gamma * float(qa.max()) + gamma * float(qb.max())
    assert lam <= brute + 1e-12 * scale  # exact minimum: never above the sampled one
    assert lam >= brute - 1e-4 * scale  # and the sampled one comes close (kinks: O(step))


@given(a=mixtures_2d, b=mixtures_2d)
def test_envelopes_bound_the_power_integrand_pointwise(a, b):
    ca, cb = _random_mixture(*a), _random_mixture(*b)
    env = tails.power_envelopes(ca, cb, 2.0)
    if env.components is None:
        return
    x = torch.randn(4000, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64) * 4
    from gantheory.divergences import _mixture_log_density

    la, lb = _mixture_log_density(ca)(x), _mixture_log_density(cb)(x)
    le = _mixture_log_density(env.components)(x) + env.log_total
    assert bool((2 * la - lb <= le + 1e-9).all())


def _complement(lo, hi, extent=200.0):
    """The intervals of [−extent, extent] (1D) that the boxes [lo, hi] do not cover."""
    edges = sorted(zip(lo[:, 0].tolist(), hi[:, 0].tolist()))
    gaps, at = [], -extent
    for a, b in edges:
        if a > at:
            gaps.append((at, a))
        at = max(at, b)
    gaps.append((at, extent))
    return gaps


CASES = {
    "kl, narrow q": (gt.gaussian(0.0, 1.0), gt.gaussian(0.5, 0.05), [tails.Term("log", 1.0, "p")],
                     lambda lp, lq: np.exp(lp) * np.abs(lp - lq)),
    "reverse kl, mixtures": (gt.mixture([-3.0, 3.0], [0.3, 0.2]), gt.mixture([0.0, 1.0], [2.0, 0.1]),
                             [tails.Term("log", 1.0, "q")], lambda lp, lq: np.exp(lq) * np.abs(lq - lp)),
    "pearson, heavy q": (gt.gaussian(0.0, 1.0), gt.gaussian(0.3, 0.8), [tails.Term("power", 1.0, gamma=2.0)],
                         lambda lp, lq: np.exp(2 * lp - lq)),
    "neyman": (gt.mixture([0.0, 2.0], [0.5, 1.0]), gt.gaussian(0.0, 0.9), [tails.Term("power", 1.0, gamma=-1.0)],
               lambda lp, lq: np.exp(2 * lq - lp)),
}


@pytest.mark.parametrize("case", list(CASES))
def test_outside_bounds_what_the_mesh_leaves_out(case):
    p, q, terms, h = CASES[case]
    cp, cq = gt.as_gaussian_mixture(p), gt.as_gaussian_mixture(q)
    lo, hi = quad.mixture_boxes([cp, cq, *tails.mesh_components(terms, cp, cq)])
    bound = tails.outside(terms, cp, cq)

    def logpdf(c, x):
        w, m, s = c.weights.numpy(), c.means[:, 0].numpy(), np.sqrt(c.covs[:, 0, 0].numpy())
        a = np.log(w) - 0.5 * ((x - m) / s) ** 2 - np.log(s * math.sqrt(2 * math.pi))
        top = a.max()
        return top + math.log(np.exp(a - top).sum())

    f = lambda x: h(logpdf(cp, x), logpdf(cq, x))  # noqa: E731
    left_out = sum(integrate.quad(f, a, b, epsabs=0, epsrel=1e-10, limit=200)[0] for a, b in _complement(lo, hi))
    assert 0 < left_out <= bound
    assert bound < 1e-11  # and it stays negligible
