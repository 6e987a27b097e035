"""The studies: one runnable module per figure or table, listed in :data:`STUDIES`.

Every study module follows one contract, which ``gantheory run``/``gantheory reproduce`` rely on:

- ``SUMMARY: str``: one line for ``gantheory list``.
- ``Config``: a dataclass whose fields are the study's setup, each with a commented default
  (the paper's numbers, cited), overridable from the command line (``--set field=value``).
- ``QUICK: dict[str, object]``: the overrides of ``--quick`` (a run of well under a minute on CPU).
- ``run(config, out, *, device, seed, progress) -> Report``: computes through the library,
  writes its figures (PNG) and numbers (JSON) into the directory ``out`` (which exists and is
  empty; the command swaps it in atomically when ``run`` returns) and returns a :class:`Report`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

__all__ = ["STUDIES", "Report", "Section", "check_config"]

#: study name (as typed on the command line) -> module under ``studies``
STUDIES: dict[str, str] = {
    "mode-seeking": "studies.mode_seeking",
    "optimal-discriminator": "studies.optimal_discriminator",
    "saturation": "studies.saturation",
    "mode-collapse": "studies.mode_collapse",
    "convergence": "studies.convergence",
}


@dataclass
class Report:
    """What a study hands back for the index page.

    Attributes:
        title: a heading.
        figures: PNG file names inside the study's output directory, in reading order.
        tables: Markdown tables (our numbers), shown under the figures.
        published: Markdown: the published numbers the study reproduces, with their source.
        notes: Markdown: what the figures show and how they compare with the papers.
        numbers: file name of the JSON that holds every number behind the figures.
        views: interactive pages (``view.html``, :mod:`gantheory.view`) and animations (GIF)
            inside the output directory, linked from the index.
    """

    title: str
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    published: str = ""
    notes: str = ""
    numbers: str = "numbers.json"
    views: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)


@dataclass
class Section:
    """One part of a study made of several (figures, tables, notes and the numbers behind them),
    which its ``run`` concatenates into the :class:`Report` and numbers.json."""

    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    numbers: dict[str, object] = field(default_factory=dict)


def check_config(
    config: object,
    *,
    positive: Iterable[str] = (),
    non_negative: Iterable[str] = (),
    fractions: Iterable[str] = (),
    choices: Mapping[str, Sequence[object]] | None = None,
) -> None:
    """Check a study's Config before anything runs; each error names the field and the value.

    ``positive``: numbers (or tuples of numbers) that must be finite and > 0; ``non_negative``:
    finite and >= 0; ``fractions``: in [0, 1]; ``choices``: field -> allowed values (for a tuple
    field, every element must be allowed).

    Raises:
        ValueError: naming the first bad field.
    """

    def values(name: str) -> list[object]:
        value = getattr(config, name)
        return list(value) if isinstance(value, (tuple, list)) else [value]

    def number(name: str, v: object) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            raise ValueError(f"{name} must hold finite numbers, got {getattr(config, name)!r}")
        return float(v)

    for name in positive:
        if any(number(name, v) <= 0 for v in values(name)):
            raise ValueError(f"{name} must be > 0, got {getattr(config, name)!r}")
    for name in non_negative:
        if any(number(name, v) < 0 for v in values(name)):
            raise ValueError(f"{name} must be >= 0, got {getattr(config, name)!r}")
    for name in fractions:
        if any(not 0 <= number(name, v) <= 1 for v in values(name)):
            raise ValueError(f"{name} must lie in [0, 1], got {getattr(config, name)!r}")
    for name, allowed in (choices or {}).items():
        bad = [v for v in values(name) if v not in allowed]
        if bad or not values(name):
            raise ValueError(
                f"{name} must be from {', '.join(map(repr, allowed))}; got {getattr(config, name)!r}"
            )
