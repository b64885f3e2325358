"""A MaxCompute table read over Arrow Flight: `arrowport serve` against the pipe and PyODPS.

`arrowport emulate maxcompute` serves the `narrow` table (`--rows` rows). Three contenders
load it into one pyarrow Table in a fresh Python process:

- Flight: `GetFlightInfo` on `arrowport serve` (one download session, `--endpoints` splits),
  then one `DoGet` per endpoint, read on that many threads (as Dask or Ray workers would);
- the pipe: Python starting `arrowport export maxcompute://... - --format arrows` and reading
  the Arrow IPC stream from its stdout;
- PyODPS: `open_reader(arrow=True).read_all()`, as its docs read a table into Arrow.

Every contender reads the tunnel with the same compression (`--compression`, none by default
as in PyODPS).

Every contender must hold the same rows (count and sums). Printed: each client's read seconds
(its own timing, from before it connects until the table is whole; ratios are of these) and
its whole process's seconds (interpreter start and imports too: about 0.2 s for pyarrow,
0.8 s for PyODPS), rows/s and peak RSS of each client, the server's peak RSS and CPU seconds per GB of Arrow data it served, the
ratios. Then the plan's cost as splits grow: `GetFlightInfo` latency and the FlightInfo's
size for 10, 1,000 and 100,000 splits.

Usage: python bench/flight_vs_pipe.py [--rows 5000000] [--repeat 3] [--endpoints 2]
       [--compression none|zstd]
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow.flight as flight

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("ARROWPORT_BIN", str(ROOT / "target/release/arrowport"))

# Each client prints "rows sum(id)" so the contenders can be compared.
FLIGHT_WAY = """
import json, sys, time
from concurrent.futures import ThreadPoolExecutor
import pyarrow as pa, pyarrow.compute as pc, pyarrow.flight as flight
address, url, endpoints = sys.argv[1], sys.argv[2], int(sys.argv[3])
start = time.perf_counter()
client = flight.FlightClient(address)
info = client.get_flight_info(flight.FlightDescriptor.for_command(json.dumps({"url": url})))
assert len(info.endpoints) == endpoints, len(info.endpoints)
def read(endpoint):
    return flight.FlightClient(address).do_get(endpoint.ticket).read_all()
with ThreadPoolExecutor(endpoints) as pool:
    table = pa.concat_tables(pool.map(read, info.endpoints))
seconds = time.perf_counter() - start
print(table.num_rows, pc.sum(table["id"]).as_py(), table.nbytes, seconds)
"""

PIPE_WAY = measure.PIPE_READ + """
import pyarrow.compute as pc
print(table.num_rows, pc.sum(table["id"]).as_py(), table.nbytes, seconds)
"""

PYODPS_WAY = """
import json, sys, time
import pyarrow.compute as pc
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
seconds = time.perf_counter() - start
print(table.num_rows, pc.sum(table["id"]).as_py(), table.nbytes, seconds)
"""


def timed(cmd, env=None):
    """Seconds, peak RSS (MiB) and stdout of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    out, err = proc.stdout.read().decode(), proc.stderr.read().decode(errors="replace")
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{cmd} failed:\n{err}")
    return elapsed, usage.ru_maxrss / 1024.0, out.split()


def best(n, cmd, env=None):
    """The fastest read of `n` runs (the seconds the client printed) and its whole process's
    seconds, the largest peak RSS, and the first run's output."""
    runs = [timed(cmd, env=env) for _ in range(n)]
    read = min(runs, key=lambda r: float(r[2][3]))
    return float(read[2][3]), read[0], max(r[1] for r in runs), runs[0][2]


