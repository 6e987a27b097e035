"""The ``gantheory`` command: list, run and reproduce the studies of :mod:`studies`.

Usage::

    gantheory list
    gantheory run STUDY [--out DIR] [--quick] [--device auto|cpu|cuda[:N]] [--seed N]
                        [--threads N] [--set FIELD=VALUE ...] [--no-progress]
    gantheory reproduce [--out DIR] [--quick] [--device ...] [--seed N] [--threads N] [--fresh]
                        [--no-progress]
    gantheory view RUN_DIR

``run`` writes the study into ``DIR/STUDY`` (``DIR`` is ``results`` by default); ``reproduce`` runs
every study into ``DIR/STUDY`` and then writes ``DIR/index.md`` and ``DIR/index.html``, which show
each figure with its table, the published numbers it reproduces and the study's notes. ``view``
writes ``RUN_DIR/view.html``, an offline interactive page of the training recordings
(``recording*.json``, see :mod:`gantheory.record`) saved in ``RUN_DIR``.

Outputs are atomic. ``run`` builds the study's directory beside its target and swaps it in when the
study returns, so a crash or Ctrl-C leaves the previous directory intact. ``reproduce`` stages every
study in ``.DIR.staging`` next to ``DIR`` and swaps the whole directory in at the end; an
interrupted ``reproduce`` resumes from the studies already staged with the same options (``--fresh``
starts over). A directory is only ever replaced when it is empty or was written by this command.

Errors print one line, ``gantheory: error: ...``, and exit with status 1 (2 for a bad command line);
Ctrl-C exits with status 130. ``--traceback`` shows the full traceback of a failing study.
"""

from __future__ import annotations

import argparse
import ast
import dataclasses
import html
import importlib
import json
import os
import re
import shutil
import sys
import time
import traceback
import types
import typing
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from gantheory.io import atomic_directory, swap_directory, to_jsonable, write_json, write_text

__all__ = ["main"]

#: file that marks a directory written by this command (and therefore safe to replace)
MARKER = ".gantheory-output"
#: the run's metadata and the study's Report, in every study directory
RUN_FILE = "run.json"


class CommandError(Exception):
    """An error shown to the user as one line; ``status`` is the exit code."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse, but a bad command line raises :class:`CommandError` (one line, status 2)."""

    def error(self, message: str) -> typing.NoReturn:
        raise CommandError(f"{message} (see 'gantheory --help')", status=2)


