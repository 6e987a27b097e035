"""Train a GAN with Algorithm 1 of Goodfellow et al. 2014 (arXiv:1406.2661), and record its history.

Algorithm 1, for each of ``steps`` training iterations:

1. k times: draw m noise samples z ~ p_z and m data samples x ~ p_data, and descend D's cost
   (1/m) sum_i [-log D(x_i) - log(1 - D(G(z_i)))] (or the cost that goes with ``loss``, see
   :func:`gantheory.losses.discriminator_loss`), i.e. ascend V(D, G);
2. once: draw m fresh noise samples and descend G's cost (1/m) sum_i J(D(G(z_i))), J the generator
   loss (:func:`gantheory.losses.generator_loss`: "minimax" is the paper's log(1 - D(G(z))),
   "non_saturating" its -log D(G(z)) heuristic).

SGD with momentum is the default (the paper's choice), Adam an option. Training runs in float32
on ``device`` ("auto": CUDA when available, else the CPU).

Random streams. All randomness of a run comes from :func:`random_streams` (``config.seed``):

- ``init`` (CPU): free for building G and D before training (the trainer does not use it);
- ``data`` (on the device): every data minibatch, through :class:`DataSampler`;
- ``noise`` (on the device): every noise minibatch, through :func:`sample_noise`;
- ``penalty`` (on the device): the interpolation weights of the gradient penalty;
- ``instance`` (on the device): the instance noise added to D's inputs (:mod:`gantheory.regularizers`).

Within an iteration the draws are, in this order: for each of the k D steps, m * pack data points
(``data``), then m * pack noise vectors (``noise``), then, with instance noise, m * pack * d
normals for the data and then m * pack * d for the fakes (``instance``, each as
``torch.randn(m, pack * d)``), then, with a gradient penalty, m uniforms (``penalty``); then
m * pack noise vectors (``noise``) for the G step and, with instance noise, m * pack * d normals
for its fakes (``instance``). Recording the history draws nothing; a run without instance noise
never touches ``instance``, so its numbers are those of the trainer before that stream existed.
A run is therefore reproduced member by member by anyone who makes the same calls on generators
seeded the same way (see :func:`random_streams`).

Regularisers (:mod:`gantheory.regularizers`, all off by default): R1 / R2 add (gamma / 2) times the
minibatch mean of ||grad_x a(x)||^2 over D's data / fake inputs to D's cost (a: D's logit);
consensus adds (lambda / 2) ||v||^2 to both costs, v = (grad_G L_G, grad_D L_D) on the step's own
minibatch (D's step: its data and noise; G's step: its noise and the data minibatch of the last D
step), the costs being those of ``loss`` without penalties; instance noise replaces every input of
D, data and fake, in both steps, by input + sigma_t * eps (the penalties are taken at these noisy
inputs), sigma_t annealed linearly (:func:`gantheory.instance_noise_std`).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution
from tqdm.auto import tqdm

from gantheory import _validation as check
from gantheory.distributions import as_gaussian_mixture
from gantheory.io import load_checkpoint, save_checkpoint
from gantheory.losses import GENERATOR_LOSSES, GeneratorLoss, discriminator_loss, generator_loss
from gantheory.losses import gradient_penalty as _gradient_penalty
from gantheory.regularizers import (
    _check_weight,
    consensus_penalty,
    input_gradient_norm2,
    instance_noise_std,
)

__all__ = [
    "Optimizer",
    "Noise",
    "ExactMethod",
    "TrainConfig",
    "RandomStreams",
    "random_streams",
    "resolve_device",
    "DataSampler",
    "sample_noise",
    "History",
    "TrainResult",
    "TrainingDiverged",
    "train",
]

Optimizer = Literal["sgd", "adam"]
Noise = Literal["gaussian", "uniform"]
ExactMethod = Literal["auto", "grid"]
_STREAMS = ("init", "data", "noise", "penalty", "instance")
_REGULARIZERS = ("r1", "r2", "consensus", "instance_noise")


@dataclass
class TrainConfig:
    """The setup of one GAN training run (Algorithm 1 of Goodfellow et al. 2014).

    Attributes:
        steps: training iterations (generator updates).
        k: discriminator steps per generator step (the paper uses k = 1).
        batch_size: m, the minibatch size (of data and of noise), per D and per G step.
        loss: the generator loss, one of :data:`gantheory.losses.GENERATOR_LOSSES`; D's cost is
            the one that goes with it.
        optimizer: "sgd" (with momentum, the paper's choice) or "adam".
        lr_d, lr_g: learning rates of D and G.
        lr_final: learning-rate decay: at iteration t (1-based) both rates are multiplied by
            lr_final^((t - 1) / steps) (exponential decay; 1: none). The schedule depends on
            ``steps``, so extending a checkpointed run to more steps changes it (unless 1).
        momentum: SGD momentum (both players).
        betas: Adam's (beta1, beta2) (both players).
        noise: the prior p_z: "gaussian" N(0, I) or "uniform" U(-1, 1)^noise_dim.
        noise_dim: dimension of z; None takes ``G.noise_dim``.
        gradient_penalty: weight lambda of the gradient penalty added to D's cost (0: none;
            Gulrajani et al. 2017 use 10 with the "wasserstein" loss).
        r1: gamma of the R1 penalty (gamma / 2) E_{p_data} ||grad_x a(x)||^2 on D's logit a,
            added to D's cost (Mescheder et al. 2018, arXiv:1801.04406; 0: none).
        r2: gamma of the R2 penalty (gamma / 2) E_{p_g} ||grad_x a(x)||^2 (0: none).
        consensus: lambda of consensus optimisation: both costs get + (lambda / 2) ||v||^2, v
            the joint gradient field (Mescheder et al. 2017, arXiv:1705.10461; 0: none).
        instance_noise: sigma of the Gaussian instance noise added to D's inputs, real and fake
            (Sonderby et al. 2016, arXiv:1610.04490; 0: none).
        instance_noise_final: the value sigma_t anneals to, linearly: at iteration t (1-based)
            sigma_t = sigma + (final - sigma) (t - 1) / steps; None: constant sigma.
        pack: PacGAN packing, D judges ``pack`` samples at once (Lin et al. 2018,
            arXiv:1712.04086); m * pack samples are drawn per minibatch.
        record_every: record the history every this many iterations (and at the last).
        exact: when G has an exact density (``G.distribution()``) and pack == 1, also record
            JSD(p_data || p_g), C(G) and D against D* (:func:`gantheory.discriminator_error`).
        exact_method: "auto": JSD by :func:`gantheory.jsd` and C(G) = V(D*, G) by
            :func:`gantheory.value` of the exact D*, two separate integrals (closed form or
            adaptive quadrature, ~1e-8 or better; ~0.2 to 2 s per record for a 2D coupling flow,
            more for a 2D spline flow); "grid": all exact quantities on the midpoint grid of
            :func:`gantheory.discriminator_error` (any density, fast, error bound ~1e-4), where
            JSD = (C(G) + log 4) / 2 holds by construction.
        checkpoint_every: save the checkpoint every this many iterations (0: at each record).
        device: "auto", "cpu", "cuda", "cuda:1", ...
        seed: seeds the random streams (:func:`random_streams`), a non-negative int.
    """

    steps: int = 1000
    k: int = 1
    batch_size: int = 64
    loss: GeneratorLoss = "non_saturating"
    optimizer: Optimizer = "sgd"
    lr_d: float = 0.05
    lr_g: float = 0.05
    lr_final: float = 1.0
    momentum: float = 0.5
    betas: tuple[float, float] = (0.5, 0.999)
    noise: Noise = "gaussian"
    noise_dim: int | None = None
    gradient_penalty: float = 0.0
    r1: float = 0.0
    r2: float = 0.0
    consensus: float = 0.0
    instance_noise: float = 0.0
    instance_noise_final: float | None = None
    pack: int = 1
    record_every: int = 100
    exact: bool = True
    exact_method: ExactMethod = "auto"
    checkpoint_every: int = 0
    device: str = "auto"
    seed: int = 0

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> TrainConfig:
        """Check every field; return ``self``.

        Raises:
            TypeError, ValueError: naming the first bad field.
        """
        for name in ("steps", "k", "batch_size", "pack", "record_every"):
            check.positive_int(name, getattr(self, name))
        check.choice("loss", self.loss, GENERATOR_LOSSES)
        check.choice("optimizer", self.optimizer, ("sgd", "adam"))
        check.choice("noise", self.noise, ("gaussian", "uniform"))
        check.choice("exact_method", self.exact_method, ("auto", "grid"))
        if not isinstance(self.exact, bool):
            raise TypeError(f"exact must be a bool, got {self.exact!r}")
        check.positive_number("lr_d", self.lr_d)
        check.positive_number("lr_g", self.lr_g)
        check.positive_number("lr_final", self.lr_final)
        if isinstance(self.momentum, bool) or not isinstance(self.momentum, (int, float)):
            raise TypeError(f"momentum must be a number, got {type(self.momentum).__name__}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {self.momentum!r}")
        betas = self.betas
        if (
            isinstance(betas, (str, bytes))
            or not isinstance(betas, (tuple, list))
            or len(betas) != 2
            or not all(isinstance(b, (int, float)) and not isinstance(b, bool) for b in betas)
        ):
            raise TypeError(f"betas must be a pair of numbers (beta1, beta2), got {betas!r}")
        if not all(0.0 <= b < 1.0 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if self.noise_dim is not None:
            check.positive_int("noise_dim", self.noise_dim)
        if isinstance(self.gradient_penalty, bool) or not isinstance(
            self.gradient_penalty, (int, float)
        ):
            raise TypeError("gradient_penalty must be a number")
        if not 0.0 <= self.gradient_penalty < math.inf:
            raise ValueError(
                f"gradient_penalty must be finite and >= 0, got {self.gradient_penalty!r}"
            )
        for name in _REGULARIZERS:
            _check_weight(name, getattr(self, name))
        if self.instance_noise_final is not None:
            _check_weight("instance_noise_final", self.instance_noise_final)
        if isinstance(self.checkpoint_every, bool) or not isinstance(self.checkpoint_every, int):
            raise TypeError("checkpoint_every must be an int")
        if self.checkpoint_every < 0:
            raise ValueError(f"checkpoint_every must be >= 0, got {self.checkpoint_every!r}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {self.seed!r}")
        resolve_device(self.device)
        return self

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else the CPU; any other value -> ``torch.device(device)``.

    Raises:
        ValueError: an unknown device string, or CUDA asked for and not available.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r}"
        ) from error
    if dev.type not in ("cpu", "cuda"):
        raise ValueError(
            f"device must be 'auto', 'cpu', 'cuda' or 'cuda:N', got {device!r} "
            f"(training runs on the CPU or on CUDA only)"
        )
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"device {device!r} asked for but CUDA is not available; use 'auto' or 'cpu'"
        )
    return dev


@dataclass
class RandomStreams:
    """The seeded torch.Generators of one run, one per purpose (see the module docstring)."""

    init: torch.Generator
    data: torch.Generator
    noise: torch.Generator
    penalty: torch.Generator
    instance: torch.Generator

    def get_state(self) -> dict[str, Tensor]:
        return {name: getattr(self, name).get_state() for name in _STREAMS}

    def set_state(self, state: dict[str, Tensor]) -> None:
        for name in _STREAMS:  # a stream a checkpoint lacks (saved before it existed) stays fresh
            if name in state:
                getattr(self, name).set_state(state[name])


def _stream_seed(seed: int, purpose: int) -> int:
    words = np.random.SeedSequence([seed, purpose]).generate_state(2, dtype=np.uint32)
    return (int(words[0]) << 31) ^ int(words[1])


def random_streams(seed: int, device: str | torch.device = "cpu") -> RandomStreams:
    """The independent random streams of a run seeded by ``seed``.

    Stream i (init = 0, data = 1, noise = 2, penalty = 3, instance = 4) is a ``torch.Generator`` seeded with
    ``(w0 << 31) ^ w1``, where (w0, w1) = ``numpy.random.SeedSequence([seed, i])
    .generate_state(2, numpy.uint32)``. ``init`` lives on the CPU (networks are built there);
    the others on ``device``, where the minibatches are drawn.

    Raises:
        ValueError: seed not a non-negative int, bad device.

    >>> a, b = random_streams(0), random_streams(0)
    >>> torch.equal(torch.rand(3, generator=a.noise), torch.rand(3, generator=b.noise))
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    dev = resolve_device(device)
    gens = []
    for i, name in enumerate(_STREAMS):
        gen = torch.Generator(device="cpu" if name == "init" else dev)
        gens.append(gen.manual_seed(_stream_seed(seed, i)))
    return RandomStreams(*gens)


