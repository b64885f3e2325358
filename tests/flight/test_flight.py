"""`arrowport serve` read by real Flight clients and distributed engines: pyarrow.flight
reading every endpoint in parallel, Dask (`from_map` over the endpoints, two worker
processes) and Ray Data (a datasource with one read task per endpoint, a local cluster of
two workers), over MaxCompute and VikingDB emulators; every row exactly once, value for value
equal to `arrowport export` of the same source."""

import json
import os
import signal
import subprocess
import sys
import time

import pyarrow as pa
import pyarrow.flight as flight
import pytest

EXAMPLES = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", "examples"))
sys.path.insert(0, EXAMPLES)
import flight_engines as engines  # noqa: E402  (the README's runnable example)

BIN = os.environ.get("ARROWPORT_BIN", "target/debug/arrowport")
TOKEN = "flight-pytest-token"
NARROW_ROWS = 20000
VECTORS = 3000


def start(args, env=None):
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail(f"{args[1]} did not start: " + proc.stderr.read())
    return proc, line.strip()


def stop(proc):
    proc.terminate()
    proc.wait(timeout=60)


@pytest.fixture(scope="module")
def emulators():
    mc, mc_line = start([BIN, "emulate", "maxcompute", "--rows", "300", "--narrow-rows", str(NARROW_ROWS), "-q"])
    vk, vk_line = start([BIN, "emulate", "vikingdb", "--rows", str(VECTORS), "--rows-per-part", "700", "--polls", "2", "-q"])
    yield json.loads(mc_line), json.loads(vk_line)
    stop(mc)
    stop(vk)


def credentials(mc, vk):
    return dict(
        os.environ,
        ALIBABA_CLOUD_ACCESS_KEY_ID=mc["access_id"],
        ALIBABA_CLOUD_ACCESS_KEY_SECRET=mc["secret_access_key"],
        VOLC_ACCESSKEY=vk["access_key"],
        VOLC_SECRETKEY=vk["secret_key"],
    )


def urls(mc, vk):
    """The configured sources' URLs, as `arrowport export` takes them."""
    return {
        "narrow": f"maxcompute://{mc['project']}/narrow?endpoint={mc['endpoint']}&split_rows=2500",
        "all_types": f"maxcompute://{mc['project']}/all_types?endpoint={mc['endpoint']}&split_rows=64",
        "vectors": (
            f"vikingdb://{vk['collection']}?endpoint={vk['api_endpoint']}&tos_endpoint={vk['tos_endpoint']}"
            f"&tos_path_style=true&tos_path={vk['bucket']}/flight&poll_interval=10ms"
        ),
    }


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    return tmp_path_factory.mktemp("serve")


@pytest.fixture(scope="module")
def server(emulators, home):
    mc, vk = emulators
    config = ["[server]", "allow_urls = true", ""]
    for name, url in urls(mc, vk).items():
        base, query = url.split("?", 1)
        options = ", ".join(f'{k} = "{v}"' for k, v in (p.split("=", 1) for p in query.split("&")))
        config += [f"[sources.{name}]", f'url = "{base}"', f"options = {{ {options} }}", ""]
    (home / "landing").mkdir()
    config += [
        "[sinks.landing]", f'url = "{home}/landing/put-{{id}}.parquet"', "",
        "[sinks.narrow_sink]", f'url = "maxcompute://{mc["project"]}/narrow_sink"',
        f'options = {{ endpoint = "{mc["endpoint"]}" }}', "",
    ]
    (home / "sources.toml").write_text("\n".join(config))
    (home / "token").write_text(TOKEN)
    proc, address = start(
        [BIN, "serve", "--listen", "127.0.0.1:0", "--config", str(home / "sources.toml"),
         "--token-file", str(home / "token")],
        env=credentials(mc, vk),
    )
    assert address.startswith("grpc://127.0.0.1:")
    yield address
    # SIGTERM stops the server gracefully: it exits 0.
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()


