"""Reading every datagen type in-process, through pyarrow, polars and duckdb, value for value
against the CLI's Parquet output of the same source."""

import gc
import os
import subprocess
import sys

import duckdb
import polars as pl
import polars.testing
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

import arrowport
from conftest import cli

SOURCE = "datagen://?rows=5000&profile=all&seed=7"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "all.parquet"
    cli("export", SOURCE, path)
    return path


def test_pyarrow_reads_every_type_as_the_cli_writes_it(reference):
    expected = pq.read_table(reference)
    got = arrowport.read(SOURCE).read_all()
    assert isinstance(got, pa.Table)
    assert got.schema.names == expected.schema.names
    assert len(got.schema) >= 20, "the `all` profile covers every type we map"
    for name in expected.schema.names:
        assert got[name].type == expected[name].type, name
        assert got[name].to_pylist() == expected[name].to_pylist(), name
    # The PyCapsule interface and the reader give the same table.
    assert pa.table(arrowport.read(SOURCE)).equals(got)
    assert arrowport.read(SOURCE).to_reader().read_all().equals(got)
    assert pa.Table.from_batches(list(arrowport.read(SOURCE)), schema=got.schema).equals(got)


def test_polars_reads_every_type_as_it_reads_the_cli_parquet(reference):
    expected = pl.read_parquet(reference)
    polars.testing.assert_frame_equal(pl.DataFrame(arrowport.read(SOURCE)), expected)
    polars.testing.assert_frame_equal(arrowport.read(SOURCE).to_polars(), expected)
    # from_arrow takes a stream as one struct column.
    struct = pl.from_arrow(arrowport.read(SOURCE))
    polars.testing.assert_frame_equal(struct.struct.unnest(), expected)


def test_duckdb_reads_every_type_as_it_reads_the_cli_parquet(reference):
    r = arrowport.read(SOURCE)  # noqa: F841 (duckdb finds it by its name)
    got = duckdb.sql("select * from r order by id").fetchall()
    expected = duckdb.sql(f"select * from read_parquet('{reference}') order by id").fetchall()
    assert len(got) == 5000
    # duckdb's Parquet reader turns fixed-size lists (FLOAT[128], a tuple in Python) into
    # lists (FLOAT[]); the values must be the same.
    assert [arrays_as_lists(row) for row in got] == [arrays_as_lists(row) for row in expected]


def arrays_as_lists(row):
    return tuple(list(v) if isinstance(v, tuple) else v for v in row)


def test_pandas(reference):
    expected = pq.read_table(reference).to_pandas()
    got = arrowport.read(SOURCE, columns=["id", "int32", "float64", "text"]).to_pandas()
    assert got.equals(expected[["id", "int32", "float64", "text"]])


def test_columns_limit_and_parallel_are_the_clis(reference, tmp_path):
    out = tmp_path / "some.parquet"
    cli("export", SOURCE, out, "--columns", "text,id", "--limit", "1234", "--parallel", "2")
    got = arrowport.read(SOURCE, columns=["text", "id"], limit=1234, parallel=2).read_all()
    assert got.equals(pq.read_table(out))
    assert arrowport.read(SOURCE, columns="text,id", limit=1234).read_all().equals(got)
    assert arrowport.read(SOURCE, limit=0).read_all().num_rows == 0


def test_schema_is_known_without_reading():
    schema = arrowport.schema(SOURCE)
    assert isinstance(schema, pa.Schema)
    assert schema.field("id").type == pa.int64()
    assert arrowport.read(SOURCE, columns=["text", "id"]).schema.names == ["text", "id"]


def test_options_as_keywords_are_the_url_query():
    by_url = arrowport.read("datagen://?rows=300&profile=narrow&seed=3").read_all()
    by_keywords = arrowport.read("datagen://", rows=300, profile="narrow", seed=3).read_all()
    assert by_keywords.equals(by_url)


def rss_bytes():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_iterating_holds_a_few_batches_not_the_table():
    # 400,000 rows of 128-dim float32 vectors: about 200 MiB in all.
    r = arrowport.read("datagen://?rows=400000&profile=vectors")
    gc.collect()
    before = rss_bytes()
    rows, total, peak = 0, 0, 0
    for batch in r:
        rows += batch.num_rows
        total += batch.nbytes
        peak = max(peak, rss_bytes() - before)
        del batch
    assert rows == 400_000
    assert total > 200 * 2**20
    # A few batches per reading task, and what the allocator keeps: well under the data.
    assert peak < total / 2, f"iterating {total / 2**20:.0f} MiB grew the process by {peak / 2**20:.0f} MiB"


def test_help_lists_every_plugins_options():
    doc = arrowport.read.__doc__
    for plugin, option in [("datagen", "rows"), ("maxcompute", "tunnel_endpoint"),
                           ("vikingdb", "tos_path"), ("parquet", "compression")]:
        assert f"{plugin}:" in doc and option in doc, (plugin, option)


def test_reading_into_pyarrow_or_polars_imports_no_pandas():
    # `pyarrow.table()` imports pandas to rule out a DataFrame; a reader of a table into
    # pyarrow or polars should not pay that quarter of a second.
    script = (
        "import sys, arrowport, polars\n"
        "r = arrowport.read('datagen://?rows=1000&profile=narrow')\n"
        "assert r.read_all().num_rows == 1000 and len(r.to_polars()) == 1000\n"
        "print('pandas' in sys.modules)\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False", out.stderr


def test_small_source_batches_reach_python_merged():
    # 100-row batches: handed over one by one, 50,000 rows would be 500 chunks of a table.
    url = "datagen://?rows=50000&profile=narrow&batch_size=100"
    table = arrowport.read(url).read_all()
    assert table.num_rows == 50_000
    # Merged to about 4 MiB a batch: a few chunks.
    assert table["id"].num_chunks <= 2
    assert table["id"].to_pylist() == list(range(50_000))
    sizes = [b.num_rows for b in arrowport.read(url)]
    assert sum(sizes) == 50_000 and len(sizes) <= 2
