"""Integrals between two densities as expectations under each of them, each on its own mesh.

Every integrand h(p, q) of a divergence (and of V(D, G)) is positively homogeneous of degree 1 in
the densities, so with m = (p + q)/2 and D* = p/(p + q):

    ∫ h(p(x), q(x)) dx = ∫ m(x) k(x) dx = ½ E_p[k] + ½ E_q[k],   k = h(p, q)/m = h(2D*, 2(1 − D*)).

For JSD, k = log 2 − H(D*) with H the binary entropy, a bounded integrand (Goodfellow et al. 2014,
arXiv:1406.2661, proof of Theorem 1, with C(G) = −log 4 + 2·JSD); k is computed in log space, as
h(log p − log m, log q − log m).

Each expectation is integrated by the rule that suits its own measure:

- under a Gaussian mixture: the mixture-aware mesh of its components, in the standard
  coordinates of :class:`gantheory._quadrature.Frame`;
- under a pushforward r = G#N(0, I) of a known smooth map (a normalizing flow such as
  :class:`gantheory.CouplingFlowGenerator`; the protocol below), in the base space:
  E_r[k] = ∫ φ(z) k(G(z)) dz on the mesh of N(0, I), so a flow's expectation costs what a
  Gaussian's does, whatever G does to space.

Error bound: the adaptive cubature's (:mod:`gantheory._quadrature`, each box's error at least its
|K15 − G7|, which QUADPACK's scaling would shrink where a kink between nodes looks smooth), plus a
bound on the rounding of the integrand (in the flow's precision, and with the move of the data's
log density under the flow's rounding of x = G(z)), plus a closed-form bound on what lies outside
each mesh. Every point outside a
mesh lies outside the core ±12 std of every component of its measure (probability at most
T0 = 2dΦ(−12) < 1e-32, :mod:`gantheory._tails`). There |k| is at most 2b for a bounded integrand
(|h| ≤ b (p + q): JSD, C(G), TV, Hellinger) and 2c (1 + |log p − log q|) for a KL-type term, whose
growth is bounded by each density's envelope L − ½Λ|x − ν|² ≤ log r(x) ≤ U (a mixture's widest
component; a flow's a-priori bounds, :class:`PushforwardBounds`).

The meshes. Each expectation's integrand k depends on both densities, so each measure's mesh also
resolves the other density's narrow structure: its Gaussian pieces (a mixture's components, a
flow's local linearisations) narrower than a quarter of the measure's own are added to the mesh,
pulled back into the base space for a flow (N(G⁻¹(μ), J⁻¹ΣJ⁻ᵀ)). What a mesh still misses shows
in the masses: ∫p = ½E_p[2D*] + ½E_q[2D*] and ∫q = ½E_p[2(1 − D*)] + ½E_q[2(1 − D*)] are integrated
alongside, and their defect from 1 (beyond their own cubature error) times the largest |k| is
added to each bound.

The pushforward protocol: a distribution r with ``from_base(z) -> (x (n, d), log r(x) (n,))`` for
base points z (n, d) of N(0, I_d), its inverse ``to_base(x) -> z``, and
``envelope() -> PushforwardBounds``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.distributions import Distribution

from gantheory import _quadrature as quad
from gantheory import _tails as tails
from gantheory.distributions import GaussianComponents

_LOG2 = math.log(2.0)
#: Half-width, in standard deviations, of the cores each mesh covers: wider than between mixtures
#: (8.5), since a flow's a-priori bounds grow fast with its depth and multiply the mass left out,
#: T0 = 2dΦ(−12) < 1e-32, while the boxes out there cost little (the integrand is ~0).
CORE = 12.0


@dataclass(frozen=True)
class PushforwardBounds:
    """A-priori bounds of a pushforward r = G#N(0, I_d) over all of R^d:
    lower − ½ curvature |x|² ≤ log r(x) ≤ upper, and |G(z)|² ≤ reach_scale |z|² + reach_shift."""

    upper: float
    lower: float
    curvature: float
    reach_scale: float
    reach_shift: float


def pushforward(dist: Distribution) -> bool:
    """Whether ``dist`` follows the pushforward protocol (module docstring)."""
    return all(callable(getattr(dist, name, None)) for name in ("from_base", "to_base", "envelope"))


@dataclass(frozen=True)
class _Envelope:
    """L − ½Λ|x − ν|² ≤ log r(x) ≤ U for all x."""

    upper: float
    lower: float
    curvature: float
    centre: torch.Tensor


@dataclass(frozen=True)
class _Measure:
    """One measure r to integrate under: its mesh (lo, hi) in coordinates u, a map from u to
    (x, log r(x), log of r's density in u), the most mass r puts outside the mesh, and
    ``outside_square(ν)``, a bound on E_r[|x − ν|² ; outside the mesh]."""

    lo: torch.Tensor
    hi: torch.Tensor
    points: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor, torch.Tensor]]
    outside_mass: float
    outside_square: Callable[[torch.Tensor], float]
    envelope: _Envelope


def _stds(c: GaussianComponents) -> torch.Tensor:
    return torch.diagonal(c.covs, dim1=-2, dim2=-1).sqrt()


def _components(means: torch.Tensor, covs: torch.Tensor) -> GaussianComponents:
    n = means.shape[0]
    return GaussianComponents(torch.full((n,), 1.0 / max(n, 1), dtype=torch.float64), means, covs)


def _base_jacobian(r: Distribution, z: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """dG/dz (n, d, d) at base points z (n, d), by central differences (it only places the mesh)."""
    d, step = z.shape[1], 1e-6
    with torch.no_grad():
        columns = [
            (r.from_base((z + step * e).to(dtype))[0] - r.from_base((z - step * e).to(dtype))[0]).to(torch.float64) / (2 * step)
            for e in torch.eye(d, dtype=torch.float64)
        ]  # fmt: skip
    return torch.stack(columns, dim=2)


def _pieces(dist: Distribution, c: GaussianComponents | None, d: int, dtype: torch.dtype) -> GaussianComponents:
    """Where a density has its structure, as Gaussians in x: a mixture's components; for a
    pushforward G#N(0, I), its linearisations N(G(z_i), h² J_i J_iᵀ) at the points z_i of a grid of
    spacing 2h = 1 on [−4, 4]^d (J_i = dG/dz at z_i), which tile the image of the base's bulk."""
    if c is not None:
        return tails._f64(c)
    axis = torch.arange(-4.0, 4.0 + 0.5, 1.0, dtype=torch.float64)
    z = torch.stack(torch.meshgrid(*[axis] * d, indexing="ij"), dim=-1).reshape(-1, d)
    with torch.no_grad():
        x = dist.from_base(z.to(dtype))[0].to(torch.float64)
    jac = _base_jacobian(dist, z, dtype)
    covs = 0.25 * jac @ jac.transpose(1, 2)
    keep = torch.isfinite(x).all(1) & torch.isfinite(covs).all(2).all(1)
    return _components(x[keep], covs[keep])


def _narrow(pieces: GaussianComponents, resolution: float, lo: torch.Tensor, hi: torch.Tensor) -> GaussianComponents | None:
    """The pieces narrower than ``resolution`` on some axis whose mean lies in the box [lo, hi]:
    those the mesh of a measure must resolve besides its own components."""
    stds = _stds(pieces)
    keep = (stds.min(1).values < resolution) & (stds.min(1).values > 0)
    keep &= ((pieces.means >= lo) & (pieces.means <= hi)).all(1)
    if not bool(keep.any()):
        return None
    return _components(pieces.means[keep], pieces.covs[keep])


def _mesh(own: GaussianComponents, others: GaussianComponents | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Boxes over own's cores, refined where another density's narrow pieces lie (module docstring)."""
    own = tails._f64(own)
    core_lo = (own.means - CORE * _stds(own)).min(0).values
    core_hi = (own.means + CORE * _stds(own)).max(0).values
    # 15 Kronrod nodes a side on boxes of up to 4 stds: a piece wider than a quarter of own's
    # narrowest std meets nodes anyway, and the refinement follows it
    narrow = None if others is None else _narrow(others, 0.25 * float(_stds(own).min()), core_lo, core_hi)
    return quad.mixture_boxes([own] if narrow is None else [own, narrow], core=CORE)


def _standard(c: GaussianComponents) -> tuple[quad.Frame, GaussianComponents]:
    """The mixture's own standard coordinates (:class:`gantheory._quadrature.Frame`), or x itself
    where its means would be rounded on the way."""
    frame = quad.Frame.of([c])
    standard, rounded = frame.standardise(c)
    if bool((rounded != 0).any()):
        return quad.Frame(torch.zeros(c.dim, dtype=torch.float64), 1.0), c
    return frame, standard


def _in_frame(
    c: GaussianComponents, log_density: Callable[[GaussianComponents], Callable[[torch.Tensor], torch.Tensor]], eps: float
) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """x ↦ (log p(x), a bound on how much log p moves when x moves by its rounding).

    log p is evaluated in p's standard coordinates y = (x − centre)/s (x − centre is exact near
    the centre), so a mixture at 1e6 loses no digits to the subtraction. x itself, computed by a
    flow, carries a rounding of up to ~ε|x| per coordinate (a few roundings per layer: 8ε(|x| + 1)
    is taken); log p then moves by at most |∇ log p| times that, with
    |∇_y log p| ≤ Σ_k r_k ‖Σ_k⁻¹‖ |y − μ_k| (r_k the responsibilities).
    """
    frame, standard = _standard(c)
    log_y = log_density(standard)
    shift = c.dim * math.log(frame.scale)
    precision = 1.0 / torch.linalg.eigvalsh(standard.covs.detach())[:, 0]  # (K,)
    log_parts = torch.log(standard.weights.detach()) - 0.5 * torch.logdet(2 * math.pi * standard.covs.detach())
    inverse = torch.linalg.inv(standard.covs.detach())

    def log_p(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        y = (x - frame.centre.to(x.device, x.dtype)) / frame.scale
        ly = log_y(y)
        with torch.no_grad():
            diff = y[:, None, :] - standard.means.detach()[None].to(y.device)  # (n, K, d)
            maha = torch.einsum("nki,kij,nkj->nk", diff, inverse.to(y.device), diff)
            resp = torch.softmax(log_parts.to(y.device)[None] - 0.5 * maha, dim=1)
            gradient = (resp * precision.to(y.device)[None] * diff.norm(dim=2)).sum(1)
            moved = gradient * 8 * eps * (x.abs().amax(1) + 1) * math.sqrt(c.dim) / frame.scale
        return ly - shift, moved

    return log_p


def _mixture_measure(
    c: GaussianComponents,
    others: GaussianComponents,
    log_density: Callable[[GaussianComponents], Callable[[torch.Tensor], torch.Tensor]],
    device: torch.device,
) -> _Measure:
    """A Gaussian mixture, integrated in its own standard coordinates y = (x − centre)/s, on a
    mesh that also resolves the other density's narrow pieces (``others``, in x)."""
    frame, standard = _standard(c)
    centre = frame.centre.to(torch.float64).cpu()
    others_y = _components((others.means - centre) / frame.scale, others.covs / frame.scale**2)
    lo, hi = _mesh(standard, others_y)
    log_y = log_density(standard)
    shift = c.dim * math.log(frame.scale)  # log r_x(x) = log r_y(y) − d log s

    def points(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        ly = log_y(y)
        return frame.original(y), ly - shift, ly

    original = tails._f64(c)
    lower, curvature, centre = tails._widest(original)
    envelope = _Envelope(float(tails._log_norms(original).max()), lower, curvature, centre)
    return _Measure(
        lo.to(device), hi.to(device), points, tails.outside_mass(c.dim, CORE),
        lambda nu: tails._outside_square_moment(original, nu.cpu(), CORE), envelope,
    )  # fmt: skip


def _pushforward_measure(r: Distribution, others: GaussianComponents, d: int, dtype: torch.dtype, device: torch.device) -> _Measure:
    """r = G#N(0, I_d), integrated in the base space on the mesh of N(0, I_d), which also resolves
    the other density's narrow pieces N(μ, Σ) pulled back: N(G⁻¹(μ), J⁻¹ Σ J⁻ᵀ), J = dG/dz there."""
    base = _components(torch.zeros(1, d, dtype=torch.float64), torch.eye(d, dtype=torch.float64)[None])
    with torch.no_grad():
        z = r.to_base(others.means.to(dtype)).to(torch.float64)
    inverse = torch.linalg.inv(_base_jacobian(r, z, dtype))
    covs = inverse @ others.covs @ inverse.transpose(1, 2)
    keep = torch.isfinite(z).all(1) & torch.isfinite(covs).all(2).all(1)
    lo, hi = _mesh(base, _components(z[keep], covs[keep]))
    half_log_2pi = 0.5 * d * math.log(2 * math.pi)

    def points(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x, log_r = r.from_base(z.to(dtype))
        return x.to(torch.float64), log_r.to(torch.float64), -0.5 * (z * z).sum(1) - half_log_2pi

    bounds: PushforwardBounds = r.envelope()
    t0 = tails.outside_mass(d, CORE)
    z_square = tails._outside_square_moment(base, torch.zeros(d, dtype=torch.float64), CORE)

    def outside_square(nu: torch.Tensor) -> float:
        # |x − ν|² ≤ 2|x|² + 2|ν|², and |x|² ≤ reach_scale |z|² + reach_shift
        x_square = bounds.reach_scale * z_square + bounds.reach_shift * t0
        return 2 * x_square + 2 * float((nu.cpu() ** 2).sum()) * t0

    envelope = _Envelope(bounds.upper, bounds.lower, bounds.curvature, torch.zeros(d, dtype=torch.float64))
    return _Measure(lo.to(device), hi.to(device), points, t0, outside_square, envelope)


def supports(bounds: Sequence[object], p: Distribution, q: Distribution, cp: GaussianComponents | None, cq: GaussianComponents | None) -> bool:
    """Whether the expectation route applies: a pushforward on one side, a Gaussian mixture or a
    pushforward on the other, and no power term (χ², whose tails are left to box quadrature)."""
    sides = [(pushforward(dist), c is not None) for dist, c in ((p, cp), (q, cq))]
    if not any(push for push, _ in sides) or not all(push or mix for push, mix in sides):
        return False
    return not any(
        not isinstance(b, (int, float)) and any(term.kind == "power" for term in b) for b in bounds
    )


def integrate(
    p: Distribution,
    q: Distribution,
    cp: GaussianComponents | None,
    cq: GaussianComponents | None,
    integrand: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    bounds: Sequence[object],
    *,
    d: int,
    log_density: Callable[[GaussianComponents], Callable[[torch.Tensor], torch.Tensor]],
    log_prob: Callable[[Distribution, torch.Tensor], torch.Tensor],
    rounding: Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor],
    atol: float,
    rtol: float,
    max_points: int,
    device: torch.device,
    dtype: Callable[[Distribution], torch.dtype],
) -> tuple[torch.Tensor, list[float]]:
    """∫ integrand(x, log p, log q) dx = ½ E_p[k] + ½ E_q[k] (module docstring), for k columns.

    ``log_density`` makes a mixture's log density, ``log_prob`` evaluates any distribution at
    points (n, d), ``rounding`` bounds the integrand's rounding in float64 (as between mixtures),
    ``dtype`` gives a distribution's parameter dtype: a flow in float32 raises atol and rtol to
    10 ε of float32 and scales the rounding bound by its ε. Each side gets half of ``atol`` and all
    of ``rtol``.
    Returns the values (k,) with their autograd graph and their error bounds.
    """
    k = len(bounds)
    # a flow evaluated in low precision: its rounding is the floor of any error (as for a float32 D
    # in gantheory.value), and the rounding bound scales with its epsilon
    eps = max(torch.finfo(dtype(dist)).eps for dist, c in ((p, cp), (q, cq)) if c is None)
    atol, rtol = max(atol, 10 * eps), max(rtol, 10 * eps)
    precision = eps / torch.finfo(torch.float64).eps
    def other(dist: Distribution, c: GaussianComponents | None) -> Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor | float]]:
        """The density of a side at points x given by the other side: (log, how much x's rounding moves it)."""
        if c is None:  # a flow at the points of the mixture's mesh, or of another flow
            return lambda x: (log_prob(dist, x), 0.0)
        return _in_frame(c, log_density, eps)

    log_p_of, log_q_of = other(p, cp), other(q, cq)
    sides = ((p, cp), (q, cq))
    pieces = [_pieces(dist, c, d, dtype(dist)) for dist, c in sides]
    measures = [
        _mixture_measure(c, pieces[1 - i], log_density, device) if c is not None
        else _pushforward_measure(dist, pieces[1 - i], d, dtype(dist), device)
        for i, (dist, c) in enumerate(sides)
    ]  # fmt: skip
    values: torch.Tensor | float = 0.0
    errors = [0.0] * k
    masses, mass_errors = torch.zeros(2, dtype=torch.float64), torch.zeros(2, dtype=torch.float64)
    largest = torch.zeros(k, dtype=torch.float64)  # the largest |k| met at a node, per column
    for side, measure in enumerate(measures):

        def full(u: torch.Tensor, measure: _Measure = measure, side: int = side) -> torch.Tensor:
            x, log_r, log_weight = measure.points(u)
            lp, moved = (log_r, 0.0) if side == 0 else log_p_of(x)
            lq, moved = (log_r, moved) if side == 1 else log_q_of(x)
            lm = torch.logaddexp(lp, lq) - _LOG2
            kk = integrand(x, lp - lm, lq - lm)
            with torch.no_grad():
                seen = torch.where(torch.isfinite(kk), kk.abs(), torch.zeros_like(kk)).amax(0).cpu()
                largest.copy_(torch.maximum(largest, seen))
            half_weight = 0.5 * log_weight.exp()[:, None]
            h = half_weight * kk  # ½ r k
            mass = (half_weight * torch.stack([lp - lm, lq - lm], dim=1).exp()).detach()  # ½ r 2D*, ½ r 2(1 − D*)
            rounded = precision * (rounding(h, lp - lm, lq - lm) + rounding(h, lp, lq))
            # a move δ of log p or log q moves k by at most 2 (1 + |log p − log q|) δ (JSD, KL, V)
            if isinstance(moved, torch.Tensor):
                spread = torch.nan_to_num((lp - lq).detach().abs(), nan=0.0, posinf=1e300)
                shift = torch.where(moved > 0, 2 * (1 + spread) * moved, torch.zeros_like(moved))
                rounded = rounded + half_weight.detach() * shift[:, None]
            return torch.cat([h, rounded, mass], dim=1)

        result = quad.integrate(
            full, measure.lo, measure.hi, atol=atol / 2, rtol=rtol, max_points=max_points, carried=k + 2, split="axis",
            conservative=True,
        )  # fmt: skip
        values = values + result.values[:k]
        side_errors = (result.errors[:k] + result.values[k : 2 * k].detach()).cpu().tolist()
        masses += result.values[2 * k :].detach().cpu()
        mass_errors += result.errors[2 * k :].cpu()
        outside = _outside(bounds, measure, measures, full, k)
        errors = [e + s + o for e, s, o in zip(errors, side_errors, outside)]
    # what the meshes missed shows in the masses: ∫p = ∫q = 1 (module docstring)
    defect = tails.missed_mass(masses, mass_errors, sum(m.outside_mass for m in measures))
    if defect > 0:
        for i, b in enumerate(bounds):
            size = tails.density_ratio_bound(b)  # |h| ≤ b (p + q) means |k| ≤ 2b
            errors[i] += defect * 2 * (size if math.isfinite(size) else float(largest[i]))
    return values, errors


