"""Tests of gantheory.models: networks, exact-density generators, the KDE."""

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gantheory as gt


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def same_parameters(a, b):
    pa, pb = list(a.parameters()), list(b.parameters())
    return len(pa) == len(pb) and all(torch.equal(x, y) for x, y in zip(pa, pb))


# --- MLPs ------------------------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["relu", "leaky_relu", "tanh", "maxout"])
@pytest.mark.parametrize("pack", [1, 3])
def test_mlp_discriminator_returns_one_logit_per_input(activation, pack):
    D = gt.mlp_discriminator(2, widths=(16, 8), activation=activation, pack=pack, generator=gen())
    assert D(torch.randn(7, 2 * pack, generator=gen(1))).shape == (7,)
    assert D(torch.randn(7, pack, 2, generator=gen(1))).shape == (7,)


def test_maxout_unit_is_the_max_over_its_pieces():
    D = gt.mlp_discriminator(1, widths=(3,), activation="maxout", pieces=4, generator=gen())
    maxout, out = D.body[0], D.body[1]
    x = torch.randn(5, 1, generator=gen(2))
    pre = x @ maxout.linear.weight.T + maxout.linear.bias  # (5, 3 * 4), unit-major
    h = pre.reshape(5, 3, 4).max(dim=-1).values
    torch.testing.assert_close(D(x), (h @ out.weight.T + out.bias)[:, 0])


def test_pacgan_networks_have_the_published_sizes():
    """PacGAN (Lin et al. 2018): G 4 x 400 with batch norm; D 3 maxout layers of 200 x 5 pieces."""
    G = gt.mlp_generator(2, 2, widths=(400,) * 4, batch_norm=True, generator=gen())
    D = gt.mlp_discriminator(
        2, widths=(200,) * 3, activation="maxout", pieces=5, pack=2, generator=gen()
    )
    assert sum(isinstance(m, torch.nn.BatchNorm1d) for m in G.modules()) == 4
    assert G(torch.randn(8, 2, generator=gen())).shape == (8, 2)
    first = D.body[0].linear
    assert (first.in_features, first.out_features) == (4, 1000)


def test_mlp_init_comes_from_the_generator_only():
    state = torch.get_rng_state()
    a = gt.mlp_generator(3, 2, widths=(8, 8), generator=gen(5))
    b = gt.mlp_generator(3, 2, widths=(8, 8), generator=gen(5))
    c = gt.mlp_generator(3, 2, widths=(8, 8), generator=gen(6))
    assert torch.equal(state, torch.get_rng_state())  # global random state untouched
    assert same_parameters(a, b)
    assert not same_parameters(a, c)


def test_mlp_init_follows_the_documented_uniform_bound():
    D = gt.mlp_discriminator(1, widths=(1000,), generator=gen())
    w = D.body[2].weight.detach()  # (1, 1000): fan_in 1000
    bound = 1 / math.sqrt(1000)
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.95 * bound


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: gt.mlp_generator(0, 1), "noise_dim"),
        (lambda: gt.mlp_generator(2, 1, activation="maxout"), "activation"),
        (lambda: gt.mlp_discriminator(2, activation="sigmoid"), "activation"),
        (lambda: gt.mlp_discriminator(2, pack=0), "pack"),
        (lambda: gt.mlp_discriminator(2, widths=(8, -1)), "widths"),
        (lambda: gt.AffineGenerator(2, loc=[1.0, 2.0, 3.0]), "loc"),
        (lambda: gt.AffineGenerator(2, scale=[[1.0, 1.0], [1.0, 1.0]]), "scale"),
        (lambda: gt.AffineGenerator(1, loc=float("nan")), "loc"),
        (lambda: gt.FlowGenerator(2, transforms=0), "transforms"),
    ],
)
def test_bad_arguments_raise_naming_the_argument(call, match):
    with pytest.raises((ValueError, TypeError), match=match):
        call()


# --- exact-density generators ------------------------------------------------------------------


def change_of_variables_log_prob(G, z):
    """log p_g(G(z)) = log N(z; 0, I) - log |det dG/dz|, the Jacobian by autograd (per sample)."""
    jac = torch.func.vmap(torch.func.jacrev(lambda v: G(v[None])[0]))(z)  # (n, d, d)
    log_det = torch.linalg.slogdet(jac).logabsdet
    log_base = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum(-1)
    return log_base - log_det


