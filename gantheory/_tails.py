"""Tails of integrands built from two Gaussian mixtures p and q: do they converge, where does their
mass lie, and how much of it lies outside a mesh that covers every component's core.

An integrand h(p(x), q(x)) of a divergence is bounded, outside the mesh, by a sum of terms of
three kinds (:class:`Term`):

- ``"mass"``: c · r(x), r = p or q: |h| ≤ c r (total variation, Hellinger, JSD, ...);
- ``"log"``: c · r(x) · (1 + |log p(x) − log q(x)|) (KL in either direction);
- ``"power"``: c · p(x)^γ q(x)^(1−γ) with γ > 1 or γ < 0 (Pearson's χ² has p²/q, Neyman's q²/p).

Mass and log terms always converge for Gaussian mixtures; a power term converges iff its exponent
is negative in every direction (:func:`power_exponent`), and when it does, its mass may sit far
beyond the components' cores: the Gaussian envelopes of :func:`power_envelopes` show where, and
the mesh is built to cover them too.

What is left outside the mesh is bounded in closed form (:func:`outside`), using that every point
outside the mesh lies outside the core ``mean ± a·std`` (per axis, a = 8.5) of every component:

- P_k(outside) ≤ T0 = 2 d Φ(−a) for every component k;
- E_k[|x − ν|² ; outside] ≤ 2 tr(Σ_k) d T2 + 2 |μ_k − ν|² T0, T2 = 2 (a φ(a) + Φ(−a)), because
  E[u_i² ; |u_l| > a] ≤ T2 for standard normal coordinates u_i, u_l of any correlation;
- log r(x) ≤ M_r = max_k [log w_k − ½ log det 2πΣ_k] and log r(x) ≥ L_r − ½ Λ_r |x − ν_r|², from
  r's widest component (mean ν_r, largest precision eigenvalue Λ_r): so on the outside,
  |log p − log q| ≤ |M_p − L_q| + |M_q − L_p| + ½ Λ_q |x − ν_q|² + ½ Λ_p |x − ν_p|²;
- p^γ q^(1−γ) ≤ K^(γ−1) Σ_i (w_i N_i)^γ (w_j N_j)^(1−γ) for γ > 1 and any j = j(i) (Hölder, and
  q ≥ w_j N_j), and each product is c_ij times a Gaussian N(m_ij, S_ij) whose core the mesh covers.

All bounds are rigorous, not estimates (up to the rounding of float64 arithmetic).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import torch

from gantheory._quadrature import CORE  # the half-width, in stds, of the cores the mesh covers
from gantheory.distributions import GaussianComponents


def _phi(a: float) -> float:
    return math.exp(-0.5 * a * a) / math.sqrt(2 * math.pi)


def _upper_tail(a: float) -> float:
    return 0.5 * math.erfc(a / math.sqrt(2))


def outside_mass(d: int, a: float = CORE) -> float:
    """T0 = 2 d Φ(−a): the most mass a Gaussian puts outside mean ± a·std on some axis."""
    return 2 * d * _upper_tail(a)


def _outside_square(a: float = CORE) -> float:
    """T2 = E[u² ; |u| > a] for u ~ N(0, 1), = 2 (a φ(a) + Φ(−a))."""
    return 2 * (a * _phi(a) + _upper_tail(a))


@dataclass(frozen=True)
class Term:
    """One term of a bound on |h| outside the mesh (see the module docstring).

    kind: "mass" (coef · r), "log" (coef · r · (1 + |log p − log q|)) or "power"
    (coef · p^gamma q^(1 − gamma)); which: "p" or "q", the density r of mass and log terms.
    """

    kind: Literal["mass", "log", "power"]
    coef: float = 1.0
    which: Literal["p", "q"] = "p"
    gamma: float = 1.0


def _f64(c: GaussianComponents) -> GaussianComponents:
    return GaussianComponents(*(t.detach().to(torch.float64).cpu() for t in (c.weights, c.means, c.covs)))


def _log_norms(c: GaussianComponents) -> torch.Tensor:
    """log w_k − ½ log det(2π Σ_k), (K,)."""
    d = c.dim
    return torch.log(c.weights) - 0.5 * (torch.logdet(c.covs) + d * math.log(2 * math.pi))


def _widest(c: GaussianComponents) -> tuple[float, float, torch.Tensor]:
    """(L_r, Λ_r, ν_r): the lower envelope log r(x) ≥ L_r − ½ Λ_r |x − ν_r|² from r's widest component."""
    precision_max = 1.0 / torch.linalg.eigvalsh(c.covs)[:, 0]  # largest eigenvalue of Σ_k⁻¹
    norms = _log_norms(c)
    k = int(torch.argmin(precision_max))
    return float(norms[k]), float(precision_max[k]), c.means[k]


