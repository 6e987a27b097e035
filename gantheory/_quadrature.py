"""Integration rules: adaptive tensor-product Gauss–Kronrod cubature over boxes in 1D and 2D.

Every deterministic divergence in gantheory is an integral ∫ h(x) dx of an integrand built from
log p(x) and log q(x); this module is the one place that knows how to compute such integrals.

The rule. Each box is integrated with the tensor product of the 15-point Kronrod rule (225
nodes in 2D) and, on the embedded nodes, the 7-point Gauss rule. A box's error estimate is the
larger of |K15 − G7| and, for a box made by splitting, its share of how much the split changed
its parent's value. On smooth integrands both are large over-estimates of the error of K15,
which is the value we keep, so the summed estimate is a conservative bound; the second one
keeps it honest where the integrand has kinks (|p − q|, the logsumexp of narrow components). Boxes whose error is above their share of
the tolerance are split in 2^d halves until the total error is below max(atol, rtol·|value|).

The mesh. Where p and q are Gaussian mixtures, the starting boxes come from the components
themselves (:func:`mixture_boxes`): every component's core, mean ± L·std per axis, is covered
by boxes no wider than a few of that component's standard deviations. A ring of modes with
std 0.02 thus starts from boxes of size 0.06 around each mode and boxes of size ~3 over a wide
Gaussian, where a uniform grid would either waste nodes or miss the modes. For any other
density, the caller builds the same boxes around a Gaussian fitted to samples and widens it
until it holds all but 1e-12 of the mass (``gantheory.divergences``).

The coordinates. Between Gaussian mixtures the integral runs in the standard coordinates of
:class:`Frame`, where every component's mean is exact and its log density is evaluated near 0,
whatever the location and the scale of the problem.

References: Kronrod 1965; Piessens et al. 1983 (QUADPACK); Genz & Malik 1980 (adaptive cubature).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch

from gantheory.distributions import GaussianComponents

# Gauss–Kronrod 7-15 on [-1, 1]: Kronrod nodes (the Gauss nodes are every other one), and weights.
_XK = [
    -0.991455371120812639206854697526329,
    -0.949107912342758524526189684047851,
    -0.864864423359769072789712788640926,
    -0.741531185599394439863864773280788,
    -0.586087235467691130294144845693013,
    -0.405845151377397166906606412076961,
    -0.207784955007898467600689403773245,
    0.0,
    0.207784955007898467600689403773245,
    0.405845151377397166906606412076961,
    0.586087235467691130294144845693013,
    0.741531185599394439863864773280788,
    0.864864423359769072789712788640926,
    0.949107912342758524526189684047851,
    0.991455371120812639206854697526329,
]
_WK = [
    0.022935322010529224963732008058970,
    0.063092092629978553290700663189204,
    0.104790010322250183839876322541518,
    0.140653259715525918745189590510238,
    0.169004726639267902826583426598550,
    0.190350578064785409913256402421014,
    0.204432940075298892414161999234649,
    0.209482141084727828012999174891714,
    0.204432940075298892414161999234649,
    0.190350578064785409913256402421014,
    0.169004726639267902826583426598550,
    0.140653259715525918745189590510238,
    0.104790010322250183839876322541518,
    0.063092092629978553290700663189204,
    0.022935322010529224963732008058970,
]
_WG = [
    0.129484966168869693270611432679082,
    0.279705391489276667901467771423780,
    0.381830050505118944950369775488975,
    0.417959183673469387755102040816327,
    0.381830050505118944950369775488975,
    0.279705391489276667901467771423780,
    0.129484966168869693270611432679082,
]

#: Half-width of a component's core in standard deviations: P(|Z| > 8.5) < 2e-17.
CORE = 8.5
#: Points per call of the integrand (bounds the memory of one evaluation).
_CHUNK = 225 * 1024  # a multiple of the nodes of a box in 1D (15) and 2D (225)
#: Largest box side, in standard deviations of a component whose core the box meets.
_MAX_SIDE = 4.0


def _rule(d: int, dtype: torch.dtype, device: torch.device) -> tuple[torch.Tensor, ...]:
    """Nodes (N, d) on [-1, 1]^d, the Kronrod and Gauss weights (N,) of the tensor rule, and the
    1D Kronrod and Gauss weights (15,) (Gauss: zero on the Kronrod-only nodes)."""
    xk = torch.tensor(_XK, dtype=dtype, device=device)
    wk = torch.tensor(_WK, dtype=dtype, device=device)
    wg = torch.zeros(15, dtype=dtype, device=device)
    wg[1::2] = torch.tensor(_WG, dtype=dtype, device=device)
    if d == 1:
        return xk[:, None], wk, wg, wk, wg
    grids = torch.meshgrid(xk, xk, indexing="ij")
    nodes = torch.stack([g.reshape(-1) for g in grids], dim=1)
    return nodes, torch.outer(wk, wk).reshape(-1), torch.outer(wg, wg).reshape(-1), wk, wg


@dataclass(frozen=True)
class Integral:
    """Integrals of k integrands: values (k,) (differentiable) and error bounds (k,)."""

    values: torch.Tensor
    errors: torch.Tensor
    n_boxes: int
    converged: bool


def _evaluate(
    integrand: Callable[[torch.Tensor], torch.Tensor],
    lo: torch.Tensor,
    hi: torch.Tensor,
    rule: tuple[torch.Tensor, ...],
    conservative: bool = False,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Kronrod values (B, k), |Kronrod − Gauss| (B, k) on boxes [lo, hi] (B, d), and the axis (B,)
    along which each box is least resolved: the axis a whose rule K15 ⊗ … ⊗ G7 (Gauss along a
    only) differs most from K15 ⊗ … ⊗ K15, summed over the k integrands. ``conservative``: the
    error is never below |K15 − G7| itself (QUADPACK's scaling shrinks it where the integrand
    looks smooth, which a kink between the nodes can fake)."""
    nodes, wk, wg, wk1, wg1 = rule
    centre, half = (lo + hi) / 2, (hi - lo) / 2
    x = centre[:, None, :] + half[:, None, :] * nodes[None]  # (B, N, d)
    b, n, d = x.shape
    points = x.reshape(b * n, d)
    chunks = [integrand(chunk) for chunk in points.split(_CHUNK)]
    f = torch.cat(chunks).reshape(b, n, -1)  # (B, N, k)
    volume = half.prod(dim=1)[:, None]
    kron = torch.einsum("bnk,n->bk", f, wk) * volume
    fd, vd = f.detach(), volume.detach()
    gauss = torch.einsum("bnk,n->bk", fd, wg) * vd
    # QUADPACK's scaling of |K − G| (Piessens et al. 1983, qk15): resasc = ∫|f − mean f|,
    # error = resasc · min(1, (200 |K − G| / resasc)^1.5).
    resasc = torch.einsum("bnk,n->bk", (fd - (kron.detach() / vd)[:, None, :]).abs(), wk) * vd
    raw = (kron.detach() - gauss).abs()
    scaled = resasc * torch.clamp(200 * raw / torch.clamp(resasc, min=1e-300), max=1.0) ** 1.5
    error = torch.where(resasc > 0, scaled, raw)
    if conservative:
        error = torch.maximum(error, raw)
    axis = torch.zeros(b, dtype=torch.long, device=lo.device)
    if d == 2:
        grid = fd.reshape(b, 15, 15, -1)
        kk = kron.detach() / vd
        along = torch.stack([
            (kk - torch.einsum("bijk,i,j->bk", grid, wg1, wk1)).abs().sum(1),
            (kk - torch.einsum("bijk,i,j->bk", grid, wk1, wg1)).abs().sum(1),
        ], dim=1)  # fmt: skip
        axis = along.argmax(1)
    return kron, torch.maximum(error, 50 * torch.finfo(fd.dtype).eps * (kron.detach().abs())), axis


