import math

import numpy as np
import pytest
import torch
from reference import reference_1d, reference_2d
from torch.distributions import Uniform

import gantheory as gt
from gantheory.divergences import F_DIVERGENCES

FUNCTIONS = {"kl": gt.kl, "jsd": gt.jsd, "tv": gt.total_variation, "hellinger": gt.hellinger}

CASES_1D = {
    "two gaussians": (gt.gaussian(0.0, 1.0), gt.gaussian(1.5, 0.7)),
    "bimodal vs gaussian": (gt.mixture([-2.0, 2.0], [0.5, 0.5], [0.3, 0.7]), gt.gaussian(0.0, 2.0)),
    "narrow modes vs wide": (gt.mixture([-3.0, 0.0, 4.0], [0.01, 0.05, 0.02]), gt.gaussian(0.5, 3.0)),
}
CASES_2D = {
    "two gaussians": (gt.gaussian([0.0, 0.0], cov=[[1.0, 0.3], [0.3, 0.5]]), gt.gaussian([1.0, -0.5], 0.8)),
    "narrow mixture vs gaussian": (
        gt.mixture([[1.0, 0.0], [-0.5, 0.8], [-0.5, -0.8]], [0.03, 0.05, 0.02], [0.2, 0.3, 0.5]),
        gt.gaussian([0.0, 0.0], 1.0),
    ),
}


def _check(estimate, reference, rel=1e-8, abs_near_zero=1e-10):
    error = abs(float(estimate) - reference)
    assert error <= max(rel * abs(reference), abs_near_zero), (float(estimate), reference, error)
    # the reported bound is honest: never smaller than the true error (up to rounding of the reference)
    assert estimate.error + 1e-14 * max(1.0, abs(reference)) >= error, (estimate.error, error)


@pytest.mark.parametrize("case", CASES_1D)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_1d_divergences_match_30_digit_quadrature(case, name):
    p, q = CASES_1D[case]
    for a, b in ((p, q), (q, p)):
        _check(FUNCTIONS[name](a, b), reference_1d(name, a, b))


@pytest.mark.parametrize("case", CASES_2D)
@pytest.mark.parametrize("name", ["kl", "jsd", "hellinger"])
def test_2d_divergences_match_scipy_cubature(case, name):
    p, q = CASES_2D[case]
    _check(FUNCTIONS[name](p, q), reference_2d(name, p, q))


def test_closed_form_kl_agrees_with_quadrature():
    p = gt.gaussian([0.0, 1.0], cov=[[1.0, 0.4], [0.4, 0.6]])
    q = gt.gaussian([0.5, 0.0], cov=[[0.5, -0.1], [-0.1, 2.0]])
    closed = gt.kl(p, q)
    assert closed.method == "closed_form"
    quadrature = gt.kl(p, q, method="quadrature")
    assert quadrature.method.startswith("quadrature")
    assert abs(float(closed) - float(quadrature)) <= 1e-10 * float(closed)


def test_identical_distributions_give_exactly_zero():
    for p in (gt.ring(), gt.mixture([0.0, 3.0], [1.0, 0.1])):
        for f in FUNCTIONS.values():
            assert float(f(p, p)) == 0.0
        assert float(gt.mmd(p, p, bandwidth=[0.5, 2.0])) == pytest.approx(0.0, abs=1e-14)


def test_disjoint_supports_give_infinite_kl_and_log2_jsd():
    u1 = Uniform(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    u2 = Uniform(torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64))
    assert float(gt.kl(u1, u2, method="quadrature")) == math.inf
    result = gt.jsd(u1, u2)
    assert not math.isnan(float(result))
    assert abs(float(result) - math.log(2)) <= max(result.error, 1e-12)
    assert abs(float(gt.total_variation(u1, u2)) - 1.0) <= 1e-9


def test_gaussians_1000_stds_apart_are_disjoint_to_machine_precision():
    p, q = gt.gaussian([0.0, 0.0], 0.01), gt.gaussian([10.0, 0.0], 0.01)
    assert float(gt.jsd(p, q)) == pytest.approx(math.log(2), abs=1e-12)
    assert float(gt.total_variation(p, q)) == pytest.approx(1.0, abs=1e-12)
    assert float(gt.hellinger(p, q)) == pytest.approx(2.0, abs=1e-12)


def test_narrow_ring_jsd_matches_reference():
    """The headline case: 8 modes of std 0.02 against N(0, I), exact to 1e-8 and fast enough to call in a loop."""
    p, q = gt.ring(n_modes=8, radius=2.0, std=0.02), gt.gaussian([0.0, 0.0], 1.0)
    _check(gt.jsd(p, q), reference_2d("jsd", p, q, rtol=1e-12))


def test_divergences_are_differentiable_and_match_finite_differences():
    mean = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    target = gt.mixture([-1.0, 1.0], [0.3, 0.3])

    def objective(m):
        return gt.jsd(target, gt.gaussian(m, 0.8)).value

    objective(mean).backward()
    h = 1e-5
    f64 = torch.float64
    numeric = (float(objective(torch.tensor(0.3 + h, dtype=f64))) - float(objective(torch.tensor(0.3 - h, dtype=f64)))) / (2 * h)
    assert mean.grad.item() == pytest.approx(numeric, rel=1e-6, abs=1e-9)


