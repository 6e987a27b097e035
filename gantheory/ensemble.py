"""Many GANs at once: S independent MLP GANs trained in one process as a batched ensemble.

Member s has its own weights, optimiser state and random streams; the ensemble only stacks them,
so that one batched matrix product (``torch.baddbmm`` on weights of shape (S, in, out)) does the
work of S small ones. The S member costs are **summed** (a mean would scale each member's
gradient by 1/S) and the optimisers (SGD, Adam) act elementwise, so member s follows exactly the
trajectory of ``gantheory.train(p_data, G_s, D_s, replace(config, seed=seeds[s]))``: the same
initial weights (the ensemble is stacked from the single networks), the same minibatches (member
s draws from ``gantheory.random_streams(seeds[s])`` in the order that ``train`` documents), and
the same updates, to float32 rounding (batched and single matrix products may sum in another
order). Batch normalisation keeps per-member statistics.

Speed. Ensembles of linear layers and pointwise activations (ReLU, leaky ReLU, tanh) trained
without a gradient penalty skip autograd: ``_Plain`` runs the forward pass and the backward pass
written out by hand (the chain rule of y = act(h W + b)) into buffers allocated once and reused at
every step, so no large tensor is allocated per step; D judges the data and the fakes of a D step
in one batched pass of 2m rows (rows are independent: the same logits as two calls), its weight
gradients summed as two halves, as autograd adds the gradients of two calls; the G step computes
only D's input gradient, not D's parameter gradients; layers of at most ``_NARROW`` outputs
(G's last, D's last) run transposed, y^T = b^T + W^T h^T, where the batched product is far
faster; SGD steps with PyTorch's fused kernel on the CPU (the same numbers, bit for bit). Batch
norm, maxout, the gradient penalty and the regularisers of :mod:`gantheory.regularizers` (R1, R2,
consensus, instance noise) go through autograd.

Algorithm 1 of Goodfellow et al. 2014 (arXiv:1406.2661) per member; PacGAN packing (Lin et al.
2018, arXiv:1712.04086) through ``config.pack``. This is the setup of the many-seed mode-collapse
study (``studies/mode_collapse.py``).
"""

from __future__ import annotations

import copy
import math
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.distributions import Distribution
from tqdm.auto import tqdm

from gantheory import _validation as check
from gantheory.io import load_checkpoint, save_checkpoint
from gantheory.losses import (
    discriminator_loss,
    discriminator_loss_grad,
    generator_loss,
    generator_loss_grad,
)
from gantheory.models import MLPDiscriminator, MLPGenerator
from gantheory.regularizers import consensus_penalty, input_gradient_norm2, instance_noise_std
from gantheory.train import (
    _REGULARIZERS,
    DataSampler,
    TrainConfig,
    TrainingDiverged,
    _check_callback,
    _checkpoint_path,
    _likely_causes,
    _optimizer,  # the trainer's own optimisers: SGD and Adam act elementwise, hence per member
    _same_config,
    _Snapshot,
    random_streams,
    resolve_device,
    sample_noise,
)

__all__ = ["MLPEnsemble", "EnsembleHistory", "EnsembleResult", "train_ensemble"]


def _maxout_type() -> type[nn.Module]:
    from gantheory import models

    return models._Maxout


