"""D converges to 1/2: Figure 1 of Goodfellow et al. 2014 (arXiv:1406.2661), by real training.

The paper's Figure 1 sketches a GAN near convergence in 1D: the data density p_data, the generator
density p_g and the discriminator D, which approaches the optimum D*(x) = p_data(x) / (p_data(x) +
p_g(x)) (Proposition 1); once p_g = p_data, D = 1/2 everywhere and C(G) = max_D V(D, G) reaches its
global minimum -log 4 (Theorem 1). The figure is a drawing; here the same picture comes out of
Algorithm 1 run for real, with the exact D* beside the learned D at every panel.

Setups (ours; the paper gives no numbers for its figure):

- 1D: p_data = N(1, 0.5^2); G the affine generator G(z) = mu + w z, z ~ N(0, 1), started at
  N(-1, 0.3^2), so p_g = N(mu, w^2) exactly; D an MLP (2 x 32 ReLU); SGD with momentum 0.5 (the
  paper's optimiser), m = 128, k = 3, learning rate 0.05 decaying exponentially to 0.005. (With
  k = 1 the affine G overshoots and its scale w collapses to ~0.03 before recovering: D lags D*.)
- 2D: p_data = an equal mixture of N((+-1.25, 0), 0.5^2 I); G an affine-coupling flow
  (:class:`gantheory.CouplingFlowGenerator`: 4 coupling layers, conditioners 2 x 32 tanh,
  log-scales within +-2) run from N(0, I) noise, so p_g is exact; D an MLP (2 x 32 ReLU); Adam
  (beta1 = 0.5) with learning rates 5e-3 (D) and 2e-3 (G) decaying to 2% of that, m = 512, k = 3.

Recorded along training (:func:`gantheory.train`, exact_method "auto"), in 1D and 2D:
JSD(p_data || p_g) and C(G) = V(D*, G), each an adaptive quadrature with its error bound (in 2D
the expectations under p_g are taken in the flow's base space, :mod:`gantheory._expectations`),
so that Theorem 1, C(G) = -log 4 + 2 JSD, is checked at every record; E_{(p_data + p_g)/2}
|D - D*| and V(D*, G) - V(D, G) >= 0, with their error estimates.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

import gantheory as gt
from gantheory.io import write_json
from studies import Report, check_config

SUMMARY = (
    "D converges to 1/2: Figure 1 of Goodfellow et al. 2014 by real training, learned D beside the "
    "exact D* (1D affine and 2D flow generators)"
)


@dataclass
class Config:
    """The study's setup (ours: the paper's Figure 1 is a sketch without numbers)."""

    def __post_init__(self) -> None:
        check_config(
            self,
            positive=(
                "std_1d", "g_scale_1d", "d_widths_1d", "steps_1d", "batch_1d", "k_1d", "lr_1d",
                "lr_final_1d", "record_every_1d", "std_2d", "flow_transforms", "flow_hidden",
                "flow_max_log_scale",
                "d_widths_2d", "steps_2d", "batch_2d", "k_2d", "lr_d_2d", "lr_g_2d",
                "lr_final_2d", "record_every_2d", "max_d_error_1d", "max_mean_d_offset_1d",
                "max_jsd_1d", "max_d_error_2d", "view_frames", "gif_frames",
            ),
            fractions=("momentum_1d", "panels_1d", "panels_2d"),
            choices={"loss_1d": gt.GENERATOR_LOSSES},
        )
        if not isinstance(self.view, bool):
            raise ValueError(f"view must be true or false, got {self.view!r}")
        if self.momentum_1d >= 1:
            raise ValueError(f"momentum_1d must be in [0, 1), got {self.momentum_1d}")

    # 1D: p_data = N(mean_1d, std_1d^2); G affine, started at N(g_loc_1d, g_scale_1d^2)
    mean_1d: float = 1.0
    std_1d: float = 0.5
    g_loc_1d: float = -1.0
    g_scale_1d: float = 0.3
    d_widths_1d: tuple[int, ...] = (32, 32)
    loss_1d: str = "non_saturating"  # G's cost: -log D(G(z)), the paper's practical choice
    steps_1d: int = 1500  # generator updates
    batch_1d: int = 128  # m
    k_1d: int = 3  # D steps per G step (k = 1 in the paper's runs; 3 keeps D near D* here)
    lr_1d: float = 0.05  # SGD, both players
    momentum_1d: float = 0.5
    lr_final_1d: float = 0.1  # learning-rate factor reached at the last step
    record_every_1d: int = 50
    panels_1d: tuple[float, ...] = (0.0, 0.02, 0.1, 1.0)  # panel times, fractions of steps_1d
    # 2D: p_data = (N((-modes_2d, 0), std_2d^2 I) + N((modes_2d, 0), std_2d^2 I)) / 2; G a flow
    modes_2d: float = 1.25
    std_2d: float = 0.5
    flow_transforms: int = 4  # coupling layers (2 transform each coordinate once)
    flow_hidden: tuple[int, ...] = (32, 32)
    flow_max_log_scale: float = 2.0  # each log-scale within +-this (a stretch of e^2 at most)
    d_widths_2d: tuple[int, ...] = (32, 32)
    steps_2d: int = 1500
    batch_2d: int = 512
    k_2d: int = 3
    lr_d_2d: float = 5e-3  # Adam, beta1 = 0.5
    lr_g_2d: float = 2e-3  # 1e-2 tears the flow: a thin bridge of p_g between the modes
    lr_final_2d: float = 0.02
    record_every_2d: int = 100
    panels_2d: tuple[float, ...] = (0.0, 0.1, 1.0)
    # the acceptance thresholds (issue 4, "Done when")
    max_d_error_1d: float = 0.02
    max_mean_d_offset_1d: float = 0.02
    max_jsd_1d: float = 1e-3
    max_d_error_2d: float = 0.05
    # the training view (gantheory.view): recording_1d/2d.json, view.html and one GIF per run
    view: bool = True
    view_frames: int = 100  # at most this many recorded frames per run (the page's size)
    gif_frames: int = 40  # at most this many frames per GIF


QUICK: dict[str, object] = {
    "steps_1d": 300,
    "record_every_1d": 25,
    "steps_2d": 100,
    "batch_2d": 256,
    "record_every_2d": 25,
}

BOX_1D = (-1.5, 3.0)
BOX_2D = (-3.0, 3.0)


@dataclass
class _Panel:
    step: int
    grid: gt.DiscriminatorGrid
    d_error: float
    jsd: float
    jsd_error: float


def _panel_steps(fractions: tuple[float, ...], steps: int) -> list[int]:
    out = sorted({min(steps, max(0, round(f * steps))) for f in fractions})
    if any(not 0.0 <= f <= 1.0 for f in fractions):
        raise ValueError(f"panel fractions must lie in [0, 1], got {fractions}")
    return out


def _train(
    p_data: torch.distributions.Distribution,
    G: torch.nn.Module,
    D: torch.nn.Module,
    config: gt.TrainConfig,
    panels: list[int],
    box: tuple[list[float], list[float]],
    n_grid: int,
    progress: bool,
    recorder: gt.TrainingRecorder | None,
) -> tuple[gt.TrainResult, list[_Panel]]:
    shots: list[_Panel] = []

    def shoot(step: int, G: torch.nn.Module, D: torch.nn.Module) -> None:
        if step in panels:
            with torch.no_grad():
                p_g = G.distribution(torch.float64, "cpu")
            grid = gt.discriminator_grid(D, p_data, p_g, n=n_grid, box=box)
            err = gt.discriminator_error(D, p_data, p_g, c_g="grid")
            jsd = gt.jsd(p_data, p_g)
            shots.append(_Panel(step, grid, err.mean_abs_error, float(jsd), jsd.error))

    def callback(step: int, G: torch.nn.Module, D: torch.nn.Module) -> None:
        shoot(step, G, D)
        if recorder is not None:
            recorder(step, G, D)

    callback(0, G.to(torch.float32), D.to(torch.float32))
    result = gt.train(p_data, G, D, config, progress=progress, callback=callback)
    return result, shots


def run(
    config: Config, out: Path, *, device: str = "cpu", seed: int = 0, progress: bool = True
) -> Report:
    """Train the 1D and 2D GANs, draw ``optimal_discriminator_1d.png``,
    ``optimal_discriminator_2d.png`` and ``optimal_discriminator_curves.png``, write
    ``numbers.json`` into ``out``; with ``view`` also the recordings ``recording_1d.json`` and
    ``recording_2d.json``, the page ``view.html`` (:mod:`gantheory.view`) and a GIF per run. The networks are tiny: on the CPU one thread is fastest (two
    threads on two cores spin-wait: 17 s against 0.9 s of CPU time for 800 steps of the 1D run),
    which is ``gantheory run``'s default."""
    return _run(config, Path(out), device, seed, progress)