def _outside_square_moment(c: GaussianComponents, nu: torch.Tensor, a: float = CORE) -> float:
    """E_r[|x − ν|² ; outside the mesh] ≤ Σ_k w_k [2 tr(Σ_k) d T2 + 2 |μ_k − ν|² T0] (cores ± a std)."""
    d = c.dim
    traces = torch.diagonal(c.covs, dim1=-2, dim2=-1).sum(-1)
    shifts = ((c.means - nu) ** 2).sum(-1)
    terms = 2 * traces * d * _outside_square(a) + 2 * shifts * outside_mass(d, a)
    return float((c.weights * terms).sum())


def missed_mass(masses: torch.Tensor, errors: torch.Tensor, outside: float) -> float:
    """What a mesh missed, seen in the masses: Σ_r max(0, |∫r − 1| − error_r − outside) over the
    computed ∫p and ∫q (both are 1), beyond their cubature errors and the mass known to lie outside.
    An estimate (misses in the two masses could cancel), a safety net under the mesh."""
    return float(torch.clamp((masses - 1).abs() - errors - outside, min=0.0).sum())


def density_ratio_bound(bound: float | list[Term] | tuple[Term, ...]) -> float:
    """b with |h| ≤ b (p + q) everywhere, from a column's tail declaration: the number itself, or the
    sum of the coefficients of pure mass terms; inf where the terms do not give one (log, power)."""
    if isinstance(bound, (int, float)):
        return float(bound)
    terms = list(bound)
    return sum(t.coef for t in terms) if all(t.kind == "mass" for t in terms) else math.inf


def _quadratic_forms(precisions: torch.Tensor) -> torch.Tensor:
    """For 2x2 matrices M (..., 2, 2): (α, ρ, φ) with uᵀMu = α + ρ cos(τ − φ), u = (cos τ/2, sin τ/2)."""
    a, b, c = precisions[..., 0, 0], precisions[..., 0, 1], precisions[..., 1, 1]
    alpha = (a + c) / 2
    rho = torch.sqrt(((a - c) / 2) ** 2 + b**2)
    phi = torch.atan2(b, (a - c) / 2)
    return torch.stack([alpha, rho, phi], -1)


def _min_of_upper_envelope(forms: torch.Tensor) -> float:
    """min over τ of max_j [α_j + ρ_j cos(τ − φ_j)] (forms (J, 3)), exactly: the minimum lies at
    the minimum of one sinusoid or where two of them cross."""
    alpha, rho, phi = forms[:, 0], forms[:, 1], forms[:, 2]
    candidates = [phi + math.pi]
    j = forms.shape[0]
    if j > 1:
        ia, ib = torch.triu_indices(j, j, 1)
        # α_a + ρ_a cos(τ − φ_a) = α_b + ρ_b cos(τ − φ_b)  ⇔  A cos τ + B sin τ = C
        big_a = rho[ia] * torch.cos(phi[ia]) - rho[ib] * torch.cos(phi[ib])
        big_b = rho[ia] * torch.sin(phi[ia]) - rho[ib] * torch.sin(phi[ib])
        big_c = alpha[ib] - alpha[ia]
        r = torch.sqrt(big_a**2 + big_b**2)
        ok = (r > 0) & (big_c.abs() <= r)
        base = torch.atan2(big_b, big_a)
        spread = torch.acos(torch.clamp(big_c / torch.where(r > 0, r, 1.0), -1.0, 1.0))
        candidates += [(base + spread)[ok], (base - spread)[ok]]
    tau = torch.cat(candidates)
    values = alpha[None] + rho[None] * torch.cos(tau[:, None] - phi[None])  # (T, J)
    return float(values.max(1).values.min())


