"""Exports: round trip of the firmware-written drive vector through every format,
read back with the format's owning library (python-can, asammdf, pyarrow)."""

from __future__ import annotations

from pathlib import Path

import can
import numpy as np
import pytest

import dunelog
from dunelog.io import (
    SourceError,
    iter_frame_chunks,
    iter_messages,
    supported_suffixes,
    write_frames,
    writer_for,
)

DRIVE = Path(__file__).resolve().parents[1] / "vectors" / "drive"


def key(m: can.Message, channel=True) -> tuple:
    return (m.arbitration_id, m.is_extended_id, m.is_fd, m.bitrate_switch if m.is_fd else False,
            m.is_remote_frame, m.dlc, bytes(m.data), (_ch(m.channel) if channel else None))


def _ch(c):
    if isinstance(c, str):
        return int(c.lstrip("can") or 0)
    return c


@pytest.fixture(scope="module")
def original() -> list[can.Message]:
    return list(iter_messages(DRIVE))


def test_original_has_everything(original):
    ids = {m.arbitration_id for m in original}
    assert {0x0C0, 0x1A0, 0x1B0, 0x2F0, 0x18FEF100, 0x300} <= ids
    fd = [m for m in original if m.is_fd]
    assert fd and all(m.arbitration_id == 0x300 and m.channel == 1 and m.dlc == 64
                      and m.bitrate_switch for m in fd)
    assert all(m.is_extended_id == (m.arbitration_id == 0x18FEF100) for m in original)
    # the drive vector has time syncs: timestamps are UTC epoch seconds
    assert all(m.timestamp > 1.6e9 for m in original)
    assert len(original) == 3372 + 1124


def test_messages_match_records():
    """iter_messages agrees with Dump.records() CanFrame records."""
    dump = dunelog.open(DRIVE)
    recs = [r for r in dump.records() if isinstance(r, dunelog.CanFrame)]
    msgs = list(iter_messages(dump))
    assert len(recs) == len(msgs)
    for r, m in zip(recs, msgs):
        assert (r.id, r.is_extended, r.is_fd, r.channel, bytes(r.data)) == \
               (m.arbitration_id, m.is_extended_id, m.is_fd, m.channel, bytes(m.data))
        utc = dump.utc_us(r.boot, r.time_us)
        assert m.timestamp == pytest.approx(utc / 1e6, abs=1e-6)


def test_boot_time_without_sync(tmp_path, segment_file):
    """A dump without time sync gives seconds since boot."""
    path, seg = segment_file(can_share=1.0)
    msgs = list(iter_messages(path))
    frames = [r for r in dunelog.open(path).records() if isinstance(r, dunelog.CanFrame)]
    if not frames or any(isinstance(r, dunelog.TimeSync) for r in dunelog.open(path).records()):
        pytest.skip("synthetic segment has no frames or has a time sync")
    assert [m.timestamp for m in msgs] == pytest.approx([f.time_us / 1e6 for f in frames])


# --------------------------------------------------------------------- round trips
PYCAN_TOL = {".blf": 1e-3, ".asc": 2e-6, ".trc": 2e-6, ".log": 2e-6}


def _compare(orig, back, *, channel=True, tol=2e-6, relative=False):
    assert len(back) == len(orig)
    assert [key(m, channel) for m in back] == [key(m, channel) for m in orig]
    t0o = orig[0].timestamp if relative else 0.0
    t0b = back[0].timestamp if relative else 0.0
    to = np.array([m.timestamp - t0o for m in orig])
    tb = np.array([m.timestamp - t0b for m in back])
    assert np.abs(to - tb).max() <= tol


@pytest.mark.parametrize("suffix", [".blf", ".asc", ".log"])
def test_pycan_formats_round_trip(tmp_path, original, suffix):
    out = tmp_path / f"drive{suffix}"
    assert write_frames(out, DRIVE).frames == len(original)
    with can.LogReader(out) as r:
        back = list(r)
    # ASC keeps times relative to its start; BLF keeps the start with ms precision
    _compare(original, back, tol=PYCAN_TOL[suffix], relative=suffix in (".asc", ".blf"))
    if suffix == ".blf":
        assert abs(back[0].timestamp - original[0].timestamp) < 1e-3


