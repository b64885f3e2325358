"""A local Parquet file -> a new MaxCompute table: arrowport's `create_table=true` against
PyODPS `write_table(table, create_table=True)`, same run, same emulator, same file.

The file holds `--rows` rows of the datagen `narrow` profile (made once by arrowport, not
timed). Every run writes a table of a new name, so both contenders pay for the `CREATE TABLE`
SQL instance as well as the upload:

- PyODPS: `pq.read_table(file)`, `ts` cast to timestamp[ns] (PyODPS infers no MaxCompute type
  for timestamp[us], `type_mapping` included), then `o.write_table(name, table,
  create_table=True)` (its schema inferred from the Arrow table, the table made by an SQL
  instance, the rows uploaded as Arrow blocks and committed);
- arrowport: `arrowport export file.parquet 'maxcompute://…/name?create_table=true'`.

Each table is read back with PyODPS afterwards and its row count and id sum checked.
Printed: seconds and peak RSS of each, the ratio.

Usage: python bench/maxcompute_create_table_vs_pyodps.py [--rows 5000000] [--repeat 3]
"""

import argparse
import itertools
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

PYODPS_WAY = """
import json, sys
import pyarrow as pa
import pyarrow.parquet as pq
from odps import ODPS
emu, source, name = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
table = pq.read_table(source)
o = ODPS(emu["access_id"], emu["secret_access_key"], emu["project"],
         endpoint=emu["endpoint"], tunnel_endpoint=emu["tunnel_endpoint"])
# PyODPS infers no type for timestamp[us] (nor with `type_mapping`); nanoseconds it maps.
table = table.set_column(table.schema.get_field_index("ts"), "ts", table["ts"].cast(pa.timestamp("ns")))
o.write_table(name, table, create_table=True)
"""

CHECK = """
import json, sys
import pyarrow.compute as pc
from odps import ODPS
emu, name = json.loads(sys.argv[1]), sys.argv[2]
o = ODPS(emu["access_id"], emu["secret_access_key"], emu["project"],
         endpoint=emu["endpoint"], tunnel_endpoint=emu["tunnel_endpoint"])
with o.get_table(name).open_reader(arrow=True) as r:
    t = r.read_all()
print(json.dumps([t.num_rows, pc.sum(t["id"]).as_py()]))
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrowport-bench-"))
    emulator = subprocess.Popen(
        [BIN, "emulate", "maxcompute", "--rows", "10", "--narrow-rows", "10", "-q"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        emu = json.loads(emulator.stdout.readline())
        run(args, emu, work)
    finally:
        emulator.terminate()
        emulator.wait()
        shutil.rmtree(work, ignore_errors=True)


def check(emu, name, rows):
    out = subprocess.run([sys.executable, "-c", CHECK, json.dumps(emu), name], capture_output=True,
                         text=True, check=True).stdout
    count, total = json.loads(out)
    assert count == rows and total == rows * (rows - 1) // 2, (name, count, total)


def run(args, emu, work):
    data = work / "rows.parquet"
    subprocess.run([BIN, "export", f"datagen://?rows={args.rows}&profile=narrow", str(data), "-q"],
                   check=True)
    names = (f"made_{i}" for i in itertools.count())
    made = []

    def pyodps_cmd():
        made.append(("pyodps", next(names)))
        return [sys.executable, "-c", PYODPS_WAY, json.dumps(emu), str(data), made[-1][1]]

    env = dict(
        os.environ,
        ALIBABA_CLOUD_ACCESS_KEY_ID=emu["access_id"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=emu["secret_access_key"],
    )

    def arrowport_cmd():
        made.append(("arrowport", next(names)))
        sink = (f"maxcompute://{emu['project']}/{made[-1][1]}?endpoint={emu['endpoint']}"
                f"&tunnel_endpoint={emu['tunnel_endpoint']}&create_table=true&compression=none")
        return [BIN, "export", str(data), sink, "-q"]

    t_theirs, rss_theirs = best_of_fresh(args.repeat, pyodps_cmd)
    t_ours, rss_ours = best_of_fresh(args.repeat, arrowport_cmd, env=env)
    for _, name in made:
        check(emu, name, args.rows)

    print(f"Parquet file -> new MaxCompute table, {args.rows:,} narrow rows, create_table, best of {args.repeat}")
    print(f"  arrowport                         {t_ours:7.2f} s  {args.rows / t_ours:11,.0f} rows/s"
          f"  peak RSS {rss_ours:7.1f} MiB")
    print(f"  PyODPS write_table(create_table)  {t_theirs:7.2f} s  {args.rows / t_theirs:11,.0f} rows/s"
          f"  peak RSS {rss_theirs:7.1f} MiB")
    print(f"  ratio                             {t_theirs / t_ours:.2f}x faster")


def best_of_fresh(n, make_cmd, env=None):
    """`measure.best_of` with a new command (a new table) each run."""
    times, peaks = [], []
    for _ in range(n):
        os.sync()
        t, rss = measure.run(make_cmd(), env=env)
        times.append(t)
        peaks.append(rss)
    return min(times), max(peaks)


if __name__ == "__main__":
    main()
