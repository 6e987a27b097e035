"""Atomic output: every file is written to a temporary name beside its target, then renamed.

A crash mid-write leaves the previous file (or none), never a half-written one
(``os.replace`` is atomic on POSIX when both names are on the same file system).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch

__all__ = ["atomic_write", "write_json", "write_text", "save_checkpoint", "load_checkpoint", "atomic_directory", "swap_directory", "to_jsonable"]


@contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w") -> Iterator[Any]:
    """Open a temporary file beside ``path`` for writing; on success rename it onto ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o644)  # mkstemp makes 0600: results are meant to be read (and served)
        encoding = None if "b" in mode else "utf-8"
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def to_jsonable(value: Any) -> Any:
    """Tensors, numpy values, dataclasses with ``to_dict`` and paths as plain JSON values.

    Non-finite floats become the strings "inf", "-inf" and "nan" (JSON has no such numbers).
    """
    if hasattr(value, "to_dict"):
        return to_jsonable(value.to_dict())
    if isinstance(value, torch.Tensor):
        return to_jsonable(value.detach().cpu().tolist())
    if hasattr(value, "tolist") and not isinstance(value, (str, bytes)):
        return to_jsonable(value.tolist())
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, Path):
        return str(value)
    return value


def write_json(path: str | os.PathLike[str], data: Any) -> None:
    """Write ``data`` as indented JSON, atomically (see :func:`to_jsonable` for what converts)."""
    with atomic_write(path) as handle:
        json.dump(to_jsonable(data), handle, indent=2)
        handle.write("\n")


def write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` atomically."""
    with atomic_write(path) as handle:
        handle.write(text)


def save_checkpoint(path: str | os.PathLike[str], state: dict[str, Any]) -> None:
    """``torch.save`` a state dictionary atomically."""
    with atomic_write(path, "wb") as handle:
        torch.save(state, handle)


def load_checkpoint(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Load a state dictionary written by :func:`save_checkpoint` (tensors onto the CPU)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def atomic_directory(path: str | os.PathLike[str], fill: Callable[[Path], Any]) -> Any:
    """Build a directory in a temporary sibling with ``fill(tmp_dir)``, then swap it in for ``path``.

    If ``fill`` raises, the temporary directory is removed and ``path`` keeps its old contents.
    Returns what ``fill`` returns.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    os.chmod(tmp, 0o755)
    try:
        result = fill(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    swap_directory(tmp, path)
    return result


def swap_directory(new: str | os.PathLike[str], path: str | os.PathLike[str]) -> None:
    """Put the directory ``new`` in place of ``path``: the old one is moved aside, then removed.

    Each rename is atomic; ``path`` is missing only between the two renames.
    """
    new, path = Path(new), Path(path)
    old = None
    if path.exists():
        old = path.with_name(f".{path.name}.old-{os.getpid()}")
        os.replace(path, old)
    os.replace(new, path)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
