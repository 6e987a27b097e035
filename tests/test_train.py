"""Tests of gantheory.train: Algorithm 1, its random streams, the history, checkpoint and resume."""

import math

import pytest
import torch
import torch.nn.functional as F
from scipy import stats

import gantheory as gt

P_1D = gt.gaussian(1.0, 0.5)
P_2D = gt.mixture([[-1.0, 0.0], [1.0, 0.0]], 0.3)


def small_players(seed=0, d=1, batch_norm=False):
    s = gt.random_streams(seed)
    G = gt.mlp_generator(2, d, widths=(8,), batch_norm=batch_norm, generator=s.init)
    D = gt.mlp_discriminator(d, widths=(8,), generator=s.init)
    return G, D


def cfg(**kw):
    base = dict(steps=20, record_every=5, exact=False, device="cpu", batch_size=16)
    return gt.TrainConfig(**{**base, **kw})


def parameters(module):
    return [p.detach().clone() for p in module.state_dict().values()]


def assert_same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


def assert_same_history(a, b):
    da, db = a.to_dict(), b.to_dict()
    for key in da:
        assert len(da[key]) == len(db[key]), key
        for x, y in zip(da[key], db[key]):
            assert (math.isnan(x) and math.isnan(y)) or x == y, (key, x, y)


# --- Algorithm 1 and its random streams --------------------------------------------------------


@pytest.mark.parametrize(("k", "lr_final"), [(1, 1.0), (3, 0.5)])
def test_train_is_algorithm_1_with_the_documented_streams(k, lr_final):
    """A hand-written Algorithm 1 drawing from random_streams in the documented order, with the
    documented learning-rate decay, gives bit-identical parameters (so an ensemble can reproduce
    any run member by member)."""
    config = cfg(steps=12, k=k, momentum=0.9, lr_final=lr_final)
    G, D = small_players(0)
    result = gt.train(P_1D, G, D, config, progress=False)

    G2, D2 = small_players(0)
    s = gt.random_streams(config.seed)
    draw = gt.DataSampler(P_1D)
    opt_d = torch.optim.SGD(D2.parameters(), lr=config.lr_d, momentum=0.9)
    opt_g = torch.optim.SGD(G2.parameters(), lr=config.lr_g, momentum=0.9)
    m = config.batch_size
    for t in range(1, config.steps + 1):
        if lr_final != 1.0:
            for opt, lr in ((opt_d, config.lr_d), (opt_g, config.lr_g)):
                opt.param_groups[0]["lr"] = lr * lr_final ** ((t - 1) / config.steps)
        for _ in range(k):
            x = draw(m, s.data)
            z = torch.randn(m, 2, generator=s.noise)
            with torch.no_grad():
                fake = G2(z)
            cost = (-F.logsigmoid(D2(x)) + -F.logsigmoid(-D2(fake))).mean()
            opt_d.zero_grad()
            cost.backward()
            opt_d.step()
        z = torch.randn(m, 2, generator=s.noise)
        cost_g = (-F.logsigmoid(D2(G2(z)))).mean()  # non-saturating: -log D(G(z))
        opt_g.zero_grad()
        cost_g.backward()
        opt_g.step()
    assert_same_state(result.G, G2)
    assert_same_state(result.D, D2)


def test_same_seed_same_run_different_seed_different_run():
    runs = []
    for seed in (0, 0, 1):
        G, D = small_players(0)
        runs.append(gt.train(P_1D, G, D, cfg(seed=seed), progress=False))
    assert_same_state(runs[0].G, runs[1].G)
    assert_same_history(runs[0].history, runs[1].history)
    assert not torch.equal(parameters(runs[0].G)[0], parameters(runs[2].G)[0])


def test_train_leaves_the_global_random_state_alone():
    state = torch.get_rng_state()
    gt.train(P_2D, *small_players(0, d=2), cfg(steps=3), progress=False)
    assert torch.equal(state, torch.get_rng_state())


def test_random_streams_are_distinct_and_reproducible():
    a, b = gt.random_streams(3), gt.random_streams(3)
    draws = {
        name: torch.rand(4, generator=getattr(a, name))
        for name in ("init", "data", "noise", "penalty")
    }
    for name, x in draws.items():
        assert torch.equal(x, torch.rand(4, generator=getattr(b, name)))
    values = list(draws.values())
    assert all(not torch.equal(values[i], values[j]) for i in range(4) for j in range(i))
    assert not torch.equal(torch.rand(4, generator=gt.random_streams(4).data), draws["data"])