def _parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gantheory",
        description="Reproduce the studies of gantheory: exact GAN theory on 1D/2D toys.",
    )
    parser.add_argument(
        "--traceback", action="store_true", help="show the full traceback of errors"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True
    commands.add_parser("list", help="list the studies, one line each")

    def common(sub: argparse.ArgumentParser) -> None:
        sub.add_argument("--out", default="results", help="output directory (default: results)")
        sub.add_argument(
            "--quick", action="store_true", help="the study's quick settings (CI, smoke tests)"
        )
        sub.add_argument(
            "--device", default="auto", help="auto (cuda when available), cpu, cuda or cuda:N"
        )
        sub.add_argument(
            "--seed", type=_seed, default=0, help="seed of every random draw (default: 0)"
        )
        sub.add_argument("--no-progress", action="store_true", help="no progress bars")
        sub.add_argument(
            "--threads",
            type=_positive_int,
            default=1,
            help="torch CPU threads (default 1: the studies run many small tensor operations, "
            "where a second thread on a 2-core machine multiplies the time by 5 to 20)",
        )

    run = commands.add_parser("run", help="run one study into DIR/STUDY")
    run.add_argument("study", metavar="STUDY", help="a name from 'gantheory list'")
    common(run)
    run.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="FIELD=VALUE",
        help="override a field of the study's Config (repeatable); applied after --quick",
    )
    reproduce = commands.add_parser(
        "reproduce", help="run every study, then write DIR/index.md and DIR/index.html"
    )
    common(reproduce)
    reproduce.add_argument(
        "--fresh", action="store_true", help="ignore studies staged by an interrupted run"
    )
    view = commands.add_parser(
        "view", help="write RUN_DIR/view.html, an offline interactive page of a training run"
    )
    view.add_argument("run_dir", metavar="RUN_DIR", help="a directory holding recording*.json")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gantheory`` command; returns the exit status.

    >>> main(["run", "no-such-study"])
    1
    """
    parser = _parser()
    show_traceback = "--traceback" in (sys.argv[1:] if argv is None else argv)
    try:
        args = parser.parse_args(argv)
        if args.command == "list":
            return _list()
        if args.command == "run":
            return _run(args)
        if args.command == "view":
            return _view(args)
        return _reproduce(args)
    except CommandError as error:
        if show_traceback and error.__cause__ is not None:
            traceback.print_exception(error.__cause__)
        print(f"gantheory: error: {error}", file=sys.stderr)
        return error.status
    except KeyboardInterrupt:
        print("gantheory: interrupted", file=sys.stderr)
        return 130
    except Exception as error:
        if show_traceback:
            raise
        print(f"gantheory: error: {_one_line(error)}", file=sys.stderr)
        return 1


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text}"


# -- the registry ---------------------------------------------------------------------------------


def _registry() -> dict[str, str]:
    import studies

    return studies.STUDIES


def _load(name: str) -> types.ModuleType:
    """Import the study module registered as ``name``, checking the study contract."""
    registry = _registry()
    if name not in registry:
        raise CommandError(f"unknown study {name!r}; choose from {', '.join(sorted(registry))}")
    module_name = registry[name]
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as error:
        if error.name == module_name:
            raise CommandError(
                f"study {name!r} is not available (module {module_name} is missing)"
            ) from error
        raise CommandError(f"study {name!r} cannot be imported: {_one_line(error)}") from error
    except Exception as error:
        raise CommandError(f"study {name!r} cannot be imported: {_one_line(error)}") from error
    for attribute in ("SUMMARY", "Config", "QUICK", "run"):
        if not hasattr(module, attribute):
            raise CommandError(f"study {name!r} ({module_name}) does not define {attribute}")
    if not dataclasses.is_dataclass(module.Config):
        raise CommandError(f"study {name!r}: Config must be a dataclass")
    return module


def _list() -> int:
    registry = _registry()
    width = max(map(len, registry), default=0)
    for name in sorted(registry):
        try:
            summary = " ".join(str(_load(name).SUMMARY).split())
        except CommandError as error:
            summary = f"(unavailable: {error})"
        print(f"{name.ljust(width)}  {summary}")
    return 0


# -- configuration --------------------------------------------------------------------------------


def _config(module: types.ModuleType, name: str, *, quick: bool, overrides: Sequence[str]) -> Any:
    """The study's Config with --quick and then each ``--set FIELD=VALUE`` applied, type-checked."""
    config_type = module.Config
    fields = {f.name: f for f in dataclasses.fields(config_type) if f.init}
    hints = typing.get_type_hints(config_type)
    changes: dict[str, Any] = {}
    if quick:
        for key, value in dict(module.QUICK).items():
            if key not in fields:
                raise CommandError(f"study {name!r}: QUICK sets unknown Config field {key!r}")
            changes[key] = value
    for item in overrides:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key:
            raise CommandError(f"--set expects FIELD=VALUE, got {item!r}")
        if key not in fields:
            raise CommandError(
                f"--set: study {name!r} has no Config field {key!r}; fields: {', '.join(fields)}"
            )
        try:
            changes[key] = _parse_value(text.strip(), hints.get(key, str))
        except ValueError as error:
            raise CommandError(f"--set {key}: {error}") from error
    try:
        return config_type(**changes)
    except (TypeError, ValueError) as error:
        raise CommandError(f"study {name!r}: bad configuration: {_one_line(error)}") from error


_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


