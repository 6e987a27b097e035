"""The Dirac-GAN: the smallest GAN whose training dynamics can be solved exactly.

Mescheder, Geiger & Nowozin 2018, "Which training methods for GANs do actually converge?"
(arXiv:1801.04406), Section 2 (the Dirac-GAN): p_data = δ_0, the generator p_θ = δ_θ and a linear
discriminator D_ψ(x) = ψ x, so their GAN objective becomes

    V(θ, ψ) = f(ψ θ) + f(0),        f(t) = −log(1 + exp(−t))  (minimax GAN),

and the unique equilibrium is (θ, ψ) = (0, 0). The generator descends V in θ, the discriminator
ascends it in ψ, so training follows the *gradient vector field*

    v(θ, ψ) = (−∂_θ V(θ, ψ), ∂_ψ V(θ, ψ)) = (−ψ f′(ψθ), θ f′(ψθ)).

Each variant of GAN training below is one small class with its field ``v`` and the analytic
Jacobian of ``v`` at the equilibrium; the integrators (:func:`simultaneous_step`,
:func:`alternating_step`, :func:`trajectory`) and the linear analysis
(:func:`iteration_matrix`, :func:`spectral_radius`, :func:`stability_bound`, :func:`analyse`)
are functions that take any variant. Simultaneous gradient descent with step h is the map
x ↦ x + h v(x); alternating gradient descent updates θ first, then ψ at the new θ (their
Section 2, F_h = F_{h,2} ∘ F_{h,1}). Linearised at the equilibrium, with J = ∂v/∂x (0, 0):

    simultaneous:  A = I + h J
    alternating:   A = A_ψ A_θ,  A_θ = [[1 + h J_θθ, h J_θψ], [0, 1]],
                                  A_ψ = [[1, 0], [h J_ψθ, 1 + h J_ψψ]]

and the iteration converges locally iff its spectral radius ρ(A) < 1 (the fixed-point theorem
recalled in their Appendix A). For simultaneous GD the eigenvalues of A are 1 + hλ for the
eigenvalues λ of J, so it converges iff |1 + hλ| < 1 for all λ, i.e. h < −2 Re λ / |λ|² (all
Re λ < 0); for alternating GD :func:`stability_bound` applies Jury's criterion to A.

Everything is float64 torch. For the smooth variants the field and its Jacobian are exact to
rounding (instance noise: Gauss–Hermite quadrature of the Gaussian expectation, exact for the
Jacobian at the equilibrium, whose integrands are polynomials of degree ≤ 2).

>>> import gantheory as gt
>>> game = gt.dirac_gan("r1", gamma=1.0)
>>> [complex(round(z.real, 12), round(z.imag, 12)) for z in game.eigenvalues().tolist()]
[(-0.5+0j), (-0.5+0j)]
>>> result = gt.analyse(game, h=0.1, method="simultaneous", steps=100)
>>> result.verdict, round(result.spectral_radius, 12)
('converges', 0.95)
"""

from __future__ import annotations

import inspect
import math
from dataclasses import asdict, dataclass, field
from typing import ClassVar, Literal

import numpy as np
import torch

from gantheory._validation import as_tensor, choice, positive_int, positive_number

__all__ = [
    "DiracGAN",
    "MinimaxGAN",
    "NonSaturatingGAN",
    "WGAN",
    "WGANGP",
    "ConsensusGAN",
    "InstanceNoiseGAN",
    "R1GAN",
    "R2GAN",
    "GradientRegularisedGAN",
    "DIRAC_VARIANTS",
    "DIRAC_METHODS",
    "Convergence",
    "dirac_gan",
    "simultaneous_step",
    "alternating_step",
    "trajectory",
    "iteration_matrix",
    "spectral_radius",
    "stability_bound",
    "analyse",
]

Method = Literal["simultaneous", "alternating"]
#: the two integrators of Mescheder et al. 2018, Section 2
DIRAC_METHODS: tuple[str, ...] = ("simultaneous", "alternating")

#: f′(0) and f″(0) for f(t) = −log(1 + exp(−t)): f′(t) = σ(−t), f″(t) = −σ(t) σ(−t)
F_PRIME_0 = 0.5
F_SECOND_0 = -0.25


def _f1(t: torch.Tensor) -> torch.Tensor:
    """f′(t) = σ(−t) for f(t) = −log(1 + exp(−t))."""
    return torch.sigmoid(-t)


