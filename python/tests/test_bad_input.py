"""Every bad input of the issue: a clear exception of the right class, and nothing written."""

import pickle
import subprocess
import sys

import pyarrow as pa
import pytest

import arrowport
from arrowport import ConfigError


def listing(path):
    return sorted(p.name for p in path.iterdir())


def test_unknown_option_names_the_closest(tmp_path):
    with pytest.raises(ConfigError, match=r"unknown option `rwos`.*did you mean `rows`"):
        arrowport.read("datagen://", rwos=10)
    with pytest.raises(ConfigError, match=r"did you mean `compression`"):
        arrowport.export("datagen://?rows=10", str(tmp_path / "a.parquet"), compresion="zstd")
    assert listing(tmp_path) == []
    assert issubclass(ConfigError, ValueError)


def test_wrong_types(tmp_path):
    with pytest.raises(ConfigError, match=r"limit must be an integer.*'ten' \(str\)"):
        arrowport.read("datagen://", limit="ten")
    with pytest.raises(ConfigError, match="parallel must be an integer of at least 1"):
        arrowport.read("datagen://", parallel=0)
    with pytest.raises(ConfigError, match="rows"):
        arrowport.read("datagen://", rows="ten")
    with pytest.raises(ConfigError, match="option `rows`: expected a string"):
        arrowport.read("datagen://", rows=object())
    with pytest.raises(ConfigError, match="limit"):
        arrowport.export("datagen://?rows=10", str(tmp_path / "a.csv"), limit="ten")
    assert listing(tmp_path) == []


def test_unknown_scheme_and_column(tmp_path):
    with pytest.raises(ConfigError, match="did you mean `datagen`"):
        arrowport.read("datgen://")
    with pytest.raises(ConfigError, match="did you mean `text`"):
        arrowport.export("datagen://?profile=all", str(tmp_path / "a.parquet"), columns=["txt"])
    assert listing(tmp_path) == []


def test_write_needs_the_arrow_stream_interface(tmp_path):
    with pytest.raises(TypeError, match=r"__arrow_c_stream__.*got list"):
        arrowport.write([{"a": 1}], str(tmp_path / "a.parquet"))
    assert listing(tmp_path) == []


def test_a_schema_the_sink_cannot_carry(tmp_path):
    nested = pa.table({"id": [1, 2], "tags": [["a"], ["b", "c"]]})
    with pytest.raises(ConfigError, match="tags"):
        arrowport.write(nested, str(tmp_path / "a.csv"))
    with pytest.raises(ConfigError):
        arrowport.export("datagen://?profile=all&rows=10", str(tmp_path / "b.csv"))
    assert listing(tmp_path) == []


def test_an_existing_output_is_kept(tmp_path):
    out = tmp_path / "a.parquet"
    out.write_bytes(b"precious")
    with pytest.raises(ConfigError, match="overwrite"):
        arrowport.write(pa.table({"a": [1]}), str(out))
    assert out.read_bytes() == b"precious"


READ_PICKLED = """
import pickle, sys
import arrowport
split = pickle.loads(sys.stdin.buffer.read())
try:
    split.read().read_all()
except arrowport.ArrowportError as e:
    print(type(e).__name__, e.kind, "|", e)
else:
    print("read")
"""


def read_pickled(split, env):
    done = subprocess.run([sys.executable, "-c", READ_PICKLED], input=pickle.dumps(split),
                          capture_output=True, env=env)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode().strip()


def test_a_split_read_where_credentials_are_missing_or_wrong(maxcompute, mc_env):
    split = arrowport.plan(maxcompute.url("narrow"))[0]
    pickled = pickle.dumps(split)
    assert maxcompute.info["secret_access_key"].encode() not in pickled
    assert maxcompute.info["access_id"].encode() not in pickled
    assert read_pickled(split, mc_env) == "read"

    without = {k: v for k, v in mc_env.items() if not k.startswith("ALIBABA_CLOUD_")}
    out = read_pickled(split, without)
    # Missing credentials are the invocation's to fix (the CLI exits 2): a ConfigError.
    assert out.startswith("ConfigError config | maxcompute: missing credentials"), out
    assert "ALIBABA_CLOUD_ACCESS_KEY_ID" in out

    wrong = dict(mc_env, ALIBABA_CLOUD_ACCESS_KEY_SECRET="not-the-secret")
    out = read_pickled(split, wrong)
    assert out.startswith("PermissionError permissiondenied |"), out
    assert "request_id=" in out, "the remote's request id is in the message"


def test_errors_carry_their_kind_and_context(maxcompute, mc_env):
    with pytest.raises(arrowport.NotFoundError) as caught:
        arrowport.read(maxcompute.url("no_such_table")).read_all()
    assert caught.value.kind == "notfound"
    assert caught.value.request_id and caught.value.request_id in str(caught.value)
    assert caught.value.context["plugin"] == "maxcompute"
    assert isinstance(caught.value, arrowport.ArrowportError)
