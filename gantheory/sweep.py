"""Resumable parameter sweeps on any ``concurrent.futures.Executor`` (process pool, Dask cluster).

``sweep(fn, grid, out)`` calls ``fn(**setting)`` for every setting of a grid, on an executor, and
writes each result to ``out/<key>.json`` (atomically, in the calling process) the moment it
finishes. A setting whose file exists is not run again, so a sweep that was interrupted (Ctrl-C,
a crashed worker, a lost node) resumes where it stopped when it is called again.

Any executor works: the default is a local ``ProcessPoolExecutor``; a Dask cluster's is
``distributed.Client(address).get_executor()``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import multiprocessing
import os
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor, as_completed
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from gantheory.io import to_jsonable, write_json

__all__ = ["sweep", "grid_settings", "setting_key"]


Grid = Mapping[str, Sequence[Any]] | Sequence[Mapping[str, Any]]


def grid_settings(grid: Grid) -> list[dict[str, Any]]:
    """The settings of a grid as a list of keyword dictionaries.

    A mapping of name -> values is expanded into its Cartesian product (the last name varies
    fastest); a sequence of mappings is taken as the list of settings itself.

    Raises:
        TypeError: grid is neither, a value list is a string, or a name is not a string.
        ValueError: the grid is empty or a value list is empty.

    >>> grid_settings({"loss": ["minimax", "least_squares"], "seed": [0, 1]})[1]
    {'loss': 'minimax', 'seed': 1}
    """
    if isinstance(grid, Mapping):
        names = list(grid)
        for name in names:
            if not isinstance(name, str):
                raise TypeError(f"grid names must be strings, got {name!r}")
            values = grid[name]
            if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
                raise TypeError(f"grid[{name!r}] must be a list of values, got {values!r}")
            if len(values) == 0:
                raise ValueError(f"grid[{name!r}] must hold at least one value")
        settings = [dict(zip(names, combo)) for combo in itertools.product(*grid.values())]
    elif isinstance(grid, Sequence) and not isinstance(grid, (str, bytes)):
        settings = []
        for i, setting in enumerate(grid):
            if not isinstance(setting, Mapping):
                raise TypeError(f"grid[{i}] must map argument names to values, got {setting!r}")
            settings.append(dict(setting))
    else:
        raise TypeError(
            "grid must be a mapping name -> list of values or a list of mappings, "
            f"got {type(grid).__name__}"
        )
    if not settings:
        raise ValueError("grid must hold at least one setting")
    return settings


def setting_key(setting: Mapping[str, Any]) -> str:
    """A stable file name for one setting: its sorted JSON form, hashed (SHA-1, 16 hex digits).

    >>> setting_key({"seed": 1, "loss": "minimax"}) == setting_key({"loss": "minimax", "seed": 1})
    True
    """
    text = json.dumps(to_jsonable(dict(setting)), sort_keys=True)
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _load(path: Path) -> Any:
    with open(path) as handle:
        return json.load(handle)["result"]


def sweep(
    fn: Callable[..., Any],
    grid: Grid,
    out: str | os.PathLike[str],
    *,
    executor: Executor | None = None,
    max_workers: int | None = None,
    progress: bool | None = True,
) -> list[Any]:
    """Map ``fn`` over a grid of settings on an executor; results stream to disk and resume.

    For every setting s of :func:`grid_settings` (grid), ``fn(**s)`` runs on ``executor``; as each
    call finishes its result is written to ``out/<setting_key(s)>.json`` as
    ``{"setting": s, "result": result}`` (:func:`gantheory.io.write_json`: atomic). Settings
    whose file already exists are skipped, so calling ``sweep`` again after an interruption runs
    only what is missing. If some calls raise, every other call still completes and is saved,
    then a ``RuntimeError`` names the failed settings (chained to the first error).

    Args:
        fn: the study function, called with keyword arguments; it must be picklable for a
            process pool or a Dask cluster (a module-level function) and return a value that
            :func:`gantheory.io.to_jsonable` converts (numbers, lists, dicts, tensors,
            dataclasses with ``to_dict``).
        grid: a mapping name -> list of values (Cartesian product) or a list of keyword mappings.
        out: directory of the result files (created if missing).
        executor: any ``concurrent.futures.Executor``, for example
            ``distributed.Client(...).get_executor()``; it is left running. Without one, a
            ``ProcessPoolExecutor`` (``spawn`` start method, ``max_workers`` processes) is made
            and shut down, or the calls run in this process when ``max_workers == 1``.
        max_workers: size of the default process pool (default: the number of CPUs).
        progress: show a tqdm bar (``None``: only on a terminal; ``False``: never).

    Returns:
        the results in grid order, as read back from their JSON files (so a fresh and a resumed
        sweep return the same values).

    Raises:
        TypeError, ValueError: a malformed grid (see :func:`grid_settings`), a bad ``max_workers``.
        RuntimeError: some calls raised (their settings are listed; the rest are saved).

    >>> import tempfile
    >>> sweep(pow, {"base": [2, 3], "exp": [2]}, tempfile.mkdtemp(), max_workers=1, progress=False)
    [4, 9]
    """
    settings = grid_settings(grid)
    if max_workers is not None and (
        isinstance(max_workers, bool) or not isinstance(max_workers, int) or max_workers < 1
    ):
        raise ValueError(f"max_workers must be an int >= 1, got {max_workers!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{setting_key(s)}.json" for s in settings]
    todo = {i for i, path in enumerate(paths) if not path.exists()}
    failed: list[tuple[dict[str, Any], BaseException]] = []
    bar = tqdm(total=len(settings), initial=len(settings) - len(todo), desc="sweep",
               disable=None if progress else True)

    def finish(i: int, result: Any) -> None:
        write_json(paths[i], {"setting": settings[i], "result": result})
        bar.update(1)

    try:
        if executor is None and (max_workers == 1 or len(todo) <= 1):
            for i in sorted(todo):
                try:
                    finish(i, fn(**settings[i]))
                except Exception as error:
                    failed.append((settings[i], error))
        elif todo:
            own = executor is None
            pool = executor or ProcessPoolExecutor(
                max_workers=min(max_workers or os.cpu_count() or 1, len(todo)),
                mp_context=multiprocessing.get_context("spawn"),
            )
            futures: dict[Future[Any], int] = {}
            try:
                futures = {pool.submit(fn, **settings[i]): i for i in sorted(todo)}
                for future in as_completed(futures):
                    error = future.exception()
                    if error is None:
                        finish(futures[future], future.result())
                    else:
                        failed.append((settings[futures[future]], error))
            finally:
                for future in futures:
                    future.cancel()
                if own:
                    pool.shutdown(wait=True, cancel_futures=True)
    finally:
        bar.close()
    if failed:
        listed = "; ".join(repr(s) for s, _ in failed[:5]) + (" ..." if len(failed) > 5 else "")
        raise RuntimeError(
            f"{len(failed)} of {len(settings)} settings failed ({listed}); the others are saved in "
            f"{out}, and calling sweep again runs only the missing ones"
        ) from failed[0][1]
    return [_load(path) for path in paths]
