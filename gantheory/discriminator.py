"""The theory of the GAN game: the optimal discriminator D*, the value V(D, G) and C(G).

For a fixed generator with density p_g, the discriminator that maximises

    V(D, G) = E_{x ~ p_data}[log D(x)] + E_{x ~ p_g}[log(1 − D(x))]

is D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, Proposition 1), and
the virtual training criterion C(G) = max_D V(D, G) = V(D*, G) = −log 4 + 2·JSD(p_data ‖ p_g)
(Theorem 1): its global minimum −log 4 is reached iff p_g = p_data, where D* = ½ everywhere.

Reference: Goodfellow et al. 2014, Generative Adversarial Nets, arXiv:1406.2661.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.distributions import Distribution

from gantheory import _validation as check
from gantheory.distributions import as_gaussian_mixture
from gantheory.divergences import (
    Estimate,
    Method,
    _log_prob,
    _mixture_log_density,
    _sample,
    integrate_pair,
    jsd,
)

__all__ = ["OptimalDiscriminator", "optimal_discriminator", "value", "virtual_criterion"]


class OptimalDiscriminator:
    """D*(x) = p_data(x) / (p_data(x) + p_g(x)) = σ(log p_data(x) − log p_g(x)).

    Computed from log densities, so it is exact where both densities underflow (far in the
    tails) and at disjoint supports (0 or 1). Where neither distribution has mass (both log
    densities −inf) D* is undefined; it is set to ½ there.

    Call it on points x of shape (n, d) (or (n,) in 1D) to get probabilities (n,);
    :meth:`logits` gives log p_data(x) − log p_g(x).
    """

    def __init__(self, p_data: Distribution, p_g: Distribution) -> None:
        self.dim = check.same_space(p_data, p_g, ("p_data", "p_g"))
        self.p_data, self.p_g = p_data, p_g
        self._log_p = _log_density(p_data)
        self._log_q = _log_density(p_g)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """log p_data(x) − log p_g(x), shape (n,); ±inf at disjoint supports, 0 where both vanish."""
        x = check.points("x", x, self.dim)
        return _logit(self._log_p(x.to(torch.float64)), self._log_q(x.to(torch.float64)))

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.logits(x))

    def __repr__(self) -> str:
        return f"OptimalDiscriminator(p_data={self.p_data!r}, p_g={self.p_g!r})"


def _log_density(dist: Distribution) -> Callable[[torch.Tensor], torch.Tensor]:
    comps = as_gaussian_mixture(dist)
    return _mixture_log_density(comps) if comps is not None else (lambda x: _log_prob(dist, x))


def _logit(lp: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
    both_zero = (lp == -math.inf) & (lq == -math.inf)
    return torch.where(both_zero, torch.zeros_like(lp), lp - torch.where(both_zero, torch.zeros_like(lq), lq))


def optimal_discriminator(p_data: Distribution, p_g: Distribution) -> OptimalDiscriminator:
    """The optimal discriminator D*(x) = p_data(x) / (p_data(x) + p_g(x)) for a fixed generator.

    Goodfellow et al. 2014 (arXiv:1406.2661), Proposition 1.

    Args:
        p_data, p_g: distributions on the same space (scalar events or vectors of dimension d).

    Returns:
        :class:`OptimalDiscriminator`, a callable mapping x (n, d) to D*(x) (n,).

    Raises:
        TypeError: p_data or p_g is not a torch distribution.
        ValueError: their dimensions differ.

    >>> import gantheory as gt
    >>> D = optimal_discriminator(gt.gaussian(0.0, 1.0), gt.gaussian(0.0, 1.0))
    >>> D(torch.tensor([-3.0, 0.0, 50.0]))
    tensor([0.5000, 0.5000, 0.5000], dtype=torch.float64)
    """
    return OptimalDiscriminator(p_data, p_g)


def _as_module_input(D: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """Cast points to the dtype and device of D's parameters when D is a torch module."""
    if isinstance(D, torch.nn.Module):
        for parameter in D.parameters():
            return x.to(dtype=parameter.dtype, device=parameter.device)
    return x


