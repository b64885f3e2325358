#!/usr/bin/env bash
# Runs every arrowport test: Rust unit, plugin and CLI tests; then the interop tests in which
# pyarrow, polars and duckdb read what arrowport writes, and the compat tests in which the
# official Volcengine SDKs talk to arrowport's emulators, and the Flight tests in which pyarrow,
# Dask and Ray read `arrowport serve` (all installed into ./.venv from PyPI).
set -euo pipefail
cd "$(dirname "$0")"

cargo test --workspace --all-targets

venv=.venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  -r tests/interop/requirements.txt -r tests/compat/requirements.txt -r tests/flight/requirements.txt

target_dir=$(cargo metadata --format-version 1 --no-deps | "$venv/bin/python" -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
ARROWPORT_BIN="$target_dir/debug/arrowport" "$venv/bin/python" -m pytest -q tests/interop tests/compat tests/flight