def random_coupling_flow(seed, *, dim=2, transforms=3, scale=0.5, hidden=(16, 16)):
    """A float64 coupling flow whose output layers are drawn too (they start at zero)."""
    G = gt.CouplingFlowGenerator(dim, transforms=transforms, hidden=hidden, generator=gen(seed))
    with torch.no_grad():
        for c in G.conditioners:
            last = c.net[-1]
            last.weight.normal_(0.0, scale / math.sqrt(last.in_features), generator=gen(seed + 1))
            last.bias.normal_(0.0, scale, generator=gen(seed + 2))
    return G.double()


@pytest.mark.parametrize(
    ("dim", "kind"),
    [(1, "affine"), (2, "affine"), (1, "flow"), (2, "flow"), (2, "coupling"), (3, "coupling")],
)
def test_exact_density_matches_the_sampler_by_change_of_variables(dim, kind):
    """G.distribution() is the push-forward of N(0, I) through G (to float64 rounding)."""
    if kind == "affine":
        scale = 0.7 if dim == 1 else [[0.8, 0.0], [0.5, 1.3]]
        G = gt.AffineGenerator(dim, loc=0.3, scale=scale)
    elif kind == "coupling":
        G = random_coupling_flow(3, dim=dim, scale=1.0)
    else:
        G = gt.FlowGenerator(dim, transforms=2, hidden=(16,), generator=gen(3))
    G = G.double()
    z = torch.randn(64, dim, generator=gen(4), dtype=torch.float64)
    with torch.no_grad():
        x = G(z)
    expected = change_of_variables_log_prob(G, z)
    p_g = G.distribution()
    got = p_g.log_prob(x[:, 0] if dim == 1 else x)
    assert p_g.event_shape == (() if dim == 1 else (dim,))
    torch.testing.assert_close(got, expected.detach(), rtol=1e-9, atol=1e-9)


def test_flow_density_integrates_to_one_in_1d():
    G = gt.FlowGenerator(1, generator=gen(7))
    x = torch.linspace(-12, 12, 200_001, dtype=torch.float64)
    with torch.no_grad():
        mass = torch.trapezoid(G.distribution().log_prob(x).exp(), x)
    assert abs(float(mass) - 1.0) < 1e-6


def test_flow_distribution_is_differentiable_in_its_own_dtype():
    G = gt.FlowGenerator(2, hidden=(8,), generator=gen())
    p_g = G.distribution(torch.float32)
    p_g.log_prob(torch.zeros(3, 2)).sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    assert G.distribution().log_prob(torch.zeros(3, 2, dtype=torch.float64)).dtype == torch.float64


def test_affine_distribution_is_differentiable_and_exact():
    G = gt.AffineGenerator(2, loc=[1.0, -1.0], scale=[[1.0, 0.0], [0.5, 2.0]])
    p_g = G.distribution()
    torch.testing.assert_close(
        p_g.covariance_matrix, torch.tensor([[1.0, 0.5], [0.5, 4.25]], dtype=torch.float64)
    )
    p_g.log_prob(torch.zeros(2, dtype=torch.float64)).backward()
    assert G.loc.grad is not None and G.weight.grad is not None


def test_flow_init_is_seeded_and_leaves_global_state_alone():
    state = torch.get_rng_state()
    a = gt.FlowGenerator(2, hidden=(8,), generator=gen(1))
    b = gt.FlowGenerator(2, hidden=(8,), generator=gen(1))
    assert torch.equal(state, torch.get_rng_state())
    assert same_parameters(a, b)


# --- coupling flows ------------------------------------------------------------------------------


def test_coupling_flow_inverts_exactly_and_its_log_dets_cancel():
    G = random_coupling_flow(1, transforms=4, scale=1.5)
    z = 3 * torch.randn(500, 2, generator=gen(2), dtype=torch.float64)
    with torch.no_grad():
        x, log_det = G.forward_and_log_det(z)
        back, log_det_inv = G.inverse_and_log_det(x)
    torch.testing.assert_close(back, z, rtol=0, atol=1e-11)
    torch.testing.assert_close(log_det + log_det_inv, torch.zeros(500, dtype=torch.float64), rtol=0, atol=1e-12)
    q = G.distribution()
    x2, log_r = q.from_base(z)
    torch.testing.assert_close(q.log_prob(x2), log_r, rtol=0, atol=1e-11)


