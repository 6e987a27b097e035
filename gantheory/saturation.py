"""Saturation: the generator's gradient under each cost, analytically and through an optimal D.

The minimax generator cost log(1 - D(G(z))) has almost no gradient where D confidently rejects
G's samples (D -> 0), which is why Goodfellow et al. 2014 (arXiv:1406.2661, section 3) train G to
maximise log D(G(z)) instead. This module gives that statement in numbers:

- :func:`tutorial_cost`, :func:`tutorial_cost_grad`: each generator cost of
  :mod:`gantheory.losses` and its derivative as functions of D = D(G(z)) or of the logit
  a = sigma^{-1}(D), in the convention of Goodfellow's NIPS 2016 tutorial (arXiv:1701.00160,
  section 3.2.3, Figure 16): every cost carries the factor 1/2 that comes from
  J^(D) = -1/2 E log D(x) - 1/2 E log(1 - D(G(z))). With D = sigma(a):
  minimax 1/2 log(1 - D), d/da = -D/2 -> 0 as D -> 0; non-saturating -1/2 log D,
  d/da = -(1 - D)/2 -> -1/2; maximum likelihood -1/2 D/(1 - D), d/da = -1/2 D/(1 - D).
- :func:`generator_gradient`: the gradient with respect to G's parameters of a weighted sum of
  per-sample costs E_z[J(D(G(z)))] (the quantity whose norm Arjovsky & Bottou 2017 plot).
- :func:`non_saturating_identity`: Theorem 2.5 of Arjovsky & Bottou 2017 (arXiv:1701.04862):
  with D* = p_data / (p_data + p_g_theta0) held fixed,
  E_z[-grad_theta log D*(G_theta(z))] = grad_theta [KL(p_g || p_data) - 2 JSD(p_g, p_data)]
  at theta = theta0, both sides computed.
- :func:`minimax_gradient_bound`: Theorem 2.4 of the same paper: if |D| < eps and
  ||grad_x D|| < eps on G's samples (D close to a perfect D*) and E_z ||J_theta G(z)||^2 <= M^2,
  then ||grad_theta E_z log(1 - D(G(z)))|| < M eps / (1 - eps), both sides computed.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from gantheory import _quadrature as quad
from gantheory import _validation as check
from gantheory.losses import GENERATOR_LOSSES, GeneratorLoss, generator_loss, generator_loss_grad

__all__ = [
    "tutorial_cost",
    "tutorial_cost_grad",
    "generator_gradient",
    "GradientIdentity",
    "non_saturating_identity",
    "MinimaxBound",
    "minimax_gradient_bound",
]

Variable = Literal["D", "logit"]


def _curve_input(x: object, wrt: str) -> Tensor:
    check.choice("wrt", wrt, ("D", "logit"))
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {type(x).__name__}")
    if wrt == "D" and not bool(((x >= 0) & (x <= 1)).all()):
        raise ValueError(f"x must hold probabilities D(G(z)) in [0, 1] when wrt='D', got {check._short(x)}")
    if wrt == "logit" and bool(torch.isnan(x).any()):
        raise ValueError(f"x must not hold NaN, got {check._short(x)}")
    return x


def _logit(D: Tensor) -> Tensor:
    return torch.log(D) - torch.log1p(-D)


def tutorial_cost(x: Tensor, loss: GeneratorLoss, *, wrt: Variable = "D") -> Tensor:
    """The generator cost J(G) per sample, with the tutorial's 1/2, as a function of D or of a.

    With D = D(G(z)) = sigma(a) (Goodfellow 2016, arXiv:1701.00160, section 3.2.3, Figure 16):
    minimax 1/2 log(1 - D); non_saturating -1/2 log D; maximum_likelihood -1/2 D / (1 - D);
    and, read through the same a = sigma^{-1}(D), least_squares 1/4 (a - 1)^2 and wasserstein
    -a/2 (their D's raw output is not a probability; the change of variable is formal).
    It is exactly 1/2 of :func:`gantheory.losses.generator_loss` at a = sigma^{-1}(D).

    Args:
        x: D(G(z)) in [0, 1] (``wrt="D"``) or the logit a (``wrt="logit"``), any shape.
        loss: one of :data:`gantheory.losses.GENERATOR_LOSSES`.
        wrt: "D" or "logit": the variable ``x`` holds.

    Returns:
        J, shape and dtype of ``x``; +-inf where the cost diverges (D = 0 or 1), never NaN.

    Raises:
        TypeError: ``x`` not a floating tensor.
        ValueError: unknown ``loss`` or ``wrt``; D outside [0, 1]; a NaN logit.

    >>> D = torch.tensor([0.5, 1e-6], dtype=torch.float64)
    >>> tutorial_cost(D, "minimax"), tutorial_cost(D, "non_saturating")
    (tensor([-3.4657e-01, -5.0000e-07], dtype=torch.float64), tensor([0.3466, 6.9078], dtype=torch.float64))
    """
    x = _curve_input(x, wrt)
    check.choice("loss", loss, GENERATOR_LOSSES)
    if wrt == "logit":
        return 0.5 * generator_loss(x, loss)
    if loss == "minimax":
        return 0.5 * torch.log1p(-x)
    if loss == "non_saturating":
        return -0.5 * torch.log(x)
    if loss == "maximum_likelihood":
        return -0.5 * x / (1 - x)
    if loss == "least_squares":
        return 0.25 * (_logit(x) - 1) ** 2
    return -0.5 * _logit(x)


def tutorial_cost_grad(x: Tensor, loss: GeneratorLoss, *, wrt: Variable = "D") -> Tensor:
    """dJ/dD or dJ/da of :func:`tutorial_cost` (with the tutorial's 1/2).

    With respect to the logit (what back-propagation through D's last layer sees):
    minimax -D/2 = -sigma(a)/2 (vanishes as D -> 0: saturation); non_saturating -(1 - D)/2;
    maximum_likelihood -1/2 D / (1 - D) = -exp(a)/2; least_squares (a - 1)/2; wasserstein -1/2.
    With respect to D, dJ/dD = (dJ/da) / (D (1 - D)): minimax -1/(2 (1 - D)); non_saturating
    -1/(2 D); maximum_likelihood -1/(2 (1 - D)^2); least_squares (a - 1)/(2 D (1 - D));
    wasserstein -1/(2 D (1 - D)).

    Args:
        x: D(G(z)) in [0, 1] (``wrt="D"``) or the logit a (``wrt="logit"``), any shape.
        loss: one of :data:`gantheory.losses.GENERATOR_LOSSES`.
        wrt: "D" or "logit".

    Returns:
        the derivative, shape and dtype of ``x``; +-inf at D = 0 or 1 where it diverges.

    Raises:
        TypeError, ValueError: as :func:`tutorial_cost`.

    >>> a = torch.tensor([-20.0, 0.0], dtype=torch.float64)
    >>> tutorial_cost_grad(a, "minimax", wrt="logit")
    tensor([-1.0306e-09, -2.5000e-01], dtype=torch.float64)
    """
    x = _curve_input(x, wrt)
    check.choice("loss", loss, GENERATOR_LOSSES)
    if wrt == "logit":
        return 0.5 * generator_loss_grad(x, loss)
    if loss == "minimax":
        return -0.5 / (1 - x)
    if loss == "non_saturating":
        return -0.5 / x
    if loss == "maximum_likelihood":
        return -0.5 / (1 - x) ** 2
    if loss == "least_squares":
        return 0.5 * (_logit(x) - 1) / (x * (1 - x))
    return -0.5 / (x * (1 - x))


def _parameters(G: nn.Module) -> list[nn.Parameter]:
    if not isinstance(G, nn.Module):
        raise TypeError(f"G must be a torch.nn.Module, got {type(G).__name__}")
    params = [p for p in G.parameters() if p.requires_grad]
    if not params:
        raise ValueError("G has no parameters that require a gradient")
    return params


def _one_logit_per_point(out: Tensor, n: int) -> Tensor:
    if out.shape == (n, 1):
        out = out[:, 0]
    if out.shape != (n,):
        raise ValueError(f"D must return one logit per point, shape ({n},), got {tuple(out.shape)}")
    return out


def generator_gradient(
    G: nn.Module,
    D: Callable[[Tensor], Tensor],
    z: Tensor,
    *,
    loss: GeneratorLoss,
    weights: Tensor | None = None,
) -> Tensor:
    """grad_theta sum_i w_i J(a(G_theta(z_i))): the generator's gradient under a cost, D fixed.

    J is the per-sample cost of :func:`gantheory.losses.generator_loss` (no 1/2) at D's logit
    a = D(G(z)). With the default weights 1/n this is the minibatch gradient of Algorithm 1
    (Goodfellow et al. 2014) whose norm Arjovsky & Bottou 2017 (arXiv:1701.04862, Figures 2-3)
    plot; with quadrature weights over z it is E_z[grad J] computed by quadrature.
    D's parameters receive no gradient (it is taken with respect to G's parameters only).

    Args:
        G: the generator, a module mapping z (n, noise_dim) to samples (n, d).
        D: maps G's samples to logits (n,) (or (n, 1)).
        z: noise, shape (n, noise_dim), in G's dtype and device.
        loss: one of :data:`gantheory.losses.GENERATOR_LOSSES`.
        weights: shape (n,); 1/n each when None.

    Returns:
        the gradient flattened over G's trainable parameters (in ``G.parameters()`` order),
        shape (P,), G's dtype.

    Raises:
        TypeError: G not a module, z not a floating tensor.
        ValueError: unknown loss, G without trainable parameters, shapes that do not agree.

    >>> from gantheory.models import AffineGenerator
    >>> G = AffineGenerator(1, loc=0.0, scale=1.0).double()
    >>> D = lambda x: -x[:, 0]  # logit a(x) = -x
    >>> generator_gradient(G, D, torch.zeros(1, 1, dtype=torch.float64), loss="minimax")
    tensor([0.5000, 0.0000], dtype=torch.float64)
    """
    params = _parameters(G)
    check.choice("loss", loss, GENERATOR_LOSSES)
    if not isinstance(z, Tensor) or not z.is_floating_point() or z.ndim != 2:
        raise TypeError(f"z must be a floating torch.Tensor of shape (n, noise_dim), got {z!r:.60}")
    n = z.shape[0]
    if weights is None:
        weights = torch.full((n,), 1.0 / n, dtype=z.dtype, device=z.device)
    elif not isinstance(weights, Tensor) or weights.shape != (n,):
        raise ValueError(f"weights must be a tensor of shape ({n},), got {weights!r:.60}")
    with torch.enable_grad():
        a = _one_logit_per_point(D(G(z)), n)
        total = (weights.to(a.dtype) * generator_loss(a, loss)).sum()
        grads = torch.autograd.grad(total, params, allow_unused=True, materialize_grads=True)
    return torch.cat([g.reshape(-1) for g in grads])


def _double_copy(G: nn.Module) -> nn.Module:
    if not hasattr(G, "distribution") or not callable(G.distribution):
        raise TypeError(
            f"G must be an exact-density generator with G.distribution() (e.g. "
            f"gantheory.models.AffineGenerator), got {type(G).__name__}"
        )
    G64 = copy.deepcopy(G).to(torch.float64)
    _parameters(G64)
    return G64


def _jacobian(G: nn.Module) -> Callable[[Tensor], Tensor]:
    """z (n, noise_dim) -> J_theta G(z), shape (n, d, P), per sample (torch.func)."""
    theta = {k: p.detach() for k, p in G.named_parameters() if p.requires_grad}

    def sample(params: dict[str, Tensor], z_i: Tensor) -> Tensor:
        return torch.func.functional_call(G, params, (z_i[None],)).reshape(-1)

    batched = torch.func.vmap(torch.func.jacrev(sample), in_dims=(None, 0))

    def jacobian(z: Tensor) -> Tensor:
        jac = batched(theta, z)
        return torch.cat([j.reshape(z.shape[0], j.shape[1], -1) for j in jac.values()], dim=2)

    return jacobian


#: Half-width of the noise box, in standard deviations: P(|z_i| > 8.5) < 2e-17 per axis.
_NOISE_BOX = 8.5


def _expected_gradient(
    G: nn.Module, D: Callable[[Tensor], Tensor], loss: GeneratorLoss, *, atol: float, rtol: float
) -> tuple[Tensor, Tensor]:
    """E_z[grad_theta J(D(G_theta(z)))], z ~ N(0, I), by adaptive cubature over the noise box.

    Per node, grad_theta J = (grad_x J(D(x)))^T J_theta G(z) at x = G(z) (chain rule, D fixed).
    Returns values (P,) and error bounds (P,) of the cubature (the noise mass outside the box,
    < 2e-17 per axis, is left out).
    """
    jacobian = _jacobian(G)
    d_noise = int(G.noise_dim)

    def integrand(z: Tensor) -> Tensor:
        n = z.shape[0]
        with torch.enable_grad():
            x = G(z).detach().requires_grad_(True)
            cost = generator_loss(_one_logit_per_point(D(x), n), loss)
            (dx,) = torch.autograd.grad(cost.sum(), x)
        log_phi = -0.5 * (z**2).sum(1) - 0.5 * d_noise * math.log(2 * math.pi)
        grad = torch.einsum("nd,ndp->np", dx.reshape(n, -1), jacobian(z))
        return log_phi.exp()[:, None] * grad

    edge = torch.full((1, d_noise), _NOISE_BOX, dtype=torch.float64)
    lo, hi = quad.grid_boxes(-edge, edge, 16)
    result = quad.integrate(integrand, lo, hi, atol=atol, rtol=rtol)
    return result.values.detach(), result.errors


@dataclass
class GradientIdentity:
    """Both sides of Arjovsky & Bottou's Theorem 2.5 at one generator, and their gap.

    Attributes:
        expected_gradient: E_z[-grad_theta log D*(G_theta(z))], D* fixed, by adaptive cubature
            over z, shape (P,).
        divergence_gradient: grad_theta [KL(p_g || p_data) - 2 JSD(p_g, p_data)] by autograd
            through :func:`gantheory.kl` and :func:`gantheory.jsd`, shape (P,).
        difference: max_i |expected_gradient_i - divergence_gradient_i|.
        quadrature_error: max_i of the cubature's error bound on the left side.
        divergence_error: KL error bound + 2 x JSD error bound reported by the divergences
            (bounds on the values, a guide to the accuracy of their gradients).
        kl, jsd: the divergence values at theta0.
    """

    expected_gradient: Tensor
    divergence_gradient: Tensor
    difference: float
    quadrature_error: float
    divergence_error: float
    kl: float
    jsd: float

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def non_saturating_identity(
    G: nn.Module, p_data: Distribution, *, atol: float = 1e-12, rtol: float = 1e-10
) -> GradientIdentity:
    """Check Theorem 2.5 of Arjovsky & Bottou 2017 (arXiv:1701.04862) at an exact-density G.

    With D* = p_data / (p_data + p_g_theta0) held fixed at the current parameters theta0,
    E_z[-grad_theta log D*(G_theta(z))] = grad_theta [KL(p_g_theta || p_data) - 2 JSD(p_g_theta,
    p_data)] at theta = theta0: the non-saturating gradient through an optimal D follows a reverse
    KL (mode seeking) minus twice the JSD. Both sides are computed in float64 (on a float64 copy
    of G): the left by adaptive Gauss-Kronrod cubature over z ~ N(0, I) on [-8.5, 8.5]^noise_dim
    (with ``atol``, ``rtol``), the right by autograd through :func:`gantheory.kl` and
    :func:`gantheory.jsd`.

    Args:
        G: an exact-density generator with Gaussian noise (``gantheory.models.AffineGenerator``,
            ``CouplingFlowGenerator``, ``FlowGenerator``), noise dimension 1 or 2: ``G(z)``, ``G.noise_dim`` and
            ``G.distribution()``; its forward must run under ``torch.func.vmap``.
        p_data: the data distribution on G's space (exact ``log_prob``).
        atol, rtol: tolerance of the cubature of the left side.

    Returns:
        :class:`GradientIdentity`.

    Raises:
        TypeError: G not an exact-density generator module, p_data not a distribution.
        ValueError: p_data and p_g on different spaces, bad tolerances.

    >>> import gantheory as gt
    >>> from gantheory.models import AffineGenerator
    >>> G = AffineGenerator(1, loc=0.5, scale=1.2)
    >>> r = non_saturating_identity(G, gt.mixture([-1.0, 2.0], [0.6, 0.8]))
    >>> r.difference < 1e-8
    True
    """
    import gantheory as gt  # the divergences and D* live in sibling modules built before this one

    G64 = _double_copy(G)
    params = _parameters(G64)
    check.positive_number("atol", atol)
    check.positive_number("rtol", rtol)
    p_g = G64.distribution(torch.float64)
    check.same_space(p_g, p_data, ("p_g", "p_data"))
    with torch.no_grad():
        D_star = gt.optimal_discriminator(p_data, G64.distribution(torch.float64))
    lhs, errors = _expected_gradient(G64, D_star.logits, "non_saturating", atol=atol, rtol=rtol)
    kl, jsd = gt.kl(p_g, p_data), gt.jsd(p_g, p_data)
    grads = torch.autograd.grad(
        kl.value - 2 * jsd.value, params, allow_unused=True, materialize_grads=True
    )
    rhs = torch.cat([g.reshape(-1) for g in grads]).detach()
    return GradientIdentity(
        expected_gradient=lhs,
        divergence_gradient=rhs,
        difference=float((lhs - rhs).abs().max()),
        quadrature_error=float(errors.max()),
        divergence_error=float(kl.error) + 2 * float(jsd.error),
        kl=float(kl.value.detach()),
        jsd=float(jsd.value.detach()),
    )


@dataclass
class MinimaxBound:
    """Both sides of Arjovsky & Bottou's Theorem 2.4 (vanishing gradients) at one (G, D).

    Attributes:
        gradient_norm: ||grad_theta sum_i w_i log(1 - D(G(z_i)))||_2.
        epsilon: max_i D(G(z_i)) + max_i ||grad_x D(G(z_i))||_2, over the given nodes (the eps of
            the theorem's proof: D* = 0 with zero gradient on G's support).
        M: sqrt(sum_i w_i ||J_theta G(z_i)||_2^2), J the (d, P) Jacobian, spectral norm.
        bound: M epsilon / (1 - epsilon) (inf when epsilon >= 1).
    """

    gradient_norm: float
    epsilon: float
    M: float
    bound: float

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


def minimax_gradient_bound(
    G: nn.Module,
    D: Callable[[Tensor], Tensor],
    z: Tensor,
    *,
    weights: Tensor | None = None,
) -> MinimaxBound:
    """Check Theorem 2.4 of Arjovsky & Bottou 2017 (arXiv:1701.04862) at a generator and a D.

    If D* is a perfect discriminator (D* = 0 with zero gradient on G's support), ||D - D*|| < eps
    there, and E_z ||J_theta G(z)||^2 <= M^2, then
    ||grad_theta E_z[log(1 - D(G_theta(z)))]|| < M eps / (1 - eps):
    the minimax generator's gradient vanishes as D approaches D*. The proof only uses
    D(G(z)) < eps and ||grad_x D(G(z))|| < eps on G's samples, so eps is measured there, as the
    maximum over the nodes ``z``; for noise with compact support (z uniform on a box), nodes that
    include the box's corners give the true supremum whenever D is monotone along G's image.
    The left side is :func:`generator_gradient` with the "minimax" cost. G's forward must run
    under ``torch.func.vmap`` (for the per-sample Jacobians).

    Args:
        G: the generator, z (n, noise_dim) -> samples (n, d).
        D: maps samples to logits (n,) (D = sigma(logit)).
        z: noise nodes (n, noise_dim) covering G's noise support.
        weights: quadrature weights (n,) of E_z (1/n each when None).

    Returns:
        :class:`MinimaxBound`.

    Raises:
        TypeError, ValueError: as :func:`generator_gradient`.

    >>> from gantheory.models import AffineGenerator
    >>> G = AffineGenerator(1, loc=2.0, scale=0.5).double()
    >>> z = torch.linspace(-1, 1, 101, dtype=torch.float64)[:, None]
    >>> r = minimax_gradient_bound(G, lambda x: 16.0 * (0.5 - x[:, 0]), z)
    >>> r.gradient_norm < r.bound < 1e-3
    True
    """
    grad = generator_gradient(G, D, z, loss="minimax", weights=weights)
    n = z.shape[0]
    w = torch.full((n,), 1.0 / n, dtype=grad.dtype) if weights is None else weights
    with torch.enable_grad():
        x = G(z).detach().requires_grad_(True)
        prob = torch.sigmoid(_one_logit_per_point(D(x), n))
        (dx,) = torch.autograd.grad(prob.sum(), x, allow_unused=True, materialize_grads=True)
    jac_sq = torch.linalg.matrix_norm(_jacobian(G)(z), ord=2) ** 2
    epsilon = float(prob.detach().max()) + float(dx.reshape(n, -1).norm(dim=1).max())
    M = math.sqrt(float((w.to(jac_sq.dtype) * jac_sq).sum()))
    bound = M * epsilon / (1 - epsilon) if epsilon < 1 else math.inf
    return MinimaxBound(float(grad.norm()), epsilon, M, bound)