def _run(config: Config, out: Path, device: str, seed: int, progress: bool) -> Report:
    start = time.perf_counter()
    streams = gt.random_streams(seed)

    p_1d = gt.gaussian(config.mean_1d, config.std_1d)
    G_1d = gt.AffineGenerator(1, loc=config.g_loc_1d, scale=config.g_scale_1d)
    D_1d = gt.mlp_discriminator(1, widths=config.d_widths_1d, generator=streams.init)
    cfg_1d = gt.TrainConfig(
        steps=config.steps_1d, k=config.k_1d, batch_size=config.batch_1d, loss=config.loss_1d,
        optimizer="sgd", lr_d=config.lr_1d, lr_g=config.lr_1d, momentum=config.momentum_1d,
        lr_final=config.lr_final_1d, record_every=config.record_every_1d, exact_method="auto",
        device=device, seed=seed,
    )  # fmt: skip
    panels_1d = _panel_steps(config.panels_1d, config.steps_1d)
    box_1d = ([BOX_1D[0]], [BOX_1D[1]])
    rec_1d = _recorder(config, p_1d, cfg_1d, box_1d, seed)
    result_1d, shots_1d = _train(
        p_1d, G_1d, D_1d, cfg_1d, panels_1d, box_1d, 400, progress, rec_1d
    )
    time_1d = time.perf_counter() - start

    p_2d = gt.mixture([[-config.modes_2d, 0.0], [config.modes_2d, 0.0]], config.std_2d)
    G_2d = gt.CouplingFlowGenerator(
        2, transforms=config.flow_transforms, hidden=config.flow_hidden,
        max_log_scale=config.flow_max_log_scale, generator=streams.init,
    )  # fmt: skip
    D_2d = gt.mlp_discriminator(2, widths=config.d_widths_2d, generator=streams.init)
    cfg_2d = gt.TrainConfig(
        steps=config.steps_2d, k=config.k_2d, batch_size=config.batch_2d, loss="non_saturating",
        optimizer="adam", lr_d=config.lr_d_2d, lr_g=config.lr_g_2d, betas=(0.5, 0.999),
        lr_final=config.lr_final_2d, record_every=config.record_every_2d, exact_method="auto",
        device=device, seed=seed,
    )  # fmt: skip
    panels_2d = _panel_steps(config.panels_2d, config.steps_2d)
    box_2d = ([BOX_2D[0]] * 2, [BOX_2D[1]] * 2)
    rec_2d = _recorder(config, p_2d, cfg_2d, box_2d, seed)
    result_2d, shots_2d = _train(
        p_2d, G_2d, D_2d, cfg_2d, panels_2d, box_2d, 80, progress, rec_2d
    )
    time_2d = time.perf_counter() - start - time_1d

    h1, h2 = result_1d.history, result_2d.history
    final = {
        "1d": {
            "jsd": h1.jsd[-1], "jsd_error": h1.jsd_error[-1],
            "c_g": h1.c_g[-1], "c_g_error": h1.c_g_error[-1],
            "d_error": h1.d_error[-1], "d_error_bound": h1.d_error_bound[-1],
            "mean_d_data": h1.mean_d_data[-1], "mean_d_data_error": h1.mean_d_data_error[-1],
            "value_gap": h1.value_gap[-1], "value_gap_error": h1.value_gap_error[-1],
            "g_loc": float(G_1d.loc.detach()), "g_scale": float(G_1d.weight.detach().abs()),
        },
        "2d": {
            "jsd": h2.jsd[-1], "jsd_error": h2.jsd_error[-1],
            "c_g": h2.c_g[-1], "c_g_error": h2.c_g_error[-1],
            "d_error": h2.d_error[-1], "d_error_bound": h2.d_error_bound[-1],
            "mean_d_data": h2.mean_d_data[-1], "mean_d_data_error": h2.mean_d_data_error[-1],
            "value_gap": h2.value_gap[-1], "value_gap_error": h2.value_gap_error[-1],
        },
    }  # fmt: skip
    checks = _checks(config, final, h1, h2)
    numbers: dict[str, Any] = {
        "config": asdict(config),
        "seed": seed,
        "device": str(gt.resolve_device(device)),
        "seconds": {"1d": time_1d, "2d": time_2d},
        "final": final,
        "checks": checks,
        "history_1d": h1.to_dict(),
        "history_2d": h2.to_dict(),
        "panels_1d": [_panel_dict(s) for s in shots_1d],
        "panels_2d": [_panel_dict(s) for s in shots_2d],
    }
    write_json(out / "numbers.json", numbers)

    draw_panels_1d(out / "optimal_discriminator_1d.png", shots_1d)
    draw_panels_2d(out / "optimal_discriminator_2d.png", shots_2d)
    draw_curves(out / "optimal_discriminator_curves.png", h1, h2, config)
    views = _write_views(out, config, rec_1d, rec_2d, h1, h2)
    return Report(
        title="D converges to 1/2 (Goodfellow et al. 2014, Figure 1)",
        figures=[
            "optimal_discriminator_1d.png",
            "optimal_discriminator_2d.png",
            "optimal_discriminator_curves.png",
        ],
        tables=[_table(final, checks, config)],
        published=(
            "Goodfellow et al. 2014 (arXiv:1406.2661), Figure 1 (a sketch, no numbers): D "
            "approaches D* = p_data / (p_data + p_g) (Proposition 1) and, once p_g = p_data, "
            "D = 1/2 everywhere; C(G) = -log 4 + 2 JSD(p_data || p_g) reaches its minimum "
            "-log 4 = -1.3863 (Theorem 1)."
        ),
        notes=_notes(final, checks, time_1d, time_2d),
        views=views,
    )


