"""Mode coverage of a generator on a Gaussian-mixture target: modes captured, high-quality samples.

The mode-collapse scores of VEEGAN (Srivastava et al. 2017, arXiv:1705.07761, Section 5.1) and
PacGAN (Lin et al. 2018, arXiv:1712.04086, Section 5.1 and Table 1), for the ring of 8 and the
grid of 25 Gaussians. For samples x_1..x_n and a target sum_k w_k N(mu_k, Sigma_k):

- r_k(x) = sqrt((x - mu_k)^T Sigma_k^-1 (x - mu_k)), the Mahalanobis distance to mode k
  (||x - mu_k|| / sigma for the isotropic modes of the ring and the grid);
- x is *high quality* when min_k r_k(x) < threshold (3 standard deviations) and is then assigned
  to its nearest mode k*(x) = argmin_k r_k(x) (the same distance, as in PacGAN's released code);
- counts c_k = #{high-quality x with k*(x) = k}; *modes captured* = #{k : c_k > 0};
  *high-quality fraction* = sum_k c_k / n;
- *reverse KL* = KL(c / sum c || w) = sum_{k: c_k > 0} (c_k / C) log((c_k / C) / w_k), C = sum c.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch.distributions import Distribution

from gantheory import _validation as check
from gantheory.distributions import as_gaussian_mixture

__all__ = ["ModeCoverage", "mode_coverage", "mahalanobis_to_modes"]


@dataclass(frozen=True)
class ModeCoverage:
    """Mode-coverage scores of n samples (see :func:`mode_coverage`).

    Attributes:
        modes_captured: number of modes nearest to at least one high-quality sample.
        high_quality: fraction of samples within ``threshold`` standard deviations of their
            nearest mode, in [0, 1] (the papers print it as a percentage).
        reverse_kl: KL(histogram of high-quality samples over the modes || mode weights), in
            nats; ``nan`` when no sample is high quality (the histogram is then undefined).
        counts: high-quality samples per mode, shape (K,), int64.
        n_samples: n.
        threshold: the Mahalanobis radius that defines high quality.
    """

    modes_captured: int
    high_quality: float
    reverse_kl: float
    counts: torch.Tensor
    n_samples: int
    threshold: float

    def to_dict(self) -> dict[str, object]:
        return {
            "modes_captured": self.modes_captured,
            "high_quality": self.high_quality,
            "reverse_kl": self.reverse_kl,
            "counts": self.counts.tolist(),
            "n_samples": self.n_samples,
            "threshold": self.threshold,
        }


def _components(p_data: Distribution) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    check.distribution("p_data", p_data)
    comps = as_gaussian_mixture(p_data)
    if comps is None:
        raise TypeError(
            "p_data must be a Gaussian or a mixture of Gaussians (for example gantheory.ring() or "
            f"gantheory.grid()), got {type(p_data).__name__}"
        )
    return comps.weights.detach(), comps.means.detach(), comps.covs.detach()


def mahalanobis_to_modes(x: torch.Tensor, p_data: Distribution) -> torch.Tensor:
    """Mahalanobis distance of each point to each mode of a Gaussian mixture, in float64.

    r_k(x) = sqrt((x - mu_k)^T Sigma_k^-1 (x - mu_k)), computed as ||L_k^-1 (x - mu_k)|| with
    Sigma_k = L_k L_k^T (Cholesky), exact to float64 rounding.

    Args:
        x: points, shape (n, d) (or (n,) for a 1D target).
        p_data: a Gaussian or a mixture of Gaussians with K components (see
            :func:`gantheory.as_gaussian_mixture`).

    Returns:
        distances, shape (n, K), float64.

    Raises:
        TypeError: p_data is not a Gaussian mixture, or x is not floating point.
        ValueError: x has the wrong shape or non-finite entries.

    >>> import gantheory as gt
    >>> p = gt.ring(n_modes=4, radius=1.0, std=0.01)
    >>> r = mahalanobis_to_modes(torch.tensor([[1.03, 0.0]], dtype=torch.float64), p)
    >>> [round(v, 4) for v in r[0].tolist()]  # 0.03 / 0.01 and sqrt(1.03^2 + 1) / 0.01
    [3.0, 143.5584, 203.0, 143.5584]
    """
    _, means, covs = _components(p_data)
    x = _samples("x", x, means.shape[1])
    scale_tril = torch.linalg.cholesky(covs.to(torch.float64))
    diff = x[None, :, :] - means.to(torch.float64)[:, None, :]  # (K, n, d)
    white = torch.linalg.solve_triangular(scale_tril, diff.transpose(1, 2), upper=False)
    return white.square().sum(dim=1).sqrt().T


def _samples(name: str, x: object, d: int) -> torch.Tensor:
    return check.points(name, x, d).detach().to(device="cpu", dtype=torch.float64)


def mode_coverage(
    samples: torch.Tensor, p_data: Distribution, *, threshold: float = 3.0
) -> ModeCoverage:
    """Modes captured, high-quality fraction and reverse KL of samples against a Gaussian mixture.

    With r_k(x) the Mahalanobis distance to mode k, a sample is high quality when
    min_k r_k(x) < threshold; c_k counts the high-quality samples whose nearest mode is k;
    modes captured = #{k : c_k > 0}; high quality = sum c / n; reverse KL = KL(c / sum c || w)
    with 0 log 0 = 0 (Srivastava et al. 2017, VEEGAN, arXiv:1705.07761, Section 5.1; Lin et al.
    2018, PacGAN, arXiv:1712.04086, Section 5.1; both score 2,500 samples).

    Args:
        samples: generated points, shape (n, d) (or (n,) for a 1D target); any floating dtype,
            any device (scored in float64 on the CPU).
        p_data: the target, a Gaussian mixture with K components (``ring()``, ``grid()``,
            ``mixture(...)``).
        threshold: the high-quality radius in standard deviations (3 in both papers).

    Returns:
        a :class:`ModeCoverage`; ``reverse_kl`` is ``nan`` when no sample is high quality.

    Raises:
        TypeError: p_data is not a Gaussian mixture; samples not floating point.
        ValueError: samples of the wrong shape, empty or non-finite; threshold not > 0.

    >>> import gantheory as gt
    >>> p = gt.ring(n_modes=8, radius=1.0, std=0.01)
    >>> x = torch.tensor([[1.0, 0.0], [1.0, 0.01], [0.0, 1.0], [0.5, 0.5]])
    >>> s = mode_coverage(x, p)
    >>> s.modes_captured, s.high_quality, s.counts[:3].tolist()
    (2, 0.75, [2, 0, 1])
    >>> round(s.reverse_kl, 6)  # KL((2/3, 1/3) || 1/8 each) = log 8 - H(2/3, 1/3)
    1.442927
    """
    threshold = check.positive_number("threshold", threshold)
    weights, means, _ = _components(p_data)
    x = _samples("samples", samples, means.shape[1])
    if x.shape[0] == 0:
        raise ValueError("samples must hold at least one point, got shape (0, d)")
    distance, nearest = mahalanobis_to_modes(x, p_data).min(dim=1)
    good = distance < threshold
    counts = torch.bincount(nearest[good], minlength=weights.shape[0])
    total = int(counts.sum())
    if total == 0:
        reverse_kl = math.nan
    else:
        hist = counts.to(torch.float64) / total
        hit = counts > 0
        weights = weights.to(device="cpu", dtype=torch.float64)
        reverse_kl = float((hist[hit] * (hist[hit].log() - weights[hit].log())).sum())
    return ModeCoverage(
        modes_captured=int((counts > 0).sum()),
        high_quality=total / x.shape[0],
        reverse_kl=reverse_kl,
        counts=counts,
        n_samples=int(x.shape[0]),
        threshold=threshold,
    )