def exported(emulators, tmp_path, name):
    """`arrowport export` of a configured source's URL, as a Table."""
    mc, vk = emulators
    out = tmp_path / f"{name}.arrow"
    done = subprocess.run(
        [BIN, "export", urls(mc, vk)[name], str(out), "-q"], env=credentials(mc, vk), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    return pa.ipc.open_file(str(out)).read_all()


def health(address):
    client, options = engines.connect(address, TOKEN)
    return json.loads(next(iter(client.do_action(flight.Action("health", b""), options))).body.to_pybytes())


def by_id(table, key):
    return table.sort_by(key).combine_chunks()


@pytest.mark.parametrize("name,key", [("narrow", "id"), ("all_types", "id"), ("vectors", "id")])
def test_every_endpoint_read_in_parallel_equals_the_export(server, emulators, tmp_path, name, key):
    client, options = engines.connect(server, TOKEN)
    info = client.get_flight_info(flight.FlightDescriptor.for_path(name), options)
    assert len(info.endpoints) > 1
    got = engines.read_with_pyarrow(server, TOKEN, name)
    want = exported(emulators, tmp_path, name)
    assert got.schema == want.schema
    assert got.num_rows == want.num_rows == (info.total_records if info.total_records >= 0 else want.num_rows)
    if name == "vectors":
        # Each plan is a new export task: the same rows, in the files' order of that task.
        assert by_id(got, key).equals(by_id(want, key))
    else:
        # MaxCompute row ranges come back in plan order: the same table, row for row.
        assert got.combine_chunks().equals(want.combine_chunks())
    assert len(set(got.column(key).to_pylist())) == got.num_rows


def test_a_datagen_url_with_columns_and_limit(server):
    request = {"url": "datagen://?rows=50000&profile=all", "columns": ["id", "text"], "limit": 12345}
    got = engines.read_with_pyarrow(server, TOKEN, request)
    assert got.column_names == ["id", "text"]
    assert got.column("id").to_pylist() == list(range(12345))


@pytest.mark.parametrize("name,rows", [("narrow", NARROW_ROWS), ("vectors", VECTORS)])
def test_dask_reads_every_endpoint_in_two_worker_processes(server, name, rows):
    import dask

    frame = engines.read_with_dask(server, TOKEN, name)
    with dask.config.set(scheduler="processes", num_workers=2):
        ids = frame["id"].compute()
    assert len(ids) == rows
    assert sorted(ids.tolist()) == sorted(set(ids.tolist()))


@pytest.fixture(scope="module")
def ray_cluster():
    ray = pytest.importorskip("ray")
    # Workers import the example module that holds the read functions.
    ray.init(
        num_cpus=2,
        include_dashboard=False,
        log_to_driver=False,
        configure_logging=False,
        runtime_env={"env_vars": {"PYTHONPATH": EXAMPLES}},
    )
    yield ray
    ray.shutdown()


@pytest.mark.parametrize("name,rows", [("narrow", NARROW_ROWS), ("vectors", VECTORS)])
def test_ray_reads_one_task_per_endpoint_on_two_workers(server, ray_cluster, emulators, tmp_path, name, rows):
    dataset = engines.read_with_ray(server, TOKEN, name)
    got = pa.concat_tables(ray_cluster.get(dataset.to_arrow_refs()))
    assert got.num_rows == rows
    want = exported(emulators, tmp_path, name)
    assert by_id(got.select(want.column_names), "id").equals(by_id(want, "id"))


def test_a_killed_client_leaves_the_server_healthy(server):
    reader = subprocess.Popen(
        [sys.executable, "-c", """
import sys, pyarrow.flight as flight
sys.path.insert(0, sys.argv[3])
import flight_engines as engines
client, options = engines.connect(sys.argv[1], sys.argv[2])
info = client.get_flight_info(flight.FlightDescriptor.for_command('{"url": "datagen://?rows=100000000"}'), options)
stream = client.do_get(info.endpoints[0].ticket, options)
stream.read_chunk()
print("reading", flush=True)
sys.stdin.read()
""", server, TOKEN, EXAMPLES],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert reader.stdout.readline().strip() == "reading"
    assert health(server)["streams"]["running"] >= 1
    reader.send_signal(signal.SIGKILL)
    reader.wait()
    # The server sees the connection close and drops the stream with its permit.
    deadline = time.monotonic() + 30
    while health(server)["streams"]["running"] and time.monotonic() < deadline:
        pass
    assert health(server)["streams"]["running"] == 0
    got = engines.read_with_pyarrow(server, TOKEN, "narrow")
    assert got.num_rows == NARROW_ROWS


def test_wrong_tokens_and_unknown_sources_are_clear_errors(server):
    client = flight.FlightClient(server)
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(flight.FlightDescriptor.for_path("narrow"))
    bad = flight.FlightCallOptions(headers=[(b"authorization", b"Bearer nope")])
    with pytest.raises(flight.FlightUnauthenticatedError):
        client.get_flight_info(flight.FlightDescriptor.for_path("narrow"), bad)
    # pyarrow's own handshake: basic auth with the token as the password.
    header = client.authenticate_basic_token(b"worker", TOKEN.encode())
    options = flight.FlightCallOptions(headers=[header])
    # pyarrow raises NotFound as KeyError, InvalidArgument as ArrowInvalid.
    with pytest.raises(pa.ArrowKeyError, match="did you mean `narrow`"):
        client.get_flight_info(flight.FlightDescriptor.for_path("narow"), options)
    with pytest.raises(pa.ArrowInvalid, match="credentials stay on the server"):
        client.get_flight_info(
            flight.FlightDescriptor.for_command(json.dumps({"source": "narrow", "options": {"secret_access_key": "x"}})),
            options,
        )
    assert [f.descriptor.path[0].decode() for f in client.list_flights(options=options)] == ["all_types", "narrow", "vectors"]


def put(address, descriptor, table, chunk=5000):
    """DoPut of `table`; the server's summary."""
    client, options = engines.connect(address, TOKEN)
    writer, reader = client.do_put(descriptor, table.schema, options)
    writer.write_table(table, max_chunksize=chunk)
    writer.done_writing()
    summary = json.loads(reader.read().to_pybytes())
    writer.close()
    return summary


def test_do_put_writes_into_a_maxcompute_table_and_a_parquet_file(server, emulators, home):
    import pandas as pd
    import pyarrow.parquet as pq

    mc, _ = emulators
    # The table's columns are datagen's narrow profile: served by the same server.
    narrow = engines.read_with_pyarrow(server, TOKEN, {"url": "datagen://?rows=20000&profile=narrow"})
    summary = put(server, flight.FlightDescriptor.for_path("narrow_sink"), narrow)
    assert summary["rows"] == 20000, summary
    url = f"maxcompute://{mc['project']}/narrow_sink?endpoint={mc['endpoint']}"
    back = engines.read_with_pyarrow(server, TOKEN, {"url": url})
    columns = ["id", "value", "category", "flag"]
    a, b = by_id(back.select(columns), "id"), by_id(narrow.select(columns), "id")
    # The table's columns are nullable, datagen's are not: compare types and values.
    assert a.schema.types == b.schema.types
    assert a.num_rows == b.num_rows, (a.num_rows, b.num_rows)
    assert a.to_pylist() == b.to_pylist()
    # timestamp_ntz comes back in nanoseconds: the same instants.
    unit = pa.timestamp("us")
    ts = lambda t: t.sort_by("id").column("ts").cast(unit).to_pylist()  # noqa: E731
    assert ts(back) == ts(narrow)

    frame = pd.DataFrame({"id": range(1000), "name": [f"n{i}" for i in range(1000)], "x": [i / 8 for i in range(1000)]})
    table = pa.Table.from_pandas(frame, preserve_index=False)
    summary = put(server, flight.FlightDescriptor.for_command(json.dumps({"sink": "landing"})), table, chunk=300)
    written = summary["target"]
    assert written.startswith(str(home / "landing" / "put-")), summary
    assert pq.read_table(written).equals(table)


def test_a_client_killed_mid_put_commits_nothing(server, home):
    before = sorted(os.listdir(home / "landing"))
    writer = subprocess.Popen(
        [sys.executable, "-c", """
import sys, pyarrow as pa, pyarrow.flight as flight
sys.path.insert(0, sys.argv[3])
import flight_engines as engines
client, options = engines.connect(sys.argv[1], sys.argv[2])
table = pa.table({"id": list(range(1000))})
writer, _ = client.do_put(flight.FlightDescriptor.for_path("landing"), table.schema, options)
writer.write_table(table)
print("writing", flush=True)
sys.stdin.read()
""", server, TOKEN, EXAMPLES],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    assert writer.stdout.readline().strip() == "writing"
    deadline = time.monotonic() + 30
    while health(server)["streams"]["running"] == 0 and time.monotonic() < deadline:
        pass
    assert health(server)["streams"]["running"] == 1
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    deadline = time.monotonic() + 30
    while health(server)["streams"]["running"] and time.monotonic() < deadline:
        pass
    assert health(server)["streams"]["running"] == 0
    assert sorted(os.listdir(home / "landing")) == before
