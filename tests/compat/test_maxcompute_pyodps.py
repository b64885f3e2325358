"""Real PyODPS 0.13.2 against `arrowport emulate maxcompute`.

PyODPS signs every request itself (v2: a loopback endpoint has no region), so every call that
succeeds here is also a check of the emulator's signature verification; the wrong-secret test
checks that it rejects. Reads go through both tunnel formats, the record stream and the
CRC-framed Arrow stream, and must agree value for value.
"""

import datetime
import decimal
import json
import os
import subprocess
import time

import pyarrow as pa
import pytest
from odps import ODPS, errors, options
from odps.tunnel import CompressOption, TableTunnel

# Datetimes come back in local time on both paths; pin it so values are stable.
os.environ["TZ"] = "UTC"
time.tzset()

BIN = os.environ.get("ARROWPORT_BIN", "target/debug/arrowport")
# Even, so PyODPS's unclamped last split of to_pandas(n_process=2) stays in range.
ROWS = 300
NARROW_ROWS = 2000
PARTITION_ROWS = 100  # the emulator's default

ALL_TYPES = [
    ("id", "bigint"),
    ("c_tinyint", "tinyint"),
    ("c_smallint", "smallint"),
    ("c_int", "int"),
    ("c_bigint", "bigint"),
    ("c_float", "float"),
    ("c_double", "double"),
    ("c_boolean", "boolean"),
    ("c_string", "string"),
    ("c_varchar", "varchar(64)"),
    ("c_char", "char(8)"),
    ("c_binary", "binary"),
    ("c_date", "date"),
    ("c_datetime", "datetime"),
    ("c_timestamp", "timestamp"),
    ("c_timestamp_ntz", "timestamp_ntz"),
    ("c_decimal", "decimal(18,4)"),
    ("c_decimal38", "decimal(38,10)"),
    ("c_array_bigint", "array<bigint>"),
    ("c_array_string", "array<string>"),
    ("c_map", "map<string,bigint>"),
    ("c_struct", "struct<a:bigint,b:string>"),
]