def _parse_value(text: str, annotation: Any) -> Any:
    """Convert ``text`` to a value of type ``annotation`` (bool, int, float, str, Literal, unions,
    tuple/list of those, None); raise ValueError with what was expected."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation is Any:
        return _literal(text, fallback=text)
    if origin is typing.Literal:
        for option in args:
            if text == str(option):
                return option
        raise ValueError(f"expected one of {', '.join(map(repr, args))}, got {text!r}")
    if origin in (typing.Union, types.UnionType):
        if type(None) in args and text.lower() in {"none", "null"}:
            return None
        problems = []
        for option in (a for a in args if a is not type(None)):
            try:
                return _parse_value(text, option)
            except ValueError as error:
                problems.append(str(error))
        raise ValueError("; ".join(problems))
    if origin in (tuple, list):
        items = _literal(text, fallback=None)
        if items is None or isinstance(items, (str, int, float)):
            items = [part.strip() for part in text.strip("()[] ").split(",") if part.strip()]
        if not isinstance(items, (list, tuple)):
            raise ValueError(f"expected a sequence like 1,2,3, got {text!r}")
        if origin is tuple and not (len(args) == 2 and args[1] is Ellipsis) and args:
            if len(items) != len(args):
                raise ValueError(f"expected {len(args)} values, got {len(items)}")
            element_types = list(args)
        else:
            element_types = [args[0] if args else Any] * len(items)
        values = [_parse_value(str(item), t) for item, t in zip(items, element_types)]
        return tuple(values) if origin is tuple else values
    if annotation is bool:
        if text.lower() in _TRUE:
            return True
        if text.lower() in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if annotation is int:
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"expected an integer, got {text!r}") from None
    if annotation is float:
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"expected a number, got {text!r}") from None
    if annotation is str:
        return text
    raise ValueError(f"cannot set a field of type {annotation!r} from the command line")


def _literal(text: str, *, fallback: Any) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return fallback


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number >= 0, got {value}")
    return value


def _device(text: str) -> str:
    """Resolve ``auto`` and check that the requested device exists."""
    import torch

    if text == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if text == "cpu":
        return text
    if re.fullmatch(r"cuda(:\d+)?", text):
        if not torch.cuda.is_available():
            raise CommandError(
                f"--device {text}: CUDA is not available on this machine (try --device cpu)"
            )
        index = int(text.split(":")[1]) if ":" in text else 0
        if index >= torch.cuda.device_count():
            raise CommandError(f"--device {text}: only {torch.cuda.device_count()} CUDA device(s)")
        return text
    raise CommandError(f"--device must be auto, cpu, cuda or cuda:N, got {text!r}")


# -- output directories ---------------------------------------------------------------------------


def _writable(path: Path) -> None:
    """Fail early, with one line, when ``path`` cannot be created or replaced."""
    ancestor = path.absolute()
    while not ancestor.exists():
        ancestor = ancestor.parent
    if path.exists() and not path.is_dir():
        raise CommandError(f"cannot write to {path}: it exists and is not a directory")
    if not ancestor.is_dir():
        raise CommandError(f"cannot write to {path}: {ancestor} is not a directory")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise CommandError(f"cannot write to {path}: permission denied on {ancestor}")


def _replaceable(path: Path) -> None:
    """Only an empty directory or one written by this command may be replaced wholesale."""
    _writable(path)
    if path.is_dir() and any(path.iterdir()) and not (path / MARKER).exists():
        raise CommandError(
            f"{path} exists, is not empty and was not written by gantheory; "
            "choose another --out or remove it"
        )


def _run_study(
    name: str, module: types.ModuleType, config: Any, out: Path, options: dict[str, Any]
) -> dict[str, Any]:
    """Call the study's ``run`` into the empty directory ``out``; write ``run.json``; return it."""
    import torch

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(options["threads"])
    try:
        report = module.run(
            config,
            out,
            device=options["device"],
            seed=options["seed"],
            progress=options["progress"],
        )
    except Exception as error:
        raise CommandError(f"study {name!r} failed: {_one_line(error)}") from error
    finally:
        torch.set_num_threads(threads)
    elapsed = time.perf_counter() - start
    if not hasattr(report, "to_dict"):
        raise CommandError(f"study {name!r} returned {type(report).__name__}, not a studies.Report")
    missing = [f for f in [*report.figures, *getattr(report, "views", [])] if not (out / f).is_file()]
    if missing:
        raise CommandError(
            f"study {name!r} reported files it did not write: {', '.join(missing)}"
        )
    record = {
        "study": name,
        "module": module.__name__,
        "summary": " ".join(str(module.SUMMARY).split()),
        "options": {
            "quick": options["quick"],
            "device": options["device"],
            "seed": options["seed"],
            "config": to_jsonable(dataclasses.asdict(config)),
        },
        "seconds": elapsed,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "gantheory": _version(),
        "report": to_jsonable(report),
    }
    write_json(out / RUN_FILE, record)
    write_text(out / MARKER, "written by the gantheory command\n")
    return record


