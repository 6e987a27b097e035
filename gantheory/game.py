"""The GAN as a game: the joint gradient field of G and D, its Jacobian and eigenvalues.

With G's parameters phi (n_g of them) and D's psi (n_d), G descends its cost L_G(phi, psi) and D
its cost L_D(phi, psi) (:func:`gantheory.generator_loss`, :func:`gantheory.discriminator_loss` on
D's logits, plus D's regularisers). The joint gradient field is

    v(phi, psi) = (-grad_phi L_G, -grad_psi L_D),

the field that simultaneous gradient descent follows: theta_{t+1} = theta_t + h v(theta_t), theta =
(phi, psi). At a stationary point theta* (v = 0) with Jacobian J = dv/dtheta (n x n, n = n_g + n_d,
not symmetric: the game is not a minimisation), the gradient flow theta' = v(theta) is locally
attracting when every eigenvalue of J has a negative real part, and simultaneous GD with step h
converges locally iff the spectral radius of its iteration matrix I + h J is < 1 (Mescheder,
Nowozin & Geiger 2017, "The Numerics of GANs", arXiv:1705.10461, Section 3, Proposition 2 and
Figure 4, whose Jacobians use the opposite sign: their v ascends). Purely imaginary eigenvalues
(the unregularised Dirac-GAN's +-i f'(0)) make I + h J expand for every h > 0 (Mescheder, Geiger &
Nowozin 2018, arXiv:1801.04406, Section 2).

Regularisers (:mod:`gantheory.regularizers`): R1 / R2 add (gamma / 2) E ||grad_x a(x)||^2 at the
data / fakes to L_D; consensus with weight lambda adds (lambda / 2) ||v0||^2 to both costs, v0
the field of the costs without R1/R2 (as :func:`gantheory.train` does), so the field becomes
v - lambda J0^T v0 (= v - lambda J^T v without R1/R2); instance noise adds sigma times a fixed draw of N(0, I) to D's data
and fake inputs (the expectation over the noise, by that fixed sample).

Expectations are minibatch means over the fixed samples x ~ p_data and z ~ p_z given (large fixed
samples for expectations). Everything runs in float64 with torch.func (``functional_call``,
``grad``, ``jacrev``), so J is exact to float64 rounding of the sample means.

>>> import gantheory as gt
>>> G = gt.AffineGenerator(1)
>>> D = gt.mlp_discriminator(1, widths=(4,), generator=torch.Generator().manual_seed(0))
>>> x = torch.randn(64, 1, generator=torch.Generator().manual_seed(1))
>>> z = torch.randn(64, 1, generator=torch.Generator().manual_seed(2))
>>> game = game_jacobian(G, D, x, z, step=0.1)
>>> game.jacobian.shape, game.n_g, game.n_d
(torch.Size([15, 15]), 2, 13)
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.func import functional_call, jacrev, vjp

from gantheory import _validation as check
from gantheory.losses import GENERATOR_LOSSES, GeneratorLoss, discriminator_loss, generator_loss
from gantheory.regularizers import _check_weight

__all__ = ["GameField", "GameJacobian", "GameSpectrum", "game_field", "game_jacobian", "game_spectrum"]


@dataclass
class GameField:
    """The joint gradient field v(theta) of :func:`game_field`, as a function of the flat theta.

    Attributes:
        field: theta (n,) float64 -> v(theta) (n,), differentiable (torch.func transforms apply).
        theta: the players' current parameters, flat: G's (n_g) then D's (n_d), float64.
        n_g, n_d: the players' parameter counts.
        names: the parameters' names in theta's order ("G.loc", "D.body.0.weight", ...).
        parts: (theta -> v's G rows, theta -> v's D rows) when the rows separate (no
            consensus): their Jacobians are taken apart, each through its own player's cost only.
    """

    field: Callable[[Tensor], Tensor]
    theta: Tensor
    n_g: int
    n_d: int
    names: list[str]
    parts: tuple[Callable[[Tensor], Tensor], Callable[[Tensor], Tensor]] | None = field(
        default=None, repr=False
    )

    def __call__(self, theta: Tensor | None = None) -> Tensor:
        return self.field(self.theta if theta is None else theta)


@dataclass
class GameJacobian:
    """The Jacobian J = dv/dtheta of the joint gradient field at theta, and its spectrum.

    Attributes:
        jacobian: J, (n, n) float64, rows and columns in theta's order (G's then D's parameters).
        eigenvalues: J's n complex eigenvalues (complex128), sorted by decreasing real part.
        n_g, n_d: the players' parameter counts (n = n_g + n_d).
        max_real: the largest real part (< 0: theta is locally attracting for the flow, if v = 0).
        step: h, the step of simultaneous gradient descent.
        spectral_radius: max |1 + h lambda| over the eigenvalues, that of I + h J (< 1: simultaneous
            GD with step h converges locally to a stationary theta, at that rate per step).
        field_norm: ||v(theta)|| (0 at a stationary point).
    """

    jacobian: Tensor
    eigenvalues: Tensor
    n_g: int
    n_d: int
    max_real: float
    step: float
    spectral_radius: float
    field_norm: float

    def to_dict(self) -> dict[str, Any]:
        """Everything but the (n x n) matrix itself (save that with torch.save)."""
        return {
            "n_g": self.n_g, "n_d": self.n_d, "max_real": self.max_real, "step": self.step,
            "spectral_radius": self.spectral_radius, "field_norm": self.field_norm,
            "eigenvalues_real": self.eigenvalues.real.tolist(),
            "eigenvalues_imag": self.eigenvalues.imag.tolist(),
        }  # fmt: skip


def _samples(name: str, value: object) -> Tensor:
    if not isinstance(value, Tensor) or not value.is_floating_point():
        raise TypeError(f"{name} must be a floating torch.Tensor, got {type(value).__name__}")
    if value.ndim not in (1, 2) or value.shape[0] == 0:
        raise ValueError(f"{name} must have shape (n,) or (n, d) with n >= 1, got {tuple(value.shape)}")
    if not bool(torch.isfinite(value).all()):
        raise ValueError(f"{name} holds non-finite values")
    value = value.detach().to(torch.float64)
    return value[:, None] if value.ndim == 1 else value


def game_field(
    G: nn.Module,
    D: nn.Module,
    x: Tensor,
    z: Tensor,
    *,
    loss: GeneratorLoss = "non_saturating",
    r1: float = 0.0,
    r2: float = 0.0,
    consensus: float = 0.0,
    instance_noise: float = 0.0,
    generator: torch.Generator | None = None,
) -> GameField:
    """The joint gradient field v(phi, psi) = (-grad_phi L_G, -grad_psi L_D) of G and D, in float64.

    L_G = mean_j J(a(G(z_j))) and L_D = mean_i [cost of a(x_i), a(G(z_i))] for ``loss``
    (:mod:`gantheory.losses`, a = D's logit), plus (r1 / 2) mean_i ||grad_x a(x_i)||^2 and
    (r2 / 2) mean_j ||grad_x a(G(z_j))||^2 in L_D (Mescheder et al. 2018, arXiv:1801.04406);
    with ``consensus`` = lambda, both costs get + (lambda / 2) ||v0||^2 (Mescheder et al. 2017,
    arXiv:1705.10461), v0 the field of the costs without R1/R2 as in :func:`gantheory.train`,
    i.e. v <- v - lambda J0^T v0; with ``instance_noise`` = sigma, D sees
    x + sigma eps and G(z) + sigma eps', eps and eps' drawn once from ``generator``. G and D are not
    changed (their parameters are read once, as float64 copies).

    Args:
        G: maps noise (n, noise_dim) to samples (n, d): any module, e.g.
            :class:`gantheory.AffineGenerator`; its buffers, if any, are used as they are.
        D: maps points (n, d) to logits (n,) or (n, 1), treating points independently (no batch
            norm), e.g. :func:`gantheory.mlp_discriminator`.
        x: data samples (n, d) (or (n,) in 1D).
        z: noise samples (n, noise_dim) (or (n,)), as many as x.
        loss: the generator loss (D's cost goes with it), one of GENERATOR_LOSSES.
        r1, r2, consensus, instance_noise: the regularisers' weights (>= 0; 0: off).
        generator: draws the instance noise (None: a generator seeded with 0; never the global one).

    Returns:
        :class:`GameField`.

    Raises:
        TypeError: G or D not modules, x or z not floating tensors, bad weight types.
        ValueError: empty or non-finite samples, x and z of different lengths, an unknown loss,
            negative weights, G's samples not of x's dimension, D not returning one logit per
            point, players without parameters.
    """
    for name, player in (("G", G), ("D", D)):
        if not isinstance(player, nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(player).__name__}")
    x, z = _samples("x", x), _samples("z", z)
    if x.shape[0] != z.shape[0]:
        raise ValueError(
            f"x and z must hold as many samples (D's cost pairs them), got {x.shape[0]} and "
            f"{z.shape[0]}"
        )
    check.choice("loss", loss, GENERATOR_LOSSES)
    r1, r2 = _check_weight("r1", r1), _check_weight("r2", r2)
    consensus = _check_weight("consensus", consensus)
    sigma = _check_weight("instance_noise", instance_noise)
    params_g = {k: p.detach().to(torch.float64) for k, p in G.named_parameters()}
    params_d = {k: p.detach().to(torch.float64) for k, p in D.named_parameters()}
    for name, params in (("G", params_g), ("D", params_d)):
        if not params:
            raise ValueError(f"{name} has no parameters: the game needs both players' parameters")
    buffers_g = {k: b.to(torch.float64) if b.is_floating_point() else b for k, b in G.named_buffers()}
    buffers_d = {k: b.to(torch.float64) if b.is_floating_point() else b for k, b in D.named_buffers()}
    try:
        with torch.no_grad():
            fake = functional_call(G, (params_g, buffers_g), (z,))
    except RuntimeError as error:
        raise ValueError(f"G cannot map z of shape {tuple(z.shape)}: {error}") from error
    if fake.reshape(z.shape[0], -1).shape[1] != x.shape[1]:
        raise ValueError(
            f"G maps z to samples of shape {tuple(fake.shape)}, x has dimension {x.shape[1]}"
        )
    try:
        with torch.no_grad():
            a = functional_call(D, (params_d, buffers_d), (x,))
    except RuntimeError as error:
        raise ValueError(f"D cannot take x of shape {tuple(x.shape)}: {error}") from error
    if a.shape not in ((x.shape[0],), (x.shape[0], 1)):
        raise ValueError(f"D must return one logit per point, got shape {tuple(a.shape)}")
    noise_x = noise_g = None
    if sigma > 0:
        generator = generator if generator is not None else torch.Generator().manual_seed(0)
        noise_x = sigma * torch.randn(x.shape, generator=generator, dtype=torch.float64)
        noise_g = sigma * torch.randn(
            (z.shape[0], x.shape[1]), generator=generator, dtype=torch.float64
        )
    x_in = x if noise_x is None else x + noise_x

    names = [f"G.{k}" for k in params_g] + [f"D.{k}" for k in params_d]
    shapes = [p.shape for p in params_g.values()] + [p.shape for p in params_d.values()]
    sizes = [p.numel() for p in params_g.values()] + [p.numel() for p in params_d.values()]
    n_g = sum(p.numel() for p in params_g.values())
    theta0 = torch.cat([p.reshape(-1) for p in (*params_g.values(), *params_d.values())])

    def unflatten(theta: Tensor) -> tuple[dict[str, Tensor], dict[str, Tensor]]:
        parts = [t.reshape(s) for t, s in zip(torch.split(theta, sizes), shapes)]
        keys = [n.split(".", 1)[1] for n in names]
        k = len(params_g)
        return dict(zip(keys[:k], parts[:k])), dict(zip(keys[k:], parts[k:]))

    def logits(pd: dict[str, Tensor], points: Tensor) -> Tensor:
        return functional_call(D, (pd, buffers_d), (points,)).reshape(-1)

    def input_grad_norm2(pd: dict[str, Tensor], points: Tensor) -> Tensor:
        grad = torch.func.grad(lambda p: logits(pd, p).sum())(points)
        return grad.square().sum(-1).mean()

    def costs(theta_g: Tensor, theta_d: Tensor, penalised: bool = True) -> tuple[Tensor, Tensor]:
        pg, pd = unflatten(torch.cat([theta_g, theta_d]))
        fake = functional_call(G, (pg, buffers_g), (z,)).reshape(z.shape[0], -1)
        if noise_g is not None:
            fake = fake + noise_g
        a_fake = logits(pd, fake)
        cost_g = generator_loss(a_fake, loss).mean()
        cost_d = discriminator_loss(logits(pd, x_in), a_fake, loss).mean()
        if penalised and r1 > 0:
            cost_d = cost_d + 0.5 * r1 * input_grad_norm2(pd, x_in)
        if penalised and r2 > 0:
            cost_d = cost_d + 0.5 * r2 * input_grad_norm2(pd, fake)
        return cost_g, cost_d

    def field_g(theta: Tensor) -> Tensor:  # -grad_phi L_G
        theta_g, theta_d = theta[:n_g], theta[n_g:]
        return -torch.func.grad(lambda t: costs(t, theta_d)[0])(theta_g)

    def field_d(theta: Tensor, penalised: bool = True) -> Tensor:  # -grad_psi L_D
        theta_g, theta_d = theta[:n_g], theta[n_g:]
        return -torch.func.grad(lambda t: costs(theta_g, t, penalised)[1])(theta_d)

    def plain_field(theta: Tensor) -> Tensor:
        return torch.cat([field_g(theta), field_d(theta)])

    def unpenalised_field(theta: Tensor) -> Tensor:
        return torch.cat([field_g(theta), field_d(theta, penalised=False)])

    def field(theta: Tensor) -> Tensor:
        if consensus == 0:
            return plain_field(theta)
        # consensus as train applies it: (lambda / 2) ||v0||^2 with v0 the field of the costs
        # without R1/R2, whose gradient is J0^T v0
        v0, pullback = vjp(unpenalised_field, theta)
        (jtv,) = pullback(v0)
        return plain_field(theta) - consensus * jtv

    parts = (field_g, field_d) if consensus == 0 else None
    return GameField(field, theta0, n_g, theta0.numel() - n_g, names, parts)


def game_jacobian(
    G: nn.Module,
    D: nn.Module,
    x: Tensor,
    z: Tensor,
    *,
    loss: GeneratorLoss = "non_saturating",
    r1: float = 0.0,
    r2: float = 0.0,
    consensus: float = 0.0,
    instance_noise: float = 0.0,
    generator: torch.Generator | None = None,
    step: float = 0.01,
    chunk_size: int | None = 128,
) -> GameJacobian:
    """The Jacobian J = dv/dtheta of the joint gradient field (:func:`game_field`) at G's and D's
    current parameters, its eigenvalues and the spectral radius of simultaneous GD, I + h J.

    J is computed by reverse-over-reverse differentiation (``torch.func.jacrev`` of the field,
    itself a ``torch.func.grad``: n vector-Jacobian products, vectorised in chunks; without
    consensus, G's rows and D's rows apart, each through its own player's cost). Measured against
    one backward pass per row (``benchmarks/game.py``, one CPU thread, batch 256, with R1): 1.2 to
    2.4 times faster up to ~1,200 parameters (2.4 s at 1,155); at 4,355 parameters both take 20
    to 40 s, the order depending on which runs first, and eigvals another ~20 s, in float64:
    exact to rounding (tested against central finite differences and closed forms). Eigenvalues
    by ``torch.linalg.eigvals`` (LAPACK geev). For the eigenvalues that decide stability of a
    game of thousands of parameters, :func:`game_spectrum` needs no matrix and takes seconds.
    Mescheder, Nowozin & Geiger 2017 (arXiv:1705.10461), Section 3.

    Args:
        G, D, x, z, loss, r1, r2, consensus, instance_noise, generator: as :func:`game_field`.
        step: h > 0, the step of simultaneous gradient descent theta <- theta + h v(theta).
        chunk_size: Jacobian columns computed per vectorised batch (bounds the memory; None: all
            at once).

    Returns:
        :class:`GameJacobian`.

    Raises:
        TypeError, ValueError: as :func:`game_field`; ``step`` not a positive number,
            ``chunk_size`` not a positive int or None.
    """
    step = check.positive_number("step", step)
    if chunk_size is not None:
        chunk_size = check.positive_int("chunk_size", chunk_size)
    game = game_field(
        G, D, x, z, loss=loss, r1=r1, r2=r2, consensus=consensus,
        instance_noise=instance_noise, generator=generator,
    )  # fmt: skip
    if game.parts is not None:  # G's rows through L_G only, D's through L_D only
        jacobian = torch.cat([jacrev(part, chunk_size=chunk_size)(game.theta) for part in game.parts])
    else:
        jacobian = jacrev(game.field, chunk_size=chunk_size)(game.theta)
    field_norm = float(torch.linalg.vector_norm(game.field(game.theta)))
    eigenvalues = torch.linalg.eigvals(jacobian)
    eigenvalues = eigenvalues[torch.argsort(eigenvalues.real, descending=True)]
    radius = float((1.0 + step * eigenvalues).abs().max())
    return GameJacobian(
        jacobian, eigenvalues, game.n_g, game.n_d, float(eigenvalues.real[0]), step, radius,
        field_norm,
    )  # fmt: skip


@dataclass
class GameSpectrum:
    """The eigenvalues of J = dv/dtheta that decide local stability, found without forming J.

    Attributes:
        rightmost: the k eigenvalues of J with the largest real parts (complex128), sorted by
            decreasing real part: the flow theta' = v(theta) is locally attracting iff the first
            has a negative real part (at a stationary point).
        max_real: the largest real part.
        step: h of simultaneous gradient descent, or None.
        spectral_radius: max |1 + h lambda| over all of J's eigenvalues, that of I + h J (None
            without ``step``).
        n_g, n_d: the players' parameter counts.
        matvecs: the Jacobian-vector products the Arnoldi iterations took.
        field_norm: ||v(theta)||.
    """

    rightmost: Tensor
    max_real: float
    step: float | None
    spectral_radius: float | None
    n_g: int
    n_d: int
    matvecs: int
    field_norm: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "rightmost_real": self.rightmost.real.tolist(),
            "rightmost_imag": self.rightmost.imag.tolist(), "max_real": self.max_real,
            "step": self.step, "spectral_radius": self.spectral_radius, "n_g": self.n_g,
            "n_d": self.n_d, "matvecs": self.matvecs, "field_norm": self.field_norm,
        }  # fmt: skip


def game_spectrum(
    G: nn.Module,
    D: nn.Module,
    x: Tensor,
    z: Tensor,
    *,
    k: int = 6,
    step: float | None = None,
    loss: GeneratorLoss = "non_saturating",
    r1: float = 0.0,
    r2: float = 0.0,
    consensus: float = 0.0,
    instance_noise: float = 0.0,
    generator: torch.Generator | None = None,
    tol: float = 1e-10,
) -> GameSpectrum:
    """The k rightmost eigenvalues of the game's Jacobian J (and the spectral radius of I + h J),
    by Arnoldi iteration on Jacobian-vector products: for networks whose J is too large to form.

    The field v of :func:`game_field` is linearised once (``torch.func.linearize``: one trace,
    then each product J u costs about one evaluation of v) and ARPACK's implicitly restarted
    Arnoldi method (``scipy.sparse.linalg.eigs``; Lehoucq, Sorensen & Yang 1998) finds the k
    eigenvalues of largest real part of J ("LR") and, with ``step``, the eigenvalue of largest
    modulus of I + h J ("LM"), to relative accuracy ``tol``. Memory O(n k), no n x n matrix.
    Measured (``benchmarks/game.py``, batch 256, R1, 2 threads): 4,355 parameters in a few seconds,
    where the dense Jacobian and ``eigvals`` take tens. The spectrum is that of
    :func:`game_jacobian` (tested against it). Mescheder, Nowozin & Geiger 2017
    (arXiv:1705.10461), Section 3.

    Args:
        G, D, x, z, loss, r1, r2, consensus, instance_noise, generator: as :func:`game_field`.
        k: how many rightmost eigenvalues, 1 <= k <= n - 2 (ARPACK needs k < n - 1).
        step: h > 0 of simultaneous gradient descent, or None (no spectral radius).
        tol: ARPACK's relative accuracy of the eigenvalues (> 0).

    Returns:
        :class:`GameSpectrum`.

    Raises:
        TypeError, ValueError: as :func:`game_field`; k out of range, step or tol not positive.
        RuntimeError: ARPACK did not converge (it names how many eigenvalues it found).
    """
    from scipy.sparse.linalg import ArpackNoConvergence, LinearOperator, eigs

    if step is not None:
        step = check.positive_number("step", step)
    tol = check.positive_number("tol", tol)
    game = game_field(
        G, D, x, z, loss=loss, r1=r1, r2=r2, consensus=consensus,
        instance_noise=instance_noise, generator=generator,
    )  # fmt: skip
    n = game.theta.numel()
    k = check.positive_int("k", k)
    if k > n - 2:
        raise ValueError(f"k must be at most n - 2 = {n - 2} for a game of {n} parameters, got {k}")
    with warnings.catch_warnings():  # linearize's tracing (torch.fx, torch.jit) warns about itself
        warnings.filterwarnings("ignore", message="Attempted to insert a get_attr Node", category=UserWarning)
        warnings.filterwarnings("ignore", message="`torch.jit.script` is deprecated", category=DeprecationWarning)
        value, jvp = torch.func.linearize(game.field, game.theta)
    count = 0

    def product(scale: float, shift: float) -> LinearOperator:
        def matvec(u: np.ndarray) -> np.ndarray:
            nonlocal count
            count += 1
            vector = torch.as_tensor(np.asarray(u, dtype=np.float64).reshape(-1))
            return (shift * vector + scale * jvp(vector)).numpy()

        return LinearOperator((n, n), matvec=matvec, dtype=np.float64)

    start = np.ones(n) / np.sqrt(n)  # a fixed start: the same spectrum every call
    try:
        rightmost = eigs(product(1.0, 0.0), k=k, which="LR", tol=tol, v0=start, return_eigenvectors=False)
        radius = None
        if step is not None:
            largest = eigs(product(step, 1.0), k=1, which="LM", tol=tol, v0=start, return_eigenvectors=False)
            radius = float(np.abs(largest).max())
    except ArpackNoConvergence as error:
        raise RuntimeError(
            f"ARPACK did not converge: {len(error.eigenvalues)} of the eigenvalues asked for "
            f"found within its iteration limit; raise tol (now {tol:g}) or lower k (now {k})"
        ) from None
    values = torch.as_tensor(rightmost, dtype=torch.complex128)
    values = values[torch.argsort(values.real, descending=True)]
    return GameSpectrum(
        values, float(values.real[0]), step, radius, game.n_g, game.n_d, count,
        float(torch.linalg.vector_norm(value)),
    )  # fmt: skip
