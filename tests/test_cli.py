"""The ``gantheory`` command: list, run, reproduce, option checking, atomic outputs, errors.

Most tests drive the command with small fake study modules (a monkeypatched registry), so they
need none of the real studies; one test runs the real mode-seeking study end to end (quick).
"""

from __future__ import annotations

import json
import subprocess
import sys
import types
from dataclasses import dataclass
from pathlib import Path

import pytest

import studies
from gantheory import cli
from studies import Report

CALLS: list[dict] = []


@dataclass
class FakeConfig:
    n: int = 3  # how many points
    scale: float = 1.0  # a number
    label: str = "a"
    flag: bool = False
    sizes: tuple[int, ...] = (1, 2)
    fail: bool = False  # raise inside run, after writing a file


def _fake_run(config, out, *, device, seed, progress):
    CALLS.append({"config": config, "device": device, "seed": seed, "progress": progress})
    (out / "plot.png").write_bytes(b"\x89PNG fake")
    (out / "numbers.json").write_text(json.dumps({"n": config.n, "seed": seed}))
    if config.fail:
        raise RuntimeError("the study broke\nacross lines")
    return Report(
        title=f"Fake study n={config.n}",
        figures=["plot.png"],
        tables=["| x | y |\n|---|---|\n| 1 | 2 |"],
        published="Paper et al. 2020: **0.5**.",
        notes="- it works\n- with `code`",
    )


def _fake_module(name: str, *, quick: dict | None = None) -> types.ModuleType:
    module = types.ModuleType(name)
    module.SUMMARY = f"a fake study called {name}"
    module.Config = FakeConfig
    module.QUICK = quick if quick is not None else {"n": 1}
    module.run = _fake_run
    return module


@pytest.fixture
def fake(monkeypatch):
    """Two fake studies, ``alpha`` and ``beta``, as the whole registry."""
    CALLS.clear()
    for name in ("fake_alpha", "fake_beta"):
        monkeypatch.setitem(sys.modules, name, _fake_module(name))
    monkeypatch.setattr(studies, "STUDIES", {"alpha": "fake_alpha", "beta": "fake_beta"})
    return CALLS


def _error_line(capsys) -> str:
    """The one error line on stderr (progress lines may come before it, never after)."""
    err = capsys.readouterr().err.strip().splitlines()
    errors = [line for line in err if "error" in line.lower()]
    assert len(errors) == 1 and err[-1] == errors[0], err
    assert errors[0].startswith("gantheory: error: ")
    return errors[0]


