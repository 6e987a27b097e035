"""The offline training view: a self-contained page, driven in headless Chromium, and the CLI.

The Chromium test injects a tiny harness into a copy of the page (an error listener before the
page's script, a driver after it), runs ``chromium --headless --dump-dom`` and reads the
harness's JSON back from the DOM: no browser-automation dependency. Without Chromium the test is
skipped with the reason, except under CI (``CI`` set), where it fails: CI installs Chromium.
"""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

import gantheory as gt
from gantheory import cli
from gantheory.record import TrainingRecorder
from gantheory.view import view_html, write_view

CHROMIUM = next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)


def _need_chromium() -> str:
    if CHROMIUM is None:
        message = "Chromium is not installed (apt-get install chromium): the page is not driven"
        if os.environ.get("CI"):
            pytest.fail(f"CI: {message}; .ci/run installs it")
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """Two tiny recorded runs: 1D with an exact (affine) G, 2D with an MLP G (KDE of p_g)."""
    out = tmp_path_factory.mktemp("run")
    for dim in (1, 2):
        s = gt.random_streams(0)
        if dim == 1:
            p = gt.gaussian(1.0, 0.5)
            G = gt.AffineGenerator(1, loc=-1.0, scale=0.3)
        else:
            p = gt.mixture([[-1.0, 0.0], [1.0, 0.0]], 0.4)
            G = gt.mlp_generator(2, 2, widths=(16,), generator=s.init)
        D = gt.mlp_discriminator(dim, widths=(16,), generator=s.init)
        cfg = gt.TrainConfig(steps=60, record_every=10, exact=dim == 1, device="cpu",
                             optimizer="adam", lr_d=1e-2, lr_g=1e-2)  # fmt: skip
        rec = TrainingRecorder(p, cfg, max_frames=7, n_grid=48 if dim == 2 else 128, n_kde=256)
        rec(0, G, D)
        result = gt.train(p, G, D, cfg, progress=False, callback=rec)
        rec.save(out / f"recording_{dim}d.json", result.history, title=f"{dim}D test run")
    write_view(out)
    return out


def test_page_is_self_contained(run_dir):
    """No external reference at all: no URL, no src/href, no CSS url(): it works offline."""
    page = (run_dir / "view.html").read_text(encoding="utf-8")
    assert re.search(r"\b(?:https?|ftp|wss?|file):|\bsrc\s*=|\bhref\s*=|url\(|@import", page) is None
    assert page.count('id="gantheory-data"') == 1
    data = re.search(r'id="gantheory-data">(.*?)</script>', page, re.S).group(1)
    runs = json.loads(data)
    assert [r["dim"] for r in runs] == [1, 2]


def test_view_html_rejects_what_is_not_a_recording():
    with pytest.raises(ValueError, match="non-empty"):
        view_html([])
    with pytest.raises(ValueError, match="not a gantheory recording"):
        view_html([{"format": "other"}])


def test_view_html_names_what_a_recording_lacks(run_dir):
    recording = json.loads(sorted(run_dir.glob("recording*.json"))[0].read_text(encoding="utf-8"))
    del recording["frames"][1]["p_g" if recording["dim"] == 1 else "d_star"]
    with pytest.raises(ValueError, match=r"recordings\[0\]: frame 1 lacks"):
        view_html([recording])
    del recording["axes"]
    with pytest.raises(ValueError, match="the recording lacks axes"):
        view_html([recording])


_BEFORE = """<script>window.__errors = [];
window.addEventListener('error', function (e) { window.__errors.push('error: ' + e.message); });
var __ce = console.error; console.error = function () {
  window.__errors.push('console.error: ' + Array.prototype.join.call(arguments, ' '));
  __ce.apply(console, arguments); };</script>"""

_AFTER = """<script>(function () {
function hash(s) { var h = 2166136261; for (var i = 0; i < s.length; i++) { h ^= s.charCodeAt(i);
  h = Math.imul(h, 16777619) >>> 0; } return h; }
var out = {errors: window.__errors, runs: []};
function finish() { var pre = document.createElement('pre'); pre.id = 'harness';
  pre.textContent = JSON.stringify(out); document.body.appendChild(pre); }
try {
  var view = window.gantheoryView;
  if (!view) throw new Error('window.gantheoryView is missing');
  document.querySelectorAll('section.run').forEach(function (sec) {
    var slider = sec.querySelector('input[type=range]');
    function snap() { return {step: Number(sec.getAttribute('data-step')),
      label: sec.querySelector('.label').textContent,
      canvases: Array.prototype.map.call(sec.querySelectorAll('canvas'),
        function (c) { return hash(c.toDataURL()); })}; }
    var first = snap();
    slider.value = slider.max; slider.dispatchEvent(new Event('input'));
    var last = snap();
    slider.value = 0; slider.dispatchEvent(new Event('input'));
    out.runs.push({frames: Number(slider.max) + 1, first: first, last: last, back: snap()});
  });
  document.querySelector('section.run button').click();
  setTimeout(function () { out.played = view.state(0); finish(); }, 450);
} catch (e) { out.errors.push('harness: ' + e); finish(); }
})();</script>"""


def _drive(page: Path, tmp: Path) -> dict:
    chromium = _need_chromium()
    text = page.read_text(encoding="utf-8")
    driven = tmp / "driven.html"
    driven.write_text(text.replace("<head>", "<head>" + _BEFORE, 1)
                      .replace("</body>", _AFTER + "</body>", 1), encoding="utf-8")  # fmt: skip
    command = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={tmp / 'profile'}", "--virtual-time-budget=5000",
        "--dump-dom", driven.as_uri(),
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    found = re.search(r'<pre id="harness">(.*?)</pre>', done.stdout, re.S)
    assert found is not None, f"no harness output; chromium said: {done.stderr[-2000:]}"
    return json.loads(html.unescape(found.group(1)))


