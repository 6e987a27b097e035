"""The edges of exactness: distant masses, infinite and nearly infinite divergences, huge locations
and tiny scales, steep discriminators. For each case: our value, our error bound, the true error
against an independent reference (closed forms; mpmath at 40 digits), whether the bound holds,
and the time per call (median of 5, one thread).

Run: ``python benchmarks/edges.py`` (about 30 s).
"""

from __future__ import annotations

import math
import statistics
import sys
import time
from fractions import Fraction
from pathlib import Path

import mpmath as mp
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from reference import mp_gaussian_jsd_1d, mp_w1_1d  # noqa: E402

import gantheory as gt  # noqa: E402

mp.mp.dps = 40


def pearson_mp(sp: float, sq: float, dm: float = 0.0) -> float:
    """χ²(N(0, sp²) ‖ N(dm, sq²)) at 40 digits: sq² / (sp sqrt(2 sq² − sp²)) exp(dm² / (2 sq² − sp²)) − 1."""
    a, b, d = mp.mpf(sp), mp.mpf(sq), mp.mpf(dm)
    gap = 2 * b**2 - a**2
    return math.inf if gap <= 0 else float(b**2 / (a * mp.sqrt(gap)) * mp.exp(d**2 / gap) - 1)


def steep_value_mp(slope: float) -> float:
    def log_sigmoid(a):
        return -mp.log1p(mp.exp(-a)) if a > 0 else a - mp.log1p(mp.exp(a))

    f = lambda x: mp.npdf(x, 1, 1) * log_sigmoid(slope * x) + mp.npdf(x, -1, 1) * log_sigmoid(-slope * x)  # noqa: E731
    return float(mp.quad(f, [-mp.inf, -10, -1, 0, 1, 10, mp.inf]))


def far_jsd_reference() -> float:
    delta = (Fraction(1e6 + 3e-6) - Fraction(1e6)) / Fraction(1e-6)
    return mp_gaussian_jsd_1d(mp.mpf(delta.numerator) / delta.denominator)


def cases() -> list[tuple[str, object, object]]:
    g = gt.gaussian
    bimodal = gt.mixture([0.0, 3.0], [1.0, 0.5], [0.3, 0.7])
    steep = torch.nn.Sequential(torch.nn.Linear(1, 1), torch.nn.Sigmoid()).double()
    with torch.no_grad():
        steep[0].weight.fill_(50.0)
        steep[0].bias.zero_()
    return [
        ("W1 N(0,1), N(100,1)", lambda: gt.wasserstein(g(0.0, 1.0), g(100.0, 1.0)), 100.0),
        ("W1 N(0,1), N(1e6,1)", lambda: gt.wasserstein(g(0.0, 1.0), g(1e6, 1.0)), 1e6),
        ("W1 ½N(0,1)+½N(50,1), N(0,1)", lambda: gt.wasserstein(gt.mixture([0.0, 50.0], [1.0, 1.0]), g(0.0, 1.0)), 25.0),
        ("W1 mixture, N(1, 2²)", lambda: gt.wasserstein(bimodal, g(1.0, 2.0)), mp_w1_1d(bimodal, g(1.0, 2.0))),
        ("Pearson N(0,1) ‖ N(0,0.5²)", lambda: gt.f_divergence(g(0.0, 1.0), g(0.0, 0.5), "pearson"), math.inf),
        ("Pearson N(0,1) ‖ N(0,0.7²)", lambda: gt.f_divergence(g(0.0, 1.0), g(0.0, 0.7), "pearson"), math.inf),
        ("Pearson N(0,1) ‖ N(0,0.7072²)", lambda: gt.f_divergence(g(0.0, 1.0), g(0.0, 0.7072), "pearson"), pearson_mp(1.0, 0.7072)),
        ("Pearson N(0,1) ‖ N(0,0.707107²)", lambda: gt.f_divergence(g(0.0, 1.0), g(0.0, 0.707107), "pearson"), pearson_mp(1.0, 0.707107)),
        ("Pearson N(0,1) ‖ N(0.5,0.75²)", lambda: gt.f_divergence(g(0.0, 1.0), g(0.5, 0.75), "pearson"), pearson_mp(1.0, 0.75, 0.5)),
        ("Neyman N(0,0.5²) ‖ N(0,1)", lambda: gt.f_divergence(g(0.0, 0.5), g(0.0, 1.0), "neyman"), math.inf),
        ("JSD N(1e6,1e-6²), N(1e6+3e-6,1e-6²)", lambda: gt.jsd(g(1e6, 1e-6), g(1e6 + 3e-6, 1e-6)), far_jsd_reference()),
        ("V(σ(50x)) as Sequential+Sigmoid", lambda: gt.value(steep, g(1.0, 1.0), g(-1.0, 1.0)), steep_value_mp(50.0)),
    ]


def main() -> None:
    torch.set_num_threads(1)
    print("| case | value | bound | true error | bound holds | ms per call |")
    print("|---|---|---|---|---|---|")
    for label, call, truth in cases():
        times, result = [], None
        for _ in range(5):
            start = time.perf_counter()
            result = call()
            times.append(time.perf_counter() - start)
        value = float(result)
        if math.isinf(truth):
            error = 0.0 if value == truth else math.inf
        else:
            error = abs(value - truth)
        holds = error <= result.error
        print(f"| {label} | {value:.12g} | {result.error:.2g} | {error:.2g} | {holds} | {1e3 * statistics.median(times):.1f} |")


if __name__ == "__main__":
    main()
