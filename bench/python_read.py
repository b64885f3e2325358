"""Tables into Python DataFrames: the arrowport module in-process against the way a Python
user would otherwise do it, same run, same emulators, same rows.

- MaxCompute, `--rows` narrow rows (id bigint, value double, category string, ts datetime,
  flag boolean) into a `pyarrow.Table`, every contender with the same tunnel compression
  (`--compression`, none by default as in PyODPS):
  `arrowport.read(url, parallel=N).read_all()`, against PyODPS
  `t.open_reader(arrow=True).read_all()`, and against the CLI piped into pyarrow
  (`arrowport export URL - --format arrows | pa.ipc.open_stream(...).read_all()`).
- VikingDB, `--viking-rows` rows with 128-dim vectors, one parquet export task (created once
  with the official `volcengine` SDK) into a `polars.DataFrame`: `arrowport.read(url +
  task_id).to_polars()`, against the docs' way: the `tos` SDK lists and downloads every part,
  pyarrow reads them, polars takes the table.

Each contender runs in its own Python process, timed around the read alone (imports and the
interpreter's start are not counted); its peak RSS is the child's own (wait4). Every result is
checked to hold the same rows (count and id sum).

The module is the release build: `cargo build --release -p arrowport -p arrowport-python`
(with PYO3_BUILD_EXTENSION_MODULE=1); this script stages target/release/lib_arrowport.so with
the package's Python files and puts them first on the children's path.

Usage: python bench/python_read.py [--rows 5000000] [--viking-rows 1000000] [--repeat 3]
       [--compression none|zstd] [--only maxcompute|vikingdb]
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
from vikingdb_vs_tos_sdk import create_task  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("ARROWPORT_BIN", str(ROOT / "target/release/arrowport"))
MODULE = os.environ.get("ARROWPORT_MODULE", str(ROOT / "target/release/lib_arrowport.so"))

# Every child prints one JSON line: seconds of the read, rows, id sum, bytes of the result.
REPORT = """
def report(seconds, table, nbytes):
    import json, pyarrow.compute as pc
    print(json.dumps({"seconds": seconds, "rows": table.num_rows,
                      "id_sum": int(pc.sum(table["id"]).as_py()), "nbytes": nbytes}))
"""

ARROWPORT_MC = REPORT + """
import sys, time
import pyarrow, arrowport
url, parallel = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
table = arrowport.read(url, parallel=parallel).read_all()
report(time.perf_counter() - start, table, table.nbytes)
"""

PYODPS_MC = REPORT + """
import json, sys, time
from odps import ODPS
emu, compress = json.loads(sys.argv[1]), sys.argv[2] == "zstd"
o = ODPS(emu["access_id"], emu["secret_access_key"], emu["project"],
         endpoint=emu["endpoint"], tunnel_endpoint=emu["tunnel_endpoint"])
kwargs = {"compress_option": None}
if compress:
    from odps.tunnel import CompressOption
    kwargs = {"compress_option": CompressOption(compress_algo="zstd")}
start = time.perf_counter()
with o.get_table("narrow").open_reader(arrow=True, **kwargs) as reader:
    table = reader.read_all()
report(time.perf_counter() - start, table, table.nbytes)
"""

CLI_PIPE_MC = REPORT + measure.PIPE_READ + """
report(seconds, table, table.nbytes)
"""

ARROWPORT_VIKING = REPORT + """
import sys, time
import polars, arrowport
start = time.perf_counter()
df = arrowport.read(sys.argv[1]).to_polars()
seconds = time.perf_counter() - start
report(seconds, df.to_arrow(), df.estimated_size())
"""

TOS_SDK_VIKING = REPORT + """
import json, os, sys, time
import polars as pl, pyarrow as pa, pyarrow.parquet as pq, tos
emu, prefix, workdir = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3]
start = time.perf_counter()
client = tos.TosClientV2(emu["access_key"], emu["secret_key"], emu["tos_endpoint"], emu["tos_region"],
                         is_custom_domain=True)
keys, token = [], None
while True:
    page = client.list_objects_type2(emu["bucket"], prefix=prefix, continuation_token=token)
    keys += [o.key for o in page.contents if o.key.endswith(".parquet")]
    if not page.is_truncated:
        break
    token = page.next_continuation_token
paths = []
for key in sorted(keys):
    path = os.path.join(workdir, os.path.basename(key))
    client.get_object_to_file(emu["bucket"], key, path)
    paths.append(path)
