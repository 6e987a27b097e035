"""Mode covering vs mode seeking: a Gaussian fitted to a mixture by KL, reverse KL, JSD and MMD.

Two published pictures, recomputed with exact divergences and every local optimum shown:

1. Goodfellow 2016, NIPS tutorial (arXiv:1701.00160), Figure 14 (1D): a single Gaussian q fitted
   to a mixture of two Gaussians. KL(p_data || q) (maximum likelihood) gives the moment-matched q
   that covers both modes and puts mass between them; the reverse KL(q || p_data) gives a q on one
   mode, and which mode depends on the start: both optima are shown. The tutorial gives no
   numbers; our target is 0.6 N(-2, 0.5^2) + 0.4 N(2, 0.5^2) (unequal weights, so that the two
   reverse-KL optima have different values: about -log 0.6 and -log 0.4).

2. Theis, van den Oord & Bethge 2015, "A note on the evaluation of generative models"
   (arXiv:1511.01844), Figure 1 (2D): an isotropic Gaussian fitted by KL, MMD and JSD to a
   mixture of Gaussians; we add the reverse KL. The target is the one of their released code
   (github.com/lucastheis/model-evaluation, code/experiments/comparison.py, ``mogaussian``):
   numpy's legacy RandomState(22) draws, in this order, weights ~ Dirichlet(0.5, ..., 0.5) for
   K = 10 components, variances 1 / (1 + U(0, 1))^2 (stds in [0.5, 1]), then a (100, K) matrix of
   N(0, 1.5^2) of which the first two rows are the component means; the plotting window is
   [-5, 7]^2. Their MMD kernel is sum over sigma in {0.5, 1, 2, 4, 8} of exp(-|x - y|^2 / sigma^2),
   which is our Gaussian kernel exp(-|x - y|^2 / (2 h^2)) with h = sigma / sqrt(2).

What we compute, and how it differs from their code. Every divergence is exact (closed forms for
KL between Gaussians and for MMD between Gaussian mixtures, mixture-aware adaptive quadrature
with an error bound near 1e-10 otherwise) and minimised by L-BFGS from several starts; every
distinct local minimum is kept. Their fits were stochastic: MMD by one pass of SGD over 100,000
samples in minibatches of 100 (the MMD itself, not its square: same minimiser), JSD by 20 epochs
of SGD on a sampled estimate, started from 100 data points chosen with a time-based seed (not
reproducible). We were told their JSD code mixes log(pi) and log(2 pi) normalisers; reading it,
both log p (their ``normal``) and log q (in ``fit_js``) use -(D/2) log(pi), so both densities
are 2^(D/2) = 2 times too large and the factor cancels in log p - log q: their JSD objective is
the true JSD up to sampling noise, and any difference from our picture comes from the
stochastic optimisation and the start (JSD has several local minima here; we show them all).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.distributions import Distribution
from tqdm.auto import tqdm

import gantheory as gt
from gantheory.divergences import jsd, kl, mmd
from gantheory.fits import Fit, IsotropicGaussian, fit
from gantheory.io import write_json
from studies import Report, check_config

SUMMARY = (
    "Mode covering vs mode seeking: a Gaussian fitted by KL, reverse KL, JSD and MMD "
    "(Goodfellow 2016, Fig. 14; Theis et al. 2015, Fig. 1)"
)

DIVERGENCES = ("kl", "reverse_kl", "jsd", "mmd")
LABELS = {"kl": "KL(p‖q)", "reverse_kl": "KL(q‖p)", "jsd": "JSD(p‖q)", "mmd": "MMD²(p,q)"}


@dataclass
class Config:
    def __post_init__(self) -> None:
        check_config(
            self,
            positive=("stds_1d", "n_components", "alpha", "mean_std", "mmd_sigmas", "n_starts", "grid"),
            non_negative=("weights_1d", "data_seed"),
        )
        if not len(self.means_1d) == len(self.stds_1d) == len(self.weights_1d) > 0:
            raise ValueError(
                f"means_1d, stds_1d and weights_1d must have one entry per component, got "
                f"{len(self.means_1d)}, {len(self.stds_1d)} and {len(self.weights_1d)}"
            )
        if not self.window[0] < self.window[1]:
            raise ValueError(f"window must be (lo, hi) with lo < hi, got {self.window}")

    # 1D target (Goodfellow 2016, Fig. 14 gives no numbers; ours): two Gaussians
    means_1d: tuple[float, ...] = (-2.0, 2.0)
    stds_1d: tuple[float, ...] = (0.5, 0.5)
    weights_1d: tuple[float, ...] = (0.6, 0.4)
    # 2D target (Theis et al. 2015, Fig. 1, their mogaussian()): K components, Dirichlet(alpha)
    # weights, stds 1/(1 + U(0,1)), means N(0, mean_std^2 I), numpy RandomState(data_seed)
    n_components: int = 10
    alpha: float = 0.5
    mean_std: float = 1.5
    data_seed: int = 22
    window: tuple[float, float] = (-5.0, 7.0)  # their plot range on both axes
    # their MMD kernel: sum over sigma of exp(-|x - y|^2 / sigma^2)
    mmd_sigmas: tuple[float, ...] = (0.5, 1.0, 2.0, 4.0, 8.0)
    n_starts: int = 12  # starts per fit (start 0: the target's moments; others: random)
    grid: int = 240  # density grid points per axis for the contour plots


QUICK: dict[str, object] = {"n_starts": 3, "grid": 100}


# -- targets --------------------------------------------------------------------------------------


def theis_target(config: Config) -> tuple[Distribution, dict[str, np.ndarray]]:
    """The 2D mixture of Theis et al.'s ``mogaussian(D=2, K, seed)``: same draws, same order."""
    rs = np.random.RandomState(config.data_seed)
    k = config.n_components
    weights = rs.dirichlet([config.alpha] * k)
    variances = 1.0 / np.square(rs.rand(k) + 1.0)
    means = (rs.randn(100, k) * config.mean_std)[:2].T  # D_max = 100 rows, keep the first two
    params = {"weights": weights / weights.sum(), "stds": np.sqrt(variances), "means": means}
    return gt.mixture(params["means"], params["stds"], params["weights"]), params


