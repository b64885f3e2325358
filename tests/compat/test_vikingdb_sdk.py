"""The official Volcengine SDKs against `arrowport emulate vikingdb`.

`volcengine` (VikingDBService) and `tos` (TosClientV2) sign their requests themselves, so every
call that succeeds here is also a check of the emulator's signature verification; the wrong-key
calls check that it rejects. The last test exports the same task with arrowport and compares its
output with the files the tos SDK downloads.
"""

import io
import json
import os
import subprocess

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tos
from volcengine.viking_db import VikingDBService
from volcengine.viking_db.common import TaskStatus, TaskType
from volcengine.viking_db.exception import CollectionNotExistException, VikingDBException

BIN = os.environ.get("ARROWPORT_BIN", "target/debug/arrowport")
ROWS = 500


@pytest.fixture(scope="module")
def emu():
    proc = subprocess.Popen(
        [BIN, "emulate", "vikingdb", "--rows", str(ROWS), "--polls", "2", "-q"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = proc.stdout.readline()
    if not line:
        proc.kill()
        pytest.fail("emulator did not start: " + proc.stderr.read())
    info = json.loads(line)
    yield info
    proc.terminate()
    proc.wait(timeout=10)


def host(url):
    return url.split("://", 1)[1]


def viking(emu, sk=None):
    return VikingDBService(
        host=host(emu["api_endpoint"]),
        region=emu["region"],
        ak=emu["access_key"],
        sk=sk or emu["secret_key"],
        scheme="http",
    )


def tos_client(emu, sk=None):
    # The SDK addresses buckets virtual-hosted; on loopback the endpoint is a custom domain
    # for the emulator's one bucket.
    return tos.TosClientV2(
        emu["access_key"],
        sk or emu["secret_key"],
        emu["tos_endpoint"],
        emu["tos_region"],
        is_custom_domain=True,
    )


def run_export(emu, svc, tos_path, **params):
    task_id = svc.create_task(
        TaskType.Data_export,
        {"collection_name": emu["collection"], "tos_path": tos_path, "file_type": "parquet", **params},
    )
    assert task_id
    for _ in range(20):
        task = svc.get_task(task_id)
        if task.task_status == TaskStatus.Done.value:
            return task
        assert task.task_status in ("init", "queued", "running"), task.task_status
    pytest.fail("task never finished")


def test_get_collection(emu):
    coll = viking(emu).get_collection(emu["collection"])
    types = {f.field_name: f.field_type for f in coll.fields}
    assert types["id"] == "int64"
    assert types["vector"] == "vector"
    assert types["sparse"] == "sparse_vector"
    assert {"list<string>", "list<int64>", "text", "string", "bool", "float32"} <= set(types.values())
    assert coll.primary_key == "id"


def test_unknown_collection_and_wrong_key(emu):
    with pytest.raises(CollectionNotExistException):
        viking(emu).get_collection("no_such_collection")
    # The SDK pings in its constructor and wraps what the server said.
    with pytest.raises(VikingDBException) as err:
        viking(emu, sk="wrong-secret")
    assert '"code":1000001' in str(err.value)


def test_export_task_lifecycle(emu):
    svc = viking(emu)
    task = run_export(emu, svc, f"{emu['bucket']}/sdk/lifecycle", filter={"id": list(range(10))})
    info = task.process_info
    assert int(info["total_filter_count"]) == 10
    assert int(info["total_data_count"]) == ROWS
    assert task.task_params["tos_path"].endswith("sdk/lifecycle")
    assert any(t.task_id == task.task_id for t in svc.list_tasks())


def test_tos_list_and_get(emu):
    svc = viking(emu)
    task = run_export(emu, svc, f"{emu['bucket']}/sdk/listing")
    client = tos_client(emu)
    listing = client.list_objects_type2(emu["bucket"], prefix="sdk/listing/", max_keys=1)
    keys = [o.key for o in listing.contents]
    while listing.is_truncated:
        listing = client.list_objects_type2(
            emu["bucket"], prefix="sdk/listing/", max_keys=1, continuation_token=listing.next_continuation_token
        )
        keys += [o.key for o in listing.contents]
    parts = [k for k in keys if k.endswith(".parquet")]
    assert parts and any(k.endswith("_SUCCESS") for k in keys)
    rows = 0
    for key in parts:
        body = client.get_object(emu["bucket"], key).read()  # the SDK checks the CRC-64 itself
        rows += pq.read_table(io.BytesIO(body)).num_rows
        head = client.head_object(emu["bucket"], key)
        assert head.content_length == len(body)
        part = client.get_object(emu["bucket"], key, range_start=4, range_end=11).read()
        assert part == body[4:12]
    assert rows == int(task.process_info["total_data_count"])


def test_tos_rejects_a_wrong_key(emu):
    with pytest.raises(tos.exceptions.TosServerError) as err:
        tos_client(emu, sk="wrong-secret").list_objects_type2(emu["bucket"], prefix="sdk/")
    assert err.value.status_code == 403


def test_arrowport_matches_the_sdk_download(emu, tmp_path):
    svc = viking(emu)
    task = run_export(emu, svc, f"{emu['bucket']}/sdk/compare")
    client = tos_client(emu)
    listing = client.list_objects_type2(emu["bucket"], prefix="sdk/compare/")
    tables = []
    for o in sorted(listing.contents, key=lambda o: o.key):
        if o.key.endswith(".parquet"):
            path = tmp_path / os.path.basename(o.key)
            client.get_object_to_file(emu["bucket"], o.key, str(path))
            tables.append(pq.read_table(path))
    sdk = pa.concat_tables(tables)

    out = tmp_path / "arrowport.parquet"
    url = (
        f"vikingdb://{emu['collection']}?endpoint={emu['api_endpoint']}&tos_endpoint={emu['tos_endpoint']}"
        f"&tos_path_style=true&task_id={task.task_id}&poll_interval=10ms"
    )
    env = dict(os.environ, VOLC_ACCESSKEY=emu["access_key"], VOLC_SECRETKEY=emu["secret_key"])
    done = subprocess.run([BIN, "export", url, str(out), "-q"], env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ours = pq.read_table(out)
    assert ours.num_rows == sdk.num_rows == ROWS
    assert ours.schema.field("vector").type == pa.list_(pa.field("item", pa.float32()), 128)
    for name in sdk.column_names:
        a = ours.column(name).combine_chunks()
        b = sdk.column(name).combine_chunks()
        if pa.types.is_list(b.type) and pa.types.is_fixed_size_list(a.type):
            a = a.cast(b.type)
        assert a.to_pylist() == b.to_pylist(), name