def test_list_prints_one_line_per_study(fake, capsys):
    assert cli.main(["list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[0] for line in lines] == ["alpha", "beta"]
    assert "a fake study called fake_alpha" in lines[0]


def test_list_marks_a_missing_study_unavailable(fake, monkeypatch, capsys):
    monkeypatch.setitem(studies.STUDIES, "ghost", "studies.no_such_module_here")
    assert cli.main(["list"]) == 0
    ghost = [line for line in capsys.readouterr().out.splitlines() if line.startswith("ghost")]
    assert "unavailable" in ghost[0] and "no_such_module_here" in ghost[0]


def test_run_writes_the_study_directory(fake, tmp_path, capsys):
    assert cli.main(["run", "alpha", "--out", str(tmp_path), "--seed", "7", "--device", "cpu"]) == 0
    out = tmp_path / "alpha"
    assert (out / "plot.png").read_bytes() == b"\x89PNG fake"
    record = json.loads((out / cli.RUN_FILE).read_text())
    assert record["options"] == {
        "quick": False,
        "device": "cpu",
        "seed": 7,
        "config": {
            "n": 3,
            "scale": 1.0,
            "label": "a",
            "flag": False,
            "sizes": [1, 2],
            "fail": False,
        },
    }
    assert record["report"]["figures"] == ["plot.png"]
    assert (out / cli.MARKER).exists()
    assert fake[-1]["seed"] == 7 and fake[-1]["device"] == "cpu"
    assert str(out) in capsys.readouterr().out


def test_quick_and_set_overrides_are_typed(fake, tmp_path):
    argv = ["run", "alpha", "--out", str(tmp_path), "--quick", "--no-progress"]
    argv += [
        "--set",
        "scale=0.25",
        "--set",
        "flag=true",
        "--set",
        "sizes=3,4,5",
        "--set",
        "label=b c",
    ]
    assert cli.main(argv) == 0
    config = fake[-1]["config"]
    assert config == FakeConfig(n=1, scale=0.25, label="b c", flag=True, sizes=(3, 4, 5))
    assert fake[-1]["progress"] is False


def test_set_can_override_a_quick_value(fake, tmp_path):
    assert cli.main(["run", "alpha", "--out", str(tmp_path), "--quick", "--set", "n=9"]) == 0
    assert fake[-1]["config"].n == 9


@pytest.mark.parametrize(
    "argv, words",
    [
        (["run", "nope"], ["unknown study 'nope'", "alpha"]),
        (["run", "alpha", "--set", "m=1"], ["no Config field 'm'", "fields: n, scale"]),
        (["run", "alpha", "--set", "n=1.5"], ["--set n", "expected an integer"]),
        (["run", "alpha", "--set", "flag=maybe"], ["expected true or false"]),
        (["run", "alpha", "--set", "n"], ["FIELD=VALUE"]),
        (["run", "alpha", "--device", "tpu"], ["--device must be"]),
        (["run", "alpha", "--seed", "x"], ["--seed", "expected a whole number >= 0"]),
        (["run", "alpha", "--seed", "-1"], ["--seed", "expected a whole number >= 0, got -1"]),
        (["run", "alpha", "--bogus"], ["unrecognized arguments: --bogus"]),
        (["frobnicate"], ["invalid choice"]),
        ([], ["required"]),
    ],
)
def test_bad_input_exits_nonzero_with_one_line(fake, tmp_path, capsys, argv, words):
    if argv[:1] == ["run"]:
        argv = [*argv, "--out", str(tmp_path)]
    status = cli.main(argv)
    assert status in (1, 2)
    line = _error_line(capsys)
    for word in words:
        assert word in line
    assert not (tmp_path / "alpha").exists()


def test_unwritable_output_exits_with_one_line(fake, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    assert cli.main(["run", "alpha", "--out", str(blocker / "sub")]) == 1
    assert "not a directory" in _error_line(capsys)
    assert cli.main(["reproduce", "--out", str(blocker)]) == 1
    assert "not a directory" in _error_line(capsys)


def test_refuses_to_replace_a_directory_it_did_not_write(fake, tmp_path, capsys):
    (tmp_path / "alpha").mkdir()
    (tmp_path / "alpha" / "precious.txt").write_text("keep me")
    assert cli.main(["run", "alpha", "--out", str(tmp_path)]) == 1
    assert "was not written by gantheory" in _error_line(capsys)
    assert (tmp_path / "alpha" / "precious.txt").read_text() == "keep me"


def test_a_failing_study_leaves_the_previous_output_intact(fake, tmp_path, capsys):
    assert cli.main(["run", "alpha", "--out", str(tmp_path), "--set", "n=5"]) == 0
    before = sorted(p.name for p in (tmp_path / "alpha").iterdir())
    status = cli.main(["run", "alpha", "--out", str(tmp_path), "--set", "fail=true"])
    assert status == 1
    line = _error_line(capsys)
    assert "study 'alpha' failed: RuntimeError: the study broke across lines" in line
    assert sorted(p.name for p in (tmp_path / "alpha").iterdir()) == before
    assert json.loads((tmp_path / "alpha" / "numbers.json").read_text())["n"] == 5
    assert [p.name for p in tmp_path.iterdir()] == ["alpha"]  # no temporary directory left


def test_keyboard_interrupt_exits_130_without_traceback(fake, tmp_path, monkeypatch, capsys):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(sys.modules["fake_alpha"], "run", interrupted)
    assert cli.main(["run", "alpha", "--out", str(tmp_path)]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines()[-1] == "gantheory: interrupted" and "Traceback" not in err
    assert not (tmp_path / "alpha").exists()


def test_reproduce_writes_every_study_and_the_index(fake, tmp_path):
    out = tmp_path / "results"
    assert cli.main(["reproduce", "--out", str(out), "--quick", "--seed", "3"]) == 0
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == [
        "alpha",
        "beta",
        "index.html",
        "index.md",
    ]
    index = (out / "index.md").read_text()
    for text in [
        "![alpha: plot.png](alpha/plot.png)",
        "| 1 | 2 |",
        "Paper et al. 2020",
        "Fake study n=1",
    ]:
        assert text in index
    page = (out / "index.html").read_text()
    assert '<img src="alpha/plot.png"' in page and '<img src="beta/plot.png"' in page
    assert "<th>x</th>" in page and "<strong>0.5</strong>" in page and "<code>code</code>" in page
    assert all(call["seed"] == 3 and call["config"].n == 1 for call in fake)
    assert not (tmp_path / ".results.staging").exists()


def test_interrupted_reproduce_resumes_and_keeps_the_old_results(fake, tmp_path, monkeypatch):
    out = tmp_path / "results"
    assert cli.main(["reproduce", "--out", str(out), "--quick"]) == 0
    old_index = (out / "index.md").read_text()

    def broken(*args, **kwargs):
        raise RuntimeError("beta broke")

    monkeypatch.setattr(sys.modules["fake_beta"], "run", broken)
    fake.clear()
    assert cli.main(["reproduce", "--out", str(out), "--quick", "--seed", "1"]) == 1
    assert (out / "index.md").read_text() == old_index  # the previous results are untouched
    assert len(fake) == 1  # alpha ran, beta failed

    monkeypatch.setattr(sys.modules["fake_beta"], "run", _fake_run)
    fake.clear()
    assert cli.main(["reproduce", "--out", str(out), "--quick", "--seed", "1"]) == 0
    assert len(fake) == 1  # alpha was reused from the staging area, only beta ran
    assert json.loads((out / "alpha" / cli.RUN_FILE).read_text())["options"]["seed"] == 1


def test_parse_value_handles_unions_literals_and_tuples():
    from typing import Literal, Optional

    assert cli._parse_value("none", Optional[int]) is None  # noqa: UP045 (typing.Union path)
    assert cli._parse_value("4", int | None) == 4
    assert cli._parse_value("b", Literal["a", "b"]) == "b"
    with pytest.raises(ValueError, match="expected one of 'a', 'b'"):
        cli._parse_value("c", Literal["a", "b"])
    assert cli._parse_value("(0.5, 1.0)", tuple[float, float]) == (0.5, 1.0)
    with pytest.raises(ValueError, match="expected 2 values"):
        cli._parse_value("1,2,3", tuple[float, float])
    assert cli._parse_value("[1, 2]", list[float]) == [1.0, 2.0]


def test_markdown_to_html_escapes_raw_html():
    page = cli.markdown_to_html("a <script>x</script> & b\n\n## Head *it*")
    assert "&lt;script&gt;" in page and "&amp;" in page
    assert "<h2>Head <em>it</em></h2>" in page


def test_the_installed_command_runs_a_real_study(tmp_path):
    """End to end through the console script: the mode-seeking study, quick, into tmp_path."""
    exe = Path(sys.executable).with_name("gantheory")
    command = [str(exe)] if exe.exists() else [sys.executable, "-m", "gantheory.cli"]
    result = subprocess.run(
        [*command, "run", "mode-seeking", "--quick", "--out", str(tmp_path), "--no-progress"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = tmp_path / "mode-seeking"
    record = json.loads((out / cli.RUN_FILE).read_text())
    for figure in record["report"]["figures"]:
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    assert (out / record["report"]["numbers"]).exists()
    bad = subprocess.run(
        [*command, "run", "mode-seeking", "--set", "nope=1"], capture_output=True, text=True, cwd=tmp_path
    )
    assert bad.returncode == 1
    assert bad.stderr.strip().count("\n") == 0 and bad.stderr.startswith("gantheory: error:")


def test_markdown_to_html_terminates_on_lines_that_open_no_block():
    """A bare list marker or an anchor followed by text used to loop forever."""
    from gantheory.cli import markdown_to_html

    html = markdown_to_html('- \nabc\n\n1. \n<a id="x"></a> text\n')
    assert "<p>- abc</p>" in html and "<p>1.</p>" in html and "text" in html


@pytest.mark.parametrize(
    "study, setting, words",
    [
        ("optimal-discriminator", "steps_1d=-5", ["steps_1d must be > 0"]),
        ("optimal-discriminator", "lr_1d=nan", ["lr_1d must hold finite numbers"]),
        ("optimal-discriminator", "loss_1d=foo", ["loss_1d must be from", "'foo'"]),
        ("optimal-discriminator", "momentum_1d=1.5", ["momentum_1d must"]),
        ("saturation", "durations=-5", ["durations must be >= 0"]),
        ("mode-seeking", "window=5,1", ["window must be (lo, hi)"]),
        ("mode-collapse", "targets=moon", ["targets must be from 'ring', 'grid'"]),
        ("mode-collapse", "beta1=1.0", ["beta1 must be in [0, 1)"]),
    ],
)
def test_a_study_config_is_checked_before_the_study_starts(tmp_path, capsys, study, setting, words):
    assert cli.main(["run", study, "--out", str(tmp_path / "x"), "--set", setting]) == 1
    line = _error_line(capsys)
    assert "bad configuration" in line
    for word in words:
        assert word in line, line
    assert not (tmp_path / "x").exists()


def test_the_convergence_study_runs_quick_end_to_end(tmp_path):
    """The Dirac-GAN study (in-process, quick): figure, numbers, and a verdict for every run."""
    assert cli.main(["run", "convergence", "--quick", "--out", str(tmp_path), "--no-progress"]) == 0
    out = tmp_path / "convergence"
    record = json.loads((out / cli.RUN_FILE).read_text())
    for figure in record["report"]["figures"]:
        assert (out / figure).read_bytes()[:4] == b"\x89PNG"
    numbers = json.loads((out / record["report"]["numbers"]).read_text())
    config = record["options"]["config"]
    expected = len(config["variants"]) * len(config["step_sizes"]) * 2
    assert len(numbers["table"]) == expected
    verdicts = {(r["variant"], r["method"]): r["verdict"] for r in numbers["table"] if r["h"] == 0.1}
    assert verdicts[("gan", "simultaneous")] == "diverges"
    assert verdicts[("r1", "alternating")] == "converges"
    assert "Mescheder" in record["report"]["published"]


def test_the_index_links_each_study_view(fake, tmp_path, monkeypatch):
    """A Report's views (view.html, GIFs) are linked from index.md and index.html; a view the
    study did not write fails the run."""

    def with_views(config, out, *, device, seed, progress):
        report = _fake_run(config, out, device=device, seed=seed, progress=progress)
        (out / "view.html").write_text("<!DOCTYPE html>")
        (out / "anim.gif").write_bytes(b"GIF89a")
        report.views = ["view.html", "anim.gif"]
        return report

    monkeypatch.setattr(sys.modules["fake_alpha"], "run", with_views)
    out = tmp_path / "results"
    assert cli.main(["reproduce", "--out", str(out), "--quick"]) == 0
    index = (out / "index.md").read_text()
    assert "[alpha/view.html](alpha/view.html)" in index
    assert "![alpha: anim.gif (animation)](alpha/anim.gif)" in index
    assert "beta/view.html" not in index
    page = (out / "index.html").read_text()
    assert '<a href="alpha/view.html">' in page and '<img src="alpha/anim.gif"' in page

    def missing_view(config, out, *, device, seed, progress):
        report = _fake_run(config, out, device=device, seed=seed, progress=progress)
        report.views = ["view.html"]
        return report

    monkeypatch.setattr(sys.modules["fake_alpha"], "run", missing_view)
    assert cli.main(["run", "alpha", "--out", str(tmp_path / "r")]) == 1
