"""An animated GIF of a training recording, for slides: the panels of :mod:`gantheory.view`.

Each frame shows, at one recorded step, in 1D p_data, p_g, the learned D and the exact
D* = p_data / (p_data + p_g) (Goodfellow et al. 2014, arXiv:1406.2661, Proposition 1); in 2D the
learned D as a heatmap with the contour D* = 1/2, the data and generated samples and G's push
-dJ/dx; beside it JSD(p_data || p_g) along training with a cursor at the step. Written with
matplotlib's ``PillowWriter`` (pillow comes with matplotlib), atomically.

Imported only where an animation is drawn: ``import gantheory`` does not load matplotlib.
"""

from __future__ import annotations

import base64
import math
import os
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from gantheory.io import atomic_write

__all__ = ["write_animation"]


def _grid(b64: str, n: int, undefined: bool) -> np.ndarray:
    q = np.frombuffer(base64.b64decode(b64), dtype=np.uint8).reshape(n, n).astype(np.float64)
    out = q / 254.0
    if undefined:
        out[q == 255] = np.nan
    return out


def write_animation(
    recording: dict[str, Any],
    path: str | os.PathLike[str],
    *,
    max_frames: int = 60,
    fps: int = 8,
    dpi: int = 72,
) -> Path:
    """Write an animated GIF of ``recording`` (:meth:`gantheory.TrainingRecorder.to_dict`).

    Args:
        recording: the recording (a dict, or its JSON read back).
        path: the GIF file.
        max_frames: at most this many frames (evenly chosen among the recorded ones, the first
            and the last always in).
        fps: frames per second.
        dpi: resolution (the figure is 9 x 3.6 inches).

    Returns:
        ``path``.

    Raises:
        ValueError: not a recording, max_frames < 2, fps or dpi < 1.
    """
    import matplotlib

    from gantheory.view import _check_recording

    rec = _check_recording(recording, "recording")
    for name, value, low in (("max_frames", max_frames, 2), ("fps", fps, 1), ("dpi", dpi, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
    frames = rec["frames"]
    pick = sorted({int(round(i)) for i in np.linspace(0, len(frames) - 1, min(max_frames, len(frames)))})
    with matplotlib.rc_context():
        return _draw(rec, [frames[i] for i in pick], Path(path), fps, dpi)


def _draw(rec: dict[str, Any], frames: list[dict[str, Any]], path: Path, fps: int, dpi: int) -> Path:
    import matplotlib.pyplot as plt
    from matplotlib.animation import PillowWriter

    from gantheory.plotting import COLORS, set_theme

    set_theme()
    plt.rcParams["savefig.bbox"] = None  # a fixed frame: every GIF frame the same size, faster
    fig, (ax, ax_curve) = plt.subplots(
        1, 2, figsize=(9, 3.6), gridspec_kw={"width_ratios": [1.35, 1]}
    )
    fig.subplots_adjust(left=0.08, right=0.97, bottom=0.15, top=0.84, wspace=0.45)
    history = rec.get("history") or {}
    steps = [float(s) for s in history.get("step", [])]
    # the exact JSD where the run recorded it, else G's gradient norm (an implicit G has no JSD)
    for key, title, color in (
        ("jsd", "JSD(p_data ‖ p_g) [nats]", COLORS["jsd"]),
        ("grad_norm_g", "‖gradient of G's cost‖ (G's parameters)", COLORS["p_g"]),
    ):
        values = [float(v) if not isinstance(v, str) else math.nan for v in history.get(key, [])]
        if steps and any(math.isfinite(v) and v > 0 for v in values):
            ax_curve.semilogy(steps, [v if v > 0 else math.nan for v in values], color=color)
            ax_curve.set_title(title, fontsize=10)
            break
    else:
        ax_curve.text(0.5, 0.5, "no curve recorded", ha="center", transform=ax_curve.transAxes)
    ax_curve.set_xlabel("training step")
    ax_curve.set_xlim(0, max(1, rec["steps"]))
    cursor = ax_curve.axvline(0, color="#d62728", lw=1)
    lo, hi = rec["box"]
    if rec["dim"] == 1:
        x = np.asarray(rec["axes"][0])
        f0 = frames[0]
        peak = max(rec["p_data"])
        top = 1.1 * min(max(peak, max(max(f["p_g"]) for f in frames)), 3 * peak)
        ax.plot(x, rec["p_data"], color=COLORS["p_data"], lw=1.6, label="p_data(x)")
        (line_pg,) = ax.plot(x, f0["p_g"], color=COLORS["p_g"], lw=1.6, label="p_g(x)")
        ax.set_ylim(0, top)
        ax.set_xlim(lo[0], hi[0])
        ax.set_xlabel("x")
        ax.set_ylabel("density")
        twin = ax.twinx()
        twin.grid(False)
        (line_ds,) = twin.plot(x, f0["d_star"], color=COLORS["D*"], ls="--", lw=1.4, label="D*(x) exact" if rec["exact_density"] else "D*(x), KDE p_g")
        (line_d,) = twin.plot(x, f0["d"], color=COLORS["D"], lw=1.6, label="D(x) learned")
        twin.axhline(0.5, color="0.6", lw=0.8, ls=":")
        twin.set_ylim(0, 1.02)
        twin.set_ylabel("D(x), D*(x)")
        handles = ax.get_legend_handles_labels()[0] + twin.get_legend_handles_labels()[0]
        ax.legend(handles=handles, loc="upper left", fontsize=7)

        def update(frame: dict[str, Any]) -> None:
            line_pg.set_ydata(frame["p_g"])
            line_ds.set_ydata(frame["d_star"])
            line_d.set_ydata(frame["d"])

    else:
        n = len(rec["axes"][0])
        gx, gy = np.asarray(rec["axes"][0]), np.asarray(rec["axes"][1])
        extent = (lo[0], hi[0], lo[1], hi[1])
        image = ax.imshow(_grid(frames[0]["d"], n, False).T, origin="lower", extent=extent,
                          cmap="RdBu_r", vmin=0, vmax=1, interpolation="nearest", aspect="equal")  # fmt: skip
        data = np.asarray(rec["data_samples"])
        ax.scatter(data[:, 0], data[:, 1], s=2, color=COLORS["p_data"], alpha=0.4)
        points = ax.scatter([], [], s=4, color=COLORS["p_g"])
        n_push = len(frames[0]["push"])
        push_all = np.concatenate([np.asarray(f["push"], dtype=float) for f in frames])
        norms = np.linalg.norm(push_all, axis=1)
        q = float(np.nanquantile(norms, 0.95)) if norms.size else 0.0
        scale = 0.08 * min(h - l for l, h in zip(lo, hi)) / q if q > 0 else 0.0
        arrows = ax.quiver(np.zeros(n_push), np.zeros(n_push), np.zeros(n_push), np.zeros(n_push),
                           angles="xy", scale_units="xy", scale=1, color="#1b4d46", width=0.004)  # fmt: skip
        contours: list[Any] = []
        ax.set_xlim(lo[0], hi[0])
        ax.set_ylim(lo[1], hi[1])
        ax.set_xlabel("x₁")
        ax.set_ylabel("x₂")
        ax.grid(False)
        fig.colorbar(image, ax=ax, shrink=0.8, label="learned D(x); line: D* = 1/2")

        def update(frame: dict[str, Any]) -> None:
            image.set_data(_grid(frame["d"], n, False).T)
            samples = np.asarray(frame["samples"])
            points.set_offsets(samples)
            push = np.asarray(frame["push"], dtype=float) * scale
            arrows.set_offsets(samples[:n_push])
            arrows.set_UVC(push[:, 0], push[:, 1])
            for c in contours:
                c.remove()
            contours.clear()
            d_star = _grid(frame["d_star"], n, True)
            if np.nanmin(d_star) < 0.5 < np.nanmax(d_star):
                contours.append(ax.contour(gx, gy, d_star.T, levels=[0.5], colors=COLORS["D*"],
                                           linewidths=1.5))  # fmt: skip

    title = fig.suptitle("")

    def show(frame: dict[str, Any]) -> None:
        update(frame)
        cursor.set_xdata([frame["step"], frame["step"]])
        title.set_text(f"{rec.get('title') or 'training'}: step {frame['step']} of {rec['steps']}")

    writer = PillowWriter(fps=fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".gif")
    os.close(fd)
    try:
        with writer.saving(fig, tmp, dpi):
            for frame in frames:
                show(frame)
                writer.grab_frame()
        with open(tmp, "rb") as source, atomic_write(path, "wb") as handle:
            handle.write(source.read())
    finally:
        Path(tmp).unlink(missing_ok=True)
        plt.close(fig)
    return path
