"""Tests of gantheory.regularizers and their wiring into train: R1, R2, consensus, instance noise."""

import dataclasses
import math

import pytest
import torch

import gantheory as gt
from gantheory.regularizers import consensus_penalty, input_gradient_norm2, instance_noise_std


def test_r1_of_a_linear_logit_is_half_gamma_w_squared_with_gradient_gamma_w():
    """a(x) = w.x + b: grad_x a = w everywhere, so R1 = (gamma/2)||w||^2, d R1 / dw = gamma w,
    d R1 / db = 0 (Mescheder et al. 2018, eq. (9))."""
    D = torch.nn.Linear(3, 1).double()
    with torch.no_grad():
        D.weight.copy_(torch.tensor([[0.5, -2.0, 1.5]]))
    x = torch.randn(7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    gamma = 0.8
    r1 = 0.5 * gamma * input_gradient_norm2(D, x).mean()
    w = D.weight.detach()[0]
    assert float(r1.detach()) == pytest.approx(0.5 * gamma * float(w @ w), abs=1e-14)
    grad_w, grad_b = torch.autograd.grad(r1, [D.weight, D.bias], allow_unused=True)
    assert torch.allclose(grad_w[0], gamma * w, atol=1e-14)
    assert grad_b is None or float(grad_b.abs().max()) == 0.0


def test_penalty_gradient_of_a_one_hidden_layer_tanh_logit_equals_closed_form():
    """a(x) = v.tanh(W x + c): grad_x a = W^T (v * s), s = 1 - tanh^2; the penalty
    P = mean ||W^T (v * s)||^2 has dP/dv = mean 2 s * (W g), g = W^T (v * s)."""
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(4, 2, dtype=torch.float64, generator=gen)
    c = torch.randn(4, dtype=torch.float64, generator=gen)
    v = torch.randn(4, dtype=torch.float64, generator=gen).requires_grad_(True)
    x = torch.randn(9, 2, dtype=torch.float64, generator=gen)

    def D(points):
        return torch.tanh(points @ W.T + c) @ v

    P = input_gradient_norm2(D, x).mean()
    (ours,) = torch.autograd.grad(P, v)
    s = 1 - torch.tanh(x @ W.T + c) ** 2  # (n, 4)
    g = (v.detach() * s) @ W  # (n, 2), grad_x a
    closed = (2 * s * (g @ W.T)).mean(0)
    assert torch.allclose(ours, closed, atol=1e-13)
    assert torch.allclose(input_gradient_norm2(D, x), g.square().sum(1), atol=1e-13)


def test_consensus_penalty_on_a_quadratic_game_equals_closed_form():
    """L_G = a t^2/2 + t p, L_D = -t p + b p^2/2: v = (a t + p, -t + b p), ||v||^2/2 has gradient
    (a (a t + p) - (-t + b p), (a t + p) + b (-t + b p)) (Mescheder et al. 2017, Section 4)."""
    a, b = 0.3, 0.7
    t = torch.tensor(0.9, dtype=torch.float64, requires_grad=True)
    p = torch.tensor(-0.4, dtype=torch.float64, requires_grad=True)
    L_G, L_D = a * t**2 / 2 + t * p, -t * p + b * p**2 / 2
    penalty = consensus_penalty(L_G, L_D, [t], [p])
    vt, vp = a * 0.9 - 0.4, -0.9 + b * -0.4
    assert float(penalty.detach()) == pytest.approx(0.5 * (vt**2 + vp**2), abs=1e-15)
    gt_, gp = torch.autograd.grad(penalty, [t, p])
    assert float(gt_) == pytest.approx(a * vt - vp, abs=1e-15)
    assert float(gp) == pytest.approx(vt + b * vp, abs=1e-15)


def test_consensus_penalty_per_member_splits_the_sum():
    """Two members stacked member-major: the per-member values are each member's own penalty."""
    t = torch.tensor([0.9, -0.2], dtype=torch.float64, requires_grad=True)
    p = torch.tensor([-0.4, 1.1], dtype=torch.float64, requires_grad=True)
    L_G, L_D = (t * p).sum(), (-t * p + p**2).sum()
    per = consensus_penalty(L_G, L_D, [t], [p], members=2)
    expected = [0.5 * (pi**2 + (-ti + 2 * pi) ** 2) for ti, pi in ((0.9, -0.4), (-0.2, 1.1))]
    assert per.tolist() == pytest.approx(expected, abs=1e-15)
    assert float(consensus_penalty(L_G, L_D, [t], [p]).detach()) == pytest.approx(sum(expected), abs=1e-14)


def test_instance_noise_schedule_is_linear_and_constant_without_final():
    assert [instance_noise_std(0.8, 0.0, t, 4) for t in (1, 2, 3, 4)] == pytest.approx(
        [0.8, 0.6, 0.4, 0.2]
    )
    assert instance_noise_std(0.5, None, 99, 100) == 0.5


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [("r1", -1.0, ValueError), ("r2", math.inf, ValueError), ("consensus", "1", TypeError),
     ("instance_noise", -0.1, ValueError), ("instance_noise_final", -1.0, ValueError),
     ("r1", True, TypeError)],
)
def test_bad_regulariser_fields_are_named(field, value, error):
    with pytest.raises(error, match=field):
        gt.TrainConfig(**{field: value})