class DataSampler:
    """Draw minibatches x ~ p_data from an explicit torch.Generator, as a (n, d) tensor.

    For a Gaussian or a mixture of Gaussians (anything :func:`gantheory.as_gaussian_mixture`
    reads) the draw is exact and on ``device``: with K > 1 components, first
    ``torch.multinomial(w, n, replacement=True)`` component indices, then ``torch.randn(n, d)``,
    and x = mu_k + L_k eps (L_k the Cholesky factor of Sigma_k, computed once in float64). Any
    other distribution is sampled with its own ``sample`` inside ``torch.random.fork_rng`` seeded
    from one draw of the generator, which leaves torch's global generator as it was.

    Args:
        p_data: the data distribution (scalar events in 1D, or vector events (d,)).
        dtype: of the samples (float32 for training).
        device: of the samples.

    Raises:
        TypeError: ``p_data`` not a torch Distribution.
        ValueError: batched distributions or events that are not scalars or vectors.

    >>> import gantheory as gt
    >>> draw = DataSampler(gt.mixture([-1.0, 1.0], 0.1))
    >>> draw(5, torch.Generator().manual_seed(0)).shape
    torch.Size([5, 1])
    """

    def __init__(
        self,
        p_data: Distribution,
        *,
        dtype: torch.dtype = torch.float32,
        device: str | torch.device = "cpu",
    ) -> None:
        check.distribution("p_data", p_data)
        if len(p_data.batch_shape) != 0:
            raise ValueError(
                f"p_data must be a single distribution, got batch_shape {tuple(p_data.batch_shape)}"
            )
        self.p_data = p_data
        self.dim = check.event_dim(p_data)
        self.dtype = dtype
        self.device = torch.device(device)
        comps = as_gaussian_mixture(p_data)
        self._gaussian = comps is not None
        if comps is not None:
            with torch.no_grad():
                self._weights = comps.weights.detach().to(torch.float64).to(self.device)
                self._means = comps.means.detach().to(self.device, dtype)
                chol = torch.linalg.cholesky(comps.covs.detach().to(torch.float64))
                self._chol = chol.to(self.device, dtype)
                # diagonal covariances: L eps is an elementwise product (the same numbers, faster)
                self._diag = bool((chol == torch.diag_embed(chol.diagonal(dim1=-2, dim2=-1))).all())
                self._std = chol.diagonal(dim1=-2, dim2=-1).to(self.device, dtype)

    def __call__(self, n: int, generator: torch.Generator) -> Tensor:
        """n samples, shape (n, d)."""
        if self._gaussian:
            eps_index = None
            if self._weights.shape[0] > 1:
                eps_index = torch.multinomial(
                    self._weights, n, replacement=True, generator=generator
                )
            eps = torch.randn(
                n, self.dim, generator=generator, dtype=self.dtype, device=self.device
            )
            if eps_index is None:
                if self._diag:
                    return self._means[0] + self._std[0] * eps
                return self._means[0] + eps @ self._chol[0].T
            if self._diag:
                return self._means[eps_index] + self._std[eps_index] * eps
            return self._means[eps_index] + (self._chol[eps_index] @ eps[:, :, None])[:, :, 0]
        seed = int(torch.randint(2**62, (1,), generator=generator, device=generator.device))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x = self.p_data.sample((n,))
        return x.reshape(n, self.dim).to(self.device, self.dtype)


