"""Tests of gantheory._expectations: divergences against a flow, as expectations under each side.

References: closed forms (a coupling flow whose conditioners are constant is a Gaussian), the
mixture-aware quadrature between Gaussian mixtures, and box cubature of the plain integrand in x
at 1e-14 (a different formula on a different mesh).
"""

import math

import pytest
import torch
from hypothesis import assume, given
from hypothesis import strategies as st

import gantheory as gt
from gantheory import divergences as dv

ROUTE = "quadrature (expectations)"
P_DATA = gt.mixture([[-1.25, 0.0], [1.25, 0.0]], 0.5)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def random_flow(seed, *, transforms=2, scale=0.5, hidden=(16, 16), weights=True):
    """A float64 coupling flow with drawn output layers (``weights=False``: biases only, so that
    every conditioner is constant and the flow is an affine map)."""
    G = gt.CouplingFlowGenerator(2, transforms=transforms, hidden=hidden, generator=gen(seed))
    with torch.no_grad():
        for c in G.conditioners:
            last = c.net[-1]
            if weights:
                last.weight.normal_(0.0, scale / math.sqrt(last.in_features), generator=gen(seed + 1))
            last.bias.normal_(0.0, scale, generator=gen(seed + 2))
    return G.double()


def gaussian_of_affine_flow(G):
    """p_g of a 2-layer flow with constant conditioners: x2 = z2 e^{s0} + t0, x1 = z1 e^{s1} + t1."""
    (s0, t0), (s1, t1) = (G._scale_shift(j, torch.zeros(1, 1, dtype=torch.float64)) for j in range(2))
    loc = torch.cat([t1[0], t0[0]])
    std = torch.exp(torch.cat([s1[0], s0[0]]))
    return torch.distributions.MultivariateNormal(loc.detach(), covariance_matrix=torch.diag(std.detach() ** 2))


def box_reference(p, q, name):
    """The plain integrand h(p, q) in x, on a box grown around both, at atol 1e-14."""
    spec = dv.F_DIVERGENCES[name]
    cp, cq = dv.as_gaussian_mixture(p), dv.as_gaussian_mixture(q)
    integrand = lambda x, lp, lq: spec.density(lp, lq)[:, None]  # noqa: E731
    values, errors, label = dv._integrate_box(p, q, cp, cq, integrand, [dv._f_tail(spec, "auto")], 1e-14, 1e-13)
    assert label == "quadrature (box)"
    return float(values[0].detach()), errors[0]


DIVERGENCES = {
    "jsd": lambda p, q: gt.jsd(p, q),
    "kl": lambda p, q: gt.kl(p, q),
    "reverse_kl": lambda p, q: gt.kl(q, p),
    "total_variation": lambda p, q: gt.total_variation(p, q, atol=1e-7, rtol=1e-7),
    "squared_hellinger": lambda p, q: gt.f_divergence(p, q, "squared_hellinger"),
    "c_g": lambda p, q: gt.virtual_criterion(p, q),
}


@pytest.mark.parametrize("name", list(DIVERGENCES))
@pytest.mark.parametrize("far", [False, True])
def test_an_affine_flow_gives_the_divergences_of_its_gaussian(name, far):
    """A coupling flow with constant conditioners is x = diag(e^s) z + t: its divergences against a
    mixture equal those of N(t, diag(e^{2s})), computed between mixtures (validated against
    mpmath in test_divergences), to within both bounds; each bound of a smooth integrand is below
    1e-8."""
    G = random_flow(11, weights=False, scale=1.0)
    p = gt.mixture([[-1.25 + 30.0 * far, 0.0], [1.25 + 30.0 * far, 0.0]], 0.5)
    flow, gaussian = G.distribution(), gaussian_of_affine_flow(G)
    got, ref = DIVERGENCES[name](p, flow), DIVERGENCES[name](p, gaussian)
    assert got.method == ROUTE and ref.method != ROUTE
    if name != "total_variation":  # |p − q| has a kink along p = q: cubature converges slowly there
        assert got.error <= max(1e-8, 1e-10 * abs(float(got)))  # the default atol/rtol, with margin
    assert abs(float(got) - float(ref)) <= got.error + ref.error


def test_kl_from_a_gaussian_to_an_affine_flow_matches_the_closed_form():
    G = random_flow(12, weights=False, scale=1.0)
    flow, gaussian = G.distribution(), gaussian_of_affine_flow(G)
    p = torch.distributions.MultivariateNormal(
        torch.tensor([0.3, -0.2], dtype=torch.float64), torch.tensor([[1.0, 0.4], [0.4, 0.8]], dtype=torch.float64)
    )  # fmt: skip
    for forward in (True, False):
        got = gt.kl(p, flow) if forward else gt.kl(flow, p)
        exact = torch.distributions.kl_divergence(p, gaussian) if forward else torch.distributions.kl_divergence(gaussian, p)
        assert got.method == ROUTE and got.error <= 1e-8
        assert abs(float(got) - float(exact)) <= got.error + 1e-14


