"""Accuracy and speed of gantheory's divergences against scipy's adaptive quadrature.

For each case (1D and 2D; two Gaussians, a bimodal mixture against a Gaussian, the ring of 8
and the grid of 25 narrow modes against a Gaussian) and each divergence (JSD, KL), prints:
our value, our error bound, our true error against an independent reference, our time per
call; then the same for scipy (``quad`` in 1D, ``cubature`` with the gk21 rule in 2D, both on
the same densities and tolerance, without knowledge of the components) and the ratios.

References: closed forms where they exist (KL between Gaussians); otherwise tests/reference.py
(1D: brute-force Gauss–Legendre split at every kink; 2D: scipy's cubature at rtol 1e-13 on a
partition cut at every component's mean ± {0, 1, 3, 10} std).

Flows. A second table compares, for 2D flow generators against the study's two-mode mixture
(JSD, KL and reverse KL): our expectation route (:mod:`gantheory._expectations`: E_{p_g} in the
flow's base space) at the default tolerance and at atol = rtol = 1e-9, box quadrature of the plain
integrand in x (the route every other density takes), and scipy's ``cubature`` (gk21) on the same
x-space integrand on a box around 10^5 draws (what a scipy user would take); the reference is
scipy's cubature at rtol 1e-13 on a square grown until the value stops moving (independent of our
code). Flows: :class:`gantheory.CouplingFlowGenerator` with 2 layers
(conditioners 2 x 32 tanh) and random output layers, and one trained by the optimal-discriminator
study's 2D setup (4 layers, ~15 s of training); a zuko spline flow (NSF, 2 transforms, 2 x 32),
which only box quadrature can integrate, shows what that route reaches.

Run: ``python benchmarks/divergences.py`` (about 5 minutes; ``--quick`` skips the grid and the
trained flow).
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
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # studies/
from reference import INTEGRANDS_NP, _np_density_2d, _np_log_density_1d, reference_1d, reference_2d  # noqa: E402

import gantheory as gt  # noqa: E402
from gantheory import divergences as dv  # noqa: E402

FUNCTIONS = {"jsd": gt.jsd, "kl": gt.kl}
FLOW_DIVERGENCES = {"jsd": "jensen_shannon", "kl": "kl", "rkl": "reverse_kl"}


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
    print()
    flows(args.quick)


def random_coupling_flow(seed: int, scale: float) -> gt.CouplingFlowGenerator:
    G = gt.CouplingFlowGenerator(2, transforms=2, hidden=(32, 32), generator=torch.Generator().manual_seed(seed))
    g = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for c in G.conditioners:
            last = c.net[-1]
            last.weight.normal_(0.0, scale / math.sqrt(last.in_features), generator=g)
            last.bias.normal_(0.0, scale, generator=g)
    return G


def trained_coupling_flow(p_data) -> gt.CouplingFlowGenerator:
    """The optimal-discriminator study's 2D run (its Config's numbers, seed 0), without recording."""
    from studies.optimal_discriminator import Config

    c = Config()
    streams = gt.random_streams(0)
    G = gt.CouplingFlowGenerator(2, transforms=c.flow_transforms, hidden=c.flow_hidden, max_log_scale=c.flow_max_log_scale, generator=streams.init)
    D = gt.mlp_discriminator(2, widths=c.d_widths_2d, generator=streams.init)
    config = gt.TrainConfig(
        steps=c.steps_2d, k=c.k_2d, batch_size=c.batch_2d, loss="non_saturating", optimizer="adam", lr_d=c.lr_d_2d,
        lr_g=c.lr_g_2d, betas=(0.5, 0.999), lr_final=c.lr_final_2d, record_every=c.steps_2d, exact=False, seed=0,
    )  # fmt: skip
    gt.train(p_data, G, D, config, progress=False)
    return G


def x_integrand(name: str, p, q):
    spec = dv.F_DIVERGENCES[name]

    def f(x: np.ndarray) -> np.ndarray:
        t = torch.as_tensor(x, dtype=torch.float64)
        with torch.no_grad():
            return spec.density(dv._log_prob(p, t), dv._log_prob(q, t)).numpy()

    return f


def scipy_flow(name: str, p, q, lo: np.ndarray, hi: np.ndarray, rtol: float, atol: float) -> float:
    result = integrate.cubature(x_integrand(name, p, q), lo, hi, rule="gk21", rtol=rtol, atol=atol, max_subdivisions=200_000)
    return float(result.estimate)


def box_quadrature(name: str, p, q) -> tuple[float, float]:
    spec = dv.F_DIVERGENCES[name]
    values, errors, _ = dv._integrate_box(
        p, q, dv.as_gaussian_mixture(p), dv.as_gaussian_mixture(q), lambda x, lp, lq: spec.density(lp, lq)[:, None],
        [dv._f_tail(spec, "auto")], 1e-12, 1e-10,
    )  # fmt: skip
    return float(values[0].detach()), errors[0]


def flow_reference(name: str, p, q) -> float:
    """scipy's cubature at rtol 1e-13 on [-L, L]^2, L doubled from 10 until the value stops moving
    (a random flow's tails reach |x| ~ 100, where KL-type integrands still weigh)."""
    previous, side = math.nan, 10.0
    while side < 1e5:
        value = scipy_flow(name, p, q, np.full(2, -side), np.full(2, side), 1e-13, 1e-15)
        if abs(value - previous) <= 1e-13 * max(1.0, abs(value)):
            return value
        previous, side = value, 2 * side
    raise RuntimeError(f"no stable reference for {name}")


def covering_box(q) -> tuple[np.ndarray, np.ndarray]:
    """What a user of scipy would take: 10^5 draws of p_g and the mixture's cores, ±3 std past
    their extremes."""
    x = dv._sample(q, 100_000, torch.Generator().manual_seed(0)).double()
    lo = torch.minimum(x.min(0).values, torch.tensor([-1.25 - 4.25, -4.25], dtype=torch.float64)) - 3 * x.std(0)
    hi = torch.maximum(x.max(0).values, torch.tensor([1.25 + 4.25, 4.25], dtype=torch.float64)) + 3 * x.std(0)
    return lo.numpy(), hi.numpy()


def flows(quick: bool) -> None:
    p_data = gt.mixture([[-1.25, 0.0], [1.25, 0.0]], 0.5)
    generators = {
        "coupling 2 x (2x32), output std 0.5": random_coupling_flow(1, 0.5),
        "coupling 2 x (2x32), output std 1.0": random_coupling_flow(2, 1.0),
    }
    if not quick:
        start = time.perf_counter()
        generators["coupling 4 x (2x32), trained (study)"] = trained_coupling_flow(p_data)
        print(f"(trained the study's 2D flow in {time.perf_counter() - start:.0f} s)")
    header = f"{'flow':38s} {'div':4s} {'method':26s} {'value':>16s} {'bound':>8s} {'error':>8s} {'ms':>8s} {'ms / ours':>10s}"
    print("2D flows against the mixture of N((±1.25, 0), 0.5² I); reference: scipy cubature at rtol 1e-13 on a grown square")
    print(header)
    print("-" * len(header))
    for label, G in generators.items():
        q = G.distribution()
        lo, hi = covering_box(q)
        for short, name in FLOW_DIVERGENCES.items():
            ref = flow_reference(name, p_data, q)
            rows = []
            for method, tol in (("ours", (1e-12, 1e-10)), ("ours, atol = rtol = 1e-9", (1e-9, 1e-9))):
                gt.f_divergence(p_data, q, name, atol=tol[0], rtol=tol[1])  # warm up
                seconds, est = timed(lambda name=name, q=q, tol=tol: gt.f_divergence(p_data, q, name, atol=tol[0], rtol=tol[1]), 5)
                rows.append((method, float(est), est.error, seconds))
            seconds, (value, bound) = timed(lambda name=name, q=q: box_quadrature(name, p_data, q), 3)
            rows.append(("box quadrature", value, bound, seconds))
            seconds, value = timed(lambda name=name, q=q, lo=lo, hi=hi: scipy_flow(name, p_data, q, lo, hi, 1e-10, 1e-12), 1)
            rows.append(("scipy cubature gk21", value, math.nan, seconds))
            for method, value, bound, seconds in rows:
                print(
                    f"{label:38s} {short:4s} {method:26s} {value:16.12f} {bound:8.1e} {abs(value - ref):8.1e} "
                    f"{1e3 * seconds:8.1f} {seconds / rows[0][3]:9.1f}x",
                    flush=True,
                )
    nsf = gt.FlowGenerator(2, transforms=2, hidden=(32, 32), generator=torch.Generator().manual_seed(0))
    q = nsf.distribution()
    seconds, est = timed(lambda: gt.jsd(p_data, q), 1)
    print(
        f"{'zuko NSF 2 x (2x32), initial':38s} {'jsd':4s} {est.method:26s} {float(est):16.12f} {est.error:8.1e} "
        f"{'n/a':>8s} {1e3 * seconds:8.1f}"
    )
    print("bound: our error bound (nan: scipy gives none we trust); error: |value − reference|; ms: median time per call")


if __name__ == "__main__":
    main()