def bandwidths(config: Config) -> list[float]:
    """Theis et al.'s sigma as our h: exp(-r^2/sigma^2) = exp(-r^2/(2 h^2)), h = sigma/sqrt(2)."""
    return [s / math.sqrt(2.0) for s in config.mmd_sigmas]


# -- computation ----------------------------------------------------------------------------------


def score(p_data: Distribution, q: Distribution, h: list[float]) -> dict[str, dict[str, Any]]:
    """Every divergence of :data:`DIVERGENCES` between p_data and q, with its error and method."""
    with torch.no_grad():
        results = {
            "kl": kl(p_data, q),
            "reverse_kl": kl(q, p_data),
            "jsd": jsd(p_data, q),
            "mmd": mmd(p_data, q, bandwidth=h),
        }
    return {
        k: {"value": float(r.value), "error": r.error, "method": r.method}
        for k, r in results.items()
    }


def fit_all(
    p_data: Distribution,
    d: int,
    h: list[float],
    config: Config,
    seed: int,
    progress: bool,
    what: str,
) -> dict[str, Fit]:
    fits = {}
    bar = tqdm(DIVERGENCES, desc=f"fits ({what})", disable=None if progress else True, leave=False)
    for i, name in enumerate(bar):
        generator = torch.Generator().manual_seed(seed * 1000 + i)
        fits[name] = fit(
            p_data,
            IsotropicGaussian(d),
            name,
            bandwidth=h,
            n_starts=config.n_starts,
            generator=generator,
        )
    return fits


