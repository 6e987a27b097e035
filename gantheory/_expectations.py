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

Error bound: the adaptive cubature's (:mod:`gantheory._quadrature`), plus a bound on the rounding
of the integrand, plus a closed-form bound on what lies outside each mesh. Every point outside a
mesh lies outside the core ±12 std of every component of its measure (probability at most
T0 = 2dΦ(−12) < 1e-32, :mod:`gantheory._tails`). There |k| is at most 2b for a bounded integrand
(|h| ≤ b (p + q): JSD, C(G), TV, Hellinger) and 2c (1 + |log p − log q|) for a KL-type term, whose
growth is bounded by each density's envelope L − ½Λ|x − ν|² ≤ log r(x) ≤ U (a mixture's widest
component; a flow's a-priori bounds, :class:`PushforwardBounds`).

The pushforward protocol: a distribution r with ``from_base(z) -> (x (n, d), log r(x) (n,))`` for
base points z (n, d) of N(0, I_d), and ``envelope() -> PushforwardBounds``.
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
    return callable(getattr(dist, "from_base", None)) and callable(getattr(dist, "envelope", None))


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


def _mixture_measure(
    c: GaussianComponents,
    log_density: Callable[[GaussianComponents], Callable[[torch.Tensor], torch.Tensor]],
    device: torch.device,
) -> _Measure:
    """A Gaussian mixture, integrated in its own standard coordinates y = (x − centre)/s."""
    frame = quad.Frame.of([c])
    standard, rounded = frame.standardise(c)
    if bool((rounded != 0).any()):  # the means would be rounded: integrate in x itself
        frame, standard = quad.Frame(torch.zeros(c.dim, dtype=torch.float64), 1.0), c
    detached = tails._f64(standard)
    lo, hi = quad.mixture_boxes([detached], core=CORE)
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


def _pushforward_measure(r: Distribution, d: int, dtype: torch.dtype, device: torch.device) -> _Measure:
    """r = G#N(0, I_d), integrated in the base space on the mesh of N(0, I_d)."""
    base = GaussianComponents(
        torch.ones(1, dtype=torch.float64), torch.zeros(1, d, dtype=torch.float64), torch.eye(d, dtype=torch.float64)[None]
    )  # fmt: skip
    lo, hi = quad.mixture_boxes([base], core=CORE)
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
    points (n, d), ``rounding`` bounds the integrand's rounding (as between mixtures), ``dtype``
    gives a distribution's parameter dtype. Each side gets half of ``atol`` and all of ``rtol``.
    Returns the values (k,) with their autograd graph and their error bounds.
    """
    k = len(bounds)
    log_p_of = (lambda x: log_density(cp)(x)) if cp is not None else (lambda x: log_prob(p, x))
    log_q_of = (lambda x: log_density(cq)(x)) if cq is not None else (lambda x: log_prob(q, x))
    measures = [
        _mixture_measure(c, log_density, device) if c is not None else _pushforward_measure(dist, d, dtype(dist), device)
        for dist, c in ((p, cp), (q, cq))
    ]
    values: torch.Tensor | float = 0.0
    errors = [0.0] * k
    for side, measure in enumerate(measures):

        def full(u: torch.Tensor, measure: _Measure = measure, side: int = side) -> torch.Tensor:
            x, log_r, log_weight = measure.points(u)
            lp = log_r if side == 0 else log_p_of(x)
            lq = log_r if side == 1 else log_q_of(x)
            lm = torch.logaddexp(lp, lq) - _LOG2
            h = 0.5 * log_weight.exp()[:, None] * integrand(x, lp - lm, lq - lm)  # ½ r k
            return torch.cat([h, rounding(h, lp - lm, lq - lm) + rounding(h, lp, lq)], dim=1)

        result = quad.integrate(
            full, measure.lo, measure.hi, atol=atol / 2, rtol=rtol, max_points=max_points, carried=k, split="axis"
        )
        values = values + result.values[:k]
        side_errors = (result.errors[:k] + result.values[k:].detach()).cpu().tolist()
        outside = _outside(bounds, measure, measures, full, k)
        errors = [e + s + o for e, s, o in zip(errors, side_errors, outside)]
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