def _outputs(D: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    out = D(_as_module_input(D, x))
    if not isinstance(out, torch.Tensor):
        raise TypeError(f"D must return a tensor, got {type(out).__name__}")
    out = out.reshape(-1) if out.ndim == 2 and out.shape[1] == 1 else out
    if out.shape != (x.shape[0],):
        raise ValueError(f"D must map points (n, d) to shape (n,) or (n, 1), got {tuple(out.shape)} for n = {x.shape[0]}")
    return out.to(dtype=torch.float64, device=x.device)


def _log_d_terms(out: torch.Tensor, logits: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """(log D, log(1 − D)) from D's outputs; from logits a: (log σ(a), log σ(−a)), exact."""
    if not bool(torch.isfinite(out.detach()).all()) and not logits:
        raise ValueError("D returned a non-finite value (nan or inf) where a probability was expected")
    if logits:
        if bool(torch.isnan(out.detach()).any()):
            raise ValueError("D returned nan where a logit was expected")
        return F.logsigmoid(out), F.logsigmoid(-out)
    if bool(((out < 0) | (out > 1)).any()):
        raise ValueError(
            f"D must return probabilities in [0, 1] (or logits, with logits=True), got values in "
            f"[{float(out.min()):.3g}, {float(out.max()):.3g}]"
        )
    return torch.log(out), torch.log1p(-out)


def _as_logits(D: Callable[[torch.Tensor], torch.Tensor]) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """D's logits when D can give them: a ``logits`` method (an :class:`OptimalDiscriminator`),
    or a ``torch.nn.Sequential`` whose last layer is ``torch.nn.Sigmoid`` (the layers before it)."""
    method = getattr(D, "logits", None)
    if callable(method):
        return method
    if isinstance(D, torch.nn.Sequential) and len(D) > 1 and isinstance(D[-1], torch.nn.Sigmoid):
        return D[:-1]
    return None


def value(
    D: Callable[[torch.Tensor], torch.Tensor],
    p_data: Distribution,
    p_g: Distribution,
    *,
    logits: bool = False,
    method: Method = "auto",
    atol: float = 1e-12,
    rtol: float = 1e-10,
    n_samples: int = 100_000,
    generator: torch.Generator | None = None,
) -> Estimate:
    """The value of the game V(D, G) = E_{p_data}[log D(x)] + E_{p_g}[log(1 − D(x))].

    Goodfellow et al. 2014 (arXiv:1406.2661), equation 1. For every D, V(D, G) ≤ V(D*, G) = C(G);
    the gap is E_{(p_data + p_g)}[KL(Bernoulli(D*) ‖ Bernoulli(D))] ≥ 0.

    Args:
        D: any callable mapping points (n, d) (d = 1 in 1D) to (n,) or (n, 1):
            probabilities in (0, 1), or logits σ⁻¹(D) with ``logits=True`` (preferred: exact
            log-sigmoid). A torch module gets the points in its parameters' dtype and device.
            Where D can give its logits itself (an :class:`OptimalDiscriminator`, a
            ``torch.nn.Sequential`` ending in ``torch.nn.Sigmoid``) they are used: a steep D's
            probabilities round to 0 or 1 where its log(1 − D) is still finite.
        p_data, p_g: distributions on the same space.
        logits: whether D returns logits.
        method: "auto" (quadrature in 1D/2D, else Monte Carlo), "quadrature" or "monte_carlo".
        atol, rtol, n_samples, generator: as :func:`gantheory.kl`. When D computes in float32 (or
            lower), both tolerances are raised to 10× its machine epsilon, the floor set by its
            rounding noise.

    Returns:
        :class:`Estimate` of V(D, G) (differentiable with respect to D's parameters).

    Raises:
        TypeError / ValueError: bad distributions, D returning the wrong shape, unknown method,
            probabilities outside [0, 1] or not finite, or a probability of exactly 0 (1) where
            p_data (p_g) has mass: log D (log(1 − D)) underflowed to −inf there, which only
            logits avoid (the integral itself is finite unless D is exactly 0 on a set of mass).

    >>> import gantheory as gt
    >>> half = lambda x: torch.full((x.shape[0],), 0.5, dtype=torch.float64)
    >>> round(float(value(half, gt.gaussian(0.0, 1.0), gt.gaussian(2.0, 1.0))), 10)  # = −log 4
    -1.3862943611
    """
    d = check.same_space(p_data, p_g, ("p_data", "p_g"))
    check.choice("method", method, ("auto", "quadrature", "monte_carlo"))
    if not callable(D):
        raise TypeError(f"D must be callable, got {type(D).__name__}")
    if not logits:
        as_logits = _as_logits(D)
        if as_logits is not None:
            D, logits = as_logits, True  # the same function, without sigmoid's underflow
    try:
        probe = D(_as_module_input(D, torch.zeros(2, d, dtype=torch.float64)))
    except (RuntimeError, IndexError) as error:
        raise ValueError(f"D cannot take points of shape (n, {d}): {error}") from error
    _outputs(lambda x: probe, torch.zeros(2, d, dtype=torch.float64))
    if method == "monte_carlo" or (method == "auto" and d > 2):
        check.positive_int("n_samples", n_samples)
        total: torch.Tensor | float = 0.0
        variance = 0.0
        for which, dist in ((0, p_data), (1, p_g)):
            x = _sample(dist, n_samples, generator).to(torch.float64)
            terms = _log_d_terms(_outputs(D, x), logits)[which]
            total = total + terms.mean()
            variance += float(terms.detach().var()) / n_samples
        return Estimate(torch.as_tensor(total), math.sqrt(variance), "monte_carlo")
    if d > 2:
        raise ValueError(f"method='quadrature' needs dimension 1 or 2, got {d}; use method='monte_carlo'")

    if isinstance(probe, torch.Tensor) and probe.dtype in (torch.float32, torch.float16, torch.bfloat16):
        # D computes in low precision: its rounding noise is the floor of any quadrature error
        noise = 10 * torch.finfo(probe.dtype).eps
        rtol, atol = max(rtol, noise), max(atol, noise)

    def integrand(x: torch.Tensor, lp: torch.Tensor, lq: torch.Tensor) -> torch.Tensor:
        out = _outputs(D, x)
        log_d, log_1md = _log_d_terms(out, logits)
        zero = torch.zeros_like(log_d)
        p, q = lp.exp(), lq.exp()
        if not logits:
            _check_underflow(out, x, log_d, p, "0", "log D", "p_data")
            _check_underflow(out, x, log_1md, q, "1", "log(1 − D)", "p_g")
        left = torch.where(p == 0, zero, p * log_d)
        right = torch.where(q == 0, zero, q * log_1md)
        return (left + right)[:, None]

    values, errors, label = integrate_pair(p_data, p_g, integrand, [math.inf], atol=atol, rtol=rtol)
    return Estimate(values[0], errors[0], label)


def _check_underflow(
    out: torch.Tensor, x: torch.Tensor, log_term: torch.Tensor, weight: torch.Tensor,
    value: str, name: str, density: str,
) -> None:
    bad = (log_term == -math.inf) & (weight > 0)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        point = x[i].tolist()
        raise ValueError(
            f"D returned the probability {value} at x = {point[0] if len(point) == 1 else point} "
            f"where {density} has density {float(weight[i]):.3g}: {name} is -inf there, an "
            "underflow of D's probabilities in float (the integral is finite unless D is exactly "
            f"{value} on a set of positive mass); give D's logits (logits=True, or a "
            "torch.nn.Sequential ending in torch.nn.Sigmoid, whose logits are used)"
        )


def virtual_criterion(
    p_data: Distribution,
    p_g: Distribution,
    *,
    method: Method = "auto",
    atol: float = 1e-12,
    rtol: float = 1e-10,
    n_samples: int = 100_000,
    generator: torch.Generator | None = None,
) -> Estimate:
    """The virtual training criterion C(G) = V(D*, G) = −log 4 + 2·JSD(p_data ‖ p_g).

    Goodfellow et al. 2014 (arXiv:1406.2661), Theorem 1: C(G) ≥ −log 4, with equality iff
    p_g = p_data. The error bound is twice that of the JSD.

    Args, Raises: as :func:`gantheory.jsd`.

    >>> import gantheory as gt
    >>> p = gt.ring(n_modes=8, radius=2.0, std=0.02)
    >>> abs(float(virtual_criterion(p, p)) + math.log(4)) < 1e-12
    True
    """
    check.same_space(p_data, p_g, ("p_data", "p_g"))
    divergence = jsd(p_data, p_g, method=method, atol=atol, rtol=rtol, n_samples=n_samples, generator=generator)
    return Estimate(2 * divergence.value - math.log(4), 2 * divergence.error, divergence.method)
