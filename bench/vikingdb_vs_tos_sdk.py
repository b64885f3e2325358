"""VikingDB export -> Parquet: arrowport against the way the official docs do it, same run,
same emulator, same export task.

`arrowport emulate vikingdb` serves a collection of `--rows` rows with 128-dim vectors. One
parquet export task is created with the official `volcengine` SDK and polled to `done`; then
both contenders turn that task's files into one zstd Parquet file:

- the docs' way: the `tos` SDK lists the task's prefix and `get_object_to_file`s every part,
  then pyarrow reads the parts and writes one file;
- arrowport: `arrowport export 'vikingdb://...&task_id=<id>' out.parquet`, which lists,
  downloads with ranged GETs, checks every CRC-64 and streams into the Parquet writer.

Both outputs are checked to hold the same rows. Printed: seconds and peak RSS of each, the ratio.

Usage: python bench/vikingdb_vs_tos_sdk.py [--rows 1000000] [--repeat 3]
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
from volcengine.viking_db import VikingDBService
from volcengine.viking_db.common import TaskType

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("ARROWPORT_BIN", str(ROOT / "target/release/arrowport"))

# The docs' way, as a child process so its peak RSS is its own.
TOS_SDK_WAY = """
import json, os, sys
import pyarrow as pa, pyarrow.parquet as pq, tos
emu, prefix, workdir, out = json.loads(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
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
table = pa.concat_tables(pq.read_table(p) for p in paths)
pq.write_table(table, out, compression="zstd")
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrowport-bench-"))
    emulator = subprocess.Popen(
        [BIN, "emulate", "vikingdb", "--rows", str(args.rows), "--polls", "1", "-q"],
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


def create_task(emu):
    svc = VikingDBService(
        host=emu["api_endpoint"].split("://", 1)[1],
        region=emu["region"],
        ak=emu["access_key"],
        sk=emu["secret_key"],
        scheme="http",
        socket_timeout=600,
    )
    tos_path = f"{emu['bucket']}/bench"
    task_id = svc.create_task(
        TaskType.Data_export,
        {"collection_name": emu["collection"], "tos_path": tos_path, "file_type": "parquet", "export_all": True},
    )
    while (task := svc.get_task(task_id)).task_status != "done":
        assert task.task_status in ("init", "queued", "running"), task.task_status
    return task


def run(args, emu, work):
    task = create_task(emu)
    prefix = task.task_params["tos_path"].split("/", 1)[1] + "/"
    listing = work / "sdk-parts"

    theirs = work / "tos-sdk.parquet"

    def fresh():
        shutil.rmtree(listing, ignore_errors=True)
        listing.mkdir()
        theirs.unlink(missing_ok=True)

    t_theirs, rss_theirs = measure.best_of(
        args.repeat,
        [sys.executable, "-c", TOS_SDK_WAY, json.dumps(emu), prefix, str(listing), str(theirs)],
        before=fresh,
    )

    ours = work / "arrowport.parquet"
    url = (
        f"vikingdb://{emu['collection']}?endpoint={emu['api_endpoint']}&tos_endpoint={emu['tos_endpoint']}"
        f"&tos_path_style=true&task_id={task.task_id}"
    )
    env = dict(os.environ, VOLC_ACCESSKEY=emu["access_key"], VOLC_SECRETKEY=emu["secret_key"])
    cmd = [BIN, "export", url, str(ours), "--overwrite", "-q", "-o", "compression=zstd"]
    # Like the SDK's output above, ours is removed before each run: replacing a large file
    # costs the file system time that neither side should be charged.
    t_ours, rss_ours = measure.best_of(
        args.repeat, cmd, env=env, before=lambda: ours.unlink(missing_ok=True)
    )

    a, b = pq.read_table(ours), pq.read_table(theirs)
    assert a.num_rows == b.num_rows == args.rows, (a.num_rows, b.num_rows)
    assert pc.sum(a["id"]).as_py() == pc.sum(b["id"]).as_py()
    assert a.column("vector").combine_chunks().flatten().equals(b.column("vector").combine_chunks().flatten())

    size = sum(p.stat().st_size for p in listing.iterdir())
    print(f"VikingDB export -> parquet, {args.rows:,} rows with 128-dim vectors, "
          f"{size / 2**20:,.0f} MiB of exported parts, best of {args.repeat}")
    print(f"  arrowport           {t_ours:7.2f} s  {args.rows / t_ours:11,.0f} rows/s  peak RSS {rss_ours:7.1f} MiB")
    print(f"  tos SDK + pyarrow   {t_theirs:7.2f} s  {args.rows / t_theirs:11,.0f} rows/s  peak RSS {rss_theirs:7.1f} MiB")
    print(f"  ratio               {t_theirs / t_ours:.2f}x faster")


if __name__ == "__main__":
    main()
