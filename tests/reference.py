"""Independent high-precision references for the divergence tests.

1D: brute-force composite Gauss–Legendre on a fine partition that includes every kink of the
integrand (where two components' log densities cross, and where p = q).
2D: scipy.integrate.cubature (Genz–Malik / Gauss–Kronrod 21 rules, scipy's own code) with a
tolerance far below ours, on a partition around every component. Neither shares code with
gantheory's quadrature.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import integrate, optimize
from scipy.special import logsumexp

import gantheory as gt


def _params(dist):
    c = gt.as_gaussian_mixture(dist)
    return c.weights.detach().numpy(), c.means.detach().numpy(), c.covs.detach().numpy()


def _np_log_density_1d(dist):
    w, m, c = _params(dist)
    mu, sd = m[:, 0], np.sqrt(c[:, 0, 0])

    def log_pdf(x):
        flat = np.ravel(x)
        a = np.log(w)[:, None] - 0.5 * ((flat[None] - mu[:, None]) / sd[:, None]) ** 2 - np.log(sd * np.sqrt(2 * np.pi))[:, None]
        return logsumexp(a, axis=0).reshape(np.shape(x))

    return log_pdf, mu, sd


def _crossings(w1, m1, s1, w2, m2, s2):
    """Real roots of log(w1 N(x; m1, s1)) = log(w2 N(x; m2, s2)) (a quadratic equation)."""
    a = 0.5 / s2**2 - 0.5 / s1**2
    b = m1 / s1**2 - m2 / s2**2
    c = 0.5 * m2**2 / s2**2 - 0.5 * m1**2 / s1**2 + math.log(w1 / s1) - math.log(w2 / s2)
    roots = np.roots([a, b, c]) if abs(a) > 1e-300 else np.array([-c / b])
    return [float(r.real) for r in np.atleast_1d(roots) if abs(r.imag) < 1e-12]


INTEGRANDS_NP_1D = {
    "kl": lambda lp, lq: np.where(np.isneginf(lp), 0.0, np.exp(lp) * (lp - lq)),
    "jsd": lambda lp, lq: 0.5
    * (np.exp(lp) * (np.log(2) - np.logaddexp(0, lq - lp)) + np.exp(lq) * (np.log(2) - np.logaddexp(0, lp - lq))),
    "tv": lambda lp, lq: 0.5 * np.abs(np.exp(lp) - np.exp(lq)),
    "hellinger": lambda lp, lq: (np.exp(lp / 2) - np.exp(lq / 2)) ** 2,
}


def reference_1d(name, p, q):
    """∫ h(p(x), q(x)) dx for 1D mixtures by brute force: 30-point Gauss–Legendre on a partition of
    [min(μ − 14σ), max(μ + 14σ)] into pieces no wider than min σ / 4, split also at every point where
    two components' log densities cross (the kinks of log p and log q) and where p = q (the kinks of |p − q|)."""
    lp_fn, mp_, sp_ = _np_log_density_1d(p)
    lq_fn, mq_, sq_ = _np_log_density_1d(q)
    mus, sds = np.concatenate([mp_, mq_]), np.concatenate([sp_, sq_])
    lo, hi = (mus - 14 * sds).min(), (mus + 14 * sds).max()
    n = int(math.ceil((hi - lo) / (sds.min() / 4)))
    cuts = set(np.linspace(lo, hi, n + 1).tolist())
    for dist in (p, q):
        w, m, c = _params(dist)
        for i in range(len(w)):
            for j in range(i + 1, len(w)):
                cuts |= set(_crossings(w[i], m[i, 0], math.sqrt(c[i, 0, 0]), w[j], m[j, 0], math.sqrt(c[j, 0, 0])))
    grid = np.linspace(lo, hi, 200_001)
    sign = np.sign(lp_fn(grid) - lq_fn(grid))
    for k in np.nonzero(sign[:-1] * sign[1:] < 0)[0]:
        cuts.add(optimize.brentq(lambda x: float(lp_fn(np.array([x]))[0] - lq_fn(np.array([x]))[0]), grid[k], grid[k + 1], xtol=1e-15))
    cuts = np.array(sorted(c for c in cuts if lo <= c <= hi))
    nodes, weights = np.polynomial.legendre.leggauss(30)
    a, b = cuts[:-1], cuts[1:]
    x = (a + b)[:, None] / 2 + (b - a)[:, None] / 2 * nodes[None]
    h = INTEGRANDS_NP_1D[name](lp_fn(x), lq_fn(x))
    return float(math.fsum((h * ((b - a)[:, None] / 2 * weights[None])).ravel()))


def _np_density_2d(dist):
    w, m, c = _params(dist)
    inv = np.linalg.inv(c)
    norm = w / (2 * math.pi * np.sqrt(np.linalg.det(c)))

    def log_pdf(x):  # x (n, 2)
        diff = x[:, None, :] - m[None]
        quad = np.einsum("nki,kij,nkj->nk", diff, inv, diff)
        a = np.log(norm)[None] - 0.5 * quad
        top = a.max(1, keepdims=True)
        return (top + np.log(np.exp(a - top).sum(1, keepdims=True)))[:, 0]

    return log_pdf, m, np.sqrt(np.einsum("kii->ki", c))


