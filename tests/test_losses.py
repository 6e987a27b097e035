"""gantheory.losses: costs against 50-digit arithmetic, analytic gradients against autograd."""

import math

import mpmath
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from gantheory.losses import (
    GENERATOR_LOSSES,
    discriminator_loss,
    discriminator_loss_grad,
    generator_loss,
    generator_loss_grad,
    gradient_penalty,
)

LOGITS = torch.linspace(-30.0, 30.0, 6001, dtype=torch.float64)  # step 0.01, includes 0 exactly

mpmath.mp.dps = 50


def _sigma(a):
    return 1 / (1 + mpmath.exp(-a))


#: the generator costs and their derivatives in 50-digit arithmetic, from the definitions on D
REFERENCE = {
    "minimax": (lambda a: mpmath.log(1 - _sigma(a)), lambda a: -_sigma(a)),
    "non_saturating": (lambda a: -mpmath.log(_sigma(a)), lambda a: -(1 - _sigma(a))),
    "maximum_likelihood": (
        lambda a: -_sigma(a) / (1 - _sigma(a)),
        lambda a: -_sigma(a) / (1 - _sigma(a)),
    ),
    "least_squares": (lambda a: (a - 1) ** 2 / 2, lambda a: a - 1),
    "wasserstein": (lambda a: -a, lambda a: mpmath.mpf(-1)),
}


def _autograd(f, *xs):
    xs = [x.clone().requires_grad_(True) for x in xs]
    grads = torch.autograd.grad(f(*xs).sum(), xs)
    return grads


def test_names_are_the_five_losses_in_order():
    assert GENERATOR_LOSSES == (
        "minimax",
        "non_saturating",
        "maximum_likelihood",
        "least_squares",
        "wasserstein",
    )


@pytest.mark.parametrize("loss", GENERATOR_LOSSES)
def test_generator_grad_matches_autograd_to_1e_10_over_logits_minus_30_to_30(loss):
    analytic = generator_loss_grad(LOGITS, loss)
    (auto,) = _autograd(lambda a: generator_loss(a, loss), LOGITS)
    assert torch.isfinite(analytic).all() and torch.isfinite(auto).all()
    assert analytic.dtype == torch.float64 and analytic.shape == LOGITS.shape
    scale = auto.abs().clamp_min(1.0)
    assert ((analytic - auto).abs() / scale).max() <= 1e-10


@pytest.mark.parametrize("loss", GENERATOR_LOSSES)
def test_generator_cost_and_grad_match_50_digit_arithmetic(loss):
    """Exact to float64 rounding: relative error below 1e-14 at 121 logits across [-30, 30]."""
    grid = LOGITS[::50]
    cost, grad = generator_loss(grid, loss), generator_loss_grad(grid, loss)
    f, df = REFERENCE[loss]
    for a, c, g in zip(grid.tolist(), cost.tolist(), grad.tolist()):
        a_mp = mpmath.mpf(a)
        for ours, exact in ((c, f(a_mp)), (g, df(a_mp))):
            exact = float(exact)
            assert abs(ours - exact) <= 1e-14 * max(abs(exact), 1e-300) + 1e-300, (loss, a)


@pytest.mark.parametrize("loss", GENERATOR_LOSSES)
def test_discriminator_grads_match_autograd_over_logits_minus_30_to_30(loss):
    real = LOGITS
    fake = LOGITS.flip(0)
    analytic_real, analytic_fake = discriminator_loss_grad(real, fake, loss)
    auto_real, auto_fake = _autograd(lambda r, f: discriminator_loss(r, f, loss), real, fake)
    for analytic, auto in ((analytic_real, auto_real), (analytic_fake, auto_fake)):
        assert torch.isfinite(analytic).all()
        assert ((analytic - auto).abs() / auto.abs().clamp_min(1.0)).max() <= 1e-10


def test_gan_discriminator_cost_is_minus_log_d_minus_log_one_minus_d():
    real = LOGITS[::100]
    fake = real.flip(0)
    cost = discriminator_loss(real, fake, "minimax")
    for r, f, c in zip(real.tolist(), fake.tolist(), cost.tolist()):
        exact = -mpmath.log(_sigma(mpmath.mpf(r))) - mpmath.log(1 - _sigma(mpmath.mpf(f)))
        assert abs(c - float(exact)) <= 1e-14 * abs(float(exact))
    for loss in ("non_saturating", "maximum_likelihood"):
        assert torch.equal(discriminator_loss(real, fake, loss), cost)


def test_discriminator_cost_of_lsgan_and_wgan():
    real = torch.tensor([2.0, -1.0], dtype=torch.float64)
    fake = torch.tensor([0.5, 3.0], dtype=torch.float64)
    ls = discriminator_loss(real, fake, "least_squares")
    assert torch.equal(ls, torch.tensor([0.5 + 0.125, 2.0 + 4.5], dtype=torch.float64))
    assert torch.equal(discriminator_loss(real, fake, "wasserstein"), fake - real)


def test_minimax_saturates_and_non_saturating_does_not():
    """Goodfellow et al. 2014, section 3: as D(G(z)) -> 0 the minimax gradient vanishes."""
    a = torch.tensor([-5.0, -10.0, -20.0, -30.0], dtype=torch.float64)
    minimax = generator_loss_grad(a, "minimax").abs()
    assert (minimax[1:] < minimax[:-1] * 1e-2).all() and minimax[-1] < 1e-12
    assert torch.allclose(generator_loss_grad(a, "non_saturating"), -torch.ones_like(a), atol=1e-2)