def _outside(bounds: Sequence[object], measure: _Measure, measures: list[_Measure], full: Callable[[torch.Tensor], torch.Tensor], k: int) -> list[float]:
    """A bound on ½ E_r[|k| ; outside r's mesh] for each column (module docstring)."""
    t0 = measure.outside_mass
    out = []
    estimated: torch.Tensor | None = None
    for column, b in enumerate(bounds):
        if isinstance(b, (int, float)):
            if math.isinf(b):  # no declared bound: 2 · the largest |k| at the mesh's corners
                if estimated is None:
                    estimated = _corner_estimate(full, measure, k)
                out.append(float(estimated[column]) * t0)
            else:
                out.append(b * t0)  # ½ · 2b · T0
            continue
        ep, eq = measures[0].envelope, measures[1].envelope
        total = 0.0
        for term in b:
            if term.kind == "mass":
                total += term.coef * t0
            else:  # log: ½ · 2c · E_r[1 + |log p − log q| ; outside]
                constant = 1 + abs(ep.upper - eq.lower) + abs(eq.upper - ep.lower)
                total += term.coef * (
                    constant * t0
                    + 0.5 * eq.curvature * measure.outside_square(eq.centre)
                    + 0.5 * ep.curvature * measure.outside_square(ep.centre)
                )
        out.append(total * (1 + 1e-6))  # a margin for the rounding of the terms
    return out


def _corner_estimate(full: Callable[[torch.Tensor], torch.Tensor], measure: _Measure, k: int) -> torch.Tensor:
    """2 · max |k| over the corners of the mesh's boxes, per column (an estimate, not a bound)."""
    with torch.no_grad():
        u = torch.cat([measure.lo, measure.hi])
        weight = measure.points(u)[2].exp()[:, None]
        kk = 2 * full(u)[:, :k].abs() / torch.clamp(weight, min=1e-300)
        kk = torch.where(torch.isfinite(kk), kk, torch.zeros_like(kk))
    return 2 * kk.max(0).values
