"""Tests of gantheory.modes: VEEGAN/PacGAN mode coverage against hand-computed values."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import gantheory as gt
from gantheory.modes import mahalanobis_to_modes, mode_coverage

RING = gt.ring(n_modes=8, radius=1.0, std=0.01)  # PacGAN's ring
GRID = gt.grid(n=5, spacing=2.0, std=0.05)  # PacGAN's grid


def _means(p):
    return gt.as_gaussian_mixture(p).means


def test_hand_computed_grid_scores():
    """10 samples on mode 0, 5 on mode 7, 5 at 2 std from mode 12 (the origin), 5 far away."""
    means = _means(GRID)
    x = torch.cat(
        [
            means[0].expand(10, 2),
            means[7].expand(5, 2) + torch.tensor([0.05, 0.0], dtype=torch.float64),  # 1 std
            means[12].expand(5, 2) + torch.tensor([0.0, -0.1], dtype=torch.float64),  # 2 std
            torch.tensor([[1.0, 1.0]], dtype=torch.float64).expand(5, 2),  # 14 std from any mode
        ]
    )
    s = mode_coverage(x, GRID)
    assert s.modes_captured == 3
    assert s.high_quality == 20 / 25
    expected_counts = [0] * 25
    expected_counts[0], expected_counts[7], expected_counts[12] = 10, 5, 5
    assert s.counts.tolist() == expected_counts
    # KL((1/2, 1/4, 1/4) || 1/25 each) = log 25 - H(1/2, 1/4, 1/4) = log 25 - 1.5 log 2
    assert s.reverse_kl == pytest.approx(math.log(25) - 1.5 * math.log(2), abs=1e-14)
    assert s.n_samples == 25 and s.threshold == 3.0


def test_no_high_quality_sample_gives_zero_modes_and_undefined_reverse_kl():
    x = torch.tensor([[0.0, 0.0], [0.5, 0.5], [3.0, -3.0]])
    s = mode_coverage(x, RING)
    assert s.modes_captured == 0
    assert s.high_quality == 0.0
    assert s.counts.sum() == 0
    assert math.isnan(s.reverse_kl)


def test_every_sample_on_one_mode_gives_reverse_kl_log_k():
    """A collapsed generator: one mode, all samples good, KL(delta_k || uniform) = log K."""
    x = _means(RING)[3].expand(2500, 2) + 0.005 * torch.randn(
        2500, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0)
    ).clamp(-2, 2)
    s = mode_coverage(x, RING)
    assert s.modes_captured == 1
    assert s.high_quality == 1.0
    assert s.counts[3] == 2500
    assert s.reverse_kl == pytest.approx(math.log(8), abs=1e-14)


def test_equal_coverage_gives_zero_reverse_kl_and_all_modes():
    x = _means(GRID).repeat(4, 1)
    s = mode_coverage(x, GRID)
    assert s.modes_captured == 25 and s.high_quality == 1.0
    assert s.reverse_kl == pytest.approx(0.0, abs=1e-15)


def test_reverse_kl_uses_the_mode_weights():
    p = gt.mixture(means=[[0.0, 0.0], [5.0, 0.0]], stds=[0.1, 0.1], weights=[0.2, 0.8])
    x = torch.tensor([[0.0, 0.0]] * 3 + [[5.0, 0.0]] * 1, dtype=torch.float64)
    s = mode_coverage(x, p)
    expected = 0.75 * math.log(0.75 / 0.2) + 0.25 * math.log(0.25 / 0.8)
    assert s.reverse_kl == pytest.approx(expected, abs=1e-14)


def test_threshold_is_three_standard_deviations():
    mu = _means(RING)[0]
    inside = mu + torch.tensor([0.0299, 0.0], dtype=torch.float64)  # 2.99 std
    outside = mu + torch.tensor([0.0, 0.0301], dtype=torch.float64)  # 3.01 std
    assert mode_coverage(inside[None], RING).high_quality == 1.0
    assert mode_coverage(outside[None], RING).high_quality == 0.0
    assert mode_coverage(outside[None], RING, threshold=3.1).high_quality == 1.0


def test_samples_from_the_target_are_high_quality_with_chi2_probability():
    """For x ~ N(mu, s^2 I) in 2D, r^2 ~ chi^2_2, so P(r < 3) = 1 - exp(-9/2) = 0.98889."""
    g = torch.Generator().manual_seed(0)
    index = torch.randint(25, (20000,), generator=g)
    x = _means(GRID)[index] + 0.05 * torch.randn(20000, 2, dtype=torch.float64, generator=g)
    s = mode_coverage(x, GRID)
    p = 1 - math.exp(-4.5)
    assert abs(s.high_quality - p) < 5 * math.sqrt(p * (1 - p) / 20000)
    assert s.modes_captured == 25
    assert s.reverse_kl < 0.01  # KL of a 20,000-sample histogram from uniform: ~ (K-1)/(2n)


def test_full_covariance_mahalanobis_against_explicit_inverse():
    cov = torch.tensor([[[2.0, 0.6], [0.6, 0.5]], [[0.3, -0.1], [-0.1, 0.2]]], dtype=torch.float64)
    p = gt.mixture(means=[[0.0, 1.0], [2.0, -1.0]], covs=cov)
    x = torch.tensor([[0.3, 0.2], [2.0, -1.0], [-4.0, 7.0]], dtype=torch.float64)
    r = mahalanobis_to_modes(x, p)
    for i in range(3):
        for k in range(2):
            d = x[i] - _means(p)[k]
            exact = float(d @ torch.linalg.inv(cov[k]) @ d) ** 0.5
            assert r[i, k] == pytest.approx(exact, rel=1e-13)


def test_one_dimensional_target():
    p = gt.mixture(means=[-2.0, 2.0], stds=[0.5, 0.5])
    s = mode_coverage(torch.tensor([-2.0, -1.9, 2.4, 0.0]), p)
    assert s.modes_captured == 2 and s.high_quality == 0.75


def _naive_scores(x, means, std, threshold=3.0):
    """The definition, one sample and one mode at a time (as PacGAN's released MetricLogger)."""
    counts = [0] * len(means)
    for point in x:
        dists = [math.dist(point, mu) / std for mu in means]
        k = min(range(len(means)), key=dists.__getitem__)
        if dists[k] < threshold:
            counts[k] += 1
    return counts


@given(
    arrays(np.float64, st.tuples(st.integers(1, 60), st.just(2)), elements=st.floats(-1.3, 1.3)),
    st.floats(0.5, 6.0),
)
def test_vectorised_scores_equal_the_naive_loop(x, threshold):
    means = _means(RING).tolist()
    std = float(RING.component_distribution.base_dist.scale[0, 0])
    counts = _naive_scores(x.tolist(), means, std, threshold)
    s = mode_coverage(torch.from_numpy(x), RING, threshold=threshold)
    assert s.counts.tolist() == counts
    assert s.modes_captured == sum(c > 0 for c in counts)
    assert s.high_quality == sum(counts) / len(x)


@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.just(2)), elements=st.floats(-5, 5)))
def test_reverse_kl_is_non_negative_and_at_most_log_k(x):
    s = mode_coverage(torch.from_numpy(x), GRID, threshold=40.0)
    assert -1e-12 <= s.reverse_kl <= math.log(25) + 1e-12


def test_bad_input_is_rejected_with_the_argument_named():
    with pytest.raises(TypeError, match="p_data"):
        mode_coverage(torch.zeros(3, 2), torch.distributions.Uniform(0.0, 1.0))
    with pytest.raises(ValueError, match=r"samples must have shape \(n, 2\)"):
        mode_coverage(torch.zeros(3, 3), RING)
    with pytest.raises(ValueError, match="samples must be finite"):
        mode_coverage(torch.tensor([[0.0, float("nan")]]), RING)
    with pytest.raises(ValueError, match="at least one"):
        mode_coverage(torch.zeros(0, 2), RING)
    with pytest.raises(ValueError, match="threshold"):
        mode_coverage(torch.zeros(3, 2), RING, threshold=0.0)
    with pytest.raises(TypeError, match="samples must be floating"):
        mode_coverage(torch.zeros(3, 2, dtype=torch.int64), RING)


def test_to_dict_is_plain():
    d = mode_coverage(torch.zeros(2, 2), RING).to_dict()
    assert d["counts"] == [0] * 8 and d["modes_captured"] == 0
