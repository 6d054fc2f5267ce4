"""What every ``dunelog`` command shares: exit codes, the one-line error, the progress bar,
the arguments every command spells the same way (the input, ``--port``, ``--progress``),
hidden deprecated spellings, the examples at the end of ``--help``, opening a dump."""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
from typing import Any, Callable, Iterator, TextIO

from ..card.dump import Dump, DumpGroup
from ..tech.board import BoardError, board_ports, find_port

__all__ = ["EXIT_OK", "EXIT_UNUSABLE", "EXIT_PROBLEMS", "UnusableInput", "require",
           "require_for", "readable", "load_databases", "check_output", "output_file", "output_dir",
           "open_for_cli", "error", "say",
           "want_progress", "ByteProgress", "progress_bar", "add_input", "add_port",
           "add_progress", "add_deprecated", "deprecated", "add_command", "resolve_port",
           "INPUT_HELP", "LOG_INPUT_HELP", "add_selection", "select_for_cli",
           "has_placeholders", "loggers_found", "outputs_per_group", "refuse_merge",
           "run_per_output"]

EXIT_OK = 0
#: the input (or an option) cannot be used at all
EXIT_UNUSABLE = 2
#: the input was read, with integrity problems (``info``, ``ingest``): see its report
EXIT_PROBLEMS = 3

#: help of the positional INPUT, the same in every command that reads a dump
INPUT_HELP = "dunelog dump: a segment file (.dlg), a directory of them or an SD-dump tree"
#: ... and in the commands that also read any log python-can reads
LOG_INPUT_HELP = INPUT_HELP + ", or a log python-can reads (.blf .asc .trc .log .mf4 ...)"


class UnusableInput(Exception):
    """The input cannot be used at all; :func:`dunelog.cli.main` prints the message as one
    ``dunelog: error:`` line and exits with :data:`EXIT_UNUSABLE`."""


def error(msg: str, code: int = EXIT_UNUSABLE) -> int:
    """Print ``dunelog: error: msg`` on stderr and return ``code`` (for commands that
    return an exit code other than :data:`EXIT_UNUSABLE`)."""
    sys.stderr.write(f"dunelog: error: {msg}\n")
    return code


def say(msg: str) -> None:
    """One line of progress on stderr."""
    sys.stderr.write(msg + "\n")
    sys.stderr.flush()


def deprecated(old: str, new: str) -> None:
    """The one-line warning for a deprecated spelling."""
    sys.stderr.write(f"dunelog: warning: {old} is deprecated, use {new}\n")


# ---------------------------------------------------------------------------- arguments
def add_command(sub: Any, name: str, *, help: str, examples: str,  # noqa: A002
                description: str | None = None) -> argparse.ArgumentParser:
    """A subcommand whose ``--help`` ends with ``examples`` (two or three real command
    lines, kept as written)."""
    p: argparse.ArgumentParser = sub.add_parser(
        name, help=help, description=description or help[:1].upper() + help[1:] + ".",
        epilog="examples:\n" + examples.strip("\n"),
        formatter_class=argparse.RawDescriptionHelpFormatter)
    return p


def add_input(p: argparse.ArgumentParser, *, logs: bool = False,
              help: str | None = None) -> None:  # noqa: A002
    """The positional ``INPUT`` (``args.input``), with the same wording everywhere."""
    p.add_argument("input", metavar="INPUT",
                   help=help or (LOG_INPUT_HELP if logs else INPUT_HELP))


def add_progress(p: argparse.ArgumentParser) -> None:
    """``--progress`` / ``--no-progress`` (``args.progress``: True, False, or None = a bar
    on stderr when it is a terminal)."""
    g = p.add_mutually_exclusive_group()
    g.add_argument("--progress", dest="progress", action="store_true", default=None,
                   help="show a progress bar on stderr even when it is not a terminal")
    g.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (default: a bar when stderr is a terminal and "
                        "the output is not --json)")


def _port_completer(**_: Any) -> list[str]:
    return board_ports()