def power_exponent(a: GaussianComponents, b: GaussianComponents, gamma: float) -> float:
    """λ = min over directions u of [γ min_i uᵀA_i u + (1 − γ) min_j uᵀB_j u], γ > 1.

    A_i, B_j are the precisions of a's and b's components. Along x = r u, r → ∞, log of
    a(x)^γ b(x)^(1−γ) = −½ r² [γ min_i uᵀA_i u + (1 − γ) min_j uᵀB_j u] + O(r), so ∫ a^γ b^(1−γ)
    converges iff λ > 0 (at λ = 0 the O(r) terms cannot make it converge in both directions ±u).
    For γ > 1 the bracket is min_i max_j uᵀ(γ A_i − (γ − 1) B_j) u, computed exactly: in 1D by
    the extreme variances, in 2D as the minimum of an upper envelope of sinusoids.
    """
    if not gamma > 1:
        raise ValueError(f"gamma must be > 1, got {gamma}")
    a, b = _f64(a), _f64(b)
    pa, pb = torch.linalg.inv(a.covs), torch.linalg.inv(b.covs)
    m = gamma * pa[:, None] - (gamma - 1) * pb[None]  # (I, J, d, d)
    if a.dim == 1:
        return float(m[..., 0, 0].max(1).values.min())
    if a.dim != 2:
        raise ValueError(f"tails are analysed in 1 or 2 dimensions, got {a.dim}")
    forms = _quadratic_forms(m)  # (I, J, 3)
    return min(_min_of_upper_envelope(forms[i]) for i in range(forms.shape[0]))


def diverges(a: GaussianComponents, b: GaussianComponents, gamma: float) -> bool:
    """Whether ∫ a^γ b^(1−γ) = +inf (γ > 1): λ of :func:`power_exponent` ≤ rounding level."""
    a, b = _f64(a), _f64(b)
    scale = gamma * float(torch.linalg.eigvalsh(torch.linalg.inv(a.covs)).max())
    return power_exponent(a, b, gamma) <= 64 * torch.finfo(torch.float64).eps * scale


@dataclass(frozen=True)
class Envelopes:
    """Gaussian envelopes of a^γ b^(1−γ) (γ > 1): a(x)^γ b(x)^(1−γ) ≤ K^(γ−1) Σ_i c_i N(x; m_i, S_i).

    components: the N(m_i, S_i) (weights ∝ c_i), to add to the mesh; log_total: log of
    K^(γ−1) Σ_i c_i (inf when some component of a has no j with γA_i − (γ−1)B_j positive
    definite, so that no single-Gaussian envelope exists).
    """

    components: GaussianComponents | None
    log_total: float