def test_trc_round_trip_classic_only(tmp_path, original):
    out = tmp_path / "drive.trc"
    classic = [m for m in original if not m.is_fd]
    assert write_frames(out, DRIVE).frames == len(classic)
    with can.LogReader(out) as r:
        back = list(r)
    # python-can's TRC reader returns the file's 1-based bus number
    assert [m.channel for m in back] == [m.channel + 1 for m in classic]
    _compare(classic, back, tol=2e-6, relative=True, channel=False)
    # dunelog's reader maps it back to the dunelog channel
    _compare(classic, list(iter_messages(out)), tol=2e-6, relative=True)


def test_mf4_round_trip_asammdf(tmp_path, original):
    from asammdf import MDF
    out = tmp_path / "drive.mf4"
    assert write_frames(out, DRIVE).frames == len(original)
    # python-can's MF4 reader (asammdf bus-logging layout)
    # python-can's MF4 reader merges the frame groups by timestamp, and the drive
    # vector's second boot starts (UTC) before the first ends: compare sorted
    with can.LogReader(out) as r:
        back = list(r)
    srt = lambda ms: sorted(ms, key=lambda m: (round(m.timestamp, 5), key(m)))  # noqa: E731
    _compare(srt(original), srt(back), tol=2e-6)
    # asammdf itself: bus-event CAN_DataFrame group with the standard members
    with MDF(out) as mdf:
        ids = mdf.get("CAN_DataFrame.ID").samples
        ide = mdf.get("CAN_DataFrame.IDE").samples
        ch = mdf.get("CAN_DataFrame.BusChannel").samples
        edl = mdf.get("CAN_DataFrame.EDL").samples
        assert len(ids) == len(original)
        assert sorted(ids.tolist()) == sorted(m.arbitration_id for m in original)
        assert int(ide.sum()) == sum(m.is_extended_id for m in original)
        assert set(ch[edl == 1].tolist()) == {1}
        from asammdf.blocks import v4_constants as v4c
        grp = mdf.groups[0].channel_group
        assert grp.flags & v4c.FLAG_CG_BUS_EVENT
        assert grp.acq_source.bus_type == v4c.BUS_TYPE_CAN


def test_mf4_extract_bus_logging(tmp_path):
    """asammdf's DBC decoding path accepts our MF4 (extract_bus_logging)."""
    from asammdf import MDF
    out = tmp_path / "drive.mf4"
    write_frames(out, DRIVE)
    dbc = tmp_path / "t.dbc"
    dbc.write_text('VERSION ""\n\nBU_: A\n\nBO_ 192 M: 8 A\n'
                   ' SG_ S : 0|16@1+ (1,0) [0|65535] "" A\n\n')
    with MDF(out) as mdf:
        dec = mdf.extract_bus_logging({"CAN": [(str(dbc), 0)]})
        names = [c.name for g in dec.groups for c in g.channels]
        assert "S" in names
        s = dec.get("S")
    orig = [m for m in iter_messages(DRIVE) if m.arbitration_id == 0xC0 and not m.is_fd]
    assert s.samples.tolist() == [int.from_bytes(m.data[:2], "little") for m in orig]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_tables_round_trip_pyarrow(tmp_path, original, suffix):
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq
    out = tmp_path / f"drive{suffix}"
    assert write_frames(out, DRIVE).frames == len(original)
    t = pq.read_table(out) if suffix == ".parquet" else pacsv.read_csv(out)
    d = t.to_pydict()
    assert t.num_rows == len(original)
    assert d["id"] == [m.arbitration_id for m in original]
    assert d["channel"] == [m.channel for m in original]
    assert d["ext"] == [m.is_extended_id for m in original]
    assert d["fd"] == [m.is_fd for m in original]
    assert d["brs"] == [m.bitrate_switch for m in original]
    data = d["data"] if suffix == ".parquet" else [bytes.fromhex(x or "") for x in d["data"]]
    assert data == [bytes(m.data) for m in original]
    assert np.abs(np.array(d["timestamp"]) - [m.timestamp for m in original]).max() < 1e-6
    fd_dlc = {d["dlc"][i] for i in range(len(original)) if original[i].is_fd}
    assert fd_dlc == {15}
    # and our reader reads them back as messages
    back = list(iter_messages(out))
    _compare(original, back, tol=1e-6)