def add_port(p: argparse.ArgumentParser, help: str | None = None) -> None:  # noqa: A002
    """``--port`` (``args.port``): the board's serial device; found when there is one."""
    a = p.add_argument("--port", metavar="DEVICE", default=None,
                       help=help or "the board's serial device, e.g. /dev/ttyACM0 (default: "
                                    "the only USB serial port that looks like a board)")
    a.completer = _port_completer  # type: ignore[attr-defined]   # for argcomplete


def add_deprecated(p: argparse.ArgumentParser, old: str, new: str, *, dest: str,
                   action: str = "store", **kw: Any) -> None:
    """A hidden old spelling ``old`` of ``new``: stores into ``dest`` like ``action``
    would and prints a one-line deprecation warning when used."""
    base: type[argparse.Action] = p._registry_get("action", action, action)

    class Deprecated(base):  # type: ignore[valid-type,misc]
        def __call__(self, parser: Any, ns: Any, values: Any,
                     option_string: str | None = None) -> None:
            deprecated(option_string or old, new)
            super().__call__(parser, ns, values, option_string)

    p.add_argument(old, dest=dest, action=Deprecated, help=argparse.SUPPRESS, **kw)


def resolve_port(args: argparse.Namespace, *, quiet: bool = False) -> str:
    """``args.port``, or the one board found (said on stderr); :class:`UnusableInput`
    when there is none or several."""
    if args.port:
        return str(args.port)
    try:
        port = find_port(None)
    except BoardError as e:
        raise UnusableInput(str(e)) from None
    if not quiet:
        say(f"using {port} (the only board found)")
    args.port = port
    return port


# ---------------------------------------------------------------------------- progress
def want_progress(args: argparse.Namespace, stream: TextIO | None = None) -> bool:
    """Whether to show a progress bar: ``--progress`` always, ``--no-progress`` never,
    else when stderr is a terminal and the command does not print ``--json``."""
    forced = getattr(args, "progress", None)
    if forced is not None:
        return bool(forced)
    if getattr(args, "json", False):
        return False
    return (stream or sys.stderr).isatty()


class ByteProgress:
    """One tqdm bar (bytes, rate, ETA) over a whole job on stderr, fed by the
    ``progress(bytes_done, bytes_total)`` callbacks of :class:`~dunelog.card.dump.Dump`.

    A job may read the dump more than once (``decode`` scans it for the time base, then
    decodes it): give ``passes`` and the bar runs over ``passes * total`` bytes, a new pass
    starting where the last one ended.  The bar never goes backwards, whatever it is fed.
    """

    def __init__(self, desc: str, *, passes: int = 1, total: int | None = None,
                 unit: str = "B", file: TextIO | None = None, delay: float = 0.3) -> None:
        from tqdm import tqdm
        self.passes = max(1, passes)
        self._pass = 0
        self._last = 0
        self._total = 0
        self.file = file or sys.stderr
        self.bar = tqdm(desc=desc, total=total, unit=unit, unit_scale=True,
                        unit_divisor=1024 if unit == "B" else 1000, file=self.file,
                        leave=False, dynamic_ncols=True, mininterval=0.2,
                        delay=delay)        # no flash for a job done at once

    @property
    def position(self) -> float:
        return float(self.bar.n)

    def __call__(self, done: int, total: int) -> None:
        if total != self._total:
            self._total = total
            self.bar.total = total * self.passes
        if done < self._last and self._pass + 1 < self.passes:
            self._pass += 1                      # the next pass over the dump
        self._last = done
        self.advance_to(self._pass * total + done)

    def advance_to(self, pos: float) -> None:
        """Move the bar to ``pos`` (never back, never past its total)."""
        if self.bar.total is not None:
            pos = min(pos, self.bar.total)
        if pos > self.bar.n:
            self.bar.update(pos - self.bar.n)

    def write(self, msg: str) -> None:
        """One line on the bar's stream, the bar redrawn below it."""
        self.bar.write(msg, file=self.file)

    def close(self) -> None:
        self.bar.close()

    def __enter__(self) -> ByteProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _NoProgress:
    """Stands for the bar when none is shown (``with progress_bar(...) as bar``)."""

    def __bool__(self) -> bool:
        return False

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        pass


