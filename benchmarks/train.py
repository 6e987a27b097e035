"""Steps per second of gantheory.train against a minimal hand-written PyTorch loop.

Both run Algorithm 1 of Goodfellow et al. 2014 on the same networks (same initial weights), the
same data (an 8-mode ring, or a Gaussian), the same minibatch m and the same k, with SGD and
momentum, in the same process, alternating runs so that both see the same machine load. The
trainer runs with its exact recording off and its progress bar off (it still checks its inputs,
draws from its seeded streams and records losses at the end); the hand-written loop is the
shortest correct code: data drawn inline, softplus losses, no validation, no history. The ratio
is the trainer's time per step over the loop's (1.00 = no overhead). On the CPU both run on one
thread and the clock is the process's CPU time (on a shared machine, wall time mostly measures
the other processes); on CUDA it is wall time between synchronisations. A last row shows the cost of
the exact recording (JSD, C(G), D against D*) every 100 steps for a 1D affine generator.

    python benchmarks/train.py              # CPU, and CUDA when available
    python benchmarks/train.py --steps 500  # longer runs
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

import gantheory as gt


def players(case: str, seed: int) -> tuple[torch.nn.Module, torch.nn.Module]:
    s = gt.random_streams(seed)
    if case == "pacgan":
        G = gt.mlp_generator(2, 2, widths=(400,) * 4, batch_norm=True, generator=s.init)
        D = gt.mlp_discriminator(2, widths=(200,) * 3, activation="maxout", generator=s.init)
    elif case == "affine":
        G = gt.AffineGenerator(1, loc=-1.0, scale=0.3)
        D = gt.mlp_discriminator(1, widths=(32, 32), generator=s.init)
    else:
        G = gt.mlp_generator(2, 2, widths=(64, 64), generator=s.init)
        D = gt.mlp_discriminator(2, widths=(64, 64), generator=s.init)
    return G, D


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def hand_written(p_data, G, D, steps: int, m: int, k: int, lr: float, device: torch.device) -> None:
    """The minimal loop: Algorithm 1 with the non-saturating G cost, nothing else."""
    comps = gt.as_gaussian_mixture(p_data)
    weights = comps.weights.to(device)
    means = comps.means.to(device, torch.float32)
    stds = comps.covs.diagonal(dim1=-2, dim2=-1).sqrt().to(device, torch.float32)
    gen = torch.Generator(device=device).manual_seed(0)
    G.to(device), D.to(device)
    opt_d = torch.optim.SGD(D.parameters(), lr=lr, momentum=0.5)
    opt_g = torch.optim.SGD(G.parameters(), lr=lr, momentum=0.5)
    d, nz = means.shape[1], G.noise_dim
    for _ in range(steps):
        for _ in range(k):
            idx = torch.multinomial(weights, m, replacement=True, generator=gen)
            x = means[idx] + stds[idx] * torch.randn(m, d, generator=gen, device=device)
            z = torch.randn(m, nz, generator=gen, device=device)
            with torch.no_grad():
                fake = G(z)
            loss_d = (F.softplus(-D(x)) + F.softplus(D(fake))).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        z = torch.randn(m, nz, generator=gen, device=device)
        loss_g = F.softplus(-D(G(z))).mean()
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()


def ours(
    p_data, G, D, steps: int, m: int, k: int, lr: float, device: torch.device, exact: bool
) -> None:
    config = gt.TrainConfig(
        steps=steps, k=k, batch_size=m, lr_d=lr, lr_g=lr, momentum=0.5,
        record_every=100 if exact else steps, exact=exact, device=str(device),
    )  # fmt: skip
    gt.train(p_data, G, D, config, progress=False)


def timed(fn, device: torch.device) -> float:
    """Seconds: CPU time of this process on the CPU (one thread; on a shared machine wall time
    mostly measures the other processes), wall time between synchronisations on CUDA."""
    clock = time.process_time if device.type == "cpu" else time.perf_counter
    sync(device)
    start = clock()
    fn()
    sync(device)
    return clock() - start


def compare(
    case: str, k: int, m: int, steps: int, device: torch.device, repeats: int, exact: bool = False
) -> dict:
    p_data = gt.gaussian(1.0, 0.5) if case == "affine" else gt.ring(n_modes=8, radius=2.0, std=0.05)
    lr = 0.01
    times = {"ours": [], "loop": []}
    for r in range(repeats + 1):  # the first round warms up (allocator, kernels) and is dropped
        for name in ("ours", "loop") if r % 2 == 0 else ("loop", "ours"):
            G, D = players(case, 0)
            if name == "ours":
                t = timed(
                    lambda G=G, D=D: ours(p_data, G, D, steps, m, k, lr, device, exact), device
                )
            else:
                t = timed(
                    lambda G=G, D=D: hand_written(p_data, G, D, steps, m, k, lr, device), device
                )
            if r:
                times[name].append(t)
    t_ours, t_loop = statistics.median(times["ours"]), statistics.median(times["loop"])
    return {
        "device": device.type, "case": case, "k": k, "m": m, "exact": exact,
        "ours": steps / t_ours, "loop": steps / t_loop, "ratio": t_ours / t_loop,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="G steps per timed run")
    parser.add_argument("--repeats", type=int, default=5, help="timed runs per side (median)")
    args = parser.parse_args()
    torch.set_num_threads(1)  # tiny networks: one thread is fastest on a small machine
    rows = []
    cases = [("mlp64", 1, 256), ("mlp64", 5, 256), ("pacgan", 1, 256)]
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    for device in devices:
        for case, k, m in cases:
            steps = args.steps if case != "pacgan" or device.type == "cuda" else args.steps // 5
            rows.append(compare(case, k, m, steps, device, args.repeats))
        rows.append(compare("affine", 1, 128, args.steps, device, args.repeats, exact=True))
    header = f"{'device':6} {'networks':8} {'k':>2} {'m':>4} {'exact rec.':>10} {'ours it/s':>10} {'loop it/s':>10} {'ratio':>6}"
    print(header)
    print("-" * len(header))
    for r in rows:
        print(
            f"{r['device']:6} {r['case']:8} {r['k']:>2} {r['m']:>4} {'every 100' if r['exact'] else 'off':>10} "
            f"{r['ours']:>10.1f} {r['loop']:>10.1f} {r['ratio']:>6.3f}"
        )
    print("\nratio = trainer time per step / hand-written loop time per step (median of runs);")
    print("CPU: process CPU time on one thread; CUDA: wall time")


if __name__ == "__main__":
    main()