def test_coupling_flow_starts_as_the_identity():
    G = gt.CouplingFlowGenerator(2, generator=gen(4))
    z = torch.randn(20, 2, generator=gen(5))
    assert torch.equal(G(z), z)
    q = G.distribution()
    x = torch.randn(20, 2, generator=gen(6), dtype=torch.float64)
    expected = torch.distributions.Normal(0.0, 1.0).log_prob(x).sum(-1).to(torch.float64)
    torch.testing.assert_close(q.log_prob(x), expected, rtol=0, atol=1e-14)


def test_coupling_flow_density_integrates_to_one():
    from gantheory import _quadrature as quad

    q = random_coupling_flow(7, scale=1.0).distribution()
    lo, hi = torch.full((1, 2), -40.0, dtype=torch.float64), torch.full((1, 2), 40.0, dtype=torch.float64)
    lo, hi = quad.grid_boxes(lo, hi, 20)
    with torch.no_grad():
        mass = quad.integrate(lambda x: q.log_prob(x).exp()[:, None], lo, hi, atol=1e-12, rtol=1e-12)
    assert mass.converged
    assert abs(float(mass.values[0]) - 1.0) < 1e-10


@given(seed=st.integers(0, 10_000), scale=st.floats(0.05, 3.0), transforms=st.integers(1, 5),
       reach=st.floats(0.0, 4.0))  # fmt: skip
def test_coupling_flow_envelope_bounds_its_density_and_its_reach_everywhere(seed, scale, transforms, reach):
    """lower - curvature |x|^2 / 2 <= log p_g(x) <= upper, and |G(z)|^2 <= a |z|^2 + b, for points
    near and far (up to |x| ~ 10^4): the a-priori bounds that make the KL tails rigorous."""
    G = random_coupling_flow(seed, transforms=transforms, scale=scale)
    q, env = G.distribution(), G.envelope()
    g = gen(seed + 3)
    pts = torch.randn(400, 2, generator=g, dtype=torch.float64) * 10 ** (reach * torch.rand(400, 1, generator=g, dtype=torch.float64))
    with torch.no_grad():
        log_p = q.log_prob(pts)
        x = G(pts)
    square = (pts**2).sum(1)
    slack = 1e-9 * (1 + log_p.abs())
    assert bool((log_p <= env.upper + slack).all())
    assert bool((log_p >= env.lower - 0.5 * env.curvature * square - slack).all())
    assert bool(((x**2).sum(1) <= (env.reach_scale * square + env.reach_shift) * (1 + 1e-12)).all())


def test_coupling_flow_init_is_seeded_and_leaves_global_state_alone():
    state = torch.get_rng_state()
    a = gt.CouplingFlowGenerator(2, hidden=(8,), generator=gen(1))
    b = gt.CouplingFlowGenerator(2, hidden=(8,), generator=gen(1))
    assert torch.equal(state, torch.get_rng_state())
    assert same_parameters(a, b)


def test_coupling_flow_distribution_is_differentiable_and_samples_reproducibly():
    G = gt.CouplingFlowGenerator(2, hidden=(8,), generator=gen())
    G.distribution(torch.float32).log_prob(torch.ones(3, 2)).sum().backward()
    assert all(p.grad is not None for p in G.parameters())
    q = random_coupling_flow(2).distribution()
    torch.manual_seed(0)
    a = q.sample((5,))
    torch.manual_seed(0)
    assert torch.equal(a, q.sample((5,))) and a.shape == (5, 2)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(dim=1), "dim must be >= 2"),
        (dict(dim=2, hidden=()), "hidden must hold"),
        (dict(dim=2, max_log_scale=0.0), "max_log_scale"),
        (dict(dim=2, max_log_scale=math.inf), "max_log_scale"),
        (dict(dim=2, max_log_scale="2"), "max_log_scale"),
        (dict(dim=2, max_log_scale=True), "max_log_scale"),
        (dict(dim=2, transforms=0), "transforms"),
        (dict(dim=2, hidden=(8, 0)), "hidden\\[1\\]"),
    ],
)
def test_coupling_flow_rejects_bad_sizes(kwargs, message):
    with pytest.raises((TypeError, ValueError), match=message):
        gt.CouplingFlowGenerator(**kwargs)


