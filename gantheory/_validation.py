"""Argument checks shared by the public functions: each error names the argument and the bad value."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import torch
from torch.distributions import Distribution

T = TypeVar("T", bound=str)


def _short(value: object) -> str:
    text = repr(value.tolist()) if isinstance(value, torch.Tensor) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def as_tensor(
    name: str,
    value: object,
    *,
    dtype: torch.dtype = torch.float64,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """Convert ``value`` (number, sequence, numpy array or tensor) to a finite floating tensor."""
    if isinstance(value, torch.Tensor):
        tensor = value.to(dtype=dtype, device=device) if value.dtype != dtype or device else value
    else:
        try:
            tensor = torch.as_tensor(value, dtype=dtype, device=device)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be a number or an array of numbers, got {_short(value)}") from error
    if not tensor.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {tensor.dtype}")
    if not bool(torch.isfinite(tensor).all()):
        raise ValueError(f"{name} must be finite, got {_short(tensor)}")
    return tensor


def positive(name: str, tensor: torch.Tensor) -> torch.Tensor:
    if not bool((tensor > 0).all()):
        raise ValueError(f"{name} must be > 0, got {_short(tensor)}")
    return tensor


def positive_number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def positive_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return value


def choice(name: str, value: T, options: Sequence[str]) -> T:
    if value not in options:
        raise ValueError(f"{name} must be one of {', '.join(map(repr, options))}; got {value!r}")
    return value


def probability_vector(name: str, tensor: torch.Tensor, *, atol: float = 1e-6) -> torch.Tensor:
    if tensor.ndim != 1 or tensor.numel() == 0:
        raise ValueError(f"{name} must be a non-empty vector, got shape {tuple(tensor.shape)}")
    if not bool((tensor >= 0).all()):
        raise ValueError(f"{name} must be >= 0, got {_short(tensor)}")
    total = float(tensor.sum())
    if abs(total - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1, got {_short(tensor)} (sum {total:.6g})")
    return tensor


def distribution(name: str, value: object) -> Distribution:
    if not isinstance(value, Distribution):
        raise TypeError(
            f"{name} must be a torch.distributions.Distribution "
            f"(for example gantheory.gaussian(...)), got {type(value).__name__}"
        )
    return value


def event_dim(dist: Distribution) -> int:
    """Dimension d of one draw: 1 for scalar events, ``event_shape[0]`` for vector events."""
    if len(dist.event_shape) == 0:
        return 1
    if len(dist.event_shape) == 1:
        return int(dist.event_shape[0])
    raise ValueError(f"only scalar or vector events are supported, got event_shape {tuple(dist.event_shape)}")


def same_space(p: Distribution, q: Distribution, names: tuple[str, str] = ("p", "q")) -> int:
    """Check that ``p`` and ``q`` live on the same space (same event dimension, no batch); return d."""
    for name, dist in zip(names, (p, q)):
        distribution(name, dist)
        if len(dist.batch_shape) != 0:
            raise ValueError(
                f"{name} must be a single distribution, got batch_shape {tuple(dist.batch_shape)}"
            )
    d_p, d_q = event_dim(p), event_dim(q)
    if d_p != d_q:
        raise ValueError(f"{names[0]} and {names[1]} must have the same dimension, got {d_p} and {d_q}")
    return d_p


def points(name: str, x: object, d: int, *, dtype: torch.dtype | None = None) -> torch.Tensor:
    """Check a batch of finite points and return it as shape ``(n, d)``; a 1D batch ``(n,)`` is
    accepted for d = 1. Numbers, sequences and numpy arrays are converted (float64 by default)."""
    if not isinstance(x, torch.Tensor):
        if isinstance(x, (str, bytes)):
            raise TypeError(f"{name} must be points (a tensor or an array of numbers), got a string {_short(x)}")
        try:
            x = torch.as_tensor(x, dtype=dtype or torch.float64)
        except (TypeError, ValueError, RuntimeError) as error:
            raise TypeError(f"{name} must be points (a tensor or an array of numbers), got {_short(x)}") from error
    if not x.is_floating_point():
        raise TypeError(f"{name} must be floating point, got dtype {x.dtype}")
    if d == 1 and x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2 or x.shape[1] != d:
        raise ValueError(f"{name} must have shape (n, {d}), got {tuple(x.shape)}")
    bad = ~torch.isfinite(x.detach()).all(1)
    if bool(bad.any()):
        first = int(torch.nonzero(bad)[0])
        raise ValueError(
            f"{name} must be finite: {int(bad.sum())} of its {x.shape[0]} points are not "
            f"(the first is row {first}: {_short(x[first])})"
        )
    return x