class MLPEnsemble(nn.Module):
    """S MLPs of one architecture, weights stacked: x (S, n, in) -> (S, n, out) or (S, n) logits.

    Built from S :class:`~gantheory.models.MLPGenerator` or S
    :class:`~gantheory.models.MLPDiscriminator` networks (from :func:`gantheory.mlp_generator` /
    :func:`gantheory.mlp_discriminator`), whose weights it copies: a linear layer y = x W^T + b of
    member s becomes ``baddbmm(b[s], x[s], W^T[s])`` for all s at once; maxout units take the
    max over their pieces; batch normalisation normalises each member over its own minibatch and
    keeps per-member running statistics (as S separate ``BatchNorm1d`` layers would).

    Attributes:
        kind: "generator" or "discriminator".
        size: S.
        in_features: input width (noise_dim for G; pack * d for D).
        out_features: output width (d for G; 1 for D, whose output is squeezed to (S, n)).
        noise_dim, out_dim: (generators) as the members'.
        in_dim, pack: (discriminators) as the members'.

    Args:
        members: S >= 1 networks of the same type and architecture.

    Raises:
        TypeError: members that are not MLPGenerator / MLPDiscriminator, or of mixed types.
        ValueError: no members, or architectures that differ.

    >>> import gantheory as gt
    >>> Gs = [gt.mlp_generator(2, 2, widths=(8,), generator=torch.Generator().manual_seed(s))
    ...       for s in range(3)]
    >>> G = MLPEnsemble(Gs)
    >>> z = torch.randn(3, 5, 2, generator=torch.Generator().manual_seed(0))
    >>> torch.allclose(G(z)[1], Gs[1](z[1]), atol=1e-6)
    True
    """

    def __init__(self, members: Sequence[nn.Module]) -> None:
        super().__init__()
        if isinstance(members, nn.Module) or not isinstance(members, Sequence) or not members:
            raise ValueError("members must be a non-empty list of MLPGenerator or MLPDiscriminator")
        first = members[0]
        if not isinstance(first, (MLPGenerator, MLPDiscriminator)):
            raise TypeError(
                "members must be MLPGenerator or MLPDiscriminator networks (from gantheory."
                f"mlp_generator or gantheory.mlp_discriminator), got {type(first).__name__}"
            )
        for i, member in enumerate(members):
            if type(member) is not type(first):
                raise TypeError(f"members[{i}] is a {type(member).__name__}, members[0] a "
                                f"{type(first).__name__}: all members must be of one type")
            if _signature(member) != _signature(first):
                raise ValueError(f"members[{i}] has another architecture than members[0]")
        self.size = len(members)
        self.kind = "generator" if isinstance(first, MLPGenerator) else "discriminator"
        if isinstance(first, MLPGenerator):
            self.noise_dim, self.out_dim = first.noise_dim, first.out_dim
        else:
            self.in_dim, self.pack = first.in_dim, first.pack
        self._template = [copy.deepcopy(first).cpu()]  # a list: not registered as a submodule
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        self.bn_weights = nn.ParameterList()
        self.bn_biases = nn.ParameterList()
        self._ops: list[tuple[Any, ...]] = []
        maxout = _maxout_type()
        for index, layer in enumerate(_layers(first)):
            layers = [_layers(m)[index] for m in members]
            if isinstance(layer, (nn.Linear, maxout)):
                linears = [lay.linear if isinstance(lay, maxout) else lay for lay in layers]
                with torch.no_grad():
                    self.weights.append(torch.stack([lin.weight.T for lin in linears]).contiguous())
                    self.biases.append(torch.stack([lin.bias[None, :] for lin in linears]))
                self._ops.append(("linear", len(self.weights) - 1))
                if isinstance(layer, maxout):
                    self._ops.append(("maxout", layer.pieces))
            elif isinstance(layer, nn.BatchNorm1d):
                j = len(self.bn_weights)
                with torch.no_grad():
                    self.bn_weights.append(torch.cat([lay.weight for lay in layers]))
                    self.bn_biases.append(torch.cat([lay.bias for lay in layers]))
                    for stat in ("running_mean", "running_var"):
                        stats = torch.cat([getattr(lay, stat) for lay in layers])
                        self.register_buffer(f"{stat}_{j}", stats)
                    counts = torch.stack([lay.num_batches_tracked for lay in layers])
                    self.register_buffer(f"num_batches_tracked_{j}", counts)
                self._ops.append(("batch_norm", j, layer.eps, layer.momentum))
            elif isinstance(layer, nn.ReLU):
                self._ops.append(("relu",))
            elif isinstance(layer, nn.LeakyReLU):
                self._ops.append(("leaky_relu", layer.negative_slope))
            elif isinstance(layer, nn.Tanh):
                self._ops.append(("tanh",))
            else:
                raise TypeError(f"layer {type(layer).__name__} of the members is not supported")
        self.in_features = int(self.weights[0].shape[1])
        self.out_features = int(self.weights[-1].shape[2])

    def forward(self, x: Tensor) -> Tensor:
        """x (S, n, in_features) (D: or (S, n, pack, in_dim)) -> (S, n, out_features); D: (S, n)."""
        S, n = x.shape[0], x.shape[1]
        h = x.reshape(S, n, -1)
        for op in self._ops:
            name = op[0]
            if name == "linear":
                h = torch.baddbmm(self.biases[op[1]], h, self.weights[op[1]])
            elif name == "maxout":
                h = h.unflatten(-1, (-1, op[1])).amax(-1)
            elif name == "batch_norm":
                j, eps, momentum = op[1], op[2], op[3]
                width = h.shape[2]
                flat = h.transpose(0, 1).reshape(n, S * width)  # member s, unit c -> s * width + c
                flat = F.batch_norm(
                    flat, getattr(self, f"running_mean_{j}"), getattr(self, f"running_var_{j}"),
                    self.bn_weights[j], self.bn_biases[j], self.training, momentum, eps,
                )  # fmt: skip
                h = flat.reshape(n, S, width).transpose(0, 1)
                if self.training:
                    getattr(self, f"num_batches_tracked_{j}").add_(1)
            elif name == "relu":
                h = torch.relu_(h)  # in place: baddbmm's backward does not need its output
            elif name == "leaky_relu":
                h = F.leaky_relu(h, op[1])
            else:
                h = torch.tanh(h)
        return h[..., 0] if self.kind == "discriminator" else h

    def member(self, s: int) -> nn.Module:
        """Member s as a standalone network (a copy, on the CPU, in the ensemble's mode and dtype).

        Raises:
            ValueError: s outside 0..S-1.
        """
        if isinstance(s, bool) or not isinstance(s, int) or not 0 <= s < self.size:
            raise ValueError(f"s must be an int in [0, {self.size}), got {s!r}")
        net = copy.deepcopy(self._template[0]).to(self.weights[0].dtype)
        maxout = _maxout_type()
        w = b = bn = 0
        with torch.no_grad():
            for layer in _layers(net):
                if isinstance(layer, (nn.Linear, maxout)):
                    linear = layer.linear if isinstance(layer, maxout) else layer
                    linear.weight.copy_(self.weights[w][s].T)
                    linear.bias.copy_(self.biases[b][s, 0])
                    w, b = w + 1, b + 1
                elif isinstance(layer, nn.BatchNorm1d):
                    c = layer.num_features
                    part = slice(s * c, (s + 1) * c)
                    layer.weight.copy_(self.bn_weights[bn][part])
                    layer.bias.copy_(self.bn_biases[bn][part])
                    layer.running_mean.copy_(getattr(self, f"running_mean_{bn}")[part])
                    layer.running_var.copy_(getattr(self, f"running_var_{bn}")[part])
                    layer.num_batches_tracked.copy_(getattr(self, f"num_batches_tracked_{bn}")[s])
                    bn += 1
        return net.train(self.training)


