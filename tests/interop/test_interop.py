"""pyarrow, polars and duckdb read every format arrowport writes and agree with arrowport.

The reference is arrowport's own Arrow IPC file (lossless by construction). For every other
output, each library reads it and must find the same row count and the same checksum over a
set of columns: the sum of `id`, the sum and null count of `int32`, the sum of `float64`, and a
SHA-256 over `text` in `id` order.
"""

import hashlib
import io
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.dataset as pads
import pyarrow.ipc as ipc
import pyarrow.json as pajson
import pyarrow.parquet as pq
import pytest

BIN = os.environ.get("ARROWPORT_BIN") or str(Path(__file__).resolve().parents[2] / "target/debug/arrowport")
ROWS = 20_000
SOURCE = f"datagen://?rows={ROWS}&profile=all&seed=7"
CHECKED = ["id", "int32", "float64", "text"]
# CSV cannot carry nested types; it gets the scalar columns.
CSV_COLUMNS = "id,int8,int16,int32,uint64,float32,float64,text,flag,date,ts_ms,ts_us_utc,decimal"


def arrowport(*args, cwd):
    done = subprocess.run([BIN, *args, "-q"], cwd=cwd, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    d = tmp_path_factory.mktemp("interop")
    for name in ["ref.arrow", "a.parquet", "a.arrows", "a.ndjson", "a.json", "parts/"]:
        extra = ["-o", "max_rows_per_file=6000"] if name.endswith("/") else []
        arrowport("export", SOURCE, name, *extra, cwd=d)
    arrowport("export", SOURCE, "a.csv", "--columns", CSV_COLUMNS, cwd=d)
    return d


def checksum(rows, ids, int32s, floats, texts, csv=False):
    """The agreed-upon fingerprint of a table, from plain Python lists."""
    order = sorted(range(len(ids)), key=lambda i: ids[i])
    h = hashlib.sha256()
    for i in order:
        t = texts[i]
        # CSV writes null and "" alike; every other format keeps them apart.
        h.update(b"" if t is None and csv else (b"\x00" if t is None else t.encode()))
        h.update(b"\x1f")
    return {
        "rows": rows,
        "id_sum": sum(ids),
        "int32_sum": sum(v for v in int32s if v is not None),
        "int32_nulls": sum(v is None for v in int32s),
        "float64_sum": round(math.fsum(v for v in floats if v is not None), 3),
        "text_sha256": h.hexdigest(),
    }


def from_arrow(table, csv=False):
    cols = {c: table.column(c).to_pylist() for c in CHECKED}
    return checksum(table.num_rows, cols["id"], cols["int32"], cols["float64"], cols["text"], csv)


def from_polars(df, csv=False):
    return checksum(df.height, *(df[c].to_list() for c in CHECKED), csv=csv)


def from_duckdb(rel, csv=False):
    rows = rel.project(", ".join(f'"{c}"' for c in CHECKED)).fetchall()
    cols = list(zip(*rows)) if rows else [[] for _ in CHECKED]
    return checksum(len(rows), *map(list, cols), csv=csv)


@pytest.fixture(scope="module")
def reference(outputs):
    with ipc.open_file(outputs / "ref.arrow") as f:
        table = f.read_all()
    assert table.num_rows == ROWS
    return table


def expected(reference, csv=False):
    return from_arrow(reference, csv)


def test_parquet(outputs, reference):
    p = str(outputs / "a.parquet")
    want = expected(reference)
    assert from_arrow(pq.read_table(p)) == want
    assert from_polars(pl.read_parquet(p)) == want
    assert from_duckdb(duckdb.read_parquet(p)) == want


def test_parquet_keeps_every_type(outputs, reference):
    table = pq.read_table(outputs / "a.parquet")
    assert table.schema.names == reference.schema.names
    for field in reference.schema:
        assert table.schema.field(field.name).type == field.type, field.name
    assert table.equals(reference)


def test_directory_of_parts(outputs, reference):
    d = outputs / "parts"
    manifest = json.loads((d / "_manifest.json").read_text())
    assert sum(f["rows"] for f in manifest["files"]) == ROWS
    for f in manifest["files"]:
        data = (d / f["path"]).read_bytes()
        assert hashlib.sha256(data).hexdigest() == f["sha256"]
        assert len(data) == f["bytes"]
    want = expected(reference)
    assert from_arrow(pads.dataset(str(d), format="parquet").to_table()) == want
    assert from_polars(pl.read_parquet(str(d / "*.parquet"))) == want
    assert from_duckdb(duckdb.read_parquet(str(d / "*.parquet"))) == want


def test_arrow_ipc_stream(outputs, reference):
    p = outputs / "a.arrows"
    want = expected(reference)
    with ipc.open_stream(p) as r:
        table = r.read_all()
    assert table.equals(reference)
    assert from_polars(pl.read_ipc_stream(p)) == want
    # duckdb scans Arrow through the C data interface.
    with ipc.open_stream(p) as r:
        assert from_duckdb(duckdb.from_arrow(r)) == want


def test_arrow_ipc_file(outputs, reference):
    p = outputs / "ref.arrow"
    assert from_polars(pl.read_ipc(p)) == expected(reference)
    with ipc.open_file(p) as f:
        assert from_duckdb(duckdb.from_arrow(f.read_all())) == expected(reference)


def test_ndjson(outputs, reference):
    p = str(outputs / "a.ndjson")
    want = expected(reference)
    assert from_arrow(pajson.read_json(p)) == want
    assert from_polars(pl.read_ndjson(p, infer_schema_length=None)) == want
    assert from_duckdb(duckdb.read_json(p, format="newline_delimited")) == want


def test_json_array(outputs, reference):
    p = outputs / "a.json"
    want = expected(reference)
    # pyarrow has no JSON-array reader: the document is parsed as JSON and the checked columns
    # are handed to pyarrow (uint64 values beyond int64 would defeat its type inference).
    rows = [{c: r.get(c) for c in CHECKED} for r in json.loads(p.read_text())]
    assert from_arrow(pa.Table.from_pylist(rows)) == want
    assert from_polars(pl.read_json(p, infer_schema_length=None)) == want
    assert from_duckdb(duckdb.read_json(str(p), format="array")) == want


def test_csv(outputs, reference):
    p = str(outputs / "a.csv")
    want = expected(reference, csv=True)
    opts = pacsv.ConvertOptions(column_types={"text": pa.string()}, strings_can_be_null=True)
    # `text` holds newlines inside quoted fields, which pyarrow parses only when told to.
    parse = pacsv.ParseOptions(newlines_in_values=True)
    assert from_arrow(pacsv.read_csv(p, parse_options=parse, convert_options=opts), csv=True) == want
    assert from_polars(pl.read_csv(p, schema_overrides={"text": pl.String}), csv=True) == want
    assert from_duckdb(duckdb.read_csv(p, dtype={"text": "VARCHAR"}), csv=True) == want


def test_stdout_pipe_into_pyarrow():
    reader = "import sys, pyarrow as pa; print(pa.ipc.open_stream(sys.stdin.buffer).read_all().num_rows)"
    cmd = f"'{BIN}' export 'datagen://?rows=100000' - | '{sys.executable}' -c '{reader}'"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "100000"


@pytest.mark.parametrize("fmt", ["arrows", "ndjson", "csv", "parquet"])
def test_stdout_formats(fmt):
    args = [BIN, "export", "datagen://?rows=5000&profile=narrow", "-", "--format", fmt, "-q"]
    data = subprocess.run(args, capture_output=True, check=True).stdout
    if fmt == "arrows":
        n = ipc.open_stream(data).read_all().num_rows
    elif fmt == "ndjson":
        n = pl.read_ndjson(io.BytesIO(data)).height
    elif fmt == "csv":
        n = pl.read_csv(io.BytesIO(data)).height
    else:
        n = pq.read_table(pa.BufferReader(data)).num_rows
    assert n == 5000
