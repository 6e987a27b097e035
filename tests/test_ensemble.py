"""Tests of gantheory.ensemble: S GANs at once reproduce S single runs, member by member."""

import dataclasses

import pytest
import torch

import gantheory as gt
from gantheory.ensemble import MLPEnsemble, train_ensemble

P_DATA = gt.ring(n_modes=8, radius=1.0, std=0.01)
SEEDS = [3, 7, 11]


def _players(seed, g_kw, d_kw, noise_dim=2):
    """The networks of one run, drawn from the run's ``init`` stream (G first, then D)."""
    init = gt.random_streams(seed).init
    return (
        gt.mlp_generator(noise_dim, 2, generator=init, **g_kw),
        gt.mlp_discriminator(2, generator=init, **d_kw),
    )


def _single_and_ensemble(config, g_kw, d_kw, seeds=SEEDS):
    singles = []
    for seed in seeds:
        G, D = _players(seed, g_kw, d_kw)
        singles.append(gt.train(P_DATA, G, D, dataclasses.replace(config, seed=seed), progress=False))
    Gs, Ds = zip(*[_players(seed, g_kw, d_kw) for seed in seeds])
    ens = train_ensemble(P_DATA, list(Gs), list(Ds), config, seeds=seeds, progress=False)
    return singles, ens


def _max_abs_diff(a, b, skip=()):
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    return max(float((sa[k].double() - sb[k].double()).abs().max()) for k in sa if k not in skip)


def _assert_histories_match(singles, ens, atol):
    for i, single in enumerate(singles):
        assert ens.history.step == single.history.step[1:]
        for name in ("loss_d", "loss_g", "d_real", "d_fake", "grad_norm_g"):
            ours = [row[i] for row in getattr(ens.history, name)]
            assert ours == pytest.approx(getattr(single.history, name)[1:], abs=atol), name


BASE = gt.TrainConfig(steps=20, batch_size=32, record_every=5, exact=False, device="cpu")


def test_ensemble_reproduces_single_runs_sgd_non_saturating():
    singles, ens = _single_and_ensemble(BASE, dict(widths=(16, 16)), dict(widths=(16, 16)))
    for i, single in enumerate(singles):
        assert _max_abs_diff(ens.G.member(i), single.G) < 1e-5
        assert _max_abs_diff(ens.D.member(i), single.D) < 1e-5
    _assert_histories_match(singles, ens, atol=1e-5)


def test_ensemble_reproduces_single_runs_least_squares_penalty_k2_uniform_noise():
    config = dataclasses.replace(
        BASE, loss="least_squares", gradient_penalty=1.0, k=2, noise="uniform", steps=10
    )
    singles, ens = _single_and_ensemble(
        config, dict(widths=(16,), activation="tanh"), dict(widths=(16,), activation="leaky_relu")
    )
    for i, single in enumerate(singles):
        assert _max_abs_diff(ens.G.member(i), single.G) < 1e-5
        assert _max_abs_diff(ens.D.member(i), single.D) < 1e-5
    _assert_histories_match(singles, ens, atol=1e-5)



@pytest.mark.parametrize("loss", ["minimax", "maximum_likelihood", "wasserstein"])
def test_hand_written_backward_reproduces_single_runs_tanh_leaky_k2_uniform_pack_decay(loss):
    """Networks of linear layers and pointwise activations train by hand-written backward passes
    (no penalty): each activation, k > 1, uniform noise, packing, the learning-rate decay, Adam
    and every loss must still reproduce train member by member."""
    config = dataclasses.replace(
        BASE, loss=loss, k=2, noise="uniform", pack=2, lr_final=0.5, optimizer="adam",
        lr_d=1e-3, lr_g=1e-3, steps=10,
    )
    singles, ens = _single_and_ensemble(
        config, dict(widths=(16, 16), activation="tanh"),
        dict(widths=(16, 16), activation="leaky_relu", pack=2),
    )
    for i, single in enumerate(singles):
        assert _max_abs_diff(ens.G.member(i), single.G) < 1e-5
        assert _max_abs_diff(ens.D.member(i), single.D) < 1e-5
    _assert_histories_match(singles, ens, atol=1e-5)


