"""The Dirac-GAN (Mescheder, Geiger & Nowozin 2018): fields, Jacobians, iterations, verdicts.

Every analytic Jacobian and iteration matrix is checked against torch autograd (float64) and
every spectral radius against the rate measured on a simulated trajectory of the real (nonlinear)
update map, started close to the equilibrium (distance 1e-6: the fields are odd in (θ, ψ), so the
map's nonlinear part is O(d³) and changes the measured numbers by ~1e-12 relative).
"""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

import gantheory as gt
from gantheory.dirac import F_PRIME_0, F_SECOND_0

A = F_PRIME_0  # f'(0) = 1/2 for f(t) = -log(1 + exp(-t))

SMOOTH = [
    gt.dirac_gan("gan"),
    gt.dirac_gan("non_saturating"),
    gt.dirac_gan("wgan", clip=2.0),
    gt.dirac_gan("consensus", gamma=0.7),
    gt.dirac_gan("instance_noise", sigma=0.8),
    gt.dirac_gan("r1", gamma=0.3),
    gt.dirac_gan("r2", gamma=2.5),
    gt.dirac_gan("gradient_regulariser", eta=1.3),
]


def _autograd_jacobian(game, x=(0.0, 0.0)):
    x = torch.tensor(x, dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda y: torch.stack(game.field(y[0], y[1])), x)


def _step_jacobian(game, h, method):
    step = gt.simultaneous_step if method == "simultaneous" else gt.alternating_step
    x = torch.zeros(2, dtype=torch.float64)
    return torch.autograd.functional.jacobian(lambda y: step(game, y, h), x)


def _fitted_map(path):
    """The 2x2 linear map M with x_{k+1} = M x_k that best fits the trajectory (least squares):
    exact for a linear iteration, so its spectral radius is the trajectory's contraction rate."""
    X0, X1 = path[:-1], path[1:]
    return torch.linalg.lstsq(X0, X1).solution.T


def _small_start(angle, radius=1e-6):
    return (radius * math.cos(angle), radius * math.sin(angle))


@pytest.mark.parametrize("game", SMOOTH, ids=repr)
def test_analytic_jacobian_matches_autograd(game):
    assert torch.allclose(game.jacobian(), _autograd_jacobian(game), rtol=0, atol=1e-13)


@pytest.mark.parametrize("game", SMOOTH, ids=repr)
@pytest.mark.parametrize("method", gt.DIRAC_METHODS)
@pytest.mark.parametrize("h", [0.01, 0.3, 1.7])
def test_iteration_matrix_matches_autograd_of_the_update_map(game, method, h):
    A_ = gt.iteration_matrix(game, h, method)
    assert torch.allclose(A_, _step_jacobian(game, h, method), rtol=0, atol=1e-13)


@pytest.mark.parametrize("game", SMOOTH, ids=repr)
@pytest.mark.parametrize("method", gt.DIRAC_METHODS)
def test_spectral_radius_equals_the_rate_of_a_simulated_trajectory(game, method):
    """The map fitted to 12 steps of the nonlinear iteration has the analytic spectral radius."""
    h = 0.2
    path = gt.trajectory(game, _small_start(0.3), h=h, steps=12, method=method)
    measured = gt.spectral_radius(_fitted_map(path))
    assert measured == pytest.approx(
        gt.spectral_radius(gt.iteration_matrix(game, h, method)), abs=1e-8
    )


def test_field_vanishes_at_the_equilibrium():
    zero = torch.zeros((), dtype=torch.float64)
    for name in gt.DIRAC_VARIANTS:
        v = gt.dirac_gan(name).field(zero, zero)
        assert float(v[0]) == 0 and float(v[1]) == 0, name


def test_standard_f_derivatives():
    t = torch.zeros((), dtype=torch.float64, requires_grad=True)
    f = -torch.nn.functional.softplus(-t)
    (d1,) = torch.autograd.grad(f, t, create_graph=True)
    (d2,) = torch.autograd.grad(d1, t)
    d1, d2 = d1.detach(), d2.detach()
    assert float(d1) == F_PRIME_0 == 0.5 and float(d2) == F_SECOND_0 == -0.25