def test_coupling_flow_density_names_bad_points():
    q = gt.CouplingFlowGenerator(2, hidden=(8,), generator=gen()).distribution()
    with pytest.raises(ValueError, match=r"shape \(\.\.\., 2\)"):
        q.log_prob(torch.zeros(4, 3, dtype=torch.float64))
    with pytest.raises(TypeError, match="floating-point"):
        q.log_prob(torch.zeros(4, 2, dtype=torch.long))
    assert q.log_prob(torch.zeros(4, 2)).dtype == torch.float64  # float32 points: taken in float64


# --- KDE ---------------------------------------------------------------------------------------


def test_kde_held_out_likelihood_is_near_the_true_entropy():
    """For N(0, 1), E[log p] = -(1 + log 2 pi) / 2; a good KDE's held-out score is a bit below."""
    x = torch.randn(2000, generator=gen(0), dtype=torch.float64)
    kde = gt.gaussian_kde(x, generator=gen(1))
    truth = -0.5 * (1 + math.log(2 * math.pi))
    assert truth - 0.08 < kde.log_likelihood < truth + 3 * kde.log_likelihood_se
    assert 0 < kde.log_likelihood_se < 0.05
    assert int(torch.argmax(kde.held_out_log_likelihood)) not in (0, len(kde.candidates) - 1)


def test_kde_chooses_a_narrower_bandwidth_for_narrow_modes():
    wide = torch.randn(1000, 2, generator=gen(0), dtype=torch.float64)
    narrow = gt.ring(n_modes=4, radius=2.0, std=0.05).sample((1000,))
    h_wide = gt.gaussian_kde(wide, generator=gen(1)).bandwidth
    h_narrow = gt.gaussian_kde(narrow, generator=gen(1)).bandwidth
    assert bool((h_narrow < 0.2 * h_wide).all())


def test_kde_density_standard_error_matches_replicates():
    """density_se predicts the spread of p_hat(x) across independent sample sets (within 35%)."""
    points = torch.tensor([-1.0, 0.0, 1.5], dtype=torch.float64)
    cands = [0.5]
    estimates, predicted = [], []
    for r in range(40):
        x = torch.randn(400, generator=gen(100 + r), dtype=torch.float64)
        kde = gt.gaussian_kde(x, candidates=cands, generator=gen(r))
        estimates.append(kde.distribution.log_prob(points).exp())
        predicted.append(kde.density_se(points))
    spread = torch.stack(estimates).std(dim=0)
    mean_predicted = torch.stack(predicted).mean(dim=0)
    assert bool(((mean_predicted / spread - 1).abs() < 0.35).all()), (mean_predicted, spread)


def test_kde_is_a_normalised_gaussian_mixture():
    x = torch.randn(50, generator=gen(0), dtype=torch.float64)
    kde = gt.gaussian_kde(x, generator=gen(1))
    grid = torch.linspace(-10, 10, 100_001, dtype=torch.float64)
    mass = torch.trapezoid(kde.distribution.log_prob(grid).exp(), grid)
    assert abs(float(mass) - 1) < 1e-9
    assert gt.as_gaussian_mixture(kde.distribution).n_components == 50


@given(st.floats(0.05, 0.95))
def test_kde_accepts_any_held_out_fraction(held_out):
    x = torch.randn(40, 2, generator=gen(0), dtype=torch.float64)
    kde = gt.gaussian_kde(x, held_out=held_out, generator=gen(1))
    assert kde.bandwidth.shape == (2,)
    assert bool(torch.isfinite(kde.held_out_log_likelihood).all())


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(samples=torch.zeros(3)), "at least 4"),
        (dict(samples=torch.zeros(10)), "constant"),
        (dict(samples=torch.randn(10), held_out=1.0), "held_out"),
        (dict(samples=torch.randn(10), candidates=[-1.0]), "candidates"),
        (dict(samples=[1.0, 2.0]), "torch.Tensor"),
    ],
)
def test_kde_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        gt.gaussian_kde(**kwargs)


@pytest.mark.parametrize("setting", [True, False])
def test_importing_gantheory_leaves_torchs_argument_checks_as_they_were(setting):
    # zuko's import switches them off for the whole process; gantheory puts them back
    import subprocess
    import sys

    code = (
        "import torch; from torch.distributions import Distribution; "
        f"Distribution.set_default_validate_args({setting}); import gantheory; "
        f"assert Distribution._validate_args is {setting}, Distribution._validate_args"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