def proc_stat(pid):
    """(CPU seconds, peak RSS MiB) of a running process, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    hwm = next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines() if line.startswith("VmHWM"))
    return cpu, int(hwm.split()[1]) / 1024.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--endpoints", type=int, default=2)
    ap.add_argument("--compression", choices=["none", "zstd"], default="none",
                    help="MaxCompute tunnel compression for every contender (PyODPS's default "
                         "is none; loopback has no use for it)")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrowport-bench-"))
    emulator = subprocess.Popen(
        [BIN, "emulate", "maxcompute", "--narrow-rows", str(args.rows), "--rows", "10", "-q"],
        stdout=subprocess.PIPE, text=True,
    )
    server = None
    try:
        emu = json.loads(emulator.stdout.readline())
        env = dict(
            os.environ,
            ALIBABA_CLOUD_ACCESS_KEY_ID=emu["access_id"],
            ALIBABA_CLOUD_ACCESS_KEY_SECRET=emu["secret_access_key"],
        )
        server = subprocess.Popen(
            [BIN, "serve", "--listen", "127.0.0.1:0", "--no-auth"], env=env, stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL, text=True,
        )
        address = server.stdout.readline().strip()
        run(args, emu, env, address, server.pid)
    finally:
        if server:
            server.terminate()
            server.wait()
        emulator.terminate()
        emulator.wait()
        shutil.rmtree(work, ignore_errors=True)


def run(args, emu, env, address, server_pid):
    base = (f"maxcompute://{emu['project']}/narrow?endpoint={emu['endpoint']}"
            f"&tunnel_endpoint={emu['tunnel_endpoint']}&compression={args.compression}")
    split_rows = -(-args.rows // args.endpoints)
    url = f"{base}&split_rows={split_rows}"

    cpu_before, _ = proc_stat(server_pid)
    t_flight, p_flight, rss_flight, out_flight = best(
        args.repeat, [sys.executable, "-c", FLIGHT_WAY, address, url, str(args.endpoints)]
    )
    cpu_after, server_hwm = proc_stat(server_pid)
    served_gb = args.repeat * int(out_flight[2]) / 1e9

    t_pipe, p_pipe, rss_pipe, out_pipe = best(
        args.repeat, [sys.executable, "-c", PIPE_WAY, BIN, url, str(args.endpoints)], env=env
    )
    t_odps, p_odps, rss_odps, out_odps = best(
        args.repeat, [sys.executable, "-c", PYODPS_WAY, json.dumps(emu), args.compression]
    )
    assert out_flight[:2] == out_pipe[:2] == out_odps[:2], (out_flight, out_pipe, out_odps)
    assert int(out_flight[0]) == args.rows

    print(f"MaxCompute narrow table -> pyarrow Table, {args.rows:,} rows "
          f"({int(out_flight[2]) / 2**20:.0f} MiB of Arrow), tunnel compression "
          f"{args.compression}, best of {args.repeat}")
    print("  (read: the client's own timing around the read; process: the whole client process,"
          " interpreter and imports included)")
    for name, t, p, rss in [
        (f"Flight, {args.endpoints} endpoints", t_flight, p_flight, rss_flight),
        ("export | pipe", t_pipe, p_pipe, rss_pipe),
        ("PyODPS arrow=True", t_odps, p_odps, rss_odps),
    ]:
        print(f"  {name:24} read {t:5.2f} s {args.rows / t:11,.0f} rows/s  process {p:5.2f} s"
              f"  client peak RSS {rss:7.1f} MiB")
    print(f"  Flight / pipe           {t_pipe / t_flight:.2f}x the pipe's rows/s "
          f"({p_pipe / p_flight:.2f}x by process)")
    print(f"  Flight / PyODPS         {t_odps / t_flight:.2f}x PyODPS's rows/s "
          f"({p_odps / p_flight:.2f}x by process)")
    print(f"  server peak RSS {server_hwm:.1f} MiB; server CPU {(cpu_after - cpu_before) / served_gb:.2f} s per GB served")

    print("GetFlightInfo as splits grow (one download session, split_rows = rows / splits)")
    client = flight.FlightClient(address)
    for splits in (10, 1000, 100_000):
        split = max(1, args.rows // splits)
        command = json.dumps({"url": f"{base}&split_rows={split}"})
        times = []
        for _ in range(args.repeat):
            start = time.perf_counter()
            info = client.get_flight_info(flight.FlightDescriptor.for_command(command))
            times.append(time.perf_counter() - start)
        size = len(info.serialize())
        print(f"  {len(info.endpoints):7,} endpoints  {min(times) * 1000:9.1f} ms  FlightInfo {size / 1024:10.1f} KiB "
              f"({size / len(info.endpoints):.0f} bytes per endpoint)")


if __name__ == "__main__":
    main()
