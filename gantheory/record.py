"""Record what a training run looks like, frame by frame, for :mod:`gantheory.view`.

A :class:`TrainingRecorder` is a ``callback(step, G, D)`` of :func:`gantheory.train`. At a bounded
set of steps (at most ``max_frames``, spaced evenly or log-evenly over the run) it evaluates, on a
fixed grid over a fixed box:

- the learned D(x) and the exact optimal discriminator
  D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Goodfellow et al. 2014, arXiv:1406.2661,
  Proposition 1), p_g exact where G has a density (``G.distribution()``, e.g.
  :class:`gantheory.AffineGenerator`, :class:`gantheory.CouplingFlowGenerator`,
  :class:`gantheory.FlowGenerator`) and a Gaussian KDE of
  generated samples otherwise (:func:`gantheory.gaussian_kde`, marked ``exact_density: false``);
- generated samples G(z) at a fixed set of noise vectors z (the same z at every frame, so each
  point can be followed), and at the first ``n_arrows`` of them the direction G's cost pushes
  them: -dJ(D(x))/dx at x = G(z), J the generator loss of the run (the per-sample gradient of
  G's cost with respect to G's output; the chain rule carries it to G's parameters).

Sizes are bounded whatever the length of the run: frames <= ``max_frames``; per frame, in 1D
three float32 curves of ``n_grid`` points rounded to 4 significant digits, in 2D two
``n_grid`` x ``n_grid`` maps of D and D* quantised to bytes (value = byte / 254, error <= 1/508;
byte 255 marks D* undefined, where (p_data + p_g)/2 is below 1e-3 of its peak on the grid),
plus the samples rounded to 1e-3 of the box's width.

The recorder draws its noise and data samples from its own generators (``seed``), never from
the run's streams, and evaluates G and D in eval mode (batch norm: running statistics) without
touching parameter gradients: a run with a recorder gives the same numbers as one without.
"""

from __future__ import annotations

import base64
import json
import math
import os
from typing import Any, Literal

import numpy as np
import torch
from torch import Tensor, nn
from torch.distributions import Distribution

from gantheory import _validation as check
from gantheory.io import to_jsonable, write_text
from gantheory.losses import generator_loss
from gantheory.metrics import discriminator_grid
from gantheory.models import gaussian_kde
from gantheory.train import DataSampler, History, TrainConfig, sample_noise

__all__ = ["FORMAT", "Spacing", "frame_steps", "TrainingRecorder"]

#: the format tag of a recording (a JSON object), read by :mod:`gantheory.view`
FORMAT = "gantheory-recording/1"
Spacing = Literal["linear", "log"]


def frame_steps(steps: int, max_frames: int, spacing: Spacing = "linear") -> list[int]:
    """At most ``max_frames`` distinct steps in [0, steps], always 0 and ``steps``.

    "linear": round(linspace(0, steps, max_frames)); "log": 0 and round(geomspace(1, steps,
    max_frames - 1)), denser early, where training moves fastest (linear when max_frames = 2).

    Raises:
        TypeError, ValueError: steps not an int >= 1, max_frames not an int >= 2, bad spacing.

    >>> frame_steps(10, 4)
    [0, 3, 7, 10]
    >>> frame_steps(1000, 5, "log")
    [0, 1, 10, 100, 1000]
    """
    check.positive_int("steps", steps)
    check.positive_int("max_frames", max_frames)
    if max_frames < 2:
        raise ValueError(f"max_frames must be >= 2 (the first and the last step), got {max_frames}")
    check.choice("spacing", spacing, ("linear", "log"))
    if spacing == "linear" or max_frames == 2:
        points = np.linspace(0, steps, max_frames)
    else:
        points = np.concatenate([[0.0], np.geomspace(1, steps, max_frames - 1)])
    return sorted({int(round(p)) for p in points})


def _significant(values: Tensor, digits: int = 4) -> list[float]:
    """float32 values rounded to ``digits`` significant digits, as (nested) JSON-ready lists."""
    array = values.detach().cpu().to(torch.float32).numpy()
    flat = [float(f"{v:.{digits}g}") for v in array.ravel().tolist()]
    return np.asarray(flat, dtype=np.float64).reshape(array.shape).tolist()


def _rounded(values: Tensor, quantum: float) -> list[Any]:
    """Values rounded to a multiple of ``quantum`` (a power of ten), as nested lists."""
    decimals = max(0, -int(math.floor(math.log10(quantum))))
    return np.round(values.detach().cpu().to(torch.float64).numpy(), decimals).tolist()


def _bytes(values: Tensor, undefined: Tensor | None = None) -> str:
    """A map in [0, 1] as base64 bytes, byte = round(254 v) (255: undefined), row-major "ij"."""
    q = torch.round(values.clamp(0, 1) * 254).to(torch.uint8)
    if undefined is not None:
        q = torch.where(undefined, torch.full_like(q, 255), q)
    return base64.b64encode(q.cpu().numpy().tobytes()).decode("ascii")


