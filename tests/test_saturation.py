"""gantheory.saturation: the tutorial's cost curves, generator gradients, Arjovsky & Bottou 2.4/2.5."""

import copy
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

import gantheory as gt
from gantheory.losses import GENERATOR_LOSSES, generator_loss
from gantheory.models import AffineGenerator
from gantheory.saturation import (
    generator_gradient,
    minimax_gradient_bound,
    non_saturating_identity,
    tutorial_cost,
    tutorial_cost_grad,
)

LOGITS = torch.linspace(-30.0, 30.0, 6001, dtype=torch.float64)
PROBS = torch.sigmoid(torch.linspace(-25.0, 25.0, 1001, dtype=torch.float64))


def _autograd(f, x):
    x = x.clone().requires_grad_(True)
    (g,) = torch.autograd.grad(f(x).sum(), x)
    return g


@pytest.mark.parametrize("loss", GENERATOR_LOSSES)
def test_tutorial_derivative_in_the_logit_matches_autograd_to_1e_10(loss):
    ours = tutorial_cost_grad(LOGITS, loss, wrt="logit")
    auto = _autograd(lambda a: tutorial_cost(a, loss, wrt="logit"), LOGITS)
    assert torch.isfinite(ours).all()
    assert ((ours - auto).abs() / auto.abs().clamp_min(1.0)).max() <= 1e-10


@pytest.mark.parametrize("loss", GENERATOR_LOSSES)
def test_tutorial_derivative_in_d_matches_autograd(loss):
    """dJ/dD over D = sigma(a), a in [-25, 25]: relative error below 1e-9 (1/D and 1/(1-D)
    reach 7e10 at the ends; the D-side formulas lose the digits that 1 - D has lost)."""
    ours = tutorial_cost_grad(PROBS, loss)
    auto = _autograd(lambda D: tutorial_cost(D, loss), PROBS)
    assert torch.isfinite(ours).all()
    assert ((ours - auto).abs() / auto.abs().clamp_min(1e-300)).max() <= 1e-9


@pytest.mark.parametrize("loss", GENERATOR_LOSSES)
def test_tutorial_cost_is_half_the_loss_and_agrees_between_d_and_logit(loss):
    a = torch.linspace(-15.0, 15.0, 301, dtype=torch.float64)
    in_logit = tutorial_cost(a, loss, wrt="logit")
    assert torch.allclose(in_logit, 0.5 * generator_loss(a, loss), rtol=0, atol=0)
    in_d = tutorial_cost(torch.sigmoid(a), loss)
    assert torch.allclose(in_d, in_logit, rtol=1e-8, atol=1e-12)
    # chain rule: dJ/da = dJ/dD * D (1 - D)
    D = torch.sigmoid(a)
    chain = tutorial_cost_grad(D, loss) * D * (1 - D)
    assert torch.allclose(chain, tutorial_cost_grad(a, loss, wrt="logit"), rtol=1e-8, atol=1e-14)


def test_the_issue_formulas_for_the_three_tutorial_costs():
    """Goodfellow 2016, section 3.2.3: d/da minimax = -D/2 -> 0, non-saturating -(1-D)/2 -> -1/2,
    maximum likelihood -D/(2 (1 - D))."""
    a = torch.tensor([-30.0, -10.0, 0.0, 3.0], dtype=torch.float64)
    D = torch.sigmoid(a)
    assert torch.allclose(tutorial_cost_grad(a, "minimax", wrt="logit"), -D / 2, rtol=1e-15, atol=0)
    assert torch.allclose(
        tutorial_cost_grad(a, "non_saturating", wrt="logit"), -(1 - D) / 2, rtol=1e-12, atol=0
    )
    assert torch.allclose(
        tutorial_cost_grad(a, "maximum_likelihood", wrt="logit"), -D / (2 * (1 - D)), rtol=1e-14, atol=0
    )
    assert float(tutorial_cost_grad(a[:1], "minimax", wrt="logit").abs()) < 1e-13


@pytest.mark.parametrize("loss", GENERATOR_LOSSES)
def test_tutorial_curves_at_d_equal_0_and_1_are_infinite_or_finite_never_nan(loss):
    ends = torch.tensor([0.0, 1.0], dtype=torch.float64)
    for fn in (tutorial_cost, tutorial_cost_grad):
        assert not torch.isnan(fn(ends, loss)).any()
    far = torch.tensor([-1e4, 1e4], dtype=torch.float64)
    if loss != "maximum_likelihood":  # -exp(a)/2 itself overflows beyond a = 709.78
        assert torch.isfinite(tutorial_cost(far, loss, wrt="logit")).all()
    assert not torch.isnan(tutorial_cost_grad(far, loss, wrt="logit")).any()