def test_monte_carlo_agrees_with_quadrature_and_is_reproducible():
    p, q = CASES_1D["bimodal vs gaussian"]
    exact = float(gt.kl(q, p))
    first = gt.kl(q, p, method="monte_carlo", n_samples=20000, generator=torch.Generator().manual_seed(3))
    again = gt.kl(q, p, method="monte_carlo", n_samples=20000, generator=torch.Generator().manual_seed(3))
    assert float(first) == float(again)
    assert abs(float(first) - exact) < 5 * first.error
    for f in FUNCTIONS.values():
        mc = f(p, q, method="monte_carlo", n_samples=20000, generator=torch.Generator().manual_seed(1))
        assert abs(float(mc) - float(f(p, q))) < 5 * mc.error + 1e-12


def test_f_divergence_table_reproduces_the_named_divergences():
    # (the narrow 2D mixture's reverse KL and TV have kinks that make them slow: they are in the benchmark)
    for p, q in list(CASES_1D.values()) + [CASES_2D["two gaussians"]]:
        for name, direct in (("kl", gt.kl(p, q, method="quadrature")), ("reverse_kl", gt.kl(q, p, method="quadrature")),
                             ("jensen_shannon", gt.jsd(p, q)), ("total_variation", gt.total_variation(p, q)),
                             ("squared_hellinger", gt.hellinger(p, q))):
            via_f = gt.f_divergence(p, q, name)
            assert float(via_f) == pytest.approx(float(direct), rel=1e-9, abs=1e-11), name
        # GAN divergence = 2 JSD − log 4 and Jeffrey = KL + reverse KL
        assert float(gt.f_divergence(p, q, "gan")) == pytest.approx(2 * float(gt.jsd(p, q)) - math.log(4), rel=1e-9)
        assert float(gt.f_divergence(p, q, "jeffrey")) == pytest.approx(
            float(gt.kl(p, q, method="quadrature")) + float(gt.kl(q, p, method="quadrature")), rel=1e-9
        )