def test_hand_written_backward_equals_autograd_one_step():
    """One D step and one G step of the hand-written path give autograd's gradients."""
    from gantheory.ensemble import _Plain, _plain_layers

    g = torch.Generator().manual_seed(0)
    Gs = [gt.mlp_generator(3, 2, widths=(8, 8), generator=g) for _ in range(4)]
    Ds = [gt.mlp_discriminator(2, widths=(8, 8), activation="leaky_relu", generator=g)
          for _ in range(4)]
    G, D = MLPEnsemble(Gs), MLPEnsemble(Ds)
    g_net, d_net = _Plain(G, _plain_layers(G)), _Plain(D, _plain_layers(D))
    z, x = torch.randn(4, 6, 3, generator=g), torch.randn(4, 6, 2, generator=g)
    with torch.no_grad():
        g_outs = g_net.forward(z, "g")
        d_outs = d_net.forward(g_outs[-1], "d")
        seed = torch.randn(4, 6, 1, generator=g)
        grad_x = d_net.backward(d_outs, seed.clone(), "d", weights=True, inputs=True)
        g_net.backward(g_outs, grad_x, "g", weights=True, inputs=False)
    ours = [p.grad.clone() for p in (*G.parameters(), *D.parameters())]
    for p in (*G.parameters(), *D.parameters()):
        p.grad = None
    (D(G(z)) * seed[..., 0]).sum().backward()
    for mine, theirs in zip(ours, (p.grad for p in (*G.parameters(), *D.parameters()))):
        assert torch.allclose(mine, theirs, atol=1e-6)
    assert torch.allclose(d_outs[-1][..., 0], D(G(z)), atol=1e-6)
    assert x.shape == (4, 6, 2)

def test_ensemble_reproduces_pacgan_style_runs_batch_norm_maxout_packing_adam():
    """PacGAN's architecture in small: G with batch norm, maxout D, pack = 2, Adam, minimax.

    The bias of a linear layer followed by batch norm has a zero gradient in exact arithmetic
    (batch norm subtracts the batch mean), so Adam, which divides by the gradient's size, turns its
    rounding noise into steps of up to lr: those biases (and the running means that follow them)
    differ between any two float computations. Everything else, and G's output, must agree.
    """
    config = dataclasses.replace(
        BASE, optimizer="adam", lr_d=1e-3, lr_g=1e-3, betas=(0.8, 0.999), loss="minimax", pack=2,
        steps=10,
    )
    g_kw = dict(widths=(24, 24), batch_norm=True)
    singles, ens = _single_and_ensemble(
        config, g_kw, dict(widths=(12, 12), activation="maxout", pieces=5, pack=2)
    )
    gauge = ("0.bias", "1.running_mean", "3.bias", "4.running_mean")
    z = torch.randn(64, 2, generator=torch.Generator().manual_seed(0))
    for i, single in enumerate(singles):
        G = ens.G.member(i)
        assert _max_abs_diff(G, single.G, skip=gauge) < 1e-4
        assert _max_abs_diff(ens.D.member(i), single.D) < 1e-4
        assert torch.equal(G.state_dict()["1.num_batches_tracked"],
                           single.G.state_dict()["1.num_batches_tracked"])
        with torch.no_grad():
            assert torch.allclose(G.train()(z), single.G.train()(z), atol=1e-4)
    _assert_histories_match(singles, ens, atol=1e-4)


