#!/usr/bin/env bash
# Runs every arrowport test: Rust unit, plugin and CLI tests; then the interop tests in which
# pyarrow, polars and duckdb read what arrowport writes, the compat tests in which the
# official Volcengine SDKs talk to arrowport's emulators, the Python module's tests, and the
# Flight tests in which pyarrow, Dask and Ray read `arrowport serve` (all installed into ./.venv
# from PyPI).
set -euo pipefail
cd "$(dirname "$0")"

# pyo3's build script: the Python module leaves the interpreter's symbols to the interpreter
# that loads it, instead of linking libpython (what maturin sets too).
export PYO3_BUILD_EXTENSION_MODULE=1

cargo test --workspace --all-targets
# The Python module (python/), built in the same feature set as the tests just were, so that
# nothing is compiled twice: `maturin develop` resolves the python crate alone, and would
# compile tokio and every crate above it again.
cargo build --workspace --all-targets

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r tests/interop/requirements.txt -r tests/compat/requirements.txt -r python/tests/requirements.txt

target_dir=$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
# Installed as `maturin develop` installs it: the extension beside the package's Python files,
# and python/ on the venv's path.
cp "$target_dir/debug/lib_arrowport.so" python/arrowport/_arrowport.abi3.so
"$venv/bin/python" -c 'import sys, sysconfig; open(sysconfig.get_paths()["purelib"] + "/arrowport.pth", "w").write(sys.argv[1] + "\n")' "$PWD/python"
ARROWPORT_BIN="$target_dir/debug/arrowport" "$venv/bin/python" -m pytest -q tests/interop tests/compat python/tests tests/flight
