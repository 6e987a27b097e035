"""A learned discriminator D against the optimal one, D*(x) = p_data(x) / (p_data(x) + p_g(x)).

For a fixed G, Goodfellow et al. 2014 (arXiv:1406.2661, Proposition 1) show that V(D, G) is
maximised by D*, with V(D*, G) = C(G) = -log 4 + 2 JSD(p_data || p_g) (Theorem 1). This module
measures how far a trained D is from D*:

- the mean absolute error E_{x ~ M} |D(x) - D*(x)|, M = (p_data + p_g) / 2;
- the value gap V(D*, G) - V(D, G) >= 0 (equal to 2 E_M[KL(Bernoulli(D*) || Bernoulli(D))]);
- D beside D* on a grid, for plots;
- :func:`train_discriminator`: G frozen, D trained alone, its distance to D* per step (the inner
  loop of the theory, which assumes D reaches D* before G moves).

Integrals. Every integral splits as integral p_data(x) f(x) dx + integral p_g(x) g(x) dx, and
each half uses the midpoint rule on a uniform grid over a box fitted to its own density (from
4096 samples drawn from a fixed seed: the 0.1% to 99.9% quantiles, widened by half their range
on each side), so a narrow p_g is resolved as well as a wide p_data. A network D is only
piecewise smooth, so a high-order rule gains little. The value is the mean of the rule on n
cells per axis and on the same grid moved by half a cell; its error estimate is
|I_n - I_{n/2}| + |I_n - I_n'| (I_n' the moved grid: the first term measures the h^2 error of
smooth parts, the second the phase-dependent error at kinks of |D - D*| and of ReLU networks)
plus the mass outside the box times the largest |f| on the grid. It is an estimate, checked
against scipy and 64x finer grids in the tests, not a proof. With the default grids (2048 cells
in 1D, 192 x 192 in 2D) it is typically 1e-8 to 1e-4.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution
from tqdm.auto import tqdm

from gantheory import _validation as check
from gantheory.losses import GENERATOR_LOSSES, GeneratorLoss
from gantheory.models import mlp_discriminator
from gantheory.train import (
    DataSampler,
    Noise,
    Optimizer,
    _d_step,
    _optimizer,
    random_streams,
    resolve_device,
    sample_noise,
)

__all__ = [
    "DiscriminatorError",
    "DiscriminatorGrid",
    "DiscriminatorTrace",
    "discriminator_error",
    "discriminator_grid",
    "train_discriminator",
]

_CELLS = {1: 2048, 2: 192}


def _logit_fn(D: Callable[[Tensor], Tensor], logits: bool) -> Callable[[Tensor], Tensor]:
    """D as a float64 function of float64 points (n, d) returning logits (n,)."""
    if not callable(D):
        raise TypeError(f"D must be callable (a module or a function), got {type(D).__name__}")
    param = next(D.parameters(), None) if isinstance(D, nn.Module) else None

    def a(x: Tensor) -> Tensor:
        inp = x if param is None else x.to(param.device, param.dtype)
        with torch.no_grad():
            out = D(inp)
        out = out.reshape(x.shape[0], -1)
        if out.shape[1] != 1:
            raise ValueError(
                f"D must return one value per point, shape (n,) or (n, 1); got {tuple(out.shape)}"
            )
        out = out[:, 0].to("cpu", torch.float64)
        return out if logits else torch.log(out) - torch.log1p(-out)

    return a


def _box(dist: Distribution) -> tuple[Tensor, Tensor]:
    x = DataSampler(dist, dtype=torch.float64)(4096, torch.Generator().manual_seed(0))
    q_lo, q_hi = torch.quantile(x, 1e-3, dim=0), torch.quantile(x, 1 - 1e-3, dim=0)
    width = torch.clamp(q_hi - q_lo, min=1e-9)
    return q_lo - 0.5 * width, q_hi + 0.5 * width


def _boxes(
    p_data: Distribution, p_g: Distribution, box: object, d: int
) -> list[tuple[Tensor, Tensor]]:
    if box is not None:
        return [_as_box(box, d)] * 2
    return [_box(p_data), _box(p_g)]


def _joint_box(boxes: list[tuple[Tensor, Tensor]]) -> tuple[Tensor, Tensor]:
    return torch.minimum(boxes[0][0], boxes[1][0]), torch.maximum(boxes[0][1], boxes[1][1])


def _as_box(box: object, d: int) -> tuple[Tensor, Tensor]:
    if not isinstance(box, (tuple, list)) or len(box) != 2:
        raise TypeError(f"box must be a pair (lo, hi), got {box!r}")
    lo = check.as_tensor("box lo", box[0]).reshape(-1)
    hi = check.as_tensor("box hi", box[1]).reshape(-1)
    if lo.shape != (d,) or hi.shape != (d,) or not bool((hi > lo).all()):
        raise ValueError(f"box must be (lo, hi) with {d} entries each and hi > lo, got {box!r}")
    return lo, hi


def _midpoints(
    lo: Tensor, hi: Tensor, cells: int, shift: float = 0.0
) -> tuple[list[Tensor], Tensor, float]:
    """Cell centres per axis (moved by ``shift`` cells), all points (cells^d, d), cell volume."""
    offset = torch.arange(cells, dtype=torch.float64) + 0.5 + shift
    axes = [lo[i] + (hi[i] - lo[i]) * offset / cells for i in range(lo.shape[0])]
    mesh = torch.meshgrid(*axes, indexing="ij")
    x = torch.stack([g.reshape(-1) for g in mesh], dim=1)
    return axes, x, float(torch.prod((hi - lo) / cells))


def _log_density(dist: Distribution, x: Tensor) -> Tensor:
    with torch.no_grad():
        value = x[:, 0] if len(dist.event_shape) == 0 else x
        return dist.log_prob(value).to(torch.float64)


def _half(
    a_fn: Callable[[Tensor], Tensor],
    p_data: Distribution,
    p_g: Distribution,
    box: tuple[Tensor, Tensor],
    cells: int,
    sign: float,
    shift: float,
) -> Tensor:
    """On the grid of one density w (sign +1: w = p_data, a = logit of D; -1: w = p_g, and the
    roles of D and 1 - D swap): [mass of w, integral w |D - D*|, integral w log D, integral w D,
    integral w log D*, max |log D|, max |log D*|] with D, D* read as 1 - D, 1 - D* for p_g."""
    _, x, volume = _midpoints(*box, cells, shift)
    lp, lq = _log_density(p_data, x), _log_density(p_g, x)
    w = (lp if sign > 0 else lq).exp()
    a, a_star = sign * a_fn(x), sign * (lp - lq)
    d, d_star = torch.sigmoid(a), torch.sigmoid(a_star)
    log_d, log_d_star = F.logsigmoid(a), F.logsigmoid(a_star)
    sums = torch.stack([
        w.sum(), (w * (d - d_star).abs()).sum(), (w * log_d).sum(), (w * d).sum(),
        (w * log_d_star).sum(),
    ]) * volume  # fmt: skip
    return torch.cat([sums, torch.stack([log_d.abs().max(), log_d_star.abs().max()])])


def _integrals(
    a_fn: Callable[[Tensor], Tensor],
    p_data: Distribution,
    p_g: Distribution,
    boxes: list[tuple[Tensor, Tensor]],
    cells: int,
    shift: float = 0.0,
) -> tuple[Tensor, Tensor]:
    """The :func:`_half` vectors of p_data and of p_g."""
    return (
        _half(a_fn, p_data, p_g, boxes[0], cells, 1.0, shift),
        _half(a_fn, p_data, p_g, boxes[1], cells, -1.0, shift),
    )


@dataclass(frozen=True)
class _Value:
    value: float
    error: float


@dataclass
class DiscriminatorError:
    """How far D is from D* for one G (all floats; errors are bounds on |error|).

    Attributes:
        mean_abs_error, mean_abs_error_bound: E_{x ~ (p_data + p_g)/2} |D(x) - D*(x)|.
        value, value_error: V(D, G) = E_pdata[log D] + E_pg[log(1 - D)] (grid quadrature).
        value_optimal, value_optimal_error: V(D*, G) = C(G) (gantheory.virtual_criterion).
        value_gap, value_gap_error: V(D*, G) - V(D, G), >= 0 by Proposition 1.
        mean_d_data, mean_d_data_error: E_pdata[D(x)] (1/2 at the equilibrium p_g = p_data).
        mean_d_g, mean_d_g_error: E_pg[D(x)].
    """

    mean_abs_error: float
    mean_abs_error_bound: float
    value: float
    value_error: float
    value_optimal: float
    value_optimal_error: float
    value_gap: float
    value_gap_error: float
    mean_d_data: float
    mean_d_data_error: float
    mean_d_g: float
    mean_d_g_error: float

    def to_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


def discriminator_error(
    D: Callable[[Tensor], Tensor],
    p_data: Distribution,
    p_g: Distribution,
    *,
    logits: bool = True,
    cells: int | None = None,
    box: tuple[Any, Any] | None = None,
    c_g: Any = None,
) -> DiscriminatorError:
    """D against D* = p_data / (p_data + p_g): mean |D - D*| under M and the value gap.

    mean |D - D*| = integral of (p_data + p_g)/2 |D - D*| dx; the gap V(D*, G) - V(D, G) is
    C(G) (Goodfellow et al. 2014, arXiv:1406.2661, Theorem 1; computed by
    :func:`gantheory.virtual_criterion`) minus V(D, G) integrated on the grid (module docstring).

    Args:
        D: maps float points (n, d) (or (n,) in 1D) to logits (``logits=True``) or
            probabilities, shape (n,) or (n, 1); a module is fed in its parameters' dtype.
        p_data, p_g: distributions on the same 1D or 2D space with exact ``log_prob``.
        logits: whether D returns logits.
        cells: grid cells per axis (default 2048 in 1D, 192 in 2D; even).
        box: (lo, hi), each (d,): one integration box for both halves (default: a box per
            density, from samples).
        c_g: C(G) = V(D*, G): None computes it with :func:`gantheory.virtual_criterion`
            (exact); ``"grid"`` integrates it on this function's grid (fast for any density,
            error bound as for the other integrals); or pass it (an object with ``.value`` and
            ``.error``) to skip recomputing.

    Returns:
        :class:`DiscriminatorError`.

    Raises:
        TypeError, ValueError: bad distributions (not the same space, not 1D or 2D), D not
            callable or returning the wrong shape, bad cells or box.

    >>> import gantheory as gt
    >>> p = gt.gaussian(0.0, 1.0)
    >>> e = discriminator_error(lambda x: torch.zeros(x.shape[0]), p, p)  # D = 1/2 = D*
    >>> e.mean_abs_error, abs(e.value_gap) <= e.value_gap_error
    (0.0, True)
    """
    d = check.same_space(p_data, p_g, ("p_data", "p_g"))
    if d not in (1, 2):
        raise ValueError(f"p_data and p_g must be 1D or 2D, got dimension {d}")
    cells = _CELLS[d] if cells is None else check.positive_int("cells", cells)
    if cells < 2 or cells % 2:
        raise ValueError(f"cells must be even and >= 2, got {cells}")
    a_fn = _logit_fn(D, logits)
    boxes = _boxes(p_data, p_g, box, d)
    # per half: the mean of the grid and its half-cell shift (together, the midpoint rule on 2n
    # cells), with the error estimate |I_n - I_{n/2}| + |I_n - I_n shifted| (the second term
    # catches the kinks of |D - D*| and of ReLU networks, where the first alone can miss)
    fine = torch.stack(_integrals(a_fn, p_data, p_g, boxes, cells))
    shifted = torch.stack(_integrals(a_fn, p_data, p_g, boxes, cells, 0.5))
    coarse = torch.stack(_integrals(a_fn, p_data, p_g, boxes, cells // 2))
    rule = (fine - coarse).abs() + (fine - shifted).abs()
    best = 0.5 * (fine + shifted)
    best[:, 5:] = torch.maximum(fine[:, 5:], shifted[:, 5:])
    (fp, fq), (rp, rq) = best, rule
    tail_p = max(0.0, 1.0 - float(fp[0])) + float(rp[0])
    tail_q = max(0.0, 1.0 - float(fq[0])) + float(rq[0])

    def total(i: int, bound_index: int | None) -> tuple[float, float]:
        value = float(fp[i] + fq[i])
        error = float(rp[i] + rq[i])
        if bound_index is None:
            return value, error + tail_p + tail_q
        return value, error + tail_p * float(fp[bound_index]) + tail_q * float(fq[bound_index])

    mae, mae_error = total(1, None)
    value, value_error = total(2, 5)
    if isinstance(c_g, str):
        if c_g != "grid":
            raise ValueError(f"c_g must be None, 'grid' or an estimate of C(G), got {c_g!r}")
        c_g = _Value(*total(4, 6))
    elif c_g is None:
        from gantheory.discriminator import virtual_criterion

        with torch.no_grad():
            c_g = virtual_criterion(p_data, p_g)
    c_value, c_error = float(c_g.value), float(c_g.error)
    return DiscriminatorError(
        mean_abs_error=0.5 * mae,
        mean_abs_error_bound=0.5 * mae_error,
        value=value,
        value_error=value_error,
        value_optimal=c_value,
        value_optimal_error=c_error,
        value_gap=c_value - value,
        value_gap_error=c_error + value_error,
        mean_d_data=float(fp[3]),
        mean_d_data_error=float(rp[3]) + tail_p,
        mean_d_g=float(fq[0] - fq[3]),
        mean_d_g_error=float(rq[0] + rq[3]) + tail_q,
    )


@dataclass
class DiscriminatorGrid:
    """D and D* on a grid, for plots: 1D arrays of shape (n,), 2D arrays of shape (n, n) ("ij").

    Attributes:
        axes: the grid's coordinates per axis, each (n,).
        d, d_star: D(x) and D*(x) = p_data / (p_data + p_g).
        p_data, p_g: the densities.
    """

    axes: list[Tensor]
    d: Tensor
    d_star: Tensor
    p_data: Tensor
    p_g: Tensor

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def discriminator_grid(
    D: Callable[[Tensor], Tensor],
    p_data: Distribution,
    p_g: Distribution,
    *,
    n: int = 400,
    box: tuple[Any, Any] | None = None,
    logits: bool = True,
) -> DiscriminatorGrid:
    """Evaluate D, D* = sigma(log p_data - log p_g), p_data and p_g on an n (x n) grid.

    Args:
        D, logits: as in :func:`discriminator_error`.
        p_data, p_g: distributions on the same 1D or 2D space.
        n: points per axis (cell midpoints of the box).
        box: (lo, hi), each (d,); default as in :func:`discriminator_error`.

    Returns:
        :class:`DiscriminatorGrid` (float64 tensors).

    Raises:
        TypeError, ValueError: as :func:`discriminator_error`.

    >>> import gantheory as gt
    >>> g = discriminator_grid(lambda x: torch.zeros(x.shape[0]), gt.gaussian(0.0, 1.0),
    ...                        gt.gaussian(1.0, 1.0), n=5, box=([-1.0], [1.0]))
    >>> g.d_star.shape, bool((g.d_star[:2] > 0.5).all())
    (torch.Size([5]), True)
    """
    dim = check.same_space(p_data, p_g, ("p_data", "p_g"))
    if dim not in (1, 2):
        raise ValueError(f"p_data and p_g must be 1D or 2D, got dimension {dim}")
    n = check.positive_int("n", n)
    a_fn = _logit_fn(D, logits)
    axes, x, _ = _midpoints(*_joint_box(_boxes(p_data, p_g, box, dim)), n)
    lp, lq = _log_density(p_data, x), _log_density(p_g, x)
    shape = (n,) * dim
    return DiscriminatorGrid(
        axes=axes,
        d=torch.sigmoid(a_fn(x)).reshape(shape),
        d_star=torch.sigmoid(lp - lq).reshape(shape),
        p_data=lp.exp().reshape(shape),
        p_g=lq.exp().reshape(shape),
    )


@dataclass
class DiscriminatorTrace:
    """What :func:`train_discriminator` records, at steps 0, record_every, 2 record_every, ...

    Attributes:
        step: D steps taken.
        mean_abs_error, mean_abs_error_bound: E_M |D - D*| and its bound.
        value_gap, value_gap_error: V(D*, G) - V(D, G) and its bound.
        mean_d_data: E_pdata[D].
        D: the trained discriminator.
    """

    step: list[int] = field(default_factory=list)
    mean_abs_error: list[float] = field(default_factory=list)
    mean_abs_error_bound: list[float] = field(default_factory=list)
    value_gap: list[float] = field(default_factory=list)
    value_gap_error: list[float] = field(default_factory=list)
    mean_d_data: list[float] = field(default_factory=list)
    D: nn.Module | None = None

    def to_dict(self) -> dict[str, list[float]]:
        return {k: v for k, v in self.__dict__.items() if k != "D"}


def train_discriminator(
    p_data: Distribution,
    G: nn.Module,
    D: nn.Module | None = None,
    *,
    steps: int = 500,
    batch_size: int = 64,
    loss: GeneratorLoss = "non_saturating",
    optimizer: Optimizer = "sgd",
    lr: float = 0.05,
    momentum: float = 0.5,
    betas: Sequence[float] = (0.5, 0.999),
    noise: Noise = "gaussian",
    noise_dim: int | None = None,
    p_g: Distribution | None = None,
    record_every: int = 10,
    device: str = "auto",
    seed: int = 0,
    callback: Callable[[int, nn.Module], None] | None = None,
    progress: bool = True,
) -> DiscriminatorTrace:
    """Freeze G and train D alone, recording how close D gets to D* (the inner loop of the theory).

    Each step is one D step of Algorithm 1 (Goodfellow et al. 2014, arXiv:1406.2661): m data and m
    noise samples, one descent step on D's cost, with the random streams of
    :func:`gantheory.random_streams` (``seed``) drawn in the same order as :func:`gantheory.train`.
    G's parameters are not updated (G keeps its train/eval mode).

    Args:
        p_data: the data distribution (1D or 2D).
        G: the generator (on the device, float32 after the call).
        D: the discriminator to train (in place); None builds a fresh
            ``mlp_discriminator(d)`` from the ``init`` stream.
        steps: D steps.
        batch_size, loss, optimizer, lr, momentum, betas, noise: as in
            :class:`gantheory.TrainConfig` (lr is D's).
        noise_dim: dimension of z; None takes ``G.noise_dim``.
        p_g: G's density; None takes ``G.distribution()`` (exact-density generators), or pass a
            KDE (:func:`gantheory.gaussian_kde`) for an implicit G.
        record_every: record D against D* every this many steps (and at 0 and the last).
        device: "auto", "cpu", "cuda", ...
        seed: seeds the random streams.
        callback: called as ``callback(step, D)`` after every D step (step = 1, 2, ...).
        progress: show a tqdm bar.

    Returns:
        :class:`DiscriminatorTrace`.

    Raises:
        TypeError, ValueError: bad arguments, G without ``distribution()`` and no ``p_g``.

    >>> import gantheory as gt
    >>> G = gt.AffineGenerator(1, loc=1.0)
    >>> t = train_discriminator(gt.gaussian(0.0, 1.0), G, steps=4, record_every=2,
    ...                         device="cpu", progress=False)
    >>> t.step
    [0, 2, 4]
    """
    check.distribution("p_data", p_data)
    if not isinstance(G, nn.Module):
        raise TypeError(f"G must be a torch.nn.Module, got {type(G).__name__}")
    if D is not None and not isinstance(D, nn.Module):
        raise TypeError(f"D must be a torch.nn.Module or None, got {type(D).__name__}")
    steps = check.positive_int("steps", steps)
    m = check.positive_int("batch_size", batch_size)
    record_every = check.positive_int("record_every", record_every)
    check.choice("loss", loss, GENERATOR_LOSSES)
    check.choice("optimizer", optimizer, ("sgd", "adam"))
    check.choice("noise", noise, ("gaussian", "uniform"))
    lr = check.positive_number("lr", lr)
    dev = resolve_device(device)
    streams = random_streams(seed, dev)
    draw_data = DataSampler(p_data, dtype=torch.float32, device=dev)
    noise_dim = noise_dim if noise_dim is not None else getattr(G, "noise_dim", None)
    if noise_dim is None:
        raise ValueError("noise_dim is None and G has no noise_dim attribute: pass noise_dim")
    if p_g is None:
        if not hasattr(G, "distribution"):
            raise ValueError(
                "G has no exact density (no distribution()): pass p_g, e.g. a gaussian_kde"
            )
        with torch.no_grad():
            p_g = G.to(torch.float32).distribution(torch.float64, "cpu")
    check.same_space(p_data, p_g, ("p_data", "p_g"))
    if D is None:
        D = mlp_discriminator(draw_data.dim, generator=streams.init)
    G.to(dev, torch.float32)
    D.to(dev, torch.float32)
    opt = _optimizer(D.parameters(), optimizer, lr, momentum, tuple(betas))
    from gantheory.discriminator import virtual_criterion

    with torch.no_grad():
        c_g = virtual_criterion(p_data, p_g)
    trace = DiscriminatorTrace(D=D)

    def record(step: int) -> None:
        err = discriminator_error(D, p_data, p_g, c_g=c_g)
        trace.step.append(step)
        trace.mean_abs_error.append(err.mean_abs_error)
        trace.mean_abs_error_bound.append(err.mean_abs_error_bound)
        trace.value_gap.append(err.value_gap)
        trace.value_gap_error.append(err.value_gap_error)
        trace.mean_d_data.append(err.mean_d_data)

    record(0)
    for step in tqdm(range(1, steps + 1), disable=None if progress else True, desc="D"):
        x = draw_data(m, streams.data)
        z = sample_noise(m, noise_dim, noise, streams.noise, device=dev)
        _d_step(D, G, opt, x, z, loss, 0.0, streams.penalty)
        if step % record_every == 0 or step == steps:
            record(step)
        if callback is not None:
            callback(step, D)
    return trace