def sample_noise(
    n: int,
    noise_dim: int,
    noise: Noise,
    generator: torch.Generator,
    *,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
) -> Tensor:
    """Draw z ~ p_z, shape (n, noise_dim): "gaussian" ``torch.randn``, "uniform" ``2 rand - 1``.

    >>> sample_noise(3, 2, "uniform", torch.Generator().manual_seed(0)).abs().max() <= 1
    tensor(True)
    """
    check.choice("noise", noise, ("gaussian", "uniform"))
    if noise == "gaussian":
        return torch.randn(n, noise_dim, generator=generator, dtype=dtype, device=device)
    return 2.0 * torch.rand(n, noise_dim, generator=generator, dtype=dtype, device=device) - 1.0


@dataclass
class History:
    """What :func:`train` records, one entry per recorded iteration (all lists of equal length).

    Attributes:
        step: the iteration after which the row was recorded (0: before training).
        loss_d: D's mean cost on its last minibatch (penalty included).
        loss_g: G's mean cost on its minibatch.
        d_real: mean D(x) on D's last data minibatch.
        d_fake: mean D(G(z)) on G's minibatch (before G's update).
        grad_norm_g: Euclidean norm of the gradient of G's cost over all of G's parameters.
        jsd, jsd_error: JSD(p_data || p_g) in nats and its error bound (exact recording).
        c_g, c_g_error: C(G) = V(D*, G) = max_D V(D, G) and its error bound.
        d_error, d_error_bound: E_{x ~ (p_data + p_g)/2} |D(x) - D*(x)| and its quadrature bound.
        value_gap, value_gap_error: V(D*, G) - V(D, G) >= 0 and its error bound.
        mean_d_data, mean_d_data_error: E_{p_data}[D(x)] and its error estimate.
        (The exact fields hold NaN when the exact recording is off; the loss fields hold NaN at
        step 0.)
    """

    step: list[int] = field(default_factory=list)
    loss_d: list[float] = field(default_factory=list)
    loss_g: list[float] = field(default_factory=list)
    d_real: list[float] = field(default_factory=list)
    d_fake: list[float] = field(default_factory=list)
    grad_norm_g: list[float] = field(default_factory=list)
    jsd: list[float] = field(default_factory=list)
    jsd_error: list[float] = field(default_factory=list)
    c_g: list[float] = field(default_factory=list)
    c_g_error: list[float] = field(default_factory=list)
    d_error: list[float] = field(default_factory=list)
    d_error_bound: list[float] = field(default_factory=list)
    value_gap: list[float] = field(default_factory=list)
    value_gap_error: list[float] = field(default_factory=list)
    mean_d_data: list[float] = field(default_factory=list)
    mean_d_data_error: list[float] = field(default_factory=list)

    def append(self, **row: float) -> None:
        for f in fields(self):
            getattr(self, f.name).append(row.get(f.name, math.nan))

    def to_dict(self) -> dict[str, list[float]]:
        return {f.name: list(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: dict[str, list[float]]) -> History:
        return cls(**{f.name: list(data[f.name]) for f in fields(cls)})


@dataclass
class TrainResult:
    """What :func:`train` returns: the trained players, the config and the history."""

    G: nn.Module
    D: nn.Module
    config: TrainConfig
    history: History

    def to_dict(self) -> dict[str, Any]:
        return {"config": self.config.to_dict(), "history": self.history.to_dict()}


class TrainingDiverged(FloatingPointError):
    """Training produced a non-finite cost or parameter; raised by :func:`train`.

    The trainer checks, after every iteration, that both costs and every parameter and buffer of
    G and D are finite. At the first that is not, it puts back into G and D their state from the
    start of that iteration (the last finite one) and raises this error; a checkpoint file, if
    any, is left as it was last written (it only ever holds finite states).

    Attributes:
        step: the iteration (1-based) at which a non-finite value appeared.
        what: which value, e.g. "D's cost", "G's cost", "a parameter of D (body.0.weight)".
        value: that value (nan, inf or -inf), or a parameter's first non-finite entry.
        last_finite_step: the iteration whose end state G and D now hold (step - 1).
        checkpoint: the checkpoint file, or None.
        checkpoint_step: the iteration the checkpoint file holds, or None.
        causes: the likely causes, as read from the config and the last finite state.
    """

    def __init__(
        self,
        step: int,
        what: str,
        value: float,
        causes: list[str],
        checkpoint: str | None = None,
        checkpoint_step: int | None = None,
    ) -> None:
        self.step, self.what, self.value, self.causes = step, what, value, causes
        self.last_finite_step = step - 1
        self.checkpoint, self.checkpoint_step = checkpoint, checkpoint_step
        kept = f"G and D hold their parameters after step {step - 1}, the last finite ones"
        if checkpoint is not None:
            kept += (
                f"; the checkpoint {checkpoint!r} holds step {checkpoint_step}"
                if checkpoint_step is not None
                else f"; no checkpoint was written to {checkpoint!r} yet"
            )
        super().__init__(
            f"training diverged at step {step}: {what} is {value} ({kept}). "
            f"Likely cause: {'; '.join(causes)}."
        )


class _Snapshot:
    """A copy of modules' parameters and buffers, taken into buffers allocated once.

    ``take()`` copies the current state (one fused copy per call), ``restore()`` writes it back,
    ``screen()`` is a cheap test of finiteness, ``first_non_finite()`` the exact one.
    """

    def __init__(self, modules: dict[str, nn.Module]) -> None:
        self.names: list[str] = []
        self.tensors: list[Tensor] = []
        for owner, module in modules.items():
            for name, t in list(module.named_parameters()) + list(module.named_buffers()):
                if t.is_floating_point():
                    self.names.append(f"{owner} ({name})")
                    self.tensors.append(t)
        self.saved = [torch.empty_like(t) for t in self.tensors]

    def take(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.saved, self.tensors)

    def restore(self) -> None:
        with torch.no_grad():
            torch._foreach_copy_(self.tensors, self.saved)

    def screen(self, rows: int = 1) -> Tensor:
        """Sums (rows,) of the tensors split into ``rows`` member-major rows, without a
        synchronisation: a NaN or an infinity anywhere in row r makes sum r non-finite, so a
        finite sum proves row r finite (a non-finite one may be an overflow of the sum: confirm
        with the exact test). Ten times cheaper than ``isfinite(t).all()`` on the CPU."""
        return torch.stack([t.detach().reshape(rows, -1).sum(1) for t in self.tensors]).sum(0)

    def first_non_finite(self) -> tuple[str, float] | None:
        for name, t in zip(self.names, self.tensors):
            bad = ~torch.isfinite(t.detach())
            if bool(bad.any()):
                return name, float(t.detach()[bad].reshape(-1)[0])
        return None

    def largest_saved(self) -> float:
        return max((float(s.abs().max()) for s in self.saved if s.numel()), default=0.0)


def _likely_causes(config: TrainConfig, largest: float, logit: float) -> list[str]:
    """What usually makes a GAN's training overflow, from the config and the last finite state."""
    causes = []
    if config.loss == "wasserstein" and config.gradient_penalty == 0:
        causes.append(
            "the Wasserstein critic is unconstrained without a gradient penalty (its cost "
            "a_fake - a_real has no lower bound); set gradient_penalty (Gulrajani et al. 2017 "
            "use 10) or lower the learning rates"
        )
    if config.gradient_penalty > 1e4:
        causes.append(
            f"gradient_penalty = {config.gradient_penalty:g} is very large: the penalty's own "
            "gradient overflows; weights of 1 to 10 are usual"
        )
    if logit > 1e4:
        causes.append(
            f"D's logits reached |a| = {logit:.3g} on the last data minibatch: D saturates and "
            "its cost's gradient overflows in float32; lower lr_d or the scale of D's weights"
        )
    if largest > 1e4 or not causes:
        causes.append(
            f"the learning rates are too large for this problem (lr_d = {config.lr_d:g}, "
            f"lr_g = {config.lr_g:g}, {config.optimizer}); the largest parameter had reached "
            f"{largest:.3g}: lower them"
        )
    return causes


def _optimizer(
    params: Any, kind: str, lr: float, momentum: float, betas: tuple[float, float], *, fused: bool = False
) -> torch.optim.Optimizer:
    """SGD with momentum or Adam. ``fused`` SGD (one kernel per parameter) gives the same numbers
    bit for bit; Adam is never fused here (its fused kernel rounds in another order)."""
    if kind == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, fused=fused or None)
    return torch.optim.Adam(params, lr=lr, betas=tuple(betas))