def _fit_record(result: Fit, p_data: Distribution, h: list[float]) -> dict[str, Any]:
    record = result.to_dict()
    record["optima"] = [
        {**o.to_dict(), "scores": score(p_data, o.distribution, h)} for o in result.optima
    ]
    return record


# -- figures --------------------------------------------------------------------------------------


def _style(name: str, rank: int) -> dict[str, Any]:
    from gantheory.plotting import COLORS

    return {
        "color": COLORS[name],
        "ls": ["-", "--", ":", "-."][min(rank, 3)],
        "lw": 2.0 if rank == 0 else 1.5,
    }


def figure_1d(p_data: Distribution, fits: dict[str, Fit], path: Path) -> None:
    import matplotlib.pyplot as plt

    from gantheory.plotting import COLORS, save_figure, set_theme

    set_theme()
    x = torch.linspace(-5.0, 5.0, 1001, dtype=torch.float64)
    with torch.no_grad():
        p = p_data.log_prob(x).exp()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.8), sharey=True)
    titles = {
        "kl": "Maximum likelihood: q* = argmin KL(p_data ‖ q)",
        "reverse_kl": "Reverse KL: q* = argmin KL(q ‖ p_data)",
    }
    for ax, name in zip(axes, ("kl", "reverse_kl")):
        ax.fill_between(x, p, color=COLORS["p_data"], alpha=0.18, lw=0)
        ax.plot(x, p, color=COLORS["p_data"], lw=1.2, label="p_data(x)")
        for rank, optimum in enumerate(fits[name].optima):
            mean, std = float(optimum.params["mean"][0]), float(optimum.params["std"])
            with torch.no_grad():
                q = optimum.distribution.log_prob(x).exp()
            kind = "q*(x)" if rank == 0 else "local optimum"
            label = f"{kind}: N({mean:.3f}, {std:.3f}²), {LABELS[name]} = {optimum.value:.4f}"
            ax.plot(x, q, label=label, **_style(name, rank))
        ax.set_title(titles[name], fontsize=10)
        ax.set_xlabel("x")
        ax.set_ylim(0, 1.5 * max(line.get_ydata().max() for line in ax.get_lines()))
        ax.legend(fontsize=7.5, loc="upper center")
    axes[0].set_ylabel("density")
    fig.suptitle(
        "Mode covering vs mode seeking in 1D (after Goodfellow 2016, Fig. 14)", fontsize=11
    )
    save_figure(fig, path)


def _ellipses(ax: Any, optimum: Any, color: str, ls: str, lw: float, label: str | None) -> None:
    from matplotlib.patches import Ellipse

    mean = optimum.params["mean"].numpy()
    cov = optimum.params["cov"].numpy() if "cov" in optimum.params else None
    if cov is None:
        std = optimum.params["std"].numpy() * np.ones(2)
        cov = np.diag(std**2)
    eigenvalues, vectors = np.linalg.eigh(cov)
    angle = math.degrees(math.atan2(vectors[1, 1], vectors[0, 1]))
    for k, alpha in ((1, 1.0), (2, 0.55)):
        width, height = 2 * k * np.sqrt(eigenvalues[1]), 2 * k * np.sqrt(eigenvalues[0])
        patch = Ellipse(
            mean, width, height, angle=angle, fill=False, ec=color, ls=ls, lw=lw, alpha=alpha
        )
        ax.add_patch(patch)
    ax.plot(*mean, marker="x", color=color, ms=6, mew=2, label=label, ls="none")