def _run(seed=0, **kw):
    s = gt.random_streams(seed)
    G = gt.AffineGenerator(1, loc=1.5, scale=0.5)
    D = gt.mlp_discriminator(1, widths=(16,), activation="tanh", generator=s.init)
    base = dict(steps=800, batch_size=64, lr_d=0.1, lr_g=0.1, momentum=0.0, record_every=100,
                device="cpu", seed=seed, exact_method="grid")
    return gt.train(gt.gaussian(0.0, 1.0), G, D, gt.TrainConfig(**{**base, **kw}), progress=False)


def _distance(G):
    """Distance of (mu, |w|) to the equilibrium (0, 1) of p_data = N(0, 1)."""
    return math.hypot(float(G.loc.detach()[0]), abs(float(G.weight.detach()[0, 0])) - 1.0)


@pytest.fixture(scope="module")
def unregularised():
    return _run()


@pytest.mark.parametrize("kw", [dict(r1=1.0), dict(r2=1.0), dict(consensus=0.5)])
def test_regularised_training_of_an_affine_generator_reaches_the_data(kw, unregularised):
    """Mescheder et al. 2018 (Theorem 4.1) and 2017: with R1, R2 or consensus, simultaneous-style
    training is locally convergent to p_g = p_data; from N(1.5, 0.5^2) towards N(0, 1) the
    affine G ends within minibatch-noise distance of (0, 1), with JSD below 1e-3 nats (it starts
    at ~0.3). The unregularised run of the same seed also gets close here (an absolutely
    continuous p_data), so each regulariser must also end at least twice nearer in JSD (mean of
    the last four records; measured over seeds 0-2: 2.9x to 59x for R1/R2, 1.6x to 3.9x for
    consensus, 3.9x at this seed): a regulariser that were ignored would tie."""
    result = _run(**kw)
    assert result.history.jsd[0] > 0.2
    assert result.history.jsd[-1] < 1e-3
    assert _distance(result.G) < 0.08
    tail = sum(result.history.jsd[-4:]) / 4
    assert tail < 0.5 * sum(unregularised.history.jsd[-4:]) / 4


def test_instance_noise_and_regularisers_resume_bit_identically_and_old_checkpoints_load(tmp_path):
    # constant sigma: an annealed one depends on ``steps``, which a resumed run extends
    kw = dict(steps=40, record_every=10, instance_noise=0.3, r1=0.5, consensus=0.2, exact=False)
    whole = _run(**kw)
    path = tmp_path / "run.pt"
    s = gt.random_streams(0)
    G = gt.AffineGenerator(1, loc=1.5, scale=0.5)
    D = gt.mlp_discriminator(1, widths=(16,), activation="tanh", generator=s.init)
    config = gt.TrainConfig(batch_size=64, lr_d=0.1, lr_g=0.1, momentum=0.0, device="cpu",
                            **{**kw, "steps": 20})
    gt.train(gt.gaussian(0.0, 1.0), G, D, config, checkpoint=path, progress=False)
    resumed = gt.train(gt.gaussian(0.0, 1.0), G, D, dataclasses.replace(config, steps=40),
                       checkpoint=path, progress=False)
    for a, b in ((resumed.G, whole.G), (resumed.D, whole.D)):
        for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
            assert torch.equal(pa, pb)
    # a checkpoint written before the regularisers existed (no such config keys, no instance
    # stream) resumes a run without them
    plain = gt.TrainConfig(steps=10, record_every=5, exact=False, device="cpu")
    G2, D2 = gt.AffineGenerator(1), gt.mlp_discriminator(1, widths=(4,), generator=s.init)
    old = tmp_path / "old.pt"
    gt.train(gt.gaussian(0.0, 1.0), G2, D2, plain, checkpoint=old, progress=False)
    state = torch.load(old, weights_only=False)
    for key in ("r1", "r2", "consensus", "instance_noise", "instance_noise_final"):
        del state["config"][key]
    del state["rng"]["instance"]
    torch.save(state, old)
    more = gt.train(gt.gaussian(0.0, 1.0), G2, D2, dataclasses.replace(plain, steps=12),
                    checkpoint=old, progress=False)
    assert more.history.step[-1] == 12