def _d_step(
    D: nn.Module,
    G: nn.Module,
    optimizer: torch.optim.Optimizer,
    x: Tensor,
    z: Tensor,
    loss: str,
    penalty: float,
    penalty_generator: torch.Generator,
    *,
    r1: float = 0.0,
    r2: float = 0.0,
    consensus: float = 0.0,
    sigma: float = 0.0,
    instance_generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor, Tensor]:
    """One descent step on D's cost (with its penalties and regularisers); returns (mean cost,
    real logits, D's data input (x, plus instance noise when sigma > 0)), all detached."""
    m = x.shape[0]
    if consensus > 0:
        fake = G(z).reshape(m, -1)
    else:
        with torch.no_grad():
            fake = G(z).reshape(m, -1)
    if sigma > 0:
        x = x + sigma * torch.randn(x.shape, generator=instance_generator, device=x.device)
        fake = fake + sigma * torch.randn(fake.shape, generator=instance_generator, device=x.device)
    a_real, a_fake = D(x), D(fake)
    cost = discriminator_loss(a_real, a_fake, loss).mean()
    if penalty > 0:
        cost = cost + penalty * _gradient_penalty(D, x, fake, generator=penalty_generator).mean()
    if r1 > 0:
        cost = cost + 0.5 * r1 * input_gradient_norm2(D, x).mean()
    if r2 > 0:
        cost = cost + 0.5 * r2 * input_gradient_norm2(D, fake).mean()
    d_params = list(D.parameters())
    if consensus > 0:
        plain = discriminator_loss(a_real, a_fake, loss).mean()
        cost_g = generator_loss(a_fake, loss).mean()
        cost = cost + consensus * consensus_penalty(cost_g, plain, list(G.parameters()), d_params)
    optimizer.zero_grad(set_to_none=True)
    cost.backward(inputs=d_params if consensus > 0 else None)
    optimizer.step()
    return cost.detach(), a_real.detach(), x.detach()