def _recorder(
    config: Config,
    p_data: torch.distributions.Distribution,
    train_config: gt.TrainConfig,
    box: tuple[list[float], list[float]],
    seed: int,
) -> gt.TrainingRecorder | None:
    if not config.view:
        return None
    return gt.TrainingRecorder(p_data, train_config, max_frames=config.view_frames, box=box,
                               seed=seed)  # fmt: skip


def _write_views(
    out: Path,
    config: Config,
    rec_1d: gt.TrainingRecorder | None,
    rec_2d: gt.TrainingRecorder | None,
    h1: gt.History,
    h2: gt.History,
) -> list[str]:
    """The recordings, ``view.html`` (gantheory view) and a GIF per run; their file names."""
    if rec_1d is None or rec_2d is None:
        return []
    runs = [
        (f"recording_{name}.json", f"optimal_discriminator_{name}.gif", rec, history, title)
        for name, rec, history, title in (
            ("1d", rec_1d, h1, "1D: affine G, p_data = N(1, 0.5^2)"),
            ("2d", rec_2d, h2, "2D: flow G, p_data = mixture of two Gaussians"),
        )
    ]
    return gt.write_run_views(
        out, runs, title="D converges to 1/2: learned D beside the exact D*",
        gif_frames=config.gif_frames,
    )  # fmt: skip


