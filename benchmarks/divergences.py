"""Accuracy and speed of gantheory's divergences against scipy's adaptive quadrature.

For each case (1D and 2D; two Gaussians, a bimodal mixture against a Gaussian, the ring of 8
and the grid of 25 narrow modes against a Gaussian) and each divergence (JSD, KL), prints:
our value, our error bound, our true error against an independent reference, our time per
call; then the same for scipy (``quad`` in 1D, ``cubature`` with the gk21 rule in 2D, both on
the same densities and tolerance, without knowledge of the components) and the ratios.

References: closed forms where they exist (KL between Gaussians); otherwise tests/reference.py
(1D: brute-force Gauss–Legendre split at every kink; 2D: scipy's cubature at rtol 1e-13 on a
partition cut at every component's mean ± {0, 1, 3, 10} std).

Run: ``python benchmarks/divergences.py`` (about 3 minutes; ``--quick`` skips the grid).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch
from scipy import integrate

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference import INTEGRANDS_NP, _np_density_2d, _np_log_density_1d, reference_1d, reference_2d  # noqa: E402

import gantheory as gt  # noqa: E402

FUNCTIONS = {"jsd": gt.jsd, "kl": gt.kl}


def cases(quick: bool) -> dict[str, tuple]:
    out = {
        "1D two Gaussians": (gt.gaussian(0.0, 1.0), gt.gaussian(1.0, 2.0)),
        "1D bimodal vs Gaussian": (gt.mixture([-2.0, 2.0], [0.5, 0.5]), gt.gaussian(0.0, 2.0)),
        "2D two Gaussians": (gt.gaussian([0.0, 0.0], 1.0), gt.gaussian([1.0, 0.5], [1.5, 0.7])),
        "2D bimodal vs Gaussian": (gt.mixture([[-2.0, 0.0], [2.0, 0.0]], [0.5, 0.5]), gt.gaussian([0.0, 0.0], 2.0)),
        "2D ring(8, r=2, std=0.02) vs N(0, I)": (gt.ring(), gt.gaussian([0.0, 0.0], 1.0)),
    }
    if not quick:
        out["2D grid(5x5, std=0.05) vs N(0, 4I)"] = (gt.grid(), gt.gaussian([0.0, 0.0], 2.0))
    return out


def timed(call, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def reference(name: str, p, q) -> float:
    if name == "kl":
        try:
            return float(torch.distributions.kl_divergence(p, q))
        except NotImplementedError:
            pass
    return reference_1d(name, p, q) if len(p.event_shape) == 0 else reference_2d(name, p, q)


def scipy_baseline(name: str, p, q, rtol: float) -> float:
    integrand = INTEGRANDS_NP[name]
    if len(p.event_shape) == 0:
        lp, _, _ = _np_log_density_1d(p)
        lq, _, _ = _np_log_density_1d(q)
        value, _ = integrate.quad(lambda x: float(integrand(lp(np.array(x)), lq(np.array(x)))), -np.inf, np.inf, epsabs=1e-14, epsrel=rtol, limit=2000)
        return value
    lp, mp_, sp_ = _np_density_2d(p)
    lq, mq_, sq_ = _np_density_2d(q)
    means, stds = np.concatenate([mp_, mq_]), np.concatenate([sp_, sq_])
    lo, hi = (means - 9 * stds).min(0), (means + 9 * stds).max(0)
    result = integrate.cubature(lambda x: integrand(lp(x), lq(x)), lo, hi, rule="gk21", rtol=rtol, atol=1e-14, max_subdivisions=20000)
    return float(result.estimate)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="skip the grid of 25 modes")
    parser.add_argument("--threads", type=int, default=2, help="torch threads (default 2, the CI machine's cores)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rtol = 1e-10
    header = (
        f"{'case':38s} {'div':4s} {'value':>17s} {'our bound':>9s} {'our error':>9s} {'our ms':>8s} "
        f"{'scipy error':>11s} {'scipy ms':>9s} {'time ratio':>10s} {'error ratio':>11s}"
    )
    print(f"gantheory vs scipy adaptive quadrature, rtol = {rtol:g}, torch threads = {args.threads}")
    print(header)
    print("-" * len(header))
    for label, (p, q) in cases(args.quick).items():
        for name, fn in FUNCTIONS.items():
            ref = reference(name, p, q)
            method = "quadrature" if name == "kl" else "auto"  # KL: measure the quadrature, not the closed form
            fn(p, q, method=method)  # warm up
            ours_s, ours = timed(lambda fn=fn, p=p, q=q, method=method: fn(p, q, method=method, rtol=rtol), 5)
            scipy_s, scipy_value = timed(lambda name=name, p=p, q=q: scipy_baseline(name, p, q, rtol), 1)
            our_error = abs(float(ours) - ref)
            scipy_error = abs(scipy_value - ref)
            error_ratio = scipy_error / our_error if our_error > 0 else math.inf
            print(
                f"{label:38s} {name:4s} {float(ours):17.12f} {ours.error:9.1e} {our_error:9.1e} {1e3 * ours_s:8.1f} "
                f"{scipy_error:11.1e} {1e3 * scipy_s:9.1f} {scipy_s / ours_s:9.1f}x {error_ratio:10.1e}x",
                flush=True,
            )
    print("time ratio = scipy time / our time; error ratio = scipy error / our error (an error of 0 shows inf)")


if __name__ == "__main__":
    main()