def _grad_norm(module: nn.Module) -> float:
    grads = [p.grad.detach().reshape(-1) for p in module.parameters() if p.grad is not None]
    return float(torch.linalg.vector_norm(torch.cat(grads))) if grads else 0.0


def _exact_row(p_data: Distribution, G: nn.Module, D: nn.Module, method: str) -> dict[str, float]:
    from gantheory.metrics import discriminator_error

    with torch.no_grad():
        p_g = G.distribution(torch.float64, "cpu")
        if method == "auto":
            from gantheory.discriminator import optimal_discriminator, value
            from gantheory.divergences import jsd

            div = jsd(p_data, p_g)
            # C(G) = V(D*, G) as its own integral (Goodfellow et al. 2014, eq. 1 and Proposition 1),
            # so that Theorem 1, C(G) = -log 4 + 2 JSD, is checked at every record, not assumed
            c_g = value(optimal_discriminator(p_data, p_g), p_data, p_g)
            jsd_value, jsd_error = float(div.value), float(div.error)
    err = discriminator_error(D, p_data, p_g, c_g=c_g if method == "auto" else "grid")
    if method == "grid":
        # on the grid, JSD = (C(G) + log 4) / 2 (Goodfellow et al. 2014, Theorem 1)
        jsd_value = 0.5 * (err.value_optimal + math.log(4.0))
        jsd_error = 0.5 * err.value_optimal_error
    return {
        "jsd": jsd_value,
        "jsd_error": jsd_error,
        "c_g": err.value_optimal,
        "c_g_error": err.value_optimal_error,
        "d_error": err.mean_abs_error,
        "d_error_bound": err.mean_abs_error_bound,
        "value_gap": err.value_gap,
        "value_gap_error": err.value_gap_error,
        "mean_d_data": err.mean_d_data,
        "mean_d_data_error": err.mean_d_data_error,
    }