def test_regularisers_off_leave_runs_unchanged_and_on_change_them():
    base = _run(steps=20, exact=False)
    zero = _run(steps=20, exact=False, r1=0.0, instance_noise=0.0, instance_noise_final=0.0)
    assert torch.equal(base.G.loc, zero.G.loc)
    for kw in (dict(r1=1.0), dict(r2=1.0), dict(consensus=0.5), dict(instance_noise=0.3)):
        other = _run(steps=20, exact=False, **kw)
        assert not torch.equal(base.D.body[0].weight, other.D.body[0].weight), kw


def test_train_draws_instance_noise_and_applies_r1_as_documented():
    """Two iterations of train with R1 and constant instance noise equal a hand-written Algorithm 1
    that draws from random_streams in the order of train's module docstring, bit for bit."""
    config = gt.TrainConfig(steps=2, batch_size=8, lr_d=0.1, lr_g=0.1, momentum=0.0, r1=0.7,
                            instance_noise=0.3, exact=False, device="cpu", seed=4)
    p_data = gt.gaussian(0.0, 1.0)

    def players():
        G = gt.AffineGenerator(1, loc=1.0, scale=0.5)
        return G, gt.mlp_discriminator(1, widths=(4,), generator=gt.random_streams(4).init)

    G, D = players()
    result = gt.train(p_data, G, D, config, progress=False)
    G2, D2 = players()
    s = gt.random_streams(4)
    draw = gt.DataSampler(p_data)
    opt_d = torch.optim.SGD(D2.parameters(), lr=0.1, momentum=0.0)
    opt_g = torch.optim.SGD(G2.parameters(), lr=0.1, momentum=0.0)
    for _ in range(2):
        x = draw(8, s.data)
        z = gt.sample_noise(8, 1, "gaussian", s.noise)
        with torch.no_grad():
            fake = G2(z)
        x = x + 0.3 * torch.randn(x.shape, generator=s.instance)
        fake = fake + 0.3 * torch.randn(fake.shape, generator=s.instance)
        cost = gt.discriminator_loss(D2(x), D2(fake), "non_saturating").mean()
        cost = cost + 0.5 * 0.7 * input_gradient_norm2(D2, x).mean()
        opt_d.zero_grad()
        cost.backward()
        opt_d.step()
        z = gt.sample_noise(8, 1, "gaussian", s.noise)
        fake = G2(z) + 0.3 * torch.randn((8, 1), generator=s.instance)
        cost_g = gt.generator_loss(D2(fake), "non_saturating").mean()
        opt_g.zero_grad()
        cost_g.backward()
        opt_g.step()
    for a, b in ((result.G, G2), (result.D, D2)):
        for pa, pb in zip(a.state_dict().values(), b.state_dict().values()):
            assert torch.equal(pa, pb)


def test_consensus_penalty_names_bad_costs_and_empty_players():
    t = torch.tensor(0.5, dtype=torch.float64, requires_grad=True)
    with pytest.raises(ValueError, match="cost_g must be a scalar"):
        consensus_penalty(torch.stack([t, t]), t * t, [t], [t])
    with pytest.raises(ValueError, match="params_d is empty"):
        consensus_penalty(t * t, t * t, [t], [])
