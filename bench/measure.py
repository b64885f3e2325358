"""Runs commands and measures their wall time and peak RSS (the child's own, via wait4)."""

import os
import subprocess
import time

# A child script's start: `arrowport export URL - --format arrows` piped into pyarrow, timed;
# it leaves `table` and `seconds` for the benchmark's own report. Arguments: binary, URL,
# --parallel.
PIPE_READ = """
import subprocess, sys, time
import pyarrow as pa
bin, url, parallel = sys.argv[1], sys.argv[2], sys.argv[3]
start = time.perf_counter()
cli = subprocess.Popen([bin, "export", url, "-", "--format", "arrows", "-q", "--parallel", parallel],
                       stdout=subprocess.PIPE)
table = pa.ipc.open_stream(cli.stdout).read_all()
assert cli.wait() == 0
seconds = time.perf_counter() - start
"""


def run(cmd, cwd=None, env=None):
    """Runs `cmd`, returns (seconds, peak RSS in MiB). Fails loudly on a non-zero exit."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    err = proc.stderr.read().decode(errors="replace")
    proc.stderr.close()
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({proc.returncode}):\n{err}")
    return elapsed, usage.ru_maxrss / 1024.0


def best_of(n, cmd, cwd=None, env=None, before=None):
    """The fastest of `n` runs (least disturbed by the machine) and the largest peak RSS.

    Each run starts with no dirty pages: what the previous run (of either side) left in the
    page cache is written out first, so that no run pays for another's disk writes.
    """
    times, peaks = [], []
    for _ in range(n):
        if before:
            before()
        os.sync()
        t, rss = run(cmd, cwd=cwd, env=env)
        times.append(t)
        peaks.append(rss)
    return min(times), max(peaks)