@given(st.floats(-30.0, 30.0), st.sampled_from(GENERATOR_LOSSES))
def test_float32_costs_and_grads_are_finite_and_close_to_float64(a, loss):
    a64 = torch.tensor([a], dtype=torch.float64)
    a32 = a64.float()
    for fn in (generator_loss, generator_loss_grad):
        ours = fn(a32, loss)
        exact = fn(a32.double(), loss)
        assert ours.dtype == torch.float32 and torch.isfinite(ours).all()
        assert abs(float(ours) - float(exact)) <= 1e-6 * max(1.0, abs(float(exact)))


@pytest.mark.parametrize("loss", ["minimax", "non_saturating", "least_squares", "wasserstein"])
def test_extreme_logits_do_not_overflow(loss):
    a = torch.tensor([-1e4, -700.0, 700.0, 1e4], dtype=torch.float64)
    for fn in (generator_loss, generator_loss_grad):
        assert torch.isfinite(fn(a, loss)).all()
    assert all(torch.isfinite(g).all() for g in discriminator_loss_grad(a, a.flip(0), loss))
    assert torch.isfinite(discriminator_loss(a, a.flip(0), loss)).all()


def test_losses_run_under_vmap():
    a = LOGITS[:6000].reshape(4, -1)
    for loss in GENERATOR_LOSSES:
        batched = torch.func.vmap(lambda x, loss=loss: generator_loss(x, loss))(a)
        assert torch.equal(batched, generator_loss(a, loss))


def test_bad_arguments_raise_clear_errors():
    a = torch.zeros(3, dtype=torch.float64)
    with pytest.raises(ValueError, match="loss must be one of .*'minimax'"):
        generator_loss(a, "hinge")
    with pytest.raises(ValueError, match="loss must be one of"):
        generator_loss_grad(a, "saturating")
    with pytest.raises(TypeError, match="fake_logits must be a torch.Tensor"):
        generator_loss([0.0, 1.0])
    with pytest.raises(TypeError, match="fake_logits must be floating point"):
        generator_loss(torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="same shape"):
        discriminator_loss(a, torch.zeros(4, dtype=torch.float64))
    with pytest.raises(TypeError, match="real_logits"):
        discriminator_loss_grad(None, a)


def test_gradient_penalty_of_a_linear_critic_is_exact():
    """D(x) = w.x has grad w everywhere: penalty (|w| - 1)^2 for every eps."""
    w = torch.tensor([3.0, 4.0], dtype=torch.float64)
    real = torch.randn(5, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    gen = torch.Generator().manual_seed(0)
    gp = gradient_penalty(lambda x: x @ w, real, real + 1.0, generator=gen)
    assert gp.shape == (5,)
    assert torch.allclose(gp, torch.full((5,), 16.0, dtype=torch.float64), rtol=0, atol=1e-12)


def test_gradient_penalty_on_a_quadratic_critic_matches_the_interpolate_and_differentiates():
    """D(x) = c |x|^2 / 2 has grad c x_hat: the penalty is (c |x_hat| - 1)^2 at
    x_hat = eps x + (1 - eps) y, and its derivative in c is 2 (c |x_hat| - 1) |x_hat|."""
    gen = torch.Generator().manual_seed(3)
    real = torch.randn(6, 2, dtype=torch.float64, generator=gen)
    fake = torch.randn(6, 2, dtype=torch.float64, generator=gen)
    c = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    gp = gradient_penalty(lambda x: 0.5 * c * (x**2).sum(-1, keepdim=True), real, fake,
                          generator=torch.Generator().manual_seed(9))
    eps = torch.rand((6, 1), generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    norm = (eps * real + (1 - eps) * fake).norm(dim=1)
    assert torch.allclose(gp, (0.7 * norm - 1) ** 2, rtol=1e-14, atol=0)
    (dc,) = torch.autograd.grad(gp.sum(), c)
    assert math.isclose(float(dc), float((2 * (0.7 * norm - 1) * norm).sum()), rel_tol=1e-13)


def test_gradient_penalty_1d_and_seeded():
    real = torch.linspace(-1, 1, 7, dtype=torch.float64)
    gp1 = gradient_penalty(torch.sin, real, real * 2, generator=torch.Generator().manual_seed(5))
    gp2 = gradient_penalty(torch.sin, real, real * 2, generator=torch.Generator().manual_seed(5))
    assert gp1.shape == (7,) and torch.equal(gp1, gp2)
    eps = torch.rand(7, generator=torch.Generator().manual_seed(5), dtype=torch.float64)
    x_hat = eps * real + (1 - eps) * real * 2
    assert torch.allclose(gp1, (torch.cos(x_hat).abs() - 1) ** 2, rtol=1e-14, atol=1e-300)


def test_gradient_penalty_bad_arguments():
    x = torch.zeros(4, 2, dtype=torch.float64)
    with pytest.raises(TypeError, match="D must be callable"):
        gradient_penalty(3.0, x, x)
    with pytest.raises(ValueError, match="same shape"):
        gradient_penalty(lambda t: t.sum(-1), x, torch.zeros(5, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="one output per point"):
        gradient_penalty(lambda t: t, x, x)
    with pytest.raises(TypeError, match="real must be a floating"):
        gradient_penalty(lambda t: t.sum(-1), x.long(), x)
