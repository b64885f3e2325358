"""Ctrl-C while Rust works: KeyboardInterrupt reaches Python, the work stops, and nothing is
left behind. The interrupt comes from the progress callback (`_thread.interrupt_main()`, as
a SIGINT would) at a known point, on sources that cannot finish first: datagen with 10^12
rows, a generator that never ends, a VikingDB task that needs 10^6 polls."""

import _thread
import itertools

import pyarrow as pa
import pytest

import arrowport

ENDLESS = "datagen://?rows=1000000000000&profile=narrow"


def interrupt_on(kind, after=1):
    """A progress callback that interrupts the main thread at the `after`-th `kind` event."""
    seen = itertools.count(1)
    events = []

    def callback(event):
        events.append(event)
        if event["event"] == kind and next(seen) == after:
            _thread.interrupt_main()

    callback.events = events
    return callback


def test_read_all():
    cb = interrupt_on("batch", after=3)
    with pytest.raises(KeyboardInterrupt):
        arrowport.read(ENDLESS, progress=cb).read_all()
    assert sum(e["event"] == "batch" for e in cb.events) >= 3


def test_iteration():
    cb = interrupt_on("batch")
    batches = 0
    with pytest.raises(KeyboardInterrupt):
        for _ in arrowport.read(ENDLESS, progress=cb):
            batches += 1
    assert batches <= 1


def test_export_leaves_nothing_behind(tmp_path):
    cb = interrupt_on("batch", after=5)
    with pytest.raises(KeyboardInterrupt):
        arrowport.export(ENDLESS, str(tmp_path / "out.parquet"), progress=cb)
    assert list(tmp_path.iterdir()) == []
    cb = interrupt_on("batch", after=5)
    with pytest.raises(KeyboardInterrupt):
        arrowport.export(ENDLESS, f"{tmp_path}/parts/", progress=cb, max_rows_per_file=1000)
    assert list(tmp_path.iterdir()) == []


def test_write_of_an_endless_generator_leaves_nothing_behind(tmp_path):
    schema = pa.schema([("i", pa.int64())])
    batches = (pa.record_batch([pa.array([i] * 100)], schema=schema) for i in itertools.count())
    data = pa.RecordBatchReader.from_batches(schema, batches)
    cb = interrupt_on("batch", after=10)
    with pytest.raises(KeyboardInterrupt):
        arrowport.write(data, str(tmp_path / "out.ndjson"), progress=cb)
    assert list(tmp_path.iterdir()) == []


def test_export_waiting_for_a_vikingdb_task(tmp_path, monkeypatch):
    with arrowport.testing.emulate("vikingdb", rows=10, dim=4, polls_to_done=1_000_000) as emu:
        for k, v in emu.env.items():
            monkeypatch.setenv(k, v)
        cb = interrupt_on("phase", after=2)
        with pytest.raises(KeyboardInterrupt):
            arrowport.export(emu.url(poll_interval="1ms"), str(tmp_path / "v.parquet"), progress=cb)
    assert list(tmp_path.iterdir()) == []


def test_a_raising_callback_stops_the_export(tmp_path):
    def callback(event):
        if event["event"] == "batch":
            raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        arrowport.export(ENDLESS, str(tmp_path / "out.csv"), progress=callback)
    assert list(tmp_path.iterdir()) == []
