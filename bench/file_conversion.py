"""File conversion, 10M narrow rows: arrowport against duckdb, polars and pyarrow, same run.

Inputs (made once by arrowport, not timed): the datagen `narrow` profile (id i64, value f64,
category utf8, ts timestamp[us], flag bool) as a CSV file and as a zstd Parquet file.
Conversions, each tool with its default threads and the same output codec:

- CSV -> Parquet (zstd, each tool's default level):
  arrowport `export in.csv out.parquet -o compression=zstd`;
  duckdb `COPY (SELECT * FROM read_csv('in.csv')) TO 'out.parquet' (FORMAT parquet, COMPRESSION zstd)`;
  polars `pl.scan_csv(in).sink_parquet(out, compression='zstd')`;
  pyarrow `pyarrow.csv.open_csv` batches into a `ParquetWriter(compression='zstd')`.
- Parquet -> NDJSON: arrowport; duckdb `COPY … TO 'out.ndjson' (FORMAT json)`;
  polars `scan_parquet(in).sink_ndjson(out)`; pyarrow has no JSON writer (not measured).
- Parquet -> CSV: arrowport; duckdb `COPY … TO 'out.csv' (HEADER)`; polars `sink_csv`;
  pyarrow `ParquetFile.iter_batches` into `pyarrow.csv.CSVWriter`.

Every output's row count is checked. Printed per conversion: seconds, rows/s and peak RSS of
each tool, and arrowport's rows/s over each peer's.

Usage: python bench/file_conversion.py [--rows 10000000] [--repeat 3]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("ARROWPORT_BIN", str(ROOT / "target/release/arrowport"))

DUCKDB = """
import sys, duckdb
src, dst, kind = sys.argv[1:4]
read = f"read_csv('{src}')" if src.endswith(".csv") else f"'{src}'"
opts = {"parquet": "FORMAT parquet, COMPRESSION zstd", "ndjson": "FORMAT json", "csv": "FORMAT csv, HEADER"}[kind]
duckdb.sql(f"COPY (SELECT * FROM {read}) TO '{dst}' ({opts})")
"""

POLARS = """
import sys, polars as pl
src, dst, kind = sys.argv[1:4]
frame = pl.scan_csv(src) if src.endswith(".csv") else pl.scan_parquet(src)
if kind == "parquet":
    frame.sink_parquet(dst, compression="zstd")
elif kind == "ndjson":
    frame.sink_ndjson(dst)
else:
    frame.sink_csv(dst)
"""

PYARROW = """
import sys
import pyarrow.csv as csv, pyarrow.parquet as pq
src, dst, kind = sys.argv[1:4]
if kind == "parquet":
    reader = csv.open_csv(src)
    with pq.ParquetWriter(dst, reader.schema, compression="zstd") as writer:
        for batch in reader:
            writer.write_batch(batch)
else:
    source = pq.ParquetFile(src)
    with csv.CSVWriter(dst, source.schema_arrow) as writer:
        for batch in source.iter_batches():
            writer.write_batch(batch)
"""

COUNT = """
import sys, duckdb
duckdb.sql("SET enable_progress_bar = false")
path, kind = sys.argv[1:3]
read = {"parquet": f"'{path}'", "ndjson": f"read_json('{path}', format='newline_delimited')",
        "csv": f"read_csv('{path}')"}[kind]
print(duckdb.sql(f"SELECT count(*) FROM {read}").fetchall()[0][0])
"""


def count(path, kind):
    out = subprocess.run([sys.executable, "-c", COUNT, str(path), kind], capture_output=True,
                         text=True, check=True).stdout
    return int(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=10_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrowport-bench-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args, work):
    source = f"datagen://?rows={args.rows}&profile=narrow&seed=3"
    csv_in, parquet_in = work / "in.csv", work / "in.parquet"
    subprocess.run([BIN, "export", source, str(csv_in), "-q"], check=True)
    subprocess.run([BIN, "export", source, str(parquet_in), "-q"], check=True)
    print(f"inputs: {args.rows:,} narrow rows; CSV {csv_in.stat().st_size:,} B, "
          f"Parquet (zstd) {parquet_in.stat().st_size:,} B; best of {args.repeat}, {os.cpu_count()} cores")
    conversions = [("CSV -> Parquet", csv_in, "parquet"), ("Parquet -> NDJSON", parquet_in, "ndjson"),
                   ("Parquet -> CSV", parquet_in, "csv")]
    results = {}
    for title, src, kind in conversions:
        out = work / f"out.{kind}"
        contenders = {
            "arrowport": [BIN, "export", str(src), str(out), "-q", "--overwrite"]
            + (["-o", "compression=zstd"] if kind == "parquet" else []),
            "duckdb": [sys.executable, "-c", DUCKDB, str(src), str(out), kind],
            "polars": [sys.executable, "-c", POLARS, str(src), str(out), kind],
        }
        if kind != "ndjson":
            contenders["pyarrow"] = [sys.executable, "-c", PYARROW, str(src), str(out), kind]
        print(f"{title}")
        figures = {}
        for name, cmd in contenders.items():
            def clean():
                if out.exists():
                    out.unlink()
            seconds, rss = measure.best_of(args.repeat, cmd, before=clean)
            rows = count(out, kind)
            assert rows == args.rows, (name, title, rows)
            figures[name] = (seconds, rss)
            print(f"  {name:<10} {seconds:6.2f} s {args.rows / seconds:12,.0f} rows/s  peak RSS {rss:7.1f} MiB"
                  f"  output {out.stat().st_size:,} B")
        ours = figures["arrowport"][0]
        ratios = ", ".join(f"{figures[n][0] / ours:.2f}x {n}" for n in figures if n != "arrowport")
        print(f"  arrowport rows/s: {ratios}")
        results[title] = figures
    print(json.dumps({t: {n: [round(s, 3), round(r, 1)] for n, (s, r) in f.items()} for t, f in results.items()}))


if __name__ == "__main__":
    main()