def _version() -> str:
    """The package version and a fingerprint of the code that ran (gantheory/ and studies/ sources),
    so that a resumed ``reproduce`` never reuses a study computed by other code."""
    import hashlib
    from importlib.metadata import PackageNotFoundError, version

    import studies

    try:
        number = version("gantheory")
    except PackageNotFoundError:
        number = "unknown"
    digest = hashlib.sha1()
    for package in (Path(__file__).parent, Path(studies.__file__).parent):
        for source in sorted(package.glob("*.py")):
            digest.update(source.name.encode() + source.read_bytes())
    return f"{number}+{digest.hexdigest()[:12]}"


def _status(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _run(args: argparse.Namespace) -> int:
    module = _load(args.study)
    config = _config(module, args.study, quick=args.quick, overrides=args.overrides)
    options = {
        "quick": args.quick,
        "device": _device(args.device),
        "seed": args.seed,
        "progress": not args.no_progress,
        "threads": args.threads,
    }
    target = Path(args.out) / args.study
    _replaceable(target)
    _status(
        f"gantheory: running {args.study}{' (quick)' if args.quick else ''} on {options['device']}"
    )
    record = atomic_directory(
        target, lambda tmp: _run_study(args.study, module, config, tmp, options)
    )
    print(f"{args.study}: {record['seconds']:.1f} s -> {target}")
    return 0


def _view(args: argparse.Namespace) -> int:
    from gantheory.view import write_view

    try:
        path = write_view(args.run_dir)
    except ValueError as error:
        raise CommandError(str(error)) from error
    print(f"view: {path} ({path.stat().st_size / 1e6:.2f} MB)")
    return 0


def _reproduce(args: argparse.Namespace) -> int:
    out = Path(args.out).absolute()
    _replaceable(out)
    names = sorted(_registry())
    modules = {name: _load(name) for name in names}
    configs = {name: _config(modules[name], name, quick=args.quick, overrides=()) for name in names}
    device = _device(args.device)
    staging = out.parent / f".{out.name}.staging"
    if args.fresh and staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True, exist_ok=True)
    options = {"quick": args.quick, "device": device, "seed": args.seed}
    options["progress"] = not args.no_progress
    options["threads"] = args.threads
    records = []
    for i, name in enumerate(names, 1):
        staged = _staged(staging / name, options, configs[name])
        if staged is not None:
            _status(f"gantheory: [{i}/{len(names)}] {name}: reusing the staged run")
            records.append(staged)
            continue
        _status(
            f"gantheory: [{i}/{len(names)}] {name}{' (quick)' if args.quick else ''} on {device}"
        )
        record = atomic_directory(
            staging / name, lambda tmp, n=name: _run_study(n, modules[n], configs[n], tmp, options)
        )
        _status(f"gantheory: [{i}/{len(names)}] {name}: {record['seconds']:.1f} s")
        records.append(record)
    markdown = index_markdown(records, quick=args.quick, device=device, seed=args.seed)
    write_text(staging / "index.md", markdown)
    write_text(
        staging / "index.html", index_html(records, quick=args.quick, device=device, seed=args.seed)
    )
    write_text(staging / MARKER, "written by the gantheory command\n")
    swap_directory(staging, out)
    print(f"reproduced {len(records)} studies -> {Path(args.out) / 'index.html'}")
    return 0


