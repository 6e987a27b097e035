"""An offline, interactive HTML page of a training run: the learned D beside the exact D*.

:func:`view_html` turns recordings (:class:`gantheory.TrainingRecorder`) into one self-contained
HTML file: the data are embedded as JSON, the drawing is plain JavaScript on ``<canvas>``
written here (no plotting library, no server, no network: the page holds no external URL).
A time slider and a play button move over the recorded frames:

- 1D: p_data, p_g (exact where G has a density, a KDE otherwise), the learned D and the exact
  D* = p_data / (p_data + p_g) (Goodfellow et al. 2014, arXiv:1406.2661, Proposition 1), the
  generated samples and the direction G's cost pushes them;
- 2D: heatmaps of the learned D and of D*, both with the contour D* = 1/2, the data and generated
  samples, and G's push -dJ/dx on a sample of the generated points;
- beside them the curves of the run's :class:`gantheory.History`: JSD(p_data || p_g), C(G)
  against its minimum -log 4 (Theorem 1), E|D - D*|, the losses and the norm of G's gradient,
  with a cursor at the slider's step.

The page exposes ``window.gantheoryView`` (``runs``, ``setFrame(run, i)``, ``state(run)``) for
tests, and opens at ``#frame=N`` when the URL says so (for screenshots).
"""

from __future__ import annotations

import html
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from gantheory.io import to_jsonable, write_text
from gantheory.record import FORMAT

__all__ = ["view_html", "write_view", "load_recordings"]

VIEW_FILE = "view.html"


#: what every recording and each of its frames holds (gantheory.record.TrainingRecorder.to_dict)
_RECORDING_KEYS = ("box", "axes", "frames")
_FRAME_KEYS = {
    1: ("step", "samples", "push", "d", "d_star", "p_g"),
    2: ("step", "samples", "push", "d", "d_star"),
}


def _check_recording(recording: object, name: str) -> dict[str, Any]:
    if not isinstance(recording, dict) or recording.get("format") != FORMAT:
        raise ValueError(f"{name} is not a gantheory recording (format {FORMAT!r})")
    if recording.get("dim") not in (1, 2) or not recording.get("frames"):
        raise ValueError(f"{name}: a recording needs dim 1 or 2 and at least one frame")
    missing = [k for k in _RECORDING_KEYS if k not in recording]
    if missing:
        raise ValueError(f"{name}: the recording lacks {', '.join(missing)}")
    for i, frame in enumerate(recording["frames"]):
        keys = _FRAME_KEYS[recording["dim"]]
        lacking = [k for k in keys if not isinstance(frame, dict) or k not in frame]
        if lacking:
            raise ValueError(f"{name}: frame {i} lacks {', '.join(lacking)}")
    return recording