class TrainingRecorder:
    """A ``callback(step, G, D)`` for :func:`gantheory.train` that records frames for the view.

    Call it once with step 0 before training (``recorder(0, G, D)``) to record the start, pass it
    as ``callback=`` to :func:`gantheory.train`, then :meth:`save` the recording with the run's
    :class:`gantheory.History`; ``gantheory view RUN_DIR`` turns it into ``view.html``.

    Args:
        p_data: the data distribution (1D or 2D).
        config: the run's :class:`gantheory.TrainConfig` (steps, loss, noise; pack must be 1).
        max_frames: at most this many frames (>= 2), see :func:`frame_steps`.
        spacing: "linear" or "log" spacing of the frames.
        n_grid: grid points per axis (default 256 in 1D, 64 in 2D).
        n_samples: generated samples per frame (fixed noise), and data samples drawn once.
        n_arrows: of the generated samples, how many carry G's gradient.
        n_kde: samples for the KDE of p_g when G has no exact density.
        box: (lo, hi), each (d,): the region shown; default: p_data's and the first frame's
            generated samples' 0.1%..99.9% quantiles, widened by half their width on each side.
        seed: seeds the recorder's own noise and data samples.

    Raises:
        TypeError, ValueError: bad arguments (named).

    >>> import gantheory as gt
    >>> cfg = gt.TrainConfig(steps=4, record_every=2, exact=False, device="cpu")
    >>> G, D = gt.AffineGenerator(1), gt.mlp_discriminator(1, widths=(4,))
    >>> rec = TrainingRecorder(gt.gaussian(1.0, 1.0), cfg, max_frames=3, n_grid=16)
    >>> rec(0, G, D)
    >>> result = gt.train(gt.gaussian(1.0, 1.0), G, D, cfg, progress=False, callback=rec)
    >>> [frame["step"] for frame in rec.frames]
    [0, 2, 4]
    """

    def __init__(
        self,
        p_data: Distribution,
        config: TrainConfig,
        *,
        max_frames: int = 120,
        spacing: Spacing = "linear",
        n_grid: int | None = None,
        n_samples: int = 256,
        n_arrows: int = 64,
        n_kde: int = 512,
        box: tuple[Any, Any] | None = None,
        seed: int = 0,
    ) -> None:
        check.distribution("p_data", p_data)
        if not isinstance(config, TrainConfig):
            raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
        if config.pack != 1:
            raise ValueError(f"the recorder needs config.pack == 1, got {config.pack}")
        self.p_data, self.config = p_data, config
        self.dim = check.event_dim(p_data)
        if self.dim not in (1, 2):
            raise ValueError(f"p_data must be 1D or 2D for the view, got dimension {self.dim}")
        self.steps = frame_steps(config.steps, max_frames, spacing)
        self.n_grid = check.positive_int("n_grid", n_grid if n_grid is not None else
                                         (256 if self.dim == 1 else 64))  # fmt: skip
        self.n_samples = check.positive_int("n_samples", n_samples)
        self.n_arrows = check.positive_int("n_arrows", n_arrows)
        if self.n_arrows > self.n_samples:
            raise ValueError(f"n_arrows ({n_arrows}) must be <= n_samples ({n_samples})")
        self.n_kde = check.positive_int("n_kde", n_kde)
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        self._box = None if box is None else self._checked_box(box)
        self._rng = torch.Generator().manual_seed(seed)
        self._data = DataSampler(p_data, dtype=torch.float64)(n_samples, self._rng)
        self._z: Tensor | None = None
        self._z_kde: Tensor | None = None
        self.exact_density: bool | None = None
        self.box: tuple[list[float], list[float]] | None = None
        self._quantum = 1e-3
        self.axes: list[list[float]] = []
        self.p_data_grid: list[float] = []
        self.frames: list[dict[str, Any]] = []

    def __call__(self, step: int, G: nn.Module, D: nn.Module) -> None:
        """Record a frame when ``step`` is one of :attr:`steps` (and not recorded yet)."""
        if step not in self.steps or any(f["step"] == step for f in self.frames):
            return
        modes = G.training, D.training
        G.eval(), D.eval()
        try:
            self.frames.append(self._frame(step, G, D))
        finally:
            G.train(modes[0]), D.train(modes[1])

    def _noise(self, n: int, G: nn.Module) -> Tensor:
        noise_dim = self.config.noise_dim or getattr(G, "noise_dim", None)
        if noise_dim is None:
            raise ValueError("config.noise_dim is None and G has no noise_dim attribute: set one")
        return sample_noise(n, noise_dim, self.config.noise, self._rng)

    def _checked_box(self, box: object) -> tuple[list[float], list[float]]:
        if not isinstance(box, (tuple, list)) or len(box) != 2:
            raise TypeError(f"box must be a pair (lo, hi), got {box!r}")
        lo, hi = (check.as_tensor("box", b).reshape(-1) for b in box)
        if lo.shape != (self.dim,) or hi.shape != (self.dim,) or not bool((hi > lo).all()):
            raise ValueError(f"box must be (lo, hi) with {self.dim} entries each, hi > lo; got {box!r}")
        return lo.tolist(), hi.tolist()

    def _first(self, G: nn.Module, x: Tensor) -> None:
        """On the first frame: whether p_g is exact, the box and the rounding quantum."""
        self.exact_density = hasattr(G, "distribution") and self.config.noise == "gaussian"
        if self._box is None:
            both = torch.cat([self._data, x])
            lo, hi = torch.quantile(both, 1e-3, dim=0), torch.quantile(both, 1 - 1e-3, dim=0)
            width = torch.clamp(hi - lo, min=1e-6)
            self._box = ((lo - 0.5 * width).tolist(), (hi + 0.5 * width).tolist())
        lo, hi = self._box
        self.box = (lo, hi)
        self._quantum = 10.0 ** math.floor(math.log10(min(h - l for l, h in zip(lo, hi)) * 1e-3))

    def _frame(self, step: int, G: nn.Module, D: nn.Module) -> dict[str, Any]:
        param = next(iter(G.parameters()), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None else torch.float32
        first = self._z is None
        if first:
            self._z = self._noise(self.n_samples, G)
            self._z_kde = self._noise(self.n_kde, G)
        with torch.no_grad():
            x = G(self._z.to(device, dtype)).reshape(self.n_samples, self.dim)
        if first:
            self._first(G, x.detach().cpu().to(torch.float64))
        with torch.no_grad():
            if self.exact_density:
                p_g = G.distribution(torch.float64, "cpu")
            else:
                samples = G(self._z_kde.to(device, dtype)).reshape(self.n_kde, self.dim)
                samples = samples.cpu().to(torch.float64)
                p_g = gaussian_kde(samples[:, 0] if self.dim == 1 else samples,
                                   generator=torch.Generator().manual_seed(step)).distribution  # fmt: skip
            grid = discriminator_grid(D, self.p_data, p_g, n=self.n_grid, box=self._box)
        # -dJ/dx at x = G(z): the direction G's cost pushes each generated point
        points = x[: self.n_arrows].detach().requires_grad_(True)
        cost = generator_loss(D(points), self.config.loss).sum()
        (grad,) = torch.autograd.grad(cost, points)
        push = -grad.detach().cpu().to(torch.float64)
        quantum = self._quantum
        if first:
            self.axes = [_rounded(a, quantum) for a in grid.axes]
            if self.dim == 1:
                self.p_data_grid = _significant(grid.p_data)
        frame: dict[str, Any] = {
            "step": step,
            "samples": _rounded(x.detach().cpu()[:, 0] if self.dim == 1 else x.detach().cpu(), quantum),
            "push": _significant(push[:, 0] if self.dim == 1 else push, 3),
        }
        if self.dim == 1:
            frame.update(d=_significant(grid.d), d_star=_significant(grid.d_star),
                         p_g=_significant(grid.p_g))  # fmt: skip
        else:
            m = 0.5 * (grid.p_data + grid.p_g)
            undefined = m < 1e-3 * m.max()
            frame.update(d=_bytes(grid.d), d_star=_bytes(grid.d_star, undefined))
        return frame

    def to_dict(self, history: History | None = None, *, title: str = "") -> dict[str, Any]:
        """The recording: a JSON-ready dict (format :data:`FORMAT`), with the run's history."""
        if not self.frames:
            raise ValueError("nothing recorded yet: call the recorder (step 0, then as callback)")
        if history is not None and not isinstance(history, History):
            raise TypeError(f"history must be a gantheory.History, got {type(history).__name__}")
        return {
            "format": FORMAT,
            "title": str(title),
            "dim": self.dim,
            "steps": self.config.steps,
            "loss": self.config.loss,
            "exact_density": bool(self.exact_density),
            "box": self.box,
            "axes": self.axes,
            "p_data": self.p_data_grid,
            "data_samples": _rounded(self._data[:, 0] if self.dim == 1 else self._data,
                                     self._quantum),  # fmt: skip
            "frames": self.frames,
            "history": history.to_dict() if history is not None else None,
        }

    def save(
        self, path: str | os.PathLike[str], history: History | None = None, *, title: str = ""
    ) -> None:
        """Write :meth:`to_dict` as compact JSON, atomically (name it ``recording*.json`` in a
        run directory for ``gantheory view``)."""
        text = json.dumps(to_jsonable(self.to_dict(history, title=title)), separators=(",", ":"))
        write_text(path, text + "\n")