def test_data_sampler_draws_from_p_data():
    """Kolmogorov-Smirnov against the exact mixture CDF (fixed seed, so not flaky)."""
    p = gt.mixture([-2.0, 1.0], [0.5, 1.0], [0.3, 0.7])
    x = gt.DataSampler(p, dtype=torch.float64)(20_000, torch.Generator().manual_seed(0))[:, 0]

    def cdf(v):
        v = torch.as_tensor(v, dtype=torch.float64)
        comp = torch.distributions.Normal(torch.tensor([-2.0, 1.0]), torch.tensor([0.5, 1.0]))
        return (comp.cdf(v[:, None]) * torch.tensor([0.3, 0.7])).sum(-1).numpy()

    assert stats.kstest(x.numpy(), cdf).pvalue > 1e-3


def test_data_sampler_fallback_is_seeded_and_pure():
    p = torch.distributions.Uniform(torch.tensor(0.0), torch.tensor(2.0))
    state = torch.get_rng_state()
    a = gt.DataSampler(p)(100, torch.Generator().manual_seed(5))
    b = gt.DataSampler(p)(100, torch.Generator().manual_seed(5))
    assert torch.equal(state, torch.get_rng_state())
    assert torch.equal(a, b) and a.shape == (100, 1)
    assert 0.0 <= float(a.min()) and float(a.max()) <= 2.0


# --- what the history records ------------------------------------------------------------------


def test_history_records_every_n_steps_and_the_last():
    result = gt.train(P_1D, *small_players(), cfg(steps=23, record_every=10), progress=False)
    h = result.history
    assert h.step == [0, 10, 20, 23]
    assert math.isnan(h.loss_d[0])
    for key in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_g"):
        assert all(math.isfinite(v) for v in getattr(h, key)[1:]), key
    assert all(0 < v < 1 for v in h.d_real[1:] + h.d_fake[1:])
    assert all(math.isnan(v) for v in h.jsd)  # exact recording off


@pytest.mark.parametrize("method", ["auto", "grid"])
def test_virtual_criterion_identity_and_value_bound_hold_along_training(method):
    """C(G) = -log 4 + 2 JSD(p_data || p_g) (Theorem 1) and V(D, G) <= V(D*, G) (Proposition 1)
    at every recorded step of a real training run."""
    G = gt.AffineGenerator(1, loc=-1.0, scale=0.3)
    D = gt.mlp_discriminator(1, widths=(16, 16), generator=gt.random_streams(0).init)
    config = cfg(steps=150, record_every=30, exact=True, exact_method=method, batch_size=128)
    h = gt.train(P_1D, G, D, config, progress=False).history
    assert len(h.step) == 6
    for i in range(len(h.step)):
        identity = h.c_g[i] - (-math.log(4.0) + 2 * h.jsd[i])
        assert abs(identity) <= h.c_g_error[i] + 2 * h.jsd_error[i] + 1e-12
        assert h.value_gap[i] >= -h.value_gap_error[i]
        assert h.d_error_bound[i] < 1e-3 and 0 <= h.d_error[i] <= 1
    assert h.jsd[-1] < 0.5 * h.jsd[0]  # G is learning


def test_exact_generator_converges_to_p_data():
    """A short real run: JSD(p_data || p_g) falls by two orders of magnitude."""
    G = gt.AffineGenerator(1, loc=-1.0, scale=0.3)
    D = gt.mlp_discriminator(1, widths=(32, 32), generator=gt.random_streams(0).init)
    config = cfg(steps=800, record_every=800, exact=True, batch_size=128, lr_final=0.1)
    h = gt.train(P_1D, G, D, config, progress=False).history
    assert h.jsd[0] > 0.5 and h.jsd[-1] < 5e-3, h.jsd
    assert abs(h.mean_d_data[-1] - 0.5) < 0.05


@pytest.mark.parametrize("loss", gt.GENERATOR_LOSSES)
def test_every_loss_trains_without_nans(loss):
    penalty = 1.0 if loss == "wasserstein" else 0.0
    config = cfg(
        steps=10, loss=loss, gradient_penalty=penalty, optimizer="adam", lr_d=1e-3, lr_g=1e-3
    )
    h = gt.train(P_2D, *small_players(d=2), config, progress=False).history
    assert all(math.isfinite(v) for v in h.loss_d[1:] + h.loss_g[1:] + h.grad_norm_g[1:])


def test_packing_and_uniform_noise():
    s = gt.random_streams(0)
    G = gt.mlp_generator(3, 2, widths=(8,), generator=s.init)
    D = gt.mlp_discriminator(2, widths=(8,), pack=4, generator=s.init)
    h = gt.train(P_2D, G, D, cfg(steps=5, pack=4, noise="uniform"), progress=False).history
    assert h.step == [0, 5] and math.isfinite(h.loss_d[-1])


def test_packed_exact_generator_skips_the_exact_recording():
    G = gt.AffineGenerator(2)
    D = gt.mlp_discriminator(2, widths=(8,), pack=2, generator=torch.Generator().manual_seed(0))
    h = gt.train(P_2D, G, D, cfg(steps=5, pack=2, exact=True), progress=False).history
    assert all(math.isnan(v) for v in h.jsd)