def test_ensemble_forward_equals_members_forward():
    Gs = [gt.mlp_generator(3, 2, widths=(8, 8), batch_norm=True,
                           generator=torch.Generator().manual_seed(s)) for s in range(4)]
    Ds = [gt.mlp_discriminator(2, widths=(8,), activation="maxout", pieces=3, pack=3,
                               generator=torch.Generator().manual_seed(s)) for s in range(4)]
    G, D = MLPEnsemble(Gs), MLPEnsemble(Ds)
    assert (G.kind, G.size, G.in_features, G.out_features) == ("generator", 4, 3, 2)
    assert (D.kind, D.in_features, D.pack) == ("discriminator", 6, 3)
    g = torch.Generator().manual_seed(1)
    z, x = torch.randn(4, 10, 3, generator=g), torch.randn(4, 10, 6, generator=g)
    out_g, out_d = G(z), D(x)  # training mode: batch statistics, running statistics move
    assert out_g.shape == (4, 10, 2) and out_d.shape == (4, 10)
    for s in range(4):
        assert torch.allclose(out_g[s], Gs[s](z[s]), atol=1e-6)
        assert torch.allclose(out_d[s], Ds[s](x[s]), atol=1e-6)
        assert torch.allclose(D(x.reshape(4, 10, 3, 2))[s], out_d[s])  # (S, n, pack, d) input
        member = G.member(s)
        assert _max_abs_diff(member, Gs[s]) < 1e-6  # incl. running statistics of one step
        G.eval(), Gs[s].eval()
        assert torch.allclose(G(z)[s], Gs[s](z[s]), atol=1e-6)  # eval: running statistics
        assert not G.member(s).training
        G.train(), Gs[s].train()


def test_resumed_ensemble_equals_uninterrupted(tmp_path):
    config = dataclasses.replace(BASE, optimizer="adam", lr_d=1e-3, lr_g=1e-3, steps=12)
    kw = dict(widths=(8,))

    def fresh():
        Gs, Ds = zip(*[_players(seed, kw, kw) for seed in SEEDS])
        return list(Gs), list(Ds)

    full = train_ensemble(P_DATA, *fresh(), config, seeds=SEEDS, progress=False)
    ckpt = tmp_path / "ens.pt"
    train_ensemble(P_DATA, *fresh(), dataclasses.replace(config, steps=5), seeds=SEEDS,
                   checkpoint=ckpt, progress=False)
    resumed = train_ensemble(P_DATA, *fresh(), config, seeds=SEEDS, checkpoint=ckpt,
                             progress=False)
    for a, b in ((full.G, resumed.G), (full.D, resumed.D)):
        for key, value in a.state_dict().items():
            assert torch.equal(value, b.state_dict()[key]), key
    assert resumed.history.step == full.history.step == [5, 10, 12]
    assert resumed.history.loss_g == full.history.loss_g
    with pytest.raises(ValueError, match="another config or seeds"):
        train_ensemble(P_DATA, *fresh(), config, seeds=[1, 2, 3], checkpoint=ckpt, progress=False)


def test_same_seeds_same_numbers_and_default_seeds():
    config = dataclasses.replace(BASE, steps=3, seed=5)
    kw = dict(widths=(8,))

    def run():
        Gs, Ds = zip(*[_players(seed, kw, kw) for seed in (5, 6)])
        return train_ensemble(P_DATA, list(Gs), list(Ds), config, progress=False)

    a, b = run(), run()
    assert a.seeds == [5, 6]
    assert a.history.to_dict() == b.history.to_dict()
    assert all(torch.equal(v, b.G.state_dict()[k]) for k, v in a.G.state_dict().items())


def test_callback_sees_every_step_and_an_ensemble_trains_in_place():
    kw = dict(widths=(8,))
    G = MLPEnsemble([_players(s, kw, kw)[0] for s in SEEDS])
    D = MLPEnsemble([_players(s, kw, kw)[1] for s in SEEDS])
    before = G.weights[0].detach().clone()
    steps = []
    result = train_ensemble(P_DATA, G, D, dataclasses.replace(BASE, steps=4), seeds=SEEDS,
                            progress=False, callback=lambda step, g, d: steps.append(step))
    assert steps == [1, 2, 3, 4]
    assert result.G is G and not torch.equal(G.weights[0], before)


