"""Shared fixtures: the CLI (for reference outputs) and the in-process emulators."""

import os
import subprocess
from pathlib import Path

import pytest

import arrowport.testing

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("ARROWPORT_BIN") or str(ROOT / "target/debug/arrowport")

MC_ROWS = 300
MC_NARROW_ROWS = 20_000
VIKING_ROWS = 2_000


def cli(*args, cwd=None, env=None):
    """Runs the arrowport binary; fails the test on a non-zero exit."""
    done = subprocess.run([BIN, *map(str, args), "-q"], cwd=cwd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="session")
def maxcompute():
    with arrowport.testing.emulate("maxcompute", rows=MC_ROWS, narrow_rows=MC_NARROW_ROWS) as emu:
        yield emu


@pytest.fixture(scope="session")
def vikingdb():
    with arrowport.testing.emulate("vikingdb", rows=VIKING_ROWS, dim=16, rows_per_part=500) as emu:
        yield emu


@pytest.fixture
def mc_env(maxcompute, monkeypatch):
    """The MaxCompute emulator's credentials in the environment, as a user would set them."""
    for k, v in maxcompute.env.items():
        monkeypatch.setenv(k, v)
    return dict(os.environ)


@pytest.fixture
def viking_env(vikingdb, monkeypatch):
    for k, v in vikingdb.env.items():
        monkeypatch.setenv(k, v)
    return dict(os.environ)