def _split(lo: torch.Tensor, hi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each box into 2^d halves."""
    mid = (lo + hi) / 2
    d = lo.shape[1]
    los, his = [lo], [mid]
    for axis in range(d):
        new_los, new_his = [], []
        for a, b in zip(los, his):
            upper_lo, upper_hi = a.clone(), b.clone()
            upper_lo[:, axis], upper_hi[:, axis] = mid[:, axis], hi[:, axis]
            lower_lo, lower_hi = a.clone(), b.clone()
            lower_lo[:, axis], lower_hi[:, axis] = lo[:, axis], mid[:, axis]
            new_los += [lower_lo, upper_lo]
            new_his += [lower_hi, upper_hi]
        los, his = new_los, new_his
    return torch.cat(los), torch.cat(his)


def integrate(
    integrand: Callable[[torch.Tensor], torch.Tensor],
    lo: torch.Tensor,
    hi: torch.Tensor,
    *,
    atol: float = 1e-12,
    rtol: float = 1e-10,
    max_points: int = 4_000_000,
    max_rounds: int = 40,
    carried: int = 0,
    split: Literal["all", "axis"] = "all",
    conservative: bool = False,
) -> Integral:
    """∫ f(x) dx over the union of the disjoint boxes [lo_b, hi_b], for k integrands at once.

    Args:
        integrand: maps points (n, d) to values (n, k); may carry an autograd graph.
        lo, hi: (B, d) corners of the starting boxes.
        atol, rtol: stop when each integrand's summed error bound is below max(atol, rtol·|value|).
        max_points: the most integrand evaluations in all (a guard against singular integrands:
            the refinement stops there and the error bound says how far it got).
        max_rounds: the most refinement rounds.
        carried: the last ``carried`` columns are integrated along but do not decide when to
            stop (a bound on the rounding error of the others, say).
        split: "all": a box that fails is split in 2^d halves; "axis": in 2, across the axis
            along which it is least resolved (:func:`_evaluate`), so that a steep ridge along a
            coordinate line costs a few boxes per round instead of a number that doubles.
        conservative: never take a box's error below |K15 − G7| (see :func:`_evaluate`).

    Returns:
        :class:`Integral`: values (k,) keep the autograd graph of the integrand on the accepted
        boxes; errors (k,) are the summed |K15 − G7| of the accepted boxes. ``converged`` is
        False when a limit stopped the refinement or an integrand was not finite.
    """
    rule = _rule(lo.shape[1], lo.dtype, lo.device)
    accepted_value: torch.Tensor | float = 0.0
    accepted_error: torch.Tensor | float = 0.0
    n_boxes = 0
    evaluated = 0
    per_box = rule[0].shape[0]
    pieces = 2 if split == "axis" else 2 ** lo.shape[1]
    parents: torch.Tensor | None = None  # the K15 values of the boxes just split, (B_parent, k)
    for round_ in range(max_rounds):
        values, errors, axes = _evaluate(integrand, lo, hi, rule, conservative)
        evaluated += lo.shape[0] * per_box
        if parents is not None:
            # Second estimate: how much splitting changed the parent's value, shared by its children.
            # It catches kinks and ridges, where K15 and G7 can agree by chance.
            children = values.detach().reshape(pieces, parents.shape[0], -1)
            change = (children.sum(0) - parents).abs() / children.shape[0]
            errors = torch.maximum(errors, change.repeat(children.shape[0], 1))
        total = (accepted_value + values.sum(0)).detach()
        tolerance = torch.clamp(rtol * total.abs(), min=atol)
        tolerance[tolerance.shape[0] - carried :] = math.inf
        finite = bool(torch.isfinite(values).all())
        done = bool((accepted_error + errors.sum(0) <= tolerance).all())
        # Accept a box when its error is below its share of what is left of the tolerance.
        budget = torch.clamp(tolerance - accepted_error, min=0.0) / lo.shape[0]
        good = (errors <= budget[None]).all(dim=1)
        next_points = int((~good).sum()) * pieces * per_box
        if done or not finite or bool(good.all()) or round_ == max_rounds - 1 or evaluated + next_points > max_points:
            n_boxes += lo.shape[0]
            converged = (done or bool(good.all())) and finite
            return Integral(accepted_value + values.sum(0), accepted_error + errors.sum(0), n_boxes, converged)
        accepted_value = accepted_value + values[good].sum(0)
        accepted_error = accepted_error + errors[good].sum(0)
        n_boxes += int(good.sum())
        parents = values.detach()[~good]
        if split == "axis":
            lo, hi = _halve(lo[~good], hi[~good], axes[~good])
        else:
            lo, hi = _split(lo[~good], hi[~good])
    raise AssertionError("unreachable: the last round always returns")


def mixture_boxes(
    components: list[GaussianComponents], *, core: float = CORE, fill: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Starting boxes (lo, hi), each (B, d), fitted to the components of Gaussian mixtures.

    The union of the boxes covers every component's core (mean ± core·std on each axis); a box
    that meets the core of a component is at most ``_MAX_SIDE`` of that component's standard
    deviations wide along each axis. Boxes that meet no core are dropped (every component puts
    less than 2·d·Φ(−core) of its mass there), or, with ``fill``, kept as they are, so that the
    boxes tile the whole bounding box of the cores (for integrands that do not vanish between
    the components, such as |F_p − F_q| in the Wasserstein distance).
    """
    means = torch.cat([c.means.detach() for c in components])
    stds = torch.cat([torch.diagonal(c.covs.detach(), dim1=-2, dim2=-1).sqrt() for c in components])
    core_lo, core_hi = means - core * stds, means + core * stds
    lo = core_lo.min(0).values[None]
    hi = core_hi.max(0).values[None]
    done_lo, done_hi = [], []
    for _ in range(400):
        # which components' cores does each box meet?
        meets = ((lo[:, None, :] < core_hi[None]) & (hi[:, None, :] > core_lo[None])).all(-1)  # (B, K)
        keep = meets.any(1)
        if fill:
            done_lo.append(lo[~keep])
            done_hi.append(hi[~keep])
        lo, hi, meets = lo[keep], hi[keep], meets[keep]
        # width in units of the narrowest met component's std, per axis
        narrowest = torch.where(meets[..., None], stds[None], torch.full_like(stds[None], math.inf)).min(1).values
        excess = (hi - lo) / (_MAX_SIDE * narrowest)  # (B, d)
        too_wide = (excess > 1).any(1)
        done_lo.append(lo[~too_wide])
        done_hi.append(hi[~too_wide])
        if not bool(too_wide.any()):
            break
        lo, hi = _halve(lo[too_wide], hi[too_wide], excess[too_wide].argmax(1))
    return torch.cat(done_lo), torch.cat(done_hi)


def _halve(lo: torch.Tensor, hi: torch.Tensor, axis: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Split each box in two along its own ``axis`` (B,)."""
    rows = torch.arange(lo.shape[0], device=lo.device)
    mid = (lo[rows, axis] + hi[rows, axis]) / 2
    lower_hi, upper_lo = hi.clone(), lo.clone()
    lower_hi[rows, axis] = mid
    upper_lo[rows, axis] = mid
    return torch.cat([lo, upper_lo]), torch.cat([lower_hi, hi])


def grid_boxes(lo: torch.Tensor, hi: torch.Tensor, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Split the box (1, d) into n^d equal boxes."""
    d = lo.shape[1]
    t = torch.linspace(0, 1, n + 1, dtype=lo.dtype, device=lo.device)
    axes = [lo[0, i] + (hi[0, i] - lo[0, i]) * t for i in range(d)]
    starts = torch.meshgrid(*[a[:-1] for a in axes], indexing="ij")
    ends = torch.meshgrid(*[a[1:] for a in axes], indexing="ij")
    return (
        torch.stack([s.reshape(-1) for s in starts], dim=1),
        torch.stack([e.reshape(-1) for e in ends], dim=1),
    )


@dataclass(frozen=True)
class Frame:
    """Standard coordinates y = (x − centre) / scale for integrals between Gaussian mixtures.

    Far from the origin, x − μ loses the digits that matter: at x ≈ 1e6 a float64 resolves steps of
    1.2e-10, i.e. 1.2e-4 standard deviations of a component of std 1e-6. In standard coordinates
    the components' means are differences taken once (μ − centre, exact when μ and the centre are
    close, by Sterbenz's lemma) and every log density is evaluated near 0. ``scale`` is a power of
    two (dividing by it is exact) near the smallest standard deviation, so densities in y stay
    near 1 whatever the units; ``centre`` is the middle of the components' cores rounded to a few
    significant bits. An integrand positively homogeneous of degree 1 in the densities (every
    f-divergence, V(D, G)) has the same integral in y as in x: ∫ h(p_X, q_X) dx = ∫ h(p_Y, q_Y) dy.

    Attributes:
        centre: (d,), a multiple of a power of two; scale: a power of two.
    """

    centre: torch.Tensor
    scale: float

    @staticmethod
    def of(components: list[GaussianComponents], core: float = CORE) -> Frame:
        means = torch.cat([c.means.detach().to(torch.float64).cpu() for c in components])
        stds = torch.cat([
            torch.diagonal(c.covs.detach().to(torch.float64).cpu(), dim1=-2, dim2=-1).sqrt()
            for c in components
        ])  # fmt: skip
        lo = (means - core * stds).min(0).values
        hi = (means + core * stds).max(0).values
        middle = (lo + hi) / 2
        extent = float((hi - lo).max())
        grid = 2.0 ** math.floor(math.log2(extent)) if extent > 0 else 1.0
        centre = torch.round(middle / grid) * grid
        smallest = float(stds.min())
        scale = 2.0 ** round(math.log2(smallest))
        # keep standard coordinates far from overflow: |y| ≤ 1e300
        reach = float(torch.maximum((hi - centre).abs(), (lo - centre).abs()).max())
        while reach / scale > 1e300:
            scale *= 2.0**64
        return Frame(centre, scale)

    def standardise(self, c: GaussianComponents) -> tuple[GaussianComponents, torch.Tensor]:
        """The mixture in y (keeping autograd graphs) and the rounding error of its means (K, d).

        Means: (μ − centre) / scale, rounded once in the subtraction (TwoSum gives the exact
        error); covariances: Σ / scale², exact."""
        centre = self.centre.to(c.means.device, c.means.dtype)
        diff = c.means - centre
        with torch.no_grad():  # TwoSum (Knuth): diff + err = μ − centre exactly
            bb = diff - c.means
            err = (c.means - (diff - bb)) + (-centre - bb)
        means = diff / self.scale
        covs = c.covs / self.scale**2
        return GaussianComponents(c.weights, means, covs), err / self.scale

    def original(self, y: torch.Tensor) -> torch.Tensor:
        """x = centre + scale · y."""
        return self.centre.to(y.device, y.dtype) + self.scale * y