# --------------------------------------------------------------------- foreign input
def test_frame_chunks_of_blf_equal_original(tmp_path):
    out = tmp_path / "drive.blf"
    write_frames(out, DRIVE)
    dump = dunelog.open(DRIVE)
    ocl, ofd = dump.can_arrays()
    chunks = list(iter_frame_chunks(out, size=1000))
    assert len(chunks) == 5
    cl = np.concatenate([c.classic for c in chunks])
    fd = np.concatenate([c.fd for c in chunks])
    for a, b in ((ocl, cl), (ofd, fd)):
        for f in ("id", "channel", "flags", "dlc", "data_len", "data"):
            np.testing.assert_array_equal(a[f], b[f], err_msg=f)
    # times: the originals in UTC, to BLF precision
    ot = np.concatenate([c.classic_time_s for c in iter_frame_chunks(DRIVE)])
    bt = np.concatenate([c.classic_time_s for c in chunks])
    assert np.abs((ot - ot[0]) - (bt - bt[0])).max() < 1e-6
    assert cl.dtype == ocl.dtype and fd.dtype == ofd.dtype


def test_convert_foreign_to_foreign(tmp_path, original):
    blf = tmp_path / "a.blf"
    write_frames(blf, DRIVE)
    asc = tmp_path / "a.asc"
    assert write_frames(asc, blf).frames == len(original)
    with can.LogReader(asc) as r:
        back = list(r)
    _compare(original, back, tol=1e-3, relative=True)


def test_write_frames_from_dump_object(tmp_path, original):
    out = tmp_path / "x.parquet"
    assert write_frames(out, dunelog.open(DRIVE)).frames == len(original)


def test_unknown_suffix_and_bad_input(tmp_path):
    with pytest.raises(ValueError, match=r"x\.xyz"):
        writer_for(tmp_path / "x.xyz")
    assert {".blf", ".asc", ".trc", ".log", ".mf4", ".parquet", ".csv"} <= \
        set(supported_suffixes())
    bad = tmp_path / "bad.blf"
    bad.write_bytes(b"garbage")
    with pytest.raises(SourceError, match="bad.blf"):
        write_frames(tmp_path / "o.csv", bad)
    assert not (tmp_path / "o.csv").exists()
    with pytest.raises(SourceError, match="nothere"):
        list(iter_messages(tmp_path / "nothere.blf"))
    with pytest.raises(SourceError, match="empty"):
        (tmp_path / "empty").mkdir()
        list(iter_messages(tmp_path / "empty"))


# --------------------------------------------------------------------- CLI
def test_cli_convert(tmp_path, capsys, original):
    from dunelog.cli import EXIT_OK, EXIT_UNUSABLE, main
    out = tmp_path / "d.log"
    assert main(["convert", str(DRIVE), "-o", str(out), "--no-progress"]) == EXIT_OK
    assert f"wrote {len(original)} frames" in capsys.readouterr().err
    with can.LogReader(out) as r:
        assert len(list(r)) == len(original)
    assert main(["convert", str(tmp_path / "missing"), "-o", str(out)]) == EXIT_UNUSABLE
    assert "missing" in capsys.readouterr().err
    bad = tmp_path / "bad.asc"
    bad.write_bytes(b"\x00\xff not an asc")
    rc = main(["convert", str(bad), "-o", str(tmp_path / "o.blf")])
    err = capsys.readouterr().err
    assert rc in (EXIT_OK, EXIT_UNUSABLE)  # python-can's ASC reader skips unknown lines
    assert main(["convert", str(DRIVE), "-o", str(tmp_path / "o.xyz")]) == EXIT_UNUSABLE
    assert "o.xyz" in capsys.readouterr().err
    del err


# --------------------------------------------------------------------- defects (issue 13)
def test_tables_keep_tx_flag(tmp_path, segment_file):
    """Frames the logger sent come back as sent from Parquet and CSV (as from BLF)."""
    path, _ = segment_file(can_share=1.0, seed=3)
    orig = list(iter_messages(path))
    tx = [not m.is_rx for m in orig]
    assert any(tx) and not all(tx)
    for suffix in (".parquet", ".csv", ".blf"):
        out = tmp_path / f"f{suffix}"
        write_frames(out, path)
        back = list(iter_messages(out))
        assert [not m.is_rx for m in back] == tx, suffix


def test_frame_chunks_of_open_dump_report_progress():
    """``progress`` is called for a Dump object too, not only for a path."""
    calls = []
    chunks = list(iter_frame_chunks(dunelog.open(DRIVE),
                                    progress=lambda d, t: calls.append((d, t))))
    assert chunks and calls
    assert calls[-1][0] == calls[-1][1] > 0
    calls.clear()
    assert len(list(iter_messages(dunelog.open(DRIVE), progress=lambda d, t: calls.append(d))))
    assert calls


