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

from dataclasses import dataclass, field

__all__ = ["STUDIES", "Report"]

#: study name (as typed on the command line) -> module under ``studies``
STUDIES: dict[str, str] = {
    "mode-seeking": "studies.mode_seeking",
    "optimal-discriminator": "studies.optimal_discriminator",
    "saturation": "studies.saturation",
    "mode-collapse": "studies.mode_collapse",
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
    """

    title: str
    figures: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    published: str = ""
    notes: str = ""
    numbers: str = "numbers.json"

    def to_dict(self) -> dict[str, object]:
        return dict(self.__dict__)