def figure_2d(
    p_data: Distribution, fits: dict[str, Fit], cross: list[list[float]], config: Config, path: Path
) -> None:
    import matplotlib.pyplot as plt

    from gantheory.plotting import save_figure, set_theme

    set_theme()
    lo, hi = config.window
    axis = torch.linspace(lo, hi, config.grid, dtype=torch.float64)
    xx, yy = torch.meshgrid(axis, axis, indexing="xy")
    with torch.no_grad():
        density = (
            p_data.log_prob(torch.stack([xx.reshape(-1), yy.reshape(-1)], 1))
            .exp()
            .reshape(xx.shape)
        )
    # geometric levels, from 1/1000 of the peak: the light modes (weights near 0.01) stay visible
    peak = float(density.max())
    levels = np.geomspace(peak * 1e-3, peak, 13)
    fig, axes = plt.subplots(2, 3, figsize=(15, 10.4))
    panels = [*DIVERGENCES, "overlay"]
    for ax, name in zip(axes.flat, panels):
        ax.contourf(xx, yy, density, levels=levels, cmap="Greys", extend="max")
        names = DIVERGENCES if name == "overlay" else (name,)
        for n in names:
            optima = fits[n].optima[:1] if name == "overlay" else fits[n].optima
            for rank, optimum in enumerate(optima):
                style = _style(n, rank)
                if name == "overlay":
                    label = LABELS[n]
                else:
                    label = (
                        "q*" if rank == 0 else "local optimum"
                    ) + f": {LABELS[n]} = {optimum.value:.4f}"
                _ellipses(ax, optimum, style["color"], style["ls"], style["lw"], label)
        title = "all four best fits" if name == "overlay" else f"q* = argmin {LABELS[name]}"
        if name == "overlay":
            title += " (target: density contours, 1/1000 of the peak and up)"
        ax.set_title(title, fontsize=10)
        ax.set_xlim(lo, hi)
        ax.set_ylim(lo, hi)
        ax.set_aspect("equal")
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.legend(fontsize=7.5, loc="upper right", framealpha=0.85)
    table_ax = axes.flat[-1]
    table_ax.axis("off")
    rows = [LABELS[n] for n in DIVERGENCES]
    cells = []
    for name, row in zip(DIVERGENCES, cross):
        p = fits[name].params
        mean = f"({float(p['mean'][0]):.2f}, {float(p['mean'][1]):.2f})"
        cells.append([mean, f"{float(p['std']):.3f}", *(f"{v:.4f}" for v in row)])
    table = table_ax.table(
        cellText=cells,
        rowLabels=[f"fit by {r}" for r in rows],
        colLabels=["mean", "std", *rows],
        colWidths=[0.2, 0.1, 0.15, 0.15, 0.15, 0.15],
        bbox=[0.2, 0.3, 0.8, 0.4],
        cellLoc="center",
    )
    table.auto_set_font_size(False)
    table.set_fontsize(7.5)
    for (i, j), cell in table.get_celld().items():
        if i >= 1 and j >= 2 and j - 2 == i - 1:
            cell.set_facecolor("#dcebdc")
    n = len(DIVERGENCES)
    own_best = all(min(range(n), key=lambda r: cross[r][c]) == c for c in range(n))
    table_ax.set_title(
        "each best fit (rows) scored by each divergence (columns)\nshaded: the fit's own objective"
        + (
            ", the smallest in its column"
            if own_best
            else " (not always the smallest in its column)"
        ),
        fontsize=9.5,
    )
    fig.suptitle(
        "An isotropic Gaussian fitted to Theis et al.'s mixture of 10 Gaussians "
        "(after Theis et al. 2015, Fig. 1)\nellipses at 1σ and 2σ; dashed, dotted: other local minima",
        fontsize=11,
        y=0.995,
    )
    fig.tight_layout()
    save_figure(fig, path)


# -- tables ---------------------------------------------------------------------------------------


def markdown_table(fits: dict[str, Fit], cross: list[list[float]], names: list[str]) -> str:
    header = "| fit | mean | std | " + " | ".join(LABELS[n] for n in DIVERGENCES) + " |"
    rule = "|---" * (3 + len(DIVERGENCES)) + "|"
    lines = [header, rule]
    for row_name, row in zip(names, cross):
        base = row_name.split("#")[0]
        optimum = fits[base].optima[int(row_name.split("#")[1]) if "#" in row_name else 0]
        mean = ", ".join(f"{v:.4f}" for v in optimum.params["mean"].tolist())
        cells = [f"**{v:.4f}**" if n == base else f"{v:.4f}" for n, v in zip(DIVERGENCES, row)]
        label = f"{LABELS[base]}" + (
            f" (local optimum {row_name.split('#')[1]})" if "#" in row_name else ""
        )
        lines.append(
            f"| {label} | ({mean}) | {float(optimum.params['std']):.4f} | "
            + " | ".join(cells)
            + " |"
        )
    return "\n".join(lines)