def _panel_dict(shot: _Panel) -> dict[str, Any]:
    g = shot.grid
    return {
        "step": shot.step, "d_error": shot.d_error, "jsd": shot.jsd, "jsd_error": shot.jsd_error, "axes": g.axes,
        "D": g.d, "D_star": g.d_star, "p_data": g.p_data, "p_g": g.p_g,
    }  # fmt: skip


def _checks(
    config: Config, final: dict[str, dict[str, float]], h1: gt.History, h2: gt.History
) -> dict[str, dict[str, Any]]:
    """The issue's acceptance criteria, each with the value, its error and the threshold."""
    f1, f2 = final["1d"], final["2d"]

    def row(value: float, error: float, threshold: float) -> dict[str, Any]:
        return {"value": value, "error": error, "threshold": threshold, "passed": value < threshold}

    identity = max(
        abs(c - (-math.log(4.0) + 2 * j)) - (ce + 2 * je)
        for h in (h1, h2)
        for c, ce, j, je in zip(h.c_g, h.c_g_error, h.jsd, h.jsd_error)
    )
    gap = max(-g - e for h in (h1, h2) for g, e in zip(h.value_gap, h.value_gap_error))
    return {
        "1d mean |D - D*|": row(f1["d_error"], f1["d_error_bound"], config.max_d_error_1d),
        "1d |mean D - 1/2| over p_data": row(
            abs(f1["mean_d_data"] - 0.5), f1["mean_d_data_error"], config.max_mean_d_offset_1d
        ),
        "1d JSD(p_data || p_g)": row(f1["jsd"], f1["jsd_error"], config.max_jsd_1d),
        "2d mean |D - D*|": row(f2["d_error"], f2["d_error_bound"], config.max_d_error_2d),
        "C(G) = -log 4 + 2 JSD beyond the errors, max over records": row(identity, 0.0, 1e-12),
        "V(D, G) - V(D*, G) beyond the errors, max over records": row(gap, 0.0, 1e-12),
    }