INTEGRANDS_NP = {
    "kl": lambda lp, lq: np.where(np.isneginf(lp), 0.0, np.exp(lp) * (lp - lq)),
    "jsd": lambda lp, lq: 0.5
    * (np.exp(lp) * (np.log(2) - np.logaddexp(0, lq - lp)) + np.exp(lq) * (np.log(2) - np.logaddexp(0, lp - lq))),
    "tv": lambda lp, lq: 0.5 * np.abs(np.exp(lp) - np.exp(lq)),
    "hellinger": lambda lp, lq: (np.exp(lp / 2) - np.exp(lq / 2)) ** 2,
}


def reference_2d(name, p, q, rtol=1e-13):
    """∫ h dx for 2D mixtures by scipy's cubature over [−10σ, 10σ] boxes of each component and a frame around them."""
    lp_fn, mp_, sp_ = _np_density_2d(p)
    lq_fn, mq_, sq_ = _np_density_2d(q)
    h = INTEGRANDS_NP[name]
    means, stds = np.concatenate([mp_, mq_]), np.concatenate([sp_, sq_])
    lo, hi = (means - 10 * stds).min(0), (means + 10 * stds).max(0)

    def f(x):
        return h(lp_fn(x), lq_fn(x))

    # cut the bounding box at every component's mean ± {0, 1, 3, 10} std on each axis
    cuts = []
    for axis in range(2):
        c = {lo[axis], hi[axis]}
        for mk, sk in zip(means[:, axis], stds[:, axis]):
            c |= {mk + t * sk for t in (-10, -3, -1, 0, 1, 3, 10)}
        cuts.append(np.array(sorted(v for v in c if lo[axis] <= v <= hi[axis])))
    total = 0.0
    for x0, x1 in zip(cuts[0][:-1], cuts[0][1:]):
        for y0, y1 in zip(cuts[1][:-1], cuts[1][1:]):
            res = integrate.cubature(f, [x0, y0], [x1, y1], rule="gk21", rtol=rtol, atol=1e-16, max_subdivisions=100000)
            total += float(res.estimate)
    return total


def mp_w1_1d(p, q, dps=30):
    """W1 = ∫ |F_p − F_q| dx between 1D Gaussian mixtures with mpmath at ``dps`` digits, split at
    every component mean ± {0, 1, 3, 10, 20} std and at the crossings F_p = F_q (found on a fine grid)."""
    import mpmath as mp

    mp.mp.dps = dps
    comps = [_params(d) for d in (p, q)]

    def cdf(c, x):
        w, m, cv = c
        return mp.fsum(mp.mpf(float(wk)) * mp.ncdf(x, float(mk[0]), mp.sqrt(float(ck[0, 0]))) for wk, mk, ck in zip(w, m, cv))

    pts = set()
    for _w, m, cv in comps:
        for mk, ck in zip(m[:, 0], cv[:, 0, 0]):
            pts |= {float(mk) + t * math.sqrt(float(ck)) for t in (-20, -10, -3, -1, 0, 1, 3, 10, 20)}
    pts = sorted(pts)
    grid = np.linspace(pts[0], pts[-1], 801)
    diff = [float(cdf(comps[0], mp.mpf(float(x))) - cdf(comps[1], mp.mpf(float(x)))) for x in grid]
    for k in range(len(grid) - 1):
        if diff[k] * diff[k + 1] < 0:
            pts.append(float(mp.findroot(lambda x: cdf(comps[0], x) - cdf(comps[1], x), (grid[k], grid[k + 1]), solver="anderson")))
    pts = sorted(set(pts))
    f = lambda x: abs(cdf(comps[0], x) - cdf(comps[1], x))  # noqa: E731
    return float(mp.quad(f, pts))  # beyond every mean ± 20 std: below 1e-88 of the value


def mp_gaussian_jsd_1d(delta, dps=40):
    """JSD(N(0, 1) ‖ N(delta, 1)) with mpmath (delta an mpf or a float), split at 0, delta/2, delta."""
    import mpmath as mp

    mp.mp.dps = dps
    d = mp.mpf(delta)

    def h(x):
        a, b = mp.npdf(x, 0, 1), mp.npdf(x, d, 1)
        m = a + b
        return (a * mp.log(2 * a / m) + b * mp.log(2 * b / m)) / 2

    return float(mp.quad(h, [-mp.inf, -10, 0, d / 2, d, d + 10, mp.inf]))


def pearson_gaussians_1d(mp_, sp, mq, sq):
    """χ²(N(mp, sp²) ‖ N(mq, sq²)) = ∫ p²/q − 1 = sq² / (sp sqrt(2 sq² − sp²)) exp((mp − mq)² / (2 sq² − sp²)) − 1
    (finite iff 2 sq² > sp²), from ∫ exp(−a x² + b x) = sqrt(π/a) exp(b²/4a)."""
    gap = 2 * sq**2 - sp**2
    if gap <= 0:
        return math.inf
    log_value = 2 * math.log(sq) - math.log(sp) - 0.5 * math.log(gap) + (mp_ - mq) ** 2 / gap
    return math.exp(log_value) - 1 if log_value < 709 else math.inf  # past float64: inf (overflow)