def _check_discriminator(D: nn.Module, width: int, device: torch.device) -> None:
    """Probe D (in eval mode, without gradients) on points (2, width): one logit per point."""
    training = D.training
    try:
        with torch.no_grad():
            out = D.eval()(torch.zeros(2, width, device=device))
    except RuntimeError as error:
        raise ValueError(
            f"D cannot take points of shape (n, {width}) (pack * d, the data's dimension): {error}"
        ) from error
    finally:
        D.train(training)
    if not isinstance(out, Tensor) or out.shape not in ((2,), (2, 1)):
        shape = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(
            f"D must return one logit per point, shape (n,) or (n, 1); for points (2, {width}) "
            f"it returned {shape}"
        )
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"D returns non-finite logits for x = 0 before training: {out.tolist()}")


def _check_callback(callback: object) -> None:
    if callback is not None and not callable(callback):
        raise TypeError(f"callback must be callable as callback(step, G, D), got {type(callback).__name__}")


def _checkpoint_path(checkpoint: str | os.PathLike[str] | None) -> Path | None:
    """The checkpoint file, checked before any training: not a directory, in a directory."""
    if checkpoint is None:
        return None
    if not isinstance(checkpoint, (str, os.PathLike)):
        raise TypeError(f"checkpoint must be a path, got {type(checkpoint).__name__}")
    path = Path(checkpoint)
    if path.is_dir():
        raise ValueError(f"checkpoint {str(path)!r} is a directory, not a checkpoint file")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise ValueError(f"checkpoint {str(path)!r}: {str(parent)!r} is not a directory")
            break
    return path


def _same_config(saved: dict[str, Any], config: TrainConfig) -> bool:
    """A checkpoint's config equals ``config`` up to ``steps``; fields a checkpoint lacks (saved
    before they existed: the regularisers) count as their defaults."""
    new = (*_REGULARIZERS, "instance_noise_final")
    defaults = {f.name: f.default for f in fields(TrainConfig) if f.name in new}
    return {**defaults, **saved, "steps": config.steps} == config.to_dict()