def test_field_is_the_gradient_of_V_for_the_minimax_gan():
    """v = (-dV/dθ, dV/dψ) with V = f(ψθ) + f(0), by autograd at a few points."""
    game = gt.dirac_gan("gan")
    for th, ps in [(0.3, -1.2), (2.0, 0.7), (-1.5, -0.4)]:
        x = torch.tensor([th, ps], dtype=torch.float64, requires_grad=True)
        V = -torch.nn.functional.softplus(-x[1] * x[0]) - math.log(2)
        (g,) = torch.autograd.grad(V, x)
        v = game.field(x[0].detach(), x[1].detach())
        assert float(v[0]) == pytest.approx(-float(g[0]), abs=1e-15)
        assert float(v[1]) == pytest.approx(float(g[1]), abs=1e-15)


def test_consensus_field_is_v_minus_gamma_grad_half_norm_squared():
    gan, gamma = gt.dirac_gan("gan"), 0.9
    game = gt.dirac_gan("consensus", gamma=gamma)
    x = torch.tensor([0.8, -1.1], dtype=torch.float64, requires_grad=True)
    v = torch.stack(gan.field(x[0], x[1]))
    (grad_L,) = torch.autograd.grad(0.5 * (v**2).sum(), x)
    w = torch.stack(game.field(x[0].detach(), x[1].detach()))
    assert torch.allclose(w, v.detach() - gamma * grad_L, rtol=0, atol=1e-15)


def test_gradient_regulariser_field_is_the_gradient_of_the_penalised_generator_loss():
    eta = 0.6
    game = gt.dirac_gan("gradient_regulariser", eta=eta)
    x = torch.tensor([0.8, -1.1], dtype=torch.float64, requires_grad=True)
    V = -torch.nn.functional.softplus(-x[1] * x[0])
    (dV,) = torch.autograd.grad(V, x, create_graph=True)
    (g,) = torch.autograd.grad(V + eta * dV[1] ** 2, x)
    v = game.field(x[0].detach(), x[1].detach())
    assert float(v[0]) == pytest.approx(-float(g[0]), abs=1e-15)


def test_instance_noise_field_matches_a_fine_quadrature():
    coarse = gt.dirac_gan("instance_noise", sigma=0.7)
    fine = gt.dirac_gan("instance_noise", sigma=0.7, nodes=200)
    th, ps = torch.tensor(0.9, dtype=torch.float64), torch.tensor(-1.3, dtype=torch.float64)
    for a, b in zip(coarse.field(th, ps), fine.field(th, ps)):
        assert float(a) == pytest.approx(float(b), abs=1e-12)


# --- the published facts ---------------------------------------------------------------------


def test_unregularised_gan_eigenvalues_are_plus_minus_i_f_prime_0():
    for name in ("gan", "non_saturating"):
        lam = sorted(gt.dirac_gan(name).eigenvalues().tolist(), key=lambda z: z.imag)
        assert lam[0] == pytest.approx(complex(0, -A), abs=1e-15)
        assert lam[1] == pytest.approx(complex(0, A), abs=1e-15)
        assert A == 0.5


@given(h=st.floats(1e-3, 2.0), angle=st.floats(0, 2 * math.pi))
def test_simultaneous_gd_grows_the_distance_by_sqrt_1_plus_h2_a2(h, angle):
    """Linearised: I + hJ = sqrt(1 + h²a²) × a rotation, so every step multiplies the distance by
    exactly sqrt(1 + h²a²); the nonlinear iterate from distance 1e-6 does the same to 1e-8."""
    growth = math.sqrt(1 + h**2 * A**2)
    M = gt.iteration_matrix(gt.dirac_gan("gan"), h, "simultaneous")
    assert torch.allclose(M.T @ M, growth**2 * torch.eye(2, dtype=torch.float64), atol=1e-14)
    assert gt.spectral_radius(M) == pytest.approx(growth, abs=1e-14)
    steps = max(1, min(50, int(math.log(10) / math.log(growth))))  # the distance stays <= 1e-5
    path = gt.trajectory(gt.dirac_gan("gan"), _small_start(angle), h=h, steps=steps)
    d = path.norm(dim=1)
    ratios = d[1:] / d[:-1]
    assert torch.allclose(ratios, torch.full_like(ratios, growth), rtol=0, atol=1e-8)


