"""Size of the training view's page and cost of recording it, for long runs.

For each case, a run of ``--steps`` generator steps (default 10,000, the issue's figure) is
trained once without and once with a :class:`gantheory.TrainingRecorder` (default 120 frames), in
the same process, on one CPU thread; the table gives the recording's size, the page's size
(``view.html``, one run), the GIF's size and time, and the training time with and without the
recorder (process CPU time). Cases: 1D affine G (exact p_g, exact JSD every 100 steps) and 2D MLP
G (p_g by KDE, no exact recording).

    python benchmarks/view.py                # 10,000 steps
    python benchmarks/view.py --steps 2000   # quicker
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch

import gantheory as gt


def case(dim: int, steps: int, frames: int, recorder: bool, out: Path) -> float:
    s = gt.random_streams(0)
    if dim == 1:
        p = gt.gaussian(1.0, 0.5)
        G = gt.AffineGenerator(1, loc=-1.0, scale=0.3)
    else:
        p = gt.mixture([[-1.25, 0.0], [1.25, 0.0]], 0.5)
        G = gt.mlp_generator(2, 2, widths=(32, 32), generator=s.init)
    D = gt.mlp_discriminator(dim, widths=(32, 32), generator=s.init)
    cfg = gt.TrainConfig(steps=steps, batch_size=128, record_every=100, exact=dim == 1,
                         optimizer="adam", lr_d=1e-3, lr_g=1e-3, device="cpu")  # fmt: skip
    rec = gt.TrainingRecorder(p, cfg, max_frames=frames) if recorder else None
    start = time.process_time()
    if rec is not None:
        rec(0, G, D)
    result = gt.train(p, G, D, cfg, progress=False, callback=rec)
    seconds = time.process_time() - start
    if rec is not None:
        rec.save(out / "recording.json", result.history, title=f"{dim}D, {steps} steps")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--frames", type=int, default=120)
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"{args.steps} steps, at most {args.frames} frames, CPU, one thread")
    print("| case | recording [MB] | view.html [MB] | GIF (40 frames) [MB] | GIF [s] "
          "| train [s] | train + recorder [s] | ratio |")
    print("|---|---|---|---|---|---|---|---|")
    for dim in (1, 2):
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp)
            plain = case(dim, args.steps, args.frames, False, out)
            recorded = case(dim, args.steps, args.frames, True, out)
            page = gt.write_view(out)
            recording = gt.load_recordings(out)[0]
            start = time.perf_counter()
            gif = gt.write_animation(recording, out / "a.gif", max_frames=40)
            gif_s = time.perf_counter() - start
            mb = [f.stat().st_size / 1e6 for f in (out / "recording.json", page, gif)]
            print(f"| {dim}D | {mb[0]:.2f} | {mb[1]:.2f} | {mb[2]:.2f} | {gif_s:.1f} | "
                  f"{plain:.1f} | {recorded:.1f} | {recorded / plain:.2f} |")


if __name__ == "__main__":
    main()