def progress_bar(args: argparse.Namespace, desc: str, *, passes: int = 1,
                 ) -> ByteProgress | _NoProgress:
    """A :class:`ByteProgress` if :func:`want_progress`, else a stand-in; use it as
    ``with progress_bar(args, "reading") as bar: ... progress=bar ...`` (bar is None when
    no bar is shown)."""
    if not want_progress(args):
        return _NoProgress()
    forced = getattr(args, "progress", None) is True
    return ByteProgress(desc, passes=passes, delay=0.0 if forced else 0.3)


class TaskProgress(ByteProgress):
    """One bar over an archive's tasks: frames done of the total (rate in frames/s, ETA),
    tasks done of the total beside it; fed ``(tasks_done, tasks_total, frames_done,
    frames_total)``."""

    def __init__(self, desc: str, *, delay: float = 0.3) -> None:
        super().__init__(desc, unit="frames", delay=delay)

    def __call__(self, done: int, total: int, frames: int = 0,
                 frames_total: int = 0) -> None:
        if self.bar.total != frames_total:
            self.bar.total = frames_total
        self.bar.set_postfix_str(f"{done}/{total} files", refresh=False)
        self.advance_to(frames)

    def __enter__(self) -> TaskProgress:
        return self


def tasks_bar(args: argparse.Namespace) -> TaskProgress | _NoProgress:
    """A :class:`TaskProgress` if :func:`want_progress`, else a stand-in (None inside
    ``with``)."""
    if not want_progress(args):
        return _NoProgress()
    forced = getattr(args, "progress", None) is True
    return TaskProgress("decoding", delay=0.0 if forced else 0.3)


# ---------------------------------------------------------------------------- input
def open_for_cli(path: str, *, logger_id: int | None = None,
                 progress: Callable[[int, int], None] | None = None) -> Dump:
    """Open ``path`` as a dump or raise :class:`UnusableInput` with a clear message;
    ``progress(bytes_done, bytes_total)`` is called during its passes."""
    if not os.path.exists(path):
        raise UnusableInput(f"no such file or directory: {path}")
    try:
        dump = Dump(path, logger_id=logger_id, progress=progress)
    except OSError as e:
        raise UnusableInput(f"cannot read {path}: {e}") from None
    if not dump.segments:
        if logger_id is not None:
            every = Dump(path)
            if every.segments:
                ids = ", ".join(str(i) for i in every.loggers) or "none readable"
                raise UnusableInput(f"no segment file of logger {logger_id} in {path} "
                                    f"({len(every.segments)} segment file(s) of logger(s) "
                                    f"{ids})")
        raise UnusableInput(f"no dunelog segment files (*.dlg) found in {path}")
    if all(s.header is None and s.first_seq is None for s in dump.segments):
        # an empty file, a text file named .dlg: nothing to read, not an empty result
        raise UnusableInput(f"no readable dunelog data in {path} ({len(dump.segments)} "
                            "file(s), no valid segment header or block)")
    return dump


def readable(dump: Dump) -> bool:
    """Whether a pass over ``dump`` found anything of a dunelog dump (a valid segment
    header or block): an empty or a text file named ``.dlg`` is not one."""
    return any(s.header is not None or s.n_blocks for s in dump.segments)


# ---------------------------------------------------------------------------- outputs
def require(module: str, what: str, extra: str, package: str | None = None) -> Any:
    """Import ``module`` for ``what`` (e.g. "decode -o x.csv") or raise
    :class:`UnusableInput` with the pip command that installs it."""
    import importlib
    try:
        return importlib.import_module(module)
    except ImportError:
        raise UnusableInput(f"{what} needs {package or module}: pip install "
                            f"'dunelog[{extra}]' (or: pip install {package or module})"
                            ) from None


