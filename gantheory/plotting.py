"""One look for every figure: the seaborn theme, a palette per concept, and figure saving.

Imported only by code that draws (studies), so ``import gantheory`` never loads matplotlib.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import seaborn as sns

from gantheory.io import atomic_write

__all__ = ["set_theme", "COLORS", "save_figure"]

#: Colours by role, the same in every study: the data, the generator, D, D* and the losses.
COLORS: dict[str, Any] = {
    "p_data": "#222222",
    "p_g": "#2a9d8f",
    "D": "#e76f51",
    "D*": "#264653",
    "kl": "#1f77b4",
    "reverse_kl": "#d62728",
    "jsd": "#2ca02c",
    "mmd": "#9467bd",
    "minimax": "#d62728",
    "non_saturating": "#1f77b4",
    "maximum_likelihood": "#2ca02c",
    "least_squares": "#ff7f0e",
    "wasserstein": "#9467bd",
}


def set_theme() -> None:
    """The project's seaborn theme (white grid, paper context, colour-blind palette)."""
    sns.set_theme(context="paper", style="whitegrid", palette="colorblind", font_scale=1.1)
    plt.rcParams.update({"figure.dpi": 110, "savefig.dpi": 150, "savefig.bbox": "tight"})


def save_figure(fig: Any, path: str | os.PathLike[str]) -> Path:
    """Save ``fig`` as PNG at ``path`` atomically and close it; return the path."""
    path = Path(path)
    with atomic_write(path, "wb") as handle:
        fig.savefig(handle, format="png")
    plt.close(fig)
    return path
