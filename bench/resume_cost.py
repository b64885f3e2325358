"""What resumability costs: journaling's overhead on a whole export, and a resume after a kill.

For each source (the MaxCompute emulator's `narrow` table, one VikingDB emulator export task,
datagen) into one zstd Parquet file, same run, same machine:

- plain: `arrowport export SOURCE out.parquet`;
- journaled: the same with `--resume` (every row group synced and journaled);
- resumed: a `--resume` export killed with SIGKILL once its journal holds 90 % of the rows,
  then the same command again, timed: what a user waits for after a crash at 90 %.

The resumed file must be byte for byte the plain one. Printed: best-of-N seconds of each, the
journaling overhead (journaled / plain - 1; goal < 3 %) and the resume's share of a full run
(resumed / plain; goal < 15 %), and peak RSS.

Usage: python bench/resume_cost.py [--rows 5000000] [--viking-rows 1000000] [--repeat 3]
"""

import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
import measure  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
BIN = os.environ.get("ARROWPORT_BIN", str(ROOT / "target/release/arrowport"))


def journaled_rows(journal):
    """Rows the journal's last checkpoint holds (0 before the first)."""
    try:
        lines = journal.read_text().splitlines()
    except FileNotFoundError:
        return 0
    for line in reversed(lines):
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if entry.get("line") == "checkpoint":
            return entry["rows"]
    return 0


def kill_at(cmd, env, journal, rows):
    """Starts `cmd` and kills it with SIGKILL once `journal` holds `rows` rows."""
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while proc.poll() is None:
        if journaled_rows(journal) >= rows:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            return True
        time.sleep(0.002)
    return False


def digest(path):
    """SHA-256 of a file, read in pieces: the bench holds no output in memory, since a
    forked child's peak RSS counts what its parent held."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for piece in iter(lambda: f.read(1 << 20), b""):
            h.update(piece)
    return h.hexdigest()


def contend(name, url, env, rows, repeat, work, row_group=None):
    out = work / f"{name}.parquet"
    journal = work / f"{name}.parquet.journal"
    base = [BIN, "export", url, str(out), "-q", "-o", "sink.compression=zstd"]
    if row_group:
        # Durable points are row groups: a few dozen, so that one falls near 90 %.
        base += ["-o", f"row_group_size={row_group}"]

    def clean():
        for p in (out, journal, work / f"{name}.parquet.partial"):
            p.unlink(missing_ok=True)

    # One run warms the emulator (it makes its rows on the first read); then plain and
    # journaled runs alternate, so that both see the same machine.
    clean()
    measure.run(base, env=env)
    plain, journaled = [], []
    reference = None
    for _ in range(repeat):
        clean()
        os.sync()
        plain.append(measure.run(base, env=env))
        reference = reference or digest(out)
        assert digest(out) == reference, f"{name}: two plain exports differ"
        clean()
        os.sync()
        journaled.append(measure.run(base + ["--resume"], env=env))
        assert digest(out) == reference, f"{name}: the journaled export differs"
    t_plain, rss_plain = min(t for t, _ in plain), max(r for _, r in plain)
    t_journal, rss_journal = min(t for t, _ in journaled), max(r for _, r in journaled)

    times, peaks = [], []
    for _ in range(repeat):
        clean()
        if not kill_at(base + ["--resume"], env, journal, int(rows * 0.9)):
            raise SystemExit(f"{name}: the export ended before 90 % was journaled")
        os.sync()
        t, rss = measure.run(base + ["--resume"], env=env)
        assert digest(out) == reference, f"{name}: the resumed export differs"
        times.append(t)
        peaks.append(rss)
    t_resume, rss_resume = min(times), max(peaks)

    groups = f"row groups of {row_group:,} rows" if row_group else "default row groups"
    print(f"{name}: {rows:,} rows -> one zstd parquet file, {groups}, best of {repeat}")
    print(f"  plain      {t_plain:6.2f} s  peak RSS {rss_plain:6.1f} MiB")
    print(f"  --resume   {t_journal:6.2f} s  peak RSS {rss_journal:6.1f} MiB  "
          f"journaling overhead {100 * (t_journal / t_plain - 1):+5.1f} %")
    print(f"  resumed    {t_resume:6.2f} s  peak RSS {rss_resume:6.1f} MiB  "
          f"after a kill at 90 %: {100 * t_resume / t_plain:4.1f} % of a full run")


def emulator(args):
    proc = subprocess.Popen([BIN, "emulate", *args, "-q"], stdout=subprocess.PIPE, text=True)
    return proc, json.loads(proc.stdout.readline())


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--viking-rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="arrowport-resume-"))
    procs = []
    try:
        mc_proc, mc = emulator(["maxcompute", "--narrow-rows", str(args.rows), "--rows", "10"])
        procs.append(mc_proc)
        mc_env = dict(os.environ, ALIBABA_CLOUD_ACCESS_KEY_ID=mc["access_id"],
                      ALIBABA_CLOUD_ACCESS_KEY_SECRET=mc["secret_access_key"])
        mc_url = (f"maxcompute://{mc['project']}/narrow?endpoint={mc['endpoint']}"
                  f"&tunnel_endpoint={mc['tunnel_endpoint']}&compression=none")
        contend("maxcompute", mc_url, mc_env, args.rows, args.repeat, work, args.rows // 20)

        vk_proc, vk = emulator(["vikingdb", "--rows", str(args.viking_rows), "--polls", "1"])
        procs.append(vk_proc)
        vk_env = dict(os.environ, VOLC_ACCESSKEY=vk["access_key"], VOLC_SECRETKEY=vk["secret_key"])
        vk_url = (f"vikingdb://{vk['collection']}?endpoint={vk['api_endpoint']}"
                  f"&tos_endpoint={vk['tos_endpoint']}&tos_path_style=true"
                  f"&tos_path={vk['bucket']}/exports&poll_interval=5ms")
        # One task for every run: planning creates it, its id is in the tokens.
        plan = subprocess.run([BIN, "plan", vk_url, "--json", "--create-task", "-q"], env=vk_env,
                              check=True, capture_output=True, text=True)
        task = json.loads(plan.stdout)["splits"][0]["token"]["split"]["task_id"]
        contend("vikingdb", f"{vk_url}&task_id={task}", vk_env, args.viking_rows, args.repeat,
                work)

        contend("datagen", f"datagen://?rows={args.rows}&profile=narrow", None, args.rows,
                args.repeat, work, args.rows // 20)
    finally:
        for p in procs:
            p.terminate()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