@given(seed=st.integers(0, 10_000), scale=st.floats(0.1, 1.0), transforms=st.integers(2, 4),
       name=st.sampled_from(["jensen_shannon", "kl", "reverse_kl"]), flip=st.booleans())  # fmt: skip
def test_the_bound_covers_the_error_against_box_cubature(seed, scale, transforms, name, flip):
    """|value − reference| ≤ bound + the reference's bound, for random flows against the mixture
    in either order, and the bound meets 1e-8."""
    q = random_flow(seed, transforms=transforms, scale=scale).distribution()
    p = P_DATA
    if flip:
        p, q = q, p
    ref, ref_error = box_reference(p, q, name)
    assume(ref_error < 1e-11)
    got = gt.f_divergence(p, q, name)
    assert got.method == ROUTE
    assert got.error <= 1e-8
    assert abs(float(got) - ref) <= got.error + ref_error


def test_the_bound_stays_honest_when_the_cubature_is_stopped_early(monkeypatch):
    """With too few points allowed, the value is off but the bound says by how much."""
    q = random_flow(0, transforms=4, scale=2.0).distribution()
    exact = gt.jsd(P_DATA, q)
    assert exact.error < 1e-9
    monkeypatch.setattr(dv, "_EXPECTATION_POINTS", 30_000)
    rough = gt.jsd(P_DATA, q)
    assert rough.error > 100 * exact.error  # it did stop early
    assert abs(float(rough) - float(exact)) <= rough.error + exact.error


def test_value_of_a_network_discriminator_matches_box_cubature():
    """V(D, G) = ½ E_pdata[2 D* log D + 2 (1 − D*) log(1 − D)] + ½ E_pg[...] (homogeneity)."""
    q = random_flow(3, scale=0.8).distribution()
    D = gt.mlp_discriminator(2, widths=(16,), activation="tanh", generator=gen(4)).double()
    got = gt.value(D, P_DATA, q, logits=True)
    assert got.method == ROUTE

    def integrand(x, lp, lq):
        logit = D(x)
        return (lp.exp() * torch.nn.functional.logsigmoid(logit) + lq.exp() * torch.nn.functional.logsigmoid(-logit))[:, None]

    ref, ref_errors, label = dv._integrate_box(P_DATA, q, dv.as_gaussian_mixture(P_DATA), None, integrand, [math.inf], 1e-14, 1e-13)
    assert abs(float(got) - float(ref[0].detach())) <= got.error + ref_errors[0]
    assert got.error <= 1e-8


def test_c_g_as_the_value_of_d_star_is_minus_log_4_plus_twice_the_jsd():
    """Theorem 1 of Goodfellow et al. 2014, from two different integrands."""
    q = random_flow(5, transforms=3, scale=0.7).distribution()
    j = gt.jsd(P_DATA, q)
    v = gt.value(gt.optimal_discriminator(P_DATA, q), P_DATA, q)
    assert v.method == ROUTE
    assert abs(float(v) - (2 * float(j) - math.log(4))) <= v.error + 2 * j.error


def test_divergences_through_a_flow_are_differentiable():
    """d JSD / d(a bias of G), by autograd through both expectations, against central differences."""
    G = random_flow(6, scale=0.5)
    bias = G.conditioners[1].net[-1].bias
    value = gt.jsd(P_DATA, G.distribution(), atol=1e-13, rtol=1e-12).value
    (grad,) = torch.autograd.grad(value, bias)
    h = 1e-5
    with torch.no_grad():
        bias[0] += h
        up = float(gt.jsd(P_DATA, G.distribution(), atol=1e-13, rtol=1e-12))
        bias[0] -= 2 * h
        down = float(gt.jsd(P_DATA, G.distribution(), atol=1e-13, rtol=1e-12))
        bias[0] += h
    assert abs(float(grad[0]) - (up - down) / (2 * h)) < 1e-6


def affine_flow(log_scales, shifts, *, max_log_scale=10.0):
    """A 2-layer flow with constant conditioners: x2 = z2 e^{s0} + t0, x1 = z1 e^{s1} + t1."""
    G = gt.CouplingFlowGenerator(2, transforms=2, hidden=(8,), max_log_scale=max_log_scale, generator=gen(0)).double()
    with torch.no_grad():
        for c, s, t in zip(G.conditioners, log_scales, shifts):
            c.net[-1].weight.zero_()
            c.net[-1].bias.copy_(torch.tensor([max_log_scale * math.atanh(s / max_log_scale), t]))
    return G


FOUR = {"jsd": gt.jsd, "kl": gt.kl, "reverse_kl": lambda p, q: gt.kl(q, p), "c_g": gt.virtual_criterion}


