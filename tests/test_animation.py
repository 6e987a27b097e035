"""The GIF of a recording: bounded frames, frames that change, bad arguments named."""

from __future__ import annotations

import pytest
import torch
from PIL import Image, ImageChops

import gantheory as gt
from gantheory.animation import write_animation
from gantheory.record import TrainingRecorder


@pytest.fixture(scope="module")
def recording() -> dict:
    p = gt.mixture([[-1.0, 0.0], [1.0, 0.0]], 0.4)
    s = gt.random_streams(0)
    G = gt.mlp_generator(2, 2, widths=(16,), generator=s.init)
    D = gt.mlp_discriminator(2, widths=(16,), generator=s.init)
    cfg = gt.TrainConfig(steps=30, record_every=10, exact=False, device="cpu",
                         optimizer="adam", lr_d=1e-2, lr_g=1e-2)  # fmt: skip
    rec = TrainingRecorder(p, cfg, max_frames=8, n_grid=32, n_kde=128)
    rec(0, G, D)
    result = gt.train(p, G, D, cfg, progress=False, callback=rec)
    return rec.to_dict(result.history, title="2D")


def test_gif_has_at_most_max_frames_and_they_change(recording, tmp_path):
    path = write_animation(recording, tmp_path / "a.gif", max_frames=5, dpi=40)
    with Image.open(path) as gif:
        assert gif.n_frames == 5
        gif.seek(0)
        first = gif.convert("RGB")
        gif.seek(gif.n_frames - 1)
        last = gif.convert("RGB")
    assert ImageChops.difference(first, last).getbbox() is not None


def test_gif_1d(tmp_path):
    cfg = gt.TrainConfig(steps=10, record_every=5, exact=True, device="cpu")
    G = gt.AffineGenerator(1, loc=-1.0)
    D = gt.mlp_discriminator(1, widths=(4,), generator=torch.Generator().manual_seed(0))
    rec = TrainingRecorder(gt.gaussian(1.0, 0.5), cfg, max_frames=3, n_grid=32)
    rec(0, G, D)
    result = gt.train(gt.gaussian(1.0, 0.5), G, D, cfg, progress=False, callback=rec)
    path = write_animation(rec.to_dict(result.history), tmp_path / "b.gif", dpi=40)
    with Image.open(path) as gif:
        assert gif.n_frames == 3


@pytest.mark.parametrize("kwargs", [{"max_frames": 1}, {"fps": 0}, {"dpi": 1.5}])
def test_bad_arguments(recording, tmp_path, kwargs):
    with pytest.raises(ValueError):
        write_animation(recording, tmp_path / "c.gif", **kwargs)
    with pytest.raises(ValueError, match="not a gantheory recording"):
        write_animation({"format": "x"}, tmp_path / "c.gif")
