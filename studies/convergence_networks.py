"""Convergence study, section "real networks": the regularisers on a small GAN whose equilibrium is known.

p_data = N(mu*, s*^2) in 1D and an affine generator G(z) = mu + w z (p_g = N(mu, w^2) exactly,
:class:`gantheory.AffineGenerator`) against an MLP discriminator: the equilibrium is p_g = p_data,
i.e. (mu, |w|) = (mu*, s*). For each regulariser of :mod:`gantheory.regularizers` (none, R1, R2,
consensus, instance noise annealed to 0) and several seeds, Algorithm 1 trains G and D
(:func:`gantheory.train`); we record the exact JSD(p_data || p_g) (train's exact recording) and the
distance of G's parameters to the equilibrium, sqrt((mu - mu*)^2 + (|w| - s*)^2), along training.
At the final parameters we compute the Jacobian of the joint gradient field
(:func:`gantheory.game_jacobian`, with the run's regulariser; instance noise at sigma = 0, the
value it anneals to)
and scatter its eigenvalues in the complex plane, as Mescheder, Nowozin & Geiger 2017
(arXiv:1705.10461) Figure 4 do: with v the field that gradient descent follows, eigenvalues with
negative real part attract. Mescheder, Geiger & Nowozin 2018 (arXiv:1801.04406, Theorem 4.1): R1
and R2 make the equilibrium locally asymptotically stable for small enough steps.

This module is a section of the study ``gantheory run convergence`` (``studies/convergence.py``,
whose Config extends :class:`NetworksConfig`; not registered in STUDIES on its own):
:func:`networks_section` writes its figures into ``out``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import gantheory as gt
from gantheory.io import write_json
from studies import Section, check_config

#: method -> its TrainConfig fields (weights from the config)
METHODS = ("none", "r1", "r2", "consensus", "instance_noise")
LABELS = {
    "none": "none",
    "r1": "R1",
    "r2": "R2",
    "consensus": "consensus",
    "instance_noise": "instance noise",
}


@dataclass
class NetworksConfig:
    net_data_mean: float = 0.0  # p_data = N(data_mean, data_std^2): the equilibrium of G
    net_data_std: float = 1.0
    net_g_loc: float = 1.5  # G starts at N(g_loc, g_scale^2): JSD ~ 0.3 nats from p_data
    net_g_scale: float = 0.5
    net_d_widths: tuple[int, ...] = (16,)  # MLP D, tanh (smooth, so R1/R2 have second derivatives)
    net_loss: gt.GeneratorLoss = "non_saturating"  # G's cost (D's goes with it), gantheory.losses
    net_steps: int = 1500  # Algorithm 1 iterations (k = 1)
    net_batch_size: int = 64
    net_lr: float = 0.1  # plain SGD (momentum 0), both players: the h of simultaneous GD
    net_record_every: int = 50
    net_seeds: int = 4  # runs per method (mean +- s.e. over them)
    net_r1: float = 1.0  # gamma of R1 (Mescheder et al. 2018 use 10 on images; 1 suits this scale)
    net_r2: float = 1.0  # gamma of R2
    net_consensus: float = 0.5  # lambda of consensus optimisation
    net_instance_noise: float = 0.5  # sigma of instance noise at step 1, annealed linearly to 0
    net_jacobian_samples: int = 512  # fixed samples x ~ p_data, z ~ N(0, 1) for the Jacobian
    net_methods: tuple[str, ...] = METHODS

    def __post_init__(self) -> None:
        check_config(
            self,
            positive=("net_data_std", "net_g_scale", "net_d_widths", "net_steps",
                      "net_batch_size", "net_lr", "net_record_every", "net_seeds",
                      "net_jacobian_samples"),
            non_negative=("net_r1", "net_r2", "net_consensus", "net_instance_noise"),
            choices={"net_methods": METHODS, "net_loss": gt.GENERATOR_LOSSES},
        )  # fmt: skip


#: overrides of a quick run (< 20 s on a CPU)
QUICK: dict[str, object] = {
    "net_steps": 200, "net_seeds": 2, "net_record_every": 50, "net_jacobian_samples": 128,
}


def _regularizers(config: NetworksConfig, method: str) -> dict[str, float | None]:
    if method == "none":
        return {}
    if method == "instance_noise":
        return {"instance_noise": config.net_instance_noise, "instance_noise_final": 0.0}
    return {method: getattr(config, "net_" + method)}


def _distance(G: gt.AffineGenerator, config: NetworksConfig) -> float:
    loc, w = float(G.loc.detach()[0]), abs(float(G.weight.detach()[0, 0]))
    return math.hypot(loc - config.net_data_mean, w - config.net_data_std)


def _run(config: NetworksConfig, method: str, seed: int, device: str) -> dict[str, Any]:
    """One training run and the game's Jacobian at its end."""
    p_data = gt.gaussian(config.net_data_mean, config.net_data_std)
    streams = gt.random_streams(seed)
    G = gt.AffineGenerator(1, loc=config.net_g_loc, scale=config.net_g_scale)
    D = gt.mlp_discriminator(
        1, widths=config.net_d_widths, activation="tanh", generator=streams.init
    )
    reg = _regularizers(config, method)
    train_config = gt.TrainConfig(
        steps=config.net_steps, batch_size=config.net_batch_size, loss=config.net_loss,
        lr_d=config.net_lr, lr_g=config.net_lr, momentum=0.0,
        record_every=config.net_record_every, device=device, seed=seed,
        **reg,
    )  # fmt: skip
    distance = [_distance(G, config)]

    def record(step: int, G_: torch.nn.Module, D_: torch.nn.Module) -> None:
        if step % config.net_record_every == 0 or step == config.net_steps:
            distance.append(_distance(G_, config))

    result = gt.train(p_data, G, D, train_config, progress=False, callback=record)
    gen = torch.Generator().manual_seed(10_000 + seed)  # the Jacobian's fixed samples
    x = p_data.mean + p_data.stddev * torch.randn(config.net_jacobian_samples, 1, generator=gen)
    z = torch.randn(config.net_jacobian_samples, 1, generator=gen)
    game = gt.game_jacobian(
        result.G.cpu(), result.D.cpu(), x, z, loss=config.net_loss, r1=reg.get("r1", 0.0) or 0.0,
        r2=reg.get("r2", 0.0) or 0.0, consensus=reg.get("consensus", 0.0) or 0.0,
        instance_noise=reg.get("instance_noise_final", 0.0) or 0.0, step=config.net_lr,
    )  # fmt: skip
    return {
        "step": result.history.step, "jsd": result.history.jsd, "distance": distance,
        "loc": float(G.loc.detach()[0]), "scale": abs(float(G.weight.detach()[0, 0])),
        "game": game.to_dict(),
    }  # fmt: skip