def _table(final: dict[str, dict[str, float]], checks: dict[str, Any], config: Config) -> str:
    lines = [
        "| quantity (final step) | 1D (affine G) | 2D (flow G) |",
        "|---|---|---|",
    ]
    for key, label in (
        ("jsd", "JSD(p_data ‖ p_g)"),
        ("c_g", "C(G) (−log 4 = −1.386294)"),
        ("d_error", "E_M \\|D − D*\\|"),
        ("mean_d_data", "E_pdata[D]"),
        ("value_gap", "V(D*, G) − V(D, G)"),
    ):
        err_key = "d_error_bound" if key == "d_error" else f"{key}_error"
        cells = [f"{final[d][key]:.6g} ± {final[d][err_key]:.1g}" for d in ("1d", "2d")]
        lines.append(f"| {label} | {cells[0]} | {cells[1]} |")
    lines += ["", "| acceptance check | value | threshold | passed |", "|---|---|---|---|"]
    for name, c in checks.items():
        label = name.replace("|", "\\|")
        lines.append(f"| {label} | {c['value']:.3g} | {c['threshold']:.3g} | {c['passed']} |")
    return "\n".join(lines)


def _notes(
    final: dict[str, dict[str, float]], checks: dict[str, Any], time_1d: float, time_2d: float
) -> str:
    f1, f2 = final["1d"], final["2d"]
    failed = [name for name, c in checks.items() if not c["passed"]]
    verdict = (
        "Every acceptance check passes."
        if not failed
        else f"Checks NOT met in this run: {'; '.join(failed)}."
    )
    return (
        f"In 1D the affine generator ends at N({f1['g_loc']:.3f}, {f1['g_scale']:.3f}^2) against "
        f"p_data = N(1, 0.5^2): JSD = {f1['jsd']:.2g}, the learned D is within "
        f"{f1['d_error']:.3f} of D* on average and E_pdata[D] = {f1['mean_d_data']:.3f}. "
        "The early panels show what the paper's sketch assumes away: D takes a few steps per G "
        "step, so it lags D* while p_g moves. "
        f"In 2D the coupling flow reaches JSD = {f2['jsd']:.3g} ± {f2['jsd_error']:.1g} and mean |D − D*| = "
        f"{f2['d_error']:.3f}. C(G) and −log 4 + 2 JSD agree within their error bounds at every "
        "record (two separate integrals), and V(D, G) ≤ V(D*, G) holds at every record (value gaps in numbers.json). "
        f"{verdict} Run time: {time_1d:.0f} s (1D), {time_2d:.0f} s (2D)."
    )