@given(h=st.floats(1e-3, 3.9), angle=st.floats(0, 2 * math.pi))
def test_alternating_gd_cycles_inside_a_band(h, angle):
    """det A = 1 and |tr A| = |2 − h²a²| < 2 for h < 2/a: both eigenvalues lie on the unit
    circle, so ‖x_k‖ stays within [‖x_0‖/κ, κ‖x_0‖], κ the condition number of A's eigenvectors."""
    M = gt.iteration_matrix(gt.dirac_gan("gan"), h, "alternating")
    lam, V = torch.linalg.eig(M)
    assert torch.allclose(lam.abs(), torch.ones(2, dtype=torch.float64), rtol=0, atol=1e-12)
    kappa = float(torch.linalg.cond(V))
    path = gt.trajectory(
        gt.dirac_gan("gan"), _small_start(angle), h=h, steps=400, method="alternating"
    )
    d = path.norm(dim=1) / path[0].norm()
    slack = 1e-6
    assert float(d.max()) <= kappa * (1 + slack)
    assert float(d.min()) >= (1 - slack) / kappa


def test_alternating_gd_unit_circle_ends_at_h_2_over_a():
    assert gt.spectral_radius(
        gt.iteration_matrix(gt.dirac_gan("gan"), 3.99, "alternating")
    ) == pytest.approx(1, abs=1e-12)
    assert gt.spectral_radius(gt.iteration_matrix(gt.dirac_gan("gan"), 4.01, "alternating")) > 1.1


@given(gamma=st.floats(0.0, 5.0, allow_subnormal=False))
def test_r1_eigenvalues_closed_form(gamma):
    lam = sorted(
        gt.dirac_gan("r1", gamma=gamma).eigenvalues().tolist(), key=lambda z: (z.real, z.imag)
    )
    root = complex(gamma**2 / 4 - A**2) ** 0.5
    expected = sorted([-gamma / 2 + root, -gamma / 2 - root], key=lambda z: (z.real, z.imag))
    tol = 1e-12 if abs(gamma - 2 * A) > 1e-3 else 1e-7  # a double root is ill-conditioned
    for got, want in zip(lam, expected):
        assert got == pytest.approx(want, abs=tol)


def test_r1_is_critically_damped_at_gamma_2a():
    J = gt.dirac_gan("r1", gamma=2 * A).jacobian()
    # a double eigenvalue -a: trace -2a, determinant a²
    assert float(torch.trace(J)) == -2 * A and float(torch.det(J)) == pytest.approx(A**2, abs=1e-16)
    assert gt.dirac_gan("r1", gamma=2 * A - 1e-3).eigenvalues().imag.abs().max() > 0
    assert gt.dirac_gan("r1", gamma=2 * A + 1e-3).eigenvalues().imag.abs().max() == 0


@given(
    gamma=st.floats(0.05, 5.0).filter(lambda g: abs(g - 2 * A) > 0.1),
    fraction=st.floats(0.05, 0.45),
    angle=st.floats(0, 2 * math.pi),
)
def test_r1_converges_below_the_stability_bound_at_the_spectral_radius(gamma, fraction, angle):
    """For h below h̄ = min −2 Re λ / |λ|², simultaneous GD on R1 converges at rate ρ(I + hJ):
    the map fitted to the trajectory has spectral radius ρ (1e-8), and the distance after N steps
    obeys ‖x_N‖ / ‖x_M‖ ≤ κ ρ^(N−M) (κ: condition number of the eigenvectors), and ≥ ρ^(N−M) / κ
    when the eigenvalues are a complex pair (both of modulus ρ)."""
    game = gt.dirac_gan("r1", gamma=gamma)
    h = fraction * gt.stability_bound(game)
    M = gt.iteration_matrix(game, h)
    rho = gt.spectral_radius(M)
    assert rho < 1
    path = gt.trajectory(game, _small_start(angle), h=h, steps=60)
    assert gt.spectral_radius(_fitted_map(path[:12])) == pytest.approx(rho, abs=1e-8)
    kappa = float(torch.linalg.cond(torch.linalg.eig(M)[1]))
    d = path.norm(dim=1)
    ratio = float(d[60] / d[20])
    assert ratio <= rho**40 * kappa * (1 + 1e-6)
    if gamma < 2 * A:  # a complex pair: both eigenvalues have modulus ρ, so a lower bound too
        assert ratio >= rho**40 / kappa * (1 - 1e-6)
    result = gt.analyse(game, h=h, start=_small_start(angle), steps=60)
    assert result.verdict == "converges" and result.rate == rho


