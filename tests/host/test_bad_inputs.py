"""Every bad input a clear line, nothing lost (issue 15, part 3).

A matrix of every command that reads logs x {missing path, empty file, text file, truncated
segment, unknown output suffix, unparsable DBC, missing optional dependency, unusable
output directory, an existing output file}: the exit status of the table in README
("Exit status"), one line on stderr naming the culprit, no traceback, and an output file
that was there before a failed run is still there, byte for byte.  Each case runs the real
``dunelog`` in a subprocess; a missing dependency is made missing for that process only
(``sys.modules[name] = None`` makes its import fail, as when it is not installed)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dlgen
import pytest

from dunelog.card import format as F

ROOT = Path(__file__).resolve().parents[2]
DBC = str(ROOT / "dbc" / "recce.dbc")
OK, UNUSABLE, PROBLEMS = 0, 2, 3

#: command -> (its arguments after INPUT, with {out} for the output; output suffix)
COMMANDS = {
    "info": ([], None),
    "decode": (["--dbc", DBC, "-o", "{out}"], ".csv"),
    "convert": (["-o", "{out}"], ".blf"),
    "track": (["-o", "{out}"], ".gpx"),
    "report": (["-o", "{out}"], ".html"),
    "plot": (["--dbc", DBC, "--signal", "EngineSpeed", "-o", "{out}"], ".png"),
    "replay": (["--interface", "virtual", "--channel", "bad-inputs", "--speed", "1000"], None),
}
#: what each output needs beyond the core (README "Install")
NEEDS = {"decode": "pyarrow", "convert": "asammdf", "track": "gpxpy", "plot": "matplotlib"}


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("bad")
    timed = [(0, F.rec_session(0, firmware="1.0", vehicle="RECCE-07", logger_id=7)),
             (10, F.rec_timesync(0, utc_days=20420, utc_ms=36_000_000))]
    for k in range(400):
        timed.append((1000 * (k + 1), F.rec_can(0, 0x0C0, bytes(8))))
        if k % 10 == 0:
            timed.append((1000 * (k + 1) + 1, F.rec_gnss(0, lat=230000000, lon=50000000,
                                                          utc_days=20420,
                                                          utc_ms=36_000_000 + k)))
    seg = dlgen.make_segment(timed=timed, logger_id=7, boot=1, block_size=512)
    good = dlgen.write(d / "good" / "B00001_S0000.dlg", seg.data)
    cut = dlgen.write(d / "cut" / "B00001_S0000.dlg",
                      seg.data[:seg.block_offset(len(seg.blocks) - 2) + 300])
    empty = d / "empty.dlg"
    empty.write_bytes(b"")
    text = d / "notes.txt"
    text.write_text("meeting notes, not a log\n")
    bad_dbc = d / "bad.dbc"
    bad_dbc.write_text("this is not a DBC file\n")
    return {"good": good.parent, "cut": cut.parent, "empty": empty, "text": text,
            "missing": d / "no" / "such" / "card", "bad_dbc": bad_dbc, "dir": d}


def dunelog(*argv: str, block: str | None = None) -> subprocess.CompletedProcess:
    code = "import sys\n"
    if block:
        code += f"sys.modules[{block!r}] = None\n"
    code += "from dunelog.cli import main\nsys.exit(main(sys.argv[1:]))\n"
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(
        [str(ROOT / "host"), os.environ.get("PYTHONPATH", "")]))
    return subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                          text=True, timeout=120, env=env)


def one_line(r: subprocess.CompletedProcess, *names: str) -> str:
    """The run's stderr is one ``dunelog: error:`` line naming each of ``names``."""
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("dunelog: error: "), r.stderr
    for n in names:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def argv(cmd: str, inp: Path | str, out: Path | None) -> list[str]:
    rest, _ = COMMANDS[cmd]
    return [cmd, str(inp), *[a.replace("{out}", str(out)) for a in rest]]


def out_path(cmd: str, d: Path, name: str = "out") -> Path | None:
    suffix = COMMANDS[cmd][1]
    return None if suffix is None else d / f"{name}-{cmd}{suffix}"


@pytest.mark.parametrize("cmd", COMMANDS)
@pytest.mark.parametrize("case", ["missing", "empty", "text"])
def test_unusable_input(inputs, tmp_path, cmd, case):
    out = out_path(cmd, tmp_path)
    if out is not None:                  # an existing output is never removed or truncated
        out.write_bytes(b"precious")
    r = dunelog(*argv(cmd, inputs[case], out))
    assert r.returncode == UNUSABLE, r.stderr
    one_line(r, inputs[case].name)
    if out is not None:
        assert out.read_bytes() == b"precious"
        assert [p.name for p in tmp_path.iterdir()] == [out.name]     # no temporary left


