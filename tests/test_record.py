"""The training recorder: bounded frames, the push -dJ/dx, D*, and no effect on the run."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

import gantheory as gt
from gantheory.record import TrainingRecorder, frame_steps


def test_frame_steps_are_bounded_and_hold_both_ends():
    for steps in (1, 7, 100, 10_000):
        for n in (2, 5, 120):
            for spacing in ("linear", "log"):
                out = frame_steps(steps, n, spacing)
                assert out[0] == 0 and out[-1] == steps
                assert len(out) <= n and out == sorted(set(out))
    assert frame_steps(1000, 5, "log") == [0, 1, 10, 100, 1000]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [({"max_frames": 1}, ValueError), ({"spacing": "cubic"}, ValueError),
     ({"n_arrows": 10, "n_samples": 5}, ValueError), ({"n_grid": 0}, ValueError),
     ({"seed": -1}, ValueError), ({"box": ([0.0], [0.0])}, ValueError),
     ({"box": ([0.0, 1.0], [1.0, 2.0])}, ValueError), ({"box": 3.0}, TypeError)],
)  # fmt: skip
def test_bad_arguments_are_named(kwargs, error):
    cfg = gt.TrainConfig(steps=10, exact=False, device="cpu")
    with pytest.raises(error):
        TrainingRecorder(gt.gaussian(0.0, 1.0), cfg, **kwargs)


def test_recorder_refuses_packing_and_3d():
    with pytest.raises(ValueError, match="pack"):
        TrainingRecorder(gt.gaussian(0.0, 1.0), gt.TrainConfig(pack=2, device="cpu"))
    p3 = gt.mixture([[0.0, 0.0, 0.0]], 1.0)
    with pytest.raises(ValueError, match="1D or 2D"):
        TrainingRecorder(p3, gt.TrainConfig(device="cpu"))


def _run_1d(recorder: TrainingRecorder | None):
    p = gt.gaussian(1.0, 0.5)
    s = gt.random_streams(0)
    G = gt.AffineGenerator(1, loc=-1.0, scale=0.3)
    D = gt.mlp_discriminator(1, widths=(8,), generator=s.init)
    cfg = gt.TrainConfig(steps=20, record_every=10, exact=False, device="cpu")
    if recorder is not None:
        recorder(0, G, D)
    return gt.train(p, G, D, cfg, progress=False, callback=recorder)


def test_recording_leaves_the_run_unchanged():
    """The recorder draws from its own generators and touches no gradient: same numbers."""
    cfg = gt.TrainConfig(steps=20, record_every=10, exact=False, device="cpu")
    rec = TrainingRecorder(gt.gaussian(1.0, 0.5), cfg, max_frames=5, n_grid=32)
    with_rec, without = _run_1d(rec), _run_1d(None)
    assert [f["step"] for f in rec.frames] == [0, 5, 10, 15, 20]
    assert with_rec.history.to_dict() == without.history.to_dict()
    for a, b in zip(with_rec.G.parameters(), without.G.parameters()):
        assert torch.equal(a, b)


def test_push_is_minus_the_gradient_of_the_generator_cost():
    """D(x) = sigma(w x + b), non-saturating J(a) = -log sigma(a): -dJ/dx = sigma(-a) w."""
    D = nn.Linear(1, 1)
    with torch.no_grad():
        D.weight.fill_(-2.0)
        D.bias.fill_(0.5)
    G = gt.AffineGenerator(1, loc=0.3, scale=0.7)
    cfg = gt.TrainConfig(steps=4, exact=False, device="cpu", loss="non_saturating")
    # a box of width 2: samples rounded to 1e-3 (push moves <= w^2/4 * 5e-4), push to 3 digits
    # (relative error <= 5e-3)
    rec = TrainingRecorder(gt.gaussian(0.0, 1.0), cfg, n_samples=16, n_arrows=16, n_grid=16,
                           box=([-1.0], [1.0]))  # fmt: skip
    rec(0, G, D)
    frame = rec.frames[0]
    x = torch.tensor(frame["samples"], dtype=torch.float64)
    expected = torch.sigmoid(-(-2.0 * x + 0.5)) * -2.0
    torch.testing.assert_close(torch.tensor(frame["push"], dtype=torch.float64), expected,
                               rtol=5e-3, atol=5e-4)  # fmt: skip


def test_d_star_is_the_exact_optimum_with_an_exact_generator():
    """In 1D with an affine G, the recorded D* is p_data / (p_data + p_g) to 4 digits."""
    p = gt.gaussian(1.0, 0.5)
    G = gt.AffineGenerator(1, loc=-1.0, scale=0.3)
    D = gt.mlp_discriminator(1, widths=(4,), generator=torch.Generator().manual_seed(0))
    cfg = gt.TrainConfig(steps=4, exact=False, device="cpu")
    rec = TrainingRecorder(p, cfg, n_grid=50, box=([-2.0], [3.0]))
    rec(0, G, D)
    x = torch.tensor(rec.axes[0], dtype=torch.float64)
    lp, lq = p.log_prob(x), gt.gaussian(-1.0, 0.3).log_prob(x)
    torch.testing.assert_close(torch.tensor(rec.frames[0]["d_star"], dtype=torch.float64),
                               torch.sigmoid(lp - lq), rtol=1e-3, atol=1e-6)  # fmt: skip
    assert rec.exact_density is True


def test_2d_recording_is_bounded_and_uses_a_kde_without_a_density(tmp_path):
    p = gt.mixture([[-1.0, 0.0], [1.0, 0.0]], 0.4)
    s = gt.random_streams(0)
    G = gt.mlp_generator(2, 2, widths=(8,), generator=s.init)
    D = gt.mlp_discriminator(2, widths=(8,), generator=s.init)
    cfg = gt.TrainConfig(steps=40, record_every=20, exact=False, device="cpu")
    rec = TrainingRecorder(p, cfg, max_frames=4, n_grid=24, n_samples=64, n_arrows=8, n_kde=128)
    rec(0, G, D)
    result = gt.train(p, G, D, cfg, progress=False, callback=rec)
    rec.save(tmp_path / "recording.json", result.history, title="t")
    data = json.loads((tmp_path / "recording.json").read_text())
    assert data["exact_density"] is False and data["dim"] == 2
    assert len(data["frames"]) == 4
    frame = data["frames"][-1]
    assert len(frame["samples"]) == 64 and len(frame["push"]) == 8 and len(frame["push"][0]) == 2
    import base64

    assert len(base64.b64decode(frame["d"])) == 24 * 24
    assert data["history"]["step"] == [0, 20, 40]