@pytest.mark.parametrize("method", gt.DIRAC_METHODS)
@pytest.mark.parametrize(
    "game",
    [gt.dirac_gan("r1", gamma=0.4), gt.dirac_gan("consensus", gamma=1.0),
     gt.dirac_gan("instance_noise", sigma=1.5), gt.dirac_gan("r1", gamma=3.0),
     gt.dirac_gan("gradient_regulariser", eta=0.5), gt.dirac_gan("consensus", gamma=6.0)],
    ids=repr,
)  # fmt: skip
def test_stability_bound_is_where_the_radius_crosses_one(game, method):
    bound = gt.stability_bound(game, method)
    assert 0 < bound < math.inf
    hs = torch.linspace(0, bound, 202, dtype=torch.float64)[1:-1].tolist() + [bound * (1 - 1e-6)]
    assert all(gt.spectral_radius(gt.iteration_matrix(game, h, method)) < 1 for h in hs)
    assert gt.spectral_radius(gt.iteration_matrix(game, bound * (1 + 1e-6), method)) > 1


@given(gamma=st.floats(0.01, 10.0))
def test_r1_alternating_bound_closed_form(gamma):
    """Jury's criterion on A = A_ψ A_θ for R1: det A = 1 − hγ, tr A = 2 − hγ − h²a², so
    h̄ = min(2/γ, (√(γ² + 4a²) − γ)/a²)."""
    game = gt.dirac_gan("r1", gamma=gamma)
    expected = min(2 / gamma, (math.sqrt(gamma**2 + 4 * A**2) - gamma) / A**2)
    assert gt.stability_bound(game, "alternating") == pytest.approx(expected, rel=1e-10)


def test_unregularised_variants_have_no_stable_step():
    for name in ("gan", "non_saturating", "wgan"):
        for method in gt.DIRAC_METHODS:
            assert gt.stability_bound(gt.dirac_gan(name), method) == 0.0


def test_stability_bound_examples():
    lam = -1.0 * A**2 + 1j * A  # consensus with γ = 1: −γa² ± ai
    assert gt.stability_bound(gt.dirac_gan("consensus", gamma=1.0)) == pytest.approx(
        -2 * lam.real / abs(lam) ** 2, abs=1e-14
    )


def test_consensus_and_instance_noise_and_gradient_regulariser_eigenvalues():
    gamma, sigma, eta = 0.7, 0.8, 1.3

    def srt(z):
        return sorted(z.tolist(), key=lambda c: c.imag)

    got = srt(gt.dirac_gan("consensus", gamma=gamma).eigenvalues())
    assert got == pytest.approx([complex(-gamma * A**2, -A), complex(-gamma * A**2, A)], abs=1e-14)
    c = F_SECOND_0 * sigma**2
    root = complex(c**2 - A**2) ** 0.5
    got = srt(gt.dirac_gan("instance_noise", sigma=sigma).eigenvalues())
    assert got == pytest.approx(sorted([c - root, c + root], key=lambda z: z.imag), abs=1e-14)
    c = -eta * A**2
    root = complex(c**2 - A**2) ** 0.5
    got = srt(gt.dirac_gan("gradient_regulariser", eta=eta).eigenvalues())
    assert got == pytest.approx(sorted([c - root, c + root], key=lambda z: z.imag), abs=1e-14)


# --- verdicts -----------------------------------------------------------------------------


@pytest.mark.parametrize("method", gt.DIRAC_METHODS)
def test_verdicts_of_mescheder_et_al_2018(method):
    """Unregularised GAN, WGAN, WGAN-GP: not convergent; consensus, instance noise, R1, R2 and
    the gradient regulariser: convergent for small h."""
    h = 0.1
    expect_not = {"gan", "non_saturating", "wgan", "wgan_gp"}
    for name in gt.DIRAC_VARIANTS:
        result = gt.analyse(gt.dirac_gan(name), h=h, method=method, steps=2000)
        if name in expect_not:
            assert result.verdict in ("cycles", "diverges", "shrinks slowly"), (
                name,
                result.summary,
            )
            if result.basis == "trajectory" and gt.dirac_gan(name).smooth:
                assert abs(result.spectral_radius - 1) < 1e-12  # only ρ = 1 leaves it undecided
            if result.basis == "linearisation":
                assert result.verdict == "diverges" and result.spectral_radius > 1
            assert result.distance_end > 0.1 * result.distance_start
        else:
            assert result.verdict == "converges", (name, result.summary)
            assert result.distance_end < 1e-12


def test_gan_simultaneous_verdict_and_alternating_verdict():
    sim = gt.analyse(gt.dirac_gan("gan"), h=0.1, method="simultaneous")
    alt = gt.analyse(gt.dirac_gan("gan"), h=0.1, method="alternating")
    assert sim.verdict == "diverges" and sim.basis == "linearisation"
    assert sim.rate == pytest.approx(math.sqrt(1 + 0.01 * A**2), abs=1e-14)
    assert alt.verdict == "cycles" and alt.basis == "trajectory"


