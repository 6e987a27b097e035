"""Tests of gantheory.game: the joint gradient field's Jacobian against closed forms and finite
differences, and how the regularisers move its eigenvalues."""

import math

import pytest
import torch
from torch import nn

import gantheory as gt
from gantheory.game import game_field, game_jacobian


class DiracGenerator(nn.Module):
    """p_g = delta_theta: G(z) = theta for every z (Mescheder et al. 2018, Section 2)."""

    def __init__(self, theta=0.0):
        super().__init__()
        self.theta = nn.Parameter(torch.tensor([float(theta)]))

    def forward(self, z):
        return self.theta.expand(z.shape[0], 1) + 0.0 * z


def dirac_game(theta=0.0, psi=0.0, n=4):
    """The Dirac-GAN: p_data = delta_0 (x = 0), G = delta_theta, D's logit a(x) = psi x."""
    D = nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        D.weight.fill_(psi)
    return DiracGenerator(theta), D, torch.zeros(n, 1), torch.zeros(n, 1)


def closed_form_jacobian(gamma=0.0, consensus=0.0):
    """At (theta, psi) = (0, 0), for the minimax and non-saturating losses (f'(0) = 1/2):
    v = (sigma(psi theta) psi, -sigma(psi theta) theta - gamma psi) to first order, so
    J = [[0, 1/2], [-1/2, -gamma]]; consensus: J - lambda J^T J = J - (lambda / 4) I."""
    J = torch.tensor([[0.0, 0.5], [-0.5, -gamma]], dtype=torch.float64)
    return J - consensus * J.T @ J


@pytest.mark.parametrize("loss", ["minimax", "non_saturating"])
@pytest.mark.parametrize(
    ("r1", "r2", "consensus"), [(0, 0, 0), (0.3, 0, 0), (0, 2.5, 0), (0, 0, 0.7), (0.6, 0, 0.4)]
)
def test_dirac_gan_jacobian_and_eigenvalues_equal_closed_forms(loss, r1, r2, consensus):
    # (gamma = 1 would be critically damped: a double eigenvalue, which rounding moves by ~sqrt(eps))
    G, D, x, z = dirac_game()
    h = 0.1
    game = game_jacobian(G, D, x, z, loss=loss, r1=r1, r2=r2, consensus=consensus, step=h)
    gamma = r1 + r2  # for D(x) = psi x, ||grad_x a||^2 = psi^2 at the data and at the fakes
    J, J0 = closed_form_jacobian(gamma, 0.0), closed_form_jacobian(0.0, 0.0)
    expected_J = J - consensus * J0.T @ J0  # consensus on the field without R1/R2, as train does
    assert torch.allclose(game.jacobian, expected_J, atol=1e-14)
    # eigenvalues of [[-c, 1/2], [-1/2, -gamma - c]], c = lambda / 4 (J^T J = diag(1/4, 1/4 + gamma^2)
    # only when gamma = 0; in general use the 2x2 formula)
    a, b, c, d = expected_J.flatten().tolist()
    tr, det = a + d, a * d - b * c
    disc = complex(tr * tr / 4 - det) ** 0.5
    expected = sorted([tr / 2 + disc, tr / 2 - disc], key=lambda e: (-e.real, -e.imag))
    ours = sorted(game.eigenvalues.tolist(), key=lambda e: (-e.real, -e.imag))
    for e, f in zip(ours, expected):
        assert abs(e - f) < 1e-12
    assert game.max_real == pytest.approx(max(e.real for e in expected), abs=1e-12)
    assert game.spectral_radius == pytest.approx(max(abs(1 + h * e) for e in expected), abs=1e-12)
    assert game.field_norm == 0.0