def test_write_frames_returns_a_result(tmp_path, original):
    """What was written and skipped comes back as a result, not as a function attribute."""
    res = write_frames(tmp_path / "x.trc", DRIVE)
    fd = sum(m.is_fd for m in original)
    assert (res.path, res.frames, res.skipped) == (str(tmp_path / "x.trc"), len(original) - fd,
                                                   fd)
    assert not hasattr(write_frames, "last_writer")


# --------------------------------------------------------------------- tables, column-wise
def _odd_frames_table(hexed: bool):
    """Rows that test every rule of a table's frames: a remote frame (its DLC kept), an
    error frame, a sent one, BRS/ESI on classic (dropped) and FD (kept), FD and classic
    payloads longer than their frame holds, a half microsecond, a negative time."""
    import pyarrow as pa

    from dunelog.io.tables import _schema
    rows = [  # timestamp, ch, id, ext, rtr, err, fd, brs, esi, tx, dlc, data
        (1.0000005, 0, 0x123, False, False, False, False, False, False, False, 2, b"\x01\x02"),
        (1.0000015, 1, 0x1ABCDEF0, True, True, False, False, False, False, False, 4, b""),
        (1.5, 2, 0x7FF, False, False, True, False, False, False, False, 0, b""),
        (2.0, 0, 0x10, False, False, False, False, True, True, True, 3, b"\xaa\xbb\xcc"),
        (2.5, 3, 0x20, False, False, False, True, True, True, False, 9, bytes(range(12))),
        (3.0, 0, 0x30, False, False, False, False, False, False, False, 8, bytes(range(10))),
        (-1.0, 0, 0x40, False, False, False, True, False, False, True, 15, bytes(range(70))),
    ]
    cols = list(zip(*rows))
    typ = pa.string() if hexed else pa.binary()
    data = [d.hex().upper() if hexed else d for d in cols[11]]
    schema = _schema(typ)
    arrays = [pa.array(list(c), type=f.type) for c, f in zip(cols[:11], schema)]
    return pa.Table.from_arrays(arrays + [pa.array(data, type=typ)], schema=schema)


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_tables_read_column_wise_as_their_messages(tmp_path, suffix, segment_file):
    """`TableReader.chunks` (column-wise, what decode and convert read) gives the arrays
    the rows' python-can messages give, for every odd row and for a real dump's frames,
    in chunks of any size; a CSV whose data is not hex is refused with its file and row."""
    import pyarrow.csv as pacsv
    import pyarrow.parquet as pq

    from dunelog.frames import messages_to_chunks
    from dunelog.io.tables import TableReader
    odd = tmp_path / f"odd{suffix}"
    if suffix == ".csv":
        pacsv.write_csv(_odd_frames_table(True), odd)
    else:
        pq.write_table(_odd_frames_table(False), odd, row_group_size=3)
    path, _ = segment_file(can_share=1.0, seed=3)
    real = tmp_path / f"real{suffix}"
    write_frames(real, path)
    for p, size in ((odd, 2), (odd, 100), (real, 1000)):
        got = list(TableReader(str(p)).chunks(size))
        want = list(messages_to_chunks(TableReader(str(p)).messages(), str(p), size))
        assert len(got) == len(want) > 0
        for a, b in zip(got, want):
            for f in ("classic", "fd"):
                x, y = getattr(a, f), getattr(b, f)
                assert x.dtype == y.dtype
                for name in x.dtype.names:
                    np.testing.assert_array_equal(x[name], y[name], err_msg=f"{p} {f}.{name}")
            for f in ("classic_time_s", "fd_time_s", "classic_epoch", "fd_epoch", "order"):
                np.testing.assert_array_equal(getattr(a, f), getattr(b, f), err_msg=f)
    if suffix == ".csv":
        bad = tmp_path / "bad.csv"
        lines = odd.read_text().splitlines()
        lines[4] = lines[4].replace('"AABBCC"', '"AABBCX"')   # the 4th row
        bad.write_text("\n".join(lines) + "\n")
        with pytest.raises(SourceError, match=r"bad\.csv: row 4: data 'AABBCX'"):
            list(TableReader(str(bad)).chunks())
        bad.write_text("\n".join(lines).replace('"AABBCX"', '"AABBC"') + "\n")
        with pytest.raises(SourceError, match=r"bad\.csv: row 4: data 'AABBC'"):
            list(TableReader(str(bad)).chunks())