def test_tutorial_curves_reject_bad_input():
    with pytest.raises(ValueError, match=r"x must hold probabilities .* \[0, 1\]"):
        tutorial_cost(torch.tensor([1.5], dtype=torch.float64), "minimax")
    with pytest.raises(ValueError, match="wrt must be one of"):
        tutorial_cost_grad(torch.tensor([0.5], dtype=torch.float64), "minimax", wrt="a")
    with pytest.raises(ValueError, match="loss must be one of"):
        tutorial_cost(torch.tensor([0.5], dtype=torch.float64), "hinge")
    with pytest.raises(TypeError, match="x must be a floating"):
        tutorial_cost([0.5], "minimax")
    with pytest.raises(ValueError, match="NaN"):
        tutorial_cost(torch.tensor([math.nan], dtype=torch.float64), "minimax", wrt="logit")


@given(st.floats(-3.0, 3.0), st.floats(0.2, 3.0), st.floats(-2.0, 2.0), st.floats(0.1, 4.0),
       st.sampled_from(GENERATOR_LOSSES))
def test_generator_gradient_of_an_affine_g_against_a_logistic_d_is_the_chain_rule(mu, w, c, t, loss):
    """G(z) = mu + w z, a(x) = t (c - x): grad_mu = mean J'(a) (-t), grad_w = mean J'(a) (-t) z."""
    G = AffineGenerator(1, loc=mu, scale=w).double()
    z = torch.randn(32, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    grad = generator_gradient(G, lambda x: t * (c - x[:, 0]), z, loss=loss)
    a = t * (c - G(z)[:, 0]).detach()
    j = gt.generator_loss_grad(a, loss) * (-t)
    expected = torch.stack([j.mean(), (j * z[:, 0]).mean()])
    assert torch.allclose(grad, expected, rtol=1e-12, atol=1e-14)


def test_generator_gradient_leaves_d_alone_and_checks_arguments():
    G = AffineGenerator(2).double()
    D = gt.mlp_discriminator(2, widths=(8,), generator=torch.Generator().manual_seed(0)).double()
    z = torch.randn(16, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    grad = generator_gradient(G, D, z, loss="non_saturating")
    assert grad.shape == (2 + 4,) and all(p.grad is None for p in D.parameters())
    with pytest.raises(TypeError, match="G must be a torch.nn.Module"):
        generator_gradient(lambda z: z, D, z, loss="minimax")
    with pytest.raises(ValueError, match="loss must be one of"):
        generator_gradient(G, D, z, loss="hinge")
    with pytest.raises(ValueError, match="one logit per point"):
        generator_gradient(G, lambda x: x, z, loss="minimax")
    with pytest.raises(ValueError, match="weights must be a tensor of shape"):
        generator_gradient(G, D, z, loss="minimax", weights=torch.ones(3))


def _legendre(n):
    nodes, weights = np.polynomial.legendre.leggauss(n)
    z = torch.as_tensor(np.concatenate([[-1.0], nodes, [1.0]]), dtype=torch.float64)[:, None]
    w = torch.as_tensor(np.concatenate([[0.0], weights / 2, [0.0]]), dtype=torch.float64)
    return z, w  # E over z ~ U(-1, 1); the two end nodes (weight 0) let eps see the box's ends


@pytest.mark.parametrize("t", [1.0, 4.0, 16.0, 64.0])
def test_minimax_gradient_vanishes_within_theorem_2_4_bound(t):
    """Arjovsky & Bottou 2017, Theorem 2.4, on G(z) = 2 + z/2, z ~ U(-1, 1) (image [1.5, 2.5]),
    against D_t = sigma(t (0 - x)), which tends to a perfect D* (1 on p_data's side x < 0, 0 with
    zero gradient on [1.5, 2.5]). Closed forms: grad_mu = t E[D] with
    E_z[sigma(alpha - beta z)] = (softplus(alpha + beta) - softplus(alpha - beta)) / (2 beta),
    eps = D(1.5) + t D(1.5)(1 - D(1.5)), M^2 = E[1 + z^2] = 4/3."""
    G = AffineGenerator(1, loc=2.0, scale=0.5).double()
    z, w = _legendre(64)
    r = minimax_gradient_bound(G, lambda x: -t * x[:, 0], z, weights=w)
    alpha, beta = torch.tensor(-2.0 * t, dtype=torch.float64), 0.5 * t
    e_d = (F.softplus(alpha + beta) - F.softplus(alpha - beta)) / (2 * beta)
    grad = generator_gradient(G, lambda x: -t * x[:, 0], z, loss="minimax", weights=w)
    assert math.isclose(float(grad[0]), t * float(e_d), rel_tol=1e-12)
    d_edge = 1 / (1 + math.exp(1.5 * t))
    assert math.isclose(r.epsilon, d_edge + t * d_edge * (1 - d_edge), rel_tol=1e-12)
    assert math.isclose(r.M, math.sqrt(4 / 3), rel_tol=1e-12)
    assert r.gradient_norm < r.bound
    assert math.isclose(r.bound, r.M * r.epsilon / (1 - r.epsilon), rel_tol=1e-15)


def test_minimax_gradient_decays_with_the_bound_as_d_sharpens():
    G = AffineGenerator(1, loc=2.0, scale=0.5).double()
    z, w = _legendre(64)
    norms = [minimax_gradient_bound(G, lambda x, t=t: -t * x[:, 0], z, weights=w).gradient_norm
             for t in (4.0, 8.0, 16.0, 32.0)]
    assert all(b < a * 1e-2 for a, b in zip(norms, norms[1:])) and norms[-1] < 1e-18


CASES = [
    (AffineGenerator(1, loc=0.5, scale=1.2), gt.mixture([-1.0, 2.0], [0.6, 0.8], [0.3, 0.7])),
    (
        AffineGenerator(2, loc=[0.3, -0.2], scale=[[1.0, 0.3], [0.0, 0.8]]),
        gt.mixture([[-1.0, 0.0], [1.5, 1.0]], [0.7, 0.5]),
    ),
]


@pytest.mark.parametrize("G, p_data", CASES, ids=["1d", "2d"])
def test_theorem_2_5_non_saturating_gradient_is_grad_of_kl_minus_2_jsd(G, p_data):
    """Arjovsky & Bottou 2017, Theorem 2.5: E_z[-grad log D*(G(z))] = grad[KL(p_g||p_data) - 2 JSD]
    with D* held fixed, both sides computed independently (cubature over z; autograd through the
    exact divergences), agree to the cubature's tolerance (1e-10 relative)."""
    r = non_saturating_identity(G, p_data)
    scale = float(r.divergence_gradient.abs().max())
    assert r.quadrature_error <= 1e-9 * max(scale, 1.0)
    assert r.difference <= 1e-9 * max(scale, 1.0)
    assert scale > 0.1  # a generator away from p_data: the gradient is far from zero
    assert r.kl > 0 and 0 < r.jsd < math.log(2)


def test_theorem_2_5_fails_for_the_minimax_cost_and_for_a_moved_d():
    """The identity is specific: the minimax gradient through D*, or the gradient through the D*
    of another generator, differ from grad[KL - 2 JSD] by far more than the tolerance."""
    G, p_data = CASES[0]
    r = non_saturating_identity(G, p_data)
    G64 = copy.deepcopy(G).double()
    with torch.no_grad():
        D_star = gt.optimal_discriminator(p_data, G64.distribution())
        D_other = gt.optimal_discriminator(p_data, gt.gaussian(0.0, 1.0))
    z = torch.randn(200_000, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    minimax = -generator_gradient(G64, D_star.logits, z, loss="minimax")  # -grad log(1 - D*)
    moved = generator_gradient(G64, D_other.logits, z, loss="non_saturating")
    for other in (minimax, moved):
        assert float((other - r.divergence_gradient).abs().max()) > 0.05


def test_non_saturating_identity_checks_its_arguments():
    with pytest.raises(TypeError, match="exact-density generator"):
        non_saturating_identity(gt.mlp_generator(1, 1, widths=(4,)), gt.gaussian(0.0, 1.0))
    with pytest.raises(ValueError, match="same dimension"):
        non_saturating_identity(AffineGenerator(2), gt.gaussian(0.0, 1.0))
    with pytest.raises(TypeError, match="p_data must be a torch.distributions"):
        non_saturating_identity(AffineGenerator(1), "normal")
