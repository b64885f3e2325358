"""The MaxCompute and VikingDB emulators, started from Python through the package, read
in-process and compared with what the CLI exports from them; `write` into MaxCompute, read
back by PyODPS."""

import datetime

import pandas as pd
import polars as pl
import polars.testing
import pyarrow as pa
import pyarrow.parquet as pq
from odps import ODPS

import arrowport
from conftest import MC_NARROW_ROWS, MC_ROWS, VIKING_ROWS, cli


def test_maxcompute_all_types_match_the_cli(maxcompute, mc_env, tmp_path):
    url = maxcompute.url("all_types")
    out = tmp_path / "all_types.parquet"
    cli("export", url, out, env=mc_env)
    got = arrowport.read(url).read_all()
    assert got.num_rows == MC_ROWS
    assert got.equals(pq.read_table(out))
    assert arrowport.schema(url) == got.schema


def test_maxcompute_narrow_into_polars(maxcompute, mc_env, tmp_path):
    url = maxcompute.url("narrow")
    out = tmp_path / "narrow.parquet"
    cli("export", url, out, "--parallel", "2", env=mc_env)
    df = arrowport.read(url, parallel=2).to_polars()
    assert df.height == MC_NARROW_ROWS
    polars.testing.assert_frame_equal(df, pl.read_parquet(out))


def test_vikingdb_export_matches_the_cli(vikingdb, viking_env, tmp_path):
    url = vikingdb.url()
    out = tmp_path / "viking.parquet"
    cli("export", url, out, env=viking_env)
    got = arrowport.read(url).read_all()
    assert got.num_rows == VIKING_ROWS
    assert got.sort_by("id").equals(pq.read_table(out).sort_by("id"))


def test_export_into_any_sink_with_the_clis_summary(maxcompute, mc_env, tmp_path):
    summary = arrowport.export(maxcompute.url("narrow"), f"{tmp_path}/parts/",
                               max_rows_per_file=6000, **{"sink.compression": "zstd"})
    assert summary.rows == MC_NARROW_ROWS
    assert len(summary.files) == 4 and sum(f["rows"] for f in summary.files) == MC_NARROW_ROWS
    assert str(summary).startswith(f"exported {MC_NARROW_ROWS:,} rows in 4 files (")
    assert f"to {tmp_path}/parts/ in " in str(summary)
    assert pq.read_table(tmp_path / "parts").num_rows == MC_NARROW_ROWS


def test_write_a_pandas_made_table_into_maxcompute_read_back_by_pyodps(maxcompute, mc_env):
    n = 1000
    frame = pd.DataFrame({
        "id": range(n),
        "value": [i / 4 for i in range(n)],
        "category": [f"cat-{i % 7}" for i in range(n)],
        "ts": [datetime.datetime(2024, 1, 1) + datetime.timedelta(seconds=i) for i in range(n)],
        "flag": [i % 3 == 0 for i in range(n)],
    })
    table = pa.Table.from_pandas(frame, preserve_index=False)
    summary = arrowport.write(table, maxcompute.url("narrow_sink"), overwrite=True)
    assert summary.rows == n
    assert str(summary).startswith("exported 1,000 rows")

    info = maxcompute.info
    o = ODPS(info["access_id"], info["secret_access_key"], info["project"],
             endpoint=info["endpoint"], tunnel_endpoint=info["tunnel_endpoint"])
    with o.get_table("narrow_sink").open_reader(arrow=True) as reader:
        back = reader.read_all().sort_by("id")
    assert back.num_rows == n
    assert back["id"].to_pylist() == list(range(n))
    assert back["value"].to_pylist() == frame["value"].tolist()
    assert back["category"].to_pylist() == frame["category"].tolist()
    assert back["flag"].to_pylist() == frame["flag"].tolist()
    assert [t.replace(tzinfo=None) for t in back["ts"].to_pylist()] == frame["ts"].tolist()


def test_write_takes_polars_and_arrowport_readers(tmp_path):
    df = pl.DataFrame({"a": [1, 2, 3], "b": ["x", None, "z"]})
    arrowport.write(df, str(tmp_path / "p.parquet"))
    assert pl.read_parquet(tmp_path / "p.parquet").equals(df)
    r = arrowport.read("datagen://?rows=2500&profile=narrow")
    summary = arrowport.write(r, str(tmp_path / "d.arrow"))
    assert summary.rows == 2500
    assert pa.ipc.open_file(tmp_path / "d.arrow").read_all().equals(r.read_all())
