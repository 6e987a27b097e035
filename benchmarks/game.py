"""Wall time of the game's Jacobian (gantheory.game_jacobian) against two baselines.

For a 1D GAN with an affine G (2 parameters) and MLP discriminators of growing width (``--widths``,
two hidden tanh layers), on fixed samples of ``--batch`` points, with R1 (gamma = 1) so that the
field holds second derivatives in x. Ours (``game_jacobian``): ``torch.func.jacrev``, the n
vector-Jacobian products vectorised by vmap in chunks. The baselines, in the same process on the
same field (:func:`gantheory.game_field`) and samples: a loop of autograd (the graph of v(theta)
built once, then one ``torch.autograd.grad`` backward pass per row) and central finite
differences (2n evaluations of v, step 1e-6; approximate: its max |error| is printed). Eigenvalues by ``torch.linalg.eigvals``
(LAPACK geev), timed apart. Ours and the loop run once untimed at each size first (the first
Jacobian of a size pays about twice: allocations). Each figure is the median of ``--repeat`` runs;
finite differences are skipped above ``--max-baseline`` parameters. The last columns time
``game_spectrum`` (Arnoldi on Jacobian-vector products: the 6 rightmost eigenvalues and the
spectral radius of I + hJ, h = 0.1, no matrix formed) against ``game_jacobian`` (which includes its
eigvals), with the largest difference between the two's rightmost eigenvalues.

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


def finite_differences(field: gt.GameField, eps: float = 1e-6) -> torch.Tensor:
    theta, columns = field.theta, []
    for i in range(theta.numel()):
        e = torch.zeros_like(theta)
        e[i] = eps
        columns.append((field(theta + e) - field(theta - e)) / (2 * eps))
    return torch.stack(columns, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--widths", default="8,16,32,64")
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--max-baseline", type=int, default=1500)  # finite differences
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(args.batch, 1, generator=gen)
    z = torch.randn(args.batch, 1, generator=gen)
    G = gt.AffineGenerator(1, loc=0.3, scale=1.2)
    gt.game_jacobian(G, gt.mlp_discriminator(1, widths=(2,)), x[:4], z[:4])  # warm-up, untimed
    print(f"batch {args.batch}, R1 gamma = 1, float64, {torch.get_num_threads()} thread(s)")
    print(f"{'params':>7} {'ours (s)':>9} {'eigvals (s)':>12} {'loop (s)':>11} "
          f"{'loop / ours':>15} {'diff':>8} {'fin. diff. (s)':>15} {'fd / ours':>11} "
          f"{'fd error':>9} {'arnoldi (s)':>12} {'dense / arnoldi':>16} {'eig diff':>9}")
    for width in [int(w) for w in args.widths.split(",")]:
        D = gt.mlp_discriminator(1, widths=(width, width), activation="tanh",
                                 generator=torch.Generator().manual_seed(width))
        ours, eig, loop, fd, arnoldi = [], [], [], [], []
        field = game_field(G, D, x, z, r1=1.0)
        # untimed warm-up of both at this size: the first Jacobian of a size pays ~2x (allocation)
        gt.game_jacobian(G, D, x, z, r1=1.0)
        loop_of_autograd(field)
        for _ in range(args.repeat):
            start = time.perf_counter()
            game = gt.game_jacobian(G, D, x, z, r1=1.0)
            ours.append(time.perf_counter() - start)
            start = time.perf_counter()
            torch.linalg.eigvals(game.jacobian)
            eig.append(time.perf_counter() - start)
            n = game.n_g + game.n_d
            start = time.perf_counter()
            J_loop = loop_of_autograd(field)
            loop.append(time.perf_counter() - start)
            if n <= args.max_baseline:
                start = time.perf_counter()
                J_fd = finite_differences(field)
                fd.append(time.perf_counter() - start)
            start = time.perf_counter()
            spectrum = gt.game_spectrum(G, D, x, z, r1=1.0, k=6, step=0.1)
            arnoldi.append(time.perf_counter() - start)
        t_ours, t_eig = statistics.median(ours), statistics.median(eig)
        t_loop = statistics.median(loop)
        diff = float((J_loop - game.jacobian).abs().max())
        row = (f"{n:>7} {t_ours:>9.2f} {t_eig:>12.2f} {t_loop:>11.2f} {t_loop / t_ours:>15.1f}"
               f" {diff:>8.0e}")
        if fd:
            t_fd = statistics.median(fd)
            fd_err = float((J_fd - game.jacobian).abs().max())
            row += f" {t_fd:>15.2f} {t_fd / t_ours:>11.1f} {fd_err:>9.0e}"
        else:
            row += f" {'-':>15} {'-':>11} {'-':>9}"
        t_arnoldi = statistics.median(arnoldi)
        eig_diff = float((spectrum.rightmost - game.eigenvalues[:6]).abs().max())
        row += f" {t_arnoldi:>12.2f} {t_ours / t_arnoldi:>16.1f} {eig_diff:>9.0e}"
        print(row, flush=True)


if __name__ == "__main__":
    main()