def _f2(t: torch.Tensor) -> torch.Tensor:
    """f″(t) = −σ(t) σ(−t)."""
    return -torch.sigmoid(t) * torch.sigmoid(-t)


def _non_negative(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
    return float(value)


def _matrix(rows: list[list[float]]) -> torch.Tensor:
    return torch.tensor(rows, dtype=torch.float64)


class DiracGAN:
    """One variant of GAN training on the Dirac-GAN: its gradient field and its Jacobian.

    Subclasses set ``name``, implement :meth:`field` (elementwise on tensors of any common
    shape) and :meth:`jacobian` (the analytic ∂v/∂(θ, ψ) at the equilibrium (0, 0), or ``None``
    where v is not differentiable there). ``smooth`` is False where the update is not a smooth
    map near the equilibrium (clipping, a kink), so its linearisation does not decide
    convergence and :func:`analyse` judges from the trajectory.
    """

    name: ClassVar[str] = ""
    smooth: ClassVar[bool] = True

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The gradient vector field v(θ, ψ) = (v_θ, v_ψ)."""
        raise NotImplementedError

    def jacobian(self) -> torch.Tensor | None:
        """The analytic Jacobian ∂v/∂(θ, ψ) at (0, 0), shape (2, 2), float64."""
        raise NotImplementedError

    def project(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The constraint set after each update (the identity unless a variant clips)."""
        return theta, psi

    def params(self) -> dict[str, float]:
        """The variant's hyperparameters, by name."""
        return {}

    def eigenvalues(self) -> torch.Tensor | None:
        """Eigenvalues of :meth:`jacobian` (complex128, shape (2,)), ``None`` if no Jacobian."""
        J = self.jacobian()
        return None if J is None else torch.linalg.eigvals(J)

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class MinimaxGAN(DiracGAN):
    """The unregularised minimax GAN (Mescheder et al. 2018, Section 2).

    v(θ, ψ) = (−ψ f′(ψθ), θ f′(ψθ)),  f(t) = −log(1 + exp(−t)).
    J(0, 0) = [[0, −f′(0)], [f′(0), 0]], eigenvalues ±f′(0) i = ±i/2: purely imaginary, so
    neither simultaneous nor alternating GD converges (their Section 2).
    """

    name = "gan"

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = _f1(psi * theta)
        return -psi * g, theta * g

    def jacobian(self) -> torch.Tensor:
        a = F_PRIME_0
        return _matrix([[0.0, -a], [a, 0.0]])


class NonSaturatingGAN(DiracGAN):
    """The non-saturating GAN (Goodfellow et al. 2014; Mescheder et al. 2018, Section 3).

    G maximises f(−ψθ) = log D(G) instead of minimising f(ψθ), D is unchanged:
    v(θ, ψ) = (−ψ f′(−ψθ), θ f′(ψθ)). At the equilibrium f′(−0) = f′(0), so J(0, 0) is the
    minimax GAN's [[0, −f′(0)], [f′(0), 0]], eigenvalues ±i/2.
    """

    name = "non_saturating"

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        t = psi * theta
        return -psi * _f1(-t), theta * _f1(t)

    def jacobian(self) -> torch.Tensor:
        a = F_PRIME_0
        return _matrix([[0.0, -a], [a, 0.0]])


class WGAN(DiracGAN):
    """The Wasserstein GAN with weight clipping (Arjovsky et al. 2017; Mescheder et al. 2018,
    Section 3): f(t) = t, so V = ψθ, v(θ, ψ) = (−ψ, θ), and ψ is clipped to [−c, c] after each
    update. Inside the clip J(0, 0) = [[0, −1], [1, 0]], eigenvalues ±i; the clipping makes the
    update non-smooth, so convergence is judged on the trajectory (their Section 3: WGAN is not
    locally convergent in general).
    """

    name = "wgan"
    smooth = False

    def __init__(self, *, clip: float = 1.0) -> None:
        self.clip = positive_number("clip", clip)

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return -psi, theta.clone()

    def jacobian(self) -> torch.Tensor:
        return _matrix([[0.0, -1.0], [1.0, 0.0]])

    def project(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return theta, psi.clamp(-self.clip, self.clip)

    def params(self) -> dict[str, float]:
        return {"clip": self.clip}


class WGANGP(DiracGAN):
    """WGAN-GP (Gulrajani et al. 2017) on the Dirac-GAN (Mescheder et al. 2018, Section 3):
    f(t) = t and D ascends V − (γ/2)(|∂_x D_ψ| − g₀)² = ψθ − (γ/2)(|ψ| − g₀)², so

        v(θ, ψ) = (−ψ, θ − γ (|ψ| − g₀) sign ψ).

    v jumps by 2γg₀ across ψ = 0: it has no Jacobian at the equilibrium (``jacobian()`` is None)
    and convergence is judged on the trajectory (their Section 3: not locally convergent in general).
    """

    name = "wgan_gp"
    smooth = False

    def __init__(self, *, gamma: float = 1.0, g0: float = 1.0) -> None:
        self.gamma = _non_negative("gamma", gamma)
        self.g0 = _non_negative("g0", g0)

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return -psi, theta - self.gamma * (psi.abs() - self.g0) * torch.sign(psi)

    def jacobian(self) -> None:
        return None

    def params(self) -> dict[str, float]:
        return {"gamma": self.gamma, "g0": self.g0}


class ConsensusGAN(DiracGAN):
    """Consensus optimisation (Mescheder, Nowozin & Geiger 2017, arXiv:1705.10461, "consensus
    optimization"): both players follow w = v − γ ∇L with L = ½‖v‖², v the minimax GAN's field. With
    g = f′(ψθ), g′ = f″(ψθ): L = ½ g² (θ² + ψ²),

        ∂_θ L = g g′ ψ (θ² + ψ²) + g² θ,    ∂_ψ L = g g′ θ (θ² + ψ²) + g² ψ.

    J(0, 0) = J_gan − γ J_ganᵀ J_gan = [[−γ f′(0)², −f′(0)], [f′(0), −γ f′(0)²]], eigenvalues
    −γ f′(0)² ± f′(0) i: locally convergent for γ > 0 and small h.
    """

    name = "consensus"

    def __init__(self, *, gamma: float = 1.0) -> None:
        self.gamma = _non_negative("gamma", gamma)

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g, g2 = _f1(psi * theta), _f2(psi * theta)
        r2 = theta**2 + psi**2
        dL_theta = g * g2 * psi * r2 + g**2 * theta
        dL_psi = g * g2 * theta * r2 + g**2 * psi
        return -psi * g - self.gamma * dL_theta, theta * g - self.gamma * dL_psi

    def jacobian(self) -> torch.Tensor:
        a, c = F_PRIME_0, self.gamma * F_PRIME_0**2
        return _matrix([[-c, -a], [a, -c]])

    def params(self) -> dict[str, float]:
        return {"gamma": self.gamma}


class InstanceNoiseGAN(DiracGAN):
    """Instance noise (Sønderby et al. 2016; Arjovsky & Bottou 2017) on the Dirac-GAN
    (Mescheder et al. 2018, Section 3): both distributions convolved with N(0, σ²),

        V(θ, ψ) = E_ε[f(ψ(θ + ε))] + E_ε[f(−ψε)],  ε ~ N(0, σ²),
        v(θ, ψ) = (−E[ψ f′(ψ(θ + ε))],  E[(θ + ε) f′(ψ(θ + ε))] − E[ε f′(−ψε)]).

    The expectations use Gauss–Hermite quadrature with ``nodes`` nodes (rounding leaves the field
    ~1e-17 off zero next to the equilibrium, so iterates stall ~1e-16 from it). J(0, 0) =
    [[0, −f′(0)], [f′(0), 2 f″(0) σ²]], eigenvalues f″(0)σ² ± √(f″(0)²σ⁴ − f′(0)²).
    """

    name = "instance_noise"

    def __init__(self, *, sigma: float = 1.0, nodes: int = 64) -> None:
        self.sigma = positive_number("sigma", sigma)
        self.nodes = positive_int("nodes", nodes)
        x, w = np.polynomial.hermite_e.hermegauss(self.nodes)  # weight exp(−x²/2)
        self._eps = torch.tensor(x * self.sigma, dtype=torch.float64)
        self._w = torch.tensor(w / w.sum(), dtype=torch.float64)

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        theta, psi = torch.broadcast_tensors(theta, psi)
        t, p = theta[..., None], psi[..., None]
        x = t + self._eps
        v_theta = -(self._w * p * _f1(p * x)).sum(-1)
        v_psi = (self._w * (x * _f1(p * x) - self._eps * _f1(-p * self._eps))).sum(-1)
        return v_theta, v_psi

    def jacobian(self) -> torch.Tensor:
        a = F_PRIME_0
        return _matrix([[0.0, -a], [a, 2 * F_SECOND_0 * self.sigma**2]])

    def params(self) -> dict[str, float]:
        return {"sigma": self.sigma}


class R1GAN(DiracGAN):
    """The R1 zero-centred gradient penalty (Mescheder et al. 2018, Section 4): D
    ascends V − (γ/2) E_{p_data} ‖∂_x D_ψ(x)‖² = V − (γ/2) ψ², so

        v(θ, ψ) = (−ψ f′(ψθ), θ f′(ψθ) − γψ).

    J(0, 0) = [[0, −f′(0)], [f′(0), −γ]], eigenvalues −γ/2 ± √(γ²/4 − f′(0)²) (their
    Theorem 4.1: locally convergent for γ > 0 and small h); critically damped at γ = 2|f′(0)|.
    """

    name = "r1"

    def __init__(self, *, gamma: float = 1.0) -> None:
        self.gamma = _non_negative("gamma", gamma)

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g = _f1(psi * theta)
        return -psi * g, theta * g - self.gamma * psi

    def jacobian(self) -> torch.Tensor:
        a = F_PRIME_0
        return _matrix([[0.0, -a], [a, -self.gamma]])

    def params(self) -> dict[str, float]:
        return {"gamma": self.gamma}


class R2GAN(R1GAN):
    """The R2 penalty (Mescheder et al. 2018, Section 4): the same penalty under p_θ,
    (γ/2) E_{p_θ} ‖∂_x D_ψ(x)‖² = (γ/2) ψ², since ∂_x D_ψ = ψ everywhere. On the Dirac-GAN
    its field, Jacobian and eigenvalues are therefore R1's: v = (−ψ f′(ψθ), θ f′(ψθ) − γψ).
    """

    name = "r2"


class GradientRegularisedGAN(DiracGAN):
    """The gradient-based regulariser of Nagarajan & Kolter 2017 (arXiv:1706.04156), the
    regularisation they propose:
    G descends V + η ‖∂_ψ V‖² = V + η θ² f′(ψθ)², D is unchanged:

        v(θ, ψ) = (−ψ f′(ψθ) − η (2θ f′(ψθ)² + 2θ² ψ f′(ψθ) f″(ψθ)),  θ f′(ψθ)).

    J(0, 0) = [[−2η f′(0)², −f′(0)], [f′(0), 0]], eigenvalues −η f′(0)² ± √(η² f′(0)⁴ − f′(0)²).
    """

    name = "gradient_regulariser"

    def __init__(self, *, eta: float = 1.0) -> None:
        self.eta = _non_negative("eta", eta)

    def field(self, theta: torch.Tensor, psi: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        g, g2 = _f1(psi * theta), _f2(psi * theta)
        penalty = 2 * theta * g**2 + 2 * theta**2 * psi * g * g2
        return -psi * g - self.eta * penalty, theta * g

    def jacobian(self) -> torch.Tensor:
        a = F_PRIME_0
        return _matrix([[-2 * self.eta * a**2, -a], [a, 0.0]])

    def params(self) -> dict[str, float]:
        return {"eta": self.eta}


#: variant name -> class (the names :func:`dirac_gan` accepts)
DIRAC_VARIANTS: dict[str, type[DiracGAN]] = {
    cls.name: cls
    for cls in (
        MinimaxGAN, NonSaturatingGAN, WGAN, WGANGP, ConsensusGAN, InstanceNoiseGAN, R1GAN, R2GAN,
        GradientRegularisedGAN,
    )
}  # fmt: skip


def dirac_gan(name: str, **params: float) -> DiracGAN:
    """The Dirac-GAN variant called ``name`` (a key of :data:`DIRAC_VARIANTS`) with ``params``.

    Raises:
        ValueError: unknown name (the message lists the valid ones) or a bad parameter.
        TypeError: a parameter the variant does not take.
    """
    cls = DIRAC_VARIANTS[choice("name", name, tuple(DIRAC_VARIANTS))]
    accepted = [p for p in inspect.signature(cls).parameters if p != "self"]
    unknown = sorted(set(params) - set(accepted))
    if unknown:
        raise TypeError(
            f"variant {name!r} takes {', '.join(accepted) or 'no parameters'}; got {', '.join(unknown)}"
        )
    return cls(**params)


def _state(name: str, x: object) -> torch.Tensor:
    x = as_tensor(name, x)
    if x.shape != (2,):
        raise ValueError(f"{name} must be a point (θ, ψ) of shape (2,), got shape {tuple(x.shape)}")
    return x


def _points(x: object) -> torch.Tensor:
    """Points (θ, ψ): a float tensor of shape (..., 2)."""
    if not isinstance(x, torch.Tensor) or not x.is_floating_point():
        raise TypeError(f"x must be a floating torch.Tensor of points (θ, ψ), got {type(x).__name__}")
    if x.ndim == 0 or x.shape[-1] != 2:
        raise ValueError(f"x must have shape (2,) or (..., 2), got shape {tuple(x.shape)}")
    return x


def simultaneous_step(game: DiracGAN, x: torch.Tensor, h: float) -> torch.Tensor:
    """One step of simultaneous gradient descent: x ↦ P(x + h v(x)), P the variant's projection.

    ``x``: (θ, ψ), shape (2,) (or (..., 2) for many points at once). Differentiable in x.

    Raises:
        TypeError: x not a floating tensor.
        ValueError: h not a finite number > 0, x not of shape (..., 2).
    """
    h = positive_number("h", h)
    x = _points(x)
    v_theta, v_psi = game.field(x[..., 0], x[..., 1])
    theta, psi = game.project(x[..., 0] + h * v_theta, x[..., 1] + h * v_psi)
    return torch.stack([theta, psi], -1)


def alternating_step(game: DiracGAN, x: torch.Tensor, h: float) -> torch.Tensor:
    """One step of alternating gradient descent (Mescheder et al. 2018, Section 2): first the
    generator, θ′ = θ + h v_θ(θ, ψ), then the discriminator at the new θ, ψ′ = ψ + h v_ψ(θ′, ψ)
    (each followed by the variant's projection). ``x`` as in :func:`simultaneous_step`.

    Raises:
        TypeError, ValueError: as :func:`simultaneous_step`.
    """
    h = positive_number("h", h)
    x = _points(x)
    theta, psi = x[..., 0], x[..., 1]
    theta, psi = game.project(theta + h * game.field(theta, psi)[0], psi)
    theta, psi = game.project(theta, psi + h * game.field(theta, psi)[1])
    return torch.stack([theta, psi], -1)


_STEPS = {"simultaneous": simultaneous_step, "alternating": alternating_step}


def trajectory(
    game: DiracGAN, start: object, *, h: float, steps: int, method: Method = "simultaneous"
) -> torch.Tensor:
    """The iterates x_0 = start, x_{k+1} = step(x_k) for k < ``steps``: shape (steps + 1, 2).

    Raises:
        ValueError: h not a finite number > 0, steps < 1, unknown method, start not a finite
            point of shape (2,).
    """
    h = positive_number("h", h)
    steps = positive_int("steps", steps)
    step = _STEPS[choice("method", method, DIRAC_METHODS)]
    x = _state("start", start)
    out = torch.empty(steps + 1, 2, dtype=torch.float64)
    out[0] = x
    with torch.no_grad():
        for k in range(steps):
            x = step(game, x, h)
            out[k + 1] = x
    return out


def iteration_matrix(
    game: DiracGAN, h: float, method: Method = "simultaneous"
) -> torch.Tensor | None:
    """The update map's Jacobian at the equilibrium (the linearised iteration), shape (2, 2):
    I + hJ (simultaneous) or A_ψ A_θ (alternating, see the module docstring); ``None`` where the
    variant has no Jacobian there."""
    h = positive_number("h", h)
    choice("method", method, DIRAC_METHODS)
    J = game.jacobian()
    if J is None:
        return None
    eye = torch.eye(2, dtype=torch.float64)
    if method == "simultaneous":
        return eye + h * J
    A_theta = _matrix([[1 + h * float(J[0, 0]), h * float(J[0, 1])], [0.0, 1.0]])
    A_psi = _matrix([[1.0, 0.0], [h * float(J[1, 0]), 1 + h * float(J[1, 1])]])
    return A_psi @ A_theta


def spectral_radius(matrix: torch.Tensor) -> float:
    """max |eigenvalue| of a square matrix.

    Raises:
        ValueError: not a square matrix.
    """
    if (
        not isinstance(matrix, torch.Tensor)
        or matrix.ndim != 2
        or matrix.shape[0] != matrix.shape[1]
    ):
        shape = tuple(matrix.shape) if isinstance(matrix, torch.Tensor) else type(matrix).__name__
        raise ValueError(f"matrix must be a square 2D tensor, got {shape}")
    return float(torch.linalg.eigvals(matrix).abs().max())


def stability_bound(game: DiracGAN, method: Method = "simultaneous") -> float:
    """The largest step h̄ such that the iteration matrix has ρ < 1 for all 0 < h < h̄.

    Simultaneous GD: |1 + hλ|² = 1 + 2h Re λ + h²|λ|² < 1 for every eigenvalue λ of J, so
    h̄ = min over λ of −2 Re λ / |λ|², and 0.0 where some Re λ ≥ 0 (no step converges).

    Alternating GD: A = A_ψ A_θ has tr A = 2 + h tr J + h² J_θψ J_ψθ and
    det A = (1 + h J_θθ)(1 + h J_ψψ). A real 2 × 2 matrix has ρ < 1 iff (Jury's criterion)
    det A < 1, 1 − tr A + det A > 0 and 1 + tr A + det A > 0, here

        tr J + h J_θθ J_ψψ < 0,    h² det J > 0,    4 + 2h tr J + h² (J_θψ J_ψθ + J_θθ J_ψψ) > 0,

    so h̄ is the first positive root of these polynomials in h (``inf`` if none), provided they
    hold just above 0 (else 0.0). For R1 this is min(2/γ, (√(γ² + 4f′(0)²) − γ) / f′(0)²).

    Raises:
        ValueError: the variant has no Jacobian at the equilibrium, or an unknown method.
    """
    choice("method", method, DIRAC_METHODS)
    J = game.jacobian()
    if J is None:
        raise ValueError(f"variant {game.name!r} has no Jacobian at the equilibrium")
    if method == "simultaneous":
        lam = torch.linalg.eigvals(J)
        if bool((lam.real >= 0).any()):
            return 0.0
        return float((-2 * lam.real / lam.abs() ** 2).min())
    (j11, j12), (j21, j22) = J.tolist()
    trace, det = j11 + j22, j11 * j22 - j12 * j21
    conditions = [  # polynomials in h (highest power first) that must stay > 0
        np.array([-j11 * j22, -trace]),
        np.array([j12 * j21 + j11 * j22, 2 * trace, 4.0]),
    ]
    if det <= 0:
        return 0.0
    roots = [
        r.real for c in conditions for r in np.roots(np.trim_zeros(c, "f") if c.any() else c)
        if abs(r.imag) < 1e-12 and r.real > 0
    ]  # fmt: skip
    bound = min(roots, default=math.inf)
    probe = bound / 2 if math.isfinite(bound) else 1.0
    if all(np.polyval(c, probe) > 0 for c in conditions):
        return float(bound)
    return 0.0


#: |ρ − 1| below this: the linearisation does not decide and the trajectory does
RADIUS_TOL = 1e-9
#: trajectory verdict: converged if the final distance is below this fraction of the start's
CONVERGED_FRACTION = 1e-3
#: trajectory verdict: diverges if the second half's largest distance exceeds the first half's
#: by this factor (still growing), "shrinks slowly" if it is this factor below it (still falling,
#: with no geometric rate: ρ = 1 leaves the decision to the nonlinear terms); otherwise it cycles
GROWTH_FACTOR = 1.5


@dataclass
class Convergence:
    """What :func:`analyse` finds for one variant, step size and integrator.

    Attributes:
        variant, params, method, h: the setup.
        eigenvalues: of J(0, 0) as [re, im] pairs, or None (no Jacobian).
        iteration_eigenvalues: of the iteration matrix, [re, im] pairs, or None.
        spectral_radius: ρ of the iteration matrix, or None.
        verdict: "converges", "diverges", "cycles" or "shrinks slowly" (see :func:`analyse`).
        rate: the per-step factor of the distance: ρ where the linearisation decides, else the
            geometric mean factor over the trajectory's second half (None if it reached 0).
        basis: "linearisation" or "trajectory" (what the verdict rests on).
        steps, start: the simulated trajectory's length and start.
        distance_start, distance_end: ‖x_0‖ and ‖x_N‖ (distance to the equilibrium (0, 0)).
        measured_rate: (‖x_N‖ / ‖x_{N/2}‖)^(1/(N − N/2)), measured on the trajectory (None
            where a distance is 0 or overflowed to inf).
    """

    variant: str
    params: dict[str, float]
    method: str
    h: float
    eigenvalues: list[list[float]] | None
    iteration_eigenvalues: list[list[float]] | None
    spectral_radius: float | None
    verdict: str
    rate: float | None
    basis: str
    steps: int
    start: list[float]
    distance_start: float
    distance_end: float
    measured_rate: float | None
    trajectory: torch.Tensor | None = field(default=None, repr=False)

    @property
    def summary(self) -> str:
        """One phrase: "converges at rate 0.95", "cycles", "diverges at rate 1.0012"."""
        if self.verdict in ("cycles", "shrinks slowly") or self.rate is None:
            return self.verdict
        return f"{self.verdict} at rate {self.rate:.6g}"

    def to_dict(self) -> dict[str, object]:
        out = asdict(self)
        out["trajectory"] = None if self.trajectory is None else self.trajectory.tolist()
        out["summary"] = self.summary
        return out


def _pairs(z: torch.Tensor | None) -> list[list[float]] | None:
    return None if z is None else [[float(c.real), float(c.imag)] for c in z]


def _measured_rate(distances: torch.Tensor) -> float | None:
    n = len(distances) - 1
    mid = n // 2
    ends = (float(distances[mid]), float(distances[-1]))
    if n - mid < 1 or not all(math.isfinite(e) and e > 0 for e in ends):
        return None
    return float((distances[-1] / distances[mid]) ** (1.0 / (n - mid)))


def analyse(
    game: DiracGAN,
    *,
    h: float,
    method: Method = "simultaneous",
    start: object = (1.0, 1.0),
    steps: int = 1000,
    keep_trajectory: bool = False,
) -> Convergence:
    """Verdict on one variant, step size and integrator, from the linearisation and a trajectory.

    Where the variant is smooth and |ρ − 1| > :data:`RADIUS_TOL`, the spectral radius ρ of the
    iteration matrix decides: "converges" (ρ < 1) or "diverges" (ρ > 1), at rate ρ (local
    behaviour; Mescheder et al. 2018, Appendix A). Otherwise (ρ = 1, clipping, a kink) the
    trajectory of ``steps`` steps from ``start`` decides: "converges" if ‖x_N‖ <
    :data:`CONVERGED_FRACTION` ‖x_0‖, "diverges" if it overflows or the largest distance in its second half
    exceeds :data:`GROWTH_FACTOR` times the first half's, "shrinks slowly" if it is below the
    first half's divided by :data:`GROWTH_FACTOR`, "cycles" otherwise.

    Raises:
        ValueError: as :func:`trajectory`.
    """
    path = trajectory(game, start, h=h, steps=steps, method=method)
    d = path.norm(dim=1)
    d = torch.where(torch.isnan(d), math.inf, d)  # an iterate that overflowed (inf − inf) is far
    A = iteration_matrix(game, h, method)
    rho = None if A is None else spectral_radius(A)
    measured = _measured_rate(d)
    if game.smooth and rho is not None and abs(rho - 1) > RADIUS_TOL:
        verdict, rate, basis = ("converges" if rho < 1 else "diverges"), rho, "linearisation"
    else:
        half = len(d) // 2
        first, second = float(d[: half + 1].max()), float(d[half:].max())
        if float(d[-1]) < CONVERGED_FRACTION * float(d[0]):
            verdict = "converges"
        elif not math.isfinite(float(d[-1])) or second > GROWTH_FACTOR * first:
            verdict = "diverges"
        elif GROWTH_FACTOR * second < first:
            verdict = "shrinks slowly"
        else:
            verdict = "cycles"
        rate, basis = measured, "trajectory"
    return Convergence(
        variant=game.name, params=game.params(), method=method, h=float(h),
        eigenvalues=_pairs(game.eigenvalues()),
        iteration_eigenvalues=_pairs(None if A is None else torch.linalg.eigvals(A)),
        spectral_radius=rho, verdict=verdict, rate=rate, basis=basis, steps=steps,
        start=path[0].tolist(), distance_start=float(d[0]), distance_end=float(d[-1]),
        measured_rate=measured, trajectory=path if keep_trajectory else None,
    )  # fmt: skip