#: output suffix -> (module, extra, package) the output needs
SUFFIX_NEEDS = {".mf4": ("asammdf", "mf4", "asammdf"), ".parquet": ("pyarrow", "parquet",
                                                                   "pyarrow"),
                ".pq": ("pyarrow", "parquet", "pyarrow"), ".csv": ("pyarrow", "parquet",
                                                                   "pyarrow"),
                ".gpx": ("gpxpy", "gpx", "gpxpy"), ".png": ("matplotlib", "report",
                                                            "matplotlib"),
                ".svg": ("matplotlib", "report", "matplotlib"),
                ".pdf": ("matplotlib", "report", "matplotlib")}


def require_for(command: str, out: str) -> None:
    """:func:`require` what the output ``out`` of ``command`` needs, by its suffix."""
    suffix = os.path.splitext(out)[1].lower()
    need = SUFFIX_NEEDS.get(suffix)
    if need is not None:
        require(need[0], f"{command} -o {os.path.basename(out)}", need[1], need[2])


def load_databases(dbcs: list[tuple[str, int | None]]) -> list[tuple[Any, int | None]]:
    """The compiled databases of ``--dbc FILE [--channel N]`` pairs; :class:`UnusableInput`
    naming the file that is missing or does not parse."""
    from ..decode.compiled import load_compiled
    out = []
    for path, ch in dbcs:
        if not os.path.isfile(path):
            raise UnusableInput(f"no such database file: {path}")
        try:
            out.append((load_compiled(path), ch))
        except Exception as e:  # noqa: BLE001 - cantools raises anything on a bad file
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise UnusableInput(f"cannot load database {path}: {first}") from None
    return out


