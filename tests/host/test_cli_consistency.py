"""The command line as a whole: one spelling per meaning (INPUT, --ids, --signal, --board,
--port), help on every option and examples at the end of every --help, the old spellings
as deprecated aliases, one monotonic progress bar per job (tqdm), shell completion
(argcomplete), and finding the board's serial port."""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from dunelog.cli import _common, build_parser, main
from dunelog.tech import board as board_mod
from dunelog.tech.board import BoardError, board_ports, find_port

ROOT = Path(__file__).resolve().parents[2]
DRIVE = str(ROOT / "tests" / "vectors" / "drive")
RECCE = str(ROOT / "dbc" / "recce.dbc")

#: the commands that read a dump, and (if they read other logs too) say so
DUMP_COMMANDS = ("info", "decode", "convert", "track", "replay", "report", "plot")


def _parsers() -> dict[str, argparse.ArgumentParser]:
    """Every (sub)command's parser by its command line, e.g. 'config check'."""
    out = {}

    def walk(p: argparse.ArgumentParser, name: str) -> None:
        for a in p._actions:
            if isinstance(a, argparse._SubParsersAction):
                for n, q in a.choices.items():
                    out[f"{name} {n}".strip()] = q
                    walk(q, f"{name} {n}")
    walk(build_parser(), "")
    return out


def test_every_option_has_help_and_every_command_examples() -> None:
    parsers = _parsers()
    assert {"info", "decode", "deploy", "config check", "pull", "completion"} <= set(parsers)
    for name, p in parsers.items():
        for a in p._actions:
            if isinstance(a, (argparse._HelpAction, argparse._SubParsersAction)):
                continue
            assert a.help, f"dunelog {name}: {a.option_strings or a.dest} has no help"
        assert p.epilog and p.epilog.startswith("examples:"), f"dunelog {name}: no examples"
        lines = [ln for ln in p.epilog.splitlines()[1:] if ln.startswith("  ") and
                 not ln.startswith("    ")]
        assert 2 <= len(lines) <= 3, f"dunelog {name}: {len(lines)} examples"
        assert all("dunelog" in ln for ln in lines)
        assert isinstance(p.formatter_class, type) and \
            issubclass(p.formatter_class, argparse.RawDescriptionHelpFormatter)


def test_examples_parse() -> None:
    """Every example in every --help is a valid command line (continuation lines joined)."""
    import shlex
    parser = build_parser()
    for name, p in _parsers().items():
        if name in ("completion", "hil"):          # shell around it; hil needs a checkout
            continue
        text = p.epilog.split("\n", 1)[1].replace("\\\n", " ")
        for ln in text.splitlines():
            argv = shlex.split(ln.split(">")[0])
            assert argv[0] == "dunelog", ln
            parser.parse_args(argv[1:])             # SystemExit on a bad example


def test_one_input_argument() -> None:
    parsers = _parsers()
    for name in DUMP_COMMANDS + ("ingest",):
        pos = [a for a in parsers[name]._actions if not a.option_strings
               and not isinstance(a, argparse._HelpAction)]
        assert [(a.dest, a.metavar) for a in pos] == [("input", "INPUT")], name
    helps = {parsers[n]._actions[1].help for n in DUMP_COMMANDS}
    assert helps == {_common.INPUT_HELP, _common.LOG_INPUT_HELP}


def test_port_is_a_device_and_board_a_type() -> None:
    parsers = _parsers()
    for name in ("deploy", "status", "pull", "config check", "config diff", "config push",
                 "config pull", "hil"):
        (port,) = [a for a in parsers[name]._actions if "--port" in a.option_strings]
        assert not port.required, name
    (board,) = [a for a in parsers["deploy"]._actions if "--board" in a.option_strings]
    assert board.choices == ["esp32", "stm32", "unix"]


def test_deprecated_spellings_warn_and_work(capsys) -> None:
    p = build_parser()
    a = p.parse_args(["config", "check", "c.json", "--board", "/dev/ttyACM3"])
    assert a.port == "/dev/ttyACM3"
    assert capsys.readouterr().err == \
        "dunelog: warning: --board is deprecated, use --port\n"
    a = p.parse_args(["decode", "x.dlg", "--dbc", "d.dbc", "-o", "o.csv",
                      "--signals", "A", "B,C", "--signal", "D"])
    assert a.signal == ["A", "B,C", "D"]
    assert "--signals is deprecated, use --signal" in capsys.readouterr().err
    a = p.parse_args(["hil", "run", "--board", "/dev/ttyACM0"])
    assert a.port == "/dev/ttyACM0"
    for name, q in _parsers().items():               # hidden from --help
        assert "--signals" not in q.format_help() and "deprecated" not in q.format_help()