def test_unregularised_dirac_gan_has_eigenvalues_plus_minus_i_over_2_and_expands():
    """Mescheder et al. 2018, Section 2: eigenvalues +-f'(0) i = +-i/2; simultaneous GD grows the
    distance by sqrt(1 + h^2 f'(0)^2) per step; R1 gives -gamma/2 +- sqrt(gamma^2/4 - f'(0)^2)."""
    G, D, x, z = dirac_game()
    h = 0.3
    game = game_jacobian(G, D, x, z, loss="minimax", step=h)
    assert sorted(game.eigenvalues.imag.tolist()) == pytest.approx([-0.5, 0.5], abs=1e-14)
    assert game.eigenvalues.real.abs().max() < 1e-14
    assert game.spectral_radius == pytest.approx(math.sqrt(1 + h * h / 4), abs=1e-14)
    for gamma in (0.4, 1.0, 3.0):
        r1 = game_jacobian(G, D, x, z, loss="minimax", r1=gamma, step=h)
        root = complex(gamma**2 / 4 - 0.25) ** 0.5
        expected = sorted([-gamma / 2 + root, -gamma / 2 - root], key=lambda e: (e.real, e.imag))
        ours = sorted(r1.eigenvalues.tolist(), key=lambda e: (e.real, e.imag))
        assert all(abs(e - f) < 1e-12 for e, f in zip(ours, expected))


@pytest.mark.parametrize(
    "settings",
    [dict(), dict(r1=0.8), dict(r2=0.5), dict(consensus=0.3), dict(instance_noise=0.2),
     dict(loss="least_squares", r1=0.3, consensus=0.2)],
)
def test_jacobian_equals_central_finite_differences_of_the_field(settings):
    """Away from equilibrium, on an affine G and a tanh MLP D: J against (v(t + e) - v(t - e)) / 2e."""
    torch.manual_seed(0)
    G = gt.AffineGenerator(1, loc=0.4, scale=1.3)
    D = gt.mlp_discriminator(1, widths=(5,), activation="tanh",
                             generator=torch.Generator().manual_seed(3))
    gen = torch.Generator().manual_seed(1)
    x, z = torch.randn(32, 1, generator=gen), torch.randn(32, 1, generator=gen)
    kw = dict(settings, generator=torch.Generator().manual_seed(5))
    game = game_jacobian(G, D, x, z, **kw)
    field = game_field(G, D, x, z, **dict(settings, generator=torch.Generator().manual_seed(5)))
    eps = 1e-6
    theta = field.theta
    columns = []
    for i in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[i] = eps
        columns.append((field(theta + e) - field(theta - e)) / (2 * eps))
    fd = torch.stack(columns, 1)
    assert torch.allclose(game.jacobian, fd, atol=1e-8, rtol=0)
    assert game.n_g == 2 and game.n_d == 5 + 5 + 5 + 1  # W1, b1, W2 (5 each), b2