def power_envelopes(a: GaussianComponents, b: GaussianComponents, gamma: float) -> Envelopes:
    """For each component i of a, the envelope (w_i N_i)^γ (w_j N_j)^(1−γ) = c_ij N(m_ij, S_ij) of
    the component j of b that makes c_ij smallest among those with P_ij = γA_i − (γ−1)B_j positive
    definite: S_ij = P_ij⁻¹, m_ij = S_ij (γ A_i μ_i − (γ−1) B_j μ_j), and
    log c_ij = γ log w_i + (1−γ) log w_j − ½[γ log det 2πΣ_i + (1−γ) log det 2πΣ_j]
              − ½[γ μ_iᵀA_iμ_i + (1−γ) μ_jᵀB_jμ_j] + ½ βᵀS_ijβ + (d/2) log 2π + ½ log det S_ij,
    β = γ A_i μ_i − (γ−1) B_j μ_j (a Gaussian integral)."""
    a, b = _f64(a), _f64(b)
    d = a.dim
    pa, pb = torch.linalg.inv(a.covs), torch.linalg.inv(b.covs)
    p = gamma * pa[:, None] - (gamma - 1) * pb[None]  # (I, J, d, d)
    pd = torch.linalg.eigvalsh(p)[..., 0] > 0
    safe = torch.where(pd[..., None, None], p, torch.eye(d, dtype=p.dtype).expand_as(p))
    cov = torch.linalg.inv(safe)
    beta = gamma * (pa @ a.means[..., None])[:, None, :, 0] - (gamma - 1) * (pb @ b.means[..., None])[None, :, :, 0]
    mean = (cov @ beta[..., None])[..., 0]
    la, lb = _log_norms(a), _log_norms(b)
    qa = (a.means[:, None, :] @ pa @ a.means[:, :, None])[:, 0, 0]
    qb = (b.means[:, None, :] @ pb @ b.means[:, :, None])[:, 0, 0]
    log_c = (
        gamma * la[:, None] + (1 - gamma) * lb[None]
        - 0.5 * (gamma * qa[:, None] + (1 - gamma) * qb[None])
        + 0.5 * (beta[..., None, :] @ cov @ beta[..., None])[..., 0, 0]
        + 0.5 * d * math.log(2 * math.pi) + 0.5 * torch.logdet(cov)
    )
    log_c = torch.where(pd, log_c, torch.full_like(log_c, math.inf))
    best = log_c.min(1)
    if not bool(torch.isfinite(best.values).all()):
        return Envelopes(None, math.inf)
    rows = torch.arange(a.n_components)
    log_total = (gamma - 1) * math.log(a.n_components) + float(torch.logsumexp(best.values, 0))
    weights = torch.softmax(best.values, 0)
    comps = GaussianComponents(weights, mean[rows, best.indices], cov[rows, best.indices])
    return Envelopes(comps, log_total)


def _oriented(term: Term, p: GaussianComponents, q: GaussianComponents) -> tuple[GaussianComponents, GaussianComponents, float]:
    """A power term p^γ q^(1−γ) as a^g b^(1−g) with g > 1: (p, q, γ) or, for γ < 0, (q, p, 1 − γ)."""
    if term.gamma > 1:
        return p, q, term.gamma
    if term.gamma < 0:
        return q, p, 1 - term.gamma
    raise ValueError(f"a power term needs gamma > 1 or < 0, got {term.gamma} (use a log term)")


def mesh_components(terms: list[Term], p: GaussianComponents, q: GaussianComponents) -> list[GaussianComponents]:
    """The envelopes of the power terms, whose cores the mesh must cover besides p's and q's."""
    out = []
    for term in terms:
        if term.kind == "power":
            env = power_envelopes(*_oriented(term, p, q))
            if env.components is not None:
                out.append(env.components)
    return out


def infinite(terms: list[Term], p: GaussianComponents, q: GaussianComponents) -> bool:
    """Whether a power term's integral diverges (the integrand, ≥ 0 there, integrates to +inf)."""
    return any(term.kind == "power" and diverges(*_oriented(term, p, q)) for term in terms)


def outside(terms: list[Term], p: GaussianComponents, q: GaussianComponents) -> float:
    """A bound on ∫ |h| over the complement of a mesh that covers the core (mean ± 8.5 std per
    axis) of every component of p, of q and of :func:`mesh_components`."""
    p, q = _f64(p), _f64(q)
    d = p.dim
    t0 = outside_mass(d)
    total = 0.0
    for term in terms:
        if term.kind == "mass":
            total += term.coef * t0
        elif term.kind == "log":
            r = p if term.which == "p" else q
            mp, mq = float(_log_norms(p).max()), float(_log_norms(q).max())
            lp, cap_p, nu_p = _widest(p)
            lq, cap_q, nu_q = _widest(q)
            constant = 1 + abs(mp - lq) + abs(mq - lp)
            total += term.coef * (
                constant * t0
                + 0.5 * cap_q * _outside_square_moment(r, nu_q)
                + 0.5 * cap_p * _outside_square_moment(r, nu_p)
            )
        else:
            env = power_envelopes(*_oriented(term, p, q))
            log_bound = env.log_total + math.log(term.coef * t0)
            total += math.exp(log_bound) if log_bound < 709 else math.inf
    return total * (1 + 1e-6)  # a margin for the rounding of the terms (a bound can be tight)