def _layers(net: nn.Module) -> list[nn.Module]:
    return list(net.body if isinstance(net, MLPDiscriminator) else net)


def _signature(net: nn.Module) -> list[tuple[Any, ...]]:
    sig: list[tuple[Any, ...]] = [(type(net).__name__, getattr(net, "pack", None))]
    for layer in _layers(net):
        shapes = tuple(tuple(p.shape) for p in layer.parameters())
        extra = (layer.pieces,) if hasattr(layer, "pieces") else ()
        extra += (layer.negative_slope,) if isinstance(layer, nn.LeakyReLU) else ()
        sig.append((type(layer).__name__, shapes, extra))
    return sig


@dataclass
class EnsembleHistory:
    """Per-member training records: ``step`` (T,), every other field a list of T rows of S values.

    Attributes (as :class:`gantheory.History`, one value per member):
        step: iterations after which a row was recorded.
        loss_d: D's mean cost on its last minibatch (penalty included).
        loss_g: G's mean cost on its minibatch.
        d_real: mean D(x) on D's last data minibatch (sigma of the logit).
        d_fake: mean D(G(z)) on G's minibatch, before G's update.
        grad_norm_g: Euclidean norm of the gradient of G's cost over G's parameters.
    """

    step: list[int] = field(default_factory=list)
    loss_d: list[list[float]] = field(default_factory=list)
    loss_g: list[list[float]] = field(default_factory=list)
    d_real: list[list[float]] = field(default_factory=list)
    d_fake: list[list[float]] = field(default_factory=list)
    grad_norm_g: list[list[float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, list[Any]]:
        return dict(self.__dict__)


@dataclass
class EnsembleResult:
    """What :func:`train_ensemble` returns: the trained ensembles, seeds, config and history.

    ``diverged`` maps each member that diverged (a logit, cost or parameter became non-finite) to
    the step at which it did; such a member is frozen at its parameters after the step before
    (finite), and its history rows from that step on hold NaN (it no longer trains).
    """

    G: MLPEnsemble
    D: MLPEnsemble
    config: TrainConfig
    seeds: list[int]
    history: EnsembleHistory
    diverged: dict[int, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "config": self.config.to_dict(), "seeds": self.seeds, "history": self.history.to_dict(),
            "diverged": {str(s): step for s, step in self.diverged.items()},
        }


def _ensemble(name: str, players: object, kind: str) -> MLPEnsemble:
    if isinstance(players, MLPEnsemble):
        ens = players
    elif isinstance(players, Sequence) and not isinstance(players, (str, nn.Module)):
        try:
            ens = MLPEnsemble(players)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{name}: {error}") from error
    else:
        raise TypeError(
            f"{name} must be an MLPEnsemble or a list of networks, got {type(players).__name__}"
        )
    if ens.kind != kind:
        raise TypeError(f"{name} must hold {kind}s, got {ens.kind}s")
    return ens


def _member_norms(module: nn.Module, size: int) -> list[float]:
    total = torch.zeros(size, dtype=torch.float64)
    for p in module.parameters():  # every parameter is member-major: (S, ...) or (S * width,)
        if p.grad is not None:
            total += p.grad.detach().reshape(size, -1).double().square().sum(1).cpu()
    return total.sqrt().tolist()


def _gradient_penalty(D: MLPEnsemble, x: Tensor, fake: Tensor, eps: Tensor) -> Tensor:
    """(||grad D(x_hat)|| - 1)^2 per member and point, x_hat = eps x + (1 - eps) G(z) (Gulrajani
    et al. 2017, arXiv:1704.00028), eps (S, m, 1) drawn per member as gantheory.gradient_penalty."""
    x_hat = (eps * x.detach() + (1.0 - eps) * fake.detach()).requires_grad_(True)
    (grad,) = torch.autograd.grad(D(x_hat).sum(), x_hat, create_graph=True)
    return (torch.linalg.vector_norm(grad, dim=-1) - 1.0) ** 2


def _plain_layers(ens: MLPEnsemble) -> list[tuple[int, tuple[Any, ...] | None]] | None:
    """[(weight index, activation op or None)] per linear layer, or None when ``ens`` has batch
    norm, maxout or a leaky ReLU of slope <= 0 (those keep to autograd)."""
    layers: list[tuple[int, tuple[Any, ...] | None]] = []
    for op in ens._ops:
        if op[0] == "linear":
            layers.append((op[1], None))
        elif op[0] in ("relu", "tanh") or (op[0] == "leaky_relu" and op[1] > 0):
            if not layers or layers[-1][1] is not None:
                return None
            layers[-1] = (layers[-1][0], op)
        else:
            return None
    return layers


_NARROW = 4  # layers of at most this many outputs run in the transposed layout


class _Plain:
    """Forward and backward of an ensemble of linear layers and pointwise activations, by hand.

    The same operations as ``MLPEnsemble.forward`` and autograd's backward of it, without the
    autograd graph and into buffers allocated once and reused at every step (fresh large tensors
    cost page faults on every allocation): per layer l with input h (S, n, in), y = act(baddbmm(b,
    h, W)); backward from g = dcost/dy: g <- g * act'(y) (from the output y: relu y > 0, leaky
    relu y > 0 (slope > 0), tanh 1 - y^2), dW = h^T g (bmm), db = sum_n g, dh = g W^T (bmm).
    Weight gradients are written into ``p.grad`` (overwritten, not accumulated)."""

    def __init__(self, ens: MLPEnsemble, layers: list[tuple[int, tuple[Any, ...] | None]]) -> None:
        self.ens, self.layers = ens, layers
        self.buffers: dict[Any, Tensor] = {}
        for p in ens.parameters():
            if p.grad is None or p.grad.shape != p.shape:
                p.grad = torch.zeros_like(p)

    def buffer(self, key: Any, shape: tuple[int, ...], like: Tensor) -> Tensor:
        buf = self.buffers.get(key)
        if buf is None or buf.shape != shape:
            buf = self.buffers[key] = torch.empty(shape, dtype=like.dtype, device=like.device)
        return buf

    def forward(self, h: Tensor, tag: str) -> list[Tensor]:
        """The input and each layer's (activated) output; the last has shape (S, n, out)."""
        outs = [h]
        for l, (j, act) in enumerate(self.layers):
            W, b = self.ens.weights[j], self.ens.biases[j]
            if W.shape[2] <= _NARROW:  # y^T = b^T + W^T h^T: a skinny product, much faster
                out = self.buffer((tag, l), (h.shape[0], W.shape[2], h.shape[1]), h)
                h = torch.baddbmm(
                    b.transpose(1, 2), W.transpose(1, 2), h.transpose(1, 2), out=out
                ).transpose(1, 2)
            else:
                out = self.buffer((tag, l), (h.shape[0], h.shape[1], W.shape[2]), h)
                h = torch.baddbmm(b, h, W, out=out)
            if act is not None:
                if act[0] == "relu":
                    h.relu_()
                elif act[0] == "leaky_relu":
                    F.leaky_relu_(h, act[1])
                else:
                    h.tanh_()
            outs.append(h)
        return outs

    def _weight_grads(
        self, l: int, W: Tensor, b: Tensor, h: Tensor, g: Tensor, halves: bool
    ) -> None:
        # dW = h^T g, db = sum_n g; with halves, (first half) + (second half) of the rows, as
        # autograd adds the gradients of two calls (the same rounding: it matters where the exact
        # gradient is 0, e.g. a bias under the Wasserstein cost, which Adam turns into lr steps)
        parts = [(h, g)] if not halves else [
            (h[:, : h.shape[1] // 2], g[:, : g.shape[1] // 2]),
            (h[:, h.shape[1] // 2 :], g[:, g.shape[1] // 2 :]),
        ]  # fmt: skip
        for i, (h_part, g_part) in enumerate(parts):
            grad_w = W.grad if i == 0 else self.buffer(("grad_w", l), tuple(W.shape), W)
            grad_b = b.grad if i == 0 else self.buffer(("grad_b", l), tuple(b.shape), b)
            if W.shape[2] <= _NARROW:  # dW^T = g^T h, (S, out, in): a skinny product
                grad_wt = self.buffer(("grad_wt", l), (W.shape[0], W.shape[2], W.shape[1]), W)
                torch.bmm(g_part.transpose(1, 2), h_part, out=grad_wt)
                grad_w.copy_(grad_wt.transpose(1, 2))  # type: ignore[union-attr]
            else:
                torch.bmm(h_part.transpose(1, 2), g_part, out=grad_w)
            torch.sum(g_part, 1, keepdim=True, out=grad_b)
            if i > 0:
                W.grad.add_(grad_w)  # type: ignore[union-attr]
                b.grad.add_(grad_b)  # type: ignore[union-attr]

    def backward(
        self, outs: list[Tensor], g: Tensor, tag: str, *, weights: bool, inputs: bool,
        halves: bool = False,
    ) -> Tensor | None:
        """Back-propagate g = dcost/d(outs[-1]) (overwritten); fill ``p.grad`` when ``weights``
        (with ``halves``: as the sum of two calls, on the first and the second half of the rows);
        return dcost/d(outs[0]) when ``inputs``."""
        aten = torch.ops.aten
        for l in reversed(range(len(self.layers))):
            j, act = self.layers[l]
            y = outs[l + 1]
            if act is not None:
                if act[0] == "relu":
                    g = aten.threshold_backward.grad_input(g, y, 0.0, grad_input=g)
                elif act[0] == "leaky_relu":
                    g = aten.leaky_relu_backward.grad_input(g, y, act[1], False, grad_input=g)
                else:
                    g = aten.tanh_backward.grad_input(g, y, grad_input=g)
            W, b = self.ens.weights[j], self.ens.biases[j]
            if weights:
                self._weight_grads(l, W, b, outs[l], g, halves)
            if l > 0 or inputs:
                out = self.buffer((tag, "grad", l), tuple(outs[l].shape), g)
                if W.shape[2] == 1:  # an outer product: g W^T = g * w^T exactly
                    g = torch.mul(g, W.transpose(1, 2), out=out)
                else:
                    g = torch.bmm(g, W.transpose(1, 2), out=out)
        return g if inputs else None


def train_ensemble(
    p_data: Distribution,
    G: MLPEnsemble | Sequence[nn.Module],
    D: MLPEnsemble | Sequence[nn.Module],
    config: TrainConfig | None = None,
    *,
    seeds: Sequence[int] | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    progress: bool = True,
    callback: Callable[[int, MLPEnsemble, MLPEnsemble], None] | None = None,
) -> EnsembleResult:
    """Train S GANs at once; member s reproduces ``train(p_data, G[s], D[s], config with seed s)``.

    Each member runs Algorithm 1 of Goodfellow et al. 2014 (arXiv:1406.2661) exactly as
    :func:`gantheory.train` does: per iteration, k steps descending D's cost (1/m) sum_i
    [-log D(x_i) - log(1 - D(G(z_i)))] (or the cost of ``config.loss``), then one step on G's cost
    (1/m) sum_i J(D(G(z_i))). The ensemble descends sum_s cost_s, whose gradient with respect to
    member s's parameters is member s's own. Member s draws its minibatches from
    ``random_streams(seeds[s], device)`` in ``train``'s documented order (k times: m * pack data
    points, m * pack noise vectors, [m penalty uniforms]; then m * pack noise vectors). Batch
    norm uses each member's minibatch statistics. Training is in float32 on
    ``config.device``. The networks of a ``list`` are copied; an :class:`MLPEnsemble` is trained
    in place. The learning rates decay as ``train``'s (``config.lr_final``). ``config.exact`` is
    ignored (MLP generators have no exact density).

    Args:
        p_data: the data distribution (vector events (d,), or scalar events in 1D).
        G: S generators (:func:`gantheory.mlp_generator`) or an :class:`MLPEnsemble` of them.
        D: S discriminators (:func:`gantheory.mlp_discriminator`, with ``pack`` = config.pack)
            or an :class:`MLPEnsemble` of them.
        config: the :class:`gantheory.TrainConfig` shared by the members (defaults when None).
        seeds: the members' seeds (S distinct non-negative ints); default config.seed + s.
        checkpoint: a file path; when it exists the run resumes from it (same config except
            ``steps``, same seeds); it is written atomically every ``config.checkpoint_every``
            iterations (0: at every record) and at the end.
        progress: show a tqdm bar (quiet when not a terminal).
        callback: called as ``callback(step, G, D)`` after each iteration (step = 1, 2, ...).

    Returns:
        :class:`EnsembleResult` (``G.member(s)`` is member s's trained generator).

    Raises:
        TypeError: players that are not MLP networks of the right kind, a config of another type.
        ValueError: a bad config field, ensembles of different sizes, seeds of the wrong number
            or repeated, D's input width not pack * d, G's output width not d, a checkpoint saved
            with another config or other seeds.
        TrainingDiverged: every member diverged. A member that diverges alone (a logit, cost or
            parameter became non-finite) is put back to its parameters after the step before,
            frozen there, reported in ``EnsembleResult.diverged`` and by a RuntimeWarning; the
            others go on.

    >>> import gantheory as gt
    >>> Gs = [gt.mlp_generator(2, 2, widths=(16,), generator=gt.random_streams(s).init)
    ...       for s in range(4)]
    >>> Ds = [gt.mlp_discriminator(2, widths=(16,), generator=gt.random_streams(s).init)
    ...       for s in range(4)]
    >>> cfg = gt.TrainConfig(steps=5, batch_size=32, optimizer="adam", lr_d=1e-3, lr_g=1e-3,
    ...                      device="cpu")
    >>> result = train_ensemble(gt.ring(), Gs, Ds, cfg, progress=False)
    >>> result.seeds, result.history.step, len(result.history.loss_d[-1])
    ([0, 1, 2, 3], [5], 4)
    """
    check.distribution("p_data", p_data)
    config = config if config is not None else TrainConfig()
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    config.validate()
    G_ens = _ensemble("G", G, "generator")
    D_ens = _ensemble("D", D, "discriminator")
    S = G_ens.size
    if D_ens.size != S:
        raise ValueError(f"G and D must have the same number of members, got {S} and {D_ens.size}")
    seeds = list(range(config.seed, config.seed + S)) if seeds is None else list(seeds)
    for s in seeds:
        if isinstance(s, bool) or not isinstance(s, int) or s < 0:
            raise ValueError(f"seeds must be non-negative ints, got {s!r}")
    if len(seeds) != S or len(set(seeds)) != S:
        raise ValueError(f"seeds must be {S} distinct ints (one per member), got {seeds!r}")
    device = resolve_device(config.device)
    draw_data = DataSampler(p_data, dtype=torch.float32, device=device)
    m, pack, d = config.batch_size, config.pack, draw_data.dim
    noise_dim = config.noise_dim if config.noise_dim is not None else G_ens.noise_dim
    if G_ens.out_features != d:
        raise ValueError(f"G must map noise to samples of dimension {d}, got {G_ens.out_features}")
    if noise_dim != G_ens.in_features:
        raise ValueError(f"noise_dim is {noise_dim}, G takes inputs of width {G_ens.in_features}")
    if D_ens.in_features != pack * d:
        raise ValueError(
            f"D must take pack * d = {pack} * {d} = {pack * d} inputs (build it with "
            f"mlp_discriminator({d}, pack={pack})), got {D_ens.in_features}"
        )
    G_ens.to(device=device, dtype=torch.float32)
    D_ens.to(device=device, dtype=torch.float32)
    streams = [random_streams(s, device) for s in seeds]
    plain_g, plain_d = _plain_layers(G_ens), _plain_layers(D_ens)
    regularised = any(getattr(config, name) > 0 for name in _REGULARIZERS) or bool(
        config.instance_noise_final
    )  # noise that anneals up from 0 is on too
    fast = (
        config.gradient_penalty == 0 and not regularised
        and plain_g is not None and plain_d is not None
    )  # fmt: skip
    fused = fast and device.type == "cpu"
    opt_d = _optimizer(D_ens.parameters(), config.optimizer, config.lr_d, config.momentum, config.betas, fused=fused)
    g_params = list(G_ens.parameters())
    opt_g = _optimizer(g_params, config.optimizer, config.lr_g, config.momentum, config.betas, fused=fused)
    history = EnsembleHistory()
    diverged: dict[int, int] = {}
    start = 0
    path = _checkpoint_path(checkpoint)
    _check_callback(callback)
    if path is not None and path.exists():
        state = load_checkpoint(path)
        if not _same_config(state["config"], config) or state["seeds"] != seeds:
            raise ValueError(f"checkpoint {str(path)!r} was saved with another config or seeds")
        G_ens.load_state_dict(state["G"])
        D_ens.load_state_dict(state["D"])
        opt_g.load_state_dict(state["opt_g"])
        opt_d.load_state_dict(state["opt_d"])
        for stream, saved in zip(streams, state["rng"]):
            stream.set_state(saved)
        history = EnsembleHistory(**state["history"])
        diverged = {int(s): int(step) for s, step in state.get("diverged", {}).items()}
        start = int(state["step"])
        if start > config.steps:
            raise ValueError(f"checkpoint is at step {start}, beyond config.steps = {config.steps}")

    def save(step: int) -> None:
        if path is not None:
            save_checkpoint(path, {
                "config": config.to_dict(), "seeds": seeds, "step": step,
                "G": G_ens.state_dict(), "D": D_ens.state_dict(),
                "opt_g": opt_g.state_dict(), "opt_d": opt_d.state_dict(),
                "rng": [st.get_state() for st in streams], "history": history.to_dict(),
                "diverged": dict(diverged),
            })  # fmt: skip

    snapshot = _Snapshot({"G": G_ens, "D": D_ens})  # every tensor is member-major, (S, ...)
    bad = snapshot.first_non_finite()
    if bad is not None:
        raise ValueError(f"{bad[0]} holds a non-finite value ({bad[1]}) before training")
    snapshot.take()
    frozen = torch.zeros(S, dtype=torch.bool, device=device)
    for s_ in diverged:
        frozen[s_] = True

    def finite_rows(a: Tensor) -> Tensor:
        """(S,) bool: member s's entries of ``a`` (member-major) are all finite."""
        return torch.isfinite(a.detach().reshape(S, -1)).all(1)

    def members_finite(flags: list[Tensor]) -> Tensor:
        """(S,) bool: member s's logits and costs of this iteration (``flags``) and its
        parameters are all finite."""
        return torch.stack(flags).all(0) & torch.isfinite(snapshot.screen(S))

    def exactly_finite(ok: Tensor) -> Tensor:
        """Confirm the screen of members_finite element by element (a sum may overflow)."""
        for t in snapshot.tensors:
            ok = ok & torch.isfinite(t.detach().reshape(S, -1)).all(1)
        return ok

    def freeze(step: int, ok: Tensor) -> None:
        """Put back the start-of-iteration state of diverged and frozen members; record new ones."""
        keep = ~ok | frozen
        with torch.no_grad():
            for t, saved in zip(snapshot.tensors, snapshot.saved):
                rows = t.view(S, -1)
                rows[keep] = saved.view(S, -1)[keep]
        for s_ in torch.nonzero(~ok & ~frozen).flatten().tolist():
            diverged[s_] = step
            warnings.warn(
                f"ensemble member {s_} (seed {seeds[s_]}) diverged at step {step}: a logit or "
                "parameter became non-finite; it stays at its parameters after step "
                f"{step - 1} and no longer trains, the other members go on",
                RuntimeWarning,
                stacklevel=3,
            )
        frozen[:] = keep
        if bool(frozen.all()):
            causes = _likely_causes(config, snapshot.largest_saved(), math.nan)
            raise TrainingDiverged(
                step, f"every one of the {S} members' logits or parameters", math.nan, causes,
                None if path is None else str(path),
            )

    def noise() -> Tensor:
        return torch.stack([
            sample_noise(m * pack, noise_dim, config.noise, st.noise, device=device)
            for st in streams
        ])  # fmt: skip

    loss, penalty = config.loss, float(config.gradient_penalty)
    if fast:  # by hand, into reused buffers (see _Plain); batch norm, maxout, penalty: autograd
        g_net, d_net = _Plain(G_ens, plain_g), _Plain(D_ens, plain_d)  # type: ignore[arg-type]
        xz = torch.empty(S, 2 * m, pack * d, device=device)  # D's input: m data rows, m fakes
        z_buf = torch.empty(S, m * pack, noise_dim, device=device)
        dlogit = torch.empty(S, 2 * m, 1, device=device)

    def noise_into(buf: Tensor) -> Tensor:
        # member s's draw of sample_noise(m * pack, ...) from its own stream, written in place
        for st, row in zip(streams, buf):
            if config.noise == "gaussian":
                torch.randn(row.shape, generator=st.noise, out=row)
            else:
                torch.rand(row.shape, generator=st.noise, out=row)
        return buf if config.noise == "gaussian" else buf.mul_(2.0).sub_(1.0)

    def instance(sigma: float, shape: tuple[int, ...]) -> Tensor:
        # member s's sigma * torch.randn(shape) from its own ``instance`` stream, as train draws
        return sigma * torch.stack([
            torch.randn(shape, generator=st.instance, device=device) for st in streams
        ])  # fmt: skip

    every_ckpt = config.checkpoint_every or config.record_every
    bar = tqdm(total=config.steps, initial=start, disable=None if progress else True, desc="GANs")
    try:
        for step in range(start + 1, config.steps + 1):
            record = step % config.record_every == 0 or step == config.steps
            if config.lr_final != 1.0:  # train's exponential decay
                factor = config.lr_final ** ((step - 1) / config.steps)
                for opt, lr in ((opt_d, config.lr_d), (opt_g, config.lr_g)):
                    for group in opt.param_groups:
                        group["lr"] = lr * factor
            flags: list[Tensor] = []
            if fast:
                for i in range(config.k):
                    for s, st in enumerate(streams):
                        xz[s, :m].copy_(draw_data(m * pack, st.data).reshape(m, -1))
                    with torch.no_grad():
                        fake = g_net.forward(noise_into(z_buf), "g")[-1]
                        xz[:, m:].copy_(fake.reshape(S, m, -1))
                        d_outs = d_net.forward(xz, "d")
                        a = d_outs[-1][..., 0]
                        flags.append(finite_rows(a))
                        a_real, a_fake = a[:, :m], a[:, m:]
                        if record and i == config.k - 1:
                            cost_d = discriminator_loss(a_real, a_fake, loss).mean(1)
                            a_real = a_real.clone()
                        # d (sum_s cost_s) / d logits: the loss's derivative, / m for the mean
                        grad_real, grad_fake = discriminator_loss_grad(a_real, a_fake, loss)
                        dlogit[:, :m, 0], dlogit[:, m:, 0] = grad_real, grad_fake
                        d_net.backward(
                            d_outs, dlogit.div_(m), "d", weights=True, inputs=False, halves=True
                        )
                    opt_d.step()
                with torch.no_grad():
                    g_outs = g_net.forward(noise_into(z_buf), "g")
                    d_outs = d_net.forward(g_outs[-1].reshape(S, m, -1), "dg")
                    a_fake = d_outs[-1][..., 0]
                    flags.append(finite_rows(a_fake))
                    cost_g = generator_loss(a_fake, loss).mean(1)
                    grad = generator_loss_grad(a_fake, loss).div_(m)[..., None]
                    # D's input gradient only: D's parameter gradients stay those of its step
                    grad_x = d_net.backward(d_outs, grad, "dg", weights=False, inputs=True)
                    g_net.backward(g_outs, grad_x.reshape(S, m * pack, d), "g",  # type: ignore[union-attr]
                                   weights=True, inputs=False)
            else:
                sigma = instance_noise_std(
                    config.instance_noise, config.instance_noise_final, step, config.steps
                )
                consensus = config.consensus
                d_params = list(D_ens.parameters())
                for _ in range(config.k):
                    x = torch.stack(
                        [draw_data(m * pack, st.data) for st in streams]
                    ).reshape(S, m, -1)
                    z = noise()
                    with torch.set_grad_enabled(consensus > 0):
                        fake = G_ens(z).reshape(S, m, -1)
                    if sigma > 0:
                        x = x + instance(sigma, tuple(x.shape[1:]))
                        fake = fake + instance(sigma, tuple(fake.shape[1:]))
                    a_real, a_fake = D_ens(x), D_ens(fake)
                    cost_d = discriminator_loss(a_real, a_fake, loss).mean(1)
                    flags += [finite_rows(a_real), finite_rows(a_fake), finite_rows(cost_d)]
                    plain_d = cost_d
                    if penalty > 0:
                        eps = torch.stack([
                            torch.rand((m, 1), generator=st.penalty, device=device)
                            for st in streams
                        ])  # fmt: skip
                        cost_d = cost_d + penalty * _gradient_penalty(D_ens, x, fake, eps).mean(1)
                    if config.r1 > 0:
                        cost_d = cost_d + 0.5 * config.r1 * input_gradient_norm2(D_ens, x).mean(1)
                    if config.r2 > 0:
                        cost_d = cost_d + 0.5 * config.r2 * input_gradient_norm2(D_ens, fake).mean(1)
                    if consensus > 0:
                        plain_g = generator_loss(a_fake, loss).mean(1)
                        cost_d = cost_d + consensus * consensus_penalty(
                            plain_g.sum(), plain_d.sum(), g_params, d_params, members=S
                        )
                    opt_d.zero_grad(set_to_none=True)
                    cost_d.sum().backward(inputs=d_params if consensus > 0 else None)
                    opt_d.step()
                fake = G_ens(noise()).reshape(S, m, -1)
                if sigma > 0:
                    fake = fake + instance(sigma, tuple(fake.shape[1:]))
                a_fake = D_ens(fake)
                cost_g = generator_loss(a_fake, loss).mean(1)
                if consensus > 0:  # as train: G's noise, the last D step's data minibatch
                    plain_d = discriminator_loss(D_ens(x), a_fake, loss).mean(1)
                    cost_g = cost_g + consensus * consensus_penalty(
                        cost_g.sum(), plain_d.sum(), g_params, d_params, members=S
                    )
                flags += [finite_rows(a_fake), finite_rows(cost_g)]
                opt_g.zero_grad(set_to_none=True)
                # gradients for G only: train also fills D's, which its next D step discards
                cost_g.sum().backward(inputs=g_params)
            if record:
                rows = {
                    "loss_d": cost_d.detach(), "loss_g": cost_g.detach(),
                    "d_real": torch.sigmoid(a_real.detach()).mean(1),
                    "d_fake": torch.sigmoid(a_fake.detach()).mean(1),
                    "grad_norm_g": torch.tensor(_member_norms(G_ens, S), device=device),
                }  # fmt: skip
            opt_g.step()
            ok = members_finite(flags)
            if bool((~ok | frozen).any()):  # one synchronisation per iteration
                freeze(step, exactly_finite(torch.stack(flags).all(0)))
            snapshot.take()  # the verified state: the last finite one
            if record:
                history.step.append(step)
                for name, values in rows.items():  # a diverged member's rows are NaN
                    values = torch.where(frozen, torch.full_like(values, math.nan), values)
                    getattr(history, name).append(values.tolist())
                live = [v for v, f in zip(history.loss_d[-1], frozen.tolist()) if not f]
                bar.set_postfix(loss_d=f"{math.fsum(live) / len(live):.3g}", diverged=len(diverged))
            if step % every_ckpt == 0 or step == config.steps:
                save(step)
            bar.update(1)
            if callback is not None:
                callback(step, G_ens, D_ens)
    finally:
        bar.close()
    return EnsembleResult(G_ens, D_ens, config, seeds, history, dict(diverged))