@pytest.mark.parametrize("cmd", COMMANDS)
def test_truncated_segment_is_read_with_its_problems(inputs, tmp_path, cmd):
    """A card cut mid-block: every complete block is used; `info` says so in its status
    (3), the other commands do their job (0)."""
    out = out_path(cmd, tmp_path)
    r = dunelog(*argv(cmd, inputs["cut"], out), *([] if cmd == "replay" else ["--no-progress"]))
    assert "Traceback" not in r.stderr, r.stderr
    assert r.returncode == (PROBLEMS if cmd == "info" else OK), r.stderr
    if out is not None:
        assert out.stat().st_size > 0
    if cmd == "info":
        assert "torn_tail" in r.stdout


@pytest.mark.parametrize("cmd", [c for c, (_, s) in COMMANDS.items() if s])
def test_unknown_output_suffix(inputs, tmp_path, cmd):
    out = tmp_path / "out.xyz"
    r = dunelog(*argv(cmd, inputs["good"], out))
    assert r.returncode == UNUSABLE, r.stderr
    one_line(r, "out.xyz")
    assert not out.exists()


@pytest.mark.parametrize("cmd", ["decode", "plot", "report"])
@pytest.mark.parametrize("dbc", ["bad_dbc", "text"])
def test_unparsable_database(inputs, tmp_path, cmd, dbc):
    out = out_path(cmd, tmp_path)
    out.write_bytes(b"precious")
    args = argv(cmd, inputs["good"], out)
    if "--dbc" in args:
        args[args.index("--dbc") + 1] = str(inputs[dbc])
    else:
        args += ["--dbc", str(inputs[dbc])]
    r = dunelog(*args)
    assert r.returncode == UNUSABLE, r.stderr
    line = one_line(r, inputs[dbc].name)
    assert "database" in line and str(inputs["good"]) not in line
    assert out.read_bytes() == b"precious"


@pytest.mark.parametrize("cmd", NEEDS)
def test_missing_optional_dependency(inputs, tmp_path, cmd):
    out = out_path(cmd, tmp_path)
    if cmd == "convert":
        out = tmp_path / "out.mf4"
    r = dunelog(*argv(cmd, inputs["good"], out), block=NEEDS[cmd])
    assert r.returncode == UNUSABLE, r.stderr
    line = one_line(r, NEEDS[cmd], "pip install")
    assert out.name in line
    assert not out.exists()


@pytest.mark.parametrize("cmd", [c for c, (_, s) in COMMANDS.items() if s])
def test_output_directory_is_not_created_nor_guessed(inputs, tmp_path, cmd):
    """A typo in the output's directory is an error, not a new directory; a path under a
    file (nothing can be written there, whoever runs it) too."""
    out = tmp_path / "typo" / f"out{COMMANDS[cmd][1]}"
    r = dunelog(*argv(cmd, inputs["good"], out))
    assert r.returncode == UNUSABLE, r.stderr
    one_line(r, str(tmp_path / "typo"))
    assert not (tmp_path / "typo").exists()
    afile = tmp_path / "afile"
    afile.write_text("x")
    r = dunelog(*argv(cmd, inputs["good"], afile / f"out{COMMANDS[cmd][1]}"))
    assert r.returncode == UNUSABLE, r.stderr
    one_line(r, str(afile))


@pytest.mark.parametrize("cmd", [c for c, (_, s) in COMMANDS.items() if s])
def test_existing_output_is_replaced_whole_on_success(inputs, tmp_path, cmd):
    out = out_path(cmd, tmp_path)
    out.write_bytes(b"old")
    r = dunelog(*argv(cmd, inputs["good"], out), "--no-progress")
    assert r.returncode == OK, r.stderr
    assert out.read_bytes() != b"old" and out.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]


def test_logger_not_in_the_input_names_what_is(inputs):
    for cmd in ("info", "decode"):
        r = dunelog(*argv(cmd, inputs["good"], inputs["dir"] / "x.csv"), "--logger", "99")
        assert r.returncode == UNUSABLE
        one_line(r, "logger 99", "logger(s) 7")


def test_replay_names_the_option_of_a_bad_id(inputs):
    r = dunelog(*argv("replay", inputs["good"], None), "--ids", "zz")
    assert r.returncode == UNUSABLE
    one_line(r, "--ids", "'zz'")
    r = dunelog(*argv("replay", inputs["good"], None), "--exclude-ids", "0x100-zz")
    one_line(r, "--exclude-ids", "'zz'")


def test_query_of_what_is_not_a_dataset(inputs, tmp_path):
    r = dunelog("query", str(inputs["good"]), "SELECT 1")
    assert r.returncode == UNUSABLE
    one_line(r, str(inputs["good"]), "not a dunelog dataset")
    r = dunelog("query", str(tmp_path / "nope"), "SELECT 1")
    one_line(r, str(tmp_path / "nope"))