def test_bad_arguments_are_rejected():
    kw = dict(widths=(8,))
    Gs, Ds = map(list, zip(*[_players(s, kw, kw) for s in SEEDS]))
    with pytest.raises(ValueError, match="3 distinct ints"):
        train_ensemble(P_DATA, Gs, Ds, BASE, seeds=[1, 1, 2], progress=False)
    with pytest.raises(ValueError, match="3 distinct ints"):
        train_ensemble(P_DATA, Gs, Ds, BASE, seeds=[1, 2], progress=False)
    with pytest.raises(ValueError, match="same number of members"):
        train_ensemble(P_DATA, Gs, Ds[:2], BASE, progress=False)
    with pytest.raises(ValueError, match="pack \\* d"):
        train_ensemble(P_DATA, Gs, Ds, dataclasses.replace(BASE, pack=2), progress=False)
    with pytest.raises(TypeError, match="G must hold generators"):
        train_ensemble(P_DATA, Ds, Ds, BASE, progress=False)
    with pytest.raises(TypeError, match="MLPGenerator or MLPDiscriminator"):
        MLPEnsemble([gt.AffineGenerator(2)])
    with pytest.raises(ValueError, match="another architecture"):
        MLPEnsemble([gt.mlp_generator(2, 2, widths=(8,)), gt.mlp_generator(2, 2, widths=(9,))])
    with pytest.raises(TypeError, match="one type"):
        MLPEnsemble([Gs[0], Ds[0]])
    with pytest.raises(ValueError, match="non-empty"):
        MLPEnsemble([])
    with pytest.raises(ValueError, match="s must be an int"):
        MLPEnsemble(Gs).member(3)
    with pytest.raises(ValueError, match="batch_size"):
        train_ensemble(P_DATA, Gs, Ds, dataclasses.replace(BASE, batch_size=0), progress=False)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_ensemble_on_cuda_reproduces_single_cuda_runs():
    config = dataclasses.replace(BASE, device="cuda", steps=10)
    singles, ens = _single_and_ensemble(config, dict(widths=(16,)), dict(widths=(16,)))
    for i, single in enumerate(singles):
        assert _max_abs_diff(ens.G.member(i), single.G.cpu()) < 1e-4


# --- divergence --------------------------------------------------------------------------------


def _blow_up(D, scale=1e5):
    with torch.no_grad():
        for p in D.parameters():
            p.mul_(scale)
    return D


@pytest.mark.parametrize("fast", [True, False], ids=["hand-written", "autograd"])
def test_a_diverging_member_is_frozen_and_reported_while_the_others_go_on(fast, tmp_path):
    # member 1's D has logits ~1e10: it overflows within a few steps; the others train normally
    config = dataclasses.replace(BASE, steps=12, record_every=4,
                                 gradient_penalty=0.0 if fast else 0.1)
    kw = dict(widths=(8,))
    Gs, Ds = zip(*[_players(seed, kw, kw) for seed in SEEDS])
    Ds = list(Ds)
    _blow_up(Ds[1])
    with pytest.warns(RuntimeWarning, match=r"member 1 \(seed 7\) diverged at step \d+"):
        ens = train_ensemble(P_DATA, list(Gs), Ds, config, seeds=SEEDS, progress=False,
                             checkpoint=tmp_path / "ens.pt")
    assert list(ens.diverged) == [1]
    step = ens.diverged[1]
    G, D = _players(SEEDS[1], kw, kw)
    with pytest.raises(gt.TrainingDiverged, match=f"step {step}"):
        gt.train(P_DATA, G, _blow_up(D), dataclasses.replace(config, seed=SEEDS[1]), progress=False)
    # frozen at the single run's last finite state (the state after step - 1), and kept there;
    # that state is huge (up to ~1e22 here), so float32 summation order alone moves it by ~1e-7
    # relative (seen between machines): compare relative to its size
    for ens_net, single_net in ((ens.G.member(1), G), (ens.D.member(1), D)):
        size = float(max(p.detach().abs().max() for p in single_net.parameters()))
        assert _max_abs_diff(ens_net, single_net) < 1e-5 * max(1.0, size)
    for net in (ens.G, ens.D):  # the frozen member's parameters are finite
        assert all(bool(torch.isfinite(p).all()) for p in net.parameters())
    for i in (0, 2):  # the others are the single runs
        G, D = _players(SEEDS[i], kw, kw)
        single = gt.train(P_DATA, G, D, dataclasses.replace(config, seed=SEEDS[i]), progress=False)
        assert _max_abs_diff(ens.G.member(i), single.G) < 1e-5
    rows = [r for s, r in zip(ens.history.step, ens.history.loss_g) if s >= step]
    assert rows and all(r[1] != r[1] and r[0] == r[0] for r in rows)  # NaN only for member 1
    # a resumed run keeps the member frozen
    more = train_ensemble(P_DATA, list(Gs), Ds, dataclasses.replace(config, steps=16), seeds=SEEDS,
                          progress=False, checkpoint=tmp_path / "ens.pt")
    assert more.diverged == ens.diverged
    assert torch.equal(more.G.member(1).state_dict()["0.weight"], ens.G.member(1).state_dict()["0.weight"])


