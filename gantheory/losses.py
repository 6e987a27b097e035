"""GAN objectives written on the discriminator's logits, each with its analytic gradient.

The discriminator outputs a logit a (its raw output); for the classical GAN, D = sigma(a) is the
probability that a point is real, and a = log D - log(1 - D) = sigma^{-1}(D). Every cost below is a
function of a computed in log space (log-sigmoid, softplus), so that no logit in float64 (or
float32) overflows or produces a NaN where the cost itself is finite.

Generator costs, per sample, to MINIMISE over G (no 1/2 factors; the tutorial's 1/2 factors live in
:mod:`gantheory.saturation`):

============================  ==============================  =====================================
loss                          cost J(a)                       dJ/da
============================  ==============================  =====================================
``"minimax"``                 log(1 - D) = -softplus(a)       -sigma(a)       (-> 0 as D -> 0)
``"non_saturating"``          -log D = softplus(-a)           -sigma(-a) = -(1 - D)
``"maximum_likelihood"``      -exp(a) = -D / (1 - D)          -exp(a)
``"least_squares"``           (a - 1)^2 / 2                   a - 1
``"wasserstein"``             -a                              -1
============================  ==============================  =====================================

References:
    Goodfellow et al. 2014, "Generative Adversarial Nets", arXiv:1406.2661 (minimax value,
    eq. 1, and the non-saturating heuristic of section 3).
    Goodfellow 2016, "NIPS 2016 Tutorial: Generative Adversarial Networks", arXiv:1701.00160,
    section 3.2 (the maximum-likelihood cost -exp(sigma^{-1}(D)) / 2).
    Mao et al. 2017, "Least Squares Generative Adversarial Networks", arXiv:1611.04076 (a-b-c
    coding with a = 0, b = 1, c = 1).
    Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN", arXiv:1701.07875.
    Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", arXiv:1704.00028.

The costs only read their inputs: there is no data-dependent branch and no finiteness check, so they
run under ``torch.func.vmap`` and never synchronise a GPU. A non-finite logit gives a non-finite
cost; finite logits never do, except ``"maximum_likelihood"`` whose cost exp(a) itself exceeds the
largest float for a > 709.78 (float64) or a > 88.72 (float32).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from gantheory import _validation as check

__all__ = [
    "GeneratorLoss",
    "GENERATOR_LOSSES",
    "generator_loss",
    "generator_loss_grad",
    "discriminator_loss",
    "discriminator_loss_grad",
    "gradient_penalty",
]

GeneratorLoss = Literal[
    "minimax", "non_saturating", "maximum_likelihood", "least_squares", "wasserstein"
]

#: The five generator losses, in the order of :data:`GeneratorLoss`.
GENERATOR_LOSSES: tuple[str, ...] = (
    "minimax",
    "non_saturating",
    "maximum_likelihood",
    "least_squares",
    "wasserstein",
)


def _logits(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of logits, got {type(value).__name__}")
    if not value.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {value.dtype}")
    return value


def _softplus(a: Tensor) -> Tensor:
    # log(1 + e^a) = -log sigma(-a): exact to rounding for every a (torch's F.softplus switches to
    # the identity above a threshold of 20, an absolute error of up to 2e-9).
    return -F.logsigmoid(-a)


def generator_loss(fake_logits: Tensor, loss: GeneratorLoss = "non_saturating") -> Tensor:
    """Per-sample generator cost J(a) to minimise, at the logits a = sigma^{-1}(D(G(z))).

    minimax: J = log(1 - D) = -softplus(a) (Goodfellow et al. 2014, eq. 1);
    non_saturating: J = -log D = softplus(-a) (ibid., section 3);
    maximum_likelihood: J = -exp(a) = -D / (1 - D) (Goodfellow 2016, arXiv:1701.00160, sec. 3.2.3);
    least_squares: J = (a - 1)^2 / 2 (Mao et al. 2017, arXiv:1611.04076, with c = 1);
    wasserstein: J = -a (Arjovsky et al. 2017, arXiv:1701.07875).
    The caller reduces (a mean over the minibatch gives the Monte Carlo estimate of E_z[J]).

    Args:
        fake_logits: D's logits on generated samples, any shape (typically (m,)).
        loss: one of :data:`GENERATOR_LOSSES`.

    Returns:
        the cost, same shape and dtype as ``fake_logits``.

    Raises:
        TypeError: ``fake_logits`` is not a floating tensor.
        ValueError: unknown ``loss`` (the message lists the valid names).

    >>> a = torch.tensor([-30.0, 0.0, 30.0], dtype=torch.float64)
    >>> generator_loss(a, "minimax")
    tensor([-9.3576e-14, -6.9315e-01, -3.0000e+01], dtype=torch.float64)
    >>> generator_loss(a, "non_saturating")
    tensor([3.0000e+01, 6.9315e-01, 9.3576e-14], dtype=torch.float64)
    """
    a = _logits("fake_logits", fake_logits)
    check.choice("loss", loss, GENERATOR_LOSSES)
    if loss == "minimax":
        return -_softplus(a)
    if loss == "non_saturating":
        return _softplus(-a)
    if loss == "maximum_likelihood":
        return -torch.exp(a)
    if loss == "least_squares":
        return 0.5 * (a - 1.0) ** 2
    return -a


def generator_loss_grad(fake_logits: Tensor, loss: GeneratorLoss = "non_saturating") -> Tensor:
    """Analytic derivative dJ/da of :func:`generator_loss`, per sample.

    minimax: -sigma(a); non_saturating: -sigma(-a) = -(1 - D); maximum_likelihood: -exp(a);
    least_squares: a - 1; wasserstein: -1. It matches autograd to 1e-15 relative in float64 over
    logits in [-30, 30] (tests/test_losses.py). The minimax derivative vanishes as D -> 0 (the
    saturation of Goodfellow et al. 2014, section 3); the non-saturating one tends to -1.

    Args:
        fake_logits: D's logits on generated samples, any shape.
        loss: one of :data:`GENERATOR_LOSSES`.

    Returns:
        dJ/da, same shape and dtype as ``fake_logits``.

    Raises:
        TypeError: ``fake_logits`` is not a floating tensor.
        ValueError: unknown ``loss``.

    >>> a = torch.tensor([-30.0, 0.0, 30.0], dtype=torch.float64)
    >>> generator_loss_grad(a, "minimax")
    tensor([-9.3576e-14, -5.0000e-01, -1.0000e+00], dtype=torch.float64)
    >>> generator_loss_grad(a, "non_saturating")
    tensor([-1.0000e+00, -5.0000e-01, -9.3576e-14], dtype=torch.float64)
    """
    a = _logits("fake_logits", fake_logits)
    check.choice("loss", loss, GENERATOR_LOSSES)
    if loss == "minimax":
        return -torch.sigmoid(a)
    if loss == "non_saturating":
        return -torch.sigmoid(-a)
    if loss == "maximum_likelihood":
        return -torch.exp(a)
    if loss == "least_squares":
        return a - 1.0
    return torch.full_like(a, -1.0)


def _pair(real_logits: object, fake_logits: object) -> tuple[Tensor, Tensor]:
    real = _logits("real_logits", real_logits)
    fake = _logits("fake_logits", fake_logits)
    if real.shape != fake.shape:
        raise ValueError(
            "real_logits and fake_logits must have the same shape (one real and one generated "
            f"sample per minibatch slot), got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    return real, fake


def discriminator_loss(
    real_logits: Tensor, fake_logits: Tensor, loss: GeneratorLoss = "non_saturating"
) -> Tensor:
    """Per-sample discriminator cost to minimise, the one that goes with each generator loss.

    minimax, non_saturating, maximum_likelihood (one D for all three, Goodfellow et al. 2014):
        softplus(-a_real) + softplus(a_fake) = -log D(x) - log(1 - D(G(z)));
    least_squares (Mao et al. 2017, arXiv:1611.04076, a = D's raw output, b = 1, a-code 0):
        (a_real - 1)^2 / 2 + a_fake^2 / 2;
    wasserstein (Arjovsky et al. 2017, arXiv:1701.07875; add :func:`gradient_penalty` or clip):
        a_fake - a_real.

    Args:
        real_logits: D's outputs on data samples, shape (m,) (any shape equal to fake_logits').
        fake_logits: D's outputs on generated samples, same shape.
        loss: the generator loss this D is trained against, one of :data:`GENERATOR_LOSSES`.

    Returns:
        per-sample cost, shape of the inputs.

    Raises:
        TypeError: logits not floating tensors.
        ValueError: shapes differ, or unknown ``loss``.

    >>> zero = torch.zeros(2, dtype=torch.float64)
    >>> discriminator_loss(zero, zero)  # 2 log 2: D = 1/2 everywhere
    tensor([1.3863, 1.3863], dtype=torch.float64)
    """
    real, fake = _pair(real_logits, fake_logits)
    check.choice("loss", loss, GENERATOR_LOSSES)
    if loss == "least_squares":
        return 0.5 * (real - 1.0) ** 2 + 0.5 * fake**2
    if loss == "wasserstein":
        return fake - real
    return _softplus(-real) + _softplus(fake)


def discriminator_loss_grad(
    real_logits: Tensor, fake_logits: Tensor, loss: GeneratorLoss = "non_saturating"
) -> tuple[Tensor, Tensor]:
    """Analytic derivatives of :func:`discriminator_loss` with respect to a_real and a_fake.

    GAN losses: (-sigma(-a_real), sigma(a_fake)) = (-(1 - D(x)), D(G(z)));
    least_squares: (a_real - 1, a_fake); wasserstein: (-1, 1).

    Args:
        real_logits, fake_logits: as in :func:`discriminator_loss`.
        loss: one of :data:`GENERATOR_LOSSES`.

    Returns:
        (d cost / d a_real, d cost / d a_fake), each of the inputs' shape.

    Raises:
        TypeError, ValueError: as :func:`discriminator_loss`.

    >>> zero = torch.zeros(1, dtype=torch.float64)
    >>> discriminator_loss_grad(zero, zero)
    (tensor([-0.5000], dtype=torch.float64), tensor([0.5000], dtype=torch.float64))
    """
    real, fake = _pair(real_logits, fake_logits)
    check.choice("loss", loss, GENERATOR_LOSSES)
    if loss == "least_squares":
        return real - 1.0, fake.clone()
    if loss == "wasserstein":
        return torch.full_like(real, -1.0), torch.ones_like(fake)
    return -torch.sigmoid(-real), torch.sigmoid(fake)


def gradient_penalty(
    D: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    *,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Per-sample gradient penalty (||grad_x D(x_hat)|| - 1)^2 on random interpolates.

    x_hat = eps * x + (1 - eps) * G(z), with one eps ~ U(0, 1) per sample (Gulrajani et al. 2017,
    arXiv:1704.00028, Algorithm 1). ``real`` and ``fake`` are detached (the penalty belongs to the
    critic's loss), and the gradient is taken with ``create_graph=True``, so the penalty is
    differentiable with respect to D's parameters. The caller weights (lambda = 10 in the paper)
    and reduces. D must treat samples independently (no batch norm, as the paper says).

    Args:
        D: maps points of ``real``'s shape to one output per point, shape (..., n) or (..., n, 1).
        real: data samples, shape (n, d), or (n,) for 1D points; leading batch dimensions
            (..., n, d) are allowed (one eps per point).
        fake: generated samples, same shape as ``real``.
        generator: the torch.Generator that draws eps (on the samples' device); the global
            generator when None.

    Returns:
        the penalty per point, shape (n,) (or (..., n)), in the samples' dtype.

    Raises:
        TypeError: ``D`` not callable, samples not floating tensors.
        ValueError: shapes of ``real`` and ``fake`` differ, or D's output has the wrong shape.

    >>> def D(x):  # a linear critic with slope 2: the penalty is (2 - 1)^2 everywhere
    ...     return 2.0 * x[:, 0]
    >>> x = torch.zeros(3, 1, dtype=torch.float64)
    >>> gradient_penalty(D, x, x + 1.0, generator=torch.Generator().manual_seed(0))
    tensor([1., 1., 1.], dtype=torch.float64)
    """
    if not callable(D):
        raise TypeError(f"D must be callable (a module or a function), got {type(D).__name__}")
    for name, value in (("real", real), ("fake", fake)):
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"{name} must be a floating torch.Tensor, got {type(value).__name__}")
    if real.shape != fake.shape or real.ndim == 0:
        raise ValueError(
            "real and fake must have the same shape (n, d) or (n,), "
            f"got {tuple(real.shape)} and {tuple(fake.shape)}"
        )
    points_shape = real.shape if real.ndim == 1 else real.shape[:-1]
    eps_shape = points_shape if real.ndim == 1 else points_shape + (1,)
    eps = torch.rand(eps_shape, generator=generator, dtype=real.dtype, device=real.device)
    x_hat = (eps * real.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    out = D(x_hat)
    if out.shape == points_shape + (1,):
        out = out[..., 0]
    if out.shape != points_shape:
        raise ValueError(
            f"D must return one output per point, shape {tuple(points_shape)} "
            f"(or with a trailing 1), got {tuple(out.shape)}"
        )
    (grad,) = torch.autograd.grad(
        out.sum(), x_hat, create_graph=True, allow_unused=True, materialize_grads=True
    )
    norm = grad.abs() if real.ndim == 1 else torch.linalg.vector_norm(grad, dim=-1)
    return (norm - 1.0) ** 2