def test_r1_moves_the_eigenvalues_of_a_network_game_left():
    """At an equilibrium of a real small game (p_g = p_data on the same sample, D's output layer
    zero so a = 0: v = 0), R1 subtracts gamma times the Gauss-Newton matrix of
    (1/2) E ||grad_x a||^2 from the D-D block: the trace (sum of real parts) drops by exactly
    gamma tr(H), H = grad_psi^2 (1/2) E ||grad_x a||^2 >= 0, and the largest real part does not
    grow."""
    G = gt.AffineGenerator(1)
    D = gt.mlp_discriminator(1, widths=(6,), activation="tanh",
                             generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        D.body[-1].weight.zero_()
        D.body[-1].bias.zero_()
    x = torch.randn(64, 1, generator=torch.Generator().manual_seed(0))
    plain = game_jacobian(G, D, x, x.clone())
    assert plain.field_norm < 1e-15
    gamma = 0.7
    reg = game_jacobian(G, D, x, x.clone(), r1=gamma)
    params = dict(D.named_parameters())
    names = list(params)
    flat = torch.cat([p.detach().double().reshape(-1) for p in params.values()])
    sizes = [p.numel() for p in params.values()]

    def half_penalty(theta):
        pd = {k: t.reshape(params[k].shape) for k, t in zip(names, torch.split(theta, sizes))}
        grad = torch.func.grad(
            lambda p: torch.func.functional_call(D, pd, (p,)).sum()
        )(x.double())
        return 0.5 * grad.square().sum(-1).mean()

    H = torch.func.hessian(half_penalty)(flat)
    trace_drop = float(plain.jacobian.trace() - reg.jacobian.trace())
    assert trace_drop == pytest.approx(gamma * float(H.trace()), rel=1e-10)
    assert trace_drop > 0.01
    assert float(reg.eigenvalues.real.sum()) < float(plain.eigenvalues.real.sum()) - 0.01
    assert reg.max_real <= plain.max_real + 1e-12


def test_to_dict_and_bad_input_is_named():
    G, D, x, z = dirac_game()
    d = game_jacobian(G, D, x, z).to_dict()
    assert d["n_g"] == 1 and d["n_d"] == 1 and len(d["eigenvalues_real"]) == 2
    with pytest.raises(TypeError, match="G must be a torch.nn.Module"):
        game_jacobian("G", D, x, z)
    with pytest.raises(TypeError, match="x must be a floating"):
        game_jacobian(G, D, [0.0], z)
    with pytest.raises(ValueError, match="x and z must hold as many"):
        game_jacobian(G, D, x, z[:2])
    with pytest.raises(ValueError, match="r1 must be finite and >= 0"):
        game_jacobian(G, D, x, z, r1=-1.0)
    with pytest.raises(ValueError, match="loss"):
        game_jacobian(G, D, x, z, loss="hinge")
    with pytest.raises(ValueError, match="step"):
        game_jacobian(G, D, x, z, step=0.0)
    with pytest.raises(ValueError, match="x has dimension 2"):
        game_jacobian(G, D, torch.zeros(4, 2), z)
    with pytest.raises(ValueError, match="non-finite"):
        game_jacobian(G, D, torch.full((4, 1), math.nan), z)


@pytest.mark.parametrize("settings", [dict(r1=1.0), dict(consensus=0.3, r2=0.5)], ids=["r1", "consensus+r2"])
def test_arnoldi_spectrum_equals_the_dense_one(settings):
    """game_spectrum (Arnoldi on J-vector products, no matrix) finds the same rightmost
    eigenvalues and the same spectral radius of I + hJ as eigvals of the dense Jacobian."""
    G = gt.AffineGenerator(1, loc=0.3)
    D = gt.mlp_discriminator(1, widths=(6, 6), activation="tanh", generator=torch.Generator().manual_seed(3))
    x = torch.randn(64, 1, generator=torch.Generator().manual_seed(4))
    z = torch.randn(64, 1, generator=torch.Generator().manual_seed(5))
    dense = game_jacobian(G, D, x, z, step=0.2, **settings)
    spectrum = gt.game_spectrum(G, D, x, z, k=4, step=0.2, **settings)
    assert spectrum.n_g + spectrum.n_d == dense.jacobian.shape[0]
    assert torch.allclose(spectrum.rightmost, dense.eigenvalues[:4], atol=1e-9, rtol=0)
    assert spectrum.max_real == pytest.approx(dense.max_real, abs=1e-9)
    assert spectrum.spectral_radius == pytest.approx(dense.spectral_radius, abs=1e-9)
    assert spectrum.field_norm == pytest.approx(dense.field_norm, rel=1e-12)
    assert spectrum.to_dict()["matvecs"] == spectrum.matvecs > 0


def test_arnoldi_spectrum_names_bad_arguments():
    G, D, x, z = dirac_game(0.1, 0.2)
    with pytest.raises(ValueError, match="k must be at most n - 2 = 0"):
        gt.game_spectrum(G, D, x, z, k=1)
    G = gt.AffineGenerator(1)
    D = gt.mlp_discriminator(1, widths=(4,), generator=torch.Generator().manual_seed(0))
    x = torch.randn(8, 1)
    with pytest.raises(ValueError, match="step"):
        gt.game_spectrum(G, D, x, x, step=-1.0)
    with pytest.raises(ValueError, match="tol"):
        gt.game_spectrum(G, D, x, x, tol=0.0)
