"""The theory of the game (Goodfellow et al. 2014), as properties over random 1D and 2D mixtures."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gantheory as gt
from gantheory.divergences import integrate_pair

LOG4 = math.log(4)


@st.composite
def mixtures(draw, dim=None):
    """Random Gaussian mixtures: 1–8 components, stds 0.01–10, separations up to 1000 stds."""
    d = dim if dim is not None else draw(st.sampled_from([1, 2]))
    k = draw(st.integers(1, 8))
    log_stds = draw(st.lists(st.floats(-2, 1), min_size=k, max_size=k))
    stds = [10.0**s for s in log_stds]
    spread = 10.0 ** draw(st.floats(-2, 3)) * min(stds)  # up to 1000 stds apart
    coords = draw(st.lists(st.floats(-1, 1), min_size=k * d, max_size=k * d))
    raw = draw(st.lists(st.floats(0.05, 1.0), min_size=k, max_size=k))
    weights = [w / sum(raw) for w in raw]
    means = [[spread * coords[i * d + j] for j in range(d)] for i in range(k)]
    if d == 1:
        return gt.mixture([m[0] for m in means], stds, weights)
    return gt.mixture(means, stds, weights)


@st.composite
def pairs(draw):
    d = draw(st.sampled_from([1, 2]))
    return draw(mixtures(d)), draw(mixtures(d))


def _points(p, q, n=64, seed=0):
    torch.manual_seed(seed)
    x = torch.cat([p.sample((n,)), q.sample((n,))])
    return x if x.ndim == 2 else x[:, None]


@given(pairs())
def test_optimal_discriminator_is_a_probability(pair):
    p, q = pair
    x = _points(p, q)
    far = x * 1e3  # where both densities underflow: D* is still exact, never NaN
    for points in (x, far):
        d = gt.optimal_discriminator(p, q)(points)
        assert bool(torch.isfinite(d).all()) and bool(((d >= 0) & (d <= 1)).all())


@given(mixtures())
def test_optimal_discriminator_is_one_half_when_p_g_equals_p_data(p):
    x = _points(p, p)
    assert torch.equal(gt.optimal_discriminator(p, p)(x), torch.full((x.shape[0],), 0.5, dtype=torch.float64))


def test_optimal_discriminator_underflow_and_disjoint_supports():
    p, q = gt.gaussian(0.0, 1.0), gt.gaussian(1.0, 1.0)
    x = torch.tensor([[100.0], [-100.0]], dtype=torch.float64)
    # both densities are 0 in float64 there, but the ratio is exact: logit = log p − log q = −(x − ½)
    assert torch.allclose(gt.optimal_discriminator(p, q).logits(x), torch.tensor([-99.5, 100.5], dtype=torch.float64))
    u1 = torch.distributions.Uniform(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    u2 = torch.distributions.Uniform(torch.tensor(2.0, dtype=torch.float64), torch.tensor(3.0, dtype=torch.float64))
    d = gt.optimal_discriminator(u1, u2)(torch.tensor([0.5, 2.5, 5.0], dtype=torch.float64))
    assert d.tolist() == [1.0, 0.0, 0.5]


@given(pairs())
def test_virtual_criterion_is_minimised_at_p_data(pair):
    """C(G) = −log 4 + 2 JSD ≥ −log 4, with equality iff p_g = p_data (Theorem 1)."""
    p, q = pair
    assert float(gt.virtual_criterion(p, p)) == pytest.approx(-LOG4, abs=1e-12)
    c = gt.virtual_criterion(p, q)
    assert float(c) >= -LOG4 - c.error
    jsd = gt.jsd(p, q)
    assert float(c) == pytest.approx(-LOG4 + 2 * float(jsd), abs=1e-14)
    if float(gt.hellinger(p, q)) > 1e-6:  # p_g ≠ p_data: strictly above the optimum
        assert float(c) > -LOG4 + c.error


@given(pairs())
def test_jsd_is_symmetric_and_between_zero_and_log_2(pair):
    p, q = pair
    forward, backward = gt.jsd(p, q), gt.jsd(q, p)
    assert -forward.error <= float(forward) <= math.log(2) + forward.error
    assert abs(float(forward) - float(backward)) <= forward.error + backward.error + 1e-15


@given(pairs())
def test_kl_is_non_negative_and_zero_iff_equal(pair):
    p, q = pair
    assert float(gt.kl(p, p)) == 0.0
    divergence = gt.kl(p, q, method="quadrature")
    assert float(divergence) >= -divergence.error
    if float(gt.hellinger(p, q)) > 1e-6:
        assert float(divergence) > divergence.error


@st.composite
def discriminators(draw, d):
    """A random smooth D: logits a + b·x + c·|x|² with random coefficients."""
    a = draw(st.floats(-3, 3))
    b = torch.tensor(draw(st.lists(st.floats(-3, 3), min_size=d, max_size=d)), dtype=torch.float64)
    c = draw(st.floats(-1, 1))
    return lambda x: a + x @ b + c * (x * x).sum(1)


@given(st.data())
def test_value_is_maximised_by_the_optimal_discriminator(data):
    """V(D, G) ≤ V(D*, G), and V(D*, G) − V(D, G) = ∫ (p_data + p_g) KL(Bernoulli(D*) ‖ Bernoulli(D)) dx."""
    d = data.draw(st.sampled_from([1, 2]))
    p, q = data.draw(mixtures(d)), data.draw(mixtures(d))
    logits = data.draw(discriminators(d))
    best = gt.value(gt.optimal_discriminator(p, q), p, q)
    assert float(best) == pytest.approx(float(gt.virtual_criterion(p, q)), abs=best.error + 1e-12)
    v = gt.value(logits, p, q, logits=True)
    gap = float(best) - float(v)
    assert gap >= -(best.error + v.error)

    def bernoulli_kl(x, lp, lq):
        a_star, a = lp - lq, logits(x)
        # KL(Bern(σ(a*)) ‖ Bern(σ(a))) in log space, weighted by p + q = q (1 + e^{a*})
        kl_b = torch.sigmoid(a_star) * (torch.nn.functional.logsigmoid(a_star) - torch.nn.functional.logsigmoid(a)) + torch.sigmoid(
            -a_star
        ) * (torch.nn.functional.logsigmoid(-a_star) - torch.nn.functional.logsigmoid(-a))
        return (torch.logaddexp(lp, lq).exp() * kl_b)[:, None]

    values, errors, _ = integrate_pair(p, q, bernoulli_kl, [math.inf])
    assert gap == pytest.approx(float(values[0]), abs=best.error + v.error + errors[0] + 1e-11, rel=1e-9)


def test_value_with_probabilities_equals_value_with_logits_and_takes_modules():
    p, q = gt.mixture([-1.0, 1.0], [0.3, 0.5]), gt.gaussian(0.3, 1.0)
    net = torch.nn.Sequential(torch.nn.Linear(1, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)).float()
    with_logits = gt.value(net, p, q, logits=True)
    with_probs = gt.value(lambda x: torch.sigmoid(net(x.float())), p, q)
    assert float(with_logits) == pytest.approx(float(with_probs), rel=1e-6)
    # differentiable with respect to D's parameters
    with_logits.value.backward()
    assert all(parameter.grad is not None for parameter in net.parameters())


def test_half_everywhere_gives_minus_log_4():
    p, q = gt.ring(), gt.gaussian([0.0, 0.0], 1.0)
    half = lambda x: torch.zeros(x.shape[0], dtype=torch.float64)  # noqa: E731
    assert float(gt.value(half, p, q, logits=True)) == pytest.approx(-LOG4, abs=1e-10)


def test_value_by_monte_carlo_in_three_dimensions():
    p, q = gt.gaussian([0.0] * 3, 1.0), gt.gaussian([1.0, 0.0, 0.0], 1.0)
    D = gt.optimal_discriminator(p, q)
    mc = gt.value(D, p, q, n_samples=20000, generator=torch.Generator().manual_seed(0))
    assert mc.method == "monte_carlo"
    exact_jsd = gt.jsd(p, q, method="monte_carlo", n_samples=200000, generator=torch.Generator().manual_seed(1))
    assert abs(float(mc) - (-LOG4 + 2 * float(exact_jsd))) < 5 * (mc.error + 2 * exact_jsd.error)


def test_bad_input():
    p = gt.gaussian(0.0, 1.0)
    with pytest.raises(ValueError, match="same dimension"):
        gt.optimal_discriminator(p, gt.gaussian([0.0, 0.0], 1.0))
    with pytest.raises(TypeError, match="p_g must be a torch.distributions"):
        gt.optimal_discriminator(p, [0.0])
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1\)"):
        gt.optimal_discriminator(p, p)(torch.zeros(3, 2))
    with pytest.raises(ValueError, match="D must map points"):
        gt.value(lambda x: torch.zeros(x.shape[0], 2), p, p)
    with pytest.raises(TypeError, match="D must be callable"):
        gt.value(0.5, p, p)


# --- steep discriminators and bad points (issue 11) ----------------------------------------------


def _mp_value_of_steep_logistic(slope, mean_p, mean_q):
    """V(D, G) for D(x) = σ(slope x), p = N(mean_p, 1), q = N(mean_q, 1), with mpmath at 30 digits."""
    import mpmath as mp

    mp.mp.dps = 30

    def log_sigmoid(a):
        return -mp.log1p(mp.exp(-a)) if a > 0 else a - mp.log1p(mp.exp(a))

    f = lambda x: mp.npdf(x, mean_p, 1) * log_sigmoid(slope * x) + mp.npdf(x, mean_q, 1) * log_sigmoid(-slope * x)  # noqa: E731
    return float(mp.quad(f, [-mp.inf, -10, -1, 0, 1, 10, mp.inf]))


def test_value_of_a_steep_discriminator_uses_its_logits():
    import torch.nn as nn

    p, q = gt.gaussian(1.0, 1.0), gt.gaussian(-1.0, 1.0)
    ref = _mp_value_of_steep_logistic(50.0, 1.0, -1.0)
    as_logits = gt.value(lambda x: 50.0 * x[:, 0], p, q, logits=True)
    linear = nn.Linear(1, 1).double()
    with torch.no_grad():
        linear.weight.fill_(50.0)
        linear.bias.zero_()
    as_module = gt.value(nn.Sequential(linear, nn.Sigmoid()), p, q)  # the Sigmoid is peeled off
    for v in (as_logits, as_module):
        assert abs(float(v) - ref) <= v.error and v.error < 1e-9


def test_value_of_probabilities_that_underflow_says_so():
    p, q = gt.gaussian(1.0, 1.0), gt.gaussian(-1.0, 1.0)
    with pytest.raises(ValueError, match=r"probability 1 .* underflow .* logits"):
        gt.value(lambda x: torch.sigmoid(50.0 * x[:, 0]), p, q)
    with pytest.raises(ValueError, match=r"probabilities in \[0, 1\]"):
        gt.value(lambda x: 2.0 + 0 * x[:, 0], p, q)
    with pytest.raises(ValueError, match="nan"):
        gt.value(lambda x: x[:, 0] * math.nan, p, q, logits=True)


def test_optimal_discriminator_names_bad_points():
    D = gt.optimal_discriminator(gt.gaussian(0.0, 1.0), gt.gaussian(1.0, 1.0))
    with pytest.raises(ValueError, match="x must be finite: 1 of its 2 points"):
        D(torch.tensor([math.nan, 0.0]))
    with pytest.raises(TypeError, match="x must be points"):
        D("abc")
    with pytest.raises(ValueError, match=r"x must have shape \(n, 1\)"):
        D(torch.zeros(3, 2))


def test_value_and_virtual_criterion_name_their_arguments():
    p, q = gt.gaussian(0.0, 1.0), gt.gaussian(1.0, 1.0)
    with pytest.raises(ValueError, match=r"D cannot take points of shape \(n, 1\)"):
        gt.value(gt.mlp_discriminator(2), p, q, logits=True)
    with pytest.raises(TypeError, match="p_g must be a torch.distributions"):
        gt.virtual_criterion(p, None)
    with pytest.raises(ValueError, match="p_data must be a single distribution"):
        gt.virtual_criterion(torch.distributions.Normal(torch.zeros(3), torch.ones(3)), q)
