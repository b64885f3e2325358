"""Rows -> a MaxCompute table: arrowport's sink against PyODPS's `write_table`, same run, same
emulator, same rows.

`arrowport emulate maxcompute` serves an empty `narrow_sink` table (id bigint, value double,
category string, ts timestamp_ntz, flag boolean). Both contenders write the same `--rows` rows of
the datagen `narrow` profile into it with `overwrite`:

- PyODPS: the rows as an Arrow table (made from arrowport's own Arrow IPC output, so the data is
  identical and its making is not timed), then `o.write_table('narrow_sink', table,
  overwrite=True)` — the documented bulk write (upload session, blocks, commit);
- arrowport: `arrowport export 'datagen://?rows=N&profile=narrow' 'maxcompute://.../narrow_sink'
  -o sink.overwrite=true`, generating, encoding, uploading in parallel blocks and committing.

After each write the table is read back (with PyODPS) and its row count and id sum checked.
Printed: seconds and peak RSS of each, the ratio.

Usage: python bench/maxcompute_sink_vs_pyodps.py [--rows 5000000] [--repeat 3]
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

PYODPS_WAY = """
import json, sys
import pyarrow as pa
from odps import ODPS
emu, source = json.loads(sys.argv[1]), sys.argv[2]
table = pa.ipc.open_file(source).read_all()
o = ODPS(emu["access_id"], emu["secret_access_key"], emu["project"],
         endpoint=emu["endpoint"], tunnel_endpoint=emu["tunnel_endpoint"])
o.write_table("narrow_sink", table, overwrite=True)
"""

CHECK = """
import json, sys
import pyarrow.compute as pc
from odps import ODPS
emu = json.loads(sys.argv[1])
o = ODPS(emu["access_id"], emu["secret_access_key"], emu["project"],
         endpoint=emu["endpoint"], tunnel_endpoint=emu["tunnel_endpoint"])
with o.get_table("narrow_sink").open_reader(arrow=True) as r:
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


def check(emu, rows):
    out = subprocess.run([sys.executable, "-c", CHECK, json.dumps(emu)], capture_output=True,
                         text=True, check=True).stdout
    count, total = json.loads(out)
    assert count == rows and total == rows * (rows - 1) // 2, (count, total)


def run(args, emu, work):
    source = f"datagen://?rows={args.rows}&profile=narrow"
    data = work / "rows.arrow"
    subprocess.run([BIN, "export", source, str(data), "-q"], check=True)

    t_theirs, rss_theirs = measure.best_of(
        args.repeat, [sys.executable, "-c", PYODPS_WAY, json.dumps(emu), str(data)]
    )
    check(emu, args.rows)

    env = dict(
        os.environ,
        ALIBABA_CLOUD_ACCESS_KEY_ID=emu["access_id"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=emu["secret_access_key"],
    )
    sink = (f"maxcompute://{emu['project']}/narrow_sink?endpoint={emu['endpoint']}"
            f"&tunnel_endpoint={emu['tunnel_endpoint']}&overwrite=true&compression=none")
    cmd = [BIN, "export", source, sink, "-q"]
    t_ours, rss_ours = measure.best_of(args.repeat, cmd, env=env)
    check(emu, args.rows)

    print(f"rows -> MaxCompute table, {args.rows:,} narrow rows, overwrite, best of {args.repeat}")
    print(f"  arrowport           {t_ours:7.2f} s  {args.rows / t_ours:11,.0f} rows/s  peak RSS {rss_ours:7.1f} MiB")
    print(f"  PyODPS write_table  {t_theirs:7.2f} s  {args.rows / t_theirs:11,.0f} rows/s  peak RSS {rss_theirs:7.1f} MiB")
    print(f"  ratio               {t_theirs / t_ours:.2f}x faster")


if __name__ == "__main__":
    main()