def _check_players(G: object, D: object) -> None:
    for name, player in (("G", G), ("D", D)):
        if not isinstance(player, nn.Module):
            raise TypeError(f"{name} must be a torch.nn.Module, got {type(player).__name__}")


def train(
    p_data: Distribution,
    G: nn.Module,
    D: nn.Module,
    config: TrainConfig | None = None,
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    callback: Callable[[int, nn.Module, nn.Module], None] | None = None,
) -> TrainResult:
    """Train G and D by Algorithm 1 of Goodfellow et al. 2014 (arXiv:1406.2661).

    min_G max_D V(D, G) = E_{x ~ p_data}[log D(x)] + E_{z ~ p_z}[log(1 - D(G(z)))], by alternating
    k steps on D with one step on G (see the module docstring for the loop and its random
    streams). G and D are moved to the device in float32 and trained in place.

    Args:
        p_data: the data distribution (scalar events in 1D, vector events (d,)).
        G: maps noise (n, noise_dim) to samples (n, d); exact-density generators
            (:class:`gantheory.models.ExactDensityGenerator`) enable the exact recording.
        D: maps points (n, pack * d) to logits (n,) (or (n, 1)).
        config: the run's :class:`TrainConfig` (defaults when None).
        checkpoint: a file path; when it exists the run resumes from it (the config must equal
            the saved one except for ``steps``), and it is written atomically every
            ``config.checkpoint_every`` iterations and at the end. A resumed run gives the same
            parameters, bit for bit on the CPU, as an uninterrupted one.
        progress: show a tqdm bar (quiet when not a terminal).
        callback: called as ``callback(step, G, D)`` after each iteration (step = 1, 2, ...).

    Returns:
        :class:`TrainResult` with the trained G and D and the :class:`History`.

    Raises:
        TypeError: bad argument types.
        ValueError: a bad config field, G's noise dimension or output dimension not matching,
            D not taking points (n, pack * d) or not returning one logit per point, a checkpoint
            saved with another config.
        TrainingDiverged: a cost, parameter or buffer became non-finite (NaN or inf): raised at
            that iteration, with G and D put back to their state after the previous one (see
            :class:`TrainingDiverged`); the checkpoint keeps its last (finite) save.

    >>> import gantheory as gt
    >>> s = random_streams(0)
    >>> G = gt.AffineGenerator(1, loc=-1.0)
    >>> D = gt.mlp_discriminator(1, widths=(8,), generator=s.init)
    >>> cfg = TrainConfig(steps=20, record_every=10, exact=False, device="cpu")
    >>> result = train(gt.gaussian(1.0, 1.0), G, D, cfg, progress=False)
    >>> result.history.step
    [0, 10, 20]
    """
    check.distribution("p_data", p_data)
    _check_players(G, D)
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    device = resolve_device(config.device)
    draw_data = DataSampler(p_data, dtype=torch.float32, device=device)
    noise_dim = config.noise_dim if config.noise_dim is not None else getattr(G, "noise_dim", None)
    if noise_dim is None:
        raise ValueError("config.noise_dim is None and G has no noise_dim attribute: set one")
    G.to(device=device, dtype=torch.float32)
    D.to(device=device, dtype=torch.float32)
    m, pack, d = config.batch_size, config.pack, draw_data.dim
    training = G.training
    try:  # a probe in eval mode, so that batch-norm statistics do not move
        with torch.no_grad():
            out = G.eval()(torch.zeros(2, noise_dim, device=device))
    except RuntimeError as error:
        raise ValueError(f"G cannot map noise of shape (n, {noise_dim}): {error}") from error
    finally:
        G.train(training)
    if out.reshape(2, -1).shape[1] != d:
        raise ValueError(
            f"G must map noise (n, {noise_dim}) to samples (n, {d}), got shape {tuple(out.shape)}"
        )
    if not bool(torch.isfinite(out).all()):
        raise ValueError(f"G returns non-finite samples for z = 0 before training: {out.tolist()}")
    _check_discriminator(D, pack * d, device)
    _check_callback(callback)
    exact = config.exact and pack == 1 and hasattr(G, "distribution")
    if exact and config.noise != "gaussian":
        raise ValueError(
            "exact recording needs noise='gaussian' (the prior of G.distribution()); "
            "set exact=False"
        )

    streams = random_streams(config.seed, device)
    opt_d = _optimizer(D.parameters(), config.optimizer, config.lr_d, config.momentum, config.betas)
    opt_g = _optimizer(G.parameters(), config.optimizer, config.lr_g, config.momentum, config.betas)
    history = History()
    start = 0
    path = _checkpoint_path(checkpoint)
    if path is not None and path.exists():
        state = load_checkpoint(path)
        if not _same_config(state["config"], config):
            raise ValueError(
                f"checkpoint {str(path)!r} was saved with another config: {state['config']}"
            )
        G.load_state_dict(state["G"])
        D.load_state_dict(state["D"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        streams.set_state(state["rng"])
        history = History.from_dict(state["history"])
        start = int(state["step"])
        if start > config.steps:
            raise ValueError(f"checkpoint is at step {start}, beyond config.steps = {config.steps}")

    saved_step = start if start > 0 else None

    def save(step: int) -> None:
        nonlocal saved_step
        if path is not None:
            save_checkpoint(path, {
                "config": config.to_dict(), "step": step, "G": G.state_dict(), "D": D.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                "rng": streams.get_state(), "history": history.to_dict(),
            })  # fmt: skip
            saved_step = step

    snapshot = _Snapshot({"G": G, "D": D})
    bad = snapshot.first_non_finite()
    if bad is not None:
        raise ValueError(f"{bad[0]} holds a non-finite value ({bad[1]}) before training")
    snapshot.take()

    def diverged(step: int, costs: list[tuple[str, Tensor]], x: Tensor) -> TrainingDiverged:
        """Name the first non-finite value, put the last finite state back, explain."""
        bad = next(((w, float(c)) for w, c in costs if not bool(torch.isfinite(c))), None)
        what, value = bad if bad is not None else snapshot.first_non_finite() or ("a value", math.nan)
        if bad is None:
            what = f"a parameter or buffer of {what}"
        snapshot.restore()
        training = D.training
        with torch.no_grad():  # in eval mode: batch-norm statistics stay as restored
            logit = float(D.eval()(x).abs().max())
        D.train(training)
        causes = _likely_causes(config, snapshot.largest_saved(), logit)
        return TrainingDiverged(
            step, what, value, causes, None if path is None else str(path), saved_step
        )

    if start == 0 and not history.step:
        history.append(step=0, **(_exact_row(p_data, G, D, config.exact_method) if exact else {}))
    every_ckpt = config.checkpoint_every or config.record_every
    loss, penalty = config.loss, float(config.gradient_penalty)
    bar = tqdm(total=config.steps, initial=start, disable=None if progress else True, desc="GAN")
    try:
        for step in range(start + 1, config.steps + 1):
            if config.lr_final != 1.0:
                factor = config.lr_final ** ((step - 1) / config.steps)
                for opt, lr in ((opt_d, config.lr_d), (opt_g, config.lr_g)):
                    for group in opt.param_groups:
                        group["lr"] = lr * factor
            costs: list[tuple[str, Tensor]] = []
            sigma = instance_noise_std(
                config.instance_noise, config.instance_noise_final, step, config.steps
            )
            for i in range(config.k):
                x = draw_data(m * pack, streams.data).reshape(m, pack * d)
                z = sample_noise(m * pack, noise_dim, config.noise, streams.noise, device=device)
                cost_d, a_real, x = _d_step(
                    D, G, opt_d, x, z, loss, penalty, streams.penalty, r1=config.r1,
                    r2=config.r2, consensus=config.consensus, sigma=sigma,
                    instance_generator=streams.instance,
                )  # fmt: skip
                costs.append((f"D's cost (D step {i + 1} of {config.k})", cost_d))
            z = sample_noise(m * pack, noise_dim, config.noise, streams.noise, device=device)
            fake = G(z).reshape(m, pack * d)
            if sigma > 0:
                fake = fake + sigma * torch.randn(fake.shape, generator=streams.instance, device=device)
            a_fake = D(fake)
            cost_g = generator_loss(a_fake, loss).mean()
            if config.consensus > 0:  # v on G's noise and the last D step's data minibatch
                plain_d = discriminator_loss(D(x), a_fake, loss).mean()
                cost_g = cost_g + config.consensus * consensus_penalty(
                    cost_g, plain_d, list(G.parameters()), list(D.parameters())
                )
            costs.append(("G's cost", cost_g.detach()))
            opt_g.zero_grad(set_to_none=True)
            cost_g.backward()
            record = step % config.record_every == 0 or step == config.steps
            if record:
                row = {
                    "loss_d": float(cost_d), "loss_g": float(cost_g.detach()),
                    "d_real": float(torch.sigmoid(a_real.reshape(-1)).mean()),
                    "d_fake": float(torch.sigmoid(a_fake.detach().reshape(-1)).mean()),
                    "grad_norm_g": _grad_norm(G),
                }  # fmt: skip
            opt_g.step()
            finite = torch.stack([torch.isfinite(c) for _, c in costs]).all()
            screen = torch.isfinite(snapshot.screen()).all()
            if not bool(finite & screen):  # one synchronisation per iteration
                if not bool(finite) or snapshot.first_non_finite() is not None:
                    raise diverged(step, costs, x)
            snapshot.take()  # the verified state: the last finite one
            if record:
                if exact:
                    row.update(_exact_row(p_data, G, D, config.exact_method))
                history.append(step=step, **row)
                bar.set_postfix(
                    {k: f"{v:.3g}" for k, v in row.items() if k in ("loss_d", "loss_g", "jsd")}
                )
            if step % every_ckpt == 0 or step == config.steps:
                save(step)
            bar.update(1)
            if callback is not None:
                callback(step, G, D)
    finally:
        bar.close()
    return TrainResult(G, D, config, history)
