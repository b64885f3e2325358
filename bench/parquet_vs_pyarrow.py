"""datagen -> Parquet: arrowport against pyarrow writing the same table, in the same run.

arrowport generates the `narrow` profile and writes Parquet (zstd, 1,048,576-row groups).
pyarrow writes the very same table (arrowport's Arrow IPC output of the same seed, memory-
mapped, so pyarrow gets its input for free) with the same codec and row-group size. Both
files are checked to hold the same rows. Printed: rows/s of each, the ratio, peak RSS of each,
and arrowport's peak RSS at 1M rows against 10M rows (flat memory).

Usage: python bench/parquet_vs_pyarrow.py [--rows 10000000] [--repeat 3]
"""

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("ARROWPORT_BIN", str(ROOT / "target/release/arrowport"))
ROW_GROUP = 1_048_576

PYARROW_WRITER = """
import sys, pyarrow as pa, pyarrow.parquet as pq
src, dst, rg = sys.argv[1], sys.argv[2], int(sys.argv[3])
with pa.memory_map(src) as f:
    table = pa.ipc.open_file(f).read_all()
pq.write_table(table, dst, compression="zstd", row_group_size=rg)
"""


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


def arrowport_cmd(rows, out):
    url = f"datagen://?rows={rows}&profile=narrow&seed=1"
    return [BIN, "export", url, str(out), "--overwrite", "-q", "-o", f"row_group_size={ROW_GROUP}", "-o", "compression=zstd"]


def run(args, work):
    rows = args.rows
    ipc_path = work / "input.arrow"
    measure.run([BIN, "export", f"datagen://?rows={rows}&profile=narrow&seed=1", str(ipc_path), "-q"])

    ours = work / "arrowport.parquet"
    theirs = work / "pyarrow.parquet"
    t_ours, rss_ours = measure.best_of(args.repeat, arrowport_cmd(rows, ours))
    t_theirs, rss_theirs = measure.best_of(
        args.repeat,
        [sys.executable, "-c", PYARROW_WRITER, str(ipc_path), str(theirs), str(ROW_GROUP)],
        before=lambda: theirs.unlink(missing_ok=True),
    )
    small = max(rows // 10, 1)
    _, rss_small = measure.best_of(1, arrowport_cmd(small, work / "small.parquet"))

    a, b = pq.ParquetFile(ours), pq.ParquetFile(theirs)
    assert a.metadata.num_rows == b.metadata.num_rows == rows, (a.metadata.num_rows, b.metadata.num_rows)
    assert a.read().equals(b.read()), "arrowport and pyarrow wrote different data"

    ours_rate, theirs_rate = rows / t_ours, rows / t_theirs
    print(f"datagen -> parquet, {rows:,} rows of profile narrow, zstd, {ROW_GROUP:,}-row groups, best of {args.repeat}")
    print(f"  arrowport  {t_ours:7.2f} s  {ours_rate:13,.0f} rows/s  peak RSS {rss_ours:7.1f} MiB  file {ours.stat().st_size:,} B")
    print(f"  pyarrow    {t_theirs:7.2f} s  {theirs_rate:13,.0f} rows/s  peak RSS {rss_theirs:7.1f} MiB  file {theirs.stat().st_size:,} B")
    print(f"  ratio      {ours_rate / theirs_rate:.2f}x pyarrow's rows/s")
    print(f"  arrowport peak RSS at {small:,} rows: {rss_small:.1f} MiB; at {rows:,} rows: {rss_ours:.1f} MiB "
          f"({(rss_ours / rss_small - 1) * 100:+.0f}%)")


if __name__ == "__main__":
    main()
