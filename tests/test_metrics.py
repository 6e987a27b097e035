"""Tests of gantheory.metrics: D against D*, checked against closed forms and scipy quadrature."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate

import gantheory as gt


def half(x):
    """D = 1/2 everywhere (logit 0)."""
    return torch.zeros(x.shape[0], dtype=x.dtype)


def affine_logit(alpha, beta):
    return lambda x: alpha * x[:, 0] + beta


def log_sigmoid(t):
    return -math.log1p(math.exp(-t)) if t > 0 else t - math.log1p(math.exp(t))


def scipy_reference(mu, sd, alpha, beta):
    """For p = N(0, 1), p_g = N(mu, sd^2) and D = sigma(alpha x + beta): E_M |D - D*| and
    2 E_M KL(Ber(D*) || Ber(D)), by scipy.integrate.quad in plain floats (independent code)."""

    def parts(x):
        lp = -0.5 * x * x - 0.5 * math.log(2 * math.pi)
        lq = -0.5 * ((x - mu) / sd) ** 2 - math.log(sd) - 0.5 * math.log(2 * math.pi)
        a, s = alpha * x + beta, lp - lq
        m = 0.5 * (math.exp(lp) + math.exp(lq))
        d, d_star = math.exp(log_sigmoid(a)), math.exp(log_sigmoid(s))
        kl = d_star * (log_sigmoid(s) - log_sigmoid(a)) + (1 - d_star) * (
            log_sigmoid(-s) - log_sigmoid(-a)
        )
        return m * abs(d - d_star), 2 * m * kl

    lo, hi = min(-12.0, mu - 12 * sd), max(12.0, mu + 12 * sd)
    opts = dict(points=sorted([0.0, mu]), limit=500, epsabs=1e-13, epsrel=1e-12)
    mae = integrate.quad(lambda x: parts(x)[0], lo, hi, **opts)[0]
    gap = integrate.quad(lambda x: parts(x)[1], lo, hi, **opts)[0]
    return mae, gap


# --- discriminator_error against closed forms ----------------------------------------------------


@pytest.mark.parametrize(
    ("p", "q", "largest_bound"),
    [
        (gt.gaussian(0.0, 1.0), gt.gaussian(1.5, 0.5), 1e-6),
        # a p_g 200 times narrower than p_data: log D* varies on p_g's scale inside p_data's
        # grid, which the midpoint rule resolves only to ~1e-3 (and says so)
        (gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 0.005), 1e-3),
        (gt.mixture([[-1.0, 0.0], [1.0, 0.0]], 0.3), gt.gaussian([0.0, 0.5], 0.8), 1e-4),
    ],
)
def test_optimal_discriminator_has_zero_error_and_zero_gap(p, q, largest_bound):
    """D = D*: mean |D - D*| = 0 and V(D*, G) - V(D, G) = 0 (Proposition 1), within the bounds."""
    err = gt.discriminator_error(gt.optimal_discriminator(p, q).logits, p, q)
    assert err.mean_abs_error <= err.mean_abs_error_bound + 1e-15
    assert abs(err.value_gap) <= err.value_gap_error
    assert err.value_gap_error < largest_bound


@pytest.mark.parametrize(
    ("p", "q"),
    [
        (gt.gaussian(0.0, 1.0), gt.gaussian(1.5, 0.5)),
        (gt.mixture([[-1.0, 0.0], [1.0, 0.0]], 0.3), gt.gaussian([0.0, 0.5], 0.8)),
    ],
)
def test_constant_half_discriminator_has_gap_twice_the_jsd(p, q):
    """V(1/2, G) = -log 4, so V(D*, G) - V(1/2, G) = C(G) + log 4 = 2 JSD (Theorem 1)."""
    err = gt.discriminator_error(half, p, q)
    jsd = gt.jsd(p, q)
    assert abs(err.value + math.log(4.0)) <= err.value_error + 1e-12
    assert abs(err.value_gap - 2 * float(jsd.value)) <= err.value_gap_error + 2 * jsd.error
    assert abs(err.mean_d_data - 0.5) < 1e-8 and abs(err.mean_d_g - 0.5) < 1e-8


def test_mean_abs_error_of_half_matches_scipy():
    p, q = gt.gaussian(0.0, 1.0), gt.gaussian(1.5, 0.5)
    err = gt.discriminator_error(half, p, q)
    reference, _ = scipy_reference(1.5, 0.5, 0.0, 0.0)
    assert abs(err.mean_abs_error - reference) <= err.mean_abs_error_bound + 1e-9


@given(
    mu=st.floats(-2, 2),
    sd=st.floats(0.2, 2.0),
    alpha=st.floats(-3, 3),
    beta=st.floats(-2, 2),
)
def test_value_gap_is_nonnegative_and_matches_an_independent_quadrature(mu, sd, alpha, beta):
    """For any D, V(D, G) <= V(D*, G) (Proposition 1); the gap equals 2 E_M KL(Ber(D*) || Ber(D))
    and mean |D - D*| matches scipy.quad, both within the reported bounds."""
    p, q = gt.gaussian(0.0, 1.0), gt.gaussian(mu, sd)
    logit = affine_logit(alpha, beta)
    err = gt.discriminator_error(logit, p, q)
    assert err.value_gap >= -err.value_gap_error
    mae, gap = scipy_reference(mu, sd, alpha, beta)
    assert abs(err.value_gap - gap) <= err.value_gap_error + 1e-7
    assert abs(err.mean_abs_error - mae) <= err.mean_abs_error_bound + 1e-9


def test_error_bound_covers_the_difference_to_a_much_finer_grid():
    """The bound at 256 cells covers the distance to the 16384-cell value, for a ReLU network."""
    p, q = gt.gaussian(0.0, 1.0), gt.gaussian(1.0, 0.7)
    D = gt.mlp_discriminator(1, widths=(32, 32), generator=torch.Generator().manual_seed(0))
    coarse = gt.discriminator_error(D, p, q, cells=256, c_g="grid")
    fine = gt.discriminator_error(D, p, q, cells=16384, c_g="grid")
    for name in ("mean_abs_error", "value", "value_optimal", "mean_d_data"):
        bound = getattr(coarse, f"{name}_bound", None) or getattr(coarse, f"{name}_error", 1e-9)
        assert abs(getattr(coarse, name) - getattr(fine, name)) <= bound, name


@pytest.mark.parametrize(
    ("p", "q"),
    [
        (gt.gaussian(0.0, 1.0), gt.gaussian(1.5, 0.5)),
        (gt.mixture([[-1.0, 0.0], [1.0, 0.0]], 0.3), gt.gaussian([0.0, 0.5], 0.8)),
    ],
)
def test_grid_virtual_criterion_agrees_with_the_exact_one(p, q):
    grid = gt.discriminator_error(half, p, q, c_g="grid")
    exact = gt.virtual_criterion(p, q)
    gap = abs(grid.value_optimal - float(exact.value))
    assert gap <= grid.value_optimal_error + exact.error
    assert grid.value_optimal_error < 1e-4


def test_probability_and_logit_discriminators_agree():
    p, q = gt.gaussian(0.0, 1.0), gt.gaussian(1.0, 1.0)
    logit = affine_logit(0.7, -0.2)
    a = gt.discriminator_error(logit, p, q, c_g="grid")
    b = gt.discriminator_error(lambda x: torch.sigmoid(logit(x)), p, q, logits=False, c_g="grid")
    assert a.mean_abs_error == pytest.approx(b.mean_abs_error, abs=1e-12)
    assert a.value == pytest.approx(b.value, abs=1e-10)


# --- discriminator_grid ------------------------------------------------------------------------


@pytest.mark.parametrize("dim", [1, 2])
def test_grid_holds_d_star_and_the_densities(dim):
    if dim == 1:
        p, q = gt.gaussian(0.0, 1.0), gt.gaussian(1.0, 0.5)
    else:
        p, q = gt.mixture([[-1.0, 0.0], [1.0, 0.0]], 0.3), gt.gaussian([0.0, 0.5], 0.8)
    g = gt.discriminator_grid(affine_logit(1.0, 0.0), p, q, n=20)
    assert g.d.shape == g.d_star.shape == g.p_data.shape == (20,) * dim
    mesh = torch.meshgrid(*g.axes, indexing="ij")
    x = torch.stack([m.reshape(-1) for m in mesh], dim=1)
    x_in = x[:, 0] if dim == 1 else x
    d_star = gt.optimal_discriminator(p, q)(x_in)
    torch.testing.assert_close(
        g.d_star.reshape(-1), d_star.reshape(-1).double(), rtol=1e-12, atol=1e-12
    )
    torch.testing.assert_close(g.p_g.reshape(-1), q.log_prob(x_in).exp())
    torch.testing.assert_close(g.d.reshape(-1), torch.sigmoid(x[:, 0]))


# --- train_discriminator -----------------------------------------------------------------------


def test_training_d_alone_approaches_d_star():
    """With G frozen, D trained by SGD gets much closer to D* (the inner loop of the theory)."""
    p = gt.gaussian(0.0, 1.0)
    G = gt.AffineGenerator(1, loc=1.5, scale=0.7)
    before = [t.detach().clone() for t in G.parameters()]
    calls = []
    trace = gt.train_discriminator(
        p, G, steps=300, record_every=100, batch_size=128, lr=0.1, device="cpu", seed=0,
        callback=lambda step, D: calls.append(step), progress=False,
    )  # fmt: skip
    assert trace.step == [0, 100, 200, 300]
    assert calls == list(range(1, 301))
    assert trace.mean_abs_error[-1] < 0.3 * trace.mean_abs_error[0]
    assert trace.mean_abs_error[-1] < 0.05
    assert all(g >= -e for g, e in zip(trace.value_gap, trace.value_gap_error))
    assert all(torch.equal(a, b) for a, b in zip(before, G.parameters()))


def test_train_discriminator_is_deterministic_and_accepts_a_kde_for_implicit_g():
    p = gt.gaussian(0.0, 1.0)
    s = gt.random_streams(0)
    G = gt.mlp_generator(1, 1, widths=(8,), generator=s.init)
    with torch.no_grad():
        samples = G(torch.randn(500, 1, generator=torch.Generator().manual_seed(1)))[:, 0]
    kde = gt.gaussian_kde(samples, generator=torch.Generator().manual_seed(2))
    runs = [
        gt.train_discriminator(p, G, p_g=kde.distribution, steps=20, record_every=10,
                               device="cpu", progress=False)
        for _ in range(2)
    ]  # fmt: skip
    assert runs[0].mean_abs_error == runs[1].mean_abs_error
    with pytest.raises(ValueError, match="p_g"):
        gt.train_discriminator(p, G, steps=2, device="cpu", progress=False)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gt.discriminator_error(half, gt.gaussian(0.0, 1.0), gt.gaussian([0.0, 0.0], 1.0)), "dimension"),
        (lambda: gt.discriminator_error(half, gt.gaussian([0.0] * 3, 1.0), gt.gaussian([0.0] * 3, 1.0)), "1D or 2D"),
        (lambda: gt.discriminator_error("D", gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0)), "callable"),
        (lambda: gt.discriminator_error(half, gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0), cells=7), "cells"),
        (lambda: gt.discriminator_error(half, gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0), box=(1.0, 0.0)), "box"),
        (lambda: gt.discriminator_error(half, gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0), c_g="mc"), "c_g"),
        (lambda: gt.discriminator_error(lambda x: x.repeat(1, 2), gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0)), "one value"),
        (lambda: gt.train_discriminator(gt.gaussian(0.0, 1.0), gt.AffineGenerator(1), steps=0), "steps"),
        (lambda: gt.train_discriminator(gt.gaussian(0.0, 1.0), gt.AffineGenerator(1), loss="hinge"), "loss"),
    ],
)  # fmt: skip
def test_bad_arguments_raise_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()
