"""The networks of a GAN: MLP generators and discriminators, generators with an exact density, KDE.

A generator G maps noise z of shape (n, noise_dim) to samples of shape (n, d); a discriminator D
maps points of shape (n, d) (or (n, pack * d) under PacGAN packing) to **logits** of shape (n,),
so D(x) = sigma(D.logits) and every loss is computed in log space (:mod:`gantheory.losses`).

Three kinds of generator:

- :func:`mlp_generator`: an MLP; its density p_g is implicit. :func:`gaussian_kde` estimates it
  from samples (bandwidth chosen by held-out likelihood) with its uncertainty.
- :class:`AffineGenerator`: G(z) = mu + W z with z ~ N(0, I), so p_g = N(mu, W W^T) exactly.
- :class:`FlowGenerator`: a neural spline flow (zuko's NSF; Durkan et al. 2019, arXiv:1906.04032)
  run from noise to data, so p_g is the flow's exact density.

Both exact-density generators have ``G.distribution()``, which returns p_g as a torch
``Distribution`` (scalar events in 1D, like the toolkit's 1D targets), so that D* = p_data /
(p_data + p_g), JSD(p_data || p_g) and C(G) can be computed exactly while a GAN trains
(Goodfellow et al. 2014, arXiv:1406.2661, Proposition 1 and Theorem 1).

Initialisation. Every constructor takes ``generator``, a ``torch.Generator`` that draws the
initial weights (``None``: torch's default generator, as for ``torch.randn``); with an explicit
generator, building a network leaves torch's global random state untouched. Weight matrices and
biases of linear layers are drawn from U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (PyTorch's default for
``nn.Linear``); other free parameters (the spline parameters of a 1D flow) from N(0, 0.1^2), so
a 1D flow starts near the identity (zuko's N(0, 1) gives a very irregular first spline);
batch-norm scales start at 1 and shifts at 0. Drawing order is the order of
``module.named_parameters()``, so a seeded generator gives the same network every time.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import torch
from torch import Tensor, nn
from torch.distributions import Distribution, MultivariateNormal, Normal, constraints

from gantheory import _validation as check
from gantheory._expectations import PushforwardBounds
from gantheory.distributions import GaussianMixture, mixture


def _import_zuko():  # noqa: ANN202
    """zuko, without its side effect: importing it sets ``Distribution._validate_args = False``
    for every torch distribution of the process (zuko/distributions.py), which would let
    ``Normal(0, -1)`` through everywhere; the setting is put back as it was."""
    before = Distribution._validate_args
    import zuko

    Distribution.set_default_validate_args(before)
    return zuko


zuko = _import_zuko()

__all__ = [
    "Activation",
    "MLPGenerator",
    "MLPDiscriminator",
    "mlp_generator",
    "mlp_discriminator",
    "ExactDensityGenerator",
    "AffineGenerator",
    "FlowGenerator",
    "CouplingFlowGenerator",
    "KernelDensity",
    "gaussian_kde",
]

Activation = Literal["relu", "leaky_relu", "tanh", "maxout"]
_ACTIVATIONS: tuple[str, ...] = ("relu", "leaky_relu", "tanh", "maxout")


def _widths(widths: object, name: str = "widths") -> tuple[int, ...]:
    if isinstance(widths, int) or not isinstance(widths, Sequence):
        raise TypeError(f"{name} must be a sequence of ints, got {widths!r}")
    return tuple(check.positive_int(f"{name}[{i}]", w) for i, w in enumerate(widths))


def _initialise(module: nn.Module, generator: torch.Generator | None) -> nn.Module:
    """Draw every parameter of ``module`` from ``generator`` (scheme in the module docstring)."""
    with torch.no_grad():
        for sub in module.modules():
            params = dict(sub.named_parameters(recurse=False))
            if isinstance(sub, nn.modules.batchnorm._BatchNorm):
                params["weight"].fill_(1.0)
                params["bias"].fill_(0.0)
                continue
            weight = params.pop("weight", None)
            if weight is not None and weight.ndim >= 2:
                bound = 1.0 / math.sqrt(weight.shape[-1])
                weight.uniform_(-bound, bound, generator=generator)
                bias = params.pop("bias", None)
                if bias is not None:
                    bias.uniform_(-bound, bound, generator=generator)
            elif weight is not None:
                params["weight"] = weight
            for param in params.values():
                param.normal_(0.0, 0.1, generator=generator)
    return module


class _Maxout(nn.Module):
    """max over ``pieces`` affine maps: h_j = max_p (W x + b)_{j, p} (Goodfellow et al. 2013)."""

    def __init__(self, in_features: int, out_features: int, pieces: int) -> None:
        super().__init__()
        self.pieces = pieces
        self.linear = nn.Linear(in_features, out_features * pieces)

    def forward(self, x: Tensor) -> Tensor:
        return self.linear(x).unflatten(-1, (-1, self.pieces)).amax(-1)


def _layers(
    in_dim: int, widths: tuple[int, ...], activation: str, *, batch_norm: bool, pieces: int
) -> list[nn.Module]:
    layers: list[nn.Module] = []
    for width in widths:
        if activation == "maxout":
            layers.append(_Maxout(in_dim, width, pieces))
        else:
            layers.append(nn.Linear(in_dim, width))
            if batch_norm:
                layers.append(nn.BatchNorm1d(width))
            layers.append(
                {"relu": nn.ReLU, "tanh": nn.Tanh}.get(activation, lambda: nn.LeakyReLU(0.2))()
            )
        in_dim = width
    return layers


class MLPGenerator(nn.Sequential):
    """An MLP generator G: noise (n, noise_dim) -> samples (n, out_dim); built by
    :func:`mlp_generator`. :func:`mlp_generator`."""

    def __init__(self, noise_dim: int, out_dim: int, layers: list[nn.Module]) -> None:
        super().__init__(*layers)
        self.noise_dim = noise_dim
        self.out_dim = out_dim


class MLPDiscriminator(nn.Module):
    """An MLP discriminator returning logits (n,). Build with :func:`mlp_discriminator`.

    Accepts points of shape (n, pack * in_dim), (n, pack, in_dim), or (n,) when
    pack * in_dim == 1.
    """

    def __init__(self, in_dim: int, pack: int, body: nn.Sequential) -> None:
        super().__init__()
        self.in_dim = in_dim
        self.pack = pack
        self.body = body

    def forward(self, x: Tensor) -> Tensor:
        return self.body(x.reshape(x.shape[0], self.in_dim * self.pack))[:, 0]


def mlp_generator(
    noise_dim: int,
    out_dim: int,
    *,
    widths: Sequence[int] = (64, 64),
    activation: Activation = "relu",
    batch_norm: bool = False,
    generator: torch.Generator | None = None,
) -> MLPGenerator:
    """An MLP generator G(z): Linear -> [BatchNorm] -> activation per hidden layer, then Linear.

    PacGAN's 2D generator (Lin et al. 2018, arXiv:1712.04086) is
    ``mlp_generator(2, 2, widths=(400,) * 4, batch_norm=True)``.

    Args:
        noise_dim: dimension of z.
        out_dim: dimension d of a sample.
        widths: hidden layer widths.
        activation: "relu", "leaky_relu" (slope 0.2) or "tanh" ("maxout" is for D).
        batch_norm: batch normalisation after each hidden linear layer.
        generator: draws the initial weights.

    Returns:
        an :class:`MLPGenerator` (``G.noise_dim``, ``G.out_dim``); G(z) has shape (n, out_dim).

    Raises:
        TypeError, ValueError: non-positive sizes, unknown activation.

    >>> G = mlp_generator(2, 1, widths=(8,), generator=torch.Generator().manual_seed(0))
    >>> G(torch.zeros(3, 2)).shape
    torch.Size([3, 1])
    """
    noise_dim = check.positive_int("noise_dim", noise_dim)
    out_dim = check.positive_int("out_dim", out_dim)
    widths = _widths(widths)
    check.choice("activation", activation, ("relu", "leaky_relu", "tanh"))
    with torch.random.fork_rng(devices=[]):  # torch's own init draws from the global generator
        layers = _layers(noise_dim, widths, activation, batch_norm=bool(batch_norm), pieces=1)
        layers.append(nn.Linear(widths[-1] if widths else noise_dim, out_dim))
    return _initialise(MLPGenerator(noise_dim, out_dim, layers), generator)


def mlp_discriminator(
    in_dim: int,
    *,
    widths: Sequence[int] = (64, 64),
    activation: Activation = "relu",
    pieces: int = 5,
    pack: int = 1,
    generator: torch.Generator | None = None,
) -> MLPDiscriminator:
    """An MLP discriminator returning the logit a(x) = sigma^{-1}(D(x)), shape (n,).

    Hidden layers are Linear + activation, or maxout units max_p (W x + b)_p (Goodfellow et al.
    2013, arXiv:1302.4389), then a linear output. With ``pack`` > 1, D judges ``pack`` samples at
    once, concatenated (PacGAN, Lin et al. 2018, arXiv:1712.04086, whose 2D discriminator is
    ``mlp_discriminator(2, widths=(200,) * 3, activation="maxout", pieces=5, pack=pack)``).

    Args:
        in_dim: dimension d of one sample.
        widths: hidden layer widths.
        activation: "relu", "leaky_relu" (slope 0.2), "tanh" or "maxout".
        pieces: affine pieces per maxout unit (used with "maxout" only).
        pack: samples per input (the input has pack * in_dim features).
        generator: draws the initial weights.

    Returns:
        an :class:`MLPDiscriminator` (``D.in_dim``, ``D.pack``); D(x) has shape (n,).

    Raises:
        TypeError, ValueError: non-positive sizes, unknown activation.

    >>> D = mlp_discriminator(2, widths=(8,), generator=torch.Generator().manual_seed(0))
    >>> D(torch.zeros(5, 2)).shape
    torch.Size([5])
    """
    in_dim = check.positive_int("in_dim", in_dim)
    pieces = check.positive_int("pieces", pieces)
    pack = check.positive_int("pack", pack)
    widths = _widths(widths)
    check.choice("activation", activation, _ACTIVATIONS)
    with torch.random.fork_rng(devices=[]):  # torch's own init draws from the global generator
        layers = _layers(in_dim * pack, widths, activation, batch_norm=False, pieces=pieces)
        layers.append(nn.Linear(widths[-1] if widths else in_dim * pack, 1))
    return _initialise(MLPDiscriminator(in_dim, pack, nn.Sequential(*layers)), generator)


class ExactDensityGenerator(nn.Module):
    """Base class of generators whose p_g is known exactly, for noise z ~ N(0, I_noise_dim).

    Subclasses define ``forward(z)`` (noise (n, noise_dim) -> samples (n, dim)) and
    ``distribution(dtype)`` (p_g as a torch Distribution: scalar events when dim == 1).
    """

    dim: int
    noise_dim: int
    out_dim: int

    def distribution(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> Distribution:
        raise NotImplementedError


class AffineGenerator(ExactDensityGenerator):
    """The affine generator G(z) = mu + W z, z ~ N(0, I_d): p_g = N(mu, W W^T) exactly.

    In 1D, p_g = N(mu, w^2). It is the generator of the theory in its simplest form: Goodfellow et
    al. 2014 (arXiv:1406.2661, Figure 1) draw a Gaussian p_g approaching a Gaussian p_data.

    Args:
        dim: dimension d of a sample (and of z).
        loc: initial mu, a number or a vector (d,).
        scale: initial W: a number (scale * I), a vector (diag) or a matrix (d, d).
        generator: unused by the fixed initial values; accepted for a uniform signature.

    Raises:
        TypeError, ValueError: non-finite values, shapes that do not match ``dim``.

    >>> G = AffineGenerator(1, loc=2.0, scale=0.5)
    >>> G.distribution()
    Normal(loc: 2.0, scale: 0.5)
    """

    def __init__(
        self,
        dim: int,
        *,
        loc: object = 0.0,
        scale: object = 1.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = self.noise_dim = self.out_dim = check.positive_int("dim", dim)
        loc_t = check.as_tensor("loc", loc, dtype=torch.float32)
        scale_t = check.as_tensor("scale", scale, dtype=torch.float32)
        if loc_t.ndim == 0:
            loc_t = loc_t.expand(dim)
        if loc_t.shape != (dim,):
            raise ValueError(
                f"loc must be a number or have shape ({dim},), got {tuple(loc_t.shape)}"
            )
        if scale_t.ndim == 0:
            scale_t = scale_t * torch.eye(dim)
        elif scale_t.ndim == 1 and scale_t.shape == (dim,):
            scale_t = torch.diag(scale_t)
        if scale_t.shape != (dim, dim):
            raise ValueError(
                f"scale must be a number, a vector ({dim},) or a matrix ({dim}, {dim}), "
                f"got shape {tuple(scale_t.shape)}"
            )
        if float(torch.linalg.det(scale_t.double()).abs()) < 1e-12:
            raise ValueError(f"scale must be an invertible matrix, got {check._short(scale_t)}")
        self.loc = nn.Parameter(loc_t.clone())
        self.weight = nn.Parameter(scale_t.clone())

    def forward(self, z: Tensor) -> Tensor:
        return self.loc + z @ self.weight.T

    def distribution(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> Distribution:
        """p_g = N(mu, W W^T) in ``dtype`` on ``device`` (None: the parameters' device),
        differentiable with respect to mu and W."""
        loc, weight = self.loc.to(device, dtype), self.weight.to(device, dtype)
        if self.dim == 1:
            return Normal(loc[0], weight[0, 0].abs())
        return MultivariateNormal(loc, covariance_matrix=weight @ weight.T)


class _FlowDistribution(Distribution):
    """A zuko flow's distribution (event shape (d,)) with a declared support (all of R^d), seen
    with scalar events when d == 1 (x of shape (...,))."""

    arg_constraints: dict[str, constraints.Constraint] = {}
    has_rsample = True

    def __init__(self, base: Distribution) -> None:
        self.base = base
        self.scalar = base.event_shape == (1,)
        event = torch.Size() if self.scalar else base.event_shape
        super().__init__(base.batch_shape, event, validate_args=False)

    @property
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.real if self.scalar else constraints.real_vector

    def log_prob(self, value: Tensor) -> Tensor:
        return self.base.log_prob(value[..., None] if self.scalar else value)

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        x = self.base.rsample(sample_shape)
        return x[..., 0] if self.scalar else x


class FlowGenerator(ExactDensityGenerator):
    """A neural-spline-flow generator: G(z) = T^{-1}(z), z ~ N(0, I_d), p_g the flow's density.

    The flow is zuko's ``NSF`` (monotonic rational-quadratic splines on [-bound, bound],
    autoregressive conditioners; Durkan et al. 2019, arXiv:1906.04032), with T mapping data to
    noise, so log p_g(x) = log N(T(x); 0, I) + log |det dT/dx| is exact. Outside [-bound, bound]
    (bound = 5) each spline is the identity: targets should lie well inside that box.

    Args:
        dim: dimension d of a sample (1 or 2 in this toolkit; any d works).
        transforms: number of spline transforms.
        hidden: hidden widths of each conditioner MLP (2D and up).
        bins: spline bins.
        generator: draws the initial parameters.

    Raises:
        TypeError, ValueError: non-positive sizes.

    >>> G = FlowGenerator(2, hidden=(16,), generator=torch.Generator().manual_seed(0))
    >>> G(torch.zeros(4, 2)).shape, G.distribution().event_shape
    (torch.Size([4, 2]), torch.Size([2]))
    """

    def __init__(
        self,
        dim: int,
        *,
        transforms: int = 3,
        hidden: Sequence[int] = (64, 64),
        bins: int = 8,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = self.noise_dim = self.out_dim = check.positive_int("dim", dim)
        transforms = check.positive_int("transforms", transforms)
        bins = check.positive_int("bins", bins)
        hidden = _widths(hidden, "hidden")
        with torch.random.fork_rng(devices=[]):  # zuko's own init draws from the global generator
            self.flow = zuko.flows.NSF(
                features=dim, context=0, transforms=transforms, bins=bins, hidden_features=hidden
            )
        _initialise(self.flow, generator)

    def forward(self, z: Tensor) -> Tensor:
        return self.flow().transform.inv(z)

    def distribution(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> Distribution:
        """p_g in ``dtype`` on ``device`` (None: the parameters' device): the flow itself if its
        parameters have that dtype and device (differentiable), else a detached converted copy."""
        flow = self.flow
        param = next(flow.parameters())
        device = param.device if device is None else torch.device(device)
        if param.dtype != dtype or param.device != device:
            flow = copy.deepcopy(flow).requires_grad_(False).to(device, dtype)
        dist = flow()
        return _FlowDistribution(dist)


class _Conditioner(nn.Module):
    """The MLP of one coupling layer: a (n, d_a) -> (r, t), each (n, d_b); tanh hidden layers, so
    every output is bounded by |bias| + sum |weights| of the last layer."""

    def __init__(self, d_a: int, d_b: int, hidden: tuple[int, ...]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width = d_a
        for h in hidden:
            layers += [nn.Linear(width, h), nn.Tanh()]
            width = h
        layers.append(nn.Linear(width, 2 * d_b))
        self.net = nn.Sequential(*layers)

    def forward(self, a: Tensor) -> tuple[Tensor, Tensor]:
        r, t = self.net(a).chunk(2, dim=-1)
        return r, t

    def output_bounds(self) -> tuple[Tensor, Tensor]:
        """Bounds (d_b,) on |r| and |t| over all inputs: |b_k| + sum_i |W_ki| (|tanh| < 1)."""
        last = self.net[-1]
        bound = (last.bias.detach().abs() + last.weight.detach().abs().sum(1)).to(torch.float64)
        return bound.chunk(2)


class CouplingFlowGenerator(ExactDensityGenerator):
    """An affine-coupling flow generator (RealNVP): smooth, with a closed-form inverse and density.

    G = f_L o ... o f_1 maps noise z ~ N(0, I_d) to x. Layer j splits its input u into a
    conditioning half a and a transformed half b (the first d//2 coordinates and the rest, the
    roles swapped from one layer to the next) and maps

        b' = b * exp(s_j(a)) + t_j(a),   a' = a,   s_j = S tanh(r_j / S),   (r_j, t_j) = MLP_j(a),

    with tanh hidden layers (Dinh, Sohl-Dickstein & Bengio 2016, arXiv:1605.08803, eqs. 4-9). The
    inverse is b = (b' - t_j(a')) * exp(-s_j(a')), and by the change of variables

        log p_g(x) = log N(z; 0, I) - sum_j sum_i s_j(a_j)_i,   z = G^{-1}(x).

    Every map is analytic (no spline knots, no ReLU kinks), which is what lets the divergences
    integrate p_g to 1e-8 in the flow's base space (:mod:`gantheory._expectations`). The soft
    clamp S tanh(r/S) bounds each log-scale by S (``max_log_scale``); the tanh hidden layers bound
    r and t by the last layer's weights, which gives a-priori bounds on log p_g over all of R^d
    (:meth:`envelope`). The output layers start at zero: the flow starts as the identity, p_g =
    N(0, I).

    Args:
        dim: dimension d of a sample and of z (>= 2: a coupling needs two halves).
        transforms: number of coupling layers L (2 or more transform every coordinate).
        hidden: hidden widths of each conditioner MLP (at least one layer).
        max_log_scale: S > 0, the bound on each log-scale s.
        generator: draws the initial hidden weights.

    Raises:
        TypeError, ValueError: dim < 2, non-positive sizes, no hidden layer, S not positive.

    >>> G = CouplingFlowGenerator(2, hidden=(8,), generator=torch.Generator().manual_seed(0))
    >>> G(torch.zeros(3, 2)).shape, G.distribution().event_shape
    (torch.Size([3, 2]), torch.Size([2]))
    """

    def __init__(
        self,
        dim: int,
        *,
        transforms: int = 4,
        hidden: Sequence[int] = (32, 32),
        max_log_scale: float = 3.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        self.dim = self.noise_dim = self.out_dim = check.positive_int("dim", dim)
        if dim < 2:
            raise ValueError(
                f"dim must be >= 2 for a coupling flow (it splits the coordinates in two halves), "
                f"got {dim}; in 1D use AffineGenerator or FlowGenerator"
            )
        transforms = check.positive_int("transforms", transforms)
        hidden = _widths(hidden, "hidden")
        if not hidden:
            raise ValueError("hidden must hold at least one width (tanh layers bound the outputs)")
        if isinstance(max_log_scale, bool) or not isinstance(max_log_scale, (int, float)) or not 0 < max_log_scale < math.inf:
            raise ValueError(f"max_log_scale must be a positive finite number, got {max_log_scale!r}")
        self.max_log_scale = float(max_log_scale)
        self.half = dim // 2
        with torch.random.fork_rng(devices=[]):  # nn.Linear's own init draws from the global generator
            self.conditioners = nn.ModuleList(
                _Conditioner(*self._sizes(j), hidden) for j in range(transforms)
            )
        _initialise(self, generator)
        with torch.no_grad():
            for c in self.conditioners:
                c.net[-1].weight.zero_()
                c.net[-1].bias.zero_()

    def _sizes(self, j: int) -> tuple[int, int]:
        """(d_a, d_b) of layer j: even layers condition on the first d//2 coordinates."""
        return (self.half, self.dim - self.half) if j % 2 == 0 else (self.dim - self.half, self.half)

    def _split(self, u: Tensor, j: int) -> tuple[Tensor, Tensor]:
        a, b = u[:, : self.half], u[:, self.half :]
        return (a, b) if j % 2 == 0 else (b, a)

    def _join(self, a: Tensor, b: Tensor, j: int) -> Tensor:
        return torch.cat([a, b] if j % 2 == 0 else [b, a], dim=1)

    def _scale_shift(self, j: int, a: Tensor) -> tuple[Tensor, Tensor]:
        r, t = self.conditioners[j](a)
        s = self.max_log_scale * torch.tanh(r / self.max_log_scale)
        return s, t

    def forward_and_log_det(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x = G(z) (n, d) and log |det dG/dz| (n,) for noise z (n, d)."""
        u, log_det = z, z.new_zeros(z.shape[0])
        for j in range(len(self.conditioners)):
            a, b = self._split(u, j)
            s, t = self._scale_shift(j, a)
            u = self._join(a, b * torch.exp(s) + t, j)
            log_det = log_det + s.sum(1)
        return u, log_det

    def inverse_and_log_det(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """z = G^{-1}(x) (n, d) and log |det dG^{-1}/dx| (n,) for points x (n, d)."""
        u, log_det = x, x.new_zeros(x.shape[0])
        for j in reversed(range(len(self.conditioners))):
            a, b = self._split(u, j)
            s, t = self._scale_shift(j, a)
            u = self._join(a, (b - t) * torch.exp(-s), j)
            log_det = log_det - s.sum(1)
        return u, log_det

    def forward(self, z: Tensor) -> Tensor:
        return self.forward_and_log_det(z)[0]

    def envelope(self) -> PushforwardBounds:
        """A-priori bounds on p_g and on G over all of R^d, from the weights (float64).

        Per layer, |s| <= S_j = min(S, |r|max) and |t| <= T_j, with |r|max, T_j the last layer's
        |bias| + sum |weights|. Coordinate by coordinate, |b'| <= e^{S_j} |b| + T_j forwards and
        |b| <= e^{S_j} (|b'| + T_j) backwards, so |x_i| <= alpha_i |z_i| + beta_i and
        |z_i| <= alpha'_i |x_i| + beta'_i; and |log |det|| <= A = sum_j sum_i S_j. Hence, with
        c = (d/2) log 2 pi: -c - A - |beta'|^2 - max_i alpha'_i^2 |x|^2 <= log p_g(x) <= -c + A, and
        |x|^2 <= 2 max_i alpha_i^2 |z|^2 + 2 |beta|^2.
        """
        d = self.dim
        fwd_a = torch.ones(d, dtype=torch.float64)
        fwd_b = torch.zeros(d, dtype=torch.float64)
        scales, shifts = [], []
        log_det = 0.0
        for j, c in enumerate(self.conditioners):
            r_bound, t_bound = c.output_bounds()
            s_bound = torch.clamp(r_bound, max=self.max_log_scale)
            scales.append(s_bound)
            shifts.append(t_bound)
            log_det += float(s_bound.sum())
            idx = slice(self.half, d) if j % 2 == 0 else slice(0, self.half)
            fwd_a[idx] = torch.exp(s_bound) * fwd_a[idx]
            fwd_b[idx] = torch.exp(s_bound) * fwd_b[idx] + t_bound
        inv_a = torch.ones(d, dtype=torch.float64)
        inv_b = torch.zeros(d, dtype=torch.float64)
        for j in reversed(range(len(self.conditioners))):
            idx = slice(self.half, d) if j % 2 == 0 else slice(0, self.half)
            inv_a[idx] = torch.exp(scales[j]) * inv_a[idx]
            inv_b[idx] = torch.exp(scales[j]) * (inv_b[idx] + shifts[j])
        c0 = 0.5 * d * math.log(2 * math.pi)
        return PushforwardBounds(
            upper=-c0 + log_det,
            lower=-c0 - log_det - float((inv_b**2).sum()),
            curvature=2 * float((inv_a**2).max()),
            reach_scale=2 * float((fwd_a**2).max()),
            reach_shift=2 * float((fwd_b**2).sum()),
        )

    def distribution(
        self, dtype: torch.dtype = torch.float64, device: torch.device | str | None = None
    ) -> Distribution:
        """p_g in ``dtype`` on ``device`` (None: the parameters' device): on this module if its
        parameters have that dtype and device (differentiable), else on a detached converted copy."""
        param = next(self.parameters())
        device = param.device if device is None else torch.device(device)
        flow = self
        if param.dtype != dtype or param.device != device:
            flow = copy.deepcopy(self).requires_grad_(False).to(device, dtype)
        return _CouplingFlowDistribution(flow)


class _CouplingFlowDistribution(Distribution):
    """p_g = G#N(0, I_d) of a :class:`CouplingFlowGenerator`, with the pushforward protocol of
    :mod:`gantheory._expectations` (:meth:`from_base`, :meth:`envelope`)."""

    arg_constraints: dict[str, constraints.Constraint] = {}
    support = constraints.real_vector
    has_rsample = True

    def __init__(self, flow: CouplingFlowGenerator) -> None:
        self.flow = flow
        param = next(flow.parameters())
        self.base_loc = torch.zeros(flow.dim, dtype=param.dtype, device=param.device)
        super().__init__(torch.Size(), torch.Size([flow.dim]), validate_args=False)

    def _log_base(self, z: Tensor) -> Tensor:
        return -0.5 * (z * z).sum(-1) - 0.5 * self.flow.dim * math.log(2 * math.pi)

    def log_prob(self, value: Tensor) -> Tensor:
        if not isinstance(value, Tensor) or not value.is_floating_point():
            raise TypeError(f"value must be a floating-point torch.Tensor, got {type(value).__name__}")
        if value.ndim == 0 or value.shape[-1] != self.flow.dim:
            raise ValueError(f"value must have shape (..., {self.flow.dim}), got {tuple(value.shape)}")
        x = value.reshape(-1, self.flow.dim).to(self.base_loc.dtype)
        z, log_det = self.flow.inverse_and_log_det(x)
        return (self._log_base(z) + log_det).reshape(value.shape[:-1])

    def from_base(self, z: Tensor) -> tuple[Tensor, Tensor]:
        """x = G(z) (n, d) and log p_g(x) = log N(z; 0, I) - log |det dG/dz| (n,)."""
        x, log_det = self.flow.forward_and_log_det(z)
        return x, self._log_base(z) - log_det

    def to_base(self, x: Tensor) -> Tensor:
        """z = G^{-1}(x) (n, d) for points x (n, d)."""
        return self.flow.inverse_and_log_det(x)[0]

    def envelope(self) -> PushforwardBounds:
        return self.flow.envelope()

    def sample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        with torch.no_grad():
            return self.rsample(sample_shape)

    def rsample(self, sample_shape: torch.Size | tuple[int, ...] = ()) -> Tensor:
        shape = torch.Size(sample_shape)
        z = torch.randn(shape.numel(), self.flow.dim, dtype=self.base_loc.dtype, device=self.base_loc.device)
        return self.flow(z).reshape(*shape, self.flow.dim)


@dataclass
class KernelDensity:
    """A Gaussian KDE of p_g from generated samples, with its bandwidth and uncertainty.

    Attributes:
        distribution: the estimate p_hat(x) = (1/n) sum_i N(x; x_i, diag(h^2 s^2)), a
            :class:`~gantheory.distributions.GaussianMixture` in float64 (scalar events in 1D),
            so the exact mixture divergences apply to it.
        bandwidth: h times the per-axis sample standard deviation s, shape (d,).
        factor: the chosen h.
        candidates: the factors h tried, shape (c,).
        held_out_log_likelihood: mean log p_hat on the held-out half for each candidate, (c,).
        log_likelihood: the chosen factor's held-out mean log-likelihood (nats per sample).
        log_likelihood_se: its standard error, sd_i(log p_hat(x_i)) / sqrt(n_held_out).
        samples: the samples (n, d) in float64.
    """

    distribution: GaussianMixture
    bandwidth: Tensor
    factor: float
    candidates: Tensor
    held_out_log_likelihood: Tensor
    log_likelihood: float
    log_likelihood_se: float
    samples: Tensor

    def density_se(self, x: Tensor) -> Tensor:
        """Standard error of p_hat(x) over the sampling of the x_i: sd_i K_h(x - x_i) / sqrt(n).

        Args:
            x: points (k, d), or (k,) in 1D.

        Returns:
            shape (k,), float64.
        """
        d = self.samples.shape[1]
        x = check.points("x", x, d).to(torch.float64)
        diff = (x[:, None, :] - self.samples[None]) / self.bandwidth
        log_k = (
            -0.5 * (diff**2).sum(-1)
            - torch.log(self.bandwidth).sum()
            - 0.5 * d * math.log(2 * math.pi)
        )
        kernel = log_k.exp()
        return kernel.std(dim=1) / math.sqrt(self.samples.shape[0])

    def to_dict(self) -> dict[str, object]:
        return {
            "bandwidth": self.bandwidth,
            "factor": self.factor,
            "candidates": self.candidates,
            "held_out_log_likelihood": self.held_out_log_likelihood,
            "log_likelihood": self.log_likelihood,
            "log_likelihood_se": self.log_likelihood_se,
            "n_samples": int(self.samples.shape[0]),
        }


def _kde_log_prob(x: Tensor, centres: Tensor, bandwidth: Tensor) -> Tensor:
    d = centres.shape[1]
    diff = (x[:, None, :] - centres[None]) / bandwidth
    log_k = -0.5 * (diff**2).sum(-1) - torch.log(bandwidth).sum() - 0.5 * d * math.log(2 * math.pi)
    return torch.logsumexp(log_k, dim=1) - math.log(centres.shape[0])


def gaussian_kde(
    samples: Tensor,
    *,
    candidates: Sequence[float] | None = None,
    held_out: float = 0.5,
    generator: torch.Generator | None = None,
) -> KernelDensity:
    """Estimate an implicit p_g by a Gaussian KDE, bandwidth chosen by held-out likelihood.

    p_hat(x) = (1/n) sum_i N(x; x_i, diag(h^2 s^2)), s the per-axis standard deviation of the
    samples. The samples are split at random into a fit part and a held-out part (fraction
    ``held_out``); the factor h maximising the held-out mean log-likelihood among ``candidates``
    is kept (Silverman 1986, section 3.4.3: likelihood cross-validation), and the returned estimate
    uses all the samples with that h. Uncertainty: the held-out log-likelihood's standard error,
    and :meth:`KernelDensity.density_se` pointwise.

    Args:
        samples: generated samples, shape (n, d) or (n,) for 1D; n >= 4.
        candidates: factors h to try; default Scott's n^(-1/(d+4)) times 16 values in
            [0.1, 3] (log-spaced).
        held_out: fraction of the samples held out, in (0, 1).
        generator: draws the split (torch's default generator when None).

    Returns:
        :class:`KernelDensity`.

    Raises:
        TypeError, ValueError: samples not finite floating points of the right shape, fewer than
            4 samples, held_out outside (0, 1), non-positive candidates.

    >>> x = torch.randn(200, generator=torch.Generator().manual_seed(0))
    >>> kde = gaussian_kde(x, generator=torch.Generator().manual_seed(1))
    >>> kde.distribution.event_shape, 0.1 < kde.factor < 2.0
    (torch.Size([]), True)
    """
    if not isinstance(samples, Tensor):
        raise TypeError(f"samples must be a torch.Tensor, got {type(samples).__name__}")
    if samples.ndim not in (1, 2):
        raise ValueError(f"samples must have shape (n, d) or (n,), got {tuple(samples.shape)}")
    scalar = samples.ndim == 1
    x = check.as_tensor("samples", samples.detach().cpu()).reshape(samples.shape[0], -1)
    n, d = x.shape
    if n < 4:
        raise ValueError(f"samples must hold at least 4 points, got {n}")
    if not isinstance(held_out, float) or not 0.0 < held_out < 1.0:
        raise ValueError(f"held_out must be a float in (0, 1), got {held_out!r}")
    std = x.std(dim=0)
    if not bool((std > 0).all()):
        raise ValueError("samples must not be constant along any axis (zero standard deviation)")
    if candidates is None:
        scott = n ** (-1.0 / (d + 4))
        cands = scott * torch.logspace(math.log10(0.1), math.log10(3.0), 16, dtype=torch.float64)
    else:
        cands = check.positive("candidates", check.as_tensor("candidates", list(candidates)))
        if cands.ndim != 1 or cands.numel() == 0:
            raise ValueError(f"candidates must be a non-empty sequence, got {list(candidates)!r}")
    perm = torch.randperm(n, generator=generator)
    n_out = min(max(1, round(held_out * n)), n - 1)
    fit, test = x[perm[n_out:]], x[perm[:n_out]]
    scores = torch.stack([_kde_log_prob(test, fit, h * std).mean() for h in cands])
    best = int(torch.argmax(scores))
    h = float(cands[best])
    pointwise = _kde_log_prob(test, fit, h * std)
    se = float(pointwise.std() / math.sqrt(n_out)) if n_out > 1 else float("nan")
    bandwidth = h * std
    if scalar:
        dist = mixture(x[:, 0], bandwidth.expand(n).clone())
    else:
        dist = mixture(x, bandwidth.expand(n, d).clone())
    return KernelDensity(dist, bandwidth, h, cands, scores, float(scores[best]), se, x)