def _describe(optimum: Any) -> str:
    values = optimum.params["mean"].tolist()
    mean = (
        f"{values[0]:.2f}"
        if len(values) == 1
        else "(" + ", ".join(f"{v:.2f}" for v in values) + ")"
    )
    return f"N({mean}, {float(optimum.params['std']):.3f}²)"


def _notes(
    config: Config,
    seed: int,
    fits_1d: dict[str, Fit],
    fits_2d: dict[str, Fit],
    cross_2d: list[list[float]],
    mm_mean: float,
    mm_std: float,
) -> str:
    """What the figures show, written from the computed numbers."""
    kl_1d = fits_1d["kl"]
    rkl = fits_1d["reverse_kl"].optima
    modes = "; ".join(f"{_describe(o)} with KL(q‖p) = {o.value:.4f}" for o in rkl)
    logs = ", ".join(f"−log {w} = {-math.log(w):.4f}" for w in config.weights_1d)
    lines = [
        f"**1D**: the KL fit {_describe(kl_1d.optima[0])} equals moment matching, "
        f"N({mm_mean:.4f}, {mm_std:.4f}²) in closed form: it covers both modes and peaks where "
        f"p_data has little mass. The reverse KL has {len(rkl)} local minima over {config.n_starts} "
        f"starts: {modes} (a lone mode of weight w gives about −log w: {logs}).",
        "",
        "**2D** (Theis et al.'s target), best fit and other local minima per divergence:",
        "",
    ]
    for name in DIVERGENCES:
        f = fits_2d[name]
        others = "; ".join(f"{_describe(o)} ({o.value:.4f})" for o in f.optima[1:]) or "none found"
        lines.append(
            f"- {LABELS[name]}: {_describe(f.optima[0])}, value {f.value:.4f} ± {f.error:.1e}; other minima: {others}"
        )
    own_best = [
        min(range(len(DIVERGENCES)), key=lambda r: cross_2d[r][c]) == c
        for c in range(len(DIVERGENCES))
    ]
    verdict = (
        "each fit scores best under its own divergence"
        if all(own_best)
        else (
            "not every fit scores best under its own divergence (a start may have missed the global minimum)"
        )
    )
    kl_col = [row[0] for row in cross_2d]
    rkl_col = [row[1] for row in cross_2d]
    lines += [
        "",
        f"In the cross table {verdict}. The mode-seeking fits pay in KL(p‖q) for the mass they drop "
        f"(reverse-KL fit: {kl_col[1]:.3f} nats against {kl_col[0]:.3f} for the KL fit), the covering "
        f"KL fit pays in KL(q‖p) for the mass it puts between modes ({rkl_col[0]:.3f} against "
        f"{rkl_col[1]:.3f}).",
        "",
        f"Starts: {config.n_starts} per fit (start 0 at the target's moments), seed {seed}. Every "
        "distinct local minimum is in numbers.json with its value, error bound, smallest Hessian "
        "eigenvalue and its score under every divergence.",
    ]
    return "\n".join(lines)


def run(
    config: Config, out: Path, *, device: str = "cpu", seed: int = 0, progress: bool = True
) -> Report:
    """Fit, score, draw and write ``mode_seeking_1d.png``, ``mode_seeking_2d.png`` and
    ``numbers.json`` into ``out``. Computed on the CPU in float64 whatever ``device`` says (the
    fits are thousands of small tensor operations; ``gantheory run`` uses one thread by default)."""
    return _run(config, Path(out), seed, progress)


