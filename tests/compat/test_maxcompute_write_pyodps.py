"""The MaxCompute write path shared with real PyODPS 0.13.2, through `arrowport emulate maxcompute`.

Tables made by one side are written and read by the other (PyODPS `write_table(...,
create_table=True)` runs `CREATE TABLE` as an SQL instance, as arrowport's `create_table=true`
does), and one upload session created by PyODPS takes blocks from PyODPS and from an arrowport
worker, committed once by arrowport and read back value for value.
"""

import decimal
import json
import os
import subprocess
import time

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from odps import ODPS, options
from odps.tunnel import TableTunnel

os.environ["TZ"] = "UTC"
time.tzset()

BIN = os.environ.get("ARROWPORT_BIN", "target/debug/arrowport")


@pytest.fixture(scope="module")
def emu():
    proc = subprocess.Popen(
        [BIN, "emulate", "maxcompute", "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail("emulator did not start: " + proc.stderr.read())
    options.retry_times = 1
    yield json.loads(line)
    proc.terminate()
    proc.wait(timeout=10)


def odps(emu):
    return ODPS(
        emu["access_id"], emu["secret_access_key"], emu["project"],
        endpoint=emu["endpoint"], tunnel_endpoint=emu["tunnel_endpoint"],
    )


def url(emu, table, query=""):
    return (f"maxcompute://{emu['project']}/{table}?endpoint={emu['endpoint']}"
            f"&tunnel_endpoint={emu['tunnel_endpoint']}{query}")


def arrowport(emu, *args):
    env = dict(
        os.environ,
        ALIBABA_CLOUD_ACCESS_KEY_ID=emu["access_id"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=emu["secret_access_key"],
    )
    done = subprocess.run([BIN, *args], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


def read_all(table, partition=None):
    with table.open_reader(partition=partition, arrow=True) as reader:
        return reader.read_all()


def rows(table):
    return sorted(table.to_pylist(), key=lambda r: r["id"])


def types(table):
    return [(c.name, str(c.type).lower().replace("`", "")) for c in table.table_schema.simple_columns]


def narrow(start, count):
    """Rows PyODPS and arrowport agree on: instants carry their zone (PyODPS would read a naive
    timestamp as one; arrowport refuses to guess the zone)."""
    return pa.table({
        "id": pa.array(range(start, start + count), pa.int64()),
        "name": [f"名前 {i}" if i % 4 else None for i in range(start, start + count)],
        "score": [i / 8 for i in range(start, start + count)],
        "at": pa.array([1_674_131_696_000_000_123 + i for i in range(start, start + count)],
                       pa.timestamp("ns", tz="UTC")),
        "amount": pa.array([decimal.Decimal(i) / 100 for i in range(start, start + count)],
                           pa.decimal128(18, 2)),
    })


def naive(table):
    """PyODPS reads timestamps without a zone."""
    return table.cast(pa.schema([
        pa.field(f.name, pa.timestamp(f.type.unit)) if pa.types.is_timestamp(f.type) else f for f in table.schema
    ]))


def test_pyodps_creates_the_table_and_arrowport_appends(emu, tmp_path):
    o = odps(emu)
    first = narrow(0, 40)
    o.write_table("pyodps_made", naive(first), create_table=True, partition="pt=a", create_partition=True,
                  lifecycle=3)
    made = o.get_table("pyodps_made")
    assert types(made) == [("id", "bigint"), ("name", "string"), ("score", "double"), ("at", "timestamp"),
                           ("amount", "decimal(18,2)")]
    assert made.lifecycle == 3
    pq.write_table(narrow(40, 60), tmp_path / "more.parquet")
    # create_table on a table that fits: nothing created, rows appended.
    arrowport(emu, "export", str(tmp_path / "more.parquet"),
              url(emu, "pyodps_made", "&partition=pt=a&create_table=true"), "-q")
    assert rows(read_all(made, "pt=a")) == rows(naive(narrow(0, 100)))


def typed(start, count):
    ids = range(start, start + count)
    return pa.table({
        "id": pa.array(ids, pa.int64()),
        "small": pa.array([i % 100 for i in ids], pa.int32()),
        "name": [f"n{i}" if i % 3 else None for i in ids],
        "flag": [i % 2 == 0 for i in ids],
        "day": pa.array([19000 + i for i in ids], pa.date32()),
        "at": pa.array([1_674_131_696_000 + i for i in ids], pa.timestamp("ms", tz="UTC")),
        "amount": pa.array([decimal.Decimal(i) / 100 for i in ids], pa.decimal128(18, 2)),
        "tags": pa.array([[f"t{i}", f"u{i}"] for i in ids], pa.list_(pa.string())),
        "vec": pa.array([[i / 4, -i / 4] for i in ids], pa.list_(pa.float32(), 2)),
        "pt": ["x" if i % 2 else "y" for i in ids],
    })


def test_arrowport_creates_the_table_and_pyodps_writes_and_reads_it(emu, tmp_path):
    pq.write_table(typed(0, 50), tmp_path / "typed.parquet")
    arrowport(emu, "export", str(tmp_path / "typed.parquet"),
              url(emu, "arrowport_made", "&create_table=true&partition_by=pt&lifecycle=5&comment=from%20arrowport"),
              "-q")
    o = odps(emu)
    made = o.get_table("arrowport_made")
    assert types(made) == [
        ("id", "bigint"), ("small", "int"), ("name", "string"), ("flag", "boolean"), ("day", "date"),
        ("at", "datetime"), ("amount", "decimal(18,2)"), ("tags", "array<string>"), ("vec", "array<float>"),
    ]
    assert [c.name for c in made.table_schema.partitions] == ["pt"]
    assert made.lifecycle == 5 and made.comment == "from arrowport"
    # PyODPS writes rows of its own into a partition arrowport created, then reads both back.
    theirs = typed(50, 10).filter(pa.compute.equal(typed(50, 10)["pt"], "x")).drop_columns(["pt"])
    theirs = theirs.set_column(theirs.schema.get_field_index("vec"), "vec",
                               theirs["vec"].cast(pa.list_(pa.float32())))
    o.write_table("arrowport_made", naive(theirs), partition="pt=x")
    back = read_all(made, "pt=x")
    ours = typed(0, 50).filter(pa.compute.equal(typed(0, 50)["pt"], "x")).drop_columns(["pt"])
    expected = rows(naive(ours)) + rows(naive(theirs))
    got = rows(back)
    for row in expected:
        row["vec"] = list(row["vec"])
    assert got == expected


def test_a_pyodps_session_takes_blocks_from_both_and_arrowport_commits_it(emu, tmp_path):
    o = odps(emu)
    o.write_table("shared_made", naive(narrow(1, 1)), create_table=True)
    table = o.get_table("shared_made")
    session = TableTunnel(o).create_upload_session("shared_made")
    pyodps_rows = naive(narrow(1000, 30))
    for block, part in ((0, pyodps_rows.slice(0, 10)), (1, pyodps_rows.slice(10))):
        with session.open_record_writer(block) as writer:
            for row in part.to_pylist():
                writer.write(table.new_record(list(row.values())))
    pq.write_table(narrow(2000, 500), tmp_path / "worker.parquet")
    arrowport(emu, "export", str(tmp_path / "worker.parquet"),
              url(emu, "shared_made", f"&upload_id={session.id}&block_ids=100-199"), "-q")
    status = json.loads(arrowport(emu, "upload-session", "status", url(emu, "shared_made"), session.id))
    assert [b["block_id"] for b in status["blocks"]] == [0, 1, 100, 101]
    assert rows(read_all(table)) == rows(naive(narrow(1, 1))), "nothing is visible before the commit"
    arrowport(emu, "upload-session", "commit", url(emu, "shared_made"), session.id)
    expected = rows(naive(narrow(1, 1))) + rows(pyodps_rows) + rows(naive(narrow(2000, 500)))
    # A new table object: PyODPS reuses the download session of the earlier read.
    assert rows(read_all(odps(emu).get_table("shared_made"))) == sorted(expected, key=lambda r: r["id"])