# --- checkpoint and resume ---------------------------------------------------------------------


class Interrupt(Exception):
    pass


def interrupt_at(step):
    def callback(t, G, D):
        if t == step:
            raise Interrupt

    return callback


@pytest.mark.parametrize(
    "options",
    [
        dict(optimizer="sgd", k=2, lr_final=0.3),
        dict(optimizer="adam", lr_d=1e-3, lr_g=1e-3, loss="wasserstein", gradient_penalty=10.0),
        dict(optimizer="adam", lr_d=1e-3, lr_g=1e-3, batch_norm=True),
    ],
)
def test_resumed_run_equals_an_uninterrupted_one_bit_for_bit(tmp_path, options):
    batch_norm = options.pop("batch_norm", False)
    config = cfg(steps=30, record_every=5, checkpoint_every=7, **options)
    full = gt.train(P_1D, *small_players(0, batch_norm=batch_norm), config, progress=False)

    path = tmp_path / "run.pt"
    with pytest.raises(Interrupt):
        gt.train(
            P_1D, *small_players(0, batch_norm=batch_norm), config,
            checkpoint=path, callback=interrupt_at(17), progress=False,
        )  # fmt: skip
    assert gt.io.load_checkpoint(path)["step"] == 14
    G, D = small_players(1, batch_norm=batch_norm)  # another init: the checkpoint overrides it
    resumed = gt.train(P_1D, G, D, config, checkpoint=path, progress=False)
    assert_same_state(full.G, resumed.G)
    assert_same_state(full.D, resumed.D)
    assert_same_history(full.history, resumed.history)


def test_a_checkpoint_extends_to_more_steps(tmp_path):
    path = tmp_path / "run.pt"
    gt.train(P_1D, *small_players(0), cfg(steps=10), checkpoint=path, progress=False)
    longer = gt.train(P_1D, *small_players(0), cfg(steps=20), checkpoint=path, progress=False)
    direct = gt.train(P_1D, *small_players(0), cfg(steps=20), progress=False)
    assert_same_state(longer.G, direct.G)


def test_a_checkpoint_of_another_config_is_refused(tmp_path):
    path = tmp_path / "run.pt"
    gt.train(P_1D, *small_players(0), cfg(steps=5), checkpoint=path, progress=False)
    with pytest.raises(ValueError, match="another config"):
        gt.train(P_1D, *small_players(0), cfg(steps=5, lr_d=0.1), checkpoint=path, progress=False)


# --- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        (dict(steps=0), "steps"),
        (dict(k=1.5), "k"),
        (dict(loss="hinge"), "loss"),
        (dict(optimizer="rmsprop"), "optimizer"),
        (dict(noise="cauchy"), "noise"),
        (dict(lr_d=-1.0), "lr_d"),
        (dict(momentum=1.0), "momentum"),
        (dict(gradient_penalty=-1.0), "gradient_penalty"),
        (dict(seed=-1), "seed"),
        (dict(device="tpu"), "device"),
        (dict(exact_method="mc"), "exact_method"),
        (dict(noise_dim=5), "noise"),
    ],
)
def test_bad_config_raises_naming_the_field(overrides, match):
    with pytest.raises((ValueError, TypeError), match=match):
        gt.train(P_1D, *small_players(), cfg(**overrides), progress=False)


def test_bad_players_and_data():
    G, D = small_players()
    with pytest.raises(TypeError, match="p_data"):
        gt.train([1.0, 2.0], G, D, cfg())
    with pytest.raises(TypeError, match="G must be"):
        gt.train(P_1D, lambda z: z, D, cfg())
    with pytest.raises(ValueError, match="samples"):
        gt.train(P_2D, G, gt.mlp_discriminator(2), cfg())
    with pytest.raises(ValueError, match="noise='gaussian'"):
        gt.train(P_1D, gt.AffineGenerator(1), D, cfg(noise="uniform", exact=True))


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_train_on_cuda_records_the_same_quantities():
    G = gt.AffineGenerator(1, loc=-1.0)
    D = gt.mlp_discriminator(1, widths=(16,), generator=torch.Generator().manual_seed(0))
    config = cfg(steps=50, record_every=25, exact=True, device="cuda")
    result = gt.train(P_1D, G, D, config, progress=False)
    assert next(result.G.parameters()).is_cuda
    h = result.history
    assert all(math.isfinite(v) for v in h.jsd + h.d_error)
    assert all(g >= -e for g, e in zip(h.value_gap, h.value_gap_error))


# --- divergence --------------------------------------------------------------------------------


