"""The gradient-based regularisers of the GAN game: R1, R2, consensus optimisation, instance noise.

All act on D's **logit** a(x) (the critic D_psi of Mescheder et al., before the sigmoid), the
output of :func:`gantheory.mlp_discriminator`; the costs are those of :mod:`gantheory.losses`.

- R1 and R2, the zero-centred gradient penalties (Mescheder, Geiger & Nowozin 2018, "Which training
  methods for GANs do actually converge?", arXiv:1801.04406, Section 4.1), added to D's cost:

      R1(psi) = (gamma / 2) E_{x ~ p_data} ||grad_x a_psi(x)||^2,
      R2(psi) = (gamma / 2) E_{x ~ p_g}    ||grad_x a_psi(x)||^2,

  estimated on the minibatch (the data points for R1, the fakes for R2) by
  :func:`input_gradient_norm2` (the per-point ||grad_x a(x)||^2).
- Consensus optimisation (Mescheder, Nowozin & Geiger 2017, "The Numerics of GANs",
  arXiv:1705.10461, Section 4): with v = (grad_phi L_G, grad_psi L_D) the joint gradient field of
  the players' costs (G's parameters phi, D's psi), each player's cost gets + (lambda / 2) ||v||^2,
  so that both descend L(v) = ||v||^2 / 2 as well as their own cost: :func:`consensus_penalty`.
- Instance noise (Sonderby et al. 2016, arXiv:1610.04490; Arjovsky & Bottou 2017,
  arXiv:1701.04862, Section 3.1): Gaussian noise N(0, sigma_t^2 I) is added to every input of D,
  real and fake, so that p_data * N and p_g * N overlap; sigma_t is annealed linearly by
  :func:`instance_noise_std`.

>>> D = lambda x: 3.0 * x[:, 0] - 4.0 * x[:, 1]  # a linear logit: ||grad a||^2 = 25 everywhere
>>> input_gradient_norm2(D, torch.zeros(2, 2))
tensor([25., 25.])
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
from torch import Tensor

__all__ = ["input_gradient_norm2", "consensus_penalty", "instance_noise_std"]


def input_gradient_norm2(D: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    """Per-point squared norm of D's logit gradient, ||grad_x a(x)||^2: the integrand of R1/R2.

    R1 = (gamma / 2) * mean over data points, R2 = (gamma / 2) * mean over fakes (Mescheder et
    al. 2018, arXiv:1801.04406, eqs. (9) and (10)). ``x`` is detached, and the gradient is taken
    with ``create_graph=True``, so the result is differentiable with respect to D's parameters.
    D must treat points independently (no batch norm).

    Args:
        D: maps points (..., n, d) to logits (..., n) (or (..., n, 1)).
        x: points, shape (..., n, d); leading (ensemble) dimensions are kept.

    Returns:
        ||grad_x a(x_i)||^2 per point, shape (..., n).

    Raises:
        TypeError: ``x`` not a floating tensor, ``D`` not callable.
    """
    if not callable(D):
        raise TypeError(f"D must be callable, got {type(D).__name__}")
    if not isinstance(x, Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor, got {type(x).__name__}")
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        (grad,) = torch.autograd.grad(D(x).sum(), x, create_graph=True)
    return grad.square().sum(-1)


def consensus_penalty(
    cost_g: Tensor,
    cost_d: Tensor,
    params_g: Sequence[Tensor],
    params_d: Sequence[Tensor],
    *,
    members: int | None = None,
) -> Tensor:
    """(1/2) ||v||^2, v = (grad_phi L_G, grad_psi L_D), differentiable in both players' parameters.

    Consensus optimisation (Mescheder, Nowozin & Geiger 2017, arXiv:1705.10461, Section 4) adds
    lambda times this to each player's cost. The gradients are taken with ``create_graph=True``;
    a parameter that a cost does not reach contributes 0.

    Args:
        cost_g, cost_d: scalar costs L_G and L_D (the sums over members for an ensemble).
        params_g, params_d: G's and D's parameters phi and psi.
        members: with S members stacked member-major in every parameter (shape (S, ...) or
            (S * width,)), return the S per-member values instead of their sum.

    Returns:
        a scalar, or shape (members,).

    Raises:
        ValueError: a cost not a scalar, a player without parameters.
    """
    for name, cost in (("cost_g", cost_g), ("cost_d", cost_d)):
        if not isinstance(cost, Tensor) or cost.numel() != 1:
            raise ValueError(f"{name} must be a scalar tensor, got {type(cost).__name__}")
    for name, params in (("params_g", params_g), ("params_d", params_d)):
        if len(list(params)) == 0:
            raise ValueError(f"{name} is empty: consensus needs both players' parameters")
    v_g = torch.autograd.grad(cost_g, list(params_g), create_graph=True, allow_unused=True)
    v_d = torch.autograd.grad(cost_d, list(params_d), create_graph=True, allow_unused=True)
    parts = [g for g in (*v_g, *v_d) if g is not None]
    if members is None:
        return 0.5 * sum((g.square().sum() for g in parts), torch.zeros((), device=cost_g.device))
    return 0.5 * torch.stack([g.square().reshape(members, -1).sum(1) for g in parts]).sum(0)


def instance_noise_std(sigma: float, sigma_final: float | None, step: int, steps: int) -> float:
    """sigma_t of instance noise at iteration ``step`` (1-based) of ``steps``: a linear schedule.

        sigma_t = sigma + (sigma_final - sigma) * (t - 1) / steps,

    so sigma_1 = sigma and sigma_t reaches sigma_final one step after the last (the same
    convention as the learning-rate decay of :class:`gantheory.TrainConfig`, ``lr_final``);
    ``sigma_final`` None: constant sigma. Linear rather than geometric so that it can anneal to 0
    (Sonderby et al. 2016, arXiv:1610.04490, anneal the noise linearly to zero).

    >>> instance_noise_std(1.0, 0.0, 1, 4), instance_noise_std(1.0, 0.0, 3, 4)
    (1.0, 0.5)
    """
    sigma = _check_weight("sigma", sigma)
    if isinstance(step, bool) or not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be an int >= 1, got {step!r}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"steps must be an int >= 1, got {steps!r}")
    if sigma_final is None:
        return sigma
    sigma_final = _check_weight("sigma_final", sigma_final)
    return float(sigma + (sigma_final - sigma) * (step - 1) / steps)


def _check_weight(name: str, value: object) -> float:
    """A regularisation weight: a finite number >= 0 (bool refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not 0.0 <= value < math.inf:
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return float(value)