def _rows(path: Path) -> list[tuple[str, str, str]]:
    with open(path, newline="") as f:
        return [(r["timestamp"], r["signal"], r["value"]) for r in csv.DictReader(f)]


def test_decode_ids_are_ranges_and_messages_names(tmp_path, capsys) -> None:
    new, old = tmp_path / "new.csv", tmp_path / "old.csv"
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(new), "--ids", "0x2F0",
                 "--messages", "WheelSpeeds", "--signal", "TerrainMode,WheelSpeedFL"]) == 0
    assert "deprecated" not in capsys.readouterr().err
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(old), "--ids", "0x2F0,WheelSpeeds",
                 "--signals", "TerrainMode", "WheelSpeedFL"]) == 0
    err = capsys.readouterr().err
    assert "a message name in --ids (WheelSpeeds) is deprecated, use --messages" in err
    assert _rows(new) == _rows(old) and _rows(new)
    rng = tmp_path / "rng.csv"                       # a range: every message inside it
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(rng), "--ids", "0x0-0x1FFFFFFF"]) == 0
    whole = tmp_path / "all.csv"
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(whole)]) == 0
    assert os.path.getsize(rng) == os.path.getsize(whole)
    assert main(["decode", DRIVE, "--dbc", RECCE, "-o", str(tmp_path / "n.csv"),
                 "--ids", "0x7F0-0x7FF"]) == 2
    assert "matches --ids/--messages/--signal" in capsys.readouterr().err


def test_replay_ids_take_lists_like_decode() -> None:
    a = build_parser().parse_args(["replay", "x.blf", "--ids", "0x100-0x10F", "0x200",
                                   "--ids", "0x300", "--exclude-ids", "0x105"])
    assert a.ids == ["0x100-0x10F", "0x200", "0x300"] and a.exclude_ids == ["0x105"]


# ---------------------------------------------------------------------------- progress
class _Recorder:
    """Wraps ByteProgress to record the bar after each call."""

    def __init__(self, monkeypatch) -> None:
        self.seen: list[tuple[float, float | None]] = []
        self.bars: list[_common.ByteProgress] = []
        orig_call, orig_init = _common.ByteProgress.__call__, _common.ByteProgress.__init__
        rec = self

        def init(self, *a, **kw):
            kw["file"] = io.StringIO()
            orig_init(self, *a, **kw)
            rec.bars.append(self)

        def call(self, done, total):
            orig_call(self, done, total)
            rec.seen.append((self.bar.n, self.bar.total))
        monkeypatch.setattr(_common.ByteProgress, "__init__", init)
        monkeypatch.setattr(_common.ByteProgress, "__call__", call)


@pytest.mark.parametrize("argv", [
    ["info"], ["track", "-o", "{tmp}/t.gpx"], ["report", "-o", "{tmp}/r.html"],
    ["convert", "-o", "{tmp}/c.blf"], ["decode", "--dbc", RECCE, "-o", "{tmp}/d.csv"],
    ["plot", "--dbc", RECCE, "--signal", "EngineSpeed", "-o", "{tmp}/p.png"],
])
def test_one_monotonic_bar_over_a_multi_segment_dump(argv, tmp_path, monkeypatch, capsys):
    assert len([f for f in os.listdir(DRIVE) if f.endswith(".dlg")]) > 1
    rec = _Recorder(monkeypatch)
    args = [argv[0], DRIVE] + [a.format(tmp=tmp_path) for a in argv[1:]] + ["--progress"]
    assert main(args) == 0
    assert len(rec.bars) == 1                        # one bar for the whole job
    pos = [n for n, _ in rec.seen]
    assert pos == sorted(pos), "the bar went backwards"
    assert len(rec.seen) > 5
    n, total = rec.seen[-1]
    assert total and n == total                      # ends full, over the whole dump
    assert rec.bars[0].bar.unit == "B"