def _run(config: Config, out: Path, seed: int, progress: bool) -> Report:
    start = time.perf_counter()
    h = bandwidths(config)
    target_1d = gt.mixture(list(config.means_1d), list(config.stds_1d), list(config.weights_1d))
    target_2d, params_2d = theis_target(config)
    fits_1d = fit_all(target_1d, 1, h, config, seed, progress, "1D")
    fits_2d = fit_all(target_2d, 2, h, config, seed, progress, "2D")

    rows_1d = ["kl"] + [
        f"reverse_kl#{i}" if i else "reverse_kl" for i in range(len(fits_1d["reverse_kl"].optima))
    ]
    rows_1d += ["jsd", "mmd"]

    def optimum_of(fits: dict[str, Fit], row: str) -> Any:
        base, _, index = row.partition("#")
        return fits[base].optima[int(index or 0)]

    cross_1d = [
        [score(target_1d, optimum_of(fits_1d, r).distribution, h)[n]["value"] for n in DIVERGENCES]
        for r in rows_1d
    ]
    rows_2d = list(DIVERGENCES)
    scores_2d = [score(target_2d, fits_2d[r].distribution, h) for r in rows_2d]
    cross_2d = [[s[n]["value"] for n in DIVERGENCES] for s in scores_2d]

    figure_1d(target_1d, fits_1d, out / "mode_seeking_1d.png")
    figure_2d(target_2d, fits_2d, cross_2d, config, out / "mode_seeking_2d.png")

    comps = gt.as_gaussian_mixture(target_1d)
    mm_mean = float(comps.weights @ comps.means[:, 0])
    mm_var = float(comps.weights @ (comps.covs[:, 0, 0] + comps.means[:, 0] ** 2)) - mm_mean**2
    numbers = {
        "config": asdict(config),
        "seed": seed,
        "mmd_bandwidths_h": h,
        "target_1d": {
            "means": config.means_1d,
            "stds": config.stds_1d,
            "weights": config.weights_1d,
        },
        "target_2d": params_2d,
        "moment_matching_1d": {"mean": mm_mean, "std": math.sqrt(mm_var)},
        "fits_1d": {n: _fit_record(f, target_1d, h) for n, f in fits_1d.items()},
        "fits_2d": {n: _fit_record(f, target_2d, h) for n, f in fits_2d.items()},
        "cross_1d": {"rows": rows_1d, "columns": list(DIVERGENCES), "values": cross_1d},
        "cross_2d": {
            "rows": rows_2d,
            "columns": list(DIVERGENCES),
            "values": cross_2d,
            "detail": scores_2d,
        },
        "seconds": time.perf_counter() - start,
    }
    write_json(out / "numbers.json", numbers)

    notes = _notes(config, seed, fits_1d, fits_2d, cross_2d, mm_mean, math.sqrt(mm_var))
    published = (
        "Both figures are pictures; the papers publish no numbers for them. Goodfellow 2016 "
        "(arXiv:1701.00160), Fig. 14: the maximum-likelihood (KL) fit averages the two modes, the "
        "reverse-KL fit picks one of them. Theis et al. 2015 (arXiv:1511.01844), Fig. 1: an "
        "isotropic Gaussian fitted to the 10-component mixture by KL, MMD or JSD; the three fits "
        "show the different trade-offs of the three measures (KL covering the data, JSD on part "
        "of it). The closed form checked here: the KL fit is moment matching (see the notes)."
    )
    return Report(
        title="Mode covering vs mode seeking",
        figures=["mode_seeking_1d.png", "mode_seeking_2d.png"],
        tables=[
            "1D: each fit (rows) scored by each divergence (columns; bold: the fit's own objective).\n\n"
            + markdown_table(fits_1d, cross_1d, rows_1d),
            "2D (Theis et al.'s target): each best fit scored by each divergence.\n\n"
            + markdown_table(fits_2d, cross_2d, rows_2d),
        ],
        published=published,
        notes=notes,
    )
