"""MaxCompute table -> Parquet: arrowport against PyODPS, same run, same emulator, same table.

`arrowport emulate maxcompute` serves the `narrow` table (id bigint, value double, category
string, ts datetime, flag boolean) with `--rows` rows. Both contenders turn it into one zstd
Parquet file:

- PyODPS, as its docs read a table into Arrow: `t.open_reader(arrow=True)` then
  `read_all()` and pyarrow's `write_table`;
- arrowport: `arrowport export 'maxcompute://.../narrow' out.parquet --parallel N`, which opens a
  download session, reads row ranges in parallel (Arrow tunnel format, every chunk CRC checked)
  and streams them into the Parquet writer.

Both outputs are checked to hold the same rows. Printed: seconds and peak RSS of each, the ratio.

Usage: python bench/maxcompute_vs_pyodps.py [--rows 5000000] [--repeat 3] [--parallel 2]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.compute as pc
import pyarrow.parquet as pq

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("ARROWPORT_BIN", str(ROOT / "target/release/arrowport"))

# PyODPS's way, as a child process so its peak RSS is its own.
PYODPS_WAY = """
import json, sys
import pyarrow.parquet as pq
from odps import ODPS
emu, out, compress = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3] == "zstd"
o = ODPS(emu["access_id"], emu["secret_access_key"], emu["project"],
         endpoint=emu["endpoint"], tunnel_endpoint=emu["tunnel_endpoint"])
t = o.get_table("narrow")
kwargs = {"compress_option": None}
if compress:
    from odps.tunnel import CompressOption
    kwargs = {"compress_option": CompressOption(compress_algo="zstd")}
with t.open_reader(arrow=True, **kwargs) as reader:
    table = reader.read_all()
pq.write_table(table, out, compression="zstd")
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--compression", choices=["none", "zstd"], default="none",
                    help="tunnel compression for both contenders (loopback: none)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrowport-bench-"))
    emulator = subprocess.Popen(
        [BIN, "emulate", "maxcompute", "--narrow-rows", str(args.rows), "--rows", "10", "-q"],
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


def run(args, emu, work):
    theirs = work / "pyodps.parquet"
    t_theirs, rss_theirs = measure.best_of(
        args.repeat,
        [sys.executable, "-c", PYODPS_WAY, json.dumps(emu), str(theirs), args.compression],
        before=lambda: theirs.unlink(missing_ok=True),
    )

    ours = work / "arrowport.parquet"
    url = (
        f"maxcompute://{emu['project']}/narrow?endpoint={emu['endpoint']}"
        f"&tunnel_endpoint={emu['tunnel_endpoint']}&compression={args.compression}"
    )
    env = dict(
        os.environ,
        ALIBABA_CLOUD_ACCESS_KEY_ID=emu["access_id"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=emu["secret_access_key"],
    )
    cmd = [BIN, "export", url, str(ours), "--overwrite", "-q", "--parallel", str(args.parallel),
           "-o", "sink.compression=zstd"]
    # Each side's output is removed before each of its runs, so neither pays for replacing it.
    t_ours, rss_ours = measure.best_of(
        args.repeat, cmd, env=env, before=lambda: ours.unlink(missing_ok=True)
    )

    a, b = pq.read_table(ours), pq.read_table(theirs)
    assert a.num_rows == b.num_rows == args.rows, (a.num_rows, b.num_rows)
    for column in ("id", "value"):
        assert pc.sum(a[column]).as_py() == pc.sum(b[column]).as_py(), column
    assert a["category"].equals(b["category"])

    print(f"MaxCompute table -> parquet, {args.rows:,} narrow rows, tunnel compression "
          f"{args.compression}, arrowport --parallel {args.parallel}, best of {args.repeat}")
    print(f"  arrowport           {t_ours:7.2f} s  {args.rows / t_ours:11,.0f} rows/s  peak RSS {rss_ours:7.1f} MiB")
    print(f"  PyODPS + pyarrow    {t_theirs:7.2f} s  {args.rows / t_theirs:11,.0f} rows/s  peak RSS {rss_theirs:7.1f} MiB")
    print(f"  ratio               {t_theirs / t_ours:.2f}x faster")


if __name__ == "__main__":
    main()