def test_bar_with_passes_never_goes_back() -> None:
    bar = _common.ByteProgress("x", passes=2, file=io.StringIO())
    seen = []
    for done in (10, 50, 100, 20, 60, 100, 30):      # two passes, then a stray third
        bar(done, 100)
        seen.append(bar.bar.n)
    assert seen == [10, 50, 100, 120, 160, 200, 200]
    bar.close()


def test_progress_only_on_a_terminal_never_with_json(monkeypatch, capsys) -> None:
    monkeypatch.setattr(_common.sys.stderr, "isatty", lambda: True, raising=False)
    ns = argparse.Namespace
    assert _common.want_progress(ns(progress=None, json=False))
    assert not _common.want_progress(ns(progress=None, json=True))
    assert not _common.want_progress(ns(progress=False, json=False))
    assert _common.want_progress(ns(progress=True, json=True))
    monkeypatch.setattr(_common.sys.stderr, "isatty", lambda: False, raising=False)
    assert not _common.want_progress(ns(progress=None, json=False))
    assert main(["info", DRIVE, "--json"]) == 0
    out, err = capsys.readouterr()
    json.loads(out)
    assert err == ""


def test_forced_progress_shows_rate_on_stderr(capsys) -> None:
    assert main(["info", DRIVE, "--progress"]) == 0
    out, err = capsys.readouterr()
    assert "reading" in err and "B/s" in err and "reading" not in out


def test_ingest_progress_reaches_the_end(tmp_path, monkeypatch, capsys) -> None:
    import shutil
    card = tmp_path / "card"
    shutil.copytree(DRIVE, card)
    rec = _Recorder(monkeypatch)
    assert main(["ingest", str(card), "--archive", str(tmp_path / "a"), "--progress",
                 "-v"]) == 0
    (bar,) = rec.bars
    assert bar.bar.n == bar.bar.total == sum(
        os.path.getsize(card / f) for f in os.listdir(card) if f.endswith(".dlg"))
    assert "copy " in bar.file.getvalue()           # -v lines above the bar


# ---------------------------------------------------------------------------- completion
def test_shell_completion(monkeypatch, capsys) -> None:
    argcomplete = pytest.importorskip("argcomplete")

    class Finder(argcomplete.CompletionFinder):
        def _init_debug_stream(self) -> None:      # not fd 9: pytest's own there
            argcomplete.io.debug_stream = io.StringIO()

    def complete(line: str) -> list[str]:
        monkeypatch.setenv("_ARGCOMPLETE", "1")
        monkeypatch.setenv("COMP_LINE", line)
        monkeypatch.setenv("COMP_POINT", str(len(line)))
        monkeypatch.setenv("_ARGCOMPLETE_IFS", "\n")
        out = io.StringIO()

        def stop(code: int = 0) -> None:
            raise SystemExit(code)
        with pytest.raises(SystemExit):
            Finder()(build_parser(), exit_method=stop, output_stream=out)
        return [w.strip() for w in out.getvalue().split("\n")]

    assert complete("dunelog dec") == ["decode"]
    assert complete("dunelog decode x.dlg --si") == ["--signal"]     # not the hidden one
    monkeypatch.setattr(board_mod, "list_ports",
                        lambda: [SimpleNamespace(device="/dev/ttyACM7", vid=None, pid=None)])
    assert complete("dunelog status --port ") == ["/dev/ttyACM7"]
    assert main(["completion", "bash"]) == 0
    script = capsys.readouterr().out
    assert "complete " in script and "dunelog" in script
    head = (ROOT / "host" / "dunelog" / "cli" / "__init__.py").read_text()[:1024]
    assert "PYTHON_ARGCOMPLETE_OK" in head


# ---------------------------------------------------------------------------- port discovery
def _port(device: str, vid: int | None = None, pid: int | None = None) -> SimpleNamespace:
    return SimpleNamespace(device=device, vid=vid, pid=pid, description="")


def test_board_ports_by_name_or_micropython_usb_id() -> None:
    ports = [_port("/dev/ttyS0"), _port("/dev/ttyACM0", 0xF055, 0x9800),
             _port("/dev/ttyUSB1", 0x10C4, 0xEA60),        # a CP210x bridge: by name
             _port("/dev/cu.weird", 0x2E8A, 0x0005),       # RP2 MicroPython: by id
             _port("/dev/cu.other", 0x2E8A, 0x000A),       # RP2, not MicroPython
             _port("/dev/ttyAMA0", 0x1234, 1)]
    assert board_ports(lambda: ports) == ["/dev/cu.weird", "/dev/ttyACM0", "/dev/ttyUSB1"]