@pytest.mark.parametrize("name", list(F_DIVERGENCES))
def test_each_f_entry_is_consistent(name):
    """perspective = q f(p/q); f(1) = 0 (but for "gan": −log 4); Fenchel–Young f*(f′(u)) = u f′(u) − f(u)."""
    entry = F_DIVERGENCES[name]
    u = torch.logspace(-3, 3, 61, dtype=torch.float64)
    lq = torch.linspace(-4, 1, 61, dtype=torch.float64)
    lp = lq + torch.log(u)
    assert torch.allclose(entry.density(lp, lq), lq.exp() * entry.f(u), rtol=1e-10, atol=1e-300)
    f_at_1 = -math.log(4) if name == "gan" else 0.0
    assert abs(entry.f(torch.ones(1, dtype=torch.float64)).item() - f_at_1) < 1e-15
    t = entry.critic(u)
    if name == "total_variation":  # f is not differentiable at 1; T* = ½ sign(u − 1) on u ≠ 1
        keep = (u - 1).abs() > 1e-9
        u, t = u[keep], t[keep]
    assert torch.allclose(entry.conjugate(t), u * t - entry.f(u), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", list(F_DIVERGENCES))
def test_variational_bound_is_tight_at_the_optimal_critic(name):
    """D_f(p‖q) = sup_T E_p[T] − E_q[f*(T)], attained at T* = f′(p/q) (Nowozin et al. 2016, eq. 4)."""
    from gantheory.divergences import integrate_pair

    # equal widest stds, so that every divergence of the table is finite (Neyman and Pearson included)
    p, q = gt.mixture([-1.0, 1.5], [1.0, 0.8], [0.4, 0.6]), gt.gaussian(0.2, 1.0)
    entry = F_DIVERGENCES[name]

    def bound(shift):
        def integrand(x, lp, lq):
            t = entry.critic(torch.exp(lp - lq)) + shift * torch.tanh(x[:, 0])
            return (lp.exp() * t - lq.exp() * entry.conjugate(t))[:, None]

        return float(integrate_pair(p, q, integrand, [math.inf])[0][0])

    exact = float(gt.f_divergence(p, q, name))
    assert bound(0.0) == pytest.approx(exact, rel=1e-8, abs=1e-10)
    if name != "total_variation":  # its conjugate is +inf off [−½, ½]: any shift gives −inf
        assert bound(0.05) < exact


def test_mmd_closed_form_agrees_with_quadrature_in_1d():
    from scipy import stats

    p, q = gt.mixture([-1.0, 2.0], [0.5, 1.0], [0.3, 0.7]), gt.gaussian(0.5, 1.5)
    h = 0.8

    def diff(x):
        return 0.3 * stats.norm.pdf(x, -1, 0.5) + 0.7 * stats.norm.pdf(x, 2, 1.0) - stats.norm.pdf(x, 0.5, 1.5)

    # MMD² = ∫∫ k(x, y) (p − q)(x) (p − q)(y) dx dy: tensor Gauss–Legendre on 0.1-wide panels of [−12, 14]
    nodes, weights = np.polynomial.legendre.leggauss(20)
    edges = np.linspace(-12, 14, 261)
    x = ((edges[:-1] + edges[1:])[:, None] / 2 + 0.05 * nodes[None]).ravel()
    w = np.tile(0.05 * weights, 260) * diff(x)
    value = float(w @ np.exp(-((x[:, None] - x[None]) ** 2) / (2 * h * h)) @ w)
    assert float(gt.mmd(p, q, bandwidth=h)) == pytest.approx(value, rel=1e-8)


def test_unbiased_mmd_estimator_is_unbiased_and_its_standard_error_is_right():
    p, q = gt.mixture([[-1.0, 0.0], [1.0, 0.0]], [0.3, 0.3]), gt.gaussian([0.0, 0.0], 0.8)
    exact = float(gt.mmd(p, q, bandwidth=[0.5, 1.0]))
    torch.manual_seed(0)
    xs, ys = p.sample((200, 60)), q.sample((200, 60))
    draws = [gt.mmd(x, y, bandwidth=[0.5, 1.0]) for x, y in zip(xs, ys)]
    values = torch.tensor([float(d) for d in draws])
    spread = float(values.std())
    assert abs(float(values.mean()) - exact) < 4 * spread / math.sqrt(len(values))
    reported = sum(d.error for d in draws) / len(draws)
    assert 0.7 < reported / spread < 1.4
    # the biased V-statistic overestimates on average
    biased = torch.tensor([float(gt.mmd(x, y, bandwidth=[0.5, 1.0], estimator="biased")) for x, y in zip(xs, ys)])
    assert float(biased.mean()) - exact > 4 * spread / math.sqrt(len(values))
    # Monte Carlo from the distributions uses the same estimator, reproducibly
    mc = gt.mmd(p, q, bandwidth=[0.5, 1.0], method="monte_carlo", n_samples=500, generator=torch.Generator().manual_seed(1))
    again = gt.mmd(p, q, bandwidth=[0.5, 1.0], method="monte_carlo", n_samples=500, generator=torch.Generator().manual_seed(1))
    assert float(mc) == float(again) and abs(float(mc) - exact) < 5 * mc.error


def test_wasserstein_closed_forms_and_samples():
    assert float(gt.wasserstein(gt.gaussian(0.0, 1.0), gt.gaussian(2.5, 1.0))) == pytest.approx(2.5, rel=1e-9)
    # W1 between 1D mixtures = ∫ |F − G|, against scipy's quad
    from scipy import integrate, stats

    p, q = gt.mixture([-1.0, 2.0], [0.5, 0.3], [0.4, 0.6]), gt.gaussian(0.0, 1.0)
    F_p = lambda x: 0.4 * stats.norm.cdf(x, -1, 0.5) + 0.6 * stats.norm.cdf(x, 2, 0.3)  # noqa: E731
    ref, _ = integrate.quad(lambda x: abs(F_p(x) - stats.norm.cdf(x)), -15, 15, points=[-1, 0, 2], epsabs=1e-13, limit=500)
    w = gt.wasserstein(p, q)
    assert abs(float(w) - ref) <= max(w.error, 1e-9)
    # W2 between 2D Gaussians (closed form) against optimal transport between samples
    a, b = gt.gaussian([0.0, 0.0], 1.0), gt.gaussian([1.0, 1.0], [0.5, 2.0])
    exact = float(gt.wasserstein(a, b, order=2))
    assert exact == pytest.approx(math.sqrt(2 + 0.25 + 1), rel=1e-10)
    sampled = gt.wasserstein(a, b, order=2, n_samples=800, generator=torch.Generator().manual_seed(0))
    assert abs(float(sampled) - exact) < 0.15


@pytest.mark.parametrize(
    "call, error, message",
    [
        (lambda: gt.kl(gt.gaussian(0.0, 1.0), gt.gaussian([0.0, 0.0], 1.0)), ValueError, "same dimension"),
        (lambda: gt.jsd(gt.gaussian(0.0, 1.0), "normal"), TypeError, "q must be a torch.distributions"),
        (lambda: gt.jsd(gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0), method="simpson"), ValueError, "method must be one of"),
        (lambda: gt.jsd(gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0), method="closed_form"), ValueError, "no closed form"),
        (lambda: gt.f_divergence(gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0), "chi"), ValueError, "f must be one of"),
        (lambda: gt.mmd(gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0), bandwidth=0.0), ValueError, "bandwidth must be"),
        (lambda: gt.jsd(gt.gaussian([0.0] * 3, 1.0), gt.gaussian([0.0] * 3, 2.0), method="quadrature"), ValueError, "dimension 1 or 2"),
        (lambda: gt.kl(torch.distributions.Normal(torch.zeros(2), torch.ones(2)), gt.gaussian(0.0, 1.0)), ValueError, "batch_shape"),
        (lambda: gt.wasserstein(gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0), order=3), ValueError, "order must be 1 or 2"),
    ],
)
def test_bad_input_raises_clear_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()