def test_when_every_member_diverges_the_ensemble_raises():
    kw = dict(widths=(8,))
    Gs, Ds = zip(*[_players(seed, kw, kw) for seed in SEEDS])
    with pytest.raises(gt.TrainingDiverged, match="every one of the 3 members"), pytest.warns(RuntimeWarning):
        train_ensemble(P_DATA, list(Gs), [_blow_up(D) for D in Ds], BASE, seeds=SEEDS,
                       progress=False)


def test_a_member_frozen_after_one_bad_step_stays_frozen():
    # a NaN put into member 1's G after step 3 (by the callback): step 4 finds it, puts back the
    # state verified after step 3 and freezes member 1 there, although it could train on
    config = dataclasses.replace(BASE, steps=8, record_every=4, momentum=0.0)  # no NaN state
    kw = dict(widths=(8,))
    Gs, Ds = zip(*[_players(seed, kw, kw) for seed in SEEDS])
    seen = {}

    def poison(step, G, D):
        if step == 3:
            seen["state"] = G.member(1).state_dict()
            with torch.no_grad():
                G.weights[0][1, 0, 0] = float("nan")

    with pytest.warns(RuntimeWarning, match="member 1"):
        ens = train_ensemble(P_DATA, list(Gs), list(Ds), config, seeds=SEEDS, progress=False,
                             callback=poison)
    assert ens.diverged == {1: 4}
    after = ens.G.member(1).state_dict()
    assert all(torch.equal(after[k], v) for k, v in seen["state"].items())


@pytest.mark.parametrize(
    "regularizers",
    [
        dict(r1=1.0),
        dict(r2=0.5, k=2),
        dict(consensus=0.3),
        dict(instance_noise=0.2, instance_noise_final=0.0, pack=2),
        dict(instance_noise=0.0, instance_noise_final=2.0),  # noise that grows from 0
        dict(r1=1.0, r2=1.0, consensus=0.1, instance_noise=0.1, optimizer="adam", lr_d=1e-3,
             lr_g=1e-3),
    ],
    ids=["r1", "r2_k2", "consensus", "instance_noise_annealed_pack", "instance_noise_from_0", "all_adam"],
)
def test_ensemble_reproduces_single_runs_with_regularizers(regularizers):
    """R1, R2, consensus and instance noise (drawn from each member's ``instance`` stream) in the
    ensemble follow train's runs member by member."""
    config = dataclasses.replace(BASE, steps=10, **regularizers)
    d_kw = dict(widths=(16,), pack=config.pack)
    singles, ens = _single_and_ensemble(config, dict(widths=(16,)), d_kw)
    for i, single in enumerate(singles):
        assert _max_abs_diff(ens.G.member(i), single.G) < 1e-5
        assert _max_abs_diff(ens.D.member(i), single.D) < 1e-5
    _assert_histories_match(singles, ens, atol=1e-5)