df = pl.from_arrow(pa.concat_tables(pq.read_table(p) for p in paths))
seconds = time.perf_counter() - start
report(seconds, df.to_arrow(), df.estimated_size())
"""


def child(script, *args, env=None, before=None):
    """Runs one contender; returns its report and its peak RSS in MiB."""
    if before:
        before()
    os.sync()
    proc = subprocess.Popen([sys.executable, "-c", script, *map(str, args)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"a contender failed:\n{err}")
    return json.loads(out.decode().strip().splitlines()[-1]), usage.ru_maxrss / 1024.0


def best_of(n, script, *args, env=None, before=None):
    """The fastest of `n` runs, with the largest peak RSS."""
    runs = [child(script, *args, env=env, before=before) for _ in range(n)]
    fastest = min(runs, key=lambda r: r[0]["seconds"])[0]
    return fastest, max(rss for _, rss in runs)


def stage_module(work):
    """The release module with the package's Python files, first on the children's path."""
    package = work / "pkg" / "arrowport"
    package.mkdir(parents=True)
    for f in (ROOT / "python" / "arrowport").glob("*.py"):
        shutil.copy(f, package)
    shutil.copy(MODULE, package / "_arrowport.abi3.so")
    return dict(os.environ, PYTHONPATH=str(work / "pkg"))


def line(name, result, rss, rows):
    s = result["seconds"]
    return (f"  {name:<22} {s:7.2f} s  {rows / s:11,.0f} rows/s  peak RSS {rss:7.1f} MiB"
            f"  (result {result['nbytes'] / 2**20:,.0f} MiB)")


def maxcompute(args, env, work):
    emulator = subprocess.Popen(
        [BIN, "emulate", "maxcompute", "--narrow-rows", str(args.rows), "--rows", "10", "-q"],
        stdout=subprocess.PIPE, text=True)
    try:
        emu = json.loads(emulator.stdout.readline())
        url = (f"maxcompute://{emu['project']}/narrow?endpoint={emu['endpoint']}"
               f"&tunnel_endpoint={emu['tunnel_endpoint']}&compression={args.compression}")
        env = dict(env, ALIBABA_CLOUD_ACCESS_KEY_ID=emu["access_id"],
                   ALIBABA_CLOUD_ACCESS_KEY_SECRET=emu["secret_access_key"])
        ours, rss_ours = best_of(args.repeat, ARROWPORT_MC, url, args.parallel, env=env)
        odps, rss_odps = best_of(args.repeat, PYODPS_MC, json.dumps(emu), args.compression,
                                 env=env)
        pipe, rss_pipe = best_of(args.repeat, CLI_PIPE_MC, BIN, url, args.parallel, env=env)
    finally:
        emulator.terminate()
        emulator.wait()
    for r in (odps, pipe):
        assert (r["rows"], r["id_sum"]) == (ours["rows"], ours["id_sum"]) and ours["rows"] == args.rows
    print(f"MaxCompute -> pyarrow.Table, {args.rows:,} narrow rows, tunnel compression "
          f"{args.compression}, arrowport parallel {args.parallel}, best of {args.repeat}")
    print(line("arrowport.read", ours, rss_ours, args.rows))
    print(line("PyODPS arrow reader", odps, rss_odps, args.rows))
    print(line("CLI | pyarrow", pipe, rss_pipe, args.rows))
    print(f"  ratio                  {odps['seconds'] / ours['seconds']:.2f}x PyODPS, "
          f"{pipe['seconds'] / ours['seconds']:.2f}x the CLI pipe; peak RSS - table "
          f"{rss_ours - ours['nbytes'] / 2**20:.1f} MiB")


def vikingdb(args, env, work):
    emulator = subprocess.Popen(
        [BIN, "emulate", "vikingdb", "--rows", str(args.viking_rows), "--polls", "1", "-q"],
        stdout=subprocess.PIPE, text=True)
    try:
        emu = json.loads(emulator.stdout.readline())
        task = create_task(emu)
        prefix = task.task_params["tos_path"].split("/", 1)[1] + "/"
        url = (f"vikingdb://{emu['collection']}?endpoint={emu['api_endpoint']}"
               f"&tos_endpoint={emu['tos_endpoint']}&tos_path_style=true&task_id={task.task_id}")
        env = dict(env, VOLC_ACCESSKEY=emu["access_key"], VOLC_SECRETKEY=emu["secret_key"])
        parts = work / "parts"

        def fresh():
            shutil.rmtree(parts, ignore_errors=True)
            parts.mkdir()

        ours, rss_ours = best_of(args.repeat, ARROWPORT_VIKING, url, env=env)
        theirs, rss_theirs = best_of(args.repeat, TOS_SDK_VIKING, json.dumps(emu), prefix, parts,
                                     env=env, before=fresh)
    finally:
        emulator.terminate()
        emulator.wait()
    assert (theirs["rows"], theirs["id_sum"]) == (ours["rows"], ours["id_sum"])
    assert ours["rows"] == args.viking_rows
    print(f"VikingDB export -> polars.DataFrame, {args.viking_rows:,} rows with 128-dim vectors, "
          f"best of {args.repeat}")
    print(line("arrowport.read", ours, rss_ours, args.viking_rows))
    print(line("tos SDK + pyarrow", theirs, rss_theirs, args.viking_rows))
    print(f"  ratio                  {theirs['seconds'] / ours['seconds']:.2f}x faster")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--viking-rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--parallel", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--compression", choices=["none", "zstd"], default="none",
                    help="MaxCompute tunnel compression for every contender (PyODPS's default "
                         "is none; loopback has no use for it)")
    ap.add_argument("--only", choices=["maxcompute", "vikingdb"],
                    help="run one of the two comparisons")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrowport-bench-"))
    try:
        env = stage_module(work)
        if args.only != "vikingdb":
            maxcompute(args, env, work)
        if args.only != "maxcompute":
            vikingdb(args, env, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