@pytest.mark.parametrize("name", list(FOUR))
@pytest.mark.parametrize(
    "case",
    ["narrow data mode in the flow's bulk", "narrow flow in broad data", "narrow flow against a flow", "both far out"],
)
def test_narrow_features_of_the_other_side_are_resolved(case, name):
    """Each expectation's integrand depends on both densities: a data mode of std 1e-3 inside the
    flow's bulk, or a flow of std 1e-3 inside the data, must be found by the other side's mesh
    (they were missed, with errors 1e5 times the bound). Far out (1e4), the flow's own rounding of
    x moves the data's log density: the bound must cover it."""
    identity = gt.CouplingFlowGenerator(2, hidden=(8,), generator=gen(0)).double()
    narrow = affine_flow((-7.0, -7.0), (0.2137, -0.1234))
    if case == "narrow data mode in the flow's bulk":
        p, q, q_ref = gt.mixture([[0.3, -0.2], [3.0, 1.0]], [1e-3, 1.0]), identity.distribution(), gt.mixture([[0.0, 0.0]], 1.0)
        p_ref = p
    elif case == "narrow flow in broad data":
        p, q, q_ref = gt.mixture([[0.0, 0.0], [2.0, 1.0]], [1.0, 0.7]), narrow.distribution(), gaussian_of_affine_flow(narrow)
        p_ref = p
    elif case == "narrow flow against a flow":
        p, q, q_ref = identity.distribution(), narrow.distribution(), gaussian_of_affine_flow(narrow)
        p_ref = gt.mixture([[0.0, 0.0]], 1.0)
    else:
        far = affine_flow((-6.9, -6.8), (1e4 - 0.2 + 3e-4, 1e4 + 0.3 + 2e-4))
        p, q, q_ref = gt.mixture([[1e4 + 0.3, 1e4 - 0.2]], 1e-3), far.distribution(), gaussian_of_affine_flow(far)
        p_ref = p
    got, ref = FOUR[name](p, q), FOUR[name](p_ref, q_ref)
    assert got.method == ROUTE and ref.method != ROUTE
    assert abs(float(got) - float(ref)) <= got.error + ref.error
    assert got.error <= 1e-6 * max(1.0, abs(float(ref)))  # not honest by being useless


def test_kinks_of_the_data_log_density_do_not_fake_convergence():
    """A thin strip of p_g crosses the ring's Voronoi lines, where log p_data has kinks ~1e-4
    wide: QUADPACK's scaled |K15 − G7| called a box converged that was off by 1.7e-3 against a
    bound of 1e-4; the expectation route now never takes an error below |K15 − G7| itself."""
    strip = affine_flow((-4.0, 2.0), (0.3, -0.7), max_log_scale=5.0)
    ring = gt.ring()
    got, ref = gt.kl(strip.distribution(), ring), gt.kl(gaussian_of_affine_flow(strip), ring)
    assert got.method == ROUTE and ref.method == "quadrature (mixture-aware)"
    assert abs(float(got) - float(ref)) <= got.error + ref.error


def test_the_masses_reveal_what_the_meshes_miss(monkeypatch):
    """With the meshes blind to the other side's narrow pieces, ∫p = ∫q = 1 computed alongside
    falls short, and that defect keeps the bound above the error."""
    from gantheory import _expectations

    monkeypatch.setattr(_expectations, "_narrow", lambda *args: None)
    identity = gt.CouplingFlowGenerator(2, hidden=(8,), generator=gen(0)).double().distribution()
    p = gt.mixture([[0.3, -0.2], [3.0, 1.0]], [1e-3, 1.0])
    for f in (gt.jsd, gt.kl, lambda p, q: gt.kl(q, p)):
        got, ref = f(p, identity), f(p, gt.mixture([[0.0, 0.0]], 1.0))
        assert abs(float(got) - float(ref)) > 1e-7  # the feature was missed ...
        assert abs(float(got) - float(ref)) <= got.error + ref.error  # ... and the bound says so


def test_a_float32_flow_gets_a_float32_bound():
    """The same weights in float32 and float64: the float32 value is off by ~1e-8, and its bound
    (floored at 10 ε of float32, rounding scaled by its ε) says so."""
    G = random_flow(6, transforms=3, scale=0.8).float()
    for f in (gt.jsd, gt.kl, lambda p, q: gt.kl(q, p)):
        low, high = f(P_DATA, G.distribution(torch.float32)), f(P_DATA, G.distribution(torch.float64))
        assert low.method == high.method == ROUTE
        assert abs(float(low) - float(high)) <= low.error + high.error
        assert low.error >= 10 * torch.finfo(torch.float32).eps * abs(float(high)) / 2


def test_chi_square_and_other_densities_keep_their_own_routes():
    """Power tails (χ²) are not bounded by the expectation route; a spline flow is not a
    pushforward with known bounds: both go to box quadrature."""
    q = random_flow(7).distribution()
    assert gt.f_divergence(P_DATA, q, "pearson").method == "quadrature (box)"
    nsf = gt.FlowGenerator(2, transforms=1, hidden=(8,), generator=gen(8)).distribution()
    assert gt.jsd(P_DATA, nsf, atol=1e-6, rtol=1e-6).method == "quadrature (box)"
    assert gt.jsd(q, random_flow(9).distribution()).method == ROUTE  # a flow on both sides