def test_find_port_none_one_several() -> None:
    assert find_port("/dev/given", lambda: []) == "/dev/given"
    assert find_port(None, lambda: [_port("/dev/ttyS0"), _port("/dev/ttyACM0")]) == \
        "/dev/ttyACM0"
    with pytest.raises(BoardError, match="no board found") as e:
        find_port(None, lambda: [_port("/dev/ttyS0")])
    assert "\n" not in str(e.value)
    with pytest.raises(BoardError) as e:
        find_port(None, lambda: [_port("/dev/ttyUSB0"), _port("/dev/ttyACM0")])
    assert str(e.value) == ("2 possible boards: /dev/ttyACM0, /dev/ttyUSB0; choose one "
                            "with --port")


@pytest.mark.parametrize("argv", [["status", "--once"], ["deploy", "--board", "unix"],
                                  ["config", "pull"], ["config", "diff", "c.json"],
                                  ["config", "check", "c.json", "--engine", "board"],
                                  ["pull", "--archive", "a"]])
def test_commands_find_the_port(argv, tmp_path, monkeypatch, capsys) -> None:
    ports: list[SimpleNamespace] = []
    monkeypatch.setattr(board_mod, "list_ports", lambda: ports)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.json").write_text("{}")
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("dunelog: error: no board found") and err.count("\n") == 1
    ports[:] = [_port("/dev/ttyACM0"), _port("/dev/ttyUSB0")]
    assert main(argv) == 2
    assert capsys.readouterr().err == ("dunelog: error: 2 possible boards: /dev/ttyACM0, "
                                       "/dev/ttyUSB0; choose one with --port\n")
    gone = str(tmp_path / "ttyACM9")                  # the one found: used (not there)
    ports[:] = [_port(gone)]
    main(argv)
    err = capsys.readouterr().err
    assert f"using {gone} (the only board found)" in err
    assert f"port {gone}: no such device" in err


def test_output_suffixes_of_the_help_are_the_registered_writers():
    from dunelog.io import OUTPUT_SUFFIXES, supported_suffixes
    assert list(OUTPUT_SUFFIXES) == supported_suffixes()


def test_each_suffix_loads_the_module_that_registers_it():
    """``SUFFIX_MODULES`` (what a command imports for a suffix) names, for every registered
    reader and writer suffix, the module defining its class."""
    from dunelog.io.base import READERS, SUFFIX_MODULES, WRITERS, load_formats
    load_formats()
    for reg in (READERS, WRITERS):
        for suffix, cls in reg.items():
            assert cls.__module__ == f"dunelog.io.{SUFFIX_MODULES[suffix]}", (suffix, cls)


def test_dumps_convert_to_tables_without_python_can(tmp_path):
    """A dump to Parquet or CSV needs neither python-can nor asammdf, which python-can
    imports (~1 s); BLF does."""
    import subprocess
    import sys
    drive = Path(__file__).resolve().parents[1] / "vectors" / "drive"
    pq_out, csv_out, blf_out = (tmp_path / f"x.{s}" for s in ("parquet", "csv", "blf"))
    code = ("import sys; from dunelog.io import write_frames; "
            f"write_frames({str(pq_out)!r}, {str(drive)!r}); "
            f"write_frames({str(csv_out)!r}, {str(drive)!r}); "
            "print(sorted(m for m in ('can', 'asammdf') if m in sys.modules)); "
            f"write_frames({str(blf_out)!r}, {str(drive)!r}); "
            "print(sorted(m for m in ('can',) if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    assert r.stdout.split("\n")[:2] == ["[]", "['can']"]
    assert csv_out.stat().st_size > 0 and blf_out.stat().st_size > 0


def test_the_command_line_starts_without_python_can():
    """python-can loads asammdf (and sympy) when imported, ~0.6 s: building the parser,
    a dataset decode's imports and `query` must not pay for it."""
    import subprocess
    import sys
    code = ("import sys; import dunelog.cli, dunelog.fleet, dunelog.fleet.task; "
            "dunelog.cli.build_parser(); "
            "print(sorted(m for m in ('can', 'asammdf') if m in sys.modules))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       check=True)
    assert r.stdout.strip() == "[]"
