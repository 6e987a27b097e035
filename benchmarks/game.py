"""Wall time of the game's Jacobian (gantheory.game_jacobian) against a loop of autograd calls.

For a 1D GAN with an affine G (2 parameters) and MLP discriminators of growing width (``--widths``,
two hidden tanh layers), on fixed samples of ``--batch`` points, with R1 (gamma = 1) so that the
field holds second derivatives in x: ours builds the whole (n x n) Jacobian of the joint field by
``torch.func.jacrev`` (vectorised vector-Jacobian products, float64); the baseline, in the same
process on the same field and samples, evaluates v(theta) once with the graph kept and then calls
``torch.autograd.grad`` once per row (n backward passes). Both give the same matrix (the last
column: max |ours - baseline|). Eigenvalues by ``torch.linalg.eigvals`` (LAPACK geev), timed
apart. Each figure is the median of ``--repeat`` runs; the baseline is skipped above
``--max-baseline`` parameters (it grows as n times one backward pass).

Usage::

    python benchmarks/game.py [--widths 8,16,32,64] [--batch 256] [--repeat 1] [--threads N]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import gantheory as gt
from gantheory.game import game_field


def loop_of_autograd(field: gt.GameField) -> torch.Tensor:
    theta = field.theta.clone().requires_grad_(True)
    v = field(theta)
    rows = [torch.autograd.grad(v[i], theta, retain_graph=True)[0] for i in range(v.numel())]
    return torch.stack(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="8,16,32,64")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-baseline", type=int, default=1500)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 1, generator=gen)
    z = torch.randn(args.batch, 1, generator=gen)
    G = gt.AffineGenerator(1, loc=0.3, scale=1.2)
    gt.game_jacobian(G, gt.mlp_discriminator(1, widths=(2,)), x[:4], z[:4])  # warm-up, untimed
    print(f"batch {args.batch}, R1 gamma = 1, float64, {torch.get_num_threads()} thread(s)")
    print(f"{'params':>7} {'jacobian (s)':>13} {'eigvals (s)':>12} {'loop (s)':>10} "
          f"{'speed-up':>9} {'max |diff|':>11}")
    for width in [int(w) for w in args.widths.split(",")]:
        D = gt.mlp_discriminator(1, widths=(width, width), activation="tanh",
                                 generator=torch.Generator().manual_seed(width))
        ours, eig, base = [], [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            game = gt.game_jacobian(G, D, x, z, r1=1.0)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            torch.linalg.eigvals(game.jacobian)
            eig.append(time.perf_counter() - start)
            n = game.n_g + game.n_d
            if n <= args.max_baseline:
                field = game_field(G, D, x, z, r1=1.0)
                start = time.perf_counter()
                J = loop_of_autograd(field)
                base.append(time.perf_counter() - start)
        t_ours, t_eig = statistics.median(ours), statistics.median(eig)
        if base:
            t_base = statistics.median(base)
            diff = float((J - game.jacobian).abs().max())
            tail = f"{t_base:>10.2f} {t_base / t_ours:>9.1f} {diff:>11.1e}"
        else:
            tail = f"{'-':>10} {'-':>9} {'-':>11}"
        print(f"{n:>7} {t_ours:>13.2f} {t_eig:>12.2f} {tail}", flush=True)


if __name__ == "__main__":
    main()