def check_output(path: str) -> None:
    """:class:`UnusableInput` unless ``path``'s directory exists (a typo in it must not
    create directories) and ``path`` is not a directory."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UnusableInput(f"{path}: no such directory {d}" if not os.path.exists(d)
                            else f"{path}: {d} is not a directory")
    if os.path.isdir(path):
        raise UnusableInput(f"{path} is a directory, not a file")


@contextlib.contextmanager
def output_file(path: str) -> Iterator[str]:
    """Write an output whole or not at all: yields a temporary name beside ``path`` (same
    suffix, so formats chosen by suffix still work), renamed to ``path`` when the block
    ends normally, removed otherwise; an existing ``path`` is never removed or truncated
    by a failed run."""
    check_output(path)
    d, name = os.path.split(os.path.abspath(path))
    stem, suffix = os.path.splitext(name)
    tmp = os.path.join(d, f".{stem}.tmp-{os.getpid()}{suffix}")
    try:
        yield tmp
        if os.path.exists(tmp):
            os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp):
            import shutil
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.exists(tmp):
            os.remove(tmp)


@contextlib.contextmanager
def output_dir(path: str) -> Iterator[str]:
    """:func:`output_file` for an output that is a directory of files (``decode -o
    x.parquet``, wide): written into a temporary directory, whose files then replace those
    of the same names in ``path`` (created; other files in it are left alone)."""
    d = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(d):
        raise UnusableInput(f"{path}: no such directory {d}")
    if os.path.exists(path) and not os.path.isdir(path):
        raise UnusableInput(f"{path} exists and is not a directory")
    import shutil
    import tempfile
    # the same suffix: the writers choose their format by it
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.tmp-", dir=d,
                           suffix=os.path.splitext(path)[1])
    try:
        yield tmp
        os.makedirs(path, exist_ok=True)
        for name in sorted(os.listdir(tmp)):
            os.replace(os.path.join(tmp, name), os.path.join(path, name))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


# ---------------------------------------------------------------------------- loggers
#: the output-name placeholders: one output per logger / vehicle / UTC day
_PLACEHOLDER = re.compile(r"\{(logger|vehicle|date)\}")


def add_selection(p: argparse.ArgumentParser, *, logger_help: str | None = None) -> None:
    """``--logger ID`` and ``--vehicle NAME`` (``args.logger``, ``args.vehicle``): read
    only the boots of one logger / one vehicle."""
    p.add_argument("--logger", type=int, default=None, metavar="ID",
                   help=logger_help or "only the segments of this logger id")
    p.add_argument("--vehicle", default=None, metavar="NAME",
                   help="only the boots of this vehicle (the name in the session-start "
                        "record, or as in the archive's directory: T1-204 for 'T1 #204')")


def has_placeholders(path: str) -> bool:
    """Whether ``path`` holds ``{logger}``, ``{vehicle}`` or ``{date}``."""
    return bool(_PLACEHOLDER.search(path))


def loggers_found(dump: Dump) -> str:
    """``7 (RECCE-07), 9 (Hilux 309)``: the loggers of ``dump`` and their vehicles."""
    return ", ".join(f"{lg} ({', '.join(v or '?' for v in names)})"
                     for lg, names in sorted(dump.vehicles().items()))


def select_for_cli(dump: Dump, args: argparse.Namespace, input_name: str) -> Dump:
    """``dump`` narrowed to ``args.vehicle`` (``--logger`` already chose the segments);
    :class:`UnusableInput` naming what the input holds when nothing is left."""
    vehicle = getattr(args, "vehicle", None)
    if vehicle is None:
        return dump
    sub = dump.select(vehicle=vehicle)
    if not sub.segments:
        raise UnusableInput(f"no vehicle {vehicle!r} in {input_name} (loggers found: "
                            f"{loggers_found(dump) or 'none'})")
    return sub


def refuse_merge(dump: Dump, input_name: str, example: str, *, command: str = "") -> None:
    """:class:`UnusableInput` when ``dump`` holds more than one logger: one line naming
    them and the two ways out (a selection, or one output per logger with a pattern, in
    ``command`` when it is another command's)."""
    if len(dump.loggers) > 1:
        raise UnusableInput(
            f"{input_name} holds {len(dump.loggers)} loggers: {loggers_found(dump)}; "
            f"not merged: choose one with --logger ID or --vehicle NAME, or write one output "
            f"per vehicle with a name pattern, e.g. {command}-o '{example}'")


def outputs_per_group(dump: Dump, pattern: str) -> list[tuple[DumpGroup, str]]:
    """One ``(group, output path)`` per logger and vehicle of ``dump`` (and per UTC day
    when ``pattern`` has ``{date}``), the placeholders filled in; :class:`UnusableInput`
    when two groups would get the same file."""
    groups = dump.groups(by_date="{date}" in pattern)
    out: list[tuple[DumpGroup, str]] = []
    seen: dict[str, DumpGroup] = {}
    for g in groups:
        f = g.fields()
        path = _PLACEHOLDER.sub(lambda m: f[m.group(1)], pattern)
        other = seen.get(path)
        if other is not None:
            raise UnusableInput(
                f"{pattern}: {_group_name(other)} and {_group_name(g)} would both write "
                f"{path}; add {{logger}}, {{vehicle}} or {{date}} to the name")
        seen[path] = g
        out.append((g, path))
    return out


def run_per_output(args: argparse.Namespace, one: Callable[[argparse.Namespace, Dump, str], int],
                   example: str) -> int:
    """Open ``args.input`` (``--logger``/``--vehicle`` applied) and run ``one(args, dump,
    output)`` once; or, when ``args.output`` has placeholders, once per logger and vehicle
    (and UTC day with ``{date}``); a dump of several loggers without either is refused
    (:func:`refuse_merge`, ``example`` the pattern it suggests)."""
    dump = select_for_cli(open_for_cli(args.input, logger_id=args.logger), args, args.input)
    if has_placeholders(args.output):
        for group, path in outputs_per_group(dump, args.output):
            if os.path.dirname(path):
                os.makedirs(os.path.dirname(path), exist_ok=True)
            one(args, group.dump, path)
        return EXIT_OK
    refuse_merge(dump, args.input, example)
    return one(args, dump, args.output)


def _group_name(g: DumpGroup) -> str:
    return f"logger {g.logger_id} ({g.vehicle or '?'}{', ' + g.date if g.date else ''})"