# --- figures -----------------------------------------------------------------------------------


def draw_panels_1d(path: Path, shots: list[_Panel]) -> None:
    """Figure 1 of the paper, for real: p_data, p_g, the learned D and D* at several steps."""
    import matplotlib.pyplot as plt

    from gantheory.plotting import COLORS, save_figure, set_theme

    set_theme()
    fig, axes = plt.subplots(1, len(shots), figsize=(3.6 * len(shots), 3.2), sharey=True)
    top = 1.25 * float(max(s.grid.p_data.max() for s in shots))
    for ax, shot in zip(axes, shots):
        g, x = shot.grid, shot.grid.axes[0].numpy()
        ax.set_ylim(0, top)
        if float(g.p_g.max()) > top:
            ax.text(0.02, 0.95, f"p_g peaks at {float(g.p_g.max()):.3g} (clipped)",
                    transform=ax.transAxes, fontsize=7, va="top")  # fmt: skip
        ax.plot(x, g.p_data.numpy(), color=COLORS["p_data"], lw=1.6, label="p_data(x)")
        ax.plot(x, g.p_g.numpy(), color=COLORS["p_g"], lw=1.6, label="p_g(x)")
        twin = ax.twinx()
        twin.plot(x, g.d_star.numpy(), color=COLORS["D*"], lw=1.4, ls="--", label="D*(x)")
        twin.plot(x, g.d.numpy(), color=COLORS["D"], lw=1.6, label="D(x) (learned)")
        twin.axhline(0.5, color="0.6", lw=0.8, ls=":")
        twin.set_ylim(0, 1.02)
        twin.grid(False)
        if ax is not axes[-1]:
            twin.set_yticklabels([])
        else:
            twin.set_ylabel("D(x), D*(x)")
        ax.set_title(f"step {shot.step}: JSD = {shot.jsd:.3g} ± {shot.jsd_error:.0e}\nmean |D − D*| = {shot.d_error:.3f}")
        ax.set_xlabel("x")
    axes[0].set_ylabel("density")
    handles = axes[0].get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
    labels = axes[0].get_legend_handles_labels()[1] + twin.get_legend_handles_labels()[1]
    fig.legend(handles, labels, loc="upper center", ncol=4, bbox_to_anchor=(0.5, -0.02))
    fig.suptitle("1D: D* = p_data / (p_data + p_g) and the learned D along training", y=1.1)
    save_figure(fig, path)