def scaled_discriminator(scale, seed=0):
    D = gt.mlp_discriminator(1, widths=(8,), generator=gt.random_streams(seed).init)
    with torch.no_grad():
        for p in D.parameters():
            p.mul_(scale)
    return D


DIVERGING = {
    "sgd lr 1e6": (dict(lr_d=1e6, lr_g=1e6), 1.0, "learning rates"),
    "unpenalised wasserstein": (dict(loss="wasserstein", lr_d=0.5, lr_g=0.5, steps=200), 1.0, "Wasserstein"),
    "penalty 1e12": (dict(gradient_penalty=1e12), 1.0, "gradient_penalty"),
    "logits ~1e10": ({}, 1e5, "logits"),
}


@pytest.mark.parametrize("case", list(DIVERGING))
def test_divergence_stops_at_the_first_non_finite_value_and_keeps_the_last_finite_state(case, tmp_path):
    overrides, scale, cause = DIVERGING[case]
    config = cfg(**{"steps": 50, "record_every": 1, **overrides})
    G, D = gt.AffineGenerator(1, loc=-1.0), scaled_discriminator(scale)
    path = tmp_path / "run.pt"
    with pytest.raises(gt.TrainingDiverged, match=r"diverged at step \d+") as info:
        gt.train(P_1D, G, D, config, checkpoint=path, progress=False)
    error = info.value
    assert cause in str(error)
    assert error.last_finite_step == error.step - 1 >= 1
    # G and D hold exactly the state of a run stopped one step before the divergence
    G_ref, D_ref = gt.AffineGenerator(1, loc=-1.0), scaled_discriminator(scale)
    reference = cfg(**{**overrides, "steps": error.last_finite_step, "record_every": 1})
    gt.train(P_1D, G_ref, D_ref, reference, progress=False)
    assert_same_state(G, G_ref)
    assert_same_state(D, D_ref)
    # the checkpoint holds the last save, which is finite, and the error says which step it is
    state = torch.load(path, weights_only=True)
    assert state["step"] == error.checkpoint_step == error.last_finite_step
    for part in ("G", "D"):
        assert all(bool(torch.isfinite(t).all()) for t in state[part].values())
    assert all(math.isfinite(v) for v in state["history"]["loss_d"][1:])


def test_divergence_without_a_checkpoint_says_so():
    config = cfg(steps=50, lr_d=1e6, lr_g=1e6)
    with pytest.raises(gt.TrainingDiverged) as info:
        gt.train(P_1D, gt.AffineGenerator(1, loc=-1.0), scaled_discriminator(1.0), config,
                 progress=False)
    assert info.value.checkpoint is None and "checkpoint" not in str(info.value)
    assert math.isnan(info.value.value) or math.isinf(info.value.value)


class _TwoLogits(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.linear = torch.nn.Linear(1, 2)

    def forward(self, x):
        return self.linear(x)


@pytest.mark.parametrize(
    ("D", "match"),
    [
        (_TwoLogits(), r"one logit per point.*\(2, 2\)"),
        (gt.mlp_discriminator(2, widths=(4,)), r"D cannot take points of shape \(n, 1\)"),
    ],
)
def test_a_discriminator_of_the_wrong_shape_is_refused(D, match):
    with pytest.raises(ValueError, match=match):
        gt.train(P_1D, gt.AffineGenerator(1), D, cfg(), progress=False)


@pytest.mark.parametrize(
    ("overrides", "error", "match"),
    [
        (dict(device="meta"), ValueError, "device"),
        (dict(betas="ab"), TypeError, "betas"),
        (dict(betas=(0.5,)), TypeError, "betas"),
        (dict(betas=(0.5, 1.5)), ValueError, "betas"),
    ],
)
def test_bad_device_and_betas_are_named(overrides, error, match):
    with pytest.raises(error, match=match):
        cfg(**overrides).validate()


def test_bad_players_callbacks_and_checkpoints_are_refused_before_training(tmp_path):
    G, D = small_players()
    with pytest.raises(TypeError, match="callback must be callable"):
        gt.train(P_1D, G, D, cfg(), callback=5, progress=False)
    with pytest.raises(ValueError, match="is a directory"):
        gt.train(P_1D, G, D, cfg(), checkpoint=tmp_path, progress=False)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="is not a directory"):
        gt.train(P_1D, G, D, cfg(), checkpoint=tmp_path / "file" / "run.pt", progress=False)

    class NaNLogits(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))

        def forward(self, x):
            return x[:, 0] * self.w * math.nan

    with pytest.raises(ValueError, match="D returns non-finite logits"):
        gt.train(P_1D, G, NaNLogits(), cfg(), progress=False)
    with pytest.raises(ValueError, match="steps must be >= 1"):
        gt.TrainConfig(steps=-1)
    with pytest.raises(TypeError, match="exact must be a bool"):
        gt.TrainConfig(exact="no")