def _staged(path: Path, options: dict[str, Any], config: Any) -> dict[str, Any] | None:
    """The record of a study staged by an interrupted ``reproduce`` with these options, or None."""
    try:
        record = json.loads((path / RUN_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    wanted = {
        "quick": options["quick"],
        "device": options["device"],
        "seed": options["seed"],
        "config": to_jsonable(dataclasses.asdict(config)),
    }
    same = record.get("options") == wanted and record.get("gantheory") == _version()
    return record if same else None


# -- the index ------------------------------------------------------------------------------------


def index_markdown(
    records: Sequence[dict[str, Any]], *, quick: bool, device: str, seed: int
) -> str:
    """The Markdown index of a ``reproduce`` run: per study its figures, tables, published numbers
    and notes (image paths relative to the output directory)."""
    mode = "quick settings (`--quick`)" if quick else "full settings"
    lines = [
        "# gantheory: reproduced results",
        "",
        f"Written by `gantheory reproduce` with {mode}, device `{device}`, seed {seed}, "
        f"gantheory {_version()}, on {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC.",
        "",
    ]
    for record in records:
        report = record["report"]
        lines.append(f"- [{report['title']}](#{_anchor(record['study'])}): {record['summary']}")
    for record in records:
        name, report = record["study"], record["report"]
        lines += ["", f'<a id="{_anchor(name)}"></a>', "", f"## {report['title']}", ""]
        lines += [
            f"`gantheory run {name}` · {record['seconds']:.1f} s · "
            f"numbers: [{name}/{report['numbers']}]({name}/{report['numbers']})",
            "",
        ]
        for figure in report["figures"]:
            lines += [f"![{name}: {figure}]({name}/{figure})", ""]
        for view in report.get("views", []):
            if view.endswith(".gif"):
                lines += [f"![{name}: {view} (animation)]({name}/{view})", ""]
            else:
                lines += [f"Interactive view of the training: [{name}/{view}]({name}/{view})", ""]
        for table in report["tables"]:
            lines += [table.strip(), ""]
        if report["published"].strip():
            lines += ["### Published numbers", "", report["published"].strip(), ""]
        if report["notes"].strip():
            lines += ["### Notes", "", report["notes"].strip(), ""]
    return "\n".join(lines).rstrip() + "\n"


def _anchor(name: str) -> str:
    return re.sub(r"[^a-z0-9-]+", "-", name.lower())


def index_html(records: Sequence[dict[str, Any]], *, quick: bool, device: str, seed: int) -> str:
    """:func:`index_markdown` as a self-contained HTML page."""
    body = markdown_to_html(index_markdown(records, quick=quick, device=device, seed=seed))
    return (
        '<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        "<title>gantheory: reproduced results</title>\n<style>\n"
        "body{font-family:system-ui,sans-serif;max-width:64rem;margin:2rem auto;padding:0 1rem;"
        "line-height:1.5;color:#222}\nimg{max-width:100%;border:1px solid #ddd}\n"
        "table{border-collapse:collapse;margin:1rem 0;font-size:.9rem}\n"
        "th,td{border:1px solid #ccc;padding:.25rem .5rem;text-align:right}\n"
        "th:first-child,td:first-child{text-align:left}\ncode{background:#f4f4f4;padding:0 .2rem}\n"
        "h2{border-top:1px solid #ccc;padding-top:1rem;margin-top:2.5rem}\n"
        "</style>\n</head>\n<body>\n" + body + "</body>\n</html>\n"
    )


def markdown_to_html(text: str) -> str:
    """The small Markdown subset the reports use, as HTML: headings, paragraphs, bullet and
    numbered lists, pipe tables, images, links, ``code``, **bold** and *italics*; raw
    ``<a id=...></a>`` anchors pass through, everything else is escaped.

    >>> markdown_to_html("| a | b |\\n|---|---|\\n| 1 | *x* |")
    '<table>\\n<tr><th>a</th><th>b</th></tr>\\n<tr><td>1</td><td><em>x</em></td></tr>\\n</table>\\n'
    """
    out: list[str] = []
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        stripped = line.strip()
        if not stripped:
            i += 1
        elif re.fullmatch(r'<a id="[\w-]+"></a>', stripped):
            out.append(stripped + "\n")
            i += 1
        elif heading := re.match(r"(#{1,6})\s+(.*)", stripped):
            level = len(heading.group(1))
            out.append(f"<h{level}>{_inline(heading.group(2))}</h{level}>\n")
            i += 1
        elif stripped.startswith("|"):
            rows = []
            while i < len(lines) and lines[i].strip().startswith("|"):
                rows.append(lines[i].strip())
                i += 1
            out.append(_table(rows))
        elif re.match(r"([-*]|\d+\.)\s+", stripped):
            ordered = bool(re.match(r"\d+\.", stripped))
            tag = "ol" if ordered else "ul"
            items: list[str] = []
            while i < len(lines) and lines[i].strip():
                item = re.match(r"\s*([-*]|\d+\.)\s+(.*)", lines[i])
                if item:
                    items.append(item.group(2))
                elif items:
                    items[-1] += " " + lines[i].strip()
                i += 1
            out.append(
                f"<{tag}>\n" + "".join(f"<li>{_inline(x)}</li>\n" for x in items) + f"</{tag}>\n"
            )
        else:
            # a paragraph: this line, whatever it is, then lines until a blank one or another block
            paragraph = [stripped]
            i += 1
            while (
                i < len(lines)
                and lines[i].strip()
                and not re.match(r"\s*(#{1,6}\s|\||[-*]\s|\d+\.\s|<a id=)", lines[i])
            ):
                paragraph.append(lines[i].strip())
                i += 1
            out.append(f"<p>{_inline(' '.join(paragraph))}</p>\n")
    return "".join(out)


def _cells(row: str) -> list[str]:
    return [cell.strip() for cell in row.strip().strip("|").split("|")]


def _table(rows: list[str]) -> str:
    is_rule = [bool(re.fullmatch(r"\|?[\s:|-]+\|?", row)) and "-" in row for row in rows]
    html_rows = []
    header = len(rows) > 1 and is_rule[1]
    for k, row in enumerate(rows):
        if is_rule[k]:
            continue
        tag = "th" if header and k == 0 else "td"
        html_rows.append(
            "<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in _cells(row)) + "</tr>\n"
        )
    return "<table>\n" + "".join(html_rows) + "</table>\n"


def _inline(text: str) -> str:
    """Escape ``text`` and render images, links, code, bold and italics."""
    codes: list[str] = []

    def keep_code(match: re.Match[str]) -> str:
        codes.append(f"<code>{html.escape(match.group(1))}</code>")
        return f"\x00{len(codes) - 1}\x00"

    text = re.sub(r"`([^`]+)`", keep_code, text)
    text = html.escape(text, quote=True)
    text = re.sub(
        r"!\[([^\]]*)\]\(([^)\s]+)\)",
        lambda m: f'<img src="{m.group(2)}" alt="{m.group(1)}">',
        text,
    )
    text = re.sub(
        r"\[([^\]]+)\]\(([^)\s]+)\)", lambda m: f'<a href="{m.group(2)}">{m.group(1)}</a>', text
    )
    text = re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)
    text = re.sub(r"(?<![\w*])\*([^*\s][^*]*)\*(?![\w*])", r"<em>\1</em>", text)
    return re.sub(r"\x00(\d+)\x00", lambda m: codes[int(m.group(1))], text)


if __name__ == "__main__":
    sys.exit(main())
