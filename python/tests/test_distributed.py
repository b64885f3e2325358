"""Splits: planned once, pickled, read in other processes. Dask and Ray read with two
workers; every row arrives exactly once, and the remote state (a MaxCompute download
session, a VikingDB export task) is created once, by the planner."""

import pickle
from concurrent.futures import ProcessPoolExecutor
import multiprocessing

import dask
import pytest

import arrowport
import arrowport.dask
from conftest import MC_NARROW_ROWS, VIKING_ROWS


def download_sessions(emu):
    return [r for r in emu.requests()
            if r["method"] == "POST" and "downloads" in r["query"] and "downloadid" not in r["query"]]


def export_tasks(emu):
    return [r for r in emu.requests() if r["method"] == "POST" and r["path"] == "/api/task/create"]


def read_ids(split):
    return split.read().read_all()["id"].to_pylist()


def test_pickled_splits_read_in_other_processes(maxcompute, mc_env):
    before = len(download_sessions(maxcompute))
    splits = arrowport.plan(maxcompute.url("narrow", split_rows=3000))
    assert len(splits) == 7 and sum(s.rows for s in splits) == MC_NARROW_ROWS
    back = pickle.loads(pickle.dumps(splits))
    assert [s.token for s in back] == [s.token for s in splits]
    with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
        ids = [i for part in pool.map(read_ids, back) for i in part]
    assert sorted(ids) == list(range(MC_NARROW_ROWS))
    assert len(download_sessions(maxcompute)) == before + 1


def test_dask_reads_maxcompute_split_by_split(maxcompute, mc_env):
    before = len(download_sessions(maxcompute))
    ddf = arrowport.dask.read(maxcompute.url("narrow", split_rows=5000), columns=["id", "value"])
    assert ddf.npartitions == 4
    with dask.config.set(scheduler="processes", num_workers=2):
        frame = ddf.compute()
    assert list(frame.columns) == ["id", "value"]
    assert sorted(frame["id"]) == list(range(MC_NARROW_ROWS))
    assert len(download_sessions(maxcompute)) == before + 1


def test_dask_reads_a_vikingdb_task_created_once(vikingdb, viking_env):
    before = len(export_tasks(vikingdb))
    ddf = arrowport.dask.read(vikingdb.url())
    assert ddf.npartitions == VIKING_ROWS // 500
    with dask.config.set(scheduler="processes", num_workers=2):
        frame = ddf.compute()
    assert sorted(frame["id"]) == sorted(set(frame["id"])) and len(frame) == VIKING_ROWS
    assert len(export_tasks(vikingdb)) == before + 1


@pytest.fixture(scope="module")
def ray_session(maxcompute, vikingdb):
    import ray

    env = {**maxcompute.env, **vikingdb.env}
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": env})
    yield ray
    ray.shutdown()


def test_ray_reads_maxcompute_split_by_split(ray_session, maxcompute, mc_env):
    import arrowport.ray

    before = len(download_sessions(maxcompute))
    ds = arrowport.ray.read(maxcompute.url("narrow", split_rows=5000))
    frame = ds.to_pandas()
    assert sorted(frame["id"]) == list(range(MC_NARROW_ROWS))
    assert len(download_sessions(maxcompute)) == before + 1


def test_ray_reads_vikingdb(ray_session, vikingdb, viking_env):
    import arrowport.ray

    before = len(export_tasks(vikingdb))
    ids = arrowport.ray.read(vikingdb.url(), columns=["id"]).to_pandas()["id"]
    assert len(ids) == VIKING_ROWS and ids.is_unique
    assert len(export_tasks(vikingdb)) == before + 1