def draw_panels_2d(path: Path, shots: list[_Panel]) -> None:
    """The 2D version: learned D (top) and D* (bottom), with contours of p_data and p_g."""
    import matplotlib.pyplot as plt
    import numpy as np

    from gantheory.plotting import COLORS, save_figure, set_theme

    set_theme()
    fig, axes = plt.subplots(2, len(shots), figsize=(3.4 * len(shots), 7.0), squeeze=False)
    image = None
    for j, shot in enumerate(shots):
        g = shot.grid
        x, y = g.axes[0].numpy(), g.axes[1].numpy()
        # D* is a ratio of two vanishing densities far from both: shown where M > 1e-3 max M
        m = 0.5 * (g.p_data + g.p_g)
        outside = (m < 1e-3 * m.max()).numpy().T
        for i, (field, name) in enumerate(((g.d, "learned D"), (g.d_star, "D*"))):
            ax = axes[i, j]
            values = np.ma.masked_where(outside, field.numpy().T)
            ax.set_facecolor("0.85")
            image = ax.pcolormesh(x, y, values, cmap="RdBu_r", vmin=0, vmax=1, shading="auto")
            ax.contour(x, y, g.p_data.numpy().T, levels=4, colors=COLORS["p_data"], linewidths=0.8)
            ax.contour(x, y, g.p_g.numpy().T, levels=4, colors=COLORS["p_g"], linewidths=0.8)
            ax.set_aspect("equal")
            ax.grid(False)
            ax.set_title(
                f"{name}, step {shot.step}"
                + (f"\nmean |D − D*| = {shot.d_error:.3f}" if i == 0 else f"\nJSD = {shot.jsd:.3g} ± {shot.jsd_error:.0e}")
            )
            ax.set_xlabel("x₁")
            if j == 0:
                ax.set_ylabel("x₂")
    fig.colorbar(image, ax=axes, shrink=0.6, label="D(x), D*(x)  (0.5 = white)")
    fig.suptitle(
        "2D coupling-flow generator: contours of p_data (black) and p_g (teal); grey: (p_data + p_g)/2 "
        "below 1e-3 of its peak"
    )
    save_figure(fig, path)


def draw_curves(path: Path, h1: gt.History, h2: gt.History, config: Config) -> None:
    """JSD, C(G) against -log 4 + 2 JSD, and mean |D - D*| over training, 1D and 2D."""
    import matplotlib.pyplot as plt

    from gantheory.plotting import COLORS, save_figure, set_theme

    set_theme()
    fig, axes = plt.subplots(2, 3, figsize=(13, 6.4))
    for row, (h, name, limit) in enumerate(
        ((h1, "1D affine G", config.max_d_error_1d), (h2, "2D flow G", config.max_d_error_2d))
    ):
        steps = h.step
        ax = axes[row, 0]
        ax.semilogy(steps, [max(v, 1e-12) for v in h.jsd], color=COLORS["jsd"], marker=".")
        if row == 0:
            ax.axhline(config.max_jsd_1d, color="0.5", ls="--", lw=0.8, label="1e-3")
            ax.legend()
        ax.set_ylabel(f"{name}\nJSD(p_data ‖ p_g) [nats]")
        ax = axes[row, 1]
        ax.plot(steps, h.c_g, color=COLORS["D*"], lw=2.5, alpha=0.5, label="C(G) = V(D*, G)")
        ax.plot(steps, [-math.log(4) + 2 * j for j in h.jsd], color=COLORS["jsd"], ls="--",
                marker=".", label="−log 4 + 2 JSD")  # fmt: skip
        ax.plot(steps, [c - g for c, g in zip(h.c_g, h.value_gap)], color=COLORS["D"], lw=1,
                label="V(D, G), learned D")  # fmt: skip
        ax.axhline(-math.log(4), color="0.5", ls=":", lw=0.8)
        ax.set_ylabel("value [nats]")
        ax.legend(fontsize=8)
        ax = axes[row, 2]
        ax.semilogy(steps, h.d_error, color=COLORS["D"], marker=".", label="E_M |D − D*|")
        ax.semilogy(steps, [max(abs(m - 0.5), 1e-6) for m in h.mean_d_data], color=COLORS["p_data"],
                    marker=".", lw=0.8, label="|E_pdata[D] − 1/2|")  # fmt: skip
        ax.axhline(limit, color="0.5", ls="--", lw=0.8, label=f"{limit}")
        ax.legend(fontsize=8)
    for ax in axes[1]:
        ax.set_xlabel("training step (generator updates)")
    axes[0, 0].set_title("JSD between p_data and p_g")
    axes[0, 1].set_title("C(G) and −log 4 + 2 JSD (Theorem 1)")
    axes[0, 2].set_title("learned D against D*")
    save_figure(fig, path)