@pytest.fixture(scope="module")
def emu():
    proc = subprocess.Popen(
        [BIN, "emulate", "maxcompute", "--rows", str(ROWS), "--narrow-rows", str(NARROW_ROWS), "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail("emulator did not start: " + proc.stderr.read())
    info = json.loads(line)
    options.retry_times = 1
    yield info
    proc.terminate()
    proc.wait(timeout=10)


def odps(emu, secret=None):
    return ODPS(
        emu["access_id"],
        secret or emu["secret_access_key"],
        emu["project"],
        endpoint=emu["endpoint"],
        tunnel_endpoint=emu["tunnel_endpoint"],
    )


def plain(value):
    """One cell as plain Python: record structs are named tuples, Arrow structs dicts."""
    if hasattr(value, "_asdict"):
        return {k: plain(v) for k, v in value._asdict().items()}
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def record_rows(records):
    return [{name: plain(value) for name, value in r} for r in records]


def arrow_rows(table):
    """Rows of an Arrow table, maps (lists of pairs in pyarrow) as dicts like records."""
    maps = {f.name for f in table.schema if pa.types.is_map(f.type)}
    return [
        {k: plain(dict(v) if k in maps and v is not None else v) for k, v in row.items()}
        for row in table.to_pylist()
    ]


def test_table_schema_and_listing(emu):
    o = odps(emu)
    t = o.get_table("all_types")
    assert [(c.name, str(c.type).lower().replace("`", "")) for c in t.table_schema.columns] == ALL_TYPES
    assert not t.table_schema.partitions
    sales = o.get_table("sales")
    assert [c.name for c in sales.table_schema.partitions] == ["pt", "dt"]
    assert [(c.name, str(c.type).lower().replace("`", "")) for c in sales.table_schema.simple_columns] == [
        ("id", "bigint"),
        ("amount", "decimal(18,2)"),
        ("name", "string"),
        ("ts", "timestamp"),
    ]
    assert [t.name for t in o.list_tables()] == [
        "all_types", "empty", "narrow", "narrow_sink", "sales", "sink_parts", "sink_target", "vectors",
    ]
    assert [t.name for t in o.list_tables(prefix="sa")] == ["sales"]
    assert o.exist_table("narrow") and not o.exist_table("no_such_table")
    with pytest.raises(errors.NoSuchObject):
        o.get_table("no_such_table").reload()


def test_partitions(emu):
    sales = odps(emu).get_table("sales")
    names = [str(p.partition_spec) for p in sales.partitions]
    assert names == [
        "pt='a',dt='20230118'",
        "pt='a',dt='20230119'",
        "pt='b',dt='20230119'",
        "pt='b',dt='20230120'",
    ]
    assert [str(p.partition_spec) for p in sales.iterate_partitions("pt=a")] == names[:2]
    assert [str(p.partition_spec) for p in sales.iterate_partitions("dt>20230118")] == names[1:]
    assert sales.exist_partition("pt=a,dt=20230118")
    assert not sales.exist_partition("pt=z,dt=20230118")
    assert sales.exist_partitions("pt=b") and not sales.exist_partitions("pt=z")
    # The newest partition is empty (PhysicalSize 0): PyODPS skips it.
    assert str(sales.get_max_partition().partition_spec) == "pt='b',dt='20230119'"
    assert str(sales.get_max_partition(skip_empty=False).partition_spec) == names[3]
    assert sales.get_max_partition("pt=a").partition_spec["dt"] == "20230119"


def test_record_and_arrow_readers_agree(emu):
    t = odps(emu).get_table("all_types")
    with t.open_reader() as reader:
        assert reader.count == ROWS
        records = record_rows(reader)
    with t.open_reader(arrow=True) as reader:
        table = reader.read_all()
    assert table.num_rows == ROWS
    assert table.schema.field("c_datetime").type == pa.timestamp("ms")
    assert table.schema.field("c_timestamp").type == pa.timestamp("ns")
    assert table.schema.field("c_decimal38").type == pa.decimal128(38, 10)
    assert [r["id"] for r in records] == list(range(ROWS))
    assert records == arrow_rows(table)
    # Every nullable column has NULLs and values.
    for name, _ in ALL_TYPES[1:]:
        values = [r[name] for r in records]
        assert None in values and any(v is not None for v in values), name
    assert "" in [r["c_string"] for r in records]
    assert any(s and not s.isascii() for s in (r["c_string"] for r in records))


def test_partition_readers_agree(emu):
    sales = odps(emu).get_table("sales")
    spec = "pt=a,dt=20230119"
    with sales.open_reader(partition=spec) as reader:
        records = record_rows(reader)
    with sales.open_reader(partition=spec, arrow=True) as reader:
        table = reader.read_all()
    assert [r["id"] for r in records] == list(range(PARTITION_ROWS, 2 * PARTITION_ROWS))
    # The record reader appends the partition columns; Arrow reads data columns only.
    assert {(r.pop("pt"), r.pop("dt")) for r in records} == {("a", "20230119")}
    assert records == arrow_rows(table)
    with sales.open_reader(partition="pt=b,dt=20230120", arrow=True) as reader:
        assert reader.count == 0
    with pytest.raises(errors.NoSuchObject):
        sales.open_reader(partition="pt=z,dt=20230120")


def test_tunnel_sessions_ranges_and_columns(emu):
    o = odps(emu)
    tunnel = TableTunnel(o)
    session = tunnel.create_download_session("all_types")
    assert session.count == ROWS
    with session.open_record_reader(0, ROWS) as reader:
        full = record_rows(reader)
    # Record projections come back in the order asked for.
    columns = ["c_string", "id", "c_map", "c_decimal"]
    with session.open_record_reader(10, 25, columns=columns) as reader:
        part = record_rows(reader)
    assert part == [{c: row[c] for c in columns} for row in full[10:35]]
    # Arrow projections: PyODPS decodes them in table order and reorders client-side.
    with session.open_arrow_reader(7, 50, columns=["c_struct", "id", "c_timestamp"]) as reader:
        table = reader.read()
    assert table.column_names == ["c_struct", "id", "c_timestamp"]
    assert arrow_rows(table) == [
        {c: row[c] for c in ["c_struct", "id", "c_timestamp"]} for row in full[7:57]
    ]
    # Another client joins the session by its id and reads a disjoint range.
    joined = tunnel.create_download_session("all_types", download_id=session.id)
    assert joined.id == session.id and joined.count == ROWS
    with joined.open_arrow_reader(ROWS - 3, 3) as reader:
        assert arrow_rows(reader.read()) == full[ROWS - 3 :]
    # Partitions through the tunnel.
    sales = tunnel.create_download_session("sales", partition_spec="pt=b,dt=20230119")
    assert sales.count == PARTITION_ROWS
    with sales.open_record_reader(0, 5, columns=["id", "amount"]) as reader:
        ids = [r["id"] for r in reader]
    assert ids == list(range(2 * PARTITION_ROWS, 2 * PARTITION_ROWS + 5))


def test_row_ranges_past_the_end_are_rejected(emu):
    session = TableTunnel(odps(emu)).create_download_session("all_types")
    with pytest.raises(Exception) as err:
        with session.open_record_reader(ROWS - 1, 2) as reader:
            list(reader)
    assert "InvalidRowRange" in str(err.value)


@pytest.mark.parametrize("algo", ["zlib", "zstd", "lz4"])
def test_compressed_reads(emu, algo):
    o = odps(emu)
    tunnel = TableTunnel(o)
    plain_session = tunnel.create_download_session("narrow")
    with plain_session.open_arrow_reader(0, NARROW_ROWS) as reader:
        expected = reader.read()
    session = tunnel.create_download_session("narrow", compress_algo=algo)
    with session.open_arrow_reader(0, NARROW_ROWS, compress=True) as reader:
        assert reader.read().equals(expected)
    with session.open_record_reader(0, NARROW_ROWS, compress=True) as reader:
        assert record_rows(reader) == arrow_rows(expected)


def test_to_pandas_in_two_processes(emu):
    t = odps(emu).get_table("all_types")
    # The workers pickle their frames, and PyODPS's struct named tuples do not pickle.
    columns = [name for name, _ in ALL_TYPES if name != "c_struct"]
    df = t.to_pandas(n_process=2, columns=columns)
    assert list(df["id"]) == list(range(ROWS))
    with t.open_reader(arrow=True, columns=columns) as reader:
        single = reader.to_pandas()
    assert df.equals(single)


def test_narrow_and_empty_tables(emu):
    o = odps(emu)
    df = o.get_table("narrow").to_pandas()
    assert list(df.columns) == ["id", "value", "category", "ts", "flag"]
    assert list(df["id"]) == list(range(NARROW_ROWS))
    empty = o.get_table("empty")
    with empty.open_reader() as reader:
        assert reader.count == 0 and list(reader) == []
    with empty.open_reader(arrow=True) as reader:
        assert reader.read_all().num_rows == 0


def test_wrong_secret_is_rejected(emu):
    o = odps(emu, secret="wrong-secret")
    with pytest.raises(errors.ODPSError) as err:
        o.get_table("all_types").reload()
    assert err.value.code == "SignatureNotMatch"
    session = TableTunnel(odps(emu)).create_download_session("all_types")
    with pytest.raises(errors.ODPSError) as err:
        TableTunnel(o).create_download_session("all_types", download_id=session.id)
    assert "SignatureNotMatch" in str(err.value) or err.value.code == "SignatureNotMatch"


def arrowport_export(emu, path, out, *extra):
    """`arrowport export maxcompute://…` of the emulator into `out`; returns the Arrow table."""
    env = dict(
        os.environ,
        ALIBABA_CLOUD_ACCESS_KEY_ID=emu["access_id"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=emu["secret_access_key"],
    )
    url = f"maxcompute://{emu['project']}/{path}&endpoint={emu['endpoint']}"
    subprocess.run([BIN, "export", url, str(out), "-q", *extra], env=env, check=True)
    return pa.ipc.open_file(str(out)).read_all()


def without_zone(table):
    """arrowport records the timezone on datetime/timestamp columns (the instants are the same)."""
    fields = [
        pa.field(f.name, pa.timestamp(f.type.unit), f.nullable)
        if pa.types.is_timestamp(f.type) and f.type.tz
        else f
        for f in table.schema
    ]
    return table.cast(pa.schema(fields))


@pytest.mark.parametrize("fmt", ["arrow", "record"])
def test_arrowport_export_equals_pyodps(emu, tmp_path, fmt):
    """What `arrowport export` writes is, value for value, what PyODPS reads."""
    t = odps(emu).get_table("all_types")
    with t.open_reader(arrow=True) as reader:
        theirs = reader.read_all()
    ours = arrowport_export(emu, f"all_types?format={fmt}&split_rows=64", tmp_path / "out.arrow", "--parallel", "3")
    assert ours.schema.field("c_datetime").type == pa.timestamp("ms", tz="UTC")
    assert arrow_rows(without_zone(ours)) == arrow_rows(theirs)


def test_arrowport_partition_export_equals_pyodps(emu, tmp_path):
    sales = odps(emu).get_table("sales")
    theirs = []
    for spec in ["pt=a,dt=20230118", "pt=a,dt=20230119"]:
        with sales.open_reader(partition=spec, arrow=True) as reader:
            theirs += arrow_rows(reader.read_all())
    ours = arrowport_export(emu, "sales?partition=pt%3Da", tmp_path / "sales.arrow")
    assert arrow_rows(without_zone(ours)) == theirs


def mc_env(emu):
    return dict(
        os.environ,
        ALIBABA_CLOUD_ACCESS_KEY_ID=emu["access_id"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=emu["secret_access_key"],
    )


@pytest.mark.parametrize("fmt", ["arrow"])
def test_pyodps_reads_what_arrowport_wrote(emu, tmp_path, fmt):
    """`arrowport export … maxcompute://…`: PyODPS reads back every row, value for value."""
    source = "datagen://?rows=2500&profile=narrow&seed=7"
    sent = tmp_path / "sent.arrow"
    subprocess.run([BIN, "export", source, str(sent), "-q"], check=True)
    sink = (f"maxcompute://{emu['project']}/narrow_sink?endpoint={emu['endpoint']}"
            f"&tunnel_endpoint={emu['tunnel_endpoint']}&overwrite=true&format={fmt}&block_bytes=1048576")
    subprocess.run([BIN, "export", source, sink, "-q", "--parallel", "3"], env=mc_env(emu), check=True)
    with odps(emu).get_table("narrow_sink").open_reader(arrow=True) as reader:
        theirs = reader.read_all()
    ours = pa.ipc.open_file(str(sent)).read_all()
    assert theirs.num_rows == ours.num_rows == 2500
    for name in ["id", "value", "category", "flag"]:
        assert theirs[name].to_pylist() == ours[name].to_pylist(), name
    # datagen's microseconds, stored as a MaxCompute timestamp (ns): the same instants.
    assert theirs["ts"].cast(pa.int64()).to_pylist() == [
        None if v is None else v * 1000 for v in ours["ts"].cast(pa.int64()).to_pylist()
    ]


def test_arrowport_reads_what_pyodps_wrote(emu, tmp_path):
    """PyODPS `write_table` into the emulator; `arrowport export` reads the same values."""
    table = pa.table({
        "id": pa.array(range(1000), pa.int64()),
        "value": [i / 8 if i % 7 else None for i in range(1000)],
        "category": [f"c{i % 5}" for i in range(1000)],
        "ts": pa.array([i * 1_000_000_123 for i in range(1000)], pa.timestamp("ns")),
        "flag": [i % 3 == 0 for i in range(1000)],
    })
    odps(emu).write_table("narrow_sink", table, overwrite=True)
    ours = arrowport_export(emu, "narrow_sink?format=record", tmp_path / "back.arrow")
    assert without_zone(ours).cast(table.schema).equals(table)


@pytest.mark.parametrize("algo", [None, "zlib"])
def test_pyodps_record_blocks_and_create_partition(emu, tmp_path, algo):
    """PyODPS's record writer, two blocks, a partition created by the session; arrowport reads it."""
    o = odps(emu)
    table = o.get_table("sink_parts")
    part = f"pt=rec{algo or 'plain'}"
    kwargs = {"compress_option": CompressOption(compress_algo=algo)} if algo else {}
    tunnel = TableTunnel(o)
    session = tunnel.create_upload_session(table.name, partition_spec=part, create_partition=True, **kwargs)
    for block in (0, 1):
        with session.open_record_writer(block) as writer:
            for i in range(block * 100, block * 100 + 100):
                writer.write(table.new_record([i, f"name {i}" if i % 3 else None]))
    session.commit([0, 1])
    ours = arrowport_export(emu, f"sink_parts?partition={part.replace('=', '%3D')}", tmp_path / "p.arrow")
    assert ours["id"].to_pylist() == list(range(200))
    assert ours["name"].to_pylist() == [f"name {i}" if i % 3 else None for i in range(200)]


# ---------------------------------------------------------------------------------------
# PyODPS writes into the emulator and reads back with its own readers. Every test that
# writes `sink_target` overwrites it first, so their order does not matter; the partitions
# of `sink_parts` are each test's own.

SINK_COLUMNS = [
    ("id", "bigint"),
    ("name", "string"),
    ("amount", "decimal(18,2)"),
    ("ts", "datetime"),
    ("vec", "array<float>"),
    ("tags", "map<string,bigint>"),
]


def sink_rows(start, count):
    """`sink_target` rows as plain Python: NULLs in every nullable column, non-ASCII text,
    negative decimals, pre-epoch datetimes, NULL elements and map values, map keys out of
    order, floats that float32 holds exactly."""
    rows = []
    for i in range(start, start + count):
        rows.append({
            "id": i,
            "name": None if i % 4 == 1 else f"名前 {i} ✓",
            "amount": None if i % 5 == 2 else decimal.Decimal(f"{'-' if i % 2 else ''}{i}.{i % 100:02d}"),
            "ts": None if i % 7 == 3 else datetime.datetime(1960, 2, 29, 12, 0, 0) + datetime.timedelta(days=i * 400, milliseconds=i),
            "vec": None if i % 6 == 4 else [i / 4, None, -1.5],
            "tags": None if i % 3 == 0 else {"z": i, "a": None, f"k{i}": -i},
        })
    return rows


def read_back(table, partition=None):
    """`table` (or one partition) through both PyODPS readers, which must agree. `reopen`:
    a table object reuses its last download session, which a commit since (through another
    object or a bare tunnel session) makes stale: the tunnel answers `TableModified`."""
    with table.open_reader(partition=partition, reopen=True) as reader:
        records = record_rows(reader)
    with table.open_reader(partition=partition, arrow=True, reopen=True) as reader:
        arrow = arrow_rows(reader.read_all())
    # The record reader appends partition columns; Arrow reads data columns only.
    keys = [c.name for c in table.table_schema.partitions]
    assert [{k: v for k, v in r.items() if k not in keys} for r in records] == arrow
    return records


def test_pyodps_write_table_appends_and_overwrites(emu):
    o = odps(emu)
    t = o.get_table("sink_target")
    assert [(c.name, str(c.type).lower()) for c in t.table_schema.columns] == SINK_COLUMNS
    first, second = sink_rows(0, 120), sink_rows(1000, 30)
    o.write_table("sink_target", [list(r.values()) for r in first], overwrite=True)
    assert read_back(t) == first
    # Without overwrite: appended.
    o.write_table("sink_target", [t.new_record(list(r.values())) for r in second])
    assert read_back(t) == first + second
    t.reload()
    assert t.size > 0
    with t.open_reader() as reader:
        assert reader.count == 150


@pytest.mark.parametrize("kind", ["pyarrow", "pandas"])
def test_pyodps_arrow_writer(emu, kind):
    rows = sink_rows(0, 300)
    table = pa.Table.from_pylist(
        [{**r, "tags": None if r["tags"] is None else list(r["tags"].items())} for r in rows],
        schema=pa.schema([
            pa.field("id", pa.int64()),
            pa.field("name", pa.string()),
            pa.field("amount", pa.decimal128(18, 2)),
            pa.field("ts", pa.timestamp("ms")),
            pa.field("vec", pa.list_(pa.float32())),
            pa.field("tags", pa.map_(pa.string(), pa.int64())),
        ]),
    )
    data = table if kind == "pyarrow" else table.to_pandas()
    t = odps(emu).get_table("sink_target")
    with t.open_writer(arrow=True, overwrite=True) as writer:
        writer.write(data)
    assert read_back(t) == rows


def test_pyodps_tunnel_two_blocks_zlib(emu):
    o = odps(emu)
    t = o.get_table("sink_target")
    o.write_table("sink_target", [list(r.values()) for r in sink_rows(500, 3)], overwrite=True)
    tunnel = TableTunnel(o)
    session = tunnel.create_upload_session(
        "sink_target", overwrite=True, compress_option=CompressOption(compress_algo="zlib")
    )
    blocks = {0: sink_rows(0, 40), 1: sink_rows(40, 60)}
    # Block 1 first: the commit orders by block id, not by arrival.
    for block in (1, 0):
        with session.open_record_writer(block) as writer:
            for row in blocks[block]:
                writer.write(t.new_record(list(row.values())))
    # Nothing is visible before the commit.
    stale = tunnel.create_download_session("sink_target")
    assert stale.count == 3
    session.commit([0, 1])
    assert read_back(t) == blocks[0] + blocks[1]
    # A download session from before the commit is refused, as the real tunnel does.
    with pytest.raises(errors.TableModified):
        with stale.open_record_reader(0, 1) as reader:
            list(reader)
    # One commit per session.
    with pytest.raises(Exception) as err:
        session.commit([0, 1])
    assert "StatusConflict" in str(err.value)
    # A block list that does not match the server's is refused by PyODPS itself.
    other = tunnel.create_upload_session("sink_target", overwrite=True)
    with other.open_record_writer(0) as writer:
        writer.write(t.new_record(list(sink_rows(7, 1)[0].values())))
    with pytest.raises(Exception):
        other.commit([0, 1])
    other.commit([0])
    assert read_back(t) == sink_rows(7, 1)


def test_pyodps_write_table_creates_partitions_with_sql(emu):
    o = odps(emu)
    t = o.get_table("sink_parts")
    rows = [[i, f"p{i}" if i % 3 else None] for i in range(50)]
    assert not t.exist_partition("pt=sql_made")
    with pytest.raises(errors.NoSuchPartition):
        o.write_table("sink_parts", rows, partition="pt=sql_made")
    # PyODPS runs `ALTER TABLE … ADD IF NOT EXISTS PARTITION` as an SQL instance first.
    o.write_table("sink_parts", rows, partition="pt=sql_made", create_partition=True)
    assert t.exist_partition("pt=sql_made")
    assert "pt='sql_made'" in [str(p.partition_spec) for p in t.partitions]
    expected = [{"id": i, "name": n, "pt": "sql_made"} for i, n in rows]
    assert read_back(t, "pt=sql_made") == expected
    # The partition exists now: no SQL, rows appended.
    o.write_table("sink_parts", rows[:5], partition="pt=sql_made", create_partition=True)
    assert read_back(t, "pt=sql_made") == expected + expected[:5]
    # create_partition directly, and as an SQL error when it exists already.
    t.create_partition("pt=sql_direct")
    assert t.exist_partition("pt=sql_direct")
    with pytest.raises(errors.ODPSError) as err:
        t.create_partition("pt=sql_direct")
    assert "already exists" in str(err.value)
    with t.open_writer(partition="pt=sql_direct", arrow=True) as writer:
        writer.write(pa.table({"id": pa.array([1, 2], pa.int64()), "name": ["x", None]}))
    assert read_back(t, "pt=sql_direct") == [
        {"id": 1, "name": "x", "pt": "sql_direct"},
        {"id": 2, "name": None, "pt": "sql_direct"},
    ]