def _mean_se(rows: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    a = np.asarray(rows, dtype=float)
    se = a.std(0, ddof=1) / math.sqrt(a.shape[0]) if a.shape[0] > 1 else np.zeros(a.shape[1])
    return a.mean(0), se


def _fmt(mean: float, se: float, digits: int = 3) -> str:
    return f"{mean:.{digits}g} ± {se:.2g}"


def _rotational_max_real(game: dict[str, Any]) -> float:
    """The largest real part among the complex eigenvalues (|Im| > 1e-9): the rotational modes of
    the G-D coupling, those of the Dirac-GAN's +-i f'(0); NaN when there are none."""
    re, im = np.asarray(game["eigenvalues_real"]), np.asarray(game["eigenvalues_imag"])
    rotational = re[np.abs(im) > 1e-9]
    return float(rotational.max()) if rotational.size else math.nan


def _plot(results: dict[str, list[dict[str, Any]]], config: NetworksConfig, out: Path) -> list[str]:
    import matplotlib.pyplot as plt

    from gantheory.plotting import save_figure, set_theme

    set_theme()
    colors = dict(zip(METHODS, plt.get_cmap("tab10").colors))
    markers = dict(zip(METHODS, ("o", "s", "^", "D", "v")))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for method, runs in results.items():
        steps = runs[0]["step"]
        for ax, key in zip(axes, ("distance", "jsd")):
            mean, se = _mean_se([r[key] for r in runs])
            ax.plot(steps, mean, color=colors[method], label=LABELS[method])
            ax.fill_between(steps, mean - se, mean + se, color=colors[method], alpha=0.2)
    axes[0].set(xlabel="iteration t", ylabel="||(mu, |w|) - (mu*, s*)||", yscale="log",
                title="G's distance to the equilibrium p_g = p_data")
    axes[1].set(xlabel="iteration t", ylabel="JSD(p_data || p_g) (nats, exact)", yscale="log",
                title="exact Jensen-Shannon divergence")
    axes[0].legend(title=f"mean ± s.e., {config.net_seeds} seeds")
    save_figure(fig, out / "networks_training.png")

    fig, ax = plt.subplots(figsize=(6.5, 5))
    for method, runs in results.items():
        re = np.concatenate([r["game"]["eigenvalues_real"] for r in runs])
        im = np.concatenate([r["game"]["eigenvalues_imag"] for r in runs])
        ax.scatter(re, im, s=22, alpha=0.6, color=colors[method], marker=markers[method],
                   facecolors="none", label=LABELS[method])
    ax.axvline(0.0, color="black", lw=0.8)
    ax.set(xlabel="Re λ", ylabel="Im λ", xscale="symlog", yscale="symlog",
           title="eigenvalues of J = dv/dθ at the final parameters\n"
                 "(v = -(∇_φ L_G, ∇_ψ L_D); Re λ < 0 attracts)")
    ax.set_xscale("symlog", linthresh=1e-3)
    ax.set_yscale("symlog", linthresh=1e-3)
    ax.legend(title="regulariser", fontsize=8)
    save_figure(fig, out / "networks_eigenvalues.png")
    return ["networks_training.png", "networks_eigenvalues.png"]


def networks_section(
    config: NetworksConfig, out: Path, *, device: str = "cpu", seed: int = 0, progress: bool = True
) -> Section:
    """Train the small GAN under each regulariser and seed; write two figures and
    ``networks.json`` into ``out``; return the :class:`Section` (table, notes, numbers)."""
    from tqdm.auto import tqdm

    if not isinstance(config, NetworksConfig):
        raise TypeError(f"config must be a NetworksConfig, got {type(config).__name__}")
    out = Path(out)
    jobs = [(m, seed + s) for m in config.net_methods for s in range(config.net_seeds)]
    results: dict[str, list[dict[str, Any]]] = {m: [] for m in config.net_methods}
    for method, run_seed in tqdm(jobs, desc="networks", disable=None if progress else True):
        results[method].append(_run(config, method, run_seed, device))
    figures = _plot(results, config, out)
    rows, summary = [], {}
    for method, runs in results.items():
        jsd = [r["jsd"][-1] for r in runs]
        dist = [r["distance"][-1] for r in runs]
        max_re = [r["game"]["max_real"] for r in runs]
        radius = [r["game"]["spectral_radius"] for r in runs]
        rotational = [_rotational_max_real(r["game"]) for r in runs]
        stats = {k: _mean_se([[v] for v in vals]) for k, vals in
                 (("jsd", jsd), ("distance", dist), ("max_real", max_re),
                  ("max_real_rotational", rotational), ("radius", radius))}
        summary[method] = {k: {"mean": float(m[0]), "se": float(s[0])} for k, (m, s) in stats.items()}
        rows.append(f"| {LABELS[method]} | " + " | ".join(
            _fmt(float(stats[k][0][0]), float(stats[k][1][0]), 6 if k == "radius" else 3)
            for k in ("jsd", "distance", "max_real", "max_real_rotational", "radius")
        ) + " |")  # fmt: skip
    table = (
        "| regulariser | final JSD (nats) | final distance | max Re λ(J) | max Re λ, Im λ ≠ 0 "
        f"| ρ(I + hJ), h = {config.net_lr:g} |\n"
        "|---|---|---|---|---|---|\n" + "\n".join(rows)
    )
    notes = (
        f"Affine G from N({config.net_g_loc:g}, {config.net_g_scale:g}²) against p_data = "
        f"N({config.net_data_mean:g}, {config.net_data_std:g}²), MLP D {config.net_d_widths} "
        f"(tanh), {config.net_loss} loss, SGD h = {config.net_lr:g}, {config.net_steps} "
        f"iterations, {config.net_seeds} seeds (mean ± s.e.). Weights: R1 γ = {config.net_r1:g}, "
        f"R2 γ = {config.net_r2:g}, consensus λ = {config.net_consensus:g}, instance noise "
        f"σ = {config.net_instance_noise:g} → 0 "
        "(linear). The Jacobian is that of the field each run followed, at its final parameters, "
        f"on {config.net_jacobian_samples} fixed samples; the distance is that of (mu, |w|) to "
        "(mu*, s*). Mescheder et al. 2018 (Theorem 4.1): with R1 or R2 the equilibrium is locally "
        "asymptotically stable (eigenvalues with negative real part, up to the zero eigenvalues "
        "of directions in which D does not change). At the end of minibatch SGD the players sit "
        "near, not at, a stationary point of the fixed-sample game: J keeps real eigenvalues of "
        "either sign (D's own curvature: its cost is not convex in every direction), so max Re λ "
        "is small and positive for every method; the complex pairs (the rotation of the G-D "
        "coupling, ±i f'(0) in the Dirac-GAN) are the modes the regularisers act on, and their "
        "largest real part is the column 'Im λ ≠ 0'."
    )
    numbers = {"config": asdict(config), "summary": summary, "runs": results}
    write_json(out / "networks.json", numbers)
    return Section(figures, [table], [notes], numbers)

