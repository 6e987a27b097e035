"""Which GAN training methods converge? The Dirac-GAN of Mescheder, Geiger & Nowozin 2018.

Mescheder et al. 2018 ("Which training methods for GANs do actually converge?", arXiv:1801.04406)
reduce the question to a GAN with p_data = δ_0, p_θ = δ_θ and D_ψ(x) = ψx, whose only equilibrium
is (θ, ψ) = (0, 0), and ask for each training method whether simultaneous or alternating gradient
descent with step h reaches it. Everything here comes from :mod:`gantheory.dirac`: the gradient
field of each variant, its Jacobian at the equilibrium and eigenvalues, the iteration matrices of
both integrators, their spectral radii, and trajectories.

The study is a list of sections, each a function that returns its figures, tables, notes and
numbers (:class:`studies.Section`); :func:`run` concatenates them. The sections now: (a) phase
portraits, one panel per variant (streamlines of v with a simultaneous and an alternating GD
trajectory, as in the Dirac-GAN figure of Mescheder et al. 2018 and their GAN_stability code);
(a') the spectral radius of both iterations against the step size h, with the stability bounds;
(b) the table of eigenvalues, spectral radius, verdict and measured distance for every variant,
step size and integrator; (c) real networks (:mod:`studies.convergence_networks`): a small GAN
with a known equilibrium trained under each regulariser of :mod:`gantheory.regularizers` over
several seeds (exact JSD and distance to the equilibrium along training, mean ± s.e.), and the
eigenvalues of the Jacobian of its joint gradient field at the end (:func:`gantheory.game_jacobian`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

import gantheory as gt
from gantheory.dirac import CONVERGED_FRACTION, GROWTH_FACTOR
from studies import Report, Section, check_config
from studies import convergence_networks as networks

SUMMARY = (
    "Which training methods converge: the Dirac-GAN (Mescheder et al. 2018), eigenvalues, "
    "spectral radii and phase portraits of nine GAN variants; R1, R2, consensus and instance "
    "noise on a small real GAN, with the eigenvalues of its game Jacobian"
)

VARIANT_LABELS = {
    "gan": "GAN (minimax)",
    "non_saturating": "non-saturating GAN",
    "wgan": "WGAN (clipping)",
    "wgan_gp": "WGAN-GP",
    "consensus": "consensus optimisation",
    "instance_noise": "instance noise",
    "r1": "R1 penalty",
    "r2": "R2 penalty",
    "gradient_regulariser": "Nagarajan & Kolter regulariser",
}


@dataclass
class Config(networks.NetworksConfig):
    """The Dirac-GAN's setup below; the real-network section's (``net_*``) in
    :class:`studies.convergence_networks.NetworksConfig`."""

    variants: tuple[str, ...] = tuple(gt.DIRAC_VARIANTS)  # all nine of gantheory.dirac
    clip: float = 1.0  # WGAN: |ψ| <= c (Mescheder et al. 2018, Section 3)
    wgan_gp_gamma: float = 1.0  # WGAN-GP: weight γ of (γ/2)(|ψ| − 1)²
    consensus_gamma: float = 1.0  # consensus optimisation: w = v − γ ∇½‖v‖²
    sigma: float = 1.0  # instance noise: N(0, σ²) added to data and samples
    r_gamma: float = 0.3  # R1 and R2: (γ/2) ψ²; below 2 f′(0) = 1, so the spiral shows
    eta: float = 1.0  # Nagarajan & Kolter: G descends V + η ‖∂_ψ V‖²
    step_sizes: tuple[float, ...] = (0.01, 0.1, 0.5, 1.5, 3.0)  # h of the table
    steps: int = 2000  # N: steps per trajectory of the table
    start: tuple[float, float] = (1.0, 1.0)  # (θ_0, ψ_0), as in GAN_stability's Dirac-GAN figure
    portrait_h: float = 0.1  # step of the trajectories drawn on the phase portraits
    portrait_steps: int = 600
    portrait_extent: float = 2.0  # the portraits show [−e, e]²
    portrait_grid: int = 41  # streamline grid per axis
    portrait_density: float = 1.0  # matplotlib streamplot density (streamlines per panel)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_config(
            self,
            positive=(
                "clip", "sigma", "step_sizes", "steps", "portrait_h", "portrait_steps",
                "portrait_extent", "portrait_grid", "portrait_density",
            ),
            non_negative=("wgan_gp_gamma", "consensus_gamma", "r_gamma", "eta"),
            choices={"variants": tuple(gt.DIRAC_VARIANTS)},
        )  # fmt: skip
        if any(not math.isfinite(float(s)) for s in self.start) or len(self.start) != 2:
            raise ValueError(f"start must be two finite numbers (θ_0, ψ_0), got {self.start!r}")


QUICK: dict[str, object] = {"step_sizes": (0.1, 1.5), "steps": 300, "portrait_steps": 300,
                            "portrait_grid": 25, "portrait_density": 0.6, **networks.QUICK}  # fmt: skip


def _game(name: str, config: Config) -> gt.DiracGAN:
    params = {
        "wgan": {"clip": config.clip},
        "wgan_gp": {"gamma": config.wgan_gp_gamma},
        "consensus": {"gamma": config.consensus_gamma},
        "instance_noise": {"sigma": config.sigma},
        "r1": {"gamma": config.r_gamma},
        "r2": {"gamma": config.r_gamma},
        "gradient_regulariser": {"eta": config.eta},
    }.get(name, {})
    return gt.dirac_gan(name, **params)


def _label(game: gt.DiracGAN) -> str:
    names = {"gamma": "γ", "sigma": "σ", "eta": "η", "clip": "c", "g0": "g₀"}
    params = ", ".join(f"{names[k]} = {v:g}" for k, v in game.params().items() if k != "g0")
    return VARIANT_LABELS[game.name] + (f" ({params})" if params else "")


# ---------------------------------------------------------------------------------------------
# (a) phase portraits


def _short_verdict(result: gt.Convergence) -> str:
    if result.basis == "trajectory":
        return f"{result.verdict} (trajectory)"
    return f"{result.verdict}, ρ = {result.spectral_radius:.4f}"


def _phase_portraits(config: Config, out: Path) -> Section:
    import matplotlib.pyplot as plt

    from gantheory.plotting import save_figure

    e, n = config.portrait_extent, config.portrait_grid
    axis = torch.linspace(-e, e, n, dtype=torch.float64)
    psi_grid, theta_grid = torch.meshgrid(axis, axis, indexing="ij")  # rows ψ, columns θ
    colours = {"simultaneous": "#d62728", "alternating": "#1f77b4"}
    cols = 3
    rows = math.ceil(len(config.variants) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 5.0 * rows), squeeze=False,
                             layout="constrained")  # fmt: skip
    numbers: dict[str, object] = {}
    for ax, name in zip(axes.flat, config.variants):
        game = _game(name, config)
        with torch.no_grad():
            v_theta, v_psi = game.field(theta_grid, psi_grid)
        ax.streamplot(axis.numpy(), axis.numpy(), v_theta.numpy(), v_psi.numpy(),
                      density=config.portrait_density,
                      color="#9a9a9a", linewidth=0.7, arrowsize=0.9)  # fmt: skip
        verdicts = {}
        for method in gt.DIRAC_METHODS:
            result = gt.analyse(game, h=config.portrait_h, method=method, start=config.start,
                                steps=config.portrait_steps, keep_trajectory=True)  # fmt: skip
            path = result.trajectory.numpy()
            shown = np.all(np.abs(path) <= 1.5 * e, axis=1)
            ax.plot(path[shown, 0], path[shown, 1], color=colours[method], lw=1.4,
                    label=f"{method} GD")  # fmt: skip
            verdicts[method] = _short_verdict(result)
            numbers[name] = {**numbers.get(name, {}), method: result.to_dict()}
        ax.plot(*config.start, "o", color="black", ms=5, label="start (θ₀, ψ₀)")
        ax.plot(0, 0, "*", color="#f4a261", mec="black", ms=16, label="equilibrium (0, 0)")
        ax.set(xlim=(-e, e), ylim=(-e, e), aspect="equal", xlabel="θ (generator)",
               ylabel="ψ (discriminator)")  # fmt: skip
        ax.set_title(f"{_label(game)}\nsimultaneous: {verdicts['simultaneous']}\n"
                     f"alternating: {verdicts['alternating']}", fontsize=11)  # fmt: skip
    for ax in axes.flat[len(config.variants) :]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4, fontsize=11, frameon=False)
    fig.suptitle(f"Dirac-GAN: gradient field v(θ, ψ) and gradient descent with h = "
                 f"{config.portrait_h:g}, {config.portrait_steps} steps", fontsize=14)  # fmt: skip
    save_figure(fig, out / "phase_portraits.png")
    return Section(figures=["phase_portraits.png"], numbers={"phase_portraits": numbers})


# ---------------------------------------------------------------------------------------------
# (a') the spectral radius of each iteration against the step size


def _radius_curves(config: Config, out: Path) -> Section:
    import matplotlib.pyplot as plt

    from gantheory.plotting import save_figure

    h_max = 1.2 * max(config.step_sizes)
    hs = np.linspace(h_max / 400, h_max, 400)
    # tr A and det A of both iterations depend on J only through tr J, J_θθ J_ψψ and J_θψ J_ψθ:
    # variants that agree on these share a curve (and one label)
    groups: dict[tuple[float, ...], list[gt.DiracGAN]] = {}
    for name in config.variants:
        game = _game(name, config)
        if game.smooth:
            (j11, j12), (j21, j22) = game.jacobian().tolist()
            key = tuple(round(x, 12) for x in (j11 + j22, j11 * j22, j12 * j21))
            groups.setdefault(key, []).append(game)
    palette = plt.get_cmap("tab10").colors
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True, layout="constrained")
    curves: dict[str, dict[str, list[float]]] = {}
    for ax, method in zip(axes, gt.DIRAC_METHODS):
        for colour, games in zip(palette, groups.values()):
            game = games[0]
            rho = [gt.spectral_radius(gt.iteration_matrix(game, float(h), method)) for h in hs]
            for g in games:
                curves.setdefault(g.name, {})[method] = rho
            ax.plot(hs, rho, color=colour, lw=1.8, label=" ≡ ".join(_label(g) for g in games))
            bound = gt.stability_bound(game, method)
            if 0 < bound < h_max:
                ax.plot(bound, 1.0, "o", color=colour, ms=7, mec="black", mew=0.7)
        ax.axhline(1.0, color="black", lw=0.9, zorder=0.5)
        ax.set(xlabel="step size h", ylim=(0.0, 1.6), xlim=(0, h_max),
               title=f"{method} GD: ρ(iteration matrix); ● = stability bound h̄")  # fmt: skip
    axes[0].set_ylabel("spectral radius ρ  (< 1: converges locally)")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, fontsize=10, frameon=False)
    fig.suptitle("Dirac-GAN: spectral radius of the iteration linearised at the equilibrium "
                 "(≡: the same linearisation)", fontsize=13)  # fmt: skip
    save_figure(fig, out / "spectral_radius.png")
    return Section(
        figures=["spectral_radius.png"],
        numbers={"spectral_radius_curves": {"h": hs.tolist(), "rho": curves}},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------
# (b) the table: every variant x step size x integrator


def _eigen_text(pairs: list[list[float]] | None) -> str:
    if pairs is None:
        return "none (v not differentiable at 0)"
    return ", ".join(f"{re:.4g} {'+' if im >= 0 else '−'} {abs(im):.4g}i" for re, im in pairs)


def _bound_text(bound: dict[str, float] | None) -> str:
    if bound is None:
        return "—"
    return " / ".join(f"{bound[m]:.4g}" for m in gt.DIRAC_METHODS)


def _convergence_table(config: Config) -> Section:
    results: list[gt.Convergence] = []
    bounds: dict[str, dict[str, float] | None] = {}
    for name in config.variants:
        game = _game(name, config)
        bounds[name] = None if game.jacobian() is None else {
            method: gt.stability_bound(game, method) for method in gt.DIRAC_METHODS
        }  # fmt: skip
        for h in config.step_sizes:
            for method in gt.DIRAC_METHODS:
                results.append(gt.analyse(game, h=float(h), method=method, start=config.start,
                                          steps=config.steps))  # fmt: skip
    by = {(r.variant, r.h, r.method): r for r in results}
    rows = [
        "| variant | eigenvalues of J(0, 0) | h̄ sim. / alt. | h | sim. GD: ρ | verdict | "
        f"‖x_N‖, N = {config.steps} | alt. GD: ρ | verdict | ‖x_N‖ |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in config.variants:
        game, bound = _game(name, config), bounds[name]
        for h in config.step_sizes:
            cells = []
            for method in gt.DIRAC_METHODS:
                r = by[(name, float(h), method)]
                rho = "—" if r.spectral_radius is None else f"{r.spectral_radius:.6f}"
                basis = " (trajectory)" if r.basis == "trajectory" else ""
                cells.append(f"{rho} | {r.summary}{basis} | {r.distance_end:.3g}")
            rows.append(
                f"| {_label(game)} | {_eigen_text(by[(name, float(h), 'simultaneous')].eigenvalues)} | "
                f"{_bound_text(bound)} | {h:g} | " + " | ".join(cells) + " |"
            )
    notes = _table_notes(config, results, bounds)
    return Section(
        tables=["\n".join(rows)], notes=notes,
        numbers={"table": [r.to_dict() for r in results], "stability_bounds": bounds},
    )  # fmt: skip


def _table_notes(
    config: Config, results: list[gt.Convergence], bounds: dict[str, dict[str, float] | None]
) -> list[str]:
    by = {(r.variant, r.h, r.method): r for r in results}
    small = min(config.step_sizes)
    notes = []
    for method in gt.DIRAC_METHODS:
        conv = [v for v in config.variants if by[(v, small, method)].verdict == "converges"]
        rest = [f"{v} ({by[(v, small, method)].verdict})" for v in config.variants if v not in conv]
        notes.append(
            f"With h = {small:g} and {method} GD, these converge: {', '.join(conv) or 'none'}; "
            f"these do not: {', '.join(rest) or 'none'}."
        )
    if "gan" in config.variants:
        r = by[("gan", small, "simultaneous")]
        alt = by[("gan", small, "alternating")]
        notes.append(
            f"Unregularised GAN, simultaneous GD, h = {small:g}: ρ = {r.spectral_radius:.10f} = "
            f"√(1 + h²f′(0)²) = {math.sqrt(1 + small**2 / 4):.10f}; from {tuple(config.start)} the "
            f"linearisation predicts a distance of {r.distance_start * r.spectral_radius**r.steps:.4g}"
            f" after {r.steps} steps, the trajectory has {r.distance_end:.4g}"
            + (
                " (the linearisation holds near (0, 0) only; along this trajectory f′(ψθ) ≠ f′(0))"
                if abs(r.distance_end / (r.distance_start * r.spectral_radius**r.steps) - 1) > 0.05
                else ""
            )
            + ". Alternating GD: ρ = "
            f"{alt.spectral_radius:.12f}, distance {alt.distance_start:.3g} → {alt.distance_end:.3g}"
            f": {alt.verdict}."
        )
    for method in gt.DIRAC_METHODS:
        stable = {v: bounds[v][method] for v in config.variants if bounds[v] and bounds[v][method]}
        above = [
            f"{v} (h̄ = {bound:.3g}, at h = {h:g}: {by[(v, h, method)].summary})"
            for v, bound in stable.items() for h in config.step_sizes if h > bound
        ]  # fmt: skip
        below = [
            v for v, bound in stable.items()
            if all(by[(v, h, method)].verdict == "converges" for h in config.step_sizes if h < bound)
        ]  # fmt: skip
        text = f"{method.capitalize()} GD: below its stability bound h̄ "
        text += "(min −2 Re λ / |λ|²)" if method == "simultaneous" else "(Jury's criterion on A)"
        text += f" it converges for every step size tried for {', '.join(below) or 'none'}"
        text += (
            "; above it: " + "; ".join(above) + "."
            if above
            else "; no step size tried is above it."
        )
        notes.append(text)
    pulled_back = [
        f"{r.variant} ({r.method[:3]}., h = {r.h:g}: ρ = {r.spectral_radius:.5f}, distance "
        f"{r.distance_start:.3g} → {r.distance_end:.3g})"
        for r in results
        if r.verdict == "diverges" and r.basis == "linearisation"
        and r.distance_end < r.distance_start
    ]  # fmt: skip
    if pulled_back:
        notes.append(
            "Locally unstable (ρ > 1), yet closer to the equilibrium after N steps than at the "
            "start: " + "; ".join(pulled_back) + ". Far from (0, 0) the nonlinear field pulls the "
            "iterate in, near it the linear part pushes it out, so it cannot settle on the "
            "equilibrium (the verdict is local, as in the paper)."
        )
    slow = sorted(
        {f"{r.variant} ({r.method[:3]}.)" for r in results if r.verdict == "shrinks slowly"}
    )
    if slow:
        notes.append(
            "Shrinking slowly with ρ = 1 (no geometric rate; the nonlinear terms decide, so this "
            "is not local convergence in the paper's sense): " + ", ".join(slow) + "."
        )
    decided = [r for r in results if r.basis == "linearisation"]
    notes.append(
        f"{len(decided)} of the {len(results)} runs are decided by the spectral radius ρ of the "
        "linearised iteration (local behaviour); the others (ρ = 1, clipping, WGAN-GP's kink) by "
        f"the trajectory from {tuple(config.start)}: converged if ‖x_N‖ < "
        f"{CONVERGED_FRACTION:g} ‖x_0‖, diverging if its distance still grows by "
        f"{GROWTH_FACTOR:g}× from the first half to the second, shrinking slowly if it falls "
        f"by {GROWTH_FACTOR:g}×, cycling otherwise. The "
        "tests check each ρ against the rate of a trajectory started 1e-6 from the equilibrium "
        "(to 1e-8)."
    )
    return notes


PUBLISHED = (
    "Mescheder, Geiger & Nowozin 2018 (arXiv:1801.04406): Section 2: for the "
    "Dirac-GAN the unregularised GAN's Jacobian at the equilibrium has eigenvalues ±f′(0)i, and "
    "neither simultaneous nor alternating gradient descent converges: simultaneous GD moves away "
    "from the equilibrium (every step multiplies the distance by at least √(1 + h² f′(0)²)), "
    "alternating GD cycles around it. Section 3: WGAN and WGAN-GP (with a finite number of D "
    "updates per G update) are "
    "not locally convergent in general; instance noise, zero-centred gradient "
    "penalties and the methods of Mescheder et al. 2017 (consensus optimisation, "
    "arXiv:1705.10461) and Nagarajan & Kolter 2017 (arXiv:1706.04156) are, for small enough h. "
    "Section 4, Theorem 4.1: R1 and R2 make the GAN locally convergent; on the Dirac-GAN the "
    "eigenvalues are −γ/2 ± √(γ²/4 − f′(0)²)."
)


def _published_check(config: Config, table: list[dict[str, object]]) -> str:
    """Ours beside theirs: one line per claim, the verdicts found at the smallest step size."""
    small = min(config.step_sizes)
    got = {
        (r["variant"], r["method"]): r["summary"] for r in table if r["h"] == small
    }  # fmt: skip
    claims = {
        "gan": "not convergent (Section 2)", "non_saturating": "not convergent (Section 3)",
        "wgan": "not convergent (Section 3)", "wgan_gp": "not convergent (Section 3)",
        "consensus": "convergent (Section 3; Mescheder et al. 2017)",
        "instance_noise": "convergent (Section 3)", "r1": "convergent (Theorem 4.1)",
        "r2": "convergent (Theorem 4.1)",
        "gradient_regulariser": "convergent (Section 3; Nagarajan & Kolter 2017)",
    }  # fmt: skip
    rows = [f"| variant | Mescheder et al. 2018 | ours, sim. GD, h = {small:g} | ours, alt. GD |",
            "|---|---|---|---|"]  # fmt: skip
    for v in config.variants:
        rows.append(
            f"| {v} | {claims[v]} | {got[(v, 'simultaneous')]} | {got[(v, 'alternating')]} |"
        )
    return PUBLISHED + "\n\n" + "\n".join(rows)


# ---------------------------------------------------------------------------------------------


def run(
    config: Config, out: Path, *, device: str = "auto", seed: int = 0, progress: bool = True
) -> Report:
    """Run the sections (the Dirac-GAN's are deterministic; ``device`` and ``seed`` are those of
    the real networks' training runs, seeds ``seed``, ``seed + 1``, ...); write the figures and
    numbers.json (with the real networks' runs also in networks.json)."""
    from gantheory.io import write_json
    from gantheory.plotting import set_theme

    out = Path(out)
    set_theme()
    sections = [
        _phase_portraits(config, out), _radius_curves(config, out), _convergence_table(config),
        networks.networks_section(config, out, device=device, seed=seed, progress=progress),
    ]  # fmt: skip
    numbers: dict[str, object] = {"config": asdict(config)}
    for section in sections:
        numbers.update(section.numbers)
    write_json(out / "numbers.json", numbers)
    return Report(
        title="Which training methods for GANs converge? The Dirac-GAN and small real GANs",
        figures=[f for s in sections for f in s.figures],
        tables=[t for s in sections for t in s.tables],
        published=_published_check(config, numbers["table"]),
        notes="\n".join(f"- {n}" for s in sections for n in s.notes),
    )