def test_wgan_clipping_keeps_psi_in_the_box_and_does_not_converge():
    game = gt.dirac_gan("wgan", clip=0.5)
    path = gt.trajectory(game, (1.0, 0.2), h=0.1, steps=2000)
    assert float(path[:, 1].abs().max()) <= 0.5
    result = gt.analyse(game, h=0.1, start=(1.0, 0.2), steps=2000)
    assert result.basis == "trajectory" and result.verdict != "converges"


def test_an_overflowing_trajectory_is_a_divergence():
    """WGAN-GP with h = 3 overflows to inf (then inf − inf = nan): the verdict says so."""
    result = gt.analyse(gt.dirac_gan("wgan_gp"), h=3.0, steps=2000)
    assert result.verdict == "diverges" and result.distance_end == math.inf
    assert result.measured_rate is None


def test_result_to_dict_is_json_ready():
    import json

    result = gt.analyse(gt.dirac_gan("r1"), h=0.1, steps=10, keep_trajectory=True)
    data = json.loads(json.dumps(result.to_dict()))
    assert data["verdict"] == "converges" and len(data["trajectory"]) == 11
    assert data["summary"].startswith("converges at rate 0.95")
    assert gt.analyse(gt.dirac_gan("wgan_gp"), h=0.1, steps=10).to_dict()["eigenvalues"] is None


# --- bad input ----------------------------------------------------------------------------


def test_unknown_variant_lists_the_valid_names():
    with pytest.raises(ValueError, match="'gan'.*'r1'.*got 'r3'"):
        gt.dirac_gan("r3")


@pytest.mark.parametrize(
    ("name", "params", "error", "match"),
    [
        ("r1", {"gamma": -1.0}, ValueError, "gamma must be a finite number >= 0"),
        ("r1", {"gamma": float("nan")}, ValueError, "gamma"),
        ("consensus", {"gamma": float("inf")}, ValueError, "gamma"),
        ("instance_noise", {"sigma": 0.0}, ValueError, "sigma"),
        ("wgan", {"clip": -1.0}, ValueError, "clip"),
        ("r1", {"eta": 1.0}, TypeError, "takes gamma; got eta"),
        ("gan", {"gamma": 1.0}, TypeError, "no parameters"),
    ],
)
def test_bad_parameters_are_named(name, params, error, match):
    with pytest.raises(error, match=match):
        gt.dirac_gan(name, **params)


def test_bad_steps_and_starts_are_named():
    game = gt.dirac_gan("gan")
    with pytest.raises(ValueError, match="h must be a finite number > 0"):
        gt.trajectory(game, (1.0, 1.0), h=0.0, steps=3)
    with pytest.raises(ValueError, match="h must"):
        gt.iteration_matrix(game, -0.1)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        gt.trajectory(game, (1.0, 1.0), h=0.1, steps=0)
    with pytest.raises(ValueError, match="method must be one of 'simultaneous', 'alternating'"):
        gt.analyse(game, h=0.1, method="adam")
    with pytest.raises(ValueError, match=r"start must be a point .* shape \(2,\)"):
        gt.trajectory(game, (1.0, 1.0, 1.0), h=0.1, steps=3)
    with pytest.raises(ValueError, match="start must be finite"):
        gt.trajectory(game, (1.0, float("nan")), h=0.1, steps=3)
    with pytest.raises(ValueError, match="no Jacobian"):
        gt.stability_bound(gt.dirac_gan("wgan_gp"))
    with pytest.raises(ValueError, match="h must"):
        gt.simultaneous_step(game, torch.zeros(2, dtype=torch.float64), float("nan"))
    with pytest.raises(ValueError, match="h must"):
        gt.alternating_step(game, torch.zeros(2, dtype=torch.float64), -1.0)
    with pytest.raises(ValueError, match="square"):
        gt.spectral_radius(torch.zeros(2, 3))
    for step in (gt.simultaneous_step, gt.alternating_step):
        with pytest.raises(TypeError, match="x must be a floating torch.Tensor"):
            step(game, [1.0, 1.0], 0.1)
        with pytest.raises(ValueError, match=r"x must have shape \(2,\) or \(\.\.\., 2\)"):
            step(game, torch.zeros(3, dtype=torch.float64), 0.1)