def load_recordings(run_dir: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The recordings ``recording*.json`` of a run directory, sorted by file name.

    Raises:
        ValueError: ``run_dir`` is not a directory, holds no recording, or a file is not one.
    """
    path = Path(run_dir)
    if not path.is_dir():
        raise ValueError(f"run directory {str(path)!r} does not exist or is not a directory")
    files = sorted(path.glob("recording*.json"))
    if not files:
        raise ValueError(
            f"{str(path)!r} holds no recording*.json (record a run with gantheory.TrainingRecorder "
            "or run a study with view=True)"
        )
    out = []
    for file in files:
        try:
            data = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"{str(file)!r} cannot be read as JSON: {error}") from error
        out.append(_check_recording(data, repr(str(file))))
    return out


def view_html(recordings: Sequence[dict[str, Any]], *, title: str = "gantheory: training") -> str:
    """One self-contained HTML page showing ``recordings`` (each a section with its slider).

    Args:
        recordings: dicts of :meth:`gantheory.TrainingRecorder.to_dict` (or their JSON files
            read back).
        title: the page's heading.

    Returns:
        the page, a str (no external reference: scripts, styles and data are inline).

    Raises:
        ValueError: an empty list or something that is not a recording.
    """
    if isinstance(recordings, dict) or not recordings:
        raise ValueError("recordings must be a non-empty list of recordings")
    runs = [_check_recording(r, f"recordings[{i}]") for i, r in enumerate(recordings)]
    data = json.dumps(to_jsonable(runs), separators=(",", ":")).replace("</", "<\\/")
    return (
        _PAGE.replace("__TITLE__", html.escape(title))
        .replace("__STYLE__", _STYLE)
        .replace("__SCRIPT__", _SCRIPT)
        .replace("__DATA__", data)
    )


def write_view(
    run_dir: str | os.PathLike[str], *, title: str | None = None
) -> Path:
    """Write ``RUN_DIR/view.html`` from the run directory's recordings, atomically; return its path.

    Raises:
        ValueError: as :func:`load_recordings`.
    """
    path = Path(run_dir)
    recordings = load_recordings(path)
    page = view_html(recordings, title=title or f"gantheory: {path.absolute().name}")
    target = path / VIEW_FILE
    write_text(target, page)
    return target


def write_run_views(
    out: str | os.PathLike[str],
    runs: Sequence[tuple[str, str, Any, Any, str]],
    *,
    title: str,
    gif_frames: int,
) -> list[str]:
    """For a study that trains: each run's recording and animated GIF, then ``view.html`` over them.

    Args:
        out: the study's output directory.
        runs: (recording file name, GIF file name, :class:`gantheory.TrainingRecorder`, the run's
            :class:`gantheory.History`, the run's title), one per run, in the page's order.
        title: the page's title.
        gif_frames: the most frames of each GIF (:func:`gantheory.write_animation`).

    Returns:
        ``["view.html", *GIF file names]``, the names a study's Report lists as its views.
    """
    from gantheory.animation import write_animation

    out = Path(out)
    gifs = []
    for recording_name, gif, recorder, history, run_title in runs:
        recorder.save(out / recording_name, history, title=run_title)
        write_animation(recorder.to_dict(history, title=run_title), out / gif, max_frames=gif_frames)
        gifs.append(gif)
    write_view(out, title=title)
    return [VIEW_FILE, *gifs]


_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>__TITLE__</title>
<style>
__STYLE__
</style>
</head>
<body>
<h1>__TITLE__</h1>
<p class="note">Drag the slider or press play. Learned D beside the exact optimal discriminator
D* = p<sub>data</sub> / (p<sub>data</sub> + p<sub>g</sub>) (Goodfellow et al. 2014, Proposition 1);
arrows: the direction G's cost pushes each generated point, &minus;dJ(D(x))/dx at x = G(z).</p>
<div id="runs"></div>
<script type="application/json" id="gantheory-data">__DATA__</script>
<script>
__SCRIPT__
</script>
</body>
</html>
"""

_STYLE = """body{font-family:system-ui,sans-serif;margin:1rem 2rem;color:#222}
h1{font-size:1.3rem}h2{font-size:1.1rem;margin:1.5rem 0 .3rem}
.note{font-size:.85rem;color:#555;max-width:70rem}
.controls{display:flex;gap:.8rem;align-items:center;margin:.4rem 0}
.controls input[type=range]{width:36rem}
.controls button{width:5rem}
.label{font-variant-numeric:tabular-nums;font-size:.9rem}
.panels{display:flex;flex-wrap:wrap;gap:.5rem;align-items:flex-start}
canvas{border:1px solid #ddd;background:#fff}"""

_SCRIPT = r"""(function () {
'use strict';
var RUNS = JSON.parse(document.getElementById('gantheory-data').textContent);
var C = {pdata: '#222222', pg: '#2a9d8f', D: '#e76f51', Dstar: '#264653', jsd: '#2ca02c',
         lossd: '#e76f51', lossg: '#2a9d8f', grid: '#e6e6e6', grey: '#888888'};
var LOG4 = Math.log(4);

function num(v) {
  if (typeof v === 'number') return v;
  if (v === 'inf') return Infinity;
  if (v === '-inf') return -Infinity;
  return NaN;
}
function decode(b64) {
  var s = atob(b64), a = new Uint8Array(s.length);
  for (var i = 0; i < s.length; i++) a[i] = s.charCodeAt(i);
  return a;
}
function fmt(v) {
  if (!isFinite(v)) return String(v);
  var a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e4)) return v.toExponential(2);
  var t = v.toPrecision(4);
  return t.indexOf('.') < 0 ? t : t.replace(/0+$/, '').replace(/\.$/, '');
}
function el(tag, attrs, parent) {
  var e = document.createElement(tag);
  for (var k in attrs) { if (k === 'text') e.textContent = attrs[k]; else e.setAttribute(k, attrs[k]); }
  if (parent) parent.appendChild(e);
  return e;
}
function canvas(parent, w, h) {
  var c = el('canvas', {width: w, height: h}, parent);
  return c;
}

// An axes box on a canvas: data -> pixel maps, frame, ticks and labels.
function Axes(ctx, x0, y0, w, h, xlim, ylim, opt) {
  opt = opt || {};
  this.ctx = ctx; this.x0 = x0; this.y0 = y0; this.w = w; this.h = h;
  this.xlim = xlim; this.ylim = ylim; this.logy = !!opt.logy;
}
Axes.prototype.fy = function (y) { return this.logy ? Math.log10(Math.max(y, 1e-300)) : y; };
Axes.prototype.px = function (x) {
  return this.x0 + (x - this.xlim[0]) / (this.xlim[1] - this.xlim[0]) * this.w;
};
Axes.prototype.py = function (y) {
  var lo = this.fy(this.ylim[0]), hi = this.fy(this.ylim[1]);
  return this.y0 + this.h - (this.fy(y) - lo) / (hi - lo) * this.h;
};
function ticks(lo, hi, n) {
  var span = hi - lo, step = Math.pow(10, Math.floor(Math.log10(span / n)));
  var err = span / n / step;
  step *= err >= 7.5 ? 10 : err >= 3.5 ? 5 : err >= 1.5 ? 2 : 1;
  var out = [];
  for (var t = Math.ceil(lo / step) * step; t <= hi + 1e-9 * span; t += step) out.push(Math.abs(t) < 1e-12 * span ? 0 : t);
  return out;
}
Axes.prototype.frame = function (xlabel, ylabel, title) {
  var c = this.ctx, self = this;
  c.save();
  c.strokeStyle = C.grid; c.lineWidth = 1; c.fillStyle = '#333'; c.font = '11px sans-serif';
  c.textAlign = 'center'; c.textBaseline = 'top';
  ticks(this.xlim[0], this.xlim[1], 5).forEach(function (t) {
    var x = self.px(t);
    c.beginPath(); c.moveTo(x, self.y0); c.lineTo(x, self.y0 + self.h); c.stroke();
    c.fillText(fmt(t), x, self.y0 + self.h + 3);
  });
  c.textAlign = 'right'; c.textBaseline = 'middle';
  var yt;
  if (this.logy) {
    yt = [];
    var a = Math.floor(Math.log10(this.ylim[0])), b = Math.ceil(Math.log10(this.ylim[1]));
    var every = Math.max(1, Math.ceil((b - a) / 5));
    for (var e = a; e <= b; e += every) yt.push(Math.pow(10, e));
    yt = yt.filter(function (t) { return t >= self.ylim[0] * 0.999 && t <= self.ylim[1] * 1.001; });
  } else {
    yt = ticks(this.ylim[0], this.ylim[1], 4);
  }
  var decades = this.logy && yt.length >= 2;
  if (this.logy && !decades) yt = [this.ylim[0], this.ylim[1]];  // less than a decade: the ends
  yt.forEach(function (t) {
    var y = self.py(t);
    c.beginPath(); c.moveTo(self.x0, y); c.lineTo(self.x0 + self.w, y); c.stroke();
    c.fillText(decades ? '1e' + Math.round(Math.log10(t)) : fmt(t), self.x0 - 3, y);
  });
  c.strokeStyle = '#999'; c.strokeRect(this.x0, this.y0, this.w, this.h);
  c.textAlign = 'center'; c.textBaseline = 'bottom';
  if (title) { c.font = '12px sans-serif'; c.fillText(title, this.x0 + this.w / 2, this.y0 - 4); }
  c.font = '11px sans-serif'; c.textBaseline = 'top';
  if (xlabel) c.fillText(xlabel, this.x0 + this.w / 2, this.y0 + this.h + 16);
  if (ylabel) {
    c.translate(this.x0 - 44, this.y0 + this.h / 2); c.rotate(-Math.PI / 2);
    c.fillText(ylabel, 0, 0);
  }
  c.restore();
};
Axes.prototype.clip = function () {
  this.ctx.save(); this.ctx.beginPath();
  this.ctx.rect(this.x0, this.y0, this.w, this.h); this.ctx.clip();
};
Axes.prototype.line = function (xs, ys, color, width, dash) {
  var c = this.ctx, started = false;
  this.clip();
  c.strokeStyle = color; c.lineWidth = width || 1.5; c.setLineDash(dash || []);
  c.beginPath();
  for (var i = 0; i < xs.length; i++) {
    var y = ys[i];
    if (!isFinite(y) || (this.logy && y <= 0)) { started = false; continue; }
    var px = this.px(xs[i]), py = this.py(y);
    if (started) c.lineTo(px, py); else { c.moveTo(px, py); started = true; }
  }
  c.stroke(); c.restore();
};
Axes.prototype.arrow = function (x, y, dx, dy, color) {
  var c = this.ctx, L = Math.sqrt(dx * dx + dy * dy);
  if (!isFinite(L)) return;
  c.save();
  c.strokeStyle = color; c.fillStyle = color; c.lineWidth = 1.2; c.setLineDash([]);
  c.beginPath(); c.moveTo(x, y); c.lineTo(x + dx, y + dy); c.stroke();
  if (L >= 2) {
    var ux = dx / L, uy = dy / L, hx = x + dx, hy = y + dy, s = Math.min(5, 0.5 * L);
    c.beginPath(); c.moveTo(hx, hy);
    c.lineTo(hx - s * ux + 0.5 * s * uy, hy - s * uy - 0.5 * s * ux);
    c.lineTo(hx - s * ux - 0.5 * s * uy, hy - s * uy + 0.5 * s * ux);
    c.closePath(); c.fill();
  }
  c.restore();
};
function legend(ctx, x, y, items) {
  ctx.save(); ctx.font = '11px sans-serif'; ctx.textBaseline = 'middle'; ctx.textAlign = 'left';
  ctx.fillStyle = 'rgba(255,255,255,0.85)'; ctx.fillRect(x - 4, y - 8, 130, 14 * items.length + 2);
  items.forEach(function (it, i) {
    ctx.strokeStyle = it[1]; ctx.lineWidth = 2; ctx.setLineDash(it[2] || []);
    ctx.beginPath(); ctx.moveTo(x, y + 14 * i); ctx.lineTo(x + 18, y + 14 * i); ctx.stroke();
    ctx.fillStyle = '#333'; ctx.fillText(it[0], x + 22, y + 14 * i);
  });
  ctx.restore();
}

// Diverging colour map for values in [0, 1]: blue (0) - white (1/2) - red (1).
function color(v) {
  var lo = [33, 102, 172], mid = [247, 247, 247], hi = [178, 24, 43], t, a, b;
  if (v < 0.5) { t = v / 0.5; a = lo; b = mid; } else { t = (v - 0.5) / 0.5; a = mid; b = hi; }
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}
// Segments of the level set {v = level} of an n x n "ij" grid by marching squares (NaN: skip).
function contour(v, n, level) {
  var segs = [];
  function at(i, j) { return v[i * n + j]; }
  for (var i = 0; i + 1 < n; i++) for (var j = 0; j + 1 < n; j++) {
    var c = [[i, j], [i + 1, j], [i + 1, j + 1], [i, j + 1]], pts = [];
    var vals = c.map(function (p) { return at(p[0], p[1]); });
    if (vals.some(isNaN)) continue;
    for (var e = 0; e < 4; e++) {
      var a = vals[e] - level, b = vals[(e + 1) % 4] - level;
      if ((a < 0) !== (b < 0)) {
        var t = a / (a - b), p = c[e], q = c[(e + 1) % 4];
        pts.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
      }
    }
    if (pts.length >= 2) segs.push([pts[0], pts[1]]);
    if (pts.length === 4) segs.push([pts[2], pts[3]]);
  }
  return segs;
}

function nearestRow(steps, step) {
  var best = 0;
  for (var i = 0; i < steps.length; i++) if (Math.abs(steps[i] - step) < Math.abs(steps[best] - step)) best = i;
  return best;
}

function Run(run, index, parent) {
  var self = this;
  this.run = run; this.index = index; this.frame = 0; this.timer = null;
  this.section = el('section', {'class': 'run', 'data-run': index}, parent);
  el('h2', {text: (run.title || 'run ' + (index + 1)) + ' (' + run.dim + 'D, ' + run.steps +
    ' steps, G\'s loss: ' + run.loss + (run.exact_density ? ', exact p_g' : ', p_g by KDE') + ')'}, this.section);
  var controls = el('div', {'class': 'controls'}, this.section);
  this.button = el('button', {type: 'button', text: 'Play'}, controls);
  this.slider = el('input', {type: 'range', min: 0, max: run.frames.length - 1, step: 1, value: 0,
                             'aria-label': 'recorded frame'}, controls);
  this.label = el('span', {'class': 'label'}, controls);
  var panels = el('div', {'class': 'panels'}, this.section);
  this.main = canvas(panels, run.dim === 1 ? 620 : 820, 440);
  this.curves = canvas(panels, 540, 440);
  this.prepare();
  this.slider.addEventListener('input', function () { self.show(Number(self.slider.value)); });
  this.button.addEventListener('click', function () { self.toggle(); });
}
Run.prototype.prepare = function () {
  var run = this.run, h = run.history || {};
  this.hist = {};
  for (var k in h) this.hist[k] = h[k].map(num);
  this.frames = run.frames.map(function (f) {
    var g = {step: f.step, samples: f.samples, push: f.push.map(function (p) { return Array.isArray(p) ? p.map(num) : [num(p)]; })};
    if (run.dim === 1) { g.d = f.d.map(num); g.dstar = f.d_star.map(num); g.pg = f.p_g.map(num); }
    else {
      var d = decode(f.d), s = decode(f.d_star);
      g.d = Array.prototype.map.call(d, function (b) { return b / 254; });
      g.dstar = Array.prototype.map.call(s, function (b) { return b === 255 ? NaN : b / 254; });
    }
    return g;
  });
  // one arrow scale for the whole run: the 95th percentile of |push| maps to 8% of the box
  var norms = [];
  this.frames.forEach(function (f) { f.push.forEach(function (p) {
    norms.push(Math.sqrt(p.reduce(function (s, v) { return s + v * v; }, 0)));
  }); });
  norms = norms.filter(isFinite).sort(function (a, b) { return a - b; });
  var q = norms.length ? norms[Math.floor(0.95 * (norms.length - 1))] : 1;
  var width = Math.min.apply(null, run.box[1].map(function (hi, i) { return hi - run.box[0][i]; }));
  this.arrowScale = q > 0 ? 0.08 * width / q : 0;
  if (run.dim === 1) {
    var peak = Math.max.apply(null, run.p_data.map(num));
    var gmax = Math.max.apply(null, this.frames.map(function (f) { return Math.max.apply(null, f.pg); }));
    this.ymax = 1.1 * Math.min(Math.max(peak, gmax), 3 * peak);
  }
};
Run.prototype.toggle = function () {
  var self = this;
  if (this.timer !== null) { clearInterval(this.timer); this.timer = null; this.button.textContent = 'Play'; return; }
  if (this.frame >= this.frames.length - 1) this.show(0);
  this.button.textContent = 'Pause';
  this.timer = setInterval(function () {
    if (self.frame >= self.frames.length - 1) { self.toggle(); return; }
    self.show(self.frame + 1);
  }, 120);
};
Run.prototype.show = function (i) {
  i = Math.max(0, Math.min(this.frames.length - 1, Math.round(i)));
  this.frame = i;
  this.slider.value = i;
  var f = this.frames[i], h = this.hist, text = 'step ' + f.step + ' of ' + this.run.steps;
  if (h.step && h.step.length) {
    var r = nearestRow(h.step, f.step);
    var parts = [['JSD', 'jsd'], ['C(G)', 'c_g'], ['E|D - D*|', 'd_error'], ['loss of G', 'loss_g']]
      .filter(function (q) { return h[q[1]] && isFinite(h[q[1]][r]); })
      .map(function (q) { return q[0] + ' = ' + fmt(h[q[1]][r]); });
    if (parts.length) text += ' | history at step ' + h.step[r] + ': ' + parts.join(', ');
  }
  this.label.textContent = text;
  this.section.setAttribute('data-frame', i);
  this.section.setAttribute('data-step', f.step);
  if (this.run.dim === 1) this.draw1d(f); else this.draw2d(f);
  this.drawCurves(f.step);
};
Run.prototype.draw1d = function (f) {
  var run = this.run, c = this.main.getContext('2d'), x = run.axes[0];
  c.clearRect(0, 0, this.main.width, this.main.height);
  var box = [run.box[0][0], run.box[1][0]];
  var ax = new Axes(c, 60, 30, 500, 300, box, [0, this.ymax]);
  ax.frame('x', 'density', 'step ' + f.step + ': densities (left axis), D and D* (right axis)');
  var ad = new Axes(c, 60, 30, 500, 300, box, [0, 1.02]);
  c.save(); c.fillStyle = '#333'; c.font = '11px sans-serif'; c.textAlign = 'left'; c.textBaseline = 'middle';
  [0, 0.5, 1].forEach(function (t) { c.fillText(String(t), 564, ad.py(t)); }); c.restore();
  ad.line(box, [0.5, 0.5], '#bbbbbb', 1, [2, 3]);
  ax.line(x, run.p_data.map(num), C.pdata, 1.8);
  ax.line(x, f.pg, C.pg, 1.8);
  ad.line(x, f.dstar, C.Dstar, 1.8, [6, 4]);
  ad.line(x, f.d, C.D, 1.8);
  // samples as ticks under the axis; arrows from the generated ones
  var y0 = 30 + 300, self = this;
  c.save(); c.globalAlpha = 0.5; c.lineWidth = 1; c.strokeStyle = C.pdata;
  run.data_samples.forEach(function (s) { var p = ax.px(s); c.beginPath(); c.moveTo(p, y0 + 28); c.lineTo(p, y0 + 34); c.stroke(); });
  c.strokeStyle = C.pg;
  f.samples.forEach(function (s) { var p = ax.px(s); c.beginPath(); c.moveTo(p, y0 + 36); c.lineTo(p, y0 + 42); c.stroke(); });
  c.restore();
  f.push.forEach(function (p, k) {
    var s = f.samples[k], px = ax.px(s), len = ax.px(s + p[0] * self.arrowScale) - px;
    ax.arrow(px, y0 + 39, len, 0, 'rgba(42,157,143,0.6)');
  });
  legend(c, 70, 44, [['p_data(x)', C.pdata], ['p_g(x)' + (run.exact_density ? '' : ' (KDE)'), C.pg],
    [run.exact_density ? 'D*(x) exact' : 'D*(x), KDE p_g', C.Dstar, [6, 4]], ['D(x) learned', C.D]]);
  c.save(); c.font = '10px sans-serif'; c.fillStyle = '#555'; c.textAlign = 'left';
  c.fillText('ticks: data (upper), G(z) (lower) with G\'s push', 60, y0 + 56); c.restore();
};
Run.prototype.heat = function (ax, values, n) {
  var off = document.createElement('canvas'); off.width = n; off.height = n;
  var octx = off.getContext('2d'), img = octx.createImageData(n, n);
  for (var i = 0; i < n; i++) for (var j = 0; j < n; j++) {
    var v = values[i * n + j], k = ((n - 1 - j) * n + i) * 4, rgb = isNaN(v) ? [217, 217, 217] : color(v);
    img.data[k] = rgb[0]; img.data[k + 1] = rgb[1]; img.data[k + 2] = rgb[2]; img.data[k + 3] = 255;
  }
  octx.putImageData(img, 0, 0);
  var c = ax.ctx; c.save(); c.imageSmoothingEnabled = false;
  c.drawImage(off, ax.x0, ax.y0, ax.w, ax.h); c.restore();
};
Run.prototype.contourLines = function (ax, values, n, color, dash) {
  var gx = this.run.axes[0], gy = this.run.axes[1], c = ax.ctx;
  function at(axis, t) { var i = Math.floor(t), r = t - i; return i + 1 < axis.length ? axis[i] + r * (axis[i + 1] - axis[i]) : axis[i]; }
  ax.clip(); c.strokeStyle = color; c.lineWidth = 2; c.setLineDash(dash || []); c.beginPath();
  contour(values, n, 0.5).forEach(function (s) {
    c.moveTo(ax.px(at(gx, s[0][0])), ax.py(at(gy, s[0][1])));
    c.lineTo(ax.px(at(gx, s[1][0])), ax.py(at(gy, s[1][1])));
  });
  c.stroke(); c.restore();
};
Run.prototype.draw2d = function (f) {
  var run = this.run, c = this.main.getContext('2d'), n = run.axes[0].length, self = this;
  c.clearRect(0, 0, this.main.width, this.main.height);
  var xl = [run.box[0][0], run.box[1][0]], yl = [run.box[0][1], run.box[1][1]];
  var size = 330, axes = [new Axes(c, 60, 30, size, size, xl, yl), new Axes(c, 460, 30, size, size, xl, yl)];
  var star = run.exact_density ? 'exact D*' : 'D* with p_g by KDE';
  var fields = [[f.d, 'learned D, step ' + f.step], [f.dstar, star + ', step ' + f.step]];
  axes.forEach(function (ax, a) {
    self.heat(ax, fields[a][0], n);
    self.contourLines(ax, f.dstar, n, C.Dstar);
    ax.frame('x1', a === 0 ? 'x2' : '', fields[a][1]);
    ax.clip();
    c.fillStyle = 'rgba(20,20,20,0.45)';
    if (a === 0) run.data_samples.forEach(function (p) { c.fillRect(ax.px(p[0]) - 1, ax.py(p[1]) - 1, 2, 2); });
    c.fillStyle = 'rgba(42,157,143,0.9)';
    f.samples.forEach(function (p) { c.beginPath(); c.arc(ax.px(p[0]), ax.py(p[1]), 1.8, 0, 2 * Math.PI); c.fill(); });
    if (a === 0) f.push.forEach(function (p, k) {
      var s = f.samples[k], x = ax.px(s[0]), y = ax.py(s[1]);
      ax.arrow(x, y, ax.px(s[0] + p[0] * self.arrowScale) - x, ax.py(s[1] + p[1] * self.arrowScale) - y, '#1b4d46');
    });
    c.restore();
  });
  // colour bar
  for (var k = 0; k < 100; k++) { var rgb = color(k / 99); c.fillStyle = 'rgb(' + rgb.map(Math.round).join(',') + ')'; c.fillRect(60 + k * 7.3, 412, 7.4, 8); }
  c.save(); c.font = '11px sans-serif'; c.fillStyle = '#333'; c.textBaseline = 'top';
  c.fillText('0', 56, 422); c.fillText('1/2', 418, 422); c.fillText('1', 786, 422);
  c.fillText('dark line: D* = 1/2; grey: (p_data + p_g)/2 < 1e-3 of its peak; dots: data (dark), G(z) (teal); arrows: G\'s push', 60, 394);
  c.restore();
};
Run.prototype.drawCurves = function (step) {
  var c = this.curves.getContext('2d'), h = this.hist, run = this.run;
  c.clearRect(0, 0, this.curves.width, this.curves.height);
  var specs = [
    ['JSD(p_data || p_g) [nats]', [['jsd', C.jsd]], true],
    ['C(G) vs -log 4 (Theorem 1)', [['c_g', C.Dstar]], false, -LOG4],
    ['E|D - D*| over (p_data + p_g)/2', [['d_error', C.D]], true],
    ['losses: D (orange), G (teal)', [['loss_d', C.lossd], ['loss_g', C.lossg]], false],
    ["|grad of G's cost| (params)", [['grad_norm_g', C.pg]], true]
  ];
  var xl = [0, Math.max(1, run.steps)];
  specs.forEach(function (spec, k) {
    var col = k % 2, row = Math.floor(k / 2);
    var x0 = 60 + col * 270, y0 = 22 + row * 135, w = 200, hh = 90;
    var values = [];
    spec[1].forEach(function (s) { (h[s[0]] || []).forEach(function (v) { if (isFinite(v) && (!spec[2] || v > 0)) values.push(v); }); });
    if (values.length && spec[3] !== undefined) values.push(spec[3]);
    if (!values.length || !h.step) {
      c.save(); c.font = '11px sans-serif'; c.fillStyle = '#888'; c.fillText(spec[0] + ': not recorded', x0, y0 + 40); c.restore();
      return;
    }
    var lo = Math.min.apply(null, values), hi = Math.max.apply(null, values);
    if (spec[2]) { lo = Math.max(lo, hi * 1e-8); if (hi <= lo) hi = lo * 10; }
    else { var pad = (hi - lo) * 0.08 || Math.abs(hi) * 0.1 || 1; lo -= pad; hi += pad; }
    var ax = new Axes(c, x0, y0, w, hh, xl, [lo, hi], {logy: spec[2]});
    ax.frame(row === 2 || k === 3 ? 'step' : '', '', spec[0]);
    if (spec[3] !== undefined) ax.line(xl, [spec[3], spec[3]], '#999', 1, [3, 3]);
    spec[1].forEach(function (s) { ax.line(h.step, h[s[0]] || [], s[1], 1.5); });
    c.save(); c.strokeStyle = '#d62728'; c.lineWidth = 1; c.setLineDash([]);
    c.beginPath(); c.moveTo(ax.px(step), y0); c.lineTo(ax.px(step), y0 + hh); c.stroke(); c.restore();
  });
};

var parent = document.getElementById('runs');
var views = RUNS.map(function (run, i) { return new Run(run, i, parent); });
var start = /(?:^|[#&])frame=(\d+)/.exec(location.hash);
views.forEach(function (v) { v.show(start ? Number(start[1]) : 0); });
window.gantheoryView = {
  runs: views.length,
  setFrame: function (r, i) { views[r].show(i); },
  state: function (r) { var v = views[r]; return {frame: v.frame, step: v.frames[v.frame].step, frames: v.frames.length, playing: v.timer !== null}; }
};
})();
"""
