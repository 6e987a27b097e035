"""Wall time of S GANs trained as one batched ensemble against S sequential single runs.

For S in {1, 8, 64} (``--sizes``) and two architectures:

- ``toy``: G and D with two hidden layers of 64 ReLU units, batch 256 (the issue's yardstick);
- ``pacgan``: PacGAN's 2D networks (Lin et al. 2018, arXiv:1712.04086): G with 4 hidden layers of
  400 units, batch norm and ReLU; D with 3 maxout layers of 200 units and 5 pieces; batch 100.

Both sides run the same Algorithm 1 (non-saturating loss, Adam) on the ring of 8 Gaussians, with
the same seeds, in the same process: the baseline is ``gantheory.train`` called S times, ours is
one ``gantheory.ensemble.train_ensemble`` call. Each row prints both wall times and the speed-up
(baseline / ours), in wall time and in this process's CPU time (on a shared CPU with other
work running, CPU time is the fairer figure; on an idle machine with one thread they agree).
With ``--repeat N`` both sides run N times, alternately, and each figure is the median of its N
times (the speed-ups are ratios of medians). Network construction is outside the timings.

Usage::

    python benchmarks/ensemble.py [--steps 100] [--sizes 1,8,64] [--arch toy,pacgan]
                                  [--device auto] [--threads N] [--repeat 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time

import torch

import gantheory as gt
from gantheory.ensemble import train_ensemble

ARCHS = {
    "toy": dict(
        g=dict(widths=(64, 64)), d=dict(widths=(64, 64)), batch_size=256,
    ),
    "pacgan": dict(
        g=dict(widths=(400,) * 4, batch_norm=True),
        d=dict(widths=(200,) * 3, activation="maxout", pieces=5),
        batch_size=100,
    ),
}


def players(arch, seed):
    init = gt.random_streams(seed).init
    spec = ARCHS[arch]
    return (
        gt.mlp_generator(2, 2, generator=init, **spec["g"]),
        gt.mlp_discriminator(2, generator=init, **spec["d"]),
    )


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Clock:
    """Wall time and this process's CPU time (the fairer figure on a shared, loaded CPU)."""

    def __init__(self, device):
        self.device = device

    def __enter__(self):
        sync(self.device)
        self.wall, self.cpu = time.perf_counter(), time.process_time()
        return self

    def __exit__(self, *exc):
        sync(self.device)
        self.wall = time.perf_counter() - self.wall
        self.cpu = time.process_time() - self.cpu


def time_sequential(arch, config, seeds, device):
    nets = [players(arch, s) for s in seeds]
    with Clock(device) as clock:
        for seed, (G, D) in zip(seeds, nets):
            gt.train(gt.ring(radius=1.0, std=0.01), G, D, dataclasses.replace(config, seed=seed),
                     progress=False)
    return clock


def time_ensemble(arch, config, seeds, device):
    Gs, Ds = zip(*[players(arch, s) for s in seeds])
    with Clock(device) as clock:
        train_ensemble(gt.ring(radius=1.0, std=0.01), list(Gs), list(Ds), config, seeds=seeds,
                       progress=False)
    return clock


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--sizes", default="1,8,64")
    parser.add_argument("--arch", default="toy,pacgan")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: leave as is)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per side; medians printed")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device = gt.resolve_device(args.device)
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"device {device}, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{args.steps} steps, Adam, non-saturating, ring of 8, median of {args.repeat}")
    print(f"{'arch':8} {'S':>4} | {'wall: sequential s':>18} {'ensemble s':>11} {'speed-up':>9} "
          f"| {'CPU: sequential s':>17} {'ensemble s':>11} {'speed-up':>9}")
    warm = dataclasses.replace(
        gt.TrainConfig(), steps=2, optimizer="adam", lr_d=1e-4, lr_g=1e-4, exact=False,
        device=str(device),
    )
    for arch in args.arch.split(","):
        config = dataclasses.replace(
            warm, steps=args.steps, batch_size=ARCHS[arch]["batch_size"],
            record_every=args.steps,
        )
        # warm-up (first-call costs: imports, kernels, allocator) outside the timings
        time_sequential(arch, dataclasses.replace(config, steps=2), [0], device)
        time_ensemble(arch, dataclasses.replace(config, steps=2), [0, 1], device)
        for S in sizes:
            seeds = list(range(S))
            runs = [(time_sequential(arch, config, seeds, device),
                     time_ensemble(arch, config, seeds, device)) for _ in range(args.repeat)]
            seq_wall, ens_wall, seq_cpu, ens_cpu = (
                statistics.median(getattr(run[side], kind) for run in runs)
                for kind in ("wall", "cpu") for side in (0, 1)
            )
            print(f"{arch:8} {S:4d} | {seq_wall:18.2f} {ens_wall:11.2f} {seq_wall / ens_wall:8.1f}x "
                  f"| {seq_cpu:17.2f} {ens_cpu:11.2f} {seq_cpu / ens_cpu:8.1f}x", flush=True)


if __name__ == "__main__":
    main()