def test_slider_moves_the_panels_in_chromium(run_dir, tmp_path):
    """Moving the slider to the last frame changes every canvas and the step; back to the first
    frame gives the first picture again; play advances; no script error is logged."""
    result = _drive(run_dir / "view.html", tmp_path)
    assert result["errors"] == []
    assert len(result["runs"]) == 2
    for run in result["runs"]:
        assert run["frames"] == 7
        assert run["first"]["step"] == 0 and run["last"]["step"] == 60
        assert "step 60 of 60" in run["last"]["label"]
        assert len(run["first"]["canvases"]) == 2
        for a, b in zip(run["first"]["canvases"], run["last"]["canvases"]):
            assert a != b  # the main panel and the curves (cursor) both change
        assert run["back"]["canvases"] == run["first"]["canvases"]
    assert result["played"]["frame"] > 0 and result["played"]["playing"] is True


def test_a_script_error_is_caught_by_the_harness(run_dir, tmp_path):
    """The harness is not blind: a page whose script throws reports the error."""
    page = (run_dir / "view.html").read_text(encoding="utf-8")
    broken = tmp_path / "broken.html"
    broken.write_text(page.replace("var LOG4 = Math.log(4);", "var LOG4 = Math.log(4); null.x;"),
                      encoding="utf-8")  # fmt: skip
    result = _drive(broken, tmp_path)
    assert any("null" in e or "gantheoryView" in e for e in result["errors"])


def test_cli_view_writes_the_page_and_names_bad_directories(run_dir, tmp_path, capsys):
    (run_dir / "view.html").unlink()
    assert cli.main(["view", str(run_dir)]) == 0
    assert (run_dir / "view.html").is_file()
    assert "view.html" in capsys.readouterr().out
    assert cli.main(["view", str(tmp_path / "missing")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert cli.main(["view", str(tmp_path)]) == 1
    assert "no recording" in capsys.readouterr().err


def test_view_page_is_the_same_for_the_same_recording(run_dir):
    page = (run_dir / "view.html").read_text(encoding="utf-8")
    write_view(run_dir)
    assert (run_dir / "view.html").read_text(encoding="utf-8") == page  # no timestamps


def test_the_optimal_discriminator_study_writes_its_view(tmp_path):
    """view=True: recordings, view.html and a GIF per run, named in the Report; view=False:
    no recorder and nothing written."""
    from studies import optimal_discriminator as study

    small = dict(steps_1d=12, record_every_1d=6, batch_1d=32, steps_2d=6, batch_2d=64,
                 record_every_2d=3, flow_hidden=(8,), d_widths_2d=(8,), view_frames=4,
                 gif_frames=3)  # fmt: skip
    report = study.run(study.Config(**small), tmp_path, progress=False)
    assert report.views == ["view.html", "optimal_discriminator_1d.gif",
                            "optimal_discriminator_2d.gif"]  # fmt: skip
    for name in [*report.views, "recording_1d.json", "recording_2d.json"]:
        assert (tmp_path / name).is_file()
    runs = json.loads(re.search(r'id="gantheory-data">(.*?)</script>',
                                (tmp_path / "view.html").read_text(), re.S).group(1))  # fmt: skip
    assert [len(r["frames"]) for r in runs] == [4, 4] and [r["dim"] for r in runs] == [1, 2]
    off = study.Config(**small, view=False)
    assert study._recorder(off, gt.gaussian(0.0, 1.0), gt.TrainConfig(device="cpu"),
                           ([-1.0], [1.0]), 0) is None  # fmt: skip
    assert study._write_views(tmp_path / "off", off, None, None, gt.History(), gt.History()) == []
    assert not (tmp_path / "off").exists()


def test_a_title_cannot_close_the_data_script(run_dir):
    """A recording's text is data: '</script>' inside it cannot end the embedded JSON early."""
    from gantheory.view import load_recordings

    rec = load_recordings(run_dir)[0]
    rec = dict(rec, title="</script><script>window.pwned = 1</script>")
    page = view_html([rec], title="<b>t</b>")
    assert page.count("</script>") == 2  # the data block's end and the drawing script's end
    assert "<b>t</b>" not in page and "&lt;b&gt;t&lt;/b&gt;" in page
    data = re.search(r'id="gantheory-data">(.*?)</script>', page, re.S).group(1)
    assert json.loads(data)[0]["title"] == rec["title"]


def test_the_saturation_study_writes_a_view_of_its_live_runs(tmp_path):
    """The live runs (first seed per loss) are recorded; the page shows one section per loss."""
    from studies import saturation as study

    config = study.Config(live_steps=4, live_seeds=1, live_widths=(4,), batch_size=16,
                          view_frames=2, gif_frames=2)  # fmt: skip
    recorded: dict = {}
    study._live(config, "cpu", 0, False, recorded)
    assert list(recorded) == list(study.TUTORIAL_LOSSES)
    views = study._write_views(tmp_path, config, recorded)
    assert views == ["view.html", *(f"live_{loss}.gif" for loss in study.TUTORIAL_LOSSES)]
    runs = json.loads(re.search(r'id="gantheory-data">(.*?)</script>',
                                (tmp_path / "view.html").read_text(), re.S).group(1))  # fmt: skip
    assert [r["loss"] for r in runs] == list(study.TUTORIAL_LOSSES)
    assert all(len(r["frames"]) == 2 for r in runs)
    assert study._write_views(tmp_path / "none", config, {}) == []
